#pragma once
// The GPU measurements the split cost fit (split_fit.h) works on: for a paged_decode
// tile, every (variant, shape) of the task timed under every split the heuristic could
// choose (1 to most_splits() segments, and the stream split where it is weighed), with
// the numbers the launch planner weighs for that call on this GPU.
#include <vector>

#include "compiler/spec/tuning_config.h"
#include "tools/tune/measure_task.h"
#include "tools/tune/split_fit.h"

namespace attnjit::tune {

// Timing of each split: shorter than a candidate's (there are up to 65 per shape).
TimingSettings split_sweep_timing();

// The samples of `task` (a paged_decode task) with `tile` (its num_splits ignored: the
// heuristic's problem is measured); `group_base` numbers the samples' tile-time groups
// (one per variant). Stops timing at the context's deadline; a shape whose inputs or
// launches fail is left out with a line to the progress log.
std::vector<SplitSample> sweep_splits(const Task& task, const TileConfig& tile,
                                      const std::vector<Shape>& shapes, const MeasureContext& ctx,
                                      int group_base);

}  // namespace attnjit::tune
