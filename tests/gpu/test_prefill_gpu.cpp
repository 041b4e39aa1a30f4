// Prefill kernel against the float64 CPU reference on the GPU: random shapes, every
// supported head dim, fp16 and bf16, MHA/GQA/MQA, causal and bidirectional, ragged
// batches, seqlen 1, lengths that are not tile multiples, q_len < kv_len. Each case
// draws fresh inputs; outputs are poisoned with NaN before each run (run_and_check).
#include <cstdio>
#include <random>
#include <string>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "runtime/harness/prefill_problem.h"

namespace {

using namespace attnjit;

ir::Variant make_variant(int q_heads, int kv_heads, int head_dim, const char* type, bool causal,
                         bool lse) {
  std::string text = fmt::format(
      "variant case {{ heads = {} / {}; head_dim = {}; q = {}; kv = {}; out = {};\n"
      "  kv_cache = contiguous; lse = {}; {} }}\n",
      q_heads, kv_heads, head_dim, type, type, type, lse ? "true" : "false",
      causal ? "mask = causal;" : "");
  auto module = compile_variants(SourceFile{"<gpu test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<gpu test>", text}));
  return module->variants.at(0);
}

struct Case {
  int q_heads, kv_heads, head_dim;
  const char* type;
  bool causal, lse;
  harness::ProblemShape shape;
};

std::string describe(const Case& c) {
  std::string lens;
  if (c.shape.seqlens_q.empty()) {
    lens = fmt::format("batch {} q {} k {}", c.shape.batch, c.shape.seqlen_q, c.shape.seqlen_k);
  } else {
    lens = "ragged";
    for (size_t i = 0; i < c.shape.seqlens_q.size(); ++i)
      lens += fmt::format(" {}/{}", c.shape.seqlens_q[i], c.shape.seqlens_k[i]);
  }
  return fmt::format("{} h{}x{} d{} {}{} {}", c.type, c.q_heads, c.kv_heads, c.head_dim,
                     c.causal ? "causal" : "bidir", c.lse ? " lse" : "", lens);
}

Engine& shared_engine() {
  static Engine engine;
  return engine;
}

double g_worst_error = 0;
int g_cases = 0;

void run_case(Engine& engine, const Case& c, uint64_t seed) {
  ir::Variant v = make_variant(c.q_heads, c.kv_heads, c.head_dim, c.type, c.causal, c.lse);
  harness::HostProblem problem = harness::make_random_problem(v, c.shape, seed);
  harness::CheckResult r = harness::run_and_check(engine, v, problem);
  ++g_cases;
  g_worst_error = std::max(g_worst_error, r.max_abs_error);
  std::printf("  %-70s %s\n", describe(c).c_str(), r.summary().c_str());
  INFO(describe(c) << ": " << r.summary());
  CHECK(r.passed);
}

int pick(std::mt19937_64& rng, std::initializer_list<int> options) {
  return options.begin()[rng() % options.size()];
}

}  // namespace

TEST_CASE("prefill matches the reference on random shapes", "[gpu][prefill]") {
  std::mt19937_64 rng(20261121);
  Engine& engine = shared_engine();
  const int head_dims[] = {32, 64, 80, 96, 112, 128, 160, 192, 256};
  int index = 0;
  for (int head_dim : head_dims) {
    for (int variant = 0; variant < 8; ++variant) {
      Case c;
      c.head_dim = head_dim;
      c.type = variant % 2 ? "fp16" : "bf16";
      c.causal = (variant / 2) % 2 == 1;
      c.lse = variant % 3 == 0;
      const int group = pick(rng, {1, 2, 4, 8});
      c.kv_heads = pick(rng, {1, 2});
      c.q_heads = c.kv_heads * group;
      if (variant >= 6) {
        // Ragged batch with mixed lengths, including length 1 and q_len < kv_len.
        const int batch = pick(rng, {2, 3, 4});
        for (int b = 0; b < batch; ++b) {
          int q = 1 + static_cast<int>(rng() % 300);
          if (b == 0) q = 1;
          int k = q + static_cast<int>(rng() % 2 ? rng() % 200 : 0);
          c.shape.seqlens_q.push_back(q);
          c.shape.seqlens_k.push_back(k);
        }
        c.shape.batch = batch;
      } else {
        c.shape.batch = pick(rng, {1, 2});
        c.shape.seqlen_q = pick(rng, {1, 17, 64, 128, 129, 200, 257});
        c.shape.seqlen_k = c.shape.seqlen_q + pick(rng, {0, 0, 1, 63, 190});
      }
      run_case(engine, c, rng());
      ++index;
    }
  }
}

TEST_CASE("prefill handles long sequences with many KV tiles", "[gpu][prefill]") {
  Engine& engine = shared_engine();
  std::mt19937_64 rng(7);
  for (int head_dim : {64, 128, 256}) {
    for (bool causal : {false, true}) {
      Case c{8, 2, head_dim, "bf16", causal, true, {}};
      c.shape.batch = 1;
      c.shape.seqlen_q = 1000;
      c.shape.seqlen_k = 1100;
      run_case(engine, c, rng());
    }
  }
}

TEST_CASE("prefill is correct under every tile shape the configs may choose", "[gpu][prefill]") {
  std::mt19937_64 rng(11);
  const TileConfig tiles[] = {{64, 32, 4, 2}, {64, 64, 4, 3}, {128, 32, 8, 2},
                              {128, 64, 8, 4}, {32, 16, 2, 2}, {16, 16, 1, 2}};
  for (const TileConfig& tile : tiles) {
    EngineOptions options;
    options.tile_override = tile;
    Engine engine(options);
    for (bool causal : {false, true}) {
      Case c{4, 1, 64, "fp16", causal, false, {}};
      c.shape.batch = 2;
      c.shape.seqlen_q = 150;
      c.shape.seqlen_k = 170;
      INFO(fmt::format("tile {}x{} w{} s{}", tile.block_m, tile.block_n, tile.warps, tile.stages));
      run_case(engine, c, rng());
    }
  }
}

TEST_CASE("GPU test summary", "[gpu][summary]") {
  std::printf("GPU prefill cases run: %d, worst max abs error: %.3g\n", g_cases, g_worst_error);
  SUCCEED();
}
