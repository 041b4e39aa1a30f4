#pragma once
// The float64 reference of the paged kinds (paged attention, cache_write, merge): the
// test oracle of the paged kernels and their CPU fallback. Arguments are host (cpu)
// views, validated like the GPU path validates them.
#include <vector>

#include "compiler/ir/dtype.h"
#include "compiler/ir/variant.h"
#include "runtime/api/paged_args.h"
#include "runtime/reference/cpu_reference.h"

namespace attnjit {

struct PagedReferenceResult {
  std::vector<double> out;  // [total_q, q_heads, head_dim]: the attention result (no out_scale)
  std::vector<double> lse;  // [q_heads, total_q], as PagedArgs::lse
  LowPrecisionResult low;   // with low_precision only; laid out as out and lse
};

// Paged attention. Sequence s has the query chunk q[cu[s] .. cu[s+1]) at the end of
// its seq_lens[s] = L keys: query i sits at q_pos = L - q_len + i, and key j (0..L-1)
// lives in page block_table[s][j / page_size], slot j % page_size. K/V elements are
// dequantized: bf16/fp16/f32 and unscaled quantized types as stored; per_tensor
// value * k_descale (v_descale); per_token_head value * scale_cache[page][slot][kv_head].
// Everything after the gather is the prefill reference's semantics (AttentionRows).
// args.out / args.lse may be left undefined; when given they are also written
// (fp8 out: result * out_scale, rounded with saturation).
// With `low_precision`, result.low holds the low-precision twin too (its fp8 output
// rounded at args.out_scale, then divided by it again).
PagedReferenceResult reference_paged(const ir::Variant& variant, const PagedArgs& args,
                                     bool low_precision = false);

// Largest magnitude a quantized KV type stores: 448 (fp8_e4m3), 57344 (fp8_e5m2),
// 127 (int8: symmetric, -128 is never produced). 0 for other types.
double quantized_max(DType t);
// per_token_head scales never go below this, so an all-zero row gets a finite scale
// (and stores zeros) instead of dividing by zero.
inline constexpr float kMinTokenHeadScale = 1e-10f;

// vLLM's reshape_and_cache: token t's K/V rows go to slot slot_mapping[t] (page
// slot / page_size, offset slot % page_size); tokens with a negative slot are skipped.
// Stored values: unquantized types convert; quantized without scales store the value;
// per_tensor stores value / k_scale (v_scale); per_token_head computes, per token and
// KV head, scale = float(max(max|x| / quantized_max, kMinTokenHeadScale)), stores
// x / scale and writes the scale to the scale cache. fp8 conversion rounds to nearest
// even and saturates; int8 rounds to nearest even and clamps to [-127, 127].
void reference_cache_write(const ir::Variant& variant, const CacheWriteArgs& args);

struct MergeReferenceResult {
  std::vector<double> out;  // [tokens, heads, head_dim]
  std::vector<double> lse;  // [heads, tokens]
};

// out = (out_a * e^lse_a + out_b * e^lse_b) / (e^lse_a + e^lse_b) and
// lse = log(e^lse_a + e^lse_b); where both LSEs are -inf (no key seen on either side)
// out is 0 and lse -inf. args.out / args.lse are written when given.
MergeReferenceResult reference_merge(const MergeArgs& args);

}  // namespace attnjit
