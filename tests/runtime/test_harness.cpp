// The problem harness shared by the CLI, the GPU tests and the benchmark: random
// problems carry every runtime value their variant needs, explicit values win, and
// the verdict passes correct kernels with margin and fails wrong ones at every scale
// of the output, measured against the reference's low-precision twin.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "runtime/harness/paged_problem.h"
#include "runtime/harness/prefill_problem.h"
#include "runtime/harness/random_source.h"
#include "runtime/reference/attention_rows.h"

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


// --- the verdict ------------------------------------------------------------------------
// A correct kernel must pass with margin and a wrong one fail, whatever the scale of
// the output: attention outputs shrink toward zero as keys multiply (|out| ~ 0.03 at a
// few thousand random keys), where a fixed absolute tolerance accepts anything.

namespace {

// The problems the verdict is tried on: a few hundred keys (causal: early rows O(1),
// late ones small) and thousands of keys (every output small).
struct VerdictCase {
  const char* type;  // q, kv and out
  bool causal;
  int batch, q, k;
};

ir::Variant verdict_variant(const VerdictCase& c) {
  return from_dsl(std::string("variant t { heads = 4 / 2; head_dim = 64; q = ") + c.type +
                  "; kv = " + c.type + "; out = " + c.type + "; lse = true;" +
                  (c.causal ? " mask = causal;" : "") + " }");
}

harness::HostProblem verdict_problem(const VerdictCase& c, uint64_t seed) {
  harness::ProblemShape s;
  s.batch = c.batch;
  s.seqlen_q = c.q;
  s.seqlen_k = c.k;
  return harness::make_random_problem(verdict_variant(c), s, seed);
}

// A correct kernel other than the twin: the GPU kernel's algorithm in f32 (tiles of
// 64 keys, a running max, P rounded to the compute type relative to it, f32 output
// and denominator accumulators, the denominator summing P unrounded), for the fixed-
// length, causal or unmasked problems above. Writes problem.out and problem.lse.
void emulate_kernel(const ir::Variant& v, bool causal, harness::HostProblem& p) {
  const LowPrecision prec = kernel_precision(v);
  const int64_t B = p.batch, Sq = p.max_seqlen_q, Sk = p.max_seqlen_k;
  const int64_t Hq = v.q_heads, Hkv = v.kv_heads, D = v.head_dim;
  const auto scale_log2 = static_cast<float>(v.softmax_scale() * 1.4426950408889634);
  constexpr int64_t kTile = 64;
  auto operand = [&](const harness::HostTensor& t, bool round, int64_t i) {
    const double x = value_at(t, i);
    return static_cast<float>(round ? round_to_dtype(prec.compute, x) : x);
  };
  std::vector<float> q(D), o(D), s(kTile);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kvh = h / v.group_size();
      for (int64_t i = 0; i < Sq; ++i) {
        for (int64_t d = 0; d < D; ++d) q[d] = operand(p.q, prec.round_q, ((b * Sq + i) * Hq + h) * D + d);
        const int64_t end = causal ? std::min(Sk, Sk - Sq + i + 1) : Sk;
        float m = -INFINITY, l = 0;
        std::fill(o.begin(), o.end(), 0.f);
        for (int64_t t0 = 0; t0 < end; t0 += kTile) {
          const int64_t t1 = std::min(end, t0 + kTile);
          float tile_max = m;
          for (int64_t j = t0; j < t1; ++j) {
            float acc = 0;
            for (int64_t d = 0; d < D; ++d)
              acc += q[d] * operand(p.k, prec.round_kv, ((b * Sk + j) * Hkv + kvh) * D + d);
            s[j - t0] = acc * scale_log2;
            tile_max = std::max(tile_max, s[j - t0]);
          }
          const float alpha = m == -INFINITY ? 0.f : std::exp2(m - tile_max);
          l *= alpha;
          for (float& x : o) x *= alpha;
          for (int64_t j = t0; j < t1; ++j) {
            const float prob = std::exp2(s[j - t0] - tile_max);
            l += prob;
            const auto rounded = static_cast<float>(round_to_dtype(prec.compute, prob));
            for (int64_t d = 0; d < D; ++d)
              o[d] += rounded * operand(p.v, prec.round_kv, ((b * Sk + j) * Hkv + kvh) * D + d);
          }
          m = tile_max;
        }
        for (int64_t d = 0; d < D; ++d)
          store_element(p.out.bytes.data(), p.out.dtype, ((b * Sq + i) * Hq + h) * D + d,
                        l > 0 ? o[d] * (1.f / l) : 0.f);
        const float lse = l > 0 ? (m + std::log2(l)) * 0.6931471805599453f : -INFINITY;
        store_element(p.lse.bytes.data(), DType::f32, (b * Hq + h) * Sq + i, lse);
      }
    }
  }
}

double rms(const std::vector<double>& x) {
  double sq = 0;
  for (double e : x) sq += e * e;
  return std::sqrt(sq / static_cast<double>(x.size()));
}

// Moves one element in a hundred by `amount`, alternately up and down.
void perturb_one_percent(harness::HostTensor& out, double amount) {
  for (int64_t i = 37, k = 0; i < out.numel(); i += 100, ++k)
    store_element(out.bytes.data(), out.dtype, i, value_at(out, i) + (k % 2 ? amount : -amount));
}

void scale_all(harness::HostTensor& out, double factor) {
  for (int64_t i = 0; i < out.numel(); ++i)
    store_element(out.bytes.data(), out.dtype, i, value_at(out, i) * factor);
}

// The twin's low'-rounding-level noise, independent of its own: out = round(low' +
// N(0, err_row)) with err_row the RMS of low' - ref over the element's row. What a
// correct kernel whose roundings fell differently would store (times `scale`).
void store_noisy_twin(harness::HostTensor& out, double scale, int head_dim,
                      const std::vector<double>& ref, const LowPrecisionResult& low, uint64_t seed) {
  harness::RandomSource random(seed);
  for (int64_t first = 0; first < out.numel(); first += head_dim) {
    double sq = 0;
    for (int64_t i = first; i < first + head_dim; ++i)
      sq += (low.out_unrounded[i] - ref[i]) * (low.out_unrounded[i] - ref[i]);
    const double err = std::sqrt(sq / head_dim);
    for (int64_t i = first; i < first + head_dim; ++i)
      store_element(out.bytes.data(), out.dtype, i,
                    (low.out_unrounded[i] + err * random.normal()) * scale);
  }
}

// The fixed rule this verdict replaced (bf16): every element within 0.02 + 0.02 |ref|.
bool fixed_tolerance_accepts(const harness::HostTensor& out, const std::vector<double>& ref) {
  for (int64_t i = 0; i < out.numel(); ++i)
    if (!(std::abs(value_at(out, i) - ref[i]) <= 0.02 + 0.02 * std::abs(ref[i]))) return false;
  return true;
}

const VerdictCase kVerdictCases[] = {
    {"bf16", true, 2, 64, 300},   // a few hundred keys, causal
    {"bf16", false, 1, 8, 6000},  // thousands of keys: outputs near zero
    {"fp16", true, 2, 64, 300},
    {"fp16", false, 1, 8, 6000},
    {"f32", true, 1, 48, 200},    // computes in bf16: inputs rounded too
};

}  // namespace

TEST_CASE("verdict: correct kernels pass with margin", "[harness][verdict]") {
  const VerdictCase c = GENERATE(from_range(std::begin(kVerdictCases), std::end(kVerdictCases)));
  CAPTURE(c.type, c.causal, c.q, c.k);
  const ir::Variant v = verdict_variant(c);
  harness::HostProblem p = verdict_problem(c, 41);
  const ReferenceResult ref = harness::compute_reference(v, p);

  // The kernel's algorithm in f32, with its own roundings.
  emulate_kernel(v, c.causal, p);
  harness::CheckResult r = harness::compare_with_reference(v, p, ref);
  INFO("emulated kernel: " << r.summary());
  CHECK(r.passed);
  CHECK(r.rel_l2 < 0.5 * r.rel_l2_bound);
  CHECK(r.worst_ratio < 0.6);
  CHECK(r.lse_worst_ratio < 0.5);

  // The twin itself, and rounding-level noise on it.
  for (int64_t i = 0; i < p.out.numel(); ++i)
    store_element(p.out.bytes.data(), p.out.dtype, i, ref.low.out[i]);
  r = harness::compare_with_reference(v, p, ref);
  INFO("twin: " << r.summary());
  CHECK(r.passed);
  store_noisy_twin(p.out, 1.0, v.head_dim, ref.out, ref.low, 5);
  r = harness::compare_with_reference(v, p, ref);
  INFO("noisy twin: " << r.summary());
  CHECK(r.passed);
  CHECK(r.worst_ratio < 0.8);
}

TEST_CASE("verdict: a twin far from the reference fails instead of widening the bounds",
          "[harness][verdict]") {
  const VerdictCase c = kVerdictCases[0];
  const ir::Variant v = verdict_variant(c);
  harness::HostProblem p = verdict_problem(c, 47);
  ReferenceResult ref = harness::compute_reference(v, p);
  // A broken twin (half its values lost) would allow rel_l2 up to 3 x its own: an
  // all-zero output (rel_l2 1) would pass on the bounds alone.
  for (size_t i = 0; i < ref.low.out.size(); i += 2) ref.low.out[i] = ref.low.out_unrounded[i] = 0;
  for (int64_t i = 0; i < p.out.numel(); ++i) store_element(p.out.bytes.data(), p.out.dtype, i, 0.0);
  const harness::CheckResult r = harness::compare_with_reference(v, p, ref);
  INFO(r.summary());
  CHECK(r.rel_l2 <= r.rel_l2_bound);
  CHECK(r.twin_implausible);
  CHECK_FALSE(r.passed);
}

TEST_CASE("verdict: wrong outputs fail at every output scale", "[harness][verdict]") {
  const VerdictCase c = GENERATE(from_range(std::begin(kVerdictCases), std::end(kVerdictCases)));
  CAPTURE(c.type, c.causal, c.q, c.k);
  const ir::Variant v = verdict_variant(c);
  harness::HostProblem good = verdict_problem(c, 43);
  const ReferenceResult ref = harness::compute_reference(v, good);
  emulate_kernel(v, c.causal, good);
  REQUIRE(harness::compare_with_reference(v, good, ref).passed);
  const double out_rms = rms(ref.out);
  // Long contexts: every output is small, below the old fixed tolerance.
  if (c.k > 1000) CHECK(out_rms < 0.05);

  harness::HostProblem p = good;
  perturb_one_percent(p.out, 0.05 * out_rms);
  harness::CheckResult r = harness::compare_with_reference(v, p, ref);
  INFO("5% of the RMS in 1% of the elements: " << r.summary());
  CHECK_FALSE(r.passed);
  CHECK(r.mismatched > 0);
  if (std::string(c.type) == "bf16") CHECK(fixed_tolerance_accepts(p.out, ref.out));

  p = good;
  scale_all(p.out, 0.9);
  r = harness::compare_with_reference(v, p, ref);
  INFO("scaled by 0.9: " << r.summary());
  CHECK_FALSE(r.passed);
  CHECK(r.rel_l2 > 10 * r.rel_l2_bound);
  if (std::string(c.type) == "bf16" && c.k > 1000) CHECK(fixed_tolerance_accepts(p.out, ref.out));

  p = good;
  store_element(p.out.bytes.data(), p.out.dtype, 5, std::nan(""));
  CHECK_FALSE(harness::compare_with_reference(v, p, ref).passed);

  p = good;
  store_element(p.lse.bytes.data(), DType::f32, 3, value_at(p.lse, 3) + 1e-3);
  r = harness::compare_with_reference(v, p, ref);
  INFO("one LSE moved by 1e-3: " << r.summary());
  CHECK_FALSE(r.passed);
  CHECK(r.lse_mismatched == 1);
}

namespace {

ir::Variant paged_verdict_variant(const std::string& kv, const std::string& out) {
  return from_dsl("variant pv { heads = 4 / 2; head_dim = 64; q = bf16; kv = " + kv +
                  "; out = " + out + "; lse = true;\n kv_cache = paged(page_size = 16); mask = causal; }");
}

// Decode after thousands of keys, a chunk after context, a fresh prefill.
harness::PagedProblemShape paged_verdict_shape() {
  harness::PagedProblemShape s;
  s.query_lens = {1, 1, 37, 64};
  s.context_lens = {6000, 3000, 150, 0};
  return s;
}

// A paged problem whose output is the twin's (what a correct kernel stores) and whose
// LSE is the reference's in f32.
harness::HostPagedProblem paged_with_twin(const ir::Variant& v, const PagedReferenceResult& ref,
                                          uint64_t seed) {
  harness::HostPagedProblem p = harness::make_random_paged_problem(v, paged_verdict_shape(), seed);
  const double scale = p.out.dtype == DType::fp8_e4m3 || p.out.dtype == DType::fp8_e5m2 ? p.out_scale : 1.0;
  for (int64_t i = 0; i < p.out.numel(); ++i)
    store_element(p.out.bytes.data(), p.out.dtype, i, ref.low.out[i] * scale);
  for (int64_t i = 0; i < p.lse.numel(); ++i)
    store_element(p.lse.bytes.data(), DType::f32, i, ref.lse[i]);
  return p;
}

}  // namespace

TEST_CASE("verdict: an fp8 output is judged on its own grid", "[harness][verdict]") {
  const ir::Variant v = paged_verdict_variant("bf16", "fp8_e4m3");
  const harness::HostPagedProblem base =
      harness::make_random_paged_problem(v, paged_verdict_shape(), 7);
  const PagedReferenceResult ref = harness::compute_paged_reference(v, base);
  const harness::HostPagedProblem good = paged_with_twin(v, ref, 7);
  harness::CheckResult r = harness::compare_paged_with_reference(v, good, ref);
  INFO("twin: " << r.summary());
  CHECK(r.passed);

  harness::HostPagedProblem p = good;
  store_noisy_twin(p.out, p.out_scale, v.head_dim, ref.out, ref.low, 9);
  r = harness::compare_paged_with_reference(v, p, ref);
  INFO("noisy twin: " << r.summary());
  CHECK(r.passed);

  // One element in a hundred one fp8 step up (codes are sign-magnitude: +1 moves
  // away from zero).
  p = good;
  for (size_t i = 37; i < p.out.bytes.size(); i += 100)
    if ((p.out.bytes[i] & 0x7f) < 0x7e) ++p.out.bytes[i];
  r = harness::compare_paged_with_reference(v, p, ref);
  INFO("one step in 1%: " << r.summary());
  CHECK_FALSE(r.passed);

  p = good;
  scale_all(p.out, 0.9);
  r = harness::compare_paged_with_reference(v, p, ref);
  INFO("scaled by 0.9: " << r.summary());
  CHECK_FALSE(r.passed);
}

TEST_CASE("verdict: quantized KV caches get the bound of 16-bit ones", "[harness][verdict]") {
  const std::string kv = GENERATE(std::string("bf16"), std::string("fp8_e4m3 per_tensor"),
                                  std::string("int8 per_token_head"));
  CAPTURE(kv);
  const ir::Variant v = paged_verdict_variant(kv, "bf16");
  const harness::HostPagedProblem base =
      harness::make_random_paged_problem(v, paged_verdict_shape(), 11);
  const PagedReferenceResult ref = harness::compute_paged_reference(v, base);
  const harness::HostPagedProblem good = paged_with_twin(v, ref, 11);
  harness::CheckResult r = harness::compare_paged_with_reference(v, good, ref);
  INFO(r.summary());
  CHECK(r.passed);
  // The kernel decodes the stored values exactly: only P and the output round.
  CHECK(r.low_rel_l2 < 4e-3);

  harness::HostPagedProblem p = good;
  perturb_one_percent(p.out, 0.05 * rms(ref.out));
  r = harness::compare_paged_with_reference(v, p, ref);
  INFO("5% of the RMS in 1% of the elements: " << r.summary());
  CHECK_FALSE(r.passed);

  p = good;
  store_element(p.lse.bytes.data(), DType::f32, 2, ref.lse[2] - 1e-3);
  CHECK_FALSE(harness::compare_paged_with_reference(v, p, ref).passed);
}

TEST_CASE("a reference without its twin cannot judge", "[harness][verdict]") {
  const VerdictCase c{"bf16", true, 1, 4, 4};
  const ir::Variant v = verdict_variant(c);
  const harness::HostProblem p = verdict_problem(c, 1);
  PrefillArgs args = p.host_args();
  args.out = {};
  args.lse = {};
  const ReferenceResult plain = reference_prefill(v, args);
  CHECK(plain.low.empty());
  CHECK_THROWS_AS(harness::compare_with_reference(v, p, plain), std::invalid_argument);
}

// --- the low-precision twin -------------------------------------------------------------

TEST_CASE("the low-precision twin rounds where the kernel rounds", "[harness][reference]") {
  auto twin_error = [](const char* type) {
    const VerdictCase c{type, true, 1, 64, 300};
    const ir::Variant v = verdict_variant(c);
    const ReferenceResult ref = harness::compute_reference(v, verdict_problem(c, 17));
    double err = 0, pre = 0, sq = 0;
    for (size_t i = 0; i < ref.out.size(); ++i) {
      err += (ref.low.out[i] - ref.out[i]) * (ref.low.out[i] - ref.out[i]);
      pre += (ref.low.out_unrounded[i] - ref.out[i]) * (ref.low.out_unrounded[i] - ref.out[i]);
      sq += ref.out[i] * ref.out[i];
      // The output rounding is half an ulp of the output type at most (half fp16's
      // subnormal step below its normal range).
      const double half_ulp =
          harness::unit_roundoff(v.out_type) * std::abs(ref.low.out_unrounded[i]) + 0x1p-25;
      CHECK(std::abs(ref.low.out[i] - ref.low.out_unrounded[i]) <= half_ulp);
    }
    for (size_t i = 0; i < ref.lse.size(); ++i) {
      CHECK(ref.low.lse_model_error[i] == 0.0);
      // 16-bit inputs: the scores are exact, so is the twin's LSE.
      if (std::string(type) != "f32") CHECK(ref.low.lse[i] == ref.lse[i]);
    }
    return std::pair{std::sqrt(err / sq), std::sqrt(pre / sq)};
  };
  const auto [bf16, bf16_pre] = twin_error("bf16");
  const auto [fp16, fp16_pre] = twin_error("fp16");
  const auto [f32, f32_pre] = twin_error("f32");
  // P rounded to 8 significand bits, then the output: about 2^-8 / 2 each.
  CHECK((bf16_pre > 5e-4 && bf16_pre < 3e-3));
  CHECK(bf16 > bf16_pre);
  // fp16 keeps 11 bits: eight times finer.
  CHECK((fp16 > bf16 / 16 && fp16 < bf16 / 4));
  // f32 storage computes in bf16: q, k and v are rounded as well, the output is not.
  CHECK(f32_pre > bf16_pre);
  CHECK(std::abs(f32 - f32_pre) <= 1e-3 * f32_pre);
}

TEST_CASE("the twin models tanh.approx and keeps fully masked rows empty", "[harness][reference]") {
  const ir::Variant v = from_dsl(
      "variant c { heads = 2 / 1; head_dim = 32; q = bf16; kv = bf16; out = bf16; lse = true;\n"
      "  param cap : f32 = 5; score = softcap(cap); mask = causal; }");
  harness::ProblemShape s;
  s.seqlen_q = 40;  // more queries than keys: the first 10 rows see no key
  s.seqlen_k = 30;
  const harness::HostProblem p = harness::make_random_problem(v, s, 3);
  const ReferenceResult ref = harness::compute_reference(v, p);
  int differ = 0;
  for (size_t row = 0; row < ref.lse.size(); ++row) {
    if (std::isinf(ref.lse[row])) {
      CHECK(std::isinf(ref.low.lse[row]));
      for (int d = 0; d < 32; ++d) CHECK(ref.low.out[row * 32 + d] == 0.0);
      continue;
    }
    // The modelled error moves the LSE by less than its first-order bound.
    CHECK(ref.low.lse_model_error[row] > 0);
    CHECK(std::abs(ref.low.lse[row] - ref.lse[row]) <= ref.low.lse_model_error[row]);
    differ += ref.low.lse[row] != ref.lse[row];
  }
  CHECK(differ > 0);
}
