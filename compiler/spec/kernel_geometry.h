#pragma once
// One statement of each kernel's geometry: threads per block, the layout of its
// dynamic shared memory, and the rules a tile config must follow. The config validator
// (validate_tile), codegen and the launch planner all read it from here; codegen
// renders the launch numbers into the source, where attention_core.cuh checks its own
// layout against them (static_assert), so a kernel whose template disagrees with the
// host does not compile.
#include <string>

#include "compiler/spec/kernel_spec.h"

namespace attnjit {

// What the K/V layout in shared memory depends on besides the tile.
struct KvElements {
  int head_dim = 0;
  int bytes = 2;                  // stored element size: 2 (bf16, fp16), 1 (fp8, int8), 4 (f32)
  bool per_token_scales = false;  // an f32 scale per (token, head) arrives with each tile
};
KvElements kv_elements_of(const ir::Variant& v);

// Byte counts are long long: the validator asks about head dims straight from a config
// file (up to INT_MAX) before any limit is checked.
struct KernelGeometry {
  int warps = 0;
  int warp_lanes = 0;  // lanes of a warp: the target's wave size (32, or 64 on AMD)
  int threads = 0;
  // The attention kinds (prefill, paged); zero for merge and cache_write.
  int block_m = 0, block_n = 0, stages = 0;
  int row_tiles = 0;            // 16-row MMA tiles per warp
  bool warps_split_kv = false;  // decode tile: the warps share 16 rows and split the KV tiles
  int kv_groups = 0;            // independent K/V pipelines (rings): a warp each when split
  long long row_bytes = 0;      // a 16-bit row, padded by 16 bytes
  long long q_bytes = 0;        // the Q tile
  bool kv_raw = false;          // K/V stay as stored (8-bit, f32) and decode in registers
  long long raw_row_bytes = 0;  // a stored K/V row, padded by 16 bytes
  long long scale_bytes = 0;    // a raw tile's per-token scales
  long long kv_buffer_bytes = 0;  // one K or V tile buffer
  long long group_bytes = 0;      // one ring: `stages` K buffers, then `stages` V buffers
  long long shared_bytes = 0;     // the main loop's dynamic shared memory (Q tile + rings)
  // The stream split keeps its work line (an int per sequence, plus one) after the
  // main loop's buffers, from this 16-byte aligned offset.
  long long work_line_offset = 0;

  // Dynamic shared memory of one launch: the main loop's, and for the stream split the
  // work line of `num_seqs` sequences.
  long long launch_shared_bytes(KvSplit split, int num_seqs) const;
};

// The attention main loop of an arch: MFMA on AMD targets, mma.sync on CUDA ones (also
// for a name that is no target, e.g. sm_87, served by an older one).
Mainloop attention_mainloop(const std::string& arch);

// Geometry of the attention main loop for a tile; the tile must pass
// tile_rule_problem() for the same main loop (the layout is meaningless otherwise).
// mma_sync: warps of 32 threads, Q tile and K/V rings (raw 8-bit or f32 rows for those
// types) in shared memory. mfma (templates/kernels/attention_core_mfma.cuh): 64-lane
// waves of 32 query rows each, Q in registers, `stages` K and V buffers of 16-bit rows
// (every K/V type is converted on its way into LDS) plus per-token scales.
KernelGeometry attention_geometry(const TileConfig& tile, const KvElements& kv,
                                  Mainloop mainloop = Mainloop::mma_sync);
// merge and cache_write: `tile.warps` warps of `warp_lanes` lanes (the target's wave
// size), a warp per row (x head), no dynamic shared memory.
KernelGeometry row_kernel_geometry(const TileConfig& tile, int warp_lanes);
// The wave size of `arch`'s target (32 for a name that is no target).
int warp_lanes_of(const std::string& arch);
// Either, by the spec's kind; the wgmma main loop's (hopper_geometry.h) for a spec built
// on it.
KernelGeometry geometry_of(const KernelSpec& spec);

// The structural tile rules (warps, BLOCK_M per warp, BLOCK_N, stages, registers at
// head_dim > 128): empty when the tile follows them, else a message naming the field.
// `head_dim` 0 = not known yet.
std::string tile_rule_problem(const TileConfig& tile, int head_dim,
                              Mainloop mainloop = Mainloop::mma_sync);

// The K/V layout a config entry is checked at before any variant is known: 16-bit K/V,
// the largest layout of the common types (8-bit rows with their scales are smaller at
// every head_dim; f32 K/V are checked when a variant's spec is made), or for a bucket
// limited to 8-bit K/V ("kv_8bit") the 8-bit layout with per-token scales, the larger
// of the two 8-bit ones.
KvElements config_kv_elements(int head_dim, bool kv_8bit);

// The tile rules and, when kv.head_dim > 0, the main loop's shared memory for `kv`
// within `max_shared_bytes` (the target's opt-in limit: shared_memory_limit(arch)).
// Empty when valid, else a message naming the field. The config validator, the
// --tile override and spec resolution all check tiles here.
std::string validate_tile(const TileConfig& c, const KvElements& kv, int max_shared_bytes,
                          Mainloop mainloop = Mainloop::mma_sync);
// validate_tile() with the arch's attention main loop and shared-memory limit.
std::string validate_tile_for(const std::string& arch, const TileConfig& c, const KvElements& kv);

// The tile of the kernels that give each row (x head) a warp: merge and cache_write.
// Only `warps` is read.
inline constexpr TileConfig kRowKernelTile{16, 16, 4, 2};

}  // namespace attnjit
