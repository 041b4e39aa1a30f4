#include "tools/tune/measure_task.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "runtime/api/engine.h"
#include "tools/tune/reference_check.h"
#include "tools/tune/timing_inputs.h"

namespace attnjit::tune {

namespace {

// The inputs of each (variant, shape), built once per task and kept for all its
// candidates; a failure to build (out of memory) is kept too.
class InputSet {
 public:
  InputSet(const Task& task, const std::vector<Shape>& shapes, std::shared_ptr<cuda::Driver> gpu)
      : task_(task), shapes_(shapes), gpu_(std::move(gpu)) {}

  // Throws std::runtime_error with the reason when the inputs cannot be made.
  const TimingInputs& get(size_t variant, size_t shape) {
    const auto key = std::make_pair(variant, shape);
    if (auto e = errors_.find(key); e != errors_.end()) throw std::runtime_error(e->second);
    auto it = inputs_.find(key);
    if (it != inputs_.end()) return *it->second;
    try {
      // A seed per (variant, shape): every candidate sees the same values.
      const uint64_t seed = 1000003 * (variant + 1) + shape;
      auto made = std::make_unique<TimingInputs>(gpu_, task_.variants[variant], task_.kind,
                                                 shapes_[shape], seed);
      return *inputs_.emplace(key, std::move(made)).first->second;
    } catch (const std::exception& e) {
      errors_[key] = fmt::format("inputs for {}: {}", shape_name(task_.kind, shapes_[shape]), e.what());
      throw std::runtime_error(errors_[key]);
    }
  }

 private:
  const Task& task_;
  const std::vector<Shape>& shapes_;
  std::shared_ptr<cuda::Driver> gpu_;
  std::map<std::pair<size_t, size_t>, std::unique_ptr<TimingInputs>> inputs_;
  std::map<std::pair<size_t, size_t>, std::string> errors_;
};

}  // namespace

EngineOptions engine_for(const TileConfig& tile, const MeasureContext& ctx) {
  EngineOptions options;
  options.cache = ctx.cache;
  if (ctx.mainloop == Mainloop::wgmma) {
    options.hopper = true;
    options.hopper_tile = tile;
  } else {
    options.tile_override = tile;
    // The mma.sync tables' kernels, not the Hopper prefill kernel the engine would pick.
    options.hopper = false;
  }
  return options;
}

namespace {

Timing time_one(Engine& engine, InputSet& inputs, const Task& task, size_t variant, size_t shape,
                const std::vector<Shape>& shapes, const MeasureContext& ctx) {
  Timing t;
  t.variant = variant;
  t.shape = shapes[shape];
  try {
    const TimingInputs& in = inputs.get(variant, shape);
    const ir::Variant& v = task.variants[variant];
    const Measured m = ctx.timer->time([&](int run) { in.launch(engine, v, run); });
    t.median_ms = m.median_ms;
    t.min_ms = m.min_ms;
    t.runs = m.runs;
  } catch (const std::exception& e) {
    t.error = printable(e.what(), 300);
  }
  return t;
}

bool past(const MeasureContext& ctx) {
  return ctx.deadline && std::chrono::steady_clock::now() > *ctx.deadline;
}

// Checks `c` on every variant, then times it on every shape; past the deadline only
// the baseline still is.
void measure_candidate(Candidate& c, Task& task, const std::vector<Shape>& shapes,
                       ReferenceCheck& reference, InputSet& inputs, const MeasureContext& ctx) {
  if (!c.baseline && past(ctx)) {
    c.pruned = "not timed: the time budget ran out";
    return;
  }
  Engine engine(engine_for(c.tile, ctx));
  c.checks.assign(task.variants.size(), CheckOutcome{});
  for (size_t v = 0; v < task.variants.size(); ++v) {
    c.checks[v] = reference.check(engine, v);
    // A wgmma candidate the engine ran on the mma.sync kernel would time the wrong one.
    if (c.checks[v].status == CheckOutcome::Status::pass && task.kind == TuneKind::prefill &&
        engine.last_prefill_mainloop() != ctx.mainloop) {
      c.checks[v].status = CheckOutcome::Status::error;
      c.checks[v].detail = fmt::format("the engine ran the {} kernel, not the {} one being tuned",
                                       mainloop_name(engine.last_prefill_mainloop()), mainloop_name(ctx.mainloop));
    }
    if (c.checks[v].status != CheckOutcome::Status::pass) return;
  }
  c.timings.clear();
  for (size_t v = 0; v < task.variants.size(); ++v)
    for (size_t s = 0; s < shapes.size(); ++s)
      c.timings.push_back(time_one(engine, inputs, task, v, s, shapes, ctx));
}

std::string outcome_line(const Candidate& c) {
  for (const CheckOutcome& check : c.checks)
    if (check.status != CheckOutcome::Status::pass)
      return fmt::format("{}: {}", check_status_name(check.status), check.detail);
  if (!c.pruned.empty()) return c.pruned;
  std::string times;
  for (const Timing& t : c.timings)
    times += t.error.empty() ? fmt::format(" {:.1f}", t.median_ms * 1000) : " error";
  return "pass, us:" + times;
}

}  // namespace

Selection measure_task(Task& task, const std::vector<Shape>& shapes, const MeasureContext& ctx) {
  if (ctx.progress) ctx.progress(fmt::format("{}: computing the reference problems", task.describe()));
  ReferenceCheck reference(task);
  InputSet inputs(task, shapes, ctx.gpu);
  size_t kept = 0, done = 0;
  for (const Candidate& c : task.candidates) kept += c.pruned.empty();
  auto run = [&](Candidate& c) {
    measure_candidate(c, task, shapes, reference, inputs, ctx);
    if (ctx.progress)
      ctx.progress(fmt::format("{}: {}/{} {}{}: {}", task.describe(), ++done, kept,
                               tile_name(c.tile), c.baseline ? " (baseline)" : "",
                               outcome_line(c)));
  };
  for (Candidate& c : task.candidates)
    if (c.pruned.empty()) run(c);

  Selection selection = select_candidate(task.candidates, task.variants.size(), shapes);
  if (task.kind == TuneKind::paged_decode && selection.chosen >= 0) {
    // Fixed split counts for the fastest tile: same kernels, another launch choice.
    const Candidate winner = task.candidates[selection.chosen];
    std::vector<Candidate> splits;
    for (int n : decode_split_counts()) {
      Candidate c;
      c.tile = winner.tile;
      c.tile.num_splits = n;
      if (c.tile == task.baseline) continue;
      c.builds = winner.builds;
      splits.push_back(std::move(c));
    }
    kept += splits.size();
    for (Candidate& c : splits) {
      run(c);
      task.candidates.push_back(std::move(c));
    }
    selection = select_candidate(task.candidates, task.variants.size(), shapes);
  }
  return selection;
}

std::vector<ShapeComparison> compare_tiles(const Task& task, const std::vector<Shape>& shapes,
                                           const TileConfig& a, const TileConfig& b,
                                           const MeasureContext& ctx, int rounds) {
  InputSet inputs(task, shapes, ctx.gpu);
  Engine engine_a(engine_for(a, ctx)), engine_b(engine_for(b, ctx));
  std::vector<ShapeComparison> rows;
  for (size_t v = 0; v < task.variants.size(); ++v)
    for (size_t s = 0; s < shapes.size(); ++s) {
      ShapeComparison row;
      row.variant = v;
      row.shape = shapes[s];
      std::vector<double> ta, tb;
      for (int r = 0; r < rounds && row.error.empty(); ++r) {
        const Timing x = time_one(engine_a, inputs, task, v, s, shapes, ctx);
        const Timing y = time_one(engine_b, inputs, task, v, s, shapes, ctx);
        if (!x.error.empty() || !y.error.empty()) row.error = !x.error.empty() ? x.error : y.error;
        ta.push_back(x.median_ms);
        tb.push_back(y.median_ms);
      }
      if (row.error.empty()) {
        std::sort(ta.begin(), ta.end());
        std::sort(tb.begin(), tb.end());
        row.a_ms = ta[ta.size() / 2];
        row.b_ms = tb[tb.size() / 2];
      }
      rows.push_back(row);
    }
  return rows;
}

bool no_slower(const std::vector<ShapeComparison>& rows) {
  return std::all_of(rows.begin(), rows.end(), [](const ShapeComparison& r) {
    return r.error.empty() && r.a_ms > 0 && r.b_ms <= r.a_ms * (1 + kShapeSlack);
  });
}

}  // namespace attnjit::tune
