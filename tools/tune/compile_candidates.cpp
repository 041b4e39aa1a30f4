#include "tools/tune/compile_candidates.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "runtime/api/engine.h"
#include "tools/tune/cubin_resources.h"

namespace attnjit::tune {

namespace {

// The kernels one paged launch of a tile may use, by split: unsplit, segments (with
// the merge), and for the decode tile the stream split.
std::vector<KvSplit> splits_of(TuneKind kind) {
  switch (kind) {
    case TuneKind::prefill: return {KvSplit::none};
    case TuneKind::paged: return {KvSplit::none, KvSplit::segments};
    case TuneKind::paged_decode: return {KvSplit::none, KvSplit::segments, KvSplit::stream};
  }
  return {KvSplit::none};
}

// The first line of a compile error that says what went wrong.
std::string one_line(const CompileError& e) {
  std::string line = e.message;
  for (size_t at = 0; at < e.log.size();) {
    size_t end = e.log.find('\n', at);
    if (end == std::string::npos) end = e.log.size();
    const std::string_view text(e.log.data() + at, end - at);
    if (text.find("error") != std::string_view::npos) {
      line += ": " + std::string(text);
      break;
    }
    at = end + 1;
  }
  return printable(line, 300);
}

struct Job {
  Task* task;
  Candidate* candidate;
  size_t variant;
};

// Builds every kernel of one (candidate, variant) into `build`.
void build_one(Engine& compiler, const Job& job, const std::string& arch, KernelBuild& build) {
  const Task& task = *job.task;
  const ir::Variant& v = task.variants[job.variant];
  EngineOptions with_tile;
  with_tile.tile_override = job.candidate->tile;
  const Engine picker(with_tile);
  const std::string table_kind = task.kind == TuneKind::paged_decode ? "paged_decode" : "";
  auto base = picker.make_spec(v, kernel_kind(task.kind), arch, table_kind);
  if (!base) {
    build.status = KernelBuild::Status::failed;
    build.error = printable(base.error(), 300);
    return;
  }
  std::vector<KernelSpec> specs;
  for (KvSplit split : splits_of(task.kind)) {
    KernelSpec spec = *base;
    spec.kv_split = split;
    specs.push_back(spec);
  }
  if (task.kind != TuneKind::prefill) {
    auto merge = picker.make_spec(v, KernelKind::merge, arch);
    if (!merge) {
      build.status = KernelBuild::Status::failed;
      build.error = printable(merge.error(), 300);
      return;
    }
    merge->kv_split = KvSplit::segments;
    specs.push_back(*merge);
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    auto compiled = compiler.compile(specs[i]);
    if (!compiled) {
      build.status = KernelBuild::Status::failed;
      build.error = one_line(compiled.error());
      return;
    }
    const CacheLookup& lookup = compiled->lookup;
    build.milliseconds += lookup.milliseconds;
    if (lookup.source == CacheSource::compiled) build.all_cached = false;
    // An NVRTC warning on generated source is a bug: the kernel is not used.
    if (!lookup.artifact.warnings().empty()) {
      build.status = KernelBuild::Status::failed;
      build.error = printable("NVRTC warning: " + lookup.artifact.warnings().front(), 300);
      return;
    }
    if (i == 0) {
      auto resources = read_cubin_resources(lookup.artifact.binary, lookup.artifact.entry);
      if (resources) {
        build.registers = resources->registers;
        build.stack_bytes = resources->stack_bytes;
      }
    }
  }
  build.status = KernelBuild::Status::ok;
}

}  // namespace

size_t kernels_to_compile(const Task& task) {
  size_t per_variant = splits_of(task.kind).size() + (task.kind == TuneKind::prefill ? 0 : 1);
  size_t kept = 0;
  for (const Candidate& c : task.candidates) kept += c.pruned.empty();
  return kept * task.variants.size() * per_variant;
}

void compile_candidates(std::vector<Task>& tasks, const CompileSettings& settings) {
  std::vector<Job> jobs;
  for (Task& task : tasks)
    for (Candidate& c : task.candidates) {
      c.builds.assign(task.variants.size(), KernelBuild{});
      if (!c.pruned.empty()) continue;
      for (size_t v = 0; v < task.variants.size(); ++v) jobs.push_back({&task, &c, v});
    }
  if (jobs.empty()) return;

  EngineOptions options;
  options.cache = settings.cache;
  Engine compiler(options);
  const size_t threads = std::clamp<size_t>(settings.jobs, 1, jobs.size());
  if (settings.progress)
    settings.progress(fmt::format("compiling {} candidate builds on {} thread{}", jobs.size(),
                                  threads, threads == 1 ? "" : "s"));
  const auto started = std::chrono::steady_clock::now();
  std::atomic<size_t> next{0};
  std::mutex report_mutex;
  size_t done = 0, failed = 0, reported_tenth = 0;
  auto worker = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      const Job& job = jobs[i];
      KernelBuild& build = job.candidate->builds[job.variant];
      if (settings.deadline && std::chrono::steady_clock::now() > *settings.deadline) {
        build.error = "the time budget ran out";
      } else {
        try {
          build_one(compiler, job, settings.arch, build);
        } catch (const std::exception& e) {
          build.status = KernelBuild::Status::failed;
          build.error = printable(e.what(), 300);
        }
      }
      std::lock_guard<std::mutex> lock(report_mutex);
      ++done;
      failed += build.status == KernelBuild::Status::failed;
      const size_t tenth = done * 10 / jobs.size();
      if (settings.progress && tenth > reported_tenth) {
        reported_tenth = tenth;
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        settings.progress(fmt::format("compiled {}/{} ({} failed), {:.0f} s", done, jobs.size(),
                                      failed, seconds));
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();

  for (Task& task : tasks)
    for (Candidate& c : task.candidates) {
      if (!c.pruned.empty()) continue;
      for (const KernelBuild& b : c.builds) {
        if (b.status == KernelBuild::Status::not_run) {
          c.pruned = "not compiled: " + b.error;
          break;
        }
        if (b.status == KernelBuild::Status::failed) {
          c.pruned = "compile failed: " + b.error;
          break;
        }
        if (!c.baseline && b.stack_bytes > kMaxStackBytes) {
          c.pruned = fmt::format("spills: {} bytes of stack per thread (more than {})",
                                 b.stack_bytes, kMaxStackBytes);
          break;
        }
      }
    }
}

}  // namespace attnjit::tune
