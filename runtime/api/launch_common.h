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
// the Q tile, K/V 16-bit tiles, and for quantized K/V (`raw_kv_bytes` = 1) the raw
// staging tiles with a single 16-bit tile.
// With BLOCK_M 16 and several warps, each warp has its own K/V buffers.
inline int attention_shared_bytes(const TileConfig& tile, int head_dim, int raw_kv_bytes = 0) {
  const int row16 = 2 * (head_dim + 8);
  const int kv16_stages = raw_kv_bytes > 0 ? 1 : tile.stages;
  const int rings = tile.block_m == 16 && tile.warps > 1 ? tile.warps : 1;
  return row16 * tile.block_m + rings * (row16 * 2 * kv16_stages * tile.block_n +
                                         2 * tile.stages * tile.block_n * head_dim * raw_kv_bytes);
}

// Bytes per K/V element when K/V are not 16-bit (decoded in shared memory), else 0.
inline int raw_kv_bytes(const ir::Variant& v) {
  const int bytes = dtype_bytes(v.kv_type);
  return bytes == 2 ? 0 : bytes;
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
