// Geometry and rules of the Hopper prefill kernel (see the header).
#include "compiler/spec/hopper_geometry.h"

#include <fmt/format.h>

#include <algorithm>

#include "compiler/target/target.h"

namespace attnjit {

namespace {

constexpr int kSwizzleRowBytes = 128;   // one copy box's row: 64 16-bit elements
constexpr int kSwizzleAtomBytes = 1024;  // the base is rounded up to this at run time
constexpr int kBarrierBytes = 8;
constexpr int kElementBytes = 2;
// Accumulator and P registers per consumer thread the rule allows, by consumer
// warpgroups: of 240 registers after setmaxnreg with two, of 160 with three (the kernel's
// HopperGeometry); the others (48, 32) hold addresses, softmax state and hooks.
constexpr int consumer_value_registers(int consumer_groups) { return consumer_groups == 2 ? 192 : 128; }

}  // namespace

std::string wgmma_variant_problem(const ir::Variant& v, KernelKind kind) {
  if (kind != KernelKind::prefill && kind != KernelKind::paged)
    return fmt::format("the wgmma main loop has no {} kernel", kernel_kind_name(kind));
  if (kind == KernelKind::prefill && v.kv_cache.kind != ir::KvCacheKind::contiguous)
    return "the wgmma main loop needs contiguous K/V";
  if (kind == KernelKind::paged && v.kv_cache.kind != ir::KvCacheKind::paged)
    return "the wgmma paged kernel needs a paged KV cache";
  if (v.q_type != v.kv_type || (v.q_type != DType::bf16 && v.q_type != DType::f16))
    return fmt::format("the wgmma main loop needs q and kv of one 16-bit type, not {} and {}", dtype_name(v.q_type),
                       dtype_name(v.kv_type));
  if (v.head_dim != 64 && v.head_dim != 128 && v.head_dim != 256)
    return fmt::format("the wgmma main loop takes head_dim 64, 128 or 256, not {}", v.head_dim);
  // Scaled (8-bit) caches are decoded in registers: the mma.sync paged kernel's.
  if (v.kv_scale != ir::ScaleGranularity::none) return "the wgmma main loop reads K/V without scales";
  if (kind == KernelKind::paged && v.group_size() > kHopperPagedBlockM)
    return fmt::format("the wgmma paged kernel packs a KV head's query heads into {} rows, not {}", kHopperPagedBlockM,
                       v.group_size());
  return "";
}

std::string hopper_tile_problem(const TileConfig& c, int head_dim, int max_shared_bytes) {
  if ((c.block_m != 128 && c.block_m != 192) || c.warps != hopper_warps(c.block_m))
    return fmt::format("the wgmma main loop takes BLOCK_M 128 with {} warps or 192 with {}, got BLOCK_M {} with {}",
                       hopper_warps(128), hopper_warps(192), c.block_m, c.warps);
  const int groups = c.block_m / kHopperGroupRows;
  if (std::find(kHopperBlockNs.begin(), kHopperBlockNs.end(), c.block_n) == kHopperBlockNs.end())
    return fmt::format("the wgmma main loop takes BLOCK_N {}, got {}", fmt::join(kHopperBlockNs, ", "), c.block_n);
  if (3 * c.block_n / 4 + head_dim / 2 > consumer_value_registers(groups))
    return fmt::format(
        "BLOCK_N {} at head_dim {} needs {} accumulator and P registers per thread; at most {} fit with {} consumer "
        "warpgroups",
        c.block_n, head_dim, 3 * c.block_n / 4 + head_dim / 2, consumer_value_registers(groups), groups);
  if (c.stages < 2 || c.stages > 4) return fmt::format("num_stages must be 2, 3 or 4, got {}", c.stages);
  if (c.min_blocks_per_sm > 1)  // setmaxnreg needs the one-block register cap it always has
    return fmt::format("the wgmma main loop runs one block per SM, not min_blocks_per_sm {}", c.min_blocks_per_sm);
  const long long bytes = hopper_geometry(c, head_dim).shared_bytes;
  if (bytes > max_shared_bytes)
    return fmt::format("shared memory of {} bytes (BLOCK_M {} + {} stages of BLOCK_N {} at head_dim {}) exceeds the "
                       "arch's {}-byte limit; lower num_stages or BLOCK_N",
                       bytes, c.block_m, c.stages, c.block_n, head_dim, max_shared_bytes);
  return "";
}

namespace {

// The layout's bytes with `q_buffers` Q tiles.
long long layout_bytes(const TileConfig& tile, int head_dim, int q_buffers) {
  const long long q_bytes = static_cast<long long>(tile.block_m) * head_dim * kElementBytes;
  const long long kv_bytes = 2LL * tile.stages * tile.block_n * head_dim * kElementBytes;
  // Per Q tile a full barrier (and an empty one when a block loops over work tiles);
  // K and V full and empty per stage; a looping block's two slots of work-tile indices
  // (8 bytes each), with a full and an empty barrier each.
  const int feed_slots = tile.persistent ? 2 : 0;
  const long long barriers = q_buffers * (tile.persistent ? 2 : 1) + 4LL * tile.stages + 2 * feed_slots;
  return q_buffers * q_bytes + kv_bytes + barriers * kBarrierBytes + 8LL * feed_slots + kSwizzleAtomBytes;
}

}  // namespace

int hopper_q_buffers(const TileConfig& tile, int head_dim) {
  if (!tile.persistent) return 1;
  const Target* sm90a = find_target("sm_90a");
  return sm90a != nullptr && layout_bytes(tile, head_dim, 2) <= sm90a->max_shared_bytes ? 2 : 1;
}

KernelGeometry hopper_geometry(const TileConfig& tile, int head_dim) {
  KernelGeometry g;
  g.warps = hopper_warps(tile.block_m);
  g.threads = g.warps * 32;
  g.block_m = tile.block_m;
  g.block_n = tile.block_n;
  g.stages = tile.stages;
  g.row_tiles = 1;  // each warp holds 16 rows of its warpgroup's 64
  g.kv_groups = 1;
  g.row_bytes = kSwizzleRowBytes;
  g.q_bytes = static_cast<long long>(tile.block_m) * head_dim * kElementBytes;
  g.kv_buffer_bytes = static_cast<long long>(tile.block_n) * head_dim * kElementBytes;
  g.group_bytes = 2LL * tile.stages * g.kv_buffer_bytes;
  g.shared_bytes = layout_bytes(tile, head_dim, hopper_q_buffers(tile, head_dim));
  g.work_line_offset = g.shared_bytes;
  return g;
}

long long hopper_work_tile_bound(int q_heads, int batch, int seqlen_q, long long ragged_q_rows, int block_m) {
  if (batch <= 0) return 0;
  const long long slots = ragged_q_rows >= 0 ? ragged_q_rows / block_m + batch
                                             : static_cast<long long>(batch) * ((seqlen_q + block_m - 1) / block_m);
  return q_heads * slots;
}

unsigned hopper_persistent_blocks(long long work_tiles, int sm_count, int blocks_per_sm) {
  const long long slots = static_cast<long long>(std::max(1, sm_count)) * std::max(1, blocks_per_sm);
  return static_cast<unsigned>(std::max(1LL, std::min(work_tiles, slots)));
}

const std::vector<HopperScheduleSwitch>& hopper_schedule_switches() {
  static const std::vector<HopperScheduleSwitch> switches = {
      {"softmax_overlap", "overlap", "kSoftmaxOverlap", &TileConfig::softmax_overlap},
      {"pingpong", "pingpong", "kPingpong", &TileConfig::pingpong},
      {"persistent", "persistent", "kPersistent", &TileConfig::persistent},
  };
  return switches;
}

bool has_hopper_schedule(const TileConfig& tile) {
  for (const HopperScheduleSwitch& s : hopper_schedule_switches())
    if (tile.*s.member) return true;
  return false;
}

const HopperScheduleSwitch* find_hopper_schedule_switch(const std::string& name) {
  for (const HopperScheduleSwitch& s : hopper_schedule_switches())
    if (name == s.name) return &s;
  return nullptr;
}

std::string hopper_schedule_names() {
  const auto& all = hopper_schedule_switches();
  std::string out;
  for (size_t i = 0; i < all.size(); ++i)
    out += fmt::format("{}{}", i == 0 ? "" : i + 1 == all.size() ? " or " : ", ", all[i].name);
  return out;
}

std::string hopper_schedule_tag(const TileConfig& tile) {
  std::string out;
  for (const HopperScheduleSwitch& s : hopper_schedule_switches())
    if (tile.*s.member) out += fmt::format(".{}", s.tag);
  return out;
}

std::string hopper_constants(const TileConfig& tile, const ir::Variant& variant) {
  std::string out = "// The wgmma main loop's schedule (compiler/spec/hopper_geometry.h).\n";
  for (const HopperScheduleSwitch& s : hopper_schedule_switches())
    out += fmt::format("constexpr bool {} = {};\n", s.constant, tile.*s.member);
  out += fmt::format("constexpr int kQHeads = {};\n", variant.q_heads);
  out += fmt::format("constexpr int kQBuffers = {};\n", hopper_q_buffers(tile, variant.head_dim));
  return out;
}

}  // namespace attnjit
