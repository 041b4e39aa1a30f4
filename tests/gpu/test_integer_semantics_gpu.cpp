// The DSL's numbers on the GPU (docs/dsl.md, "Numbers: integers and reals"): the kernel
// must decide every mask exactly as the CPU reference does. Masks and scores whose
// integer intermediates pass 2^31 at modest positions, windows wider than any
// sequence, integer % and / by divisors that vary but cannot be zero, and real
// divisions whose ties fall exactly on a key.
//
// A mask that disagrees on even one key per row moves that row's LSE by the key's
// softmax weight, so every problem writes the LSE and keeps rows short enough (a few
// hundred keys) for one key to show.
#include <cstdio>
#include <random>
#include <string>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "runtime/harness/prefill_problem.h"

namespace {

using namespace attnjit;

ir::Variant parse_one(const std::string& text) {
  auto module = compile_variants(SourceFile{"<gpu test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<gpu test>", text}));
  return module->variants.at(0);
}

Engine& engine() {
  static Engine e;
  return e;
}

void check(const std::string& name, const ir::Variant& v, const harness::ProblemShape& shape,
           uint64_t seed) {
  harness::HostProblem problem = harness::make_random_problem(v, shape, seed);
  harness::CheckResult r = harness::run_and_check(engine(), v, problem);
  std::printf("  %-70s %s\n", name.c_str(), r.summary().c_str());
  INFO(name << ": " << r.summary());
  CHECK(r.passed);
}

using Shape = harness::ProblemShape;

// `s` with param `name` fixed (random params would move the ties off the keys).
harness::ProblemShape with_param(harness::ProblemShape s, const char* name, float value) {
  s.params[name] = value;
  return s;
}

// A variant with 4 query heads over 2 KV heads, bf16, LSE written, and `body` (its
// mask, score and declarations).
ir::Variant variant(const std::string& body) {
  return parse_one("variant n { heads = 4 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
                   " kv_cache = contiguous; lse = true; " + body + " }");
}

struct Case {
  const char* body;
  harness::ProblemShape shape;
};

void check_all(const char* group, const std::vector<Case>& cases, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (const Case& c : cases) {
    const harness::ProblemShape& s = c.shape;
    const std::string shape = s.seqlens_q.empty() ? fmt::format("{}x{}/{}", s.batch, s.seqlen_q, s.seqlen_k)
                                                  : fmt::format("ragged x{}", s.batch);
    check(fmt::format("{}: {} [{}]", group, c.body, shape), variant(c.body), s, rng());
  }
}

}  // namespace

TEST_CASE("integer intermediates beyond 2^31 at modest positions", "[gpu][numeric]") {
  check_all("wide",
            {
                // q_pos * 65536 passes 2^31 from q_pos 32768: the rows sit near 40000. A
                // window keeps each row to a few hundred keys, where one key shows.
                {"mask = causal && window(300) && (q_pos * 65536 + kv_pos) % 7 != 0;", Shape::fixed(1, 96, 40100)},
                {"mask = (q_pos * 65536 + kv_pos) % 5 < 3 && window(250, 50);",
                 Shape::ragged({40, 1, 77}, {40000, 33000, 41000})},
                // A square of positions, and products with constants beyond 32 bits.
                {"mask = causal && window(400) && (q_pos * q_pos + kv_pos) % 11 < 8;", Shape::fixed(1, 64, 50000)},
                {"mask = (q_pos * 3000000000 + kv_pos * 7) % 11 < 8;", Shape::fixed(2, 200, 300)},
                {"mask = kv_pos + 3000000000 > q_pos + 2999999990 && kv_head < 2;", Shape::fixed(1, 300, 300)},
                {"mask = select(kv_pos % 2 == 0, kv_pos * 3000000000, q_pos * 3000000000) % 5 != 1;",
                 Shape::fixed(1, 250, 300)},
                {"mask = min(q_pos * 4000000, kv_pos * 5000000) % 9 < 6 || abs(kv_pos - q_pos) < 3;",
                 Shape::fixed(1, 220, 260)},
                // More queries than keys: negative q_pos, and % keeps the dividend's sign.
                {"mask = (q_pos * 65536 + kv_pos) % 7 > -3;", Shape::fixed(1, 300, 120)},
                // Integer scores: exact, then one rounding to f32.
                {"score = score + ((q_pos * 65536 + kv_pos) % 7) * 0.25; mask = causal && window(300);",
                 Shape::fixed(1, 128, 40100)},
                {"score = score + (kv_pos * 3000000000 + q_pos) % 13 / 8; mask = causal;", Shape::fixed(1, 200, 300)},
            },
            101);
}

TEST_CASE("windows wider than any sequence are no window", "[gpu][numeric]") {
  check_all("window",
            {
                {"mask = causal && window(4294967296);", Shape::fixed(1, 300, 300)},
                {"mask = causal && window(1e18);", Shape::ragged({130, 1, 257}, {300, 40, 300})},
                {"mask = window(4294967296, 4294967296);", Shape::fixed(2, 200, 260)},
                // Not a band the analysis absorbs: evaluated per key, in 64 bits.
                {"mask = kv_pos >= q_pos - 4294967296 && kv_pos <= q_pos + 1e18 && kv_head < 2;",
                 Shape::fixed(1, 260, 300)},
                // Further than any key can be: every row sees nothing.
                {"mask = kv_pos > q_pos + 3000000000;", Shape::fixed(1, 100, 300)},
            },
            103);
}

TEST_CASE("integer % and / by divisors that vary but cannot be zero", "[gpu][numeric]") {
  check_all("divisors",
            {
                {"mask = kv_pos % (kv_head + 1) == 0 || causal;", Shape::fixed(1, 300, 300)},
                {"mask = (q_pos + kv_pos) % kv_len < kv_len / 2;", Shape::ragged({100, 1, 230}, {300, 257, 230})},
                {"mask = q_pos % (q_head + 1) != kv_pos % 3;", Shape::fixed(2, 190, 280)},
                {"mask = kv_pos % q_len < 50 && causal;", Shape::ragged({60, 200, 1}, {300, 260, 90})},
                {"mask = (kv_pos - q_pos) % (kv_head + 2) != 0;", Shape::fixed(1, 260, 300)},
                {"score = score + (kv_pos % (kv_head + 2)) / (q_head + 1); mask = causal;", Shape::fixed(1, 200, 300)},
            },
            107);
}

TEST_CASE("real divisions in masks decide exact ties like the reference", "[gpu][numeric]") {
  check_all("ties",
            {
                // q_pos = 3k gives exactly k: the key at the tie is visible.
                {"mask = kv_pos <= q_pos / 3;", Shape::fixed(1, 300, 300)},
                {"mask = kv_pos * 2 <= q_pos / 3 * 2;", Shape::fixed(1, 300, 300)},
                {"mask = q_pos / 3 == kv_pos || kv_pos < 8;", Shape::fixed(1, 300, 300)},
                {"mask = kv_pos / kv_len <= 0.5 || q_pos / (kv_pos + 1) >= 2;", Shape::fixed(1, 280, 300)},
                {"mask = kv_pos * 0.1 + 0.2 <= q_pos * 0.1;", Shape::fixed(1, 300, 300)},
                // By a param: a division, not a multiplication by its reciprocal.
                {"param d : f32 = 3; mask = kv_pos <= q_pos / d;", with_param(Shape::fixed(1, 300, 300), "d", 3.f)},
                {"param d : f32 = 7; mask = kv_pos < q_pos / d * 2 + 1;",
                 with_param(Shape::ragged({300, 2, 90}, {300, 200, 290}), "d", 7.f)},
            },
            109);
}
