// The problem harness shared by the CLI, the GPU tests and the benchmark: random
// problems carry every runtime value their variant needs, explicit values win, and
// the comparison's tolerance follows the kernel's arithmetic.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "runtime/harness/prefill_problem.h"

using namespace attnjit;

namespace {

ir::Variant from_dsl(const std::string& text) {
  SourceFile file{"<harness test>", text};
  auto module = compile_variants(file);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  return module->variants.at(0);
}

// Every kind of runtime value at once.
ir::Variant featured_variant() {
  return from_dsl(
      "variant f { heads = 4 / 2; head_dim = 32; q = bf16; kv = bf16; out = bf16; lse = true;\n"
      "  param cap : f32 = 50; const unused : f32 = 3;\n"
      "  input slope : f32[q_heads]; input gate : f32[kv_heads]; input lens : f32[seqs];\n"
      "  sinks = per_head; bidirectional_ranges = per_seq;\n"
      "  score = softcap(cap) + slope[q_head] * (kv_pos - q_pos) * gate[kv_head];\n"
      "  mask = causal || kv_pos < lens[seq]; }");
}

ir::Variant plain_variant() {
  return from_dsl(
      "variant p { heads = 4 / 2; head_dim = 32; q = bf16; kv = bf16; out = bf16; lse = true;\n"
      "  mask = causal; }");
}

harness::ProblemShape ragged_shape() {
  harness::ProblemShape s;
  s.batch = 3;
  s.seqlens_q = {5, 1, 9};
  s.seqlens_k = {7, 4, 9};
  return s;
}

double value_at(const harness::HostTensor& t, int64_t i) {
  return load_element(t.bytes.data(), t.dtype, i);
}

}  // namespace

TEST_CASE("random problems carry the variant's runtime values", "[harness]") {
  const ir::Variant v = featured_variant();
  const harness::ProblemShape s = ragged_shape();
  harness::HostProblem p = harness::make_random_problem(v, s, 5);

  // Params: the runtime ones only, the default perturbed by a factor in [0.5, 1.5].
  REQUIRE(p.params.size() == 1);
  CHECK(p.params.at("cap") >= 25.0f);
  CHECK(p.params.at("cap") <= 75.0f);

  REQUIRE(p.inputs.size() == 3);
  CHECK(p.inputs.at("slope").shape == std::vector<int64_t>{4});
  CHECK(p.inputs.at("gate").shape == std::vector<int64_t>{2});
  CHECK(p.inputs.at("lens").shape == std::vector<int64_t>{3});
  for (const auto& [name, t] : p.inputs) {
    CHECK(t.dtype == DType::f32);
    for (int64_t i = 0; i < t.numel(); ++i) {
      CHECK(value_at(t, i) >= 0.01 - 1e-7);
      CHECK(value_at(t, i) < 1.0);
    }
  }

  CHECK(p.sinks.dtype == DType::f32);
  CHECK(p.sinks.shape == std::vector<int64_t>{4});

  // Ranges: [batch, 2, 2], each empty [0, 0) padding or inside [0, kv_len).
  REQUIRE(p.bidirectional_ranges.shape == std::vector<int64_t>{3, 2, 2});
  CHECK(p.bidirectional_ranges.dtype == DType::i32);
  for (int b = 0; b < 3; ++b) {
    for (int r = 0; r < 2; ++r) {
      const double start = value_at(p.bidirectional_ranges, (b * 2 + r) * 2);
      const double end = value_at(p.bidirectional_ranges, (b * 2 + r) * 2 + 1);
      INFO("sequence " << b << " range " << r << ": [" << start << ", " << end << ")");
      if (start == end) {
        CHECK(start == 0);
      } else {
        CHECK(0 <= start);
        CHECK(start < end);
        CHECK(end <= s.seqlens_k[b]);
      }
    }
  }

  // The host arguments pass the same validation as a launch, and the reference runs.
  ReferenceResult ref = harness::compute_reference(v, p);
  CHECK(ref.out.size() == static_cast<size_t>(p.out.numel()));
}

TEST_CASE("random runtime values are reproducible and leave q/k/v unchanged", "[harness]") {
  const ir::Variant v = featured_variant();
  harness::HostProblem a = harness::make_random_problem(v, ragged_shape(), 11);
  harness::HostProblem b = harness::make_random_problem(v, ragged_shape(), 11);
  harness::HostProblem c = harness::make_random_problem(v, ragged_shape(), 12);
  CHECK(a.params == b.params);
  CHECK(a.sinks.bytes == b.sinks.bytes);
  CHECK(a.bidirectional_ranges.bytes == b.bidirectional_ranges.bytes);
  CHECK(a.inputs.at("slope").bytes == b.inputs.at("slope").bytes);
  CHECK(a.params != c.params);

  // Values are drawn after q/k/v: a variant with features gets the same q/k/v.
  harness::HostProblem plain = harness::make_random_problem(plain_variant(), ragged_shape(), 11);
  CHECK(plain.q.bytes == a.q.bytes);
  CHECK(plain.k.bytes == a.k.bytes);
  CHECK(plain.v.bytes == a.v.bytes);
  CHECK(plain.params.empty());
  CHECK(plain.inputs.empty());
  CHECK_FALSE(plain.sinks.defined());
  CHECK_FALSE(plain.bidirectional_ranges.defined());
  CHECK(plain.host_args().inputs.empty());
  CHECK_FALSE(plain.host_args().sinks.defined());
}

TEST_CASE("explicit runtime values win over random ones", "[harness]") {
  const ir::Variant v = featured_variant();
  harness::ProblemShape s = ragged_shape();
  s.params["cap"] = 0.5f;
  s.inputs["slope"] = {1, 2, 3, 4};
  s.sinks = {30, -30, 0, 1};
  s.bidirectional_ranges = {{{0, 3}}, {}, {{1, 2}, {4, 9}, {5, 6}}};
  harness::HostProblem p = harness::make_random_problem(v, s, 3);
  CHECK(p.params.at("cap") == 0.5f);
  CHECK(value_at(p.inputs.at("slope"), 3) == 4.0);
  CHECK(value_at(p.sinks, 0) == 30.0);
  CHECK(value_at(p.sinks, 1) == -30.0);
  // The widest sequence sets max_ranges; shorter ones are padded with [0, 0).
  REQUIRE(p.bidirectional_ranges.shape == std::vector<int64_t>{3, 3, 2});
  const std::vector<double> want{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 9, 5, 6};
  for (size_t i = 0; i < want.size(); ++i)
    CHECK(value_at(p.bidirectional_ranges, static_cast<int64_t>(i)) == want[i]);

  PrefillArgs args = p.host_args();
  CHECK(args.params.at("cap") == 0.5f);
  CHECK(args.inputs.size() == 3);
  CHECK(args.bidirectional_ranges.shape == std::vector<int64_t>{3, 3, 2});
  CHECK_NOTHROW(harness::compute_reference(v, p));
}

TEST_CASE("sinks: normal with occasional large magnitudes", "[harness]") {
  ir::Variant v = from_dsl(
      "variant s { heads = 64 / 8; head_dim = 64; q = bf16; kv = bf16; out = bf16;\n"
      "  sinks = per_head; mask = causal && window(127); }");
  harness::ProblemShape s;
  s.seqlen_q = s.seqlen_k = 4;
  harness::HostProblem p = harness::make_random_problem(v, s, 1);
  int large = 0;
  for (int h = 0; h < 64; ++h) large += std::abs(value_at(p.sinks, h)) >= 15;
  CHECK(large >= 1);
  CHECK(large <= 24);

  s.large_sinks = false;
  s.sinks_stddev = 0;
  p = harness::make_random_problem(v, s, 1);
  for (int h = 0; h < 64; ++h) CHECK(value_at(p.sinks, h) == 0.0);
}

TEST_CASE("explicit values the variant does not take are errors", "[harness]") {
  const ir::Variant v = featured_variant();
  harness::ProblemShape s = ragged_shape();
  s.params["cpa"] = 1;
  CHECK_THROWS_WITH(harness::make_random_problem(v, s, 1),
                    "make_random_problem: variant f has no param 'cpa' (its params: cap)");
  s = ragged_shape();
  s.params["unused"] = 1;  // a const: baked in, not settable
  CHECK_THROWS_AS(harness::make_random_problem(v, s, 1), std::invalid_argument);
  s = ragged_shape();
  s.inputs["lens"] = {1, 2};
  CHECK_THROWS_WITH(harness::make_random_problem(v, s, 1),
                    "make_random_problem: input 'lens' of variant f takes 3 values ([seqs]), got 2");
  s = ragged_shape();
  s.bidirectional_ranges = {{{0, 1}}};
  CHECK_THROWS_WITH(harness::make_random_problem(v, s, 1),
                    "make_random_problem: bidirectional_ranges has 1 sequences, the problem 3");
  s = ragged_shape();
  s.sinks = {1, 2};
  CHECK_THROWS_WITH(harness::make_random_problem(plain_variant(), s, 1),
                    "make_random_problem: variant p has no sinks");
}

TEST_CASE("tolerance follows the kernel's arithmetic", "[harness]") {
  auto tol = [](const char* q, const char* out) {
    return harness::tolerance_for(from_dsl(std::string("variant t { heads = 1 / 1; head_dim = 64; q = ") +
                                           q + "; kv = " + q + "; out = " + out + "; }"));
  };
  // f32 inputs go through bf16 tensor-core products: bf16's tolerance, whatever the output.
  CHECK(tol("f32", "f32").atol == harness::tolerance_for(DType::bf16).atol);
  CHECK(tol("f32", "fp16").rtol == harness::tolerance_for(DType::bf16).rtol);
  // 16-bit inputs: the output dtype decides.
  CHECK(tol("bf16", "f32").atol == harness::tolerance_for(DType::f32).atol);
  CHECK(tol("fp16", "fp16").atol == harness::tolerance_for(DType::f16).atol);
  CHECK(tol("bf16", "bf16").atol == harness::tolerance_for(DType::bf16).atol);
}

TEST_CASE("the reference's own output passes the comparison", "[harness]") {
  const ir::Variant v = featured_variant();
  harness::HostProblem p = harness::make_random_problem(v, ragged_shape(), 21);
  ReferenceResult ref = harness::compute_reference(v, p);
  for (int64_t i = 0; i < p.out.numel(); ++i)
    store_element(p.out.bytes.data(), p.out.dtype, i, ref.out[i]);
  const std::vector<double> lse = harness::reference_lse_in_output_layout(p, ref);
  for (size_t i = 0; i < lse.size(); ++i)
    store_element(p.lse.bytes.data(), DType::f32, static_cast<int64_t>(i), lse[i]);
  harness::CheckResult r = harness::compare_with_reference(v, p, ref);
  INFO(r.summary());
  CHECK(r.passed);
}
