// The tuner's GPU half on small problems: the timer, the rotated inputs, a task's
// check-time-select loop for prefill and paged_decode, and the interleaved comparison.
// Assertions are about structure (every candidate checked and timed, a winner chosen,
// times positive and ordered), never about which tile is fastest.
#include <string>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "runtime/api/engine.h"
#include "tools/tune/compile_candidates.h"
#include "tools/tune/gpu_timer.h"
#include "tools/tune/measure_task.h"
#include "tools/tune/plan.h"
#include "tools/tune/timing_inputs.h"

namespace {

using namespace attnjit;
using namespace attnjit::tune;

ir::Variant variant(const std::string& text) {
  auto module = compile_variants(SourceFile{"<tune gpu test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<tune gpu test>", text}));
  return module->variants.at(0);
}

const char* kPrefill = R"(variant small { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16;
  out = bf16; kv_cache = contiguous; mask = causal; })";
const char* kDecode = R"(variant dec { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16;
  out = bf16; kv_cache = paged(page_size = 16); mask = causal; })";

struct Gpu {
  std::shared_ptr<cuda::Driver> driver;
  std::unique_ptr<GpuTimer> timer;
};

// The tuner compiles its candidates, so it needs a compiler where the rest of the GPU
// tests need none (they run from AOT directories with JIT off and NVRTC hidden).
// Without one these tests say why and check nothing.
bool compiler_present(std::string* why) {
  Engine engine;
  auto backend = engine.backend(engine.device_target());
  if (!backend) *why = backend.error();
  return backend.ok();
}
#define SKIP_WITHOUT_COMPILER()                                          \
  do {                                                                   \
    std::string why;                                                     \
    if (!compiler_present(&why)) {                                       \
      WARN("skipped: the tuner compiles candidates and needs a compiler: " << why); \
      return;                                                            \
    }                                                                    \
  } while (0)

Gpu open() {
  Gpu g;
  Engine engine;
  g.driver = engine.driver();
  auto timer = GpuTimer::create(g.driver, engine);
  if (!timer) FAIL(timer.error());
  g.timer = std::move(*timer);
  return g;
}

// A task with exactly these tiles (the first the baseline), compiled.
std::vector<Task> compiled_task(TuneKind kind, const ir::Variant& v, std::vector<TileConfig> tiles,
                                const std::string& arch) {
  Task t;
  t.kind = kind;
  t.variants = {v};
  t.baseline = tiles.front();
  for (size_t i = 0; i < tiles.size(); ++i) {
    Candidate c;
    c.tile = tiles[i];
    c.baseline = i == 0;
    c.pruned = static_prune_reason(t, c.tile, arch);
    REQUIRE(c.pruned == "");
    t.candidates.push_back(c);
  }
  std::vector<Task> tasks = {t};
  CompileSettings settings;
  settings.arch = arch;
  settings.jobs = 4;
  compile_candidates(tasks, settings);
  for (const Candidate& c : tasks[0].candidates) REQUIRE(c.pruned == "");
  return tasks;
}

}  // namespace

TEST_CASE("the timer gives ordered, positive times", "[tune][gpu]") {
  SKIP_WITHOUT_COMPILER();
  Gpu gpu = open();
  const ir::Variant v = variant(kPrefill);
  TimingInputs inputs(gpu.driver, v, TuneKind::prefill, Shape{2, 512, 512}, 7);
  // Two small copies cannot hold twice the L2 cache: several copies rotate.
  CHECK(inputs.copies() > 1);
  CHECK(inputs.bytes_per_copy() > 0);
  Engine engine;
  TimingSettings settings;
  const Measured m =
      gpu.timer->time([&](int run) { inputs.launch(engine, v, run); }, settings);
  INFO(m.median_ms << " ms median, " << m.min_ms << " ms min, " << m.runs << " runs");
  CHECK(m.runs >= settings.min_runs);
  CHECK(m.runs <= settings.max_runs);
  CHECK(m.min_ms > 0);
  CHECK(m.min_ms <= m.median_ms);
  // A launch of this size takes well under a second.
  CHECK(m.median_ms < 1000);
}

TEST_CASE("a prefill task checks and times every candidate and picks one", "[tune][gpu]") {
  SKIP_WITHOUT_COMPILER();
  Gpu gpu = open();
  const ir::Variant v = variant(kPrefill);
  std::vector<Task> tasks = compiled_task(
      TuneKind::prefill, v, {TileConfig{128, 64, 4, 2}, TileConfig{64, 32, 4, 3}}, gpu.driver->arch());
  const std::vector<Shape> shapes = {{2, 1024, 1024}, {1, 2048, 2048}};
  MeasureContext ctx;
  ctx.gpu = gpu.driver;
  ctx.timer = gpu.timer.get();
  const Selection s = measure_task(tasks[0], shapes, ctx);
  INFO(s.reason);
  REQUIRE(s.chosen >= 0);
  for (const Candidate& c : tasks[0].candidates) {
    INFO(tile_name(c.tile));
    REQUIRE(c.checks.size() == 1);
    CHECK(c.checks[0].status == CheckOutcome::Status::pass);
    CHECK(c.fully_timed(1, shapes.size()));
    CHECK(c.score > 0);
  }
  CHECK(tasks[0].candidates[0].score == 1.0);
  CHECK(tasks[0].candidates[s.chosen].chosen);
  // The interleaved comparison of the two.
  const std::vector<ShapeComparison> rows =
      compare_tiles(tasks[0], shapes, tasks[0].candidates[0].tile, tasks[0].candidates[1].tile, ctx, 2);
  REQUIRE(rows.size() == shapes.size());
  for (const ShapeComparison& r : rows) {
    CHECK(r.error == "");
    CHECK(r.a_ms > 0);
    CHECK(r.b_ms > 0);
  }
  // A tile against itself: both sides timed (whether within 1% depends on the GPU's noise).
  const std::vector<ShapeComparison> self = compare_tiles(
      tasks[0], {shapes[0]}, tasks[0].candidates[0].tile, tasks[0].candidates[0].tile, ctx, 3);
  REQUIRE(self.size() == 1);
  CHECK(self[0].error == "");
  INFO(self[0].a_ms << " vs " << self[0].b_ms);
  CHECK(self[0].b_ms < 1.5 * self[0].a_ms);
}

TEST_CASE("a paged_decode task also tries fixed split counts", "[tune][gpu]") {
  SKIP_WITHOUT_COMPILER();
  Gpu gpu = open();
  const ir::Variant v = variant(kDecode);
  std::vector<Task> tasks = compiled_task(
      TuneKind::paged_decode, v, {TileConfig{16, 16, 4, 2}, TileConfig{16, 32, 2, 3}},
      gpu.driver->arch());
  const std::vector<Shape> shapes = {{4, 1, 4096}, {32, 1, 1024}};
  MeasureContext ctx;
  ctx.gpu = gpu.driver;
  ctx.timer = gpu.timer.get();
  const Selection s = measure_task(tasks[0], shapes, ctx);
  INFO(s.reason);
  REQUIRE(s.chosen >= 0);
  const std::vector<Candidate>& c = tasks[0].candidates;
  REQUIRE(c.size() == 2 + decode_split_counts().size());
  for (const Candidate& x : c) {
    INFO(tile_name(x.tile));
    REQUIRE(x.checks.size() == 1);
    CHECK(x.checks[0].status == CheckOutcome::Status::pass);
    CHECK(x.fully_timed(1, shapes.size()));
  }
  for (size_t i = 2; i < c.size(); ++i) CHECK(c[i].tile.num_splits == decode_split_counts()[i - 2]);
}

TEST_CASE("paged timing inputs cover every layout and cache format", "[tune][gpu]") {
  SKIP_WITHOUT_COMPILER();
  Gpu gpu = open();
  Engine engine;
  for (const char* kv : {"bf16", "fp8_e4m3 per_tensor", "fp8_e4m3 per_token_head", "int8 per_token_head"})
    for (const char* layout : {"NHD", "HND"}) {
      INFO(kv << " " << layout);
      const ir::Variant v = variant(fmt::format(
          "variant p {{ heads = 8 / 2; head_dim = 128; q = bf16; kv = {}; out = bf16;"
          " kv_cache = paged(page_size = 32, layout = {}); mask = causal; sinks = per_head; }}",
          kv, layout));
      TimingInputs inputs(gpu.driver, v, TuneKind::paged, Shape{3, 40, 500}, 11);
      const Measured m = gpu.timer->time([&](int run) { inputs.launch(engine, v, run); });
      CHECK(m.median_ms > 0);
    }
}
