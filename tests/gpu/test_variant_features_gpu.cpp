// Variant features against the float64 CPU reference on the GPU: score transforms
// (soft-capping, ALiBi, square-root ALiBi), windows, sinks, bidirectional ranges,
// unanalyzable masks, f32 inputs, fully masked rows; and the KV tiles the kernel
// visits for causal, window and causal+window masks. Each problem runs on the mma.sync
// kernel and, on a compute capability 9.0 device where the variant allows, on the Hopper
// wgmma kernel as well (prefill_mainloops.h), against one reference.
#include <cstdio>
#include <random>
#include <string>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "prefill_mainloops.h"
#include "runtime/harness/prefill_problem.h"

namespace {

using namespace attnjit;

ir::Variant parse_one(const std::string& text) {
  auto module = compile_variants(SourceFile{"<gpu test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<gpu test>", text}));
  return module->variants.at(0);
}

int g_cases = 0;
// The closest any problem came to failing: its worst element against that element's
// bound (passes at <= 1).
double g_worst = 0;

void check(const std::string& name, const ir::Variant& v, const harness::ProblemShape& shape,
           uint64_t seed) {
  harness::HostProblem problem = harness::make_random_problem(v, shape, seed);
  const ReferenceResult ref = harness::compute_reference(v, problem);
  for (const testing::PrefillMainloop& m : testing::prefill_mainloops(v)) {
    harness::run_on_device(*m.engine, v, problem);
    harness::CheckResult r = harness::compare_with_reference(v, problem, ref);
    ++g_cases;
    g_worst = std::max(g_worst, r.worst_ratio);
    std::printf("  %-58s %-8s %s\n", name.c_str(), mainloop_name(m.engine->last_prefill_mainloop()),
                r.summary().c_str());
    INFO(name << " on " << mainloop_name(m.expected) << ": " << r.summary());
    CHECK(m.engine->last_prefill_mainloop() == m.expected);
    CHECK(r.passed);
  }
}

using Shape = harness::ProblemShape;

const char* kIssueVariants = R"(
variant gemma2 { heads = 16 / 8; head_dim = 256; q = bf16; kv = bf16; out = bf16;
  kv_cache = contiguous; param cap : f32 = 50.0;
  score = cap * tanh(score / cap); mask = causal && q_pos - kv_pos < 4096; }
variant gpt_oss { heads = 64 / 8; head_dim = 64; q = bf16; kv = bf16; out = bf16;
  kv_cache = contiguous; sinks = per_head; mask = causal && window(127); }
variant bloom { heads = 16 / 16; head_dim = 128; q = fp16; kv = fp16; out = fp16;
  kv_cache = contiguous; input slope : f32[q_heads]; score = alibi(slope); mask = causal; }
variant encoder { heads = 12 / 12; head_dim = 64; q = f32; kv = f32; out = f32;
  kv_cache = contiguous; }
)";

}  // namespace

TEST_CASE("the issue's variants compile and match the reference", "[gpu][features]") {
  auto module = compile_variants(SourceFile{"<issue variants>", kIssueVariants});
  REQUIRE(module.ok());
  std::mt19937_64 rng(3);
  for (const ir::Variant& v : module->variants) {
    check(v.name + " fixed 2x300/300", v, Shape::fixed(2, 300, 300), rng());
    check(v.name + " q_len < kv_len 1x77/333", v, Shape::fixed(1, 77, 333), rng());
    check(v.name + " ragged", v, Shape::ragged({1, 130, 257}, {40, 130, 300}), rng());
  }
}

TEST_CASE("f32 K/V at head dims that are not a multiple of 32", "[gpu][features]") {
  // f32 K/V become tensor-core operands in registers, each lane reading a run of d/4
  // (K) or d/8 (V) elements: these head dims give runs whose loads are not 16-byte
  // aligned, and a tail of fewer than four k-steps.
  std::mt19937_64 rng(4);
  for (int dim : {48, 80, 112}) {
    ir::Variant v = parse_one(fmt::format(
        "variant f{} {{ heads = 4 / 2; head_dim = {}; q = f32; kv = f32; out = f32;"
        " kv_cache = contiguous; mask = causal; }}",
        dim, dim));
    check(fmt::format("f32 d{} ragged", dim), v, Shape::ragged({1, 70, 130}, {33, 70, 200}), rng());
  }
}

TEST_CASE("soft-capping, including saturated tanh", "[gpu][features]") {
  ir::Variant v = parse_one(
      "variant cap { heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; param cap : f32 = 30.0; score = softcap(cap); mask = causal; }");
  std::mt19937_64 rng(5);
  check("softcap 30", v, Shape::fixed(2, 200, 260), rng());
  harness::ProblemShape saturating = Shape::fixed(1, 190, 190);
  saturating.params["cap"] = 0.05f;  // |score| >> cap: tanh saturates everywhere
  check("softcap 0.05 (saturating)", v, saturating, rng());
}

TEST_CASE("ALiBi and square-root ALiBi", "[gpu][features]") {
  std::mt19937_64 rng(7);
  ir::Variant alibi = parse_one(
      "variant a { heads = 8 / 8; head_dim = 64; q = fp16; kv = fp16; out = fp16;"
      " kv_cache = contiguous; input slope : f32[q_heads]; score = alibi(slope); }");
  check("alibi bidirectional", alibi, Shape::fixed(2, 150, 150), rng());
  ir::Variant sqrt_alibi = parse_one(
      "variant s { heads = 8 / 4; head_dim = 128; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; input slope : f32[q_heads]; score = alibi_sqrt(slope);"
      " mask = causal; }");
  check("alibi_sqrt causal", sqrt_alibi, Shape::ragged({90, 1, 200}, {120, 33, 200}), rng());
  // One query head per block: the scores leave out the bias's query part, which the
  // LSE and the sinks get back.
  ir::Variant alibi_lse = parse_one(
      "variant l { heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; lse = true; sinks = per_head; input slope : f32[q_heads];"
      " score = alibi(slope); mask = causal; }");
  check("alibi causal lse sinks", alibi_lse, Shape::ragged({90, 1, 200}, {120, 33, 300}), rng());
}

TEST_CASE("sliding windows of every size against the tile", "[gpu][features]") {
  std::mt19937_64 rng(9);
  struct W {
    const char* mask;
    int q, k;
  } cases[] = {
      {"causal && window(5)", 300, 300},             // smaller than a tile
      {"causal && window(100000)", 200, 260},        // larger than the sequence
      {"causal && window(127)", 150, 500},           // with q_len < kv_len
      {"window(64, 32)", 260, 260},                  // two-sided, no causal
      {"window(0, 0)", 130, 130},                    // the diagonal only
      {"q_pos - kv_pos < 200 && kv_pos <= q_pos", 400, 400},
  };
  for (const W& w : cases) {
    ir::Variant v = parse_one(fmt::format(
        "variant w {{ heads = 4 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
        " kv_cache = contiguous; lse = true; mask = {}; }}",
        w.mask));
    check(fmt::format("{} q{} k{}", w.mask, w.q, w.k), v, Shape::fixed(1, w.q, w.k), rng());
  }
}

TEST_CASE("sinks with large magnitudes", "[gpu][features]") {
  ir::Variant v = parse_one(
      "variant s { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; lse = true; sinks = per_head; mask = causal; }");
  std::mt19937_64 rng(11);
  harness::ProblemShape shape = Shape::fixed(2, 100, 140);
  shape.sinks = {30.f, -30.f, 12.f, -8.f, 0.f, 25.f, -25.f, 3.f};
  check("sinks +-30", v, shape, rng());
  check("sinks random", v, Shape::ragged({1, 64, 129}, {1, 64, 200}), rng());
}

TEST_CASE("bidirectional ranges inside a causal sequence", "[gpu][features]") {
  ir::Variant v = parse_one(
      "variant mm { heads = 4 / 4; head_dim = 128; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; lse = true; bidirectional_ranges = per_seq; mask = causal; }");
  std::mt19937_64 rng(13);
  harness::ProblemShape shape = Shape::fixed(2, 400, 400);
  shape.bidirectional_ranges = {{{10, 90}, {200, 330}}, {{0, 0}, {0, 0}}};
  check("ranges [10,90) [200,330) and none", v, shape, rng());
  check("random ranges, ragged", v, Shape::ragged({300, 50}, {300, 120}), rng());
}

TEST_CASE("masks the analysis cannot bound visit every tile correctly", "[gpu][features]") {
  std::mt19937_64 rng(15);
  for (const char* mask : {"kv_pos % 3 != 1", "causal && kv_head == 0 || kv_pos < 10",
                           "select(q_head == 1, kv_pos <= q_pos, kv_pos >= q_pos)"}) {
    ir::Variant v = parse_one(fmt::format(
        "variant m {{ heads = 4 / 2; head_dim = 64; q = fp16; kv = fp16; out = fp16;"
        " kv_cache = contiguous; lse = true; mask = {}; }}",
        mask));
    check(mask, v, Shape::fixed(1, 180, 220), rng());
  }
}

TEST_CASE("fully masked rows give zeros and LSE -inf", "[gpu][features]") {
  // Causal with more queries than keys: the first rows sit before every key.
  ir::Variant v = parse_one(
      "variant f { heads = 2 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; lse = true; mask = causal; }");
  std::mt19937_64 rng(17);
  check("causal q 300 > kv 100", v, Shape::fixed(1, 300, 100), rng());
  ir::Variant never = parse_one(
      "variant n { heads = 2 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; lse = true; mask = kv_pos > q_pos + 1000000; }");
  check("mask never true", never, Shape::fixed(1, 70, 70), rng());
}

namespace {

struct TileCounts {
  int visited = 0, full = 0;
};

// Runs one head of one sequence and reads back the kernel's visited / full tile counts.
TileCounts count_tiles(const std::string& mask, int seqlen, TileConfig tile) {
  ir::Variant v = parse_one(fmt::format(
      "variant t {{ heads = 1 / 1; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; mask = {}; }}",
      mask));
  EngineOptions options;
  options.tile_override = tile;
  options.hopper = false;  // the counts are the mma.sync kernel's at this tile
  Engine local(options);
  auto gpu = local.driver();
  harness::HostProblem problem = harness::make_random_problem(v, Shape::fixed(1, seqlen, seqlen), 1);
  const size_t bytes = problem.q.bytes.size();
  cuda::DeviceBuffer q(gpu, bytes), k(gpu, bytes), vb(gpu, bytes), out(gpu, bytes), counts(gpu, 8);
  q.upload(problem.q.bytes.data(), bytes);
  k.upload(problem.k.bytes.data(), bytes);
  vb.upload(problem.v.bytes.data(), bytes);
  counts.fill_bytes(0);
  PrefillArgs args;
  args.q = contiguous_view(q.data(), DType::bf16, {1, seqlen, 1, 64});
  args.k = contiguous_view(k.data(), DType::bf16, {1, seqlen, 1, 64});
  args.v = contiguous_view(vb.data(), DType::bf16, {1, seqlen, 1, 64});
  args.out = contiguous_view(out.data(), DType::bf16, {1, seqlen, 1, 64});
  args.debug_tile_counts = static_cast<int*>(counts.data());
  local.prefill(v, args);
  cuda::synchronize(*gpu);
  int host[2];
  counts.download(host, sizeof(host));
  return {host[0], host[1]};
}

}  // namespace

TEST_CASE("tile skipping visits only the tiles the mask allows", "[gpu][features]") {
  const TileConfig tile{64, 64, 4, 2};  // 16 query tiles x 16 KV tiles at seqlen 1024
  // Causal: query tile i visits KV tiles 0..i, all but the diagonal one full.
  TileCounts causal = count_tiles("causal", 1024, tile);
  CHECK(causal.visited == 136);  // sum of i + 1 for i < 16
  CHECK(causal.full == 120);
  // Causal and a 128-key window (q_pos - 127 <= kv_pos <= q_pos): tile i visits
  // max(0, i - 2)..i; only tile i - 1 lies wholly inside the band.
  TileCounts window = count_tiles("causal && window(127)", 1024, tile);
  CHECK(window.visited == 1 + 2 + 14 * 3);
  CHECK(window.full == 0 + 1 + 14);
  // A two-sided window without causality: tiles i - 2 .. i + 2, clipped.
  TileCounts band = count_tiles("window(127, 127)", 1024, tile);
  CHECK(band.visited == 3 + 4 + 12 * 5 + 4 + 3);
  // No mask: every tile, all full.
  TileCounts all = count_tiles("true", 1024, tile);  // folds to "no mask"
  CHECK(all.visited == 256);
  CHECK(all.full == 256);
}

TEST_CASE("variant features summary", "[gpu][features][summary]") {
  std::printf("GPU variant-feature cases run: %d; worst element at %.3g of its bound\n", g_cases,
              g_worst);
  SUCCEED();
}
