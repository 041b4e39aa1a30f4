// Threads, shared-memory layout and tile rules of each kernel kind (see the header).
// The layout mirrors attention_core.cuh's TileGeometry field by field; the rendered
// kLaunchThreads / kLaunchSharedBytes make the compiler check that it does.
#include "compiler/spec/kernel_geometry.h"

#include "compiler/spec/hopper_geometry.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

namespace attnjit {

namespace {

constexpr int kThreadsPerWarp = 32;
constexpr int kRowsPerWarpTile = 16;  // rows of one m16n8k16 MMA tile
// Shared-memory rows are padded by 16 bytes so the 8 row addresses of one ldmatrix
// (or one raw-operand read) fall in 8 different bank groups.
constexpr int kRowPaddingBytes = 16;
constexpr int kSixteenBitBytes = 2;
constexpr int kScaleBytes = 4;         // an f32 per-token scale
constexpr int kWorkLineAlignment = 16;
constexpr int kWorkLineEntryBytes = 4;  // an int per sequence
constexpr int kCdnaWaveLanes = 64;
constexpr int kMfmaRows = 32;  // query rows of one wave: the N (and M) of v_mfma_f32_32x32x8

long long round_up(long long x, long long to) { return (x + to - 1) / to * to; }

}  // namespace

KvElements kv_elements_of(const ir::Variant& v) {
  return {v.head_dim, dtype_bytes(v.kv_type),
          v.kv_scale == ir::ScaleGranularity::per_token_head};
}

Mainloop attention_mainloop(const std::string& arch) {
  return vendor_of_arch(arch) == Vendor::hip ? Mainloop::mfma : Mainloop::mma_sync;
}

namespace {

// The MFMA main loop's layout (attention_core_mfma.cuh's TileGeometry, field by field).
KernelGeometry mfma_attention_geometry(const TileConfig& tile, const KvElements& kv) {
  KernelGeometry g;
  g.warps = tile.warps;
  g.warp_lanes = kCdnaWaveLanes;
  g.threads = tile.warps * kCdnaWaveLanes;
  g.block_m = tile.block_m;
  g.block_n = tile.block_n;
  g.stages = tile.stages;
  g.row_tiles = 1;
  g.kv_groups = 1;
  g.row_bytes = static_cast<long long>(kv.head_dim) * kSixteenBitBytes + kRowPaddingBytes;
  g.q_bytes = 0;  // Q stays in registers
  g.kv_raw = false;  // every K/V type is converted to 16-bit rows on its way into LDS
  g.scale_bytes = kv.per_token_scales ? static_cast<long long>(tile.block_n) * kScaleBytes : 0;
  g.kv_buffer_bytes = tile.block_n * g.row_bytes + g.scale_bytes;
  g.group_bytes = 2LL * tile.stages * g.kv_buffer_bytes;
  g.shared_bytes = g.group_bytes;
  g.work_line_offset = round_up(g.shared_bytes, kWorkLineAlignment);
  return g;
}

std::string mfma_tile_rule_problem(const TileConfig& c, int head_dim) {
  if (c.warps != 1 && c.warps != 2 && c.warps != 4 && c.warps != 8)
    return fmt::format("num_warps must be 1, 2, 4 or 8, got {}", c.warps);
  // A wave owns the 32 query rows of one MFMA's N.
  if (c.block_m != kMfmaRows * c.warps)
    return fmt::format("BLOCK_M must be 32 * num_warps = {} on the MFMA main loop (each wave owns "
                       "32 query rows), got {}",
                       kMfmaRows * c.warps, c.block_m);
  if (c.block_n != 32 && c.block_n != 64 && c.block_n != 128)
    return fmt::format("BLOCK_N must be 32, 64 or 128 on the MFMA main loop, got {}", c.block_n);
  if (c.stages != 1 && c.stages != 2)
    return fmt::format("num_stages must be 1 or 2 on the MFMA main loop (K/V buffers in LDS), got {}",
                       c.stages);
  if (head_dim > 0 && head_dim % kMfmaRows != 0)
    return fmt::format("head_dim must be a multiple of 32 on the MFMA main loop, got {}", head_dim);
  return "";
}

// CDNA 2 and 3 keep at most 8 waves resident per SIMD (LLVM's limit for gfx90a and gfx942).
constexpr int kCdnaMaxWavesPerEu = 8;

// waves_per_eu is a register cap of AMD's compiler: the MFMA main loop takes it (codegen
// renders amdgpu_waves_per_eu), the CUDA main loops have min_blocks_per_sm instead.
std::string waves_per_eu_problem(const TileConfig& c, Mainloop mainloop) {
  if (c.waves_per_eu == 0) return "";
  if (mainloop != Mainloop::mfma)
    return fmt::format("waves_per_eu is an AMD setting (the MFMA main loop of gfx90a and gfx942); "
                       "the {} main loop's tiles take min_blocks_per_sm instead",
                       mainloop_name(mainloop));
  if (c.waves_per_eu < 1 || c.waves_per_eu > kCdnaMaxWavesPerEu)
    return fmt::format("waves_per_eu must be 1 to {} (waves resident per SIMD on CDNA), got {}",
                       kCdnaMaxWavesPerEu, c.waves_per_eu);
  return "";
}

}  // namespace

KernelGeometry attention_geometry(const TileConfig& tile, const KvElements& kv, Mainloop mainloop) {
  if (mainloop == Mainloop::mfma) return mfma_attention_geometry(tile, kv);
  KernelGeometry g;
  g.warps = tile.warps;
  g.warp_lanes = kThreadsPerWarp;
  g.threads = tile.warps * kThreadsPerWarp;
  g.block_m = tile.block_m;
  g.block_n = tile.block_n;
  g.stages = tile.stages;
  g.warps_split_kv = tile.block_m == kRowsPerWarpTile && tile.warps > 1;
  g.row_tiles = std::max(1, tile.block_m / (kRowsPerWarpTile * tile.warps));
  g.kv_groups = g.warps_split_kv ? tile.warps : 1;
  const long long d = kv.head_dim;
  g.row_bytes = d * kSixteenBitBytes + kRowPaddingBytes;
  g.q_bytes = tile.block_m * g.row_bytes;
  // 16-bit K/V are read by ldmatrix from rows laid out like Q's; other element sizes
  // arrive as stored and become MMA operands in registers.
  g.kv_raw = kv.bytes != kSixteenBitBytes;
  g.raw_row_bytes = d * kv.bytes + kRowPaddingBytes;
  g.scale_bytes = kv.per_token_scales ? static_cast<long long>(tile.block_n) * kScaleBytes : 0;
  g.kv_buffer_bytes = g.kv_raw ? tile.block_n * g.raw_row_bytes + g.scale_bytes
                               : tile.block_n * g.row_bytes;
  g.group_bytes = 2LL * tile.stages * g.kv_buffer_bytes;
  g.shared_bytes = g.q_bytes + g.kv_groups * g.group_bytes;
  g.work_line_offset = round_up(g.shared_bytes, kWorkLineAlignment);
  return g;
}

KernelGeometry row_kernel_geometry(const TileConfig& tile, int warp_lanes) {
  KernelGeometry g;
  g.warps = tile.warps;
  g.warp_lanes = warp_lanes;
  g.threads = tile.warps * warp_lanes;
  return g;
}

int warp_lanes_of(const std::string& arch) {
  const Target* target = find_target(arch);
  return target ? target->wave_size : kThreadsPerWarp;
}

KernelGeometry geometry_of(const KernelSpec& spec) {
  if (spec_mainloop(spec) == Mainloop::wgmma) return hopper_geometry(spec.tile, spec.variant.head_dim);
  if (spec.kind == KernelKind::prefill || spec.kind == KernelKind::paged)
    return attention_geometry(spec.tile, kv_elements_of(spec.variant), attention_mainloop(spec.arch));
  return row_kernel_geometry(spec.tile, warp_lanes_of(spec.arch));
}

long long KernelGeometry::launch_shared_bytes(KvSplit split, int num_seqs) const {
  if (split != KvSplit::stream) return shared_bytes;
  return work_line_offset + kWorkLineEntryBytes * (static_cast<long long>(num_seqs) + 1);
}

KvElements config_kv_elements(int head_dim, bool kv_8bit) {
  if (kv_8bit) return {head_dim, 1, true};
  return {head_dim, kSixteenBitBytes, false};
}

std::string validate_tile(const TileConfig& c, const KvElements& kv, int max_shared_bytes,
                          Mainloop mainloop) {
  if (std::string problem = waves_per_eu_problem(c, mainloop); !problem.empty()) return problem;
  // The wgmma main loop's rules include its shared memory (16-bit K/V only).
  if (mainloop == Mainloop::wgmma) return hopper_tile_problem(c, kv.head_dim, max_shared_bytes);
  if (std::string problem = tile_rule_problem(c, kv.head_dim, mainloop); !problem.empty()) return problem;
  if (kv.head_dim <= 0) return "";
  const long long bytes = attention_geometry(c, kv, mainloop).shared_bytes;
  if (bytes <= max_shared_bytes) return "";
  return fmt::format(
      "shared memory of {} bytes (BLOCK_M {} + {} stages of BLOCK_N {} for {}-bit K and V{}, at "
      "head_dim {}) exceeds the arch's {}-byte limit; lower num_stages, BLOCK_N or BLOCK_M",
      bytes, c.block_m, c.stages, c.block_n, 8 * kv.bytes,
      kv.per_token_scales ? " with per-token scales" : "", kv.head_dim, max_shared_bytes);
}

std::string validate_tile_for(const std::string& arch, const TileConfig& c, const KvElements& kv) {
  return validate_tile(c, kv, shared_memory_limit(arch), attention_mainloop(arch));
}

std::string tile_rule_problem(const TileConfig& c, int head_dim, Mainloop mainloop) {
  if (std::string problem = waves_per_eu_problem(c, mainloop); !problem.empty()) return problem;
  if (mainloop == Mainloop::wgmma) return hopper_tile_problem(c, head_dim, INT_MAX);
  if (has_hopper_schedule(c))
    return fmt::format("the schedule switches ({}) belong to the wgmma main loop, not {}", hopper_schedule_names(),
                       mainloop_name(mainloop));
  if (mainloop == Mainloop::mfma) return mfma_tile_rule_problem(c, head_dim);
  if (c.warps != 1 && c.warps != 2 && c.warps != 4 && c.warps != 8)
    return fmt::format("num_warps must be 1, 2, 4 or 8, got {}", c.warps);
  // A warp owns one or two 16-row MMA tiles of queries, or (BLOCK_M 16) all warps share
  // the 16 rows and split the KV tiles between them.
  const bool warps_split_kv = c.block_m == kRowsPerWarpTile && c.warps > 1;
  if (c.block_m != kRowsPerWarpTile * c.warps && c.block_m != 2 * kRowsPerWarpTile * c.warps &&
      !warps_split_kv)
    return fmt::format(
        "BLOCK_M must be 16 * num_warps = {} or 32 * num_warps = {} (each warp owns 16 or 32 "
        "query rows), or 16 (the warps split the KV tiles), got {}",
        kRowsPerWarpTile * c.warps, 2 * kRowsPerWarpTile * c.warps, c.block_m);
  // Two row tiles double the output accumulators; past head_dim 128 they no longer
  // fit in registers.
  if (head_dim > 128 && c.block_m == 2 * kRowsPerWarpTile * c.warps)
    return fmt::format("BLOCK_M 32 * num_warps ({}) needs head_dim <= 128, got head_dim {}",
                       c.block_m, head_dim);
  if (c.block_n != 16 && c.block_n != 32 && c.block_n != 64 && c.block_n != 128)
    return fmt::format("BLOCK_N must be 16, 32, 64 or 128, got {}", c.block_n);
  // The K/V pipeline prefetches the next tile while computing this one.
  if (c.stages < 2 || c.stages > 4)
    return fmt::format("num_stages must be 2, 3 or 4, got {}", c.stages);
  return "";
}

}  // namespace attnjit
