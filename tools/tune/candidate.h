#pragma once
// One candidate tile of a tune task and what the run learned about it: its kernels'
// compiles and resources, its check against the CPU reference, its times.
#include <string>
#include <vector>

#include "compiler/spec/tuning_config.h"
#include "tools/tune/shapes.h"

namespace attnjit::tune {

// The kernels of one variant for this tile (every split flavour its launches can use).
struct KernelBuild {
  enum class Status { not_run, ok, failed };
  Status status = Status::not_run;
  std::string error;          // the first failure, one line
  double milliseconds = 0;    // compile (or cache load) time of all its kernels
  bool all_cached = true;     // every kernel came from the cache
  // Of the main kernel (no split), read from its CUBIN; -1 when unknown.
  int registers = -1;
  int stack_bytes = -1;       // per-thread stack frame: register spills (the kernels keep no local arrays)
  std::vector<std::string> kernels;  // the built kernels' URIs (the launch planner's names)
};

// The candidate's result on the small problem, judged by the harness verdict.
struct CheckOutcome {
  enum class Status { not_run, pass, fail, error };
  Status status = Status::not_run;
  std::string detail;  // the verdict's summary line, or the error
};
const char* check_status_name(CheckOutcome::Status s);  // "", "pass", "FAIL", "error"

// Time of one launch (CUDA events, GPU time), over `runs` runs after warm-up.
struct Timing {
  size_t variant = 0;  // index in the task's variants
  Shape shape;
  double median_ms = 0, min_ms = 0;
  int runs = 0;
  std::string error;   // the launch threw: no time
};

struct Candidate {
  TileConfig tile;
  bool baseline = false;  // the tile the table gives now (always measured first)
  // Why it is not timed ("" = it is): a static rule, what its compiled kernel showed,
  // or the budget running out.
  std::string pruned;
  std::vector<KernelBuild> builds;   // per task variant, once compiled
  std::vector<CheckOutcome> checks;  // per task variant, once checked
  std::vector<Timing> timings;
  double score = 0;     // geometric mean of time / baseline time over the timed shapes; 0 = none
  bool chosen = false;

  bool compiled() const;   // every variant's kernels built
  bool failed_check() const;  // some variant's result disagrees with the reference
  bool checked() const;    // every variant passed
  // Every shape of every variant timed without error.
  bool fully_timed(size_t variants, size_t shapes) const;
};

}  // namespace attnjit::tune
