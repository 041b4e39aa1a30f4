#pragma once
// The Hopper (sm_90a, wgmma) prefill kernel's geometry and rules: which variants it
// builds, which tiles it takes, its threads and its dynamic shared-memory layout.
// templates/kernels/hopper/mainloop.cuh states the same layout (HopperGeometry) and
// static_asserts that it equals the rendered kLaunchThreads / kLaunchSharedBytes.
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/kernel_spec.h"

namespace attnjit {

// A producer warpgroup (tensor copies) and two or three consumer warpgroups of 64 query
// rows each: BLOCK_M 128 with 12 warps, or 192 with 16.
inline constexpr int kHopperGroupRows = 64;
// The KV tile widths (BLOCK_N) of the main loop: the wgmma N widths of S = Q K^T that
// templates/cuda/hopper_ops.cuh spells out (Wgmma<N>). 80 is the widest tile whose S, P
// and O fit two consumers' registers beside a head dim of 256 (FlashAttention-3's d256
// tile), and with two stages the widest that fits shared memory there.
inline const std::vector<int> kHopperBlockNs = {64, 80, 128, 256};
// The paged kind's chunk kernel packs a KV head's query heads into 128 rows.
inline constexpr int kHopperPagedBlockM = 128;
// Warps of a block of BLOCK_M `block_m`: its consumers' and the producer's.
constexpr int hopper_warps(int block_m) { return 4 * (1 + block_m / kHopperGroupRows); }

// Why the wgmma main loop cannot build `kind` for `variant` ("" when it can): the prefill
// kind with contiguous K/V, or the paged kind (its prefill chunks:
// templates/kernels/hopper/paged_prefill.cuh) with unscaled K/V and at most 128 query
// heads per KV head; q and kv of one 16-bit type (bf16 or fp16), head dim 64, 128 or
// 256 (whole 128-byte swizzled rows and a wgmma shape of the vocabulary).
std::string wgmma_variant_problem(const ir::Variant& variant, KernelKind kind);

// The tile rules: BLOCK_M 128 with 12 warps or 192 with 16 (two or three consumer
// warpgroups); BLOCK_N one of kHopperBlockNs whose S, P and O fit the consumers'
// registers (3/4 BLOCK_N + head_dim / 2 <= 192 per thread of two consumers' 240, <= 128
// of three consumers' 160); 2 to 4 stages; shared memory within `max_shared_bytes`.
// Empty when valid, else a message naming the field; `head_dim` 0 = not known yet. The
// tiles themselves are configs/sm_90a.json's (choose_wgmma_prefill()).
std::string hopper_tile_problem(const TileConfig& tile, int head_dim, int max_shared_bytes);

// The layout of a tile that passes hopper_tile_problem(): kQBuffers Q tiles, the
// stages' K and V tiles, the mbarriers.
KernelGeometry hopper_geometry(const TileConfig& tile, int head_dim);

// Q tiles of the layout: two for a persistent tile when they fit the sm_90a target's
// shared memory (the next work tile's Q lands while this one's last KV tiles and
// epilogue run), else one. Rendered as kQBuffers.
int hopper_q_buffers(const TileConfig& tile, int head_dim);

// The main loop's schedule: switches of its tile config, each a compile-time choice
// (off, all three: the serial loop on one block per query tile). configs/sm_90a.json
// names them as keys, a tile override as words after the numbers, a spec's uri and
// record carry them, and the generated source states them as constants:
//  - softmax_overlap: each consumer warpgroup runs the hooks and softmax of KV tile n
//    while its tensor cores compute S of tile n + 1 and O += P V of tile n - 1;
//  - pingpong: the consumer warpgroups take turns issuing their MMAs (named
//    barriers), so one's softmax runs while the other's MMAs use the tensor cores;
//  - persistent: the grid is one block per resident slot (SMs x blocks per SM), each
//    looping over work tiles in templates/kernels/hopper/tile_order.h's order (longest
//    first under a causal mask).
struct HopperScheduleSwitch {
  const char* name;      // the config key, the override word and the record's entry
  const char* tag;       // in the uri
  const char* constant;  // in the generated source
  bool TileConfig::*member;
};
const std::vector<HopperScheduleSwitch>& hopper_schedule_switches();
// True when `tile` turns any switch on.
bool has_hopper_schedule(const TileConfig& tile);
// The switch called `name`, or null.
const HopperScheduleSwitch* find_hopper_schedule_switch(const std::string& name);
// "softmax_overlap, pingpong or persistent", for messages.
std::string hopper_schedule_names();
// The uri's part: ".overlap.pingpong.persistent" for the switches that are on ("" for none).
std::string hopper_schedule_tag(const TileConfig& tile);
// At least the persistent grid's work tiles (templates/kernels/hopper/tile_order.h's
// work_tile_count) for `q_heads` heads: exact for fixed lengths (`ragged_q_rows` < 0),
// for a ragged batch of `ragged_q_rows` query rows in all (the cu_seqlens themselves
// are on the device) one more query-tile slot per sequence than whole tiles.
long long hopper_work_tile_bound(int q_heads, int batch, int seqlen_q, long long ragged_q_rows, int block_m);
// Blocks of the persistent grid: one per resident slot, no more than the work tiles,
// at least one.
unsigned hopper_persistent_blocks(long long work_tiles, int sm_count, int blocks_per_sm);
// The generated source's constants: each switch, and the query heads (the persistent
// grid's work tiles are per head).
std::string hopper_constants(const TileConfig& tile, const ir::Variant& variant);

}  // namespace attnjit
