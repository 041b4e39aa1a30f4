// A direct transcription of the attention formula for one query row, in float64.
#include "runtime/reference/attention_rows.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "compiler/support/diagnostics.h"
#include "runtime/reference/cpu_reference.h"

namespace attnjit {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double dot(const double* a, const double* b, int n) {
  // Four partial sums only to shorten the add dependency chain; still float64.
  double s[4] = {0, 0, 0, 0};
  int d = 0;
  for (; d + 4 <= n; d += 4)
    for (int u = 0; u < 4; ++u) s[u] += a[d + u] * b[d + u];
  for (; d < n; ++d) s[0] += a[d] * b[d];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Whether an expression calls `function` anywhere.
bool calls(const ir::ExprRef& e, const char* function) {
  if (!e) return false;
  if (e->op == ir::Op::call && e->name == function) return true;
  for (const ir::ExprRef& a : e->args)
    if (calls(a, function)) return true;
  return false;
}

// x rounded to a grid of relative spacing 2 * kTanhRelativeError: the model of an
// approximation whose relative error reaches kTanhRelativeError.
double round_relative(double x) {
  if (x == 0.0 || !std::isfinite(x)) return x;
  const double quantum = std::ldexp(2.0 * kTanhRelativeError, std::ilogb(x));
  return std::nearbyint(x / quantum) * quantum;
}

std::vector<double> rounded(DType t, const double* values, int64_t n) {
  std::vector<double> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[i] = round_to_dtype(t, values[i]);
  return r;
}

}  // namespace

LowPrecision kernel_precision(const ir::Variant& v, double out_scale) {
  LowPrecision p;
  p.compute = v.q_type == DType::f16 ? DType::f16 : DType::bf16;
  p.round_q = v.q_type == DType::f32;
  p.round_kv = v.kv_type == DType::f32;
  p.out = v.out_type;
  p.out_scale = out_scale;
  p.approximate_tanh = calls(v.score, "tanh");
  return p;
}

AttentionRows::AttentionRows(const ir::Variant& variant, const RuntimeValues& values,
                             const SequenceKv& kv, int kv_head, const LowPrecision* low)
    : variant_(variant),
      values_(values),
      kv_(kv),
      // A mask that reads `score` must see the transformed one; otherwise the mask goes
      // first and hidden keys skip the score expression.
      mask_reads_score_(reads_builtin(variant.mask, ir::Builtin::score)),
      logits_(static_cast<size_t>(kv.kv_len)),
      visible_(static_cast<size_t>(kv.kv_len)),
      low_(low) {
  if (variant.mask) mask_.emplace(variant.mask);
  if (variant.score) score_.emplace(variant.score);
  env_.params = &values_.params;
  env_.arrays = &values_.arrays;
  env_[ir::Builtin::kv_head] = kv_head;
  env_[ir::Builtin::seq] = static_cast<double>(kv.seq);
  env_[ir::Builtin::q_len] = static_cast<double>(kv.q_len);
  env_[ir::Builtin::kv_len] = static_cast<double>(kv.kv_len);
  if (!low_) return;
  const int64_t n = kv.kv_len * variant.head_dim;
  if (low_->round_kv) {
    low_keys_ = rounded(low_->compute, kv.keys, n);
    low_values_ = rounded(low_->compute, kv.values, n);
  }
  low_logits_differ_ = low_->round_q || low_->round_kv || low_->approximate_tanh;
  if (low_logits_differ_) low_logits_.resize(static_cast<size_t>(kv.kv_len));
  low_query_.resize(static_cast<size_t>(variant.head_dim));
  low_acc_.resize(static_cast<size_t>(variant.head_dim));
}

bool AttentionRows::in_shared_range(int64_t q_pos, int64_t kv_pos) const {
  if (values_.ranges.empty()) return false;
  for (const PositionRange& r : values_.ranges[kv_.seq])
    if (r.contains(q_pos) && r.contains(kv_pos)) return true;
  return false;
}

double AttentionRows::low_logit(int64_t j, double exact) {
  const ir::Variant& var = variant_;
  double x = exact;
  if (low_->round_q || low_->round_kv) {
    const int D = var.head_dim;
    const double* key = low_->round_kv ? &low_keys_[j * D] : &kv_.keys[j * D];
    x = var.softmax_scale() * dot(low_query_.data(), key, D);
    if (var.score) {
      env_[ir::Builtin::kv_pos] = static_cast<double>(j);
      env_[ir::Builtin::score] = x;
      x = (*score_)(env_);
    }
  }
  return low_->approximate_tanh ? round_relative(x) : x;
}

double AttentionRows::row(int q_head, int64_t i, const double* query, double* out,
                          LowPrecisionRow* low) {
  const ir::Variant& var = variant_;
  const int D = var.head_dim;
  const double scale = var.softmax_scale();
  ATTNJIT_ASSERT(q_head / var.group_size() == static_cast<int>(env_[ir::Builtin::kv_head]),
                 "AttentionRows::row: query head outside this KV head's group");
  ATTNJIT_ASSERT((low != nullptr) == (low_ != nullptr),
                 "AttentionRows::row: a low-precision row needs a LowPrecision, and back");
  const int64_t q_pos = kv_.kv_len - kv_.q_len + i;
  env_[ir::Builtin::q_head] = q_head;
  env_[ir::Builtin::q_pos] = static_cast<double>(q_pos);
  const bool has_sink = var.sinks_per_head;
  const double sink = has_sink ? values_.sinks.at(q_head) : kNegInf;
  if (low_) {
    for (int d = 0; d < D; ++d)
      low_query_[d] = low_->round_q ? round_to_dtype(low_->compute, query[d]) : query[d];
  }

  double row_max = sink, row_max_low = sink;
  for (int64_t j = 0; j < kv_.kv_len; ++j) {
    env_[ir::Builtin::kv_pos] = static_cast<double>(j);
    // Inside a shared range the key is visible whatever the mask says.
    const bool forced = in_shared_range(q_pos, j);
    double x = scale * dot(query, &kv_.keys[j * D], D);
    bool show = true;
    if (var.mask && !mask_reads_score_ && !forced) {
      env_[ir::Builtin::score] = x;
      show = (*mask_)(env_) != 0.0;
    }
    if (show && var.score) {
      env_[ir::Builtin::score] = x;
      x = (*score_)(env_);
    }
    if (show && var.mask && mask_reads_score_ && !forced) {
      env_[ir::Builtin::score] = x;
      show = (*mask_)(env_) != 0.0;
    }
    visible_[j] = show;
    logits_[j] = x;
    if (!show) continue;
    row_max = std::max(row_max, x);
    // The twin sees the same keys: a mask that reads the score decides on the exact one.
    if (low_logits_differ_) {
      low_logits_[j] = low_logit(j, x);
      row_max_low = std::max(row_max_low, low_logits_[j]);
    }
  }
  if (low_ && !low_logits_differ_) row_max_low = row_max;

  // Softmax over the visible keys (and the sink), shifted by the max for range.
  std::fill(out, out + D, 0.0);
  if (low_) std::fill(low_acc_.begin(), low_acc_.end(), 0.0);
  if (row_max == kNegInf) {
    if (low_) finish_low_row(kNegInf, 0.0, 0.0, *low);
    return kNegInf;
  }
  double sum = has_sink ? std::exp(sink - row_max) : 0.0;
  double sum_low = has_sink ? std::exp(sink - row_max_low) : 0.0;
  double tanh_weight = 0;  // sum of p |logit| over the keys, for lse_model_error
  const double* low_values = low_ && low_->round_kv ? low_values_.data() : kv_.values;
  for (int64_t j = 0; j < kv_.kv_len; ++j) {
    if (!visible_[j]) continue;
    const double w = std::exp(logits_[j] - row_max);
    sum += w;
    const double* v = &kv_.values[j * D];
    for (int d = 0; d < D; ++d) out[d] += w * v[d];
    if (!low_) continue;
    const double x_low = low_logits_differ_ ? low_logits_[j] : logits_[j];
    const double w_low = low_logits_differ_ ? std::exp(x_low - row_max_low) : w;
    sum_low += w_low;
    if (low_->approximate_tanh) tanh_weight += w_low * std::abs(x_low);
    const double p = round_to_dtype(low_->compute, w_low);
    const double* vl = &low_values[j * D];
    for (int d = 0; d < D; ++d) low_acc_[d] += p * vl[d];
  }
  for (int d = 0; d < D; ++d) out[d] /= sum;
  if (low_) finish_low_row(row_max_low, sum_low, tanh_weight, *low);
  return row_max + std::log(sum);
}

void AttentionRows::finish_low_row(double row_max_low, double sum_low, double tanh_weight,
                                   LowPrecisionRow& low) const {
  const int D = variant_.head_dim;
  const bool empty = row_max_low == kNegInf;
  for (int d = 0; d < D; ++d) {
    const double x = empty ? 0.0 : low_acc_[d] / sum_low;
    low.out_unrounded[d] = x;
    low.out[d] = round_to_dtype(low_->out, x * low_->out_scale) / low_->out_scale;
  }
  low.lse = empty ? kNegInf : row_max_low + std::log(sum_low);
  low.lse_model_error = empty ? 0.0 : kTanhRelativeError * tanh_weight / sum_low;
}

std::vector<WorkItem> work_items(const std::vector<int64_t>& q_lens, int kv_heads) {
  std::vector<WorkItem> items;
  for (size_t seq = 0; seq < q_lens.size(); ++seq)
    for (int h = 0; h < kv_heads; ++h)
      for (int64_t first = 0; first < q_lens[seq]; first += kRowsPerWorkItem)
        items.push_back({static_cast<int64_t>(seq), h, first,
                         std::min(q_lens[seq], first + kRowsPerWorkItem)});
  return items;
}

void parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  const int64_t workers =
      std::min<int64_t>(n, std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (int64_t i; (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;  // stop handing out work
      }
    }
  };
  std::vector<std::thread> threads;
  for (int64_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace attnjit
