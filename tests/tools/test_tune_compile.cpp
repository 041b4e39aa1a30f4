// The tuner's CPU half that needs NVRTC: compiling candidates through the cache, the
// registers and stack read from their CUBINs, the pruning of spilling tiles, and the
// timing kernel (which must compile cleanly although only a GPU runs it).
#include <algorithm>

#include "catch.h"
#include "compiler/backend/nvrtc_compiler.h"
#include "compiler/target/target.h"
#include "runtime/api/engine.h"
#include "runtime/cache/binary_target.h"
#include "runtime/plan/launch_plan.h"
#include "tools/tune/compile_candidates.h"
#include "tools/tune/cubin_resources.h"
#include "tools/tune/gpu_timer.h"
#include "tools/tune/plan.h"
#include "tune_test_support.h"

using namespace attnjit;
using namespace attnjit::tune;

namespace {

std::shared_ptr<NvrtcCompiler> nvrtc() {
  auto opened = NvrtcCompiler::open();
  if (!opened.ok()) FAIL("NVRTC is required but could not be opened: " << opened.error());
  return *opened;
}

// A task for `variants` with exactly `tiles` as candidates (the first the baseline).
Task task_with(TuneKind kind, std::vector<ir::Variant> variants, std::vector<TileConfig> tiles) {
  Task t;
  t.kind = kind;
  t.variants = std::move(variants);
  t.baseline = tiles.front();
  for (size_t i = 0; i < tiles.size(); ++i) {
    Candidate c;
    c.tile = tiles[i];
    c.baseline = i == 0;
    c.pruned = static_prune_reason(t, c.tile, "sm_90");
    t.candidates.push_back(c);
  }
  return t;
}

const char* kLlama = R"(variant llama { heads = 32 / 8; head_dim = 128; q = bf16; kv = bf16;
  out = bf16; kv_cache = contiguous; mask = causal; })";

}  // namespace

TEST_CASE("registers and stack come out of a compiled CUBIN", "[tune][nvrtc]") {
  nvrtc();
  const ir::Variant v = attnjit::testing::variants_from(kLlama)[0];
  EngineOptions options;
  options.tile_override = TileConfig{128, 64, 8, 2};
  Engine engine(options);
  auto spec = engine.make_spec(v, KernelKind::prefill, "sm_90");
  REQUIRE(spec.ok());
  auto compiled = engine.compile(*spec);
  REQUIRE(compiled.ok());
  const Artifact& a = compiled->lookup.artifact;
  auto r = read_cubin_resources(a.binary, a.entry);
  REQUIRE(r.ok());
  CHECK(r->registers > 32);
  CHECK(r->registers <= 255);
  CHECK(r->stack_bytes >= 0);
  // What is not there is an error, never a guess or a read past the end.
  CHECK(read_cubin_resources(a.binary, "no_such_kernel").error().find("no symbol") != std::string::npos);
  for (size_t cut : {size_t(0), size_t(10), size_t(64), a.binary.size() / 2})
    CHECK_FALSE(read_cubin_resources(std::string_view(a.binary).substr(0, cut), a.entry).ok());
  std::string garbage = a.binary;
  for (size_t i = 0x28; i < 0x30; ++i) garbage[i] = '\xff';  // section table offset
  CHECK_FALSE(read_cubin_resources(garbage, a.entry).ok());
}

TEST_CASE("candidates compile in parallel and spilling ones are pruned", "[tune][nvrtc]") {
  nvrtc();
  const ir::Variant v = attnjit::testing::variants_from(kLlama)[0];
  // 32 rows per warp with 128-key tiles at head_dim 128 spills hundreds of bytes per
  // thread (NVRTC 13.0); the baseline is kept whatever it spills.
  std::vector<Task> tasks = {task_with(TuneKind::prefill, {v},
                                       {TileConfig{128, 128, 4, 2}, TileConfig{64, 64, 4, 2},
                                        TileConfig{128, 128, 4, 2, 0, 0}, TileConfig{256, 128, 8, 3}})};
  // The third repeats the baseline's tile: the same kernel, compiled once (cache).
  tasks[0].candidates[2].baseline = false;
  REQUIRE(tasks[0].candidates[3].pruned.find("shared memory") != std::string::npos);
  CHECK(kernels_to_compile(tasks[0]) == 3);
  CompileSettings settings;
  settings.arch = "sm_90";
  settings.jobs = 2;
  std::vector<std::string> lines;
  settings.progress = [&](const std::string& line) { lines.push_back(line); };
  compile_candidates(tasks, settings);
  const Task& t = tasks[0];
  for (size_t i = 0; i < 3; ++i) {
    INFO(tile_name(t.candidates[i].tile));
    REQUIRE(t.candidates[i].builds.size() == 1);
    const KernelBuild& b = t.candidates[i].builds[0];
    CHECK(b.status == KernelBuild::Status::ok);
    CHECK(b.registers > 0);
    CHECK(b.stack_bytes >= 0);
    const bool spills = b.stack_bytes > kMaxStackBytes;
    CHECK(t.candidates[i].pruned.empty() == (t.candidates[i].baseline || !spills));
  }
  CHECK(t.candidates[0].builds[0].stack_bytes > kMaxStackBytes);
  CHECK(t.candidates[0].pruned.empty());
  CHECK(t.candidates[2].pruned.rfind("spills: ", 0) == 0);
  CHECK(t.candidates[1].pruned.empty());
  // Statically pruned candidates are not compiled.
  CHECK(t.candidates[3].builds[0].status == KernelBuild::Status::not_run);
  CHECK(!lines.empty());
  CHECK(lines.back().find("compiled 3/3 (0 failed)") == 0);
}

TEST_CASE("a paged candidate builds every split kernel its launches can use", "[tune][nvrtc]") {
  nvrtc();
  const ir::Variant v = attnjit::testing::variants_from(
      R"(variant p { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;
         kv_cache = paged(page_size = 16); mask = causal; })")[0];
  std::vector<Task> tasks = {task_with(TuneKind::paged_decode, {v}, {TileConfig{16, 16, 4, 2}})};
  CHECK(kernels_to_compile(tasks[0]) == 4);  // unsplit, segments, stream, merge
  CompileSettings settings;
  settings.arch = "sm_90";
  settings.jobs = 1;
  compile_candidates(tasks, settings);
  const KernelBuild& b = tasks[0].candidates[0].builds[0];
  CHECK(b.status == KernelBuild::Status::ok);
  CHECK(b.registers > 0);
}

TEST_CASE("a candidate builds exactly the planner's kernels for its table", "[tune][nvrtc]") {
  nvrtc();
  const ir::Variant paged = attnjit::testing::variants_from(
      R"(variant p { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;
         kv_cache = paged(page_size = 16); mask = causal; })")[0];
  const ir::Variant prefill = attnjit::testing::variants_from(kLlama)[0];
  auto sm90 = TuningTable::embedded("sm_90");
  REQUIRE(sm90.ok());
  struct Case {
    TuneKind kind;
    ir::Variant variant;
    TileConfig tile;
    std::string table;
  };
  for (const Case& c : {Case{TuneKind::paged_decode, paged, TileConfig{16, 32, 2, 2}, "paged_decode"},
                        Case{TuneKind::paged, paged, TileConfig{64, 32, 4, 2}, ""},
                        Case{TuneKind::prefill, prefill, TileConfig{128, 64, 4, 2}, ""}}) {
    INFO(tune_kind_name(c.kind));
    std::vector<Task> tasks = {task_with(c.kind, {c.variant}, {c.tile})};
    CompileSettings settings;
    settings.arch = "sm_90";
    compile_candidates(tasks, settings);
    const KernelBuild& b = tasks[0].candidates[0].builds[0];
    REQUIRE(b.status == KernelBuild::Status::ok);
    // The planner's roles for the table, in its order, with the candidate's tile ...
    std::vector<std::string> expected;
    for (const KernelRole& role : table_roles(kernel_kind(c.kind), c.table))
      expected.push_back(
          spec_for(c.variant, "sm_90", role, role.kind == KernelKind::merge ? kRowKernelTile : c.tile)
              .uri());
    CHECK(b.kernels == expected);
    // ... each one the ahead-of-time list names for a config with that tile.
    auto listed = kernels_a_variant_can_need(
        c.variant, "sm_90", table_tiles(c.variant, "sm_90", *sm90, c.tile));
    REQUIRE(listed.ok());
    for (const std::string& uri : b.kernels) {
      INFO(uri);
      CHECK(std::any_of(listed->begin(), listed->end(),
                        [&](const KernelSpec& s) { return s.uri() == uri; }));
    }
  }
}

TEST_CASE("compiles past the deadline are skipped, not run", "[tune][nvrtc]") {
  const ir::Variant v = attnjit::testing::variants_from(kLlama)[0];
  std::vector<Task> tasks = {task_with(TuneKind::prefill, {v}, {TileConfig{128, 64, 4, 2}})};
  CompileSettings settings;
  settings.arch = "sm_90";
  settings.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  compile_candidates(tasks, settings);
  CHECK(tasks[0].candidates[0].builds[0].status == KernelBuild::Status::not_run);
  CHECK(tasks[0].candidates[0].pruned.find("budget") != std::string::npos);
}

TEST_CASE("the timing kernel compiles without warnings for every CUDA target", "[tune][nvrtc]") {
  nvrtc();
  Engine engine;
  for (const Target& target : all_targets()) {
    if (target.vendor != Vendor::cuda) continue;
    const std::string arch(target.name);
    INFO(arch);
    // Through the engine's backend, as GpuTimer::create builds it.
    auto compiled = build_delay_kernel(engine, target);
    REQUIRE(compiled.ok());
    CHECK(compiled->warnings().empty());
    CHECK(binary_target_mismatch(BinaryFormat::cubin, compiled->binary, arch,
                                 delay_kernel_source().entry) == "");
  }
}
