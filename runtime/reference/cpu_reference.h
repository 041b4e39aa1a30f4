#pragma once
// The CPU reference: the exact semantics of every variant feature, accumulated in
// float64. It is the test oracle and the fallback backend when no GPU is present.
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/prefill_args.h"

namespace attnjit {

// The low-precision twin of a reference (LowPrecision in attention_rows.h: the same
// attention rounded where the kernel rounds), laid out like the reference's own out
// and lse. Empty unless asked for.
struct LowPrecisionResult {
  std::vector<double> out_unrounded;  // before the output's rounding
  std::vector<double> out;            // rounded to the out dtype (fp8: / out_scale again)
  std::vector<double> lse;
  std::vector<double> lse_model_error;  // per row, see LowPrecisionRow
  bool empty() const { return out.empty(); }
  // Sized like a reference with `outputs` output values and `rows` LSE entries.
  void resize(size_t outputs, size_t rows);
};

struct ReferenceResult {
  // Row-major like args.out ([.., q_heads, head_dim] flattened over rows) and
  // lse [rows, q_heads] where rows = batch*seqlen_q or total_q.
  std::vector<double> out;
  std::vector<double> lse;
  LowPrecisionResult low;  // with low_precision only
};

// Validates `args` like the GPU path does (validate_prefill, device cpu), except that
// args.out and args.lse may be left undefined. The variant's runtime values come from
// args too, as host views: params (a param left out takes its default, rounded to f32
// like the kernel argument it becomes), inputs, sinks and bidirectional ranges. Fully
// masked rows give 0 output and -inf LSE (the sink's logit instead when the variant
// has sinks). If args.out / args.lse are defined they are also written (converted to
// their dtypes, honouring their strides).
// Semantics: q_pos = i + kv_len - q_len (queries sit at the end of their sequence),
// kv_pos = j; score = softmax_scale * q.k, then variant.score, then variant.mask
// (which sees the transformed score if it reads `score`). A key is visible when the
// mask says so, or when a bidirectional range of the sequence holds both q_pos and
// kv_pos (start <= pos < end). A sink joins every row's softmax denominator (and its
// LSE) without contributing a value.
// With `low_precision`, result.low holds the low-precision twin too (in the same pass
// over the keys; it costs about a third more).
ReferenceResult reference_prefill(const ir::Variant& variant, const PrefillArgs& args,
                                  bool low_precision = false);

// Element conversions shared with tests and tools.
double load_element(const void* base, DType t, int64_t index);
void store_element(void* base, DType t, int64_t index, double value);
// The value store_element would store, without storing it: `value` rounded to the
// dtype (nearest, ties to even; fp8 saturates, f16/bf16 overflow to inf, integers
// clamp). The low-precision twin of the reference rounds with it.
double round_to_dtype(DType t, double value);

}  // namespace attnjit
