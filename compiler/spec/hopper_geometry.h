#pragma once
// The Hopper (sm_90a, wgmma) prefill kernel's geometry and rules: which variants it
// builds, which tiles it takes, its threads and its dynamic shared-memory layout.
// templates/kernels/hopper/mainloop.cuh states the same layout (HopperGeometry) and
// static_asserts that it equals the rendered kLaunchThreads / kLaunchSharedBytes.
#include <string>

#include "compiler/ir/variant.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/kernel_spec.h"

namespace attnjit {

// Three warpgroups: a producer (tensor copies) and two consumers of 64 query rows each.
inline constexpr int kHopperWarps = 12;
inline constexpr int kHopperBlockM = 128;

// Why the wgmma main loop cannot build `kind` for `variant` ("" when it can): the prefill
// kind with contiguous K/V, or the paged kind (its prefill chunks:
// templates/kernels/hopper/paged_prefill.cuh) with unscaled K/V and at most 128 query
// heads per KV head; q and kv of one 16-bit type (bf16 or fp16), head dim 64, 128 or
// 256 (whole 128-byte swizzled rows and a wgmma shape of the vocabulary).
std::string wgmma_variant_problem(const ir::Variant& variant, KernelKind kind);

// The tile rules: BLOCK_M 128 and 12 warps; BLOCK_N 64, 128 or 256 (the wgmma widths the
// vocabulary spells out) whose S, P and O fit the consumers' registers
// (3/4 BLOCK_N + head_dim / 2 <= 192 per thread); 2 to 4 stages; shared memory within
// `max_shared_bytes`. Empty when valid, else a message naming the field; `head_dim` 0 =
// not known yet. The tiles themselves are configs/sm_90a.json's (choose_wgmma_prefill()).
std::string hopper_tile_problem(const TileConfig& tile, int head_dim, int max_shared_bytes);

// The layout of a tile that passes hopper_tile_problem().
KernelGeometry hopper_geometry(const TileConfig& tile, int head_dim);

}  // namespace attnjit
