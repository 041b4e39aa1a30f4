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

}  // namespace

AttentionRows::AttentionRows(const ir::Variant& variant, const RuntimeValues& values,
                             const SequenceKv& kv, int kv_head)
    : variant_(variant),
      values_(values),
      kv_(kv),
      // A mask that reads `score` must see the transformed one; otherwise the mask goes
      // first and hidden keys skip the score expression.
      mask_reads_score_(reads_builtin(variant.mask, ir::Builtin::score)),
      logits_(static_cast<size_t>(kv.kv_len)),
      visible_(static_cast<size_t>(kv.kv_len)) {
  if (variant.mask) mask_.emplace(variant.mask);
  if (variant.score) score_.emplace(variant.score);
  env_.params = &values_.params;
  env_.arrays = &values_.arrays;
  env_[ir::Builtin::kv_head] = kv_head;
  env_[ir::Builtin::seq] = static_cast<double>(kv.seq);
  env_[ir::Builtin::q_len] = static_cast<double>(kv.q_len);
  env_[ir::Builtin::kv_len] = static_cast<double>(kv.kv_len);
}

bool AttentionRows::in_shared_range(int64_t q_pos, int64_t kv_pos) const {
  if (values_.ranges.empty()) return false;
  for (const PositionRange& r : values_.ranges[kv_.seq])
    if (r.contains(q_pos) && r.contains(kv_pos)) return true;
  return false;
}

double AttentionRows::row(int q_head, int64_t i, const double* query, double* out) {
  const ir::Variant& var = variant_;
  const int D = var.head_dim;
  const double scale = var.softmax_scale();
  ATTNJIT_ASSERT(q_head / var.group_size() == static_cast<int>(env_[ir::Builtin::kv_head]),
                 "AttentionRows::row: query head outside this KV head's group");
  const int64_t q_pos = kv_.kv_len - kv_.q_len + i;
  env_[ir::Builtin::q_head] = q_head;
  env_[ir::Builtin::q_pos] = static_cast<double>(q_pos);
  const bool has_sink = var.sinks_per_head;
  const double sink = has_sink ? values_.sinks.at(q_head) : kNegInf;

  double row_max = sink;
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
    if (show) row_max = std::max(row_max, x);
  }

  // Softmax over the visible keys (and the sink), shifted by the max for range.
  std::fill(out, out + D, 0.0);
  if (row_max == kNegInf) return kNegInf;
  double sum = has_sink ? std::exp(sink - row_max) : 0.0;
  for (int64_t j = 0; j < kv_.kv_len; ++j) {
    if (!visible_[j]) continue;
    const double w = std::exp(logits_[j] - row_max);
    sum += w;
    for (int d = 0; d < D; ++d) out[d] += w * kv_.values[j * D + d];
  }
  for (int d = 0; d < D; ++d) out[d] /= sum;
  return row_max + std::log(sum);
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
