#pragma once
// `attnjit tune`, as a library the CLI command calls (docs/tune.md): plan the config
// entries the variants use, enumerate and prune candidate tiles, compile them, check
// each against the CPU reference, time the survivors, keep the fastest per entry,
// and write the config and the CSV.
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/cache/kernel_cache.h"
#include "tools/tune/base_config.h"
#include "tools/tune/plan.h"
#include "tools/tune/shapes.h"

namespace attnjit::tune {

struct TuneRequest {
  std::string variants_file;          // for messages
  std::vector<ir::Variant> variants;  // the ones to tune
  std::vector<TuneKind> kinds;        // the kinds to tune (each variant's that apply)
  std::map<TuneKind, std::vector<Shape>> shapes;  // per kind; missing = default_shapes
  double budget_minutes = 30;
  std::string out;   // the config to merge into; "" = <arch>.json
  std::string csv;   // "" = the config's path with .csv
  bool force = false;
  int jobs = 0;      // compile threads; 0 = one per core
  CacheOptions cache;
  // The config's target: without a GPU (--dry-run) the one to plan for; on a GPU the
  // GPU's own target ("" = it) or sm_90a on a 9.0 device (the wgmma prefill kernel's
  // config, configs/sm_90a.json).
  std::string arch;
  bool compile = false;  // --dry-run: compile the candidates too
};

// The shapes tuned for `kind`.
const std::vector<Shape>& shapes_for(const TuneRequest& r, TuneKind kind);

// The tasks of a request for `arch` against `base`, each with its static candidates.
// Errors: a variant no requested kind applies to, a shape a variant cannot take, a kind
// `arch`'s config cannot hold. For sm_90a, variants the wgmma main loop does not take
// are left out (the sm_90 config serves them), each with a line in `notes`.
Result<std::vector<Task>, std::string> prepare_tasks(const TuneRequest& r, const std::string& arch,
                                                     const BaseConfig& base,
                                                     std::vector<std::string>* notes = nullptr);

// What --dry-run prints: per task the baseline, the shapes and the kept candidates
// (with registers and stack once compiled), the pruned ones counted by reason.
std::string dry_run_report(const std::vector<Task>& tasks, const TuneRequest& r,
                           const std::string& arch, const BaseConfig& base, bool compiled);

// --dry-run: plans for r.arch (or the GPU's) and prints the candidates to `out`;
// compiles them first with r.compile. Returns the exit status.
int dry_run(const TuneRequest& r, std::FILE* out, std::FILE* log);

// The measuring run on the GPU: writes the merged config and the CSV, prints the
// summary to `out` and progress to `log`. Returns 0, or 1 when a candidate failed its
// check or its compile (a bug, listed in the summary). Throws std::runtime_error for
// what stops the run (no GPU, a config it may not overwrite, ...).
int run_tune(const TuneRequest& r, std::FILE* out, std::FILE* log);

// --compare FILE: times the built-in (shipped) tile against FILE's for every variant
// and kind of the request, on the same shapes and interleaved; prints one row per
// shape. Returns 1 when FILE's tile is slower than the shipped one beyond
// kShapeSlack on some shape, or fails its check.
int run_compare(const TuneRequest& r, const std::string& tuned_config, std::FILE* out,
                std::FILE* log);

// The path a CSV defaults to: the config's with ".csv" for a ".json" ending.
std::string default_csv_path(const std::string& config_path);

}  // namespace attnjit::tune
