#pragma once
// Building an AOT directory: compiling jobs (aot_jobs.h) on several threads through the
// engine's one compile path, and writing the binaries and index.json; merging
// directories built as shards. The directory format is aot_index.h's.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/backend/backend.h"
#include "compiler/support/result.h"
#include "runtime/cache/aot_index.h"
#include "runtime/cache/kernel_cache.h"
#include "tools/aot/aot_jobs.h"

namespace attnjit::aot {

// How one job ended, reported as it ends (from the worker thread that ran it, one at
// a time).
struct JobOutcome {
  const Job* job = nullptr;
  size_t done = 0, total = 0;  // jobs finished so far (this one included), jobs in all
  bool ok = false;
  CacheSource source = CacheSource::compiled;  // compiled or from the JIT cache
  double milliseconds = 0;
  std::string error;  // when not ok: the compiler's message and log
  std::string warning;
};

struct BuildSettings {
  // The JIT cache the compiles go through (a rebuild of unchanged kernels is a load);
  // its directory "" = the default. The AOT directories are never searched.
  CacheOptions cache;
  // Compiler backends by vendor (EngineOptions::backends); the default ones otherwise.
  std::map<Vendor, std::shared_ptr<const CompilerBackend>> backends;
  int jobs = 1;             // compile threads
  bool keep_going = false;  // go on after a failed compile (else stop starting new ones)
  std::function<void(const JobOutcome&)> on_outcome;  // may be empty
};

struct BuildResult {
  AotIndex index;                             // the built kernels, normalized
  std::vector<std::string> binaries;          // by index entry
  size_t compiled = 0, from_cache = 0, failed = 0, not_started = 0;
  double seconds = 0;
};

// Compiles every job. The result holds whatever was built, failures counted.
BuildResult build_jobs(const std::vector<Job>& jobs, const BuildSettings& settings);

// Writes `index` and its binaries (one per entry, in index order) to `directory`:
// binaries first, then index.json, each written atomically; then removes the binaries
// of an earlier build that the new index does not list. `directory` must not exist,
// be empty, or already be an AOT directory (hold index.json): a build never writes
// into a directory of other files.
Result<bool, std::string> write_aot_directory(const std::filesystem::path& directory,
                                              const AotIndex& index,
                                              const std::vector<std::string>& binaries);

// Merges AOT directories (shards of one build, or builds of disjoint sets) into
// `out`. Each input must verify cleanly; two entries of one key must be identical; all
// must come from one attnjit version. Equals the unsharded build.
Result<size_t, std::string> merge_aot_directories(const std::filesystem::path& out,
                                                  const std::vector<std::filesystem::path>& inputs);

}  // namespace attnjit::aot
