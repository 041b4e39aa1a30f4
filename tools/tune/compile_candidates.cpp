#include "tools/tune/compile_candidates.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "compiler/spec/tile_choice.h"
#include "compiler/spec/tuning_config.h"
#include "runtime/api/engine.h"
#include "runtime/plan/launch_plan.h"
#include "tools/tune/cubin_resources.h"

namespace attnjit::tune {

namespace {

// The config table a task tunes ("" = the kind's own).
std::string table_of(TuneKind kind) {
  return kind == TuneKind::paged_decode ? tune_kind_name(TuneKind::paged_decode) : "";
}

// The kernels a tile of the task's table serves, as the launch planner (and so the
// engine and the ahead-of-time builder) names them.
std::vector<KernelRole> roles_of(TuneKind kind) {
  return table_roles(kernel_kind(kind), table_of(kind));
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

// The kernels one (candidate, variant) builds: specs as the planner makes them, with
// the candidate's tile for the tuned table, checked by choose_tile as the engine checks
// an override; for sm_90a's config the wgmma prefill kernel the engine would run with
// the candidate as its tile.
Result<std::vector<KernelSpec>, std::string> candidate_specs(const Task& task, const ir::Variant& v,
                                                             const TileConfig& candidate,
                                                             const std::string& arch) {
  if (own_mainloop(arch) == Mainloop::wgmma) {
    auto spec = choose_wgmma_prefill(v, nullptr, candidate);
    if (!spec) return fail(spec.error());
    if (!*spec) return fail(fmt::format("the wgmma main loop does not take variant {}", v.name));
    return std::vector<KernelSpec>{std::move(**spec)};
  }
  std::vector<KernelSpec> specs;
  for (const KernelRole& role : roles_of(task.kind)) {
    auto tile = choose_tile(v, role.kind, arch, nullptr, candidate, role.tuning_kind);
    if (!tile) return fail(tile.error());
    specs.push_back(spec_for(v, arch, role, *tile));
  }
  return specs;
}

// Builds every kernel of one (candidate, variant) into `build` through the engine (its
// backend and cache).
void build_one(Engine& engine, const Job& job, const std::string& arch, KernelBuild& build) {
  const Task& task = *job.task;
  const ir::Variant& v = task.variants[job.variant];
  auto failed = [&](const std::string& why) {
    build.status = KernelBuild::Status::failed;
    build.error = printable(why, 300);
  };
  auto specs = candidate_specs(task, v, job.candidate->tile, arch);
  if (!specs) return failed(specs.error());
  for (size_t i = 0; i < specs->size(); ++i) {
    auto compiled = engine.compile((*specs)[i]);
    if (!compiled) {
      build.status = KernelBuild::Status::failed;
      build.error = one_line(compiled.error());
      return;
    }
    build.kernels.push_back(compiled->spec.uri());
    const CacheLookup& lookup = compiled->lookup;
    build.milliseconds += lookup.milliseconds;
    if (lookup.source == CacheSource::compiled) build.all_cached = false;
    // A compiler warning on generated source is a bug: the kernel is not used.
    if (!lookup.artifact.warnings().empty())
      return failed("compiler warning: " + lookup.artifact.warnings().front());
    // The unsplit kernel (the first role) is the one whose resources are reported.
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
  const size_t per_variant = roles_of(task.kind).size();
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

  // One engine builds everything: Engine::build is safe to call from several threads
  // (the backend is opened under its lock, the cache serializes its own state).
  EngineOptions options;
  options.cache = settings.cache;
  Engine engine(options);
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
          build_one(engine, job, settings.arch, build);
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
