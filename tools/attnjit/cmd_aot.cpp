// `attnjit aot build|merge|verify`: ahead-of-time kernel directories for deployments
// without a compiler. The work is tools/aot/ and runtime/cache/aot_*; this file parses
// flags, reports progress and prints summaries (text, or JSON lines with --json).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/spec/kernel_geometry.h"
#include "compiler/support/diagnostics.h"
#include "compiler/target/target.h"
#include "runtime/api/engine.h"
#include "runtime/cache/aot_directory.h"
#include "tools/aot/aot_build.h"
#include "tools/aot/aot_jobs.h"
#include "tools/attnjit/commands.h"
#include "tools/attnjit/session.h"

namespace attnjit::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

const FlagSpec kVariantsFlag{"--variants", true};
const FlagSpec kKernelsFlag{"--kernels", true};
const FlagSpec kOutFlag{"--out", true};
const FlagSpec kKindsFlag{"--kinds", true};
const FlagSpec kManifestFlag{"--manifest", true};
const FlagSpec kShardFlag{"--shard", true};
const FlagSpec kJobsFlag{"--jobs", true};
const FlagSpec kKeepGoingFlag{"--keep-going", false};
const FlagSpec kJsonFlag{"--json", false};

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void print_json_line(const json& j) {
  std::printf("%s\n", dump(j).c_str());
  std::fflush(stdout);
}

// Progress: a bar with an ETA redrawn on a terminal (stderr), else one line per kernel
// (stdout), or one JSON object per kernel with --json.
class Progress {
 public:
  Progress(bool json_lines, size_t total)
      : json_(json_lines), bar_(!json_lines && ::isatty(STDERR_FILENO)), total_(total),
        started_(std::chrono::steady_clock::now()) {}

  void outcome(const aot::JobOutcome& o) {
    const std::string status = !o.ok ? "failed" : o.source == CacheSource::compiled ? "compiled" : "cached";
    if (json_) {
      json line{{"event", "kernel"},      {"done", o.done},
                {"total", o.total},       {"status", status},
                {"name", o.job->spec.uri()}, {"key", o.job->key},
                {"target", o.job->spec.arch}, {"variant_file", o.job->variant_file},
                {"milliseconds", std::round(o.milliseconds * 10) / 10}};
      if (!o.ok) line["error"] = o.error;
      print_json_line(line);
      return;
    }
    if (!o.ok || !o.warning.empty()) clear_bar();
    if (!o.ok)
      std::fprintf(stderr, "error: %s failed:\n%s\n", o.job->spec.uri().c_str(), o.error.c_str());
    if (!o.warning.empty()) {
      CacheLookup shown;
      shown.warning = o.warning;
      std::fputs(shown.warning_lines("warning: ").c_str(), stderr);
    }
    if (bar_) return draw_bar(o.done);
    std::printf("[%zu/%zu] %-8s %7.0f ms  %s\n", o.done, o.total, status.c_str(), o.milliseconds,
                o.job->spec.uri().c_str());
    std::fflush(stdout);
  }
  void finish() { clear_bar(); }

 private:
  void draw_bar(size_t done) {
    constexpr int kWidth = 30;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const double eta = done ? seconds / double(done) * double(total_ - done) : 0;
    const int filled = total_ ? int(kWidth * done / total_) : kWidth;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu  %.0f s, about %.0f s left ",
                 std::string(size_t(filled), '#').c_str(),
                 std::string(size_t(kWidth - filled), '.').c_str(), done, total_, seconds, eta);
    std::fflush(stderr);
    drawn_ = true;
  }
  void clear_bar() {
    if (drawn_) std::fprintf(stderr, "\r%s\r", std::string(78, ' ').c_str());
    drawn_ = false;
  }
  bool json_, bar_;
  size_t total_;
  std::chrono::steady_clock::time_point started_;
  bool drawn_ = false;
};

std::vector<KernelKind> parse_kinds(const std::string& text) {
  std::vector<KernelKind> kinds;
  for (const std::string& name : split_list(text, kKindsFlag.name)) {
    KernelKind kind;
    if (!parse_kernel_kind(name, &kind))
      throw UsageError(fmt::format("--kinds: unknown kernel kind '{}' (known: {})", printable(name, 40),
                                   kernel_kind_names()));
    kinds.push_back(kind);
  }
  return kinds;
}

// The build's inputs: --manifest's, then the flags'. A list both give is an error
// rather than a silent choice.
aot::BuildInputs build_inputs(const Args& args) {
  aot::Manifest manifest;
  if (std::optional<std::string> path = args.value(kManifestFlag.name)) {
    auto read = aot::read_manifest(*path);
    if (!read) throw CommandError(read.error());
    manifest = std::move(*read);
  }
  std::vector<std::string> files = manifest.variant_files;
  if (std::optional<std::string> list = args.value(kVariantsFlag.name))
    for (const std::string& f : split_list(*list, kVariantsFlag.name)) files.push_back(f);
  std::vector<std::string> kernel_files = manifest.kernel_files;
  if (std::optional<std::string> list = args.value(kKernelsFlag.name))
    for (const std::string& f : split_list(*list, kKernelsFlag.name)) kernel_files.push_back(f);
  if (files.empty() && kernel_files.empty())
    throw UsageError("nothing to build: give --variants FILE[,FILE...], --kernels FILE or --manifest");
  if (args.has(kArchFlag.name) && !manifest.archs.empty())
    throw UsageError("--arch: the manifest lists targets already");
  if (args.has(kKindsFlag.name) && !manifest.kinds.empty())
    throw UsageError("--kinds: the manifest lists kinds already");

  aot::BuildInputs inputs;
  inputs.archs = manifest.archs.empty() ? target_archs(args, "sm_90") : manifest.archs;
  inputs.kinds = args.has(kKindsFlag.name) ? parse_kinds(*args.value(kKindsFlag.name)) : manifest.kinds;
  inputs.config_files = manifest.config_files;
  inputs.tile_overrides = manifest.tile_overrides;
  if (std::optional<std::string> tile = args.value(kTileFlag.name)) {
    auto parsed = parse_tile_override(*tile);
    if (!parsed) throw UsageError("--tile: " + parsed.error());
    // It tiles every target of the build: each one's main loop must take it.
    for (const std::string& arch : inputs.archs)
      if (std::string why = tile_rule_problem(*parsed, 0, attention_mainloop(arch)); !why.empty())
        throw UsageError(fmt::format("--tile for {}: {}", arch, why));
    inputs.tile_overrides.push_back({{}, {}, *parsed});
  }
  for (const std::string& file : files) inputs.variant_sets.push_back({file, load_module(file)});
  inputs.kernel_files = kernel_files;
  return inputs;
}

int run_build(const Args& args) {
  const std::optional<std::string> out = args.value(kOutFlag.name);
  if (!out || out->empty()) throw UsageError("missing --out DIR");
  const bool json_lines = args.has(kJsonFlag.name);
  aot::BuildInputs inputs = build_inputs(args);

  auto listed = aot::list_jobs(inputs);
  if (!listed) throw CommandError(listed.error());
  std::vector<aot::Job> jobs = std::move(*listed);
  std::string shard_text = "all";
  if (std::optional<std::string> shard = args.value(kShardFlag.name)) {
    auto parsed = aot::parse_shard(*shard);
    if (!parsed) throw UsageError("--shard: " + parsed.error());
    jobs = aot::shard(jobs, parsed->first, parsed->second);
    shard_text = *shard;
  }

  aot::BuildSettings settings;
  if (std::optional<std::string> dir = args.value(kCacheDirFlag.name)) settings.cache.directory = *dir;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  settings.jobs = args.int_value(kJobsFlag.name, cores, 1);
  settings.keep_going = args.has(kKeepGoingFlag.name);
  Progress progress(json_lines, jobs.size());
  settings.on_outcome = [&progress](const aot::JobOutcome& o) { progress.outcome(o); };
  if (!json_lines)
    std::fprintf(stderr, "building %zu kernel%s (shard %s) on %d thread%s into %s\n", jobs.size(),
                 jobs.size() == 1 ? "" : "s", shard_text.c_str(), settings.jobs,
                 settings.jobs == 1 ? "" : "s", printable(*out).c_str());

  aot::BuildResult result = aot::build_jobs(jobs, settings);
  progress.finish();
  const bool complete = result.failed == 0 && result.not_started == 0;
  // Without --keep-going a failure leaves the directory as it was.
  std::string write_error;
  if (complete || settings.keep_going) {
    if (auto written = aot::write_aot_directory(*out, result.index, result.binaries); !written)
      write_error = written.error();
  }
  if (json_lines) {
    json summary{{"event", "summary"},         {"kernels", jobs.size()},
                 {"compiled", result.compiled}, {"from_cache", result.from_cache},
                 {"failed", result.failed},     {"not_started", result.not_started},
                 {"seconds", std::round(result.seconds * 10) / 10},
                 {"written", write_error.empty() && (complete || settings.keep_going)}};
    if (!write_error.empty()) summary["error"] = write_error;
    print_json_line(summary);
  } else {
    std::printf("built %zu of %zu kernels (%zu compiled, %zu from the JIT cache), %zu failed%s, "
                "in %.1f s\n",
                result.compiled + result.from_cache, jobs.size(), result.compiled,
                result.from_cache, result.failed,
                result.not_started ? fmt::format(", {} not started", result.not_started).c_str() : "",
                result.seconds);
    if (!write_error.empty()) std::fprintf(stderr, "error: %s\n", write_error.c_str());
    else if (complete || settings.keep_going)
      std::printf("wrote %s (%zu kernels)\n", printable(*out + "/" + kAotIndexFileName).c_str(),
                  result.index.entries.size());
    else
      std::printf("nothing written (use --keep-going to write what was built)\n");
  }
  return complete && write_error.empty() ? 0 : 1;
}

int run_merge(const Args& args) {
  const std::vector<std::string>& words = args.positional();
  if (words.size() < 3) throw UsageError("usage: attnjit aot merge OUT DIR1 DIR2...");
  std::vector<fs::path> inputs(words.begin() + 2, words.end());
  auto merged = aot::merge_aot_directories(words[1], inputs);
  if (!merged) throw CommandError(merged.error());
  if (args.has(kJsonFlag.name))
    print_json_line(json{{"event", "merged"}, {"out", words[1]}, {"kernels", *merged}});
  else
    std::printf("merged %zu director%s into %s: %zu kernels\n", inputs.size(),
                inputs.size() == 1 ? "y" : "ies", printable(words[1]).c_str(), *merged);
  return 0;
}

// With build inputs, verify also checks coverage: every kernel those inputs list is
// found in the directories by the engine's own lookup, with JIT off and no compiler
// opened, as a deployment would look it up.
bool covers(const Args& args, const std::vector<std::string>& dirs) {
  aot::BuildInputs inputs = build_inputs(args);
  auto listed = aot::list_jobs(inputs);
  if (!listed) throw CommandError(listed.error());
  EngineOptions options;
  for (const std::string& d : dirs) options.cache.aot_directories.push_back(d);
  options.aot_directories_from_env = false;
  options.jit = false;
  options.cache.use_disk = false;
  Engine engine(options);
  size_t missing = 0;
  for (const aot::Job& job : *listed) {
    auto found = engine.build(job.spec, job.format);
    const bool ok = found && found->lookup.source == CacheSource::aot;
    missing += ok ? 0 : 1;
    if (args.has(kJsonFlag.name)) {
      json line{{"event", "covered"}, {"name", job.spec.uri()}, {"key", job.key}, {"found", ok}};
      if (found && !found->lookup.warning.empty()) line["warning"] = found->lookup.warning;
      print_json_line(line);
    } else if (!ok) {
      std::printf("missing %s (%s, from %s)\n", job.spec.uri().c_str(), job.key.c_str(),
                  printable(job.variant_file).c_str());
    }
  }
  if (!args.has(kJsonFlag.name))
    std::printf("%s %zu of %zu kernels the inputs list are found\n", missing ? "FAIL " : "ok   ",
                listed->size() - missing, listed->size());
  return missing == 0;
}

int run_verify(const Args& args) {
  const std::vector<std::string>& words = args.positional();
  if (words.size() < 2) throw UsageError("usage: attnjit aot verify DIR...");
  bool all_ok = true;
  for (size_t i = 1; i < words.size(); ++i) {
    const AotVerification v = verify_aot_directory(words[i]);
    all_ok = all_ok && v.ok();
    if (args.has(kJsonFlag.name)) {
      json line{{"event", "verified"}, {"directory", words[i]}, {"ok", v.ok()}, {"entries", v.entries}};
      if (!v.index_error.empty()) line["index_error"] = v.index_error;
      line["problems"] = v.problems;
      print_json_line(line);
      continue;
    }
    if (!v.index_error.empty()) {
      std::printf("bad   %s: %s\n", printable(words[i]).c_str(), printable(v.index_error).c_str());
      continue;
    }
    for (const std::string& p : v.problems) std::printf("bad   %s\n", p.c_str());
    std::printf("%s %s: %zu entries, %zu problem%s\n", v.ok() ? "ok   " : "FAIL ",
                printable(words[i]).c_str(), v.entries, v.problems.size(),
                v.problems.size() == 1 ? "" : "s");
  }
  const bool has_inputs = args.has(kVariantsFlag.name) || args.has(kKernelsFlag.name) ||
                          args.has(kManifestFlag.name);
  if (has_inputs)
    all_ok = covers(args, std::vector<std::string>(words.begin() + 1, words.end())) && all_ok;
  return all_ok ? 0 : 1;
}

int run_aot(const Args& args) {
  if (args.positional().empty()) throw UsageError("missing subcommand: build, merge or verify");
  const std::string& sub = args.positional().front();
  auto only_for_build = [&](std::initializer_list<FlagSpec> flags) {
    for (const FlagSpec& flag : flags)
      if (args.has(flag.name))
        throw UsageError(fmt::format("{} is an option of 'aot build'", flag.name));
  };
  if (sub == "build") {
    if (args.positional().size() > 1)
      throw UsageError(fmt::format("unexpected argument '{}'", printable(args.positional()[1], 100)));
    return run_build(args);
  }
  if (sub == "verify") {
    only_for_build({kOutFlag, kShardFlag, kJobsFlag, kKeepGoingFlag, kCacheDirFlag});
    return run_verify(args);
  }
  only_for_build({kVariantsFlag, kKernelsFlag, kOutFlag, kKindsFlag, kManifestFlag, kShardFlag,
                  kJobsFlag, kKeepGoingFlag, kArchFlag, kTileFlag, kCacheDirFlag});
  if (sub == "merge") return run_merge(args);
  throw UsageError(fmt::format("unknown subcommand '{}' (known: build, merge, verify)",
                               printable(sub, 100)));
}

}  // namespace

const Command& aot_command() {
  static const std::string usage = fmt::format(
      "usage: attnjit aot build --variants FILE[,FILE...] --out DIR [--arch LIST]\n"
      "                         [--kernels RECORD[,RECORD...]]\n"
      "                         [--kinds prefill,paged,merge,cache_write] [--manifest FILE]\n"
      "                         [--tile BM,BN,W,S] [--shard I/N] [--jobs N] [--keep-going]\n"
      "                         [--cache-dir DIR] [--json]\n"
      "       attnjit aot merge OUT DIR1 DIR2... [--json]\n"
      "       attnjit aot verify DIR... [--json] [--variants FILES | --kernels FILES |\n"
      "                          --manifest FILE] [--arch LIST] [--kinds LIST] [--tile T]\n"
      "\n"
      "Builds every kernel the variants can need (the launch planner's list: each kind,\n"
      "tile and split kind a call can launch) into DIR/index.json and one binary per\n"
      "kernel named by its SHA-256. Engines and commands find them through\n"
      "$ATTNJIT_AOT_DIR (a colon-separated list) without a compiler; ATTNJIT_JIT=0 then\n"
      "makes a missing kernel an error. The same inputs give byte-identical directories,\n"
      "whatever --jobs and --shard. docs/aot.md describes the format and the manifest.\n"
      "\n"
      "  --variants   variant files (.attn), comma-separated\n"
      "  --kernels    files of kernels an engine recorded ($ATTNJIT_AOT_RECORD=FILE):\n"
      "               each built exactly as recorded\n"
      "  --arch       targets, comma-separated: {} (default sm_90)\n"
      "  --kinds      only these kinds (default: every kind the variants can need)\n"
      "  --manifest   a JSON manifest: variants, arch, kinds, configs, tiles\n"
      "  --tile       also build every attention kernel with this tile (as --tile does\n"
      "               for compile and run)\n"
      "  --shard I/N  build only shard I of N (0-based); `aot merge` joins the shards\n"
      "  --jobs N     compile threads (default: the number of cores)\n"
      "  --keep-going go on after a failed compile and write what was built (exit 1)\n"
      "  --cache-dir  the JIT cache compiles go through (default $ATTNJIT_CACHE_DIR)\n"
      "  --json       one JSON object per kernel and a summary, on stdout\n"
      "\n"
      "merge: joins directories (shards) into OUT; each must verify.\n"
      "verify: checks the index and every binary (size, SHA-256, ELF machine and target,\n"
      "kernel symbol) and reports binaries the index does not list; given build inputs,\n"
      "also that the directories hold every kernel they list, found as the engine finds\n"
      "them with JIT off and no compiler. Exit 1 on any problem.\n",
      target_names());
  static const Command command{
      "aot",
      "build, merge and verify ahead-of-time kernel directories (no GPU needed)",
      usage.c_str(),
      {kVariantsFlag, kKernelsFlag, kOutFlag, kArchFlag, kKindsFlag, kManifestFlag, kTileFlag, kShardFlag,
       kJobsFlag, kKeepGoingFlag, kCacheDirFlag, kJsonFlag},
      run_aot,
  };
  return command;
}

}  // namespace attnjit::cli
