// The paged references against independent answers: the prefill reference on the
// same keys gathered into contiguous rows (every layout, page size and KV type),
// hand-computed fp8 dequantization, quantization round trips, cache writes and merges.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "runtime/harness/paged_problem.h"
#include "runtime/harness/prefill_problem.h"
#include "runtime/reference/cpu_reference.h"
#include "runtime/reference/paged_reference.h"

using namespace attnjit;
#if defined(ATTNJIT_CATCH3)
using Catch::Approx;
#endif
using harness::HostTensor;
using harness::make_host_tensor;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

ir::Variant from_dsl(const std::string& text) {
  SourceFile file{"<paged reference test>", text};
  auto module = compile_variants(file);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  return module->variants.at(0);
}

ir::Variant with_cache(ir::Variant v, int page_size, ir::KvLayout layout) {
  v.kv_cache.page_size = page_size;
  v.kv_cache.layout = layout;
  return v;
}

// A mixed batch: decode after context, chunked prefill after context, a fresh
// prefill, and lengths that are not multiples of any page size.
harness::PagedProblemShape mixed_batch(bool fused) {
  harness::PagedProblemShape s;
  s.query_lens = {1, 5, 19, 1};
  s.context_lens = {37, 40, 0, 300};
  s.fused_kv = fused;
  s.extra_blocks = 3;
  return s;
}

void set_f64(HostTensor& t, int64_t i, double x) { store_element(t.bytes.data(), t.dtype, i, x); }

// The test's own gather: every sequence's keys and values read through the block
// table from the caches' views (so fused strides count), dequantized, as f64 rows.
struct Gathered {
  HostTensor k, v, cu_k;
  int max_len = 0;
};

Gathered gather(const ir::Variant& var, const PagedArgs& a) {
  const int64_t n = a.block_table.shape[0], page_size = var.kv_cache.page_size;
  const int D = var.head_dim;
  std::vector<int64_t> lens;
  int64_t total = 0;
  for (int64_t s = 0; s < n; ++s) {
    lens.push_back(static_cast<int64_t>(load_element(a.seq_lens.data, DType::i32, s)));
    total += lens.back();
  }
  Gathered g;
  g.k = make_host_tensor(DType::f64, {total, var.kv_heads, D});
  g.v = make_host_tensor(DType::f64, {total, var.kv_heads, D});
  g.cu_k = make_host_tensor(DType::i32, {n + 1});
  const bool hnd = var.kv_cache.layout == ir::KvLayout::HND;
  int64_t row = 0;
  for (int64_t s = 0; s < n; ++s) {
    store_element(g.cu_k.bytes.data(), DType::i32, s + 1, static_cast<double>(row + lens[s]));
    g.max_len = std::max<int>(g.max_len, static_cast<int>(lens[s]));
    for (int64_t j = 0; j < lens[s]; ++j, ++row) {
      const auto page = static_cast<int64_t>(load_element(
          a.block_table.data, DType::i32, s * a.block_table.stride(0) + j / page_size));
      const int64_t slot = j % page_size;
      for (int h = 0; h < var.kv_heads; ++h) {
        for (int which = 0; which < 2; ++which) {
          const TensorView& cache = which == 0 ? a.k_cache : a.v_cache;
          const TensorView& scales = which == 0 ? a.k_scale_cache : a.v_scale_cache;
          double factor = 1.0;
          if (var.kv_scale == ir::ScaleGranularity::per_tensor)
            factor = which == 0 ? a.k_descale : a.v_descale;
          if (var.kv_scale == ir::ScaleGranularity::per_token_head)
            factor = load_element(scales.data, DType::f32,
                                  page * scales.stride(0) + slot * scales.stride(1) +
                                      h * scales.stride(2));
          const int64_t base = page * cache.stride(0) +
                               (hnd ? h * cache.stride(1) + slot * cache.stride(2)
                                    : slot * cache.stride(1) + h * cache.stride(2));
          HostTensor& dst = which == 0 ? g.k : g.v;
          for (int d = 0; d < D; ++d)
            set_f64(dst, (row * var.kv_heads + h) * D + d,
                    load_element(cache.data, cache.dtype, base + d) * factor);
        }
      }
    }
  }
  return g;
}

// The paged reference of `p` equals the prefill reference over the gathered keys
// (a contiguous variant with f64 K/V, so dequantized values pass unrounded).
void check_against_prefill(const ir::Variant& var, const harness::HostPagedProblem& p) {
  const PagedArgs paged = p.host_args();
  const PagedReferenceResult got = harness::compute_paged_reference(var, p);

  const Gathered g = gather(var, paged);
  ir::Variant flat = var;
  flat.kv_cache = {};
  flat.kv_type = DType::f64;
  flat.kv_scale = ir::ScaleGranularity::none;
  flat.out_type = DType::f32;
  PrefillArgs args;
  args.q = paged.q;
  args.k = g.k.view();
  args.v = g.v.view();
  args.cu_seqlens_q = paged.cu_seqlens_q;
  args.cu_seqlens_k = g.cu_k.view();
  args.max_seqlen_q = paged.max_seqlen_q;
  args.max_seqlen_k = g.max_len;
  args.params = paged.params;
  args.inputs = paged.inputs;
  args.sinks = paged.sinks;
  args.bidirectional_ranges = paged.bidirectional_ranges;
  const ReferenceResult want = reference_prefill(flat, args);

  REQUIRE(got.out.size() == want.out.size());
  size_t out_mismatches = 0, lse_mismatches = 0;
  double max_abs = 0;
  for (size_t i = 0; i < got.out.size(); ++i) {
    max_abs = std::max(max_abs, std::abs(got.out[i]));
    if (!(std::abs(got.out[i] - want.out[i]) <= 1e-12 * (1 + std::abs(want.out[i]))))
      ++out_mismatches;
  }
  const int64_t total_q = p.total_q, heads = var.q_heads;
  for (int64_t t = 0; t < total_q; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const double a = got.lse[h * total_q + t], b = want.lse[t * heads + h];
      if (!(a == b || std::abs(a - b) <= 1e-12 * (1 + std::abs(b)))) ++lse_mismatches;
    }
  CHECK(out_mismatches == 0);
  CHECK(lse_mismatches == 0);
  CHECK(max_abs > 0);  // the comparison saw real values, not a batch of masked rows
}

ir::Variant gqa_variant() {
  return from_dsl(
      "variant g { heads = 8 / 2; head_dim = 32; q = bf16; kv = bf16; out = bf16; lse = true;\n"
      "  kv_cache = paged; mask = causal; }");
}

}  // namespace

TEST_CASE("paged reference equals the prefill reference on gathered keys", "[paged]") {
  const ir::KvLayout layout = GENERATE(ir::KvLayout::NHD, ir::KvLayout::HND);
  const bool fused = GENERATE(false, true);
  const int page_size = GENERATE(16, 32, 64, 256);
  CAPTURE(ir::kv_layout_name(layout), fused, page_size);
  const ir::Variant var = with_cache(gqa_variant(), page_size, layout);
  const harness::HostPagedProblem p =
      harness::make_random_paged_problem(var, mixed_batch(fused), 17 + page_size);
  check_against_prefill(var, p);
}

TEST_CASE("paged reference: every variant feature", "[paged]") {
  const ir::Variant var = from_dsl(
      "variant f { heads = 8 / 2; head_dim = 32; q = fp16; kv = fp16; out = fp16; lse = true;\n"
      "  kv_cache = paged(page_size = 16, layout = HND);\n"
      "  param cap : f32 = 30; input slope : f32[q_heads]; input lens : f32[seqs];\n"
      "  sinks = per_head; bidirectional_ranges = per_seq;\n"
      "  score = softcap(cap) + slope[q_head] * (kv_pos - q_pos);\n"
      "  mask = (causal && q_pos - kv_pos < 24) || kv_pos < lens[seq]; }");
  const bool fused = GENERATE(false, true);
  harness::PagedProblemShape s = mixed_batch(fused);
  s.values.bidirectional_ranges = {{{30, 38}}, {{0, 0}}, {{2, 9}, {12, 15}}, {{250, 290}}};
  check_against_prefill(var, harness::make_random_paged_problem(var, s, 5));
}

TEST_CASE("paged reference: quantized KV caches", "[paged]") {
  const std::string kv = GENERATE(std::string("fp8_e4m3"), std::string("fp8_e4m3 per_tensor"),
                                  std::string("fp8_e5m2 per_tensor"),
                                  std::string("fp8_e4m3 per_token_head"),
                                  std::string("int8 per_token_head"));
  const bool fused = GENERATE(false, true);
  CAPTURE(kv, fused);
  const ir::Variant var = from_dsl(
      "variant q { heads = 4 / 1; head_dim = 64; q = bf16; kv = " + kv +
      "; out = bf16; lse = true;\n  kv_cache = paged(page_size = 32, layout = NHD);"
      " mask = causal; }");
  const harness::HostPagedProblem p = harness::make_random_paged_problem(var, mixed_batch(fused), 3);
  check_against_prefill(var, p);
}

TEST_CASE("paged reference: fp8 per-tensor dequantization by hand", "[paged]") {
  ir::Variant var = from_dsl(
      "variant t { heads = 1 / 1; head_dim = 16; q = bf16; kv = fp8_e4m3 per_tensor; out = bf16;\n"
      "  lse = true; kv_cache = paged(page_size = 16); }");
  var.out_type = DType::fp8_e4m3;  // fp8 output with an output scale

  // Two pages; the sequence's two keys live in page 1.
  HostTensor k = make_host_tensor(DType::fp8_e4m3, {2, 16, 1, 16});
  HostTensor v = make_host_tensor(DType::fp8_e4m3, {2, 16, 1, 16});
  HostTensor q = make_host_tensor(DType::bf16, {1, 1, 16});
  auto put = [](HostTensor& t, int64_t i, double x) { store_element(t.bytes.data(), t.dtype, i, x); };
  const int64_t page1 = 16 * 16;
  put(k, page1 + 0, 1.0);        // key 0 = [1, 0, ...]
  put(k, page1 + 16, -1.0);      // key 1 = [-1, 0, ...]
  put(v, page1 + 0, 3.0);        // value 0 = [3, 0, ...]
  put(v, page1 + 16, 1.5);       // value 1 = [1.5, 0, ...]
  put(q, 0, 1.0);
  std::vector<int32_t> table{1}, lens{2}, cu{0, 1};
  HostTensor out = make_host_tensor(DType::fp8_e4m3, {1, 1, 16});
  HostTensor lse = make_host_tensor(DType::f32, {1, 1});

  PagedArgs a;
  a.q = q.view();
  a.k_cache = k.view();
  a.v_cache = v.view();
  a.block_table = contiguous_view(table.data(), DType::i32, {1, 1}, DeviceKind::cpu);
  a.seq_lens = contiguous_view(lens.data(), DType::i32, {1}, DeviceKind::cpu);
  a.cu_seqlens_q = contiguous_view(cu.data(), DType::i32, {2}, DeviceKind::cpu);
  a.max_seqlen_q = 1;
  a.out = out.view();
  a.lse = lse.view();
  a.k_descale = 2.0f;
  a.v_descale = 0.5f;
  a.out_scale = 4.0f;
  const PagedReferenceResult r = reference_paged(var, a);

  // Keys dequantize to +-2, scores to 1/sqrt(16) * (+-2) = +-0.5; values to 1.5 and 0.75.
  const double w0 = std::exp(0.5), w1 = std::exp(-0.5);
  const double expected = (w0 * 1.5 + w1 * 0.75) / (w0 + w1);
  CHECK(r.out[0] == Approx(expected).epsilon(1e-14));
  CHECK(r.out[1] == 0.0);
  CHECK(r.lse[0] == Approx(std::log(w0 + w1)).epsilon(1e-14));
  // The fp8 output holds round(result * out_scale).
  unsigned char want_byte = 0;
  store_element(&want_byte, DType::fp8_e4m3, 0, expected * 4.0);
  CHECK(out.bytes[0] == want_byte);
  CHECK(load_element(out.bytes.data(), DType::fp8_e4m3, 0) == Approx(expected * 4).margin(0.25));
  CHECK(load_element(lse.bytes.data(), DType::f32, 0) == Approx(std::log(w0 + w1)).epsilon(1e-6));
}

TEST_CASE("cache_write: per-token-head quantization round trip", "[paged]") {
  const std::string kv = GENERATE(std::string("int8"), std::string("fp8_e4m3"));
  CAPTURE(kv);
  const ir::Variant var = from_dsl(
      "variant w { heads = 2 / 2; head_dim = 32; q = f32; kv = " + kv +
      " per_token_head; out = f32; kv_cache = paged(page_size = 16, layout = HND); }");
  const int tokens = 40;
  HostTensor k = make_host_tensor(DType::f32, {tokens, 2, 32});
  HostTensor v = make_host_tensor(DType::f32, {tokens, 2, 32});
  // Magnitudes from 1e-3 to 1e3, and one all-zero row (token 7, head 1).
  for (int64_t i = 0; i < k.numel(); ++i) {
    const double magnitude = std::pow(10.0, (i % 7) - 3.0);
    const double x = std::sin(0.37 * static_cast<double>(i)) * magnitude;
    const bool zero_row = i / 32 == 7 * 2 + 1;
    store_element(k.bytes.data(), DType::f32, i, zero_row ? 0.0 : x);
    store_element(v.bytes.data(), DType::f32, i, -x);
  }
  HostTensor kc = make_host_tensor(var.kv_type, {4, 2, 16, 32});
  HostTensor vc = make_host_tensor(var.kv_type, {4, 2, 16, 32});
  HostTensor ks = make_host_tensor(DType::f32, {4, 16, 2});
  HostTensor vs = make_host_tensor(DType::f32, {4, 16, 2});
  HostTensor slots = make_host_tensor(DType::i32, {tokens});
  for (int t = 0; t < tokens; ++t) store_element(slots.bytes.data(), DType::i32, t, 63 - t);

  CacheWriteArgs w;
  w.k = k.view();
  w.v = v.view();
  w.k_cache = kc.view();
  w.v_cache = vc.view();
  w.k_scale_cache = ks.view();
  w.v_scale_cache = vs.view();
  w.slot_mapping = slots.view();
  reference_cache_write(var, w);

  const double qmax = quantized_max(var.kv_type);
  size_t violations = 0;
  for (int t = 0; t < tokens; ++t) {
    const int slot = 63 - t, page = slot / 16, offset = slot % 16;
    for (int h = 0; h < 2; ++h) {
      const double scale = load_element(ks.bytes.data(), DType::f32, (page * 16 + offset) * 2 + h);
      double amax = 0;
      for (int d = 0; d < 32; ++d)
        amax = std::max(amax, std::abs(load_element(k.bytes.data(), DType::f32, (t * 2 + h) * 32 + d)));
      if (amax == 0) CHECK(scale == kMinTokenHeadScale);
      else CHECK(scale == Approx(amax / qmax).epsilon(1e-6));
      for (int d = 0; d < 32; ++d) {
        const double x = load_element(k.bytes.data(), DType::f32, (t * 2 + h) * 32 + d);
        const double stored =
            load_element(kc.bytes.data(), var.kv_type, ((page * 2 + h) * 16 + offset) * 32 + d);
        const double back = stored * scale;
        // int8: half a step of the scale. e4m3: half an ulp (3 mantissa bits: 2^-4
        // relative) above the subnormal range, half the smallest subnormal (2^-10) below.
        const double bound = var.kv_type == DType::i8
                                 ? 0.5 * scale * (1 + 1e-6)
                                 : std::abs(x) * 0x1p-4 + scale * 0x1p-10;
        if (!(std::abs(back - x) <= bound)) ++violations;
        if (var.kv_type == DType::i8) CHECK(std::abs(stored) <= 127);
      }
    }
  }
  CHECK(violations == 0);
}

TEST_CASE("cache_write: per-tensor scale, conversion and skipped slots", "[paged]") {
  const ir::Variant var = from_dsl(
      "variant w { heads = 1 / 1; head_dim = 16; q = bf16; kv = fp8_e5m2 per_tensor; out = bf16;\n"
      "  kv_cache = paged(page_size = 16); }");
  HostTensor k = make_host_tensor(DType::bf16, {3, 1, 16});
  HostTensor v = make_host_tensor(DType::bf16, {3, 1, 16});
  for (int64_t i = 0; i < 48; ++i) {
    store_element(k.bytes.data(), DType::bf16, i, 0.25 * static_cast<double>(i % 16) + 1);
    store_element(v.bytes.data(), DType::bf16, i, -2.0);
  }
  HostTensor kc = make_host_tensor(DType::fp8_e5m2, {2, 16, 1, 16});
  HostTensor vc = make_host_tensor(DType::fp8_e5m2, {2, 16, 1, 16});
  std::fill(kc.bytes.begin(), kc.bytes.end(), static_cast<unsigned char>(0x55));
  std::fill(vc.bytes.begin(), vc.bytes.end(), static_cast<unsigned char>(0x55));
  std::vector<int32_t> slots{17, -1, 3};  // token 1 is padding
  CacheWriteArgs w;
  w.k = k.view();
  w.v = v.view();
  w.k_cache = kc.view();
  w.v_cache = vc.view();
  w.slot_mapping = contiguous_view(slots.data(), DType::i32, {3}, DeviceKind::cpu);
  w.k_scale = 0.5f;
  w.v_scale = 4.0f;
  reference_cache_write(var, w);

  for (int d = 0; d < 16; ++d) {
    const double x = 0.25 * d + 1;
    unsigned char want = 0;
    store_element(&want, DType::fp8_e5m2, 0, x / 0.5);
    CHECK(kc.bytes[17 * 16 + d] == want);  // token 0 -> slot 17 (page 1, offset 1)
    CHECK(kc.bytes[3 * 16 + d] == want);   // token 2 -> slot 3
    CHECK(load_element(vc.bytes.data(), DType::fp8_e5m2, 3 * 16 + d) == -0.5);
  }
  // Every other slot keeps its bytes: the padding token wrote nothing.
  size_t touched = 0;
  for (size_t i = 0; i < kc.bytes.size(); ++i) {
    const int64_t slot = static_cast<int64_t>(i) / 16;
    if (slot != 17 && slot != 3 && (kc.bytes[i] != 0x55 || vc.bytes[i] != 0x55)) ++touched;
  }
  CHECK(touched == 0);
}

TEST_CASE("merge of two halves of the keys equals attention over all keys", "[paged]") {
  const ir::Variant var = from_dsl(
      "variant m { heads = 4 / 2; head_dim = 32; q = f32; kv = f32; out = f32; lse = true; }");
  harness::ProblemShape whole_shape;
  whole_shape.batch = 1;
  whole_shape.seqlen_q = 6;
  whole_shape.seqlen_k = 50;
  const harness::HostProblem whole = harness::make_random_problem(var, whole_shape, 11);
  const ReferenceResult all = harness::compute_reference(var, whole);

  // The same keys split at 21: each half is its own problem over the same queries.
  auto half = [&](int64_t begin, int64_t end) {
    harness::HostProblem h = whole;
    const int64_t row = 2 * 32 * 4;  // kv_heads * head_dim * sizeof(f32)
    for (HostTensor* t : {&h.k, &h.v}) {
      const HostTensor& src = t == &h.k ? whole.k : whole.v;
      t->shape[1] = end - begin;
      t->bytes.assign(src.bytes.begin() + begin * row, src.bytes.begin() + end * row);
    }
    h.max_seqlen_k = static_cast<int>(end - begin);
    return harness::compute_reference(var, h);
  };
  const ReferenceResult a = half(0, 21), b = half(21, 50);

  // Partial outputs as f32 [tokens, heads, head_dim], LSEs as f32 [heads, tokens].
  auto tensors = [](const ReferenceResult& r, HostTensor& out, HostTensor& lse) {
    out = make_host_tensor(DType::f32, {6, 4, 32});
    lse = make_host_tensor(DType::f32, {4, 6});
    for (size_t i = 0; i < r.out.size(); ++i)
      store_element(out.bytes.data(), DType::f32, static_cast<int64_t>(i), r.out[i]);
    for (int64_t t = 0; t < 6; ++t)
      for (int64_t h = 0; h < 4; ++h)
        store_element(lse.bytes.data(), DType::f32, h * 6 + t, r.lse[t * 4 + h]);
  };
  HostTensor oa, la, ob, lb;
  tensors(a, oa, la);
  tensors(b, ob, lb);
  HostTensor out = make_host_tensor(DType::f32, {6, 4, 32});
  MergeArgs m;
  m.out_a = oa.view();
  m.lse_a = la.view();
  m.out_b = ob.view();
  m.lse_b = lb.view();
  m.out = out.view();
  const MergeReferenceResult merged = reference_merge(m);

  for (size_t i = 0; i < all.out.size(); ++i) {
    CHECK(merged.out[i] == Approx(all.out[i]).margin(1e-5));
    CHECK(load_element(out.bytes.data(), DType::f32, static_cast<int64_t>(i)) ==
          Approx(all.out[i]).margin(1e-5));
  }
  for (int64_t t = 0; t < 6; ++t)
    for (int64_t h = 0; h < 4; ++h)
      CHECK(merged.lse[h * 6 + t] == Approx(all.lse[t * 4 + h]).margin(1e-5));

  // A side that saw no key (LSE -inf) leaves the other unchanged; both empty give 0, -inf.
  for (int64_t i = 0; i < 24; ++i) store_element(lb.bytes.data(), DType::f32, i, -kInf);
  const MergeReferenceResult one_sided = reference_merge(m);
  for (size_t i = 0; i < a.out.size(); ++i)
    CHECK(one_sided.out[i] == Approx(a.out[i]).margin(1e-6));
  for (int64_t i = 0; i < 24; ++i) store_element(la.bytes.data(), DType::f32, i, -kInf);
  const MergeReferenceResult empty = reference_merge(m);
  CHECK(empty.out[0] == 0.0);
  CHECK(empty.lse[0] == -kInf);
}

TEST_CASE("paged harness: random problems", "[paged]") {
  const ir::Variant var = from_dsl(
      "variant h { heads = 4 / 2; head_dim = 16; q = bf16; kv = fp8_e4m3 per_token_head;\n"
      "  out = bf16; kv_cache = paged(page_size = 16, layout = HND); mask = causal; }");
  harness::PagedProblemShape s;
  s.query_lens = {1, 7, 20};
  s.context_lens = {40, 9, 0};
  s.fused_kv = true;
  s.extra_blocks = 5;
  s.padding_tokens = 3;
  const harness::HostPagedProblem p = harness::make_random_paged_problem(var, s, 8);
  CHECK(p.num_seqs == 3);
  CHECK(p.total_q == 28);
  CHECK(p.max_seqlen_q == 20);
  CHECK(p.seq_lens == std::vector<int>{41, 16, 20});
  CHECK(p.num_blocks == 3 + 1 + 2 + 5);
  CHECK(p.max_blocks_per_seq == 3);

  // Used pages are distinct, and not simply handed out in order.
  std::vector<int> used;
  for (int seq = 0; seq < 3; ++seq)
    for (int b = 0; b < (p.seq_lens[seq] + 15) / 16; ++b)
      used.push_back(static_cast<int>(
          load_element(p.block_table.bytes.data(), DType::i32, seq * p.max_blocks_per_seq + b)));
  std::vector<int> sorted = used;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  CHECK(used != sorted);

  // K and V are strided views of one tensor; the scale caches likewise.
  const PagedArgs a = p.host_args();
  CHECK(a.k_cache.stride(0) == 2 * 2 * 16 * 16);
  CHECK(static_cast<unsigned char*>(a.v_cache.data) - static_cast<unsigned char*>(a.k_cache.data) ==
        2 * 16 * 16);
  CHECK(a.k_scale_cache.strides == std::vector<int64_t>{16 * 2 * 2, 2 * 2, 2});

  // Padding tokens have slot -1; an unused page keeps its poison (NaN in e4m3).
  int padding = 0;
  for (int64_t t = 0; t < p.slot_mapping.numel(); ++t)
    padding += load_element(p.slot_mapping.bytes.data(), DType::i32, t) < 0;
  CHECK(padding == 3);
  CHECK(p.k_tokens.shape[0] == 41 + 16 + 20 + 3);
  int unused_page = 0;
  while (std::find(used.begin(), used.end(), unused_page) != used.end()) ++unused_page;
  CHECK(std::isnan(load_element(a.k_cache.data, DType::fp8_e4m3, unused_page * a.k_cache.stride(0))));
  CHECK(std::isnan(load_element(a.v_scale_cache.data, DType::f32,
                                unused_page * a.v_scale_cache.stride(0))));

  // A layout that disagrees with the variant is an error, not an override.
  s.layout = ir::KvLayout::NHD;
  CHECK_THROWS_AS(harness::make_random_paged_problem(var, s, 8), std::invalid_argument);
}

TEST_CASE("paged harness: comparison", "[paged]") {
  const std::string kv = GENERATE(std::string("bf16"), std::string("fp8_e4m3 per_tensor"));
  CAPTURE(kv);
  const ir::Variant var = from_dsl(
      "variant c { heads = 4 / 2; head_dim = 32; q = bf16; kv = " + kv +
      "; out = bf16; lse = true;\n  kv_cache = paged(page_size = 16); mask = causal; }");
  harness::PagedProblemShape s = mixed_batch(false);
  harness::HostPagedProblem p = harness::make_random_paged_problem(var, s, 21);
  // The reference written through args.out / args.lse is what an exact kernel returns.
  reference_paged(var, p.host_args());
  const PagedReferenceResult ref = harness::compute_paged_reference(var, p);
  CHECK(harness::compare_paged_with_reference(var, p, ref).passed);

  // Moving 0.4% of the outputs by 0.5 fails, an FP8 cache or not: the kernel reads the
  // very values the reference dequantizes.
  const int64_t n = p.out.numel();
  harness::HostPagedProblem moved = p;
  for (int64_t i = 0, count = n * 4 / 1000; i < count; ++i) {
    const int64_t at = i * (n / count);
    store_element(moved.out.bytes.data(), DType::bf16, at,
                  load_element(moved.out.bytes.data(), DType::bf16, at) + 0.5);
  }
  CHECK_FALSE(harness::compare_paged_with_reference(var, moved, ref).passed);

  // A NaN fails always.
  harness::HostPagedProblem nan = p;
  store_element(nan.out.bytes.data(), DType::bf16, 7, std::nan(""));
  CHECK_FALSE(harness::compare_paged_with_reference(var, nan, ref).passed);
}

TEST_CASE("paged harness: the unquantized yardstick", "[paged]") {
  const std::string kv = GENERATE(std::string("bf16"), std::string("int8 per_token_head"),
                                  std::string("fp8_e4m3 per_tensor"));
  CAPTURE(kv);
  const ir::Variant var = from_dsl(
      "variant u { heads = 4 / 2; head_dim = 32; q = bf16; kv = " + kv +
      "; out = bf16; lse = true;\n  kv_cache = paged(page_size = 16); mask = causal; }");
  harness::PagedProblemShape s = mixed_batch(true);
  s.padding_tokens = 2;
  const harness::HostPagedProblem p = harness::make_random_paged_problem(var, s, 4);
  const PagedReferenceResult quantized = harness::compute_paged_reference(var, p);
  const PagedReferenceResult plain = harness::compute_unquantized_reference(var, p);
  double max_err = 0;
  for (size_t i = 0; i < plain.out.size(); ++i)
    max_err = std::max(max_err, std::abs(quantized.out[i] - plain.out[i]));
  if (kv == "bf16") CHECK(max_err == 0.0);
  else CHECK((max_err > 0 && max_err < 0.3));  // quantization moves values, a little
}
