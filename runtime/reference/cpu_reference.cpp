// The reference prefill: gathers each (sequence, KV head)'s rows from the batch or
// ragged layout and attends with AttentionRows (the formula itself, in float64).
#include "runtime/reference/cpu_reference.h"

#include <limits>

#include "compiler/support/diagnostics.h"
#include "runtime/reference/attention_rows.h"
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

// Everything shared, read-only, by the per-(sequence, kv head) work items.
struct Problem {
  const ir::Variant& variant;
  const PrefillArgs& args;
  const PrefillShape& shape;
  const RuntimeValues& values;
  const LowPrecision* low;  // null: no twin
  ReferenceResult& result;
};

// All query heads of one kv head group for some rows of one sequence: this layout's
// gathering and scattering around AttentionRows, which holds the semantics shared with the paged
// reference. Work items write disjoint parts of the outputs, so they may run in
// parallel.
void attend(const Problem& p, const Sequence& s, const WorkItem& item) {
  const int kv_head = item.kv_head;
  const ir::Variant& var = p.variant;
  const int D = var.head_dim;
  const bool ragged = p.shape.ragged;

  // This group's keys and values, decoded once.
  std::vector<double> keys(s.kv_len * D), values(s.kv_len * D);
  for (int64_t j = 0; j < s.kv_len; ++j) {
    const int64_t k_row = s.k_start + j;  // k_start is 0 for fixed lengths
    load_row(p.args.k, row_offset(p.args.k, ragged, s.index, k_row, kv_head), D, &keys[j * D]);
    load_row(p.args.v, row_offset(p.args.v, ragged, s.index, k_row, kv_head), D, &values[j * D]);
  }
  AttentionRows rows(var, p.values, SequenceKv{s.index, s.q_len, s.kv_len, keys.data(), values.data()},
                     kv_head, p.low);

  std::vector<double> query(D);
  const int group = var.group_size();
  for (int h = kv_head * group; h < (kv_head + 1) * group; ++h) {
    for (int64_t i = item.first_row; i < item.end_row; ++i) {
      const int64_t q_row = ragged ? s.q_start + i : i;  // row index in q's own layout
      load_row(p.args.q, row_offset(p.args.q, ragged, s.index, q_row, h), D, query.data());
      const int64_t flat_row = s.q_start + i;
      const int64_t at = flat_row * var.q_heads + h;
      double* out = &p.result.out[at * D];
      LowPrecisionRow twin;
      if (p.low) twin = {&p.result.low.out_unrounded[at * D], &p.result.low.out[at * D]};
      const double lse = rows.row(h, i, query.data(), out, p.low ? &twin : nullptr);
      p.result.lse[at] = lse;
      if (p.low) {
        p.result.low.lse[at] = twin.lse;
        p.result.low.lse_model_error[at] = twin.lse_model_error;
      }
      if (p.args.out.defined()) {
        const int64_t o = row_offset(p.args.out, ragged, s.index, q_row, h);
        for (int d = 0; d < D; ++d) store_element(p.args.out.data, p.args.out.dtype, o + d, out[d]);
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

}  // namespace

void LowPrecisionResult::resize(size_t outputs, size_t rows) {
  out_unrounded.assign(outputs, 0.0);
  out.assign(outputs, 0.0);
  lse.assign(rows, kNegInf);
  lse_model_error.assign(rows, 0.0);
}

ReferenceResult reference_prefill(const ir::Variant& variant, const PrefillArgs& args,
                                  bool low_precision) {
  const PrefillShape shape = validate(variant, args);
  ATTNJIT_ASSERT(variant.kv_heads > 0 && variant.q_heads % variant.kv_heads == 0,
                 "reference_prefill: q_heads must be a multiple of kv_heads");
  const RuntimeValues values = read_runtime_values(variant, args, shape.batch);

  const int64_t rows = shape.ragged ? args.q.shape[0] : int64_t{shape.batch} * shape.seqlen_q;
  ReferenceResult result;
  result.out.assign(rows * variant.q_heads * variant.head_dim, 0.0);
  result.lse.assign(rows * variant.q_heads, kNegInf);
  const LowPrecision low = kernel_precision(variant);
  if (low_precision) result.low.resize(result.out.size(), result.lse.size());

  const std::vector<Sequence> seqs = sequences(args, shape);
  const Problem problem{variant, args, shape, values, low_precision ? &low : nullptr, result};
  std::vector<int64_t> q_lens;
  for (const Sequence& s : seqs) q_lens.push_back(s.q_len);
  const std::vector<WorkItem> items = work_items(q_lens, variant.kv_heads);
  parallel_for(static_cast<int64_t>(items.size()), [&](int64_t i) {
    attend(problem, seqs[items[i].seq], items[i]);
  });
  return result;
}

}  // namespace attnjit
