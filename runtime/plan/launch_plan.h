#pragma once
// Launch plans: which kernels one call needs, how a paged call splits its KV tiles, how
// each kernel is launched (grid, threads, dynamic shared memory) and how much device
// workspace the call takes. The engine's launch path and the ahead-of-time builder ask
// the same planner, so a kernel a call can launch is always one the builder lists.
//
// Planning asks no compiler and loads nothing: tiles come from a TileLookup (the
// engine's specs, or a tuning table), device facts (SM count, occupancy) are plain
// numbers the caller measured. A paged call with a heuristic split needs the occupancy
// of the split kernels: occupancy_needed() names them; measure them and pass them in
// DeviceFacts.
//
//   ahead of time:  kernels_a_variant_can_need(variant, arch, table)  -> every KernelSpec
//   per call:       occupancy_needed(...) -> DeviceFacts -> plan_for_call(...) -> launches
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/kernel_spec.h"
#include "runtime/plan/split_choice.h"

namespace attnjit {

// One kernel of a variant on a target, named as the engine resolves it.
struct KernelRole {
  KernelKind kind = KernelKind::prefill;
  std::string tuning_kind;  // the config table of its tile: "" = the kind's own, "paged_decode"
  KvSplit split = KvSplit::none;
  bool operator==(const KernelRole&) const = default;
};

// A kernel's tile config by kind and config table ("" or "paged_decode"); errors are
// messages the engine prefixes with the API call's name.
using TileLookup =
    std::function<Result<TileConfig, std::string>(KernelKind kind, const std::string& tuning_kind)>;
// The tiles `table` (or, when given, `override_tile` for every attention kernel) gives
// `variant` on `arch`, as choose_tile() picks them. Keeps copies of its arguments.
TileLookup table_tiles(const ir::Variant& variant, const std::string& arch,
                       const TuningTable& table,
                       const std::optional<TileConfig>& override_tile = std::nullopt);

// Shapes of one call (after argument validation).
struct PrefillCall {
  int batch = 0;
  int seqlen_q = 0;
};
struct PagedCall {
  int num_seqs = 0;
  int total_q = 0;
  int max_seqlen_q = 0;        // the longest query chunk
  long long max_seqlen_k = 0;  // the longest sequence; 0 = the block table's capacity
  int max_blocks_per_seq = 0;  // the block table's width
  int num_splits = 0;          // PagedArgs::num_splits: 0 heuristic, 1 off, N, kStreamSplit
  // The launch skips the call's prefill chunks (another launch, the Hopper kernel, serves
  // them; max_seqlen_q is then the decode tokens'): it never splits in segments, whose
  // merge combines every row of the call, the chunks' too. Where segments would be chosen
  // or were asked for it takes the stream split (whole when that is not possible).
  bool skips_chunks = false;
};
struct MergeCall {  // Engine::merge: two parts of [rows, heads, head_dim]
  int rows = 0;
  int heads = 0;
};
struct CacheWriteCall {
  int tokens = 0;
};

struct DeviceFacts {
  std::string arch;  // the target the specs are for ("sm_90")
  int sm_count = 1;
  // Resident blocks per SM (the driver's occupancy) at the threads and shared memory
  // occupancy_needed() names: the segments kernel and the stream kernel. Read only
  // where occupancy_needed() asked for them.
  int segments_blocks_per_sm = 1;
  int stream_blocks_per_sm = 0;
  // The split cost model's constants for this GPU: its config's "split_cost" block
  // (TuningTable::split_costs()).
  SplitCosts split_costs = kDefaultSplitCosts;
};

// An occupancy the split choice needs: of `role`'s kernel at this block size.
struct OccupancyQuery {
  KernelRole role;
  int threads = 0;
  int shared_bytes = 0;
};

// One kernel launch of a plan.
struct PlannedLaunch {
  KernelRole role;
  TileConfig tile;
  KernelGeometry geometry;
  unsigned grid[3] = {1, 1, 1};
  int threads = 0;
  int shared_bytes = 0;  // dynamic
};

// Device scratch of a split launch: f32 partial rows, then their LSEs; the stream
// split also takes zeroed int counters, one per (sequence, KV head).
struct Workspace {
  size_t row_floats = 0;       // all partial rows; the LSEs start after them
  size_t lse_floats = 0;
  size_t part_row_floats = 0;  // segments: one segment's rows [total_q, q_heads, head_dim]
  size_t part_lse_floats = 0;  // segments: one segment's LSEs [q_heads, total_q]
  size_t counters = 0;
  size_t bytes() const { return (row_floats + lse_floats) * sizeof(float); }
};

struct LaunchPlan {
  std::string arch;
  std::vector<PlannedLaunch> launches;  // in launch order
  int splits = 1;  // paged: 1 (whole), N segments, or kStreamSplit
  Workspace workspace;
};

// The launches of one call. Errors: the tile lookup's, or a call the tiles cannot run.
Result<LaunchPlan, std::string> plan_for_call(const ir::Variant& variant, const PrefillCall& call,
                                              const DeviceFacts& device, const TileLookup& tiles);
Result<LaunchPlan, std::string> plan_for_call(const ir::Variant& variant, const PagedCall& call,
                                              const DeviceFacts& device, const TileLookup& tiles);
Result<LaunchPlan, std::string> plan_for_call(const ir::Variant& variant, const MergeCall& call,
                                              const DeviceFacts& device, const TileLookup& tiles);
Result<LaunchPlan, std::string> plan_for_call(const ir::Variant& variant,
                                              const CacheWriteCall& call,
                                              const DeviceFacts& device, const TileLookup& tiles);

// The occupancies plan_for_call() reads for this paged call on a device of `arch` with
// `sm_count` multiprocessors (none when the split is forced or the launch fills the GPU
// anyway).
Result<std::vector<OccupancyQuery>, std::string> occupancy_needed(const ir::Variant& variant,
                                                                  const PagedCall& call,
                                                                  const std::string& arch, int sm_count,
                                                                  const TileLookup& tiles);

// What the heuristic split choice of this paged call weighs (working blocks, the
// longest sequence's tiles, SMs and the occupancies plan_for_call reads): a tool that
// measures the split counts compares them with choose_splits(problem, costs) and
// split_cost() of exactly the numbers the launch path uses.
Result<SplitProblem, std::string> split_problem(const ir::Variant& variant, const PagedCall& call,
                                                const DeviceFacts& device,
                                                const TileLookup& tiles);

// The spec of a planned kernel (or any role) of `variant` on `arch`.
KernelSpec spec_for(const ir::Variant& variant, const std::string& arch, const KernelRole& role,
                    const TileConfig& tile);

// The kernels launches on one tile table (a kind and its config table: "" or
// "paged_decode") can use: the table's kernel under each split its launches choose
// (prefill: whole; paged: whole and in segments, the decode table also streamed), then
// for the paged tables the segments' merge. kernels_a_variant_can_need() lists these
// for each table; the tuner builds them for a candidate tile.
std::vector<KernelRole> table_roles(KernelKind kind, const std::string& tuning_kind);

// Every kernel a call of `variant` on `arch` might launch, whatever its shapes: the
// prefill kernel (contiguous K/V) or the paged kernels (the general and the decode tile,
// each whole and in segments, the decode tile's stream split, the segments' merge, and
// cache_write), and the merge of two partial results (Engine::merge). Kernels codegen
// refuses for the variant's types (cache_write, merge) are left out: every call that
// would launch them fails; a refused attention kernel is an error. In a fixed order,
// without duplicates. The ahead-of-time builder's list.
//
// With `wgmma_table` (sm_90a's config: TuningTable::embedded("sm_90a", Mainloop::wgmma))
// and an arch whose devices run the wgmma kernels (sm_90, sm_90a: runs_wgmma_kernels()),
// the list ends with the sm_90a wgmma kernel where the main loop supports the variant:
// the prefill kernel of a contiguous variant (choose_wgmma_prefill()), the kernel of a
// paged variant's prefill chunks (choose_wgmma_paged()); the specs the engine's Hopper
// path looks up. Such a device's calls take it by default (a paged call for its chunks,
// its decode tokens staying on the kernels above), the kernels above when it is off or
// a prefill call's views are not for tensor copies. Null: the mma.sync kernels alone.
Result<std::vector<KernelSpec>, std::string> kernels_a_variant_can_need(
    const ir::Variant& variant, const std::string& arch, const TileLookup& tiles,
    const TuningTable* wgmma_table = nullptr);
Result<std::vector<KernelSpec>, std::string> kernels_a_variant_can_need(
    const ir::Variant& variant, const std::string& arch, const TuningTable& table,
    const TuningTable* wgmma_table = nullptr);

}  // namespace attnjit
