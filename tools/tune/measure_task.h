#pragma once
// The GPU half of a tune task: check each kept candidate against the reference, time
// the ones that pass on every (variant, shape), pick the winner, and confirm it
// against the baseline by timing the two again, interleaved.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/cache/kernel_cache.h"
#include "runtime/driver/cuda_driver.h"
#include "tools/tune/gpu_timer.h"
#include "tools/tune/plan.h"
#include "tools/tune/select.h"

namespace attnjit::tune {

struct MeasureContext {
  std::shared_ptr<cuda::Driver> gpu;
  GpuTimer* timer = nullptr;
  CacheOptions cache;
  // Candidates not yet timed by then are pruned ("budget"); the baseline always is.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::function<void(const std::string&)> progress;
  // The main loop the tiles are for: mma_sync, or wgmma for sm_90a's config (the engine
  // then runs the Hopper prefill kernel with the candidate as its tile).
  Mainloop mainloop = Mainloop::mma_sync;
};

// An engine that runs the kernels of `ctx.mainloop` with `tile`.
EngineOptions engine_for(const TileConfig& tile, const MeasureContext& ctx);

// Checks and times the task's kept candidates (the baseline first); for paged_decode
// then tries decode_split_counts() on the fastest tile; selects (select_candidate).
Selection measure_task(Task& task, const std::vector<Shape>& shapes, const MeasureContext& ctx);

// One (variant, shape) timed for two tiles.
struct ShapeComparison {
  size_t variant = 0;
  Shape shape;
  double a_ms = 0, b_ms = 0;  // median over the rounds of each round's median
  std::string error;
};
// Times tiles `a` and `b` on every (variant, shape) of the task, alternating a, b in
// `rounds` rounds so that drift (clocks, temperature) touches both alike.
std::vector<ShapeComparison> compare_tiles(const Task& task, const std::vector<Shape>& shapes,
                                           const TileConfig& a, const TileConfig& b,
                                           const MeasureContext& ctx, int rounds = 3);
// Whether `b` is no slower than `a` beyond kShapeSlack on every row (and none failed).
bool no_slower(const std::vector<ShapeComparison>& rows);

}  // namespace attnjit::tune
