// The Hopper prefill kernel (sm_90a: wgmma fed by tensor-memory copies, the engine's
// default on a 9.0 device; EngineOptions::hopper) against the float64 CPU reference, with the harness of
// test_prefill_gpu.cpp: its random problem set at the head dims the kernel takes, then
// the cases the kernel's structure makes risky (lengths that are not tile multiples,
// seqlen 1, ragged batches of many short sequences, q_len < kv_len, long causal
// sequences, every tile the rules allow, every hook). Each problem asserts that the
// Hopper kernel ran it (Engine::last_prefill_mainloop()). On a device other than
// compute capability 9.0 every case prints why and passes without running.
#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "runtime/harness/prefill_problem.h"

namespace {

using namespace attnjit;

// Why the Hopper kernel cannot run here ("" when it can).
std::string why_no_hopper() {
  auto driver = cuda::Driver::open();
  if (!driver) return driver.error();
  const ComputeCapability cc = (*driver)->capability();
  if (cc.major != 9 || cc.minor != 0)
    return fmt::format("the sm_90a kernel needs compute capability 9.0; {} is {}.{}", (*driver)->device_name(),
                       cc.major, cc.minor);
  return "";
}

#define SKIP_WITHOUT_HOPPER()                                            \
  do {                                                                   \
    const std::string why = why_no_hopper();                             \
    if (!why.empty()) {                                                  \
      std::printf("SKIPPED (%s): %s\n", Catch::getResultCapture().getCurrentTestName().c_str(), why.c_str()); \
      return;                                                            \
    }                                                                    \
  } while (false)

Engine& hopper_engine() {
  static Engine engine([] {
    EngineOptions options;
    options.hopper = true;
    return options;
  }());
  return engine;
}

ir::Variant variant_from(const std::string& text) {
  auto module = compile_variants(SourceFile{"<hopper gpu test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<hopper gpu test>", text}));
  return module->variants.at(0);
}

ir::Variant make_variant(int q_heads, int kv_heads, int head_dim, const char* type, const std::string& features) {
  return variant_from(fmt::format("variant case {{ heads = {} / {}; head_dim = {}; q = {}; kv = {}; out = {};\n"
                                  "  kv_cache = contiguous; {} }}\n",
                                  q_heads, kv_heads, head_dim, type, type, type, features));
}

std::string describe_shape(const harness::ProblemShape& s) {
  if (s.seqlens_q.empty()) return fmt::format("batch {} q {} k {}", s.batch, s.seqlen_q, s.seqlen_k);
  std::string lens = fmt::format("ragged x{}", s.seqlens_q.size());
  for (size_t i = 0; i < s.seqlens_q.size() && i < 6; ++i) lens += fmt::format(" {}/{}", s.seqlens_q[i], s.seqlens_k[i]);
  return lens;
}

int g_cases = 0;
double g_worst_ratio = 0, g_worst_l2_ratio = 0;

// Runs one problem; `mainloop` is the kernel that must have run it.
void check_problem(Engine& engine, const std::string& name, const ir::Variant& v, const harness::ProblemShape& shape,
                   uint64_t seed, Mainloop mainloop = Mainloop::wgmma) {
  harness::HostProblem problem = harness::make_random_problem(v, shape, seed);
  harness::CheckResult r = harness::run_and_check(engine, v, problem);
  ++g_cases;
  g_worst_ratio = std::max(g_worst_ratio, r.worst_ratio);
  g_worst_l2_ratio = std::max(g_worst_l2_ratio, r.rel_l2 / r.rel_l2_bound);
  const std::string label = name + " " + describe_shape(shape);
  std::printf("  %-78s %-6s %s\n", label.c_str(), mainloop_name(engine.last_prefill_mainloop()),
              r.summary().c_str());
  INFO(label << ": " << r.summary());
  CHECK(engine.last_prefill_mainloop() == mainloop);
  CHECK(r.passed);
}

int pick(std::mt19937_64& rng, std::initializer_list<int> options) { return options.begin()[rng() % options.size()]; }

}  // namespace

TEST_CASE("Hopper prefill matches the reference on the prefill problem set", "[gpu][hopper]") {
  SKIP_WITHOUT_HOPPER();
  std::mt19937_64 rng(20261121);  // test_prefill_gpu.cpp's draws, at the Hopper head dims
  Engine& engine = hopper_engine();
  for (int head_dim : {64, 128, 256}) {
    for (int variant = 0; variant < 8; ++variant) {
      const char* type = variant % 2 ? "fp16" : "bf16";
      const bool causal = (variant / 2) % 2 == 1;
      const bool lse = variant % 3 == 0;
      const int group = pick(rng, {1, 2, 4, 8});
      const int kv_heads = pick(rng, {1, 2});
      harness::ProblemShape shape;
      if (variant >= 6) {
        const int batch = pick(rng, {2, 3, 4});
        for (int b = 0; b < batch; ++b) {
          int q = 1 + static_cast<int>(rng() % 300);
          if (b == 0) q = 1;
          const int k = q + static_cast<int>(rng() % 2 ? rng() % 200 : 0);
          shape.seqlens_q.push_back(q);
          shape.seqlens_k.push_back(k);
        }
        shape.batch = batch;
      } else {
        shape.batch = pick(rng, {1, 2});
        shape.seqlen_q = pick(rng, {1, 17, 64, 128, 129, 200, 257});
        shape.seqlen_k = shape.seqlen_q + pick(rng, {0, 0, 1, 63, 190});
      }
      const std::string features = fmt::format("lse = {}; {}", lse ? "true" : "false", causal ? "mask = causal;" : "");
      check_problem(engine,
                    fmt::format("{} h{}x{} d{} {}{}", type, kv_heads * group, kv_heads, head_dim,
                                causal ? "causal" : "bidir", lse ? " lse" : ""),
                    make_variant(kv_heads * group, kv_heads, head_dim, type, features), shape, rng());
    }
  }
}

TEST_CASE("Hopper prefill: lengths, ragged batches and long sequences", "[gpu][hopper]") {
  SKIP_WITHOUT_HOPPER();
  Engine& engine = hopper_engine();
  std::mt19937_64 rng(90);
  for (int head_dim : {64, 128, 256}) {
    for (bool causal : {false, true}) {
      const ir::Variant v = make_variant(8, 2, head_dim, "bf16", causal ? "lse = true; mask = causal;" : "lse = true;");
      const std::string name = fmt::format("bf16 h8x2 d{} {}", head_dim, causal ? "causal" : "bidir");
      // Not multiples of BLOCK_M (128) or BLOCK_N; one row; one key past a tile.
      for (auto [q, k] : {std::pair{1, 1}, {1, 300}, {127, 127}, {129, 129}, {130, 257}, {64, 1000}})
        check_problem(engine, name, v, harness::ProblemShape::fixed(2, q, k), rng());
      // More KV tiles than the ring has stages, more query tiles than one wave.
      check_problem(engine, name, v, harness::ProblemShape::fixed(1, 1500, 1700), rng());
      // Many short sequences (one tile each, mostly partial), and q_len < kv_len.
      std::vector<int> qs, ks;
      for (int i = 0; i < 40; ++i) {
        qs.push_back(1 + static_cast<int>(rng() % 40));
        ks.push_back(qs.back() + static_cast<int>(rng() % 70));
      }
      check_problem(engine, name, v, harness::ProblemShape::ragged(qs, ks), rng());
    }
  }
  // A whole causal sequence of 4096: most tiles full, the diagonal ones partial.
  check_problem(engine, "fp16 h4x1 d128 causal", make_variant(4, 1, 128, "fp16", "mask = causal;"),
                harness::ProblemShape::fixed(1, 4096, 4096), rng());
}

TEST_CASE("Hopper prefill: every hook of the shared pieces", "[gpu][hopper]") {
  SKIP_WITHOUT_HOPPER();
  Engine& engine = hopper_engine();
  std::mt19937_64 rng(91);
  const char* features[] = {
      "mask = causal && window(200);",
      "param cap : f32 = 30.0; score = softcap(cap); mask = causal;",
      "input slope : f32[q_heads]; score = alibi(slope); mask = causal;",
      "sinks = per_head; lse = true; mask = causal;",
      "bidirectional_ranges = per_seq; mask = causal;",
      "score = score * 0.5 + kv_pos * 0.001; mask = kv_pos % 3 != 1;",
      "lse = true; mask = q_pos - kv_pos < 300 && kv_pos <= q_pos + 5;",
  };
  for (int head_dim : {64, 128}) {
    for (const char* f : features) {
      const ir::Variant v = make_variant(8, 2, head_dim, head_dim == 64 ? "fp16" : "bf16", f);
      check_problem(engine, fmt::format("d{} {}", head_dim, f), v, harness::ProblemShape::fixed(2, 333, 555), rng());
      check_problem(engine, fmt::format("d{} {}", head_dim, f), v,
                    harness::ProblemShape::ragged({1, 200, 77}, {90, 200, 300}), rng());
    }
  }
  // f32 and fp8 outputs are written straight from the accumulators, 16-bit ones staged.
  for (const char* out : {"f32", "fp8_e4m3"}) {
    const ir::Variant v = variant_from(fmt::format(
        "variant o {{ heads = 4 / 4; head_dim = 128; q = bf16; kv = bf16; out = {}; kv_cache = contiguous; "
        "mask = causal; }}",
        out));
    check_problem(engine, fmt::format("out {}", out), v, harness::ProblemShape::fixed(1, 300, 300), rng());
  }
}

TEST_CASE("Hopper prefill: every tile the rules allow", "[gpu][hopper]") {
  SKIP_WITHOUT_HOPPER();
  std::mt19937_64 rng(92);
  for (int head_dim : {64, 128, 256}) {
    for (int block_n : kHopperBlockNs) {
      for (int stages : {2, 3, 4}) {
        const TileConfig tile{128, block_n, hopper_warps(128), stages};
        if (!hopper_tile_problem(tile, head_dim, find_target("sm_90a")->max_shared_bytes).empty()) continue;
        EngineOptions options;
        options.hopper = true;
        options.hopper_tile = tile;
        Engine engine(options);
        for (bool causal : {false, true})
          check_problem(engine, fmt::format("d{} tile n{} s{}{}", head_dim, block_n, stages, causal ? " causal" : ""),
                        make_variant(4, 2, head_dim, "bf16", causal ? "mask = causal;" : ""),
                        harness::ProblemShape::fixed(2, 300, 700), rng());
      }
    }
  }
}

namespace {

// `tile` with the schedule switches of bit mask `mask` (bit i: hopper_schedule_switches()[i]).
TileConfig with_switches(TileConfig tile, int mask) {
  const auto& switches = hopper_schedule_switches();
  for (size_t i = 0; i < switches.size(); ++i) tile.*switches[i].member = (mask >> i) & 1;
  return tile;
}

// configs/sm_90a.json's tile for `head_dim` with the switches of `mask`.
TileConfig scheduled_tile(const ir::Variant& v, int mask) {
  auto table = TuningTable::embedded("sm_90a", Mainloop::wgmma);
  REQUIRE(table.ok());
  auto spec = choose_wgmma_prefill(v, &*table, std::nullopt);
  REQUIRE(spec.ok());
  REQUIRE(spec->has_value());
  return with_switches((*spec)->tile, mask);
}

std::string schedule_name(const TileConfig& tile) {
  const std::string tag = hopper_schedule_tag(tile);
  return tag.empty() ? "serial" : tag.substr(1);
}

}  // namespace

// Three consumer warpgroups (BLOCK_M 192, 16 warps): the turns' cycle of three, the
// staging of a third warpgroup's rows, and warpgroups idle in a sequence's last tile
// (rows_valid <= 64 or <= 128 of 192), on every schedule that changes their paths.
TEST_CASE("Hopper prefill: three consumer warpgroups", "[gpu][hopper][three]") {
  SKIP_WITHOUT_HOPPER();
  std::mt19937_64 rng(97);
  struct Case {
    int head_dim, block_n, stages;
  };
  for (Case c : {Case{64, 128, 3}, Case{64, 64, 3}, Case{128, 64, 2}}) {
    for (int mask : {0, 3, 7}) {
      for (bool causal : {false, true}) {
        const ir::Variant v =
            make_variant(8, 2, c.head_dim, mask % 2 ? "fp16" : "bf16", causal ? "lse = true; mask = causal;" : "lse = true;");
        const TileConfig tile = with_switches(TileConfig{192, c.block_n, hopper_warps(192), c.stages}, mask);
        REQUIRE(hopper_tile_problem(tile, c.head_dim, find_target("sm_90a")->max_shared_bytes) == "");
        EngineOptions options;
        options.hopper = true;
        options.hopper_tile = tile;
        Engine engine(options);
        const std::string name = fmt::format("m192 n{} s{} d{} {} {}", c.block_n, c.stages, c.head_dim,
                                             causal ? "causal" : "bidir", schedule_name(tile));
        for (auto [batch, q, k] : {std::tuple{2, 1, 1}, {1, 64, 300}, {2, 129, 129}, {1, 193, 257}, {1, 500, 700},
                                   {30, 200, 210}})
          check_problem(engine, name, v, harness::ProblemShape::fixed(batch, q, k), rng());
        std::vector<int> qs, ks;
        for (int i = 0; i < 60; ++i) {
          const int len = i % 13 == 5 ? 0 : 1 + static_cast<int>(rng() % 250);
          qs.push_back(len);
          ks.push_back(len + static_cast<int>(rng() % 2 ? rng() % 90 : 0));
        }
        check_problem(engine, name, v, harness::ProblemShape::ragged(qs, ks), rng());
        CHECK(engine.last_prefill_mainloop() == Mainloop::wgmma);
      }
    }
  }
}

// Masks under which a block's consumers see different KV tiles (each computes the
// block's tiles, masked per row): causal diagonals under 64-key tiles, windows' edges
// (two-sided too), bidirectional ranges, q_len < kv_len, and consumers whose rows all
// lie past a sequence's end; on every schedule, with two consumers and three.
TEST_CASE("Hopper prefill: masks whose tiles differ between a block's consumers", "[gpu][hopper][own]") {
  SKIP_WITHOUT_HOPPER();
  std::mt19937_64 rng(98);
  struct Case {
    int block_m, block_n, stages;
  };
  const char* masks[] = {"mask = causal;", "mask = causal && window(200);", "mask = window(70, 40);",
                         "bidirectional_ranges = per_seq; mask = causal;"};
  for (Case c : {Case{128, 64, 2}, Case{192, 64, 2}, Case{192, 128, 2}}) {
    for (int mask : {0, 3, 7}) {
      for (const char* features : masks) {
        const ir::Variant v =
            make_variant(4, 2, 64, mask % 2 ? "fp16" : "bf16", std::string("lse = true; ") + features);
        const TileConfig tile =
            with_switches(TileConfig{c.block_m, c.block_n, hopper_warps(c.block_m), c.stages}, mask);
        REQUIRE(hopper_tile_problem(tile, 64, find_target("sm_90a")->max_shared_bytes) == "");
        EngineOptions options;
        options.hopper = true;
        options.hopper_tile = tile;
        Engine engine(options);
        const std::string name = fmt::format("m{} n{} {} {}", c.block_m, c.block_n, features, schedule_name(tile));
        for (auto [batch, q, k] : {std::tuple{1, 1, 1}, {2, 70, 70}, {1, 200, 520}, {2, 450, 450}, {1, 1100, 1100}})
          check_problem(engine, name, v, harness::ProblemShape::fixed(batch, q, k), rng());  // random ranges
        std::vector<int> qs, ks;
        for (int i = 0; i < 40; ++i) {
          qs.push_back(1 + static_cast<int>(rng() % 300));
          ks.push_back(qs.back() + static_cast<int>(rng() % 2 ? rng() % 90 : 0));
        }
        check_problem(engine, name, v, harness::ProblemShape::ragged(qs, ks), rng());
        CHECK(engine.last_prefill_mainloop() == Mainloop::wgmma);
      }
    }
  }
}

// Each schedule (filter with e.g. "[schedule]") on the shapes its structure makes
// risky: the overlapped loop's first and last tiles (one KV tile, two, more than the
// ring's stages), ping-pong turns that must stay paired through empty and full tiles,
// and a persistent grid with more work tiles than resident blocks, Q reloaded per tile
// and ragged slots left empty (zero-length sequences, many short ones, a long one).
TEST_CASE("Hopper prefill: every schedule of the main loop", "[gpu][hopper][schedule]") {
  SKIP_WITHOUT_HOPPER();
  std::mt19937_64 rng(94);
  for (int head_dim : {64, 128, 256}) {
    for (int mask = 0; mask < 8; ++mask) {
      for (bool causal : {false, true}) {
        const char* type = mask % 2 ? "fp16" : "bf16";
        const ir::Variant v =
            make_variant(8, 2, head_dim, type, causal ? "lse = true; mask = causal;" : "lse = true;");
        EngineOptions options;
        options.hopper = true;
        options.hopper_tile = scheduled_tile(v, mask);
        Engine engine(options);
        const std::string name = fmt::format("{} h8x2 d{} {} {}", type, head_dim, causal ? "causal" : "bidir",
                                             schedule_name(*options.hopper_tile));
        for (auto [batch, q, k] : {std::tuple{2, 1, 1}, {1, 1, 300}, {2, 129, 129}, {1, 130, 257}, {1, 500, 700}})
          check_problem(engine, name, v, harness::ProblemShape::fixed(batch, q, k), rng());
        // 40 x 2 query tiles x 8 heads: several work tiles per resident block.
        check_problem(engine, name, v, harness::ProblemShape::fixed(40, 130, 150), rng());
        // Many short sequences (some empty, some of one row), q_len <= kv_len.
        std::vector<int> qs, ks;
        for (int i = 0; i < 150; ++i) {
          const int len = i % 17 == 3 ? 0 : 1 + static_cast<int>(rng() % 60);
          qs.push_back(len);
          ks.push_back(len + static_cast<int>(rng() % 3 == 0 ? rng() % 70 : 0));
        }
        check_problem(engine, name, v, harness::ProblemShape::ragged(qs, ks), rng());
        // A long sequence among short and empty ones: its slots and theirs.
        check_problem(engine, name, v, harness::ProblemShape::ragged({3, 0, 700, 1, 129}, {3, 0, 900, 40, 129}),
                      rng());
      }
    }
  }
  // The hooks that read positions and per-sequence values, on the most changed schedule.
  const char* features[] = {
      "mask = causal && window(200);",
      "param cap : f32 = 30.0; score = softcap(cap); mask = causal;",
      "sinks = per_head; lse = true; mask = causal;",
      "bidirectional_ranges = per_seq; mask = causal;",
  };
  for (const char* f : features) {
    const ir::Variant v = make_variant(8, 2, 128, "bf16", f);
    EngineOptions options;
    options.hopper = true;
    options.hopper_tile = scheduled_tile(v, 7);
    Engine engine(options);
    check_problem(engine, fmt::format("d128 all switches {}", f), v, harness::ProblemShape::fixed(3, 333, 555), rng());
    check_problem(engine, fmt::format("d128 all switches {}", f), v,
                  harness::ProblemShape::ragged({1, 200, 0, 77}, {90, 200, 5, 300}), rng());
  }
  // f32 and fp8 outputs skip the staging through Q's space but still release it.
  for (const char* out : {"f32", "fp8_e4m3"}) {
    const ir::Variant v = variant_from(fmt::format(
        "variant o {{ heads = 4 / 4; head_dim = 128; q = bf16; kv = bf16; out = {}; kv_cache = contiguous; "
        "mask = causal; }}",
        out));
    EngineOptions options;
    options.hopper = true;
    options.hopper_tile = scheduled_tile(v, 7);
    Engine engine(options);
    check_problem(engine, fmt::format("out {} all switches", out), v, harness::ProblemShape::fixed(20, 300, 300),
                  rng());
  }
}

namespace {

// Runs `problem` (of a variant without runtime values or LSE) with the kernel's tile
// counters on: the KV tiles visited, and of them those full for consumer 0.
std::array<int, 2> run_counting_tiles(Engine& engine, const ir::Variant& v, const harness::HostProblem& problem) {
  std::shared_ptr<cuda::Driver> gpu = engine.driver();
  gpu->make_current();
  std::vector<cuda::DeviceBuffer> buffers;
  buffers.reserve(8);
  auto on_device = [&](const harness::HostTensor& t) {
    TensorView view = t.view();
    buffers.emplace_back(gpu, std::max<size_t>(t.bytes.size(), 1));
    if (!t.bytes.empty()) buffers.back().upload(t.bytes.data(), t.bytes.size());
    view.data = buffers.back().data();
    view.device = DeviceKind::cuda;
    return view;
  };
  PrefillArgs args = problem.host_args();
  args.q = on_device(problem.q);
  args.k = on_device(problem.k);
  args.v = on_device(problem.v);
  args.out = on_device(problem.out);
  if (problem.ragged) {
    args.cu_seqlens_q = on_device(problem.cu_seqlens_q);
    args.cu_seqlens_k = on_device(problem.cu_seqlens_k);
  }
  cuda::DeviceBuffer counts(gpu, 2 * sizeof(int));
  counts.fill_bytes(0);
  args.debug_tile_counts = static_cast<int*>(counts.data());
  engine.prefill(v, args, nullptr);
  cuda::synchronize(*gpu);
  std::array<int, 2> host{};
  counts.download(host.data(), sizeof(int) * host.size());
  return host;
}

}  // namespace

// The persistent grid visits the KV tiles the one-block-per-tile grid does: its tile
// order covers each work tile once (a tile visited twice or never would change the counts).
TEST_CASE("Hopper prefill: the persistent grid visits each work tile once", "[gpu][hopper][schedule]") {
  SKIP_WITHOUT_HOPPER();
  const ir::Variant v = make_variant(8, 2, 128, "bf16", "mask = causal;");
  std::mt19937_64 rng(95);
  std::vector<int> qs, ks;
  for (int i = 0; i < 60; ++i) {
    qs.push_back(static_cast<int>(rng() % 400));
    ks.push_back(qs.back() + static_cast<int>(rng() % 100) + 1);
  }
  for (const harness::ProblemShape& shape :
       {harness::ProblemShape::fixed(6, 1000, 1200), harness::ProblemShape::ragged(qs, ks)}) {
    const harness::HostProblem problem = harness::make_random_problem(v, shape, 96);
    std::array<int, 2> counts[2];
    for (int persistent = 0; persistent < 2; ++persistent) {
      EngineOptions options;
      options.hopper = true;
      options.hopper_tile = scheduled_tile(v, persistent ? 4 : 0);
      Engine engine(options);
      counts[persistent] = run_counting_tiles(engine, v, problem);
      CHECK(engine.last_prefill_mainloop() == Mainloop::wgmma);
    }
    INFO(describe_shape(shape));
    CHECK(counts[0][0] > 0);
    CHECK(counts[0][1] > 0);
    CHECK(counts[1] == counts[0]);
  }
}

TEST_CASE("Hopper prefill leaves what it cannot run to the mma.sync kernel", "[gpu][hopper]") {
  SKIP_WITHOUT_HOPPER();
  Engine& engine = hopper_engine();
  std::mt19937_64 rng(93);
  // Head dim 96 has no wgmma kernel: the call takes the mma.sync one.
  check_problem(engine, "d96", make_variant(4, 2, 96, "bf16", "mask = causal;"),
                harness::ProblemShape::fixed(1, 200, 200), rng(), Mainloop::mma_sync);
  // Off by default: the same problem as the Hopper tests, on the mma.sync kernel.
  Engine plain([] {
    EngineOptions options;
    options.hopper = false;
    return options;
  }());
  check_problem(plain, "d128 (Hopper off)", make_variant(4, 2, 128, "bf16", "mask = causal;"),
                harness::ProblemShape::fixed(1, 200, 200), rng(), Mainloop::mma_sync);
}

TEST_CASE("Hopper GPU test summary", "[gpu][hopper][summary]") {
  std::printf("Hopper prefill cases run: %d; worst element at %.3g of its bound, worst rel_l2 at %.3g of its bound\n",
              g_cases, g_worst_ratio, g_worst_l2_ratio);
  SUCCEED();
}
