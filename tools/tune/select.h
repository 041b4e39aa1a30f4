#pragma once
// Which candidate of a task wins (docs/tune.md "Selection"):
//  - only a candidate that compiled, passed the reference check on every variant and
//    was timed on every shape takes part;
//  - its score is the geometric mean over (variant, shape) of its median time over the
//    baseline's (or, when the baseline could not be timed, over the fastest
//    candidate's on that shape);
//  - against a timed baseline, a candidate may be at most kShapeSlack slower on any
//    shape, and must beat the baseline's score by kMinGain, or the baseline stays.
#include <string>
#include <vector>

#include "tools/tune/candidate.h"

namespace attnjit::tune {

// Run-to-run spread of a median on a quiet GPU: differences below it are noise.
inline constexpr double kShapeSlack = 0.01;
// Below this gain a new tile is churn, not an improvement.
inline constexpr double kMinGain = 0.02;

struct Selection {
  int chosen = -1;     // index in the candidates; -1 = none could be timed
  std::string reason;  // one line for the summary
};

// Scores every candidate (Candidate::score), marks the winner (Candidate::chosen) and
// says why. `variants` and `shapes` are the task's counts: every candidate is timed on
// each shape for each variant.
Selection select_candidate(std::vector<Candidate>& candidates, size_t variants,
                           const std::vector<Shape>& shapes);

// The median of `c` for (variant, shape), or 0 when it has none.
double median_of(const Candidate& c, size_t variant, const Shape& shape);

}  // namespace attnjit::tune
