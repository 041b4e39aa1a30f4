#pragma once
// Pieces every launch file shares: the kernel ABI headers (in the order the generated
// source has them) and the translation of a variant's runtime values into the
// AttnjitVariantArgs slots codegen assigned.
#include <stdexcept>
#include <string>

#include "compiler/ir/variant.h"
#include "compiler/spec/tuning_config.h"
#include "runtime/api/tensor.h"
#include "templates/kernels/variant_args.h"

namespace attnjit {

// Dynamic shared memory of the attention main loop (attention_core.cuh TileGeometry):
// the Q tile (16-bit rows padded by 16 bytes), then per K/V ring (one per warp when
// BLOCK_M 16 and several warps split the KV tiles, else one) kStages K and kStages V
// buffers: 16-bit rows padded like Q, or for 8-bit and f32 K/V the rows as stored,
// padded by 16 bytes, followed by the tile's per-token scales when the cache has them.
inline int attention_shared_bytes(const TileConfig& tile, const ir::Variant& v) {
  const int d = v.head_dim;
  const int kv_bytes = dtype_bytes(v.kv_type);
  const bool per_token_scales = v.kv_scale == ir::ScaleGranularity::per_token_head;
  const int row16 = 2 * (d + 8);
  const int buffer = kv_bytes == 2 ? tile.block_n * row16
                                   : tile.block_n * (d * kv_bytes + 16) +
                                         (per_token_scales ? 4 * tile.block_n : 0);
  const int rings = tile.block_m == 16 && tile.warps > 1 ? tile.warps : 1;
  return row16 * tile.block_m + rings * 2 * tile.stages * buffer;
}

// Slots in declaration order: params[i] is the variant's i-th param, inputs[j] its
// j-th input. `Args` is PrefillArgs or PagedArgs (validated before).
template <typename Args>
AttnjitVariantArgs variant_args(const ir::Variant& variant, const Args& args) {
  AttnjitVariantArgs out{};
  for (size_t i = 0; i < variant.params.size(); ++i) {
    auto it = args.params.find(variant.params[i].name);
    out.params[i] = static_cast<float>(it != args.params.end() ? it->second
                                                               : variant.params[i].default_value);
  }
  for (size_t i = 0; i < variant.inputs.size(); ++i)
    out.inputs[i] = static_cast<const float*>(args.inputs.at(variant.inputs[i].name).data);
  if (variant.sinks_per_head) out.sinks = static_cast<const float*>(args.sinks.data);
  if (variant.bidirectional_ranges) {
    out.ranges = static_cast<const int*>(args.bidirectional_ranges.data);
    out.max_ranges = static_cast<int>(args.bidirectional_ranges.shape[1]);
  }
  return out;
}

}  // namespace attnjit
