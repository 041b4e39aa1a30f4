// The reference prefill: a direct transcription of the attention formula, one
// (sequence, query head, query row) at a time, in float64.
#include "runtime/reference/cpu_reference.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "compiler/support/diagnostics.h"
#include "runtime/reference/expr_eval.h"
#include "runtime/reference/runtime_values.h"

namespace attnjit {

namespace {

constexpr const char* kWhere = "attnjit::reference_prefill";
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// One sequence of the batch: where its rows start in q/k (ragged) and its lengths.
struct Sequence {
  int64_t index = 0;
  int64_t q_start = 0, q_len = 0;  // q_start: first of this sequence's flattened rows
  int64_t k_start = 0, kv_len = 0;  // k_start: first key row in k (0 for fixed lengths)
};

// Element offset of the head_dim row (row, head) of sequence `s` in q/k/v/out.
// Fixed length: [batch, seqlen, heads, head_dim]; ragged: [total, heads, head_dim].
int64_t row_offset(const TensorView& t, bool ragged, int64_t seq, int64_t row, int64_t head) {
  return ragged ? row * t.stride(0) + head * t.stride(1)
                : seq * t.stride(0) + row * t.stride(1) + head * t.stride(2);
}

std::vector<Sequence> sequences(const PrefillArgs& args, const PrefillShape& shape) {
  std::vector<Sequence> seqs(shape.batch);
  for (int b = 0; b < shape.batch; ++b) {
    Sequence& s = seqs[b];
    s.index = b;
    if (shape.ragged) {
      auto at = [](const TensorView& cu, int i) {
        return static_cast<int64_t>(load_element(cu.data, DType::i32, i * cu.stride(0)));
      };
      s.q_start = at(args.cu_seqlens_q, b);
      s.q_len = at(args.cu_seqlens_q, b + 1) - s.q_start;
      s.k_start = at(args.cu_seqlens_k, b);
      s.kv_len = at(args.cu_seqlens_k, b + 1) - s.k_start;
    } else {
      s.q_start = int64_t{b} * shape.seqlen_q;
      s.q_len = shape.seqlen_q;
      s.kv_len = shape.seqlen_k;
    }
  }
  return seqs;
}

// Runs validate_prefill as the GPU path would, standing in contiguous placeholders for
// an out / lse the caller left out (validation never reads them).
PrefillShape validate(const ir::Variant& variant, const PrefillArgs& args) {
  alignas(16) static unsigned char placeholder[16];
  PrefillArgs checked = args;
  if (!checked.out.defined())
    checked.out = contiguous_view(placeholder, variant.out_type, args.q.shape, DeviceKind::cpu);
  if (variant.lse && !checked.lse.defined()) {
    std::vector<int64_t> shape;
    if (args.ragged() && args.q.rank() == 3) shape = {variant.q_heads, args.q.shape[0]};
    else if (args.q.rank() == 4) shape = {args.q.shape[0], variant.q_heads, args.q.shape[1]};
    checked.lse = contiguous_view(placeholder, DType::f32, shape, DeviceKind::cpu);
  }
  return validate_prefill(variant, checked, DeviceKind::cpu, kWhere);
}

// Loads head_dim consecutive elements of one row.
void load_row(const TensorView& t, int64_t offset, int head_dim, double* dst) {
  for (int d = 0; d < head_dim; ++d) dst[d] = load_element(t.data, t.dtype, offset + d);
}

double dot(const double* a, const double* b, int n) {
  // Four partial sums only to shorten the add dependency chain; still float64.
  double s[4] = {0, 0, 0, 0};
  int d = 0;
  for (; d + 4 <= n; d += 4)
    for (int u = 0; u < 4; ++u) s[u] += a[d + u] * b[d + u];
  for (; d < n; ++d) s[0] += a[d] * b[d];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Everything shared, read-only, by the per-(sequence, kv head) work items.
struct Problem {
  const ir::Variant& variant;
  const PrefillArgs& args;
  const PrefillShape& shape;
  const RuntimeValues& values;
  ReferenceResult& result;
};

// All query heads of one kv head group in one sequence. Work items write disjoint
// parts of the outputs, so they may run in parallel.
void attend(const Problem& p, const Sequence& s, int kv_head) {
  const ir::Variant& var = p.variant;
  const int D = var.head_dim;
  const bool ragged = p.shape.ragged;
  const double scale = var.softmax_scale();
  // A mask that reads `score` must see the transformed one; otherwise the mask goes
  // first and hidden keys skip the score expression.
  const bool mask_reads_score = reads_builtin(var.mask, ir::Builtin::score);

  // This group's keys and values, decoded once.
  std::vector<double> keys(s.kv_len * D), values(s.kv_len * D);
  for (int64_t j = 0; j < s.kv_len; ++j) {
    const int64_t k_row = s.k_start + j;  // k_start is 0 for fixed lengths
    load_row(p.args.k, row_offset(p.args.k, ragged, s.index, k_row, kv_head), D, &keys[j * D]);
    load_row(p.args.v, row_offset(p.args.v, ragged, s.index, k_row, kv_head), D, &values[j * D]);
  }

  ExprEnv env;
  env.params = &p.values.params;
  env.arrays = &p.values.arrays;
  env[ir::Builtin::kv_head] = kv_head;
  env[ir::Builtin::seq] = static_cast<double>(s.index);
  env[ir::Builtin::q_len] = static_cast<double>(s.q_len);
  env[ir::Builtin::kv_len] = static_cast<double>(s.kv_len);

  std::vector<double> query(D), logits(s.kv_len), acc(D);
  std::vector<char> visible(s.kv_len);
  std::vector<PositionRange> row_ranges;  // this sequence's ranges holding the query
  const std::vector<PositionRange>& seq_ranges = p.values.ranges[s.index];
  const int group = var.group_size();
  for (int h = kv_head * group; h < (kv_head + 1) * group; ++h) {
    env[ir::Builtin::q_head] = h;
    const bool has_sink = var.sinks_per_head;
    const double sink = has_sink ? p.values.sinks[h] : kNegInf;
    for (int64_t i = 0; i < s.q_len; ++i) {
      const int64_t q_row = ragged ? s.q_start + i : i;  // row index in q's own layout
      load_row(p.args.q, row_offset(p.args.q, ragged, s.index, q_row, h), D, query.data());
      // FlashAttention's causal alignment: the last query sits at the last key.
      const int64_t q_pos = i + s.kv_len - s.q_len;
      env[ir::Builtin::q_pos] = static_cast<double>(q_pos);
      row_ranges.clear();
      for (const PositionRange& r : seq_ranges)
        if (r.contains(q_pos)) row_ranges.push_back(r);

      double row_max = sink;
      for (int64_t j = 0; j < s.kv_len; ++j) {
        env[ir::Builtin::kv_pos] = static_cast<double>(j);
        double x = scale * dot(query.data(), &keys[j * D], D);
        // visible = mask || a range holds both: the mask is not asked about such a key.
        const bool in_range = std::any_of(row_ranges.begin(), row_ranges.end(),
                                          [&](const PositionRange& r) { return r.contains(j); });
        const bool ask_mask = var.mask && !in_range;
        bool show = true;
        if (ask_mask && !mask_reads_score) {
          env[ir::Builtin::score] = x;
          show = evaluate(*var.mask, env) != 0.0;
        }
        if (show && var.score) {
          env[ir::Builtin::score] = x;
          x = evaluate(*var.score, env);
        }
        if (show && ask_mask && mask_reads_score) {
          env[ir::Builtin::score] = x;
          show = evaluate(*var.mask, env) != 0.0;
        }
        visible[j] = show;
        logits[j] = x;
        if (show) row_max = std::max(row_max, x);
      }

      // Softmax over the visible keys (and the sink), shifted by the max for range.
      std::fill(acc.begin(), acc.end(), 0.0);
      double lse = kNegInf;
      if (row_max != kNegInf) {
        double sum = has_sink ? std::exp(sink - row_max) : 0.0;
        for (int64_t j = 0; j < s.kv_len; ++j) {
          if (!visible[j]) continue;
          const double w = std::exp(logits[j] - row_max);
          sum += w;
          for (int d = 0; d < D; ++d) acc[d] += w * values[j * D + d];
        }
        for (int d = 0; d < D; ++d) acc[d] /= sum;
        lse = row_max + std::log(sum);
      }

      const int64_t flat_row = s.q_start + i;
      std::copy(acc.begin(), acc.end(), &p.result.out[(flat_row * var.q_heads + h) * D]);
      p.result.lse[flat_row * var.q_heads + h] = lse;
      if (p.args.out.defined()) {
        const int64_t o = row_offset(p.args.out, ragged, s.index, q_row, h);
        for (int d = 0; d < D; ++d) store_element(p.args.out.data, p.args.out.dtype, o + d, acc[d]);
      }
      if (p.args.lse.defined()) {
        const TensorView& l = p.args.lse;
        const int64_t o = ragged ? h * l.stride(0) + flat_row * l.stride(1)
                                 : s.index * l.stride(0) + h * l.stride(1) + i * l.stride(2);
        store_element(l.data, l.dtype, o, lse);
      }
    }
  }
}

// Runs fn(0..n-1) on a few threads; rethrows the first exception.
template <typename Fn>
void parallel_for(int64_t n, Fn fn) {
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

}  // namespace

ReferenceResult reference_prefill(const ir::Variant& variant, const PrefillArgs& args) {
  const PrefillShape shape = validate(variant, args);
  ATTNJIT_ASSERT(variant.kv_heads > 0 && variant.q_heads % variant.kv_heads == 0,
                 "reference_prefill: q_heads must be a multiple of kv_heads");
  const RuntimeValues values = read_runtime_values(variant, args, shape.batch);

  const int64_t rows = shape.ragged ? args.q.shape[0] : int64_t{shape.batch} * shape.seqlen_q;
  ReferenceResult result;
  result.out.assign(rows * variant.q_heads * variant.head_dim, 0.0);
  result.lse.assign(rows * variant.q_heads, kNegInf);

  const std::vector<Sequence> seqs = sequences(args, shape);
  const Problem problem{variant, args, shape, values, result};
  parallel_for(static_cast<int64_t>(seqs.size()) * variant.kv_heads, [&](int64_t item) {
    attend(problem, seqs[item / variant.kv_heads], static_cast<int>(item % variant.kv_heads));
  });
  return result;
}

}  // namespace attnjit
