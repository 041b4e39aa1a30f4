// The launch planner: kernels, split, grids and workspace of a call, from shapes, tiles
// and device facts (see the header).
#include "runtime/plan/launch_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "compiler/codegen/codegen.h"
#include "compiler/ir/variant.h"
#include "compiler/spec/tile_choice.h"
#include "templates/kernels/merge_params.h"

namespace attnjit {

namespace {

// The hardware's limit of resident blocks per SM: a launch with this many working
// blocks per SM fills the GPU, so nothing would split.
constexpr long long kMaxResidentBlocksPerSm = 32;
const char* const kDecodeTable = "paged_decode";

unsigned ceil_div(long long a, long long b) { return static_cast<unsigned>((a + b - 1) / b); }

PlannedLaunch launch_of(const KernelRole& role, const TileConfig& tile,
                        const KernelGeometry& geometry, long long grid_x, long long grid_y,
                        long long grid_z, long long shared_bytes) {
  PlannedLaunch l;
  l.role = role;
  l.tile = tile;
  l.geometry = geometry;
  l.grid[0] = static_cast<unsigned>(grid_x);
  l.grid[1] = static_cast<unsigned>(grid_y);
  l.grid[2] = static_cast<unsigned>(grid_z);
  l.threads = geometry.threads;
  // Tiles come through choose_tile(), which keeps the main loop within the target's
  // shared memory; the stream split adds at most kStreamSplitMaxSeqs ints.
  l.shared_bytes = static_cast<int>(shared_bytes);
  return l;
}

// A kernel that gives each row (x head) of `items` a warp: merge, cache_write.
Result<PlannedLaunch, std::string> row_kernel_launch(const KernelRole& role, long long items,
                                                     const ir::Variant& variant,
                                                     const TileLookup& tiles,
                                                     const std::string& arch) {
  auto tile = tiles(role.kind, role.tuning_kind);
  if (!tile) return fail(tile.error());
  const KernelGeometry g = row_kernel_geometry(*tile, warp_lanes_of(arch));
  return launch_of(role, *tile, g, ceil_div(items, g.warps), 1, 1, 0);
}

// A paged block packs whole tokens: each with the query heads of one KV head.
std::string group_does_not_fit(const TileConfig& tile, const ir::Variant& variant) {
  return fmt::format("BLOCK_M {} cannot hold the {} query heads of one KV head", tile.block_m,
                     variant.group_size());
}

// What a paged call's plan and its occupancy queries share: the tile and the numbers
// the split choice weighs.
struct PagedBasis {
  bool decode = false;
  std::string tuning_kind;
  TileConfig tile;
  KernelGeometry geometry;
  long long grid_x = 0;   // query blocks over all sequences (some find no rows and exit)
  int max_tiles = 0;      // KV tiles of the longest sequence
  long long stream_shared_bytes = 0;
  bool stream_possible = false;
  int splits = 0;         // the caller's count, else the config's; 0 = the heuristic's
  long long working_blocks = 0;
};

// A split count without segments (PagedCall::skips_chunks).
int no_segments(int splits, bool stream_possible) {
  if (splits <= 1) return splits;  // the heuristic's 0, whole, or the stream split
  return stream_possible ? kStreamSplit : 1;
}

Result<PagedBasis, std::string> paged_basis(const ir::Variant& variant, const PagedCall& call,
                                            const std::string& arch, const TileLookup& tiles) {
  PagedBasis b;
  // Short chunks everywhere (decode, speculative tokens): the small decode tile.
  b.decode = uses_decode_tile(variant, call.max_seqlen_q);
  b.tuning_kind = b.decode ? kDecodeTable : "";
  auto tile = tiles(KernelKind::paged, b.tuning_kind);
  if (!tile) return fail(tile.error());
  b.tile = *tile;
  const int tokens_per_block = b.tile.block_m / variant.group_size();
  if (tokens_per_block < 1) return fail(group_does_not_fit(b.tile, variant));
  b.geometry = attention_geometry(b.tile, kv_elements_of(variant), attention_mainloop(arch));
  b.grid_x = call.total_q / tokens_per_block + call.num_seqs;
  const long long max_kv =
      call.max_seqlen_k > 0
          ? call.max_seqlen_k
          : static_cast<long long>(call.max_blocks_per_seq) * variant.kv_cache.page_size;
  b.max_tiles = static_cast<int>((max_kv + b.tile.block_n - 1) / b.tile.block_n);
  // The stream kernel keeps the work line's prefix after the main loop's buffers; past
  // a few thousand sequences it would cost occupancy, and such batches fill the GPU
  // without it.
  b.stream_shared_bytes = b.geometry.launch_shared_bytes(KvSplit::stream, call.num_seqs);
  b.stream_possible = b.decode && call.num_seqs <= kStreamSplitMaxSeqs;
  b.splits = std::min(call.num_splits != 0 ? call.num_splits : b.tile.num_splits,
                      ATTNJIT_MAX_MERGE_PARTS);
  // The argument checks refuse these first, with the argument's name.
  if (b.splits < kStreamSplit)
    return fail(fmt::format("num_splits {} is not a split count", b.splits));
  if (b.splits == kStreamSplit && !b.stream_possible)
    return fail(fmt::format("the stream split needs a decode batch of at most {} sequences",
                            kStreamSplitMaxSeqs));
  if (call.skips_chunks) b.splits = no_segments(b.splits, b.stream_possible);
  // Blocks that do work: one per sequence when decoding.
  b.working_blocks = (b.decode ? call.num_seqs : b.grid_x) * variant.kv_heads;
  return b;
}

// True when the heuristic weighs the split kernels' occupancy (below a full GPU).
bool weighs_occupancy(const PagedBasis& b, int sm_count) {
  return b.splits == 0 && b.working_blocks < kMaxResidentBlocksPerSm * sm_count;
}

// The heuristic's inputs: a launch that fills the GPU anyway is weighed at one block
// per SM without the stream split (its occupancy was not measured).
SplitProblem split_problem_of(const PagedBasis& b, const DeviceFacts& device) {
  SplitProblem p;
  p.blocks = b.working_blocks;
  p.max_kv_tiles = b.max_tiles;
  p.sm_count = device.sm_count;
  if (weighs_occupancy(b, device.sm_count)) {
    p.blocks_per_sm = device.segments_blocks_per_sm;
    if (b.stream_possible) p.stream_blocks_per_sm = device.stream_blocks_per_sm;
  }
  return p;
}

}  // namespace

TileLookup table_tiles(const ir::Variant& variant, const std::string& arch,
                       const TuningTable& table, const std::optional<TileConfig>& override_tile) {
  return [variant, arch, table, override_tile](KernelKind kind, const std::string& tuning_kind) {
    return choose_tile(variant, kind, arch, &table, override_tile, tuning_kind);
  };
}

KernelSpec spec_for(const ir::Variant& variant, const std::string& arch, const KernelRole& role,
                    const TileConfig& tile) {
  KernelSpec spec;
  spec.kind = role.kind;
  spec.variant = variant;
  spec.arch = arch;
  spec.tile = tile;
  spec.kv_split = role.split;
  return spec;
}

Result<LaunchPlan, std::string> plan_for_call(const ir::Variant& variant, const PrefillCall& call,
                                              const DeviceFacts& device, const TileLookup& tiles) {
  const KernelRole role{KernelKind::prefill, "", KvSplit::none};
  auto tile = tiles(role.kind, role.tuning_kind);
  if (!tile) return fail(tile.error());
  const KernelGeometry g = attention_geometry(*tile, kv_elements_of(variant), attention_mainloop(device.arch));
  LaunchPlan plan;
  plan.arch = device.arch;
  plan.launches.push_back(launch_of(role, *tile, g, ceil_div(call.seqlen_q, tile->block_m),
                                    variant.q_heads, call.batch, g.shared_bytes));
  return plan;
}

Result<std::vector<OccupancyQuery>, std::string> occupancy_needed(const ir::Variant& variant,
                                                                  const PagedCall& call,
                                                                  const std::string& arch, int sm_count,
                                                                  const TileLookup& tiles) {
  auto basis = paged_basis(variant, call, arch, tiles);
  if (!basis) return fail(basis.error());
  const PagedBasis& b = *basis;
  std::vector<OccupancyQuery> queries;
  auto ask = [&](KvSplit split, long long shared_bytes) {
    queries.push_back({KernelRole{KernelKind::paged, b.tuning_kind, split}, b.geometry.threads,
                       static_cast<int>(shared_bytes)});
  };
  if (weighs_occupancy(b, sm_count)) {
    ask(KvSplit::segments, b.geometry.shared_bytes);
    if (b.stream_possible) ask(KvSplit::stream, b.stream_shared_bytes);
  } else if (b.splits == kStreamSplit) {
    ask(KvSplit::stream, b.stream_shared_bytes);  // sizes the stream grid
  }
  return queries;
}

Result<LaunchPlan, std::string> plan_for_call(const ir::Variant& variant, const PagedCall& call,
                                              const DeviceFacts& device, const TileLookup& tiles) {
  auto basis = paged_basis(variant, call, device.arch, tiles);
  if (!basis) return fail(basis.error());
  const PagedBasis& b = *basis;
  const int sms = device.sm_count;
  int splits = b.splits;
  if (splits == 0)
    splits = choose_splits(split_problem_of(b, device),
                           device.split_costs.for_kv_bytes(dtype_bytes(variant.kv_type)));
  if (call.skips_chunks) splits = no_segments(splits, b.stream_possible);

  LaunchPlan plan;
  plan.arch = device.arch;
  plan.splits = splits;
  const KernelRole paged_role{KernelKind::paged, b.tuning_kind,
                              splits == kStreamSplit ? KvSplit::stream
                              : splits > 1           ? KvSplit::segments
                                                     : KvSplit::none};
  if (splits == kStreamSplit) {
    // One resident wave of blocks (the kernel uses fewer when the tiles are few), each
    // with two slots of f32 rows for the pieces of units its share cuts.
    const long long blocks =
        static_cast<long long>(sms) * std::max(1, device.stream_blocks_per_sm);
    const size_t slots = static_cast<size_t>(blocks) * 2 * b.tile.block_m;
    plan.workspace.row_floats = slots * variant.head_dim;
    plan.workspace.lse_floats = slots;
    plan.workspace.counters = static_cast<size_t>(call.num_seqs) * variant.kv_heads;
    plan.launches.push_back(
        launch_of(paged_role, b.tile, b.geometry, blocks, 1, 1, b.stream_shared_bytes));
    return plan;
  }
  plan.launches.push_back(launch_of(paged_role, b.tile, b.geometry, b.grid_x, variant.kv_heads,
                                    splits, b.geometry.shared_bytes));
  if (splits == 1) return plan;

  // Partial results: f32 [splits, total_q, heads, dim] and LSEs [splits, heads, total_q],
  // combined by the merge kind, which owns sinks and the output type.
  Workspace& ws = plan.workspace;
  ws.part_lse_floats = static_cast<size_t>(call.total_q) * variant.q_heads;
  ws.part_row_floats = ws.part_lse_floats * variant.head_dim;
  ws.row_floats = splits * ws.part_row_floats;
  ws.lse_floats = splits * ws.part_lse_floats;
  auto merge = row_kernel_launch(KernelRole{KernelKind::merge, "", KvSplit::segments},
                                 static_cast<long long>(call.total_q) * variant.q_heads, variant,
                                 tiles, device.arch);
  if (!merge) return fail(merge.error());
  plan.launches.push_back(*merge);
  return plan;
}

Result<SplitProblem, std::string> split_problem(const ir::Variant& variant, const PagedCall& call,
                                                const DeviceFacts& device,
                                                const TileLookup& tiles) {
  PagedCall heuristic = call;
  heuristic.num_splits = 0;
  auto basis = paged_basis(variant, heuristic, device.arch, tiles);
  if (!basis) return fail(basis.error());
  // The config's fixed split count (the tile's num_splits) would bypass the heuristic:
  // the problem is the heuristic's all the same.
  basis->splits = 0;
  return split_problem_of(*basis, device);
}

Result<LaunchPlan, std::string> plan_for_call(const ir::Variant& variant, const MergeCall& call,
                                              const DeviceFacts& device, const TileLookup& tiles) {
  auto merge = row_kernel_launch(KernelRole{KernelKind::merge, "", KvSplit::none},
                                 static_cast<long long>(call.rows) * call.heads, variant, tiles,
                                 device.arch);
  if (!merge) return fail(merge.error());
  LaunchPlan plan;
  plan.arch = device.arch;
  plan.launches.push_back(*merge);
  return plan;
}

Result<LaunchPlan, std::string> plan_for_call(const ir::Variant& variant,
                                              const CacheWriteCall& call,
                                              const DeviceFacts& device, const TileLookup& tiles) {
  auto write = row_kernel_launch(KernelRole{KernelKind::cache_write, "", KvSplit::none},
                                 static_cast<long long>(call.tokens) * variant.kv_heads, variant,
                                 tiles, device.arch);
  if (!write) return fail(write.error());
  LaunchPlan plan;
  plan.arch = device.arch;
  plan.launches.push_back(*write);
  return plan;
}

std::vector<KernelRole> table_roles(KernelKind kind, const std::string& tuning_kind) {
  if (kind != KernelKind::paged) return {KernelRole{kind, tuning_kind, KvSplit::none}};
  std::vector<KernelRole> roles = {{KernelKind::paged, tuning_kind, KvSplit::none},
                                   {KernelKind::paged, tuning_kind, KvSplit::segments}};
  if (tuning_kind == kDecodeTable) roles.push_back({KernelKind::paged, tuning_kind, KvSplit::stream});
  roles.push_back({KernelKind::merge, "", KvSplit::segments});
  return roles;
}

Result<std::vector<KernelSpec>, std::string> kernels_a_variant_can_need(
    const ir::Variant& variant, const std::string& arch, const TileLookup& tiles,
    const TuningTable* wgmma_table) {
  std::vector<KernelSpec> out;
  std::vector<std::string> uris;
  // Adds the role's kernel; returns why codegen refuses it for the variant, if it does
  // (the engine refuses every call that would launch it the same way).
  auto add = [&](const KernelRole& role, const TileConfig& tile) -> std::string {
    KernelSpec spec = spec_for(variant, arch, role, tile);
    if (std::string why = unsupported_spec(spec); !why.empty()) return why;
    std::string uri = spec.uri();
    // An override (or a table) may give both paged tables the same tile: one kernel.
    if (std::find(uris.begin(), uris.end(), uri) != uris.end()) return {};
    uris.push_back(std::move(uri));
    out.push_back(std::move(spec));
    return {};
  };
  auto refused = [&](const std::string& why) {
    return fail(fmt::format("variant {}: {}", variant.name, why));
  };
  auto row_tile = tiles(KernelKind::merge, "");
  if (!row_tile) return fail(row_tile.error());

  if (variant.kv_cache.kind == ir::KvCacheKind::contiguous) {
    auto tile = tiles(KernelKind::prefill, "");
    if (!tile) return fail(tile.error());
    if (std::string why = add({KernelKind::prefill, "", KvSplit::none}, *tile); !why.empty())
      return refused(why);
  } else {
    // The general tile serves any call; the decode tile calls whose chunks' query heads
    // fit 16 rows, which one token does when a KV head has at most 16 query heads.
    std::vector<std::string> tables = {""};
    if (uses_decode_tile(variant, 1)) tables.push_back(kDecodeTable);
    for (const std::string& table : tables) {
      auto tile = tiles(KernelKind::paged, table);
      if (!tile) return fail(tile.error());
      // Every call is refused then (the decode tile never applies: more than 16 query
      // heads per KV head).
      if (tile->block_m / variant.group_size() < 1) return fail(group_does_not_fit(*tile, variant));
      // The tables' attention kernels first, then their merge (once).
      for (const KernelRole& role : table_roles(KernelKind::paged, table))
        if (role.kind == KernelKind::paged)
          if (std::string why = add(role, *tile); !why.empty()) return refused(why);
    }
    for (const KernelRole& role : table_roles(KernelKind::paged, ""))
      if (role.kind == KernelKind::merge)
        if (std::string why = add(role, *row_tile); !why.empty()) return refused(why);
    auto write_tile = tiles(KernelKind::cache_write, "");
    if (!write_tile) return fail(write_tile.error());
    add({KernelKind::cache_write, "", KvSplit::none}, *write_tile);  // absent for some types
  }
  // The merge of two results of the output type (Engine::merge), when codegen has it.
  add({KernelKind::merge, "", KvSplit::none}, *row_tile);
  if (wgmma_table && runs_wgmma_kernels(arch)) {
    // Contiguous variants: the prefill kernel; paged ones: the kernel of their prefill chunks.
    auto wgmma = variant.kv_cache.kind == ir::KvCacheKind::contiguous
                     ? choose_wgmma_prefill(variant, wgmma_table, std::nullopt)
                     : choose_wgmma_paged(variant, wgmma_table, std::nullopt);
    if (!wgmma) return refused(wgmma.error());
    if (*wgmma) {
      if (std::string why = unsupported_spec(**wgmma); !why.empty()) return refused(why);
      out.push_back(std::move(**wgmma));
    }
  }
  return out;
}

Result<std::vector<KernelSpec>, std::string> kernels_a_variant_can_need(
    const ir::Variant& variant, const std::string& arch, const TuningTable& table,
    const TuningTable* wgmma_table) {
  return kernels_a_variant_can_need(variant, arch, table_tiles(variant, arch, table), wgmma_table);
}

}  // namespace attnjit
