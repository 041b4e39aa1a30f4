#include "tools/tune/tuner.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "compiler/spec/hopper_geometry.h"
#include "runtime/api/engine.h"
#include "runtime/cache/cache_files.h"
#include "tools/tune/compile_candidates.h"
#include "tools/tune/config_merge.h"
#include "tools/tune/gpu_timer.h"
#include "tools/tune/measure_task.h"
#include "tools/tune/reference_check.h"
#include "tools/tune/results_csv.h"
#include "tools/tune/split_fit.h"
#include "tools/tune/split_sweep.h"

namespace attnjit::tune {

namespace {

// A pruned candidate's reason, in a few words, for the dry run's counts.
std::string reason_tag(const std::string& why) {
  if (why.find("shared memory") != std::string::npos) return "shared memory";
  if (why.find("query heads") != std::string::npos) return "query heads per KV head";
  if (why.rfind("spills", 0) == 0) return "register spills";
  if (why.rfind("compile failed", 0) == 0) return "compile failed";
  if (why.find("budget") != std::string::npos) return "time budget";
  return "tile rules";
}

std::string variant_names(const Task& t) {
  std::string names;
  for (const ir::Variant& v : t.variants) names += (names.empty() ? "" : ", ") + v.name;
  return names;
}

std::string shape_list(TuneKind kind, const std::vector<Shape>& shapes) {
  std::string text;
  for (const Shape& s : shapes) text += (text.empty() ? "" : ", ") + shape_name(kind, s);
  return text;
}

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::function<void(const std::string&)> printer(std::FILE* log) {
  return [log](const std::string& line) {
    std::fprintf(log, "%s\n", line.c_str());
    std::fflush(log);
  };
}

std::string config_path(const TuneRequest& r, const std::string& arch) {
  return r.out.empty() ? arch + ".json" : r.out;
}

std::string speed_text(double shipped, double tuned) {
  return fmt::format("{:10.1f} {:10.1f} {:7.3f}", shipped * 1000, tuned * 1000, tuned / shipped);
}

void print_comparison(std::FILE* out, const Task& task, const std::vector<ShapeComparison>& rows,
                      const char* a_name, const char* b_name) {
  std::fprintf(out, "  %-22s %-14s %10s %10s %7s\n", "variant", "shape", a_name, b_name, "ratio");
  for (const ShapeComparison& r : rows) {
    const std::string& v = task.variants[r.variant].name;
    const std::string shape = shape_name(task.kind, r.shape);
    if (!r.error.empty())
      std::fprintf(out, "  %-22s %-14s error: %s\n", v.c_str(), shape.c_str(), r.error.c_str());
    else
      std::fprintf(out, "  %-22s %-14s %s\n", v.c_str(), shape.c_str(),
                   speed_text(r.a_ms, r.b_ms).c_str());
  }
}

// Bugs the run found: candidates whose result disagreed with the reference, and tiles
// the static rules accept that did not compile.
std::vector<std::string> bugs_in(const Task& task) {
  std::vector<std::string> bugs;
  for (const Candidate& c : task.candidates) {
    for (size_t v = 0; v < c.checks.size(); ++v)
      if (c.checks[v].status == CheckOutcome::Status::fail ||
          c.checks[v].status == CheckOutcome::Status::error)
        bugs.push_back(fmt::format("{} {} on {}: {} ({})", task.describe(), tile_name(c.tile),
                                   task.variants[v].name, check_status_name(c.checks[v].status),
                                   c.checks[v].detail));
    if (c.pruned.rfind("compile failed", 0) == 0)
      bugs.push_back(fmt::format("{} {}: {}", task.describe(), tile_name(c.tile), c.pruned));
  }
  return bugs;
}

void write_file(const std::string& path, const std::string& text) {
  try {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    write_atomically(path, text);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", printable(path), e.what()));
  }
}

// The device and versions a config records; the compiler is the one `engine` builds
// the GPU's kernels with.
Meta meta_for(const cuda::Driver& gpu, Engine& engine) {
  Meta m;
  m.attnjit_version = kAttnjitVersion;
  m.device = gpu.device_name();
  m.sm_count = gpu.attribute(cuda::kMultiprocessorCount);
  m.driver_version = driver_version_name(gpu.driver_version());
  m.compiler = "unknown";
  if (auto target = gpu.target())
    if (auto backend = engine.backend(**target)) {
      std::string name = (*backend)->name();
      for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      m.compiler = name + " " + (*backend)->version();
    }
  m.date = utc_now();
  return m;
}

std::shared_ptr<cuda::Driver> open_gpu(const char* what) {
  std::string why;
  if (!Engine::gpu_available(&why))
    throw std::runtime_error(fmt::format(
        "{} measures on a CUDA GPU and none is usable: {}\n(`attnjit tune --dry-run --arch "
        "sm_90` lists the candidates without one)",
        what, why));
  auto gpu = cuda::Driver::open();
  if (!gpu) throw std::runtime_error("no usable GPU: " + gpu.error());
  return *gpu;
}

// The config a measuring run tunes: the GPU's own target's, or r.arch when the GPU runs
// that target's binaries too (sm_90a on a 9.0 device: the wgmma kernel's config).
std::string config_arch(const TuneRequest& r, const cuda::Driver& gpu) {
  const std::string own = gpu.arch();
  if (r.arch.empty() || r.arch == own) return own;
  for (const Target* t : gpu.runnable_targets(BinaryFormat::cubin))
    if (t->name == r.arch) return r.arch;
  throw std::runtime_error(fmt::format("--arch {}: this GPU ({}) does not run {} kernels; a measuring "
                                       "run tunes a target the GPU runs",
                                       r.arch, own, r.arch));
}

// paged_decode: every split of every shape timed on each task's final tile, and the
// split cost model refitted per K/V width (split_fit.h); a refit that chooses no
// better than the config's constants is reported and not written. Runs after the
// budget, like the confirmation: it is bounded (at most 65 splits per shape).
SplitCostUpdate refit_split_costs(const std::vector<Task>& tasks,
                                  const std::vector<TunedEntry>& entries, const TuneRequest& r,
                                  const TuningTable& config, const MeasureContext& measure,
                                  std::FILE* out, Meta& meta) {
  MeasureContext ctx = measure;
  ctx.deadline.reset();
  std::vector<SplitSample> samples;
  int group = 0;
  for (const Task& task : tasks) {
    if (task.kind != TuneKind::paged_decode) continue;
    TileConfig tile = task.baseline;
    for (const TunedEntry& e : entries)
      if (e.kind == task.kind && e.bucket == task.bucket && same_conditions(e.conditions, task.conditions))
        tile = e.tile;
    for (SplitSample& s : sweep_splits(task, tile, shapes_for(r, task.kind), ctx, group))
      samples.push_back(std::move(s));
    group += static_cast<int>(task.variants.size());
  }
  SplitCostUpdate update;
  if (samples.empty()) return update;
  for (const bool eight : {false, true}) {
    std::vector<SplitSample> width;
    for (const SplitSample& s : samples)
      if ((s.kv_bytes == 1) == eight) width.push_back(s);
    if (width.empty()) continue;
    const char* set = eight ? kSplitCost8BitKey : kSplitCost16BitKey;
    const SplitCostModel& start = config.split_costs().for_kv_bytes(eight ? 1 : 2);
    const SplitFit fit = fit_split_costs(width, start);
    std::fprintf(out, "\n%s", split_fit_report(fit, fmt::format("split_cost.{}", set)).c_str());
    if (!fit.improved) continue;
    (eight ? update.kv_8bit : update.kv_16bit) = fit.fitted;
    meta.tuned.push_back(fmt::format(
        "split_cost.{}: refitted on {} shapes (choices {:.1f}% -> {:.1f}% slower than the fastest)",
        set, fit.rows.size(), 100 * std::expm1(fit.loss_before), 100 * std::expm1(fit.loss_after)));
  }
  return update;
}

}  // namespace

std::string default_csv_path(const std::string& config_path) {
  const std::string suffix = ".json";
  if (config_path.size() > suffix.size() && config_path.ends_with(suffix))
    return config_path.substr(0, config_path.size() - suffix.size()) + ".csv";
  return config_path + ".csv";
}

const std::vector<Shape>& shapes_for(const TuneRequest& r, TuneKind kind) {
  static const std::map<TuneKind, std::vector<Shape>> defaults = {
      {TuneKind::prefill, default_shapes(TuneKind::prefill)},
      {TuneKind::paged, default_shapes(TuneKind::paged)},
      {TuneKind::paged_decode, default_shapes(TuneKind::paged_decode)}};
  auto it = r.shapes.find(kind);
  return it != r.shapes.end() ? it->second : defaults.at(kind);
}

Result<std::vector<Task>, std::string> prepare_tasks(const TuneRequest& r, const std::string& arch,
                                                     const BaseConfig& base,
                                                     std::vector<std::string>* notes) {
  if (std::string why = kinds_problem(arch, r.kinds); !why.empty()) return fail(why);
  std::vector<ir::Variant> variants;
  for (const ir::Variant& v : r.variants) {
    const std::string why =
        own_mainloop(arch) == Mainloop::wgmma ? wgmma_variant_problem(v, KernelKind::prefill) : "";
    if (why.empty()) variants.push_back(v);
    else if (notes) notes->push_back(fmt::format("{}: left out, the wgmma main loop does not take it: {}", v.name, why));
  }
  if (variants.empty()) return fail(fmt::format("no variant of {} runs on {}'s main loop", r.variants_file, arch));
  auto tasks = plan_tasks(variants, r.kinds, base.table, base.builtin);
  if (!tasks) return tasks;
  for (Task& task : *tasks) {
    for (const ir::Variant& v : task.variants)
      for (const Shape& s : shapes_for(r, task.kind))
        if (std::string why = shape_mismatch(task.kind, v, s); !why.empty()) return fail(why);
    add_static_candidates(task, arch);
  }
  return tasks;
}

std::string dry_run_report(const std::vector<Task>& tasks, const TuneRequest& r,
                           const std::string& arch, const BaseConfig& base, bool compiled) {
  std::string out = fmt::format("attnjit tune --dry-run: {}, {} variant{} from {}, config {}\n",
                                arch, r.variants.size(), r.variants.size() == 1 ? "" : "s",
                                printable(r.variants_file), printable(base.name));
  size_t total_kept = 0, total_kernels = 0;
  for (const Task& task : tasks) {
    std::map<std::string, int> pruned;
    size_t kept = 0;
    for (const Candidate& c : task.candidates) {
      if (c.pruned.empty()) ++kept;
      else ++pruned[reason_tag(c.pruned)];
    }
    std::string counts;
    for (const auto& [tag, n] : pruned) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, tag);
    out += fmt::format("\n{}: {}\n", task.describe(), variant_names(task));
    out += fmt::format("  baseline {}\n", tile_name(task.baseline));
    out += fmt::format("  shapes   {}\n", shape_list(task.kind, shapes_for(r, task.kind)));
    out += fmt::format("  {} of {} candidates kept{}\n", kept, task.candidates.size(),
                       counts.empty() ? "" : fmt::format(" (pruned: {})", counts));
    for (const Candidate& c : task.candidates) {
      if (!c.pruned.empty()) continue;
      std::string line = fmt::format("    {:<22}", tile_name(c.tile));
      if (compiled && !c.builds.empty()) {
        int registers = 0, stack = 0;
        for (const KernelBuild& b : c.builds)
          registers = std::max(registers, b.registers), stack = std::max(stack, b.stack_bytes);
        line += fmt::format(" {:>3} registers {:>4} stack bytes", registers, stack);
      }
      if (c.baseline) line += "  baseline";
      while (line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    if (task.kind == TuneKind::paged_decode) {
      std::string counts_text;
      for (int n : decode_split_counts()) counts_text += fmt::format("{}{}", counts_text.empty() ? "" : ",", n);
      out += fmt::format("  then num_splits {} on the fastest tile, and every split of every "
                         "shape on the chosen tile to refit split_cost\n",
                         counts_text);
    }
    total_kept += kept;
    total_kernels += kernels_to_compile(task);
  }
  out += fmt::format("\ntotal: {} config entr{}, {} candidates{}\n", tasks.size(),
                     tasks.size() == 1 ? "y" : "ies", total_kept,
                     compiled ? "" : fmt::format(", {} kernels to compile", total_kernels));
  return out;
}

int dry_run(const TuneRequest& r, std::FILE* out, std::FILE* log) {
  std::string arch = r.arch;
  if (arch.empty()) {
    std::string why;
    if (!Engine::gpu_available(&why))
      throw std::runtime_error("--dry-run without a GPU needs --arch (e.g. --arch sm_90): " + why);
    arch = open_gpu("tune")->arch();
  }
  auto base = load_base_config(config_path(r, arch), arch);
  if (!base) throw std::runtime_error(base.error());
  std::vector<std::string> notes;
  auto tasks = prepare_tasks(r, arch, *base, &notes);
  if (!tasks) throw std::runtime_error(tasks.error());
  for (const std::string& note : notes) std::fprintf(log, "note: %s\n", note.c_str());
  if (r.compile) {
    CompileSettings settings;
    settings.arch = arch;
    settings.cache = r.cache;
    settings.jobs = r.jobs > 0 ? r.jobs : hardware_threads();
    settings.progress = printer(log);
    compile_candidates(*tasks, settings);
  }
  const std::string report = dry_run_report(*tasks, r, arch, *base, r.compile);
  std::fputs(report.c_str(), out);
  for (const Task& t : *tasks)
    for (const std::string& bug : bugs_in(t)) std::fprintf(out, "BUG: %s\n", bug.c_str());
  for (const Task& t : *tasks)
    if (!bugs_in(t).empty()) return 1;
  return 0;
}

int run_tune(const TuneRequest& r, std::FILE* out, std::FILE* log) {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline =
      started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double, std::ratio<60>>(r.budget_minutes));
  std::shared_ptr<cuda::Driver> gpu = open_gpu("tune");
  const std::string arch = config_arch(r, *gpu);
  const std::string config = config_path(r, arch);
  const std::string csv = r.csv.empty() ? default_csv_path(config) : r.csv;
  // The engine whose backend compiles the timing kernel and names the compiler (the
  // candidates compile through their own, with the same options).
  EngineOptions engine_options;
  engine_options.cache = r.cache;
  Engine engine(engine_options);
  Meta meta = meta_for(*gpu, engine);

  auto base = load_base_config(config, arch);
  if (!base) throw std::runtime_error(base.error());
  // Refused now rather than after an hour of measuring.
  if (auto check = merge_config(base->text, base->name, arch, {}, meta, base->builtin,
                                base->is_file, r.force);
      !check)
    throw std::runtime_error(check.error());
  std::vector<std::string> notes;
  auto planned = prepare_tasks(r, arch, *base, &notes);
  if (!planned) throw std::runtime_error(planned.error());
  std::vector<Task>& tasks = *planned;
  auto progress = printer(log);
  for (const std::string& note : notes) progress("note: " + note);
  progress(fmt::format("tuning {} config entr{} on {} ({}, {} SMs) within {:g} minutes",
                       tasks.size(), tasks.size() == 1 ? "y" : "ies", meta.device, arch,
                       meta.sm_count, r.budget_minutes));

  CompileSettings settings;
  settings.arch = arch;
  settings.cache = r.cache;
  settings.jobs = r.jobs > 0 ? r.jobs : hardware_threads();
  settings.deadline = deadline;
  settings.progress = progress;
  compile_candidates(tasks, settings);

  auto timer = GpuTimer::create(gpu, engine);
  if (!timer) throw std::runtime_error(timer.error());
  MeasureContext ctx;
  ctx.gpu = gpu;
  ctx.timer = timer->get();
  ctx.cache = r.cache;
  ctx.deadline = deadline;
  ctx.progress = progress;
  ctx.mainloop = own_mainloop(arch);

  std::vector<TunedEntry> entries;
  std::vector<std::string> bugs;
  for (Task& task : tasks) {
    const std::vector<Shape>& shapes = shapes_for(r, task.kind);
    Selection selection = measure_task(task, shapes, ctx);
    std::fprintf(out, "\n%s: %s\n", task.describe().c_str(), variant_names(task).c_str());
    Candidate* chosen = selection.chosen >= 0 ? &task.candidates[selection.chosen] : nullptr;
    if (chosen && !chosen->baseline) {
      // The winner's times were the best of many noisy ones: time it again beside the
      // baseline before believing them.
      const std::vector<ShapeComparison> rows =
          compare_tiles(task, shapes, task.baseline, chosen->tile, ctx);
      std::fprintf(out, "  %s -> %s: %s\n", tile_name(task.baseline).c_str(),
                   tile_name(chosen->tile).c_str(), selection.reason.c_str());
      print_comparison(out, task, rows, "before us", "tuned us");
      if (no_slower(rows)) {
        entries.push_back({task.kind, task.bucket, task.conditions, chosen->tile});
        meta.tuned.push_back(fmt::format("{}: {} -> {}", task.describe(),
                                         tile_name(task.baseline), tile_name(chosen->tile)));
      } else {
        chosen->chosen = false;
        for (Candidate& c : task.candidates) c.chosen = c.baseline && c.pruned.empty();
        std::fprintf(out, "  not confirmed (slower than the baseline on a shape when timed "
                          "again): the baseline stays\n");
      }
    } else {
      std::fprintf(out, "  %s: %s\n", tile_name(task.baseline).c_str(), selection.reason.c_str());
    }
    for (const std::string& bug : bugs_in(task)) bugs.push_back(bug);
  }

  const SplitCostUpdate split_costs = refit_split_costs(tasks, entries, r, base->table, ctx, out,
                                                        meta);

  write_file(csv, results_csv(tasks));
  auto merged = merge_config(base->text, base->name, arch, entries, meta, base->builtin,
                             base->is_file, r.force, split_costs);
  if (!merged) throw std::runtime_error(merged.error());
  write_file(config, *merged);
  const double minutes =
      std::chrono::duration<double, std::ratio<60>>(std::chrono::steady_clock::now() - started)
          .count();
  std::fprintf(out, "\nwrote %s (%zu entr%s changed) and %s in %.1f minutes\n",
               printable(config).c_str(), entries.size(), entries.size() == 1 ? "y" : "ies",
               printable(csv).c_str(), minutes);
  for (const std::string& bug : bugs) std::fprintf(out, "BUG: %s\n", bug.c_str());
  if (!bugs.empty())
    std::fprintf(out, "%zu candidate%s failed (a wrong result or a tile the validator accepts "
                      "that does not compile is a bug in attnjit; never chosen)\n",
                 bugs.size(), bugs.size() == 1 ? "" : "s");
  return bugs.empty() ? 0 : 1;
}

int run_compare(const TuneRequest& r, const std::string& tuned_config, std::FILE* out,
                std::FILE* log) {
  std::shared_ptr<cuda::Driver> gpu = open_gpu("tune --compare");
  const std::string arch = config_arch(r, *gpu);
  if (std::string why = kinds_problem(arch, r.kinds); !why.empty()) throw std::runtime_error(why);
  auto shipped = TuningTable::embedded(arch, own_mainloop(arch));
  if (!shipped) throw std::runtime_error(shipped.error());
  auto tuned = TuningTable::load_file(tuned_config);
  if (!tuned) throw std::runtime_error(tuned.error());
  EngineOptions engine_options;
  engine_options.cache = r.cache;
  Engine engine(engine_options);
  auto timer = GpuTimer::create(gpu, engine);
  if (!timer) throw std::runtime_error(timer.error());
  MeasureContext ctx;
  ctx.gpu = gpu;
  ctx.timer = timer->get();
  ctx.cache = r.cache;
  ctx.progress = printer(log);
  ctx.mainloop = own_mainloop(arch);

  bool all_no_slower = true;
  for (const ir::Variant& v : r.variants)
    for (TuneKind kind : r.kinds) {
      if (ctx.mainloop == Mainloop::wgmma && !wgmma_variant_problem(v, KernelKind::prefill).empty()) continue;
      const std::vector<TuneKind> served = kinds_of(v);
      if (std::find(served.begin(), served.end(), kind) == served.end()) continue;
      const Features f = features_of(v);
      std::optional<TileConfig> a = tile_of(*shipped, kind, f), b = tile_of(*tuned, kind, f);
      if (!b) b = a;  // a kind the file lacks: the engine falls back to nothing; compare equal
      if (!a) continue;
      const std::vector<Shape>& shapes = shapes_for(r, kind);
      for (const Shape& s : shapes)
        if (std::string why = shape_mismatch(kind, v, s); !why.empty()) throw std::runtime_error(why);
      Task task;
      task.kind = kind;
      task.baseline = *a;
      task.variants = {v};
      std::fprintf(out, "\n%s %s: shipped %s, %s %s\n", v.name.c_str(), tune_kind_name(kind),
                   tile_name(*a).c_str(), printable(tuned_config).c_str(), tile_name(*b).c_str());
      if (*a == *b) {
        std::fprintf(out, "  same tile\n");
        continue;
      }
      // The tuned tile must be right before its speed matters.
      Engine engine(engine_for(*b, ctx));
      ReferenceCheck reference(task);
      const CheckOutcome check = reference.check(engine, 0);
      if (check.status != CheckOutcome::Status::pass) {
        std::fprintf(out, "  BUG: %s tile %s: %s\n", check_status_name(check.status),
                     tile_name(*b).c_str(), check.detail.c_str());
        all_no_slower = false;
        continue;
      }
      const std::vector<ShapeComparison> rows = compare_tiles(task, shapes, *a, *b, ctx);
      print_comparison(out, task, rows, "shipped us", "tuned us");
      if (!no_slower(rows)) {
        all_no_slower = false;
        std::fprintf(out, "  tuned is slower on some shape (beyond %.0f%%)\n", 100 * kShapeSlack);
      }
    }
  return all_no_slower ? 0 : 1;
}

}  // namespace attnjit::tune
