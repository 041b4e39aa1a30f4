#pragma once
// Refitting the split-KV cost model's constants (compiler/spec/split_cost.h) to times
// measured on the GPU (docs/tune.md "Refitting the split costs"). CPU arithmetic only:
// the measuring is tools/tune/split_sweep.h's.
//
// The model estimates a launch's time as tile_time x split_cost(problem, splits, model),
// where tile_time (one tile streamed by a block of a full wave) belongs to a variant and
// tile (a sample's `group`). For a fixed partial_floor the cost is affine in the other
// four constants, so the fit is a least-squares problem in relative error over every
// measured (shape, split) time: alternately the groups' tile times (closed form) and the
// four constants (non-negative least squares), for each partial_floor of a grid, then
// refined around the best. The fitted set replaces the current one only when its
// choices are no slower on the measured shapes than the current set's.
#include <string>
#include <utility>
#include <vector>

#include "compiler/spec/split_cost.h"
#include "runtime/plan/split_choice.h"

namespace attnjit::tune {

// One decode launch measured under several splits.
struct SplitSample {
  std::string label;     // "llama3_paged 64x8192", for the report
  int group = 0;         // samples of one (variant, tile) share a tile time
  int kv_bytes = 2;      // the K/V element size: which set of constants it informs
  SplitProblem problem;  // what the heuristic weighs for it (split_problem())
  // Median time per split: 1 .. most_splits() segments, kStreamSplit.
  std::vector<std::pair<int, double>> times_ms;
};

// The model's choice among the splits measured for `s` (the launch path's rule: the
// cheapest segment count, the stream split only when strictly cheaper).
int measured_choice(const SplitSample& s, const SplitCostModel& model);

struct SplitFitRow {
  std::string label;
  int best = 1;  // the fastest measured split
  double best_ms = 0;
  int before = 1, after = 1;  // the choices of the current and the fitted constants
  double before_ms = 0, after_ms = 0;
};

struct SplitFit {
  SplitCostModel start;   // the current constants
  SplitCostModel fitted;  // the least-squares constants
  // Whether `fitted` should replace `start`: it differs, is valid, and its choices are
  // no slower on the samples.
  bool improved = false;
  // Mean over the samples of log(time of the choice / fastest time): 0 = always the
  // fastest.
  double loss_before = 0, loss_after = 0;
  double rms_relative_error = 0;  // of the fitted times against the measured ones
  size_t times = 0;               // measured (shape, split) times used
  std::vector<SplitFitRow> rows;  // per sample
};

// Samples without at least two measured splits are left out.
SplitFit fit_split_costs(const std::vector<SplitSample>& samples, const SplitCostModel& start);

// "1", "64", "stream".
std::string split_name(int splits);
// The fit in words: constants before and after, fit quality, and per sample the
// fastest measured split and both models' choices with their times.
std::string split_fit_report(const SplitFit& fit, const std::string& set_name);

}  // namespace attnjit::tune
