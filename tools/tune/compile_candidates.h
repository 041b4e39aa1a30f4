#pragma once
// Compiling every kept candidate's kernels through the engine and its cache, on
// several threads (NVRTC compiles are CPU work: no GPU needed), and pruning what the
// compiled kernels show: heavy register spilling.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/cache/kernel_cache.h"
#include "tools/tune/plan.h"

namespace attnjit::tune {

// A kernel keeping more than this many bytes per thread on its stack frame spills
// its accumulators every tile: slower than a tile that fits, so not worth timing.
inline constexpr int kMaxStackBytes = 128;

struct CompileSettings {
  std::string arch;
  CacheOptions cache;
  int jobs = 1;  // compile threads
  // Compiles not started by then are skipped (the candidate is pruned: "budget").
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::function<void(const std::string&)> progress;  // one line at a time; may be empty
};

// Fills Candidate::builds for every candidate of every task that is not pruned: each
// variant's kernels for the tile (the unsplit kernel; for the paged kinds also the
// segment-split kernel and its merge; for paged_decode also the stream-split kernel),
// their compile time and the unsplit kernel's registers and stack frame. A candidate
// whose kernel fails to compile or spills past kMaxStackBytes (the baseline excepted)
// is pruned with the reason.
void compile_candidates(std::vector<Task>& tasks, const CompileSettings& settings);

// How many kernels compile_candidates would build for the task's kept candidates.
size_t kernels_to_compile(const Task& task);

}  // namespace attnjit::tune
