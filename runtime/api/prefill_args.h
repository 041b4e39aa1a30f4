#pragma once
// Arguments of the prefill kind, as the caller gives them (FlashAttention's
// flash_attn_func / flash_attn_varlen_func shapes).
#include <map>
#include <optional>
#include <string>

#include "runtime/api/tensor.h"

namespace attnjit {

namespace ir { struct Variant; }

struct PrefillArgs {
  // Fixed lengths: q [batch, seqlen_q, q_heads, head_dim], k/v [batch, seqlen_k, kv_heads, head_dim].
  // Ragged: q [total_q, q_heads, head_dim], k/v [total_k, kv_heads, head_dim] plus
  // cu_seqlens_q / cu_seqlens_k (int32 [batch + 1]) and max_seqlen_q / max_seqlen_k.
  TensorView q, k, v;
  TensorView out;                   // same shape as q, dtype = variant's out type
  TensorView lse;                   // optional (variant.lse): f32 [batch, q_heads, seqlen_q] or [q_heads, total_q]
  TensorView cu_seqlens_q, cu_seqlens_k;
  int max_seqlen_q = 0, max_seqlen_k = 0;  // ragged only

  // Runtime values of the variant (same device as q unless noted; arrays contiguous):
  std::map<std::string, float> params;       // `param` values by name (host); missing = default
  std::map<std::string, TensorView> inputs;  // `input` arrays by name: f32 [q_heads], [kv_heads] or [batch]
  TensorView sinks;                          // f32 [q_heads], with `sinks = per_head`
  // int32 [batch, max_ranges, 2] of [start, end) absolute positions, with
  // `bidirectional_ranges = per_seq`; start == end is an empty range (padding), any
  // other must have 0 <= start < end (checked when the array is on the cpu).
  TensorView bidirectional_ranges;

  // Tests only: a device int32[2] the kernel adds its visited / full KV tile counts to.
  int* debug_tile_counts = nullptr;

  bool ragged() const { return cu_seqlens_q.defined(); }
};

// The problem's sizes once validated.
struct PrefillShape {
  int batch = 0;
  int seqlen_q = 0;  // fixed length, or maximum when ragged
  int seqlen_k = 0;
  bool ragged = false;
};

// Checks every argument against the variant and each other; throws ArgumentError
// naming the argument, the expected and the actual value. `where` is the API name
// used as the message prefix. Host-side arrays (cu_seqlens, bidirectional ranges on
// cpu) are checked too. The variant's runtime values come last
// (runtime/api/variant_values.h): every declared input and nothing else, params by
// declared name, sinks and ranges exactly when the variant has them.
PrefillShape validate_prefill(const ir::Variant& variant, const PrefillArgs& args,
                              DeviceKind expected_device, const std::string& where);

}  // namespace attnjit
