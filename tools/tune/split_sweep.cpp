#include "tools/tune/split_sweep.h"

#include <fmt/format.h>

#include "compiler/spec/tile_choice.h"
#include "runtime/api/engine.h"
#include "runtime/plan/launch_plan.h"
#include "tools/tune/timing_inputs.h"

namespace attnjit::tune {

namespace {

bool past(const MeasureContext& ctx) {
  return ctx.deadline && std::chrono::steady_clock::now() > *ctx.deadline;
}

// The planner's facts for `call` on this GPU, measured as Engine::paged measures them:
// the occupancy of each split kernel the planner asks about, from the driver.
DeviceFacts device_facts_for(const ir::Variant& v, const PagedCall& call, Engine& engine,
                             const TileLookup& tiles, const std::string& arch,
                             const MeasureContext& ctx) {
  DeviceFacts device;
  device.arch = arch;
  device.sm_count = ctx.gpu->attribute(cuda::kMultiprocessorCount);
  auto queries = occupancy_needed(v, call, device.arch, device.sm_count, tiles);
  if (!queries) throw std::runtime_error(queries.error());
  for (const OccupancyQuery& q : *queries) {
    auto tile = tiles(q.role.kind, q.role.tuning_kind);
    if (!tile) throw std::runtime_error(tile.error());
    auto compiled = engine.compile(spec_for(v, arch, q.role, *tile));
    if (!compiled) throw std::runtime_error(compiled.error().describe());
    const Artifact& a = compiled->lookup.artifact;
    auto loaded = cuda::LoadedKernel::load(ctx.gpu, a.binary, a.entry, false);
    if (!loaded) throw std::runtime_error(loaded.error());
    const int blocks = (*loaded)->blocks_per_sm(static_cast<unsigned>(q.threads),
                                                static_cast<unsigned>(q.shared_bytes));
    if (q.role.split == KvSplit::stream) device.stream_blocks_per_sm = blocks;
    else device.segments_blocks_per_sm = blocks;
  }
  return device;
}

}  // namespace

TimingSettings split_sweep_timing() {
  TimingSettings t;
  t.warmup_runs = 2;
  t.warmup_ms = 5;
  t.target_ms = 40;
  t.min_runs = 7;
  t.max_runs = 50;
  return t;
}

std::vector<SplitSample> sweep_splits(const Task& task, const TileConfig& tile,
                                      const std::vector<Shape>& shapes, const MeasureContext& ctx,
                                      int group_base) {
  std::vector<SplitSample> samples;
  TileConfig heuristic = tile;
  heuristic.num_splits = 0;
  EngineOptions options;
  options.cache = ctx.cache;
  options.tile_override = heuristic;
  Engine engine(options);
  auto target = ctx.gpu->target();
  if (!target) throw std::runtime_error(target.error());
  const std::string arch((*target)->name);
  for (size_t vi = 0; vi < task.variants.size(); ++vi) {
    const ir::Variant& v = task.variants[vi];
    const TileLookup tiles = [&](KernelKind kind, const std::string& tuning_kind) {
      return choose_tile(v, kind, arch, nullptr, heuristic, tuning_kind);
    };
    for (size_t si = 0; si < shapes.size() && !past(ctx); ++si) {
      SplitSample sample;
      sample.label = fmt::format("{} {}", v.name, shape_name(task.kind, shapes[si]));
      sample.group = group_base + static_cast<int>(vi);
      sample.kv_bytes = dtype_bytes(v.kv_type);
      try {
        const uint64_t seed = 7000003 * (vi + 1) + si;
        TimingInputs inputs(ctx.gpu, v, task.kind, shapes[si], seed);
        const PagedCall call = inputs.paged_call();
        const DeviceFacts device = device_facts_for(v, call, engine, tiles, arch, ctx);
        auto problem = split_problem(v, call, device, tiles);
        if (!problem) throw std::runtime_error(problem.error());
        sample.problem = *problem;
        std::vector<int> splits;
        for (int n = 1; n <= most_splits(problem->max_kv_tiles); ++n) splits.push_back(n);
        if (problem->stream_blocks_per_sm > 0) splits.push_back(kStreamSplit);
        for (int n : splits) {
          if (past(ctx)) break;
          const Measured m = ctx.timer->time(
              [&](int run) { inputs.launch(engine, v, run, n); }, split_sweep_timing());
          sample.times_ms.emplace_back(n, m.median_ms);
        }
      } catch (const std::exception& e) {
        if (ctx.progress)
          ctx.progress(fmt::format("{}: split sweep of {} left out: {}", task.describe(),
                                   sample.label, printable(e.what(), 300)));
        continue;
      }
      if (ctx.progress)
        ctx.progress(fmt::format("{}: split sweep {}: {} splits timed", task.describe(),
                                 sample.label, sample.times_ms.size()));
      samples.push_back(std::move(sample));
    }
  }
  return samples;
}

}  // namespace attnjit::tune
