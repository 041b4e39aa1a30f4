#pragma once
// Checking a candidate against the CPU reference (docs/tune.md "Correctness"): each
// variant of a task gets one small random problem whose float64 reference is computed
// once; every candidate runs it on the GPU through the engine with its tile, and the
// harness verdict (runtime/harness/verdict.h) judges the result. The paged kinds run
// it under every split their launches can choose (none, two segments with the merge,
// the candidate's own choice, and for the decode tile the stream split), so a tile
// whose split kernels are wrong fails here rather than on a timed shape.
#include <memory>
#include <vector>

#include "runtime/api/engine.h"
#include "runtime/harness/paged_problem.h"
#include "runtime/harness/prefill_problem.h"
#include "tools/tune/candidate.h"
#include "tools/tune/plan.h"

namespace attnjit::tune {

// The small problems' sizes: several query and key tiles of the largest tiles tried,
// with partial last tiles; paged ones over contexts of different lengths.
harness::ProblemShape prefill_check_shape();
harness::PagedProblemShape paged_check_shape(TuneKind kind);
// The splits a paged candidate is checked under (PagedArgs::num_splits values).
std::vector<int> check_splits(TuneKind kind);

class ReferenceCheck {
 public:
  // Builds the task's problems and their references (CPU work, seconds).
  explicit ReferenceCheck(const Task& task);
  // Runs variant `variant` of the task with `engine` (whose tile is the candidate's)
  // and judges it. Never throws: a launch that throws is an error outcome.
  CheckOutcome check(Engine& engine, size_t variant);

 private:
  struct Problem {
    harness::HostProblem prefill;
    ReferenceResult prefill_ref;
    harness::HostPagedProblem paged;
    harness::PagedReferenceResult paged_ref;
  };
  TuneKind kind_;
  std::vector<ir::Variant> variants_;
  std::vector<std::unique_ptr<Problem>> problems_;
};

}  // namespace attnjit::tune
