#pragma once
// Arguments of the prefill kind, as the caller gives them (FlashAttention's
// flash_attn_func / flash_attn_varlen_func shapes).
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
// used as the message prefix. Host-side arrays (cu_seqlens on cpu) are checked too.
PrefillShape validate_prefill(const ir::Variant& variant, const PrefillArgs& args,
                              DeviceKind expected_device, const std::string& where);

}  // namespace attnjit
