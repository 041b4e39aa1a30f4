// The paged kind against the float64 reference on the GPU: mixed batches (decode,
// chunked prefill after cached context, fresh prefill) in one launch, page sizes,
// NHD and HND, fused (strided) K/V views, random page permutations, every KV type,
// fp8 output, variant features, split-KV on and off (same answer), cache writes
// followed by attention, merging two halves, and long contexts (8k-64k keys) with
// every split. Results are judged by the harness's verdict (runtime/harness/verdict.h).
// A problem with prefill chunks runs on both main loops (paged_mainloops.h): the
// mma.sync kernels alone, and, on a 9.0 device, its chunks on the Hopper wgmma kernel.
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "runtime/harness/paged_problem.h"
#include "paged_mainloops.h"

namespace {

using namespace attnjit;

ir::Variant paged_variant(const std::string& body) {
  const std::string text = "variant pg { " + body + " }";
  auto module = compile_variants(SourceFile{"<paged test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<paged test>", text}));
  return module->variants.at(0);
}

Engine& engine() {
  static Engine e;
  return e;
}

int g_cases = 0;
// The closest any problem came to failing: its worst element against that element's
// bound, and its rel_l2 against the rel_l2 bound (both pass at <= 1).
double g_worst_ratio = 0, g_worst_l2_ratio = 0;

void record(const harness::CheckResult& r) {
  ++g_cases;
  g_worst_ratio = std::max(g_worst_ratio, r.worst_ratio);
  g_worst_l2_ratio = std::max(g_worst_l2_ratio, r.rel_l2 / r.rel_l2_bound);
}

// Device copies of a problem's host tensors, uploaded on first use (or left as
// poison for caches a test wants the GPU to fill).
class Mirror {
 public:
  explicit Mirror(std::shared_ptr<cuda::Driver> d) : driver_(std::move(d)) {}
  TensorView view(const harness::HostTensor& t) { return make(t, true); }
  TensorView poisoned(const harness::HostTensor& t) { return make(t, false); }
  void download(harness::HostTensor& t) {
    buffers_.at(&t).download(t.bytes.data(), t.bytes.size());
  }

 private:
  TensorView make(const harness::HostTensor& t, bool upload) {
    auto it = buffers_.find(&t);
    if (it == buffers_.end()) {
      cuda::DeviceBuffer b(driver_, std::max<size_t>(t.bytes.size(), 1));
      if (upload && !t.bytes.empty()) b.upload(t.bytes.data(), t.bytes.size());
      if (!upload) b.fill_bytes(0xFF);
      it = buffers_.emplace(&t, std::move(b)).first;
    }
    TensorView v = t.view();
    v.data = it->second.data();
    v.device = DeviceKind::cuda;
    return v;
  }
  std::shared_ptr<cuda::Driver> driver_;
  std::map<const harness::HostTensor*, cuda::DeviceBuffer> buffers_;
};

const char* mainloop_label(Mainloop m) { return m == Mainloop::wgmma ? " [wgmma chunks]" : ""; }

// One problem on each main loop (paged_mainloops.h), its reference computed once.
void run(const std::string& name, const ir::Variant& v, const harness::PagedProblemShape& shape,
         uint64_t seed, int splits = 0) {
  harness::HostPagedProblem problem = harness::make_random_paged_problem(v, shape, seed);
  const harness::PagedReferenceResult ref = harness::compute_paged_reference(v, problem);
  for (const testing::PrefillMainloop& m : testing::paged_mainloops(v, shape.query_lens)) {
    harness::run_paged_on_device(*m.engine, v, problem, splits);
    const std::string label = name + mainloop_label(m.expected);
    INFO(label);
    CHECK(m.engine->last_paged_prefill_mainloop() == m.expected);
    harness::CheckResult r = harness::compare_paged_with_reference(v, problem, ref);
    record(r);
    std::printf("  %-64s %s\n", label.c_str(), r.summary().c_str());
    INFO(r.summary());
    CHECK(r.passed);
  }
}

std::string split_name(int splits) {
  if (splits == kStreamSplit) return "stream split";
  if (splits == 0) return "heuristic split";
  return fmt::format("{} segments", splits);
}

// One problem, its reference computed once (at long context the host's problem and
// reference cost more than the kernels), run with each split setting in turn.
void run_splits(const std::string& name, const ir::Variant& v, const harness::PagedProblemShape& shape,
                uint64_t seed, std::initializer_list<int> splits) {
  harness::HostPagedProblem problem = harness::make_random_paged_problem(v, shape, seed);
  const harness::PagedReferenceResult ref = harness::compute_paged_reference(v, problem);
  for (const testing::PrefillMainloop& m : testing::paged_mainloops(v, shape.query_lens)) {
    for (int n : splits) {
      harness::run_paged_on_device(*m.engine, v, problem, n);
      const harness::CheckResult r = harness::compare_paged_with_reference(v, problem, ref);
      record(r);
      const std::string label = fmt::format("{}, {}{}", name, split_name(n), mainloop_label(m.expected));
      std::printf("  %-64s %s\n", label.c_str(), r.summary().c_str());
      INFO(label << ": " << r.summary());
      CHECK(m.engine->last_paged_prefill_mainloop() == m.expected);
      CHECK(r.passed);
    }
  }
}

// Decode, chunked prefill after context, fresh prefill, lengths off the page grid.
harness::PagedProblemShape mixed_batch(int page_size) {
  harness::PagedProblemShape s;
  s.query_lens = {1, 1, 37, 200, 1, 5};
  s.context_lens = {300, 17, 150, 0, 0, 1000};
  s.page_size = page_size;
  s.extra_blocks = 7;
  return s;
}

std::string base(const char* kv, int page, const char* layout, const char* extra = "") {
  return fmt::format(
      "heads = 8 / 2; head_dim = 128; q = bf16; kv = {}; out = bf16;"
      " kv_cache = paged(page_size = {}, layout = {}); lse = true; mask = causal; {}",
      kv, page, layout, extra);
}

}  // namespace

TEST_CASE("paged: mixed batches over page sizes and layouts", "[gpu][paged]") {
  std::mt19937_64 rng(21);
  for (int page : {16, 32, 64, 256}) {
    for (const char* layout : {"NHD", "HND"}) {
      ir::Variant v = paged_variant(base("bf16", page, layout));
      harness::PagedProblemShape s = mixed_batch(page);
      s.fused_kv = page == 32;  // one [blocks, 2, ...] tensor unbound into K and V views
      run(fmt::format("bf16 page {} {}{}", page, layout, s.fused_kv ? " fused" : ""), v, s,
          rng());
    }
  }
}

TEST_CASE("paged: head dims, GQA groups and seq_len 1", "[gpu][paged]") {
  std::mt19937_64 rng(23);
  for (int dim : {64, 128, 256}) {
    for (int group : {1, 4, 8}) {
      ir::Variant v = paged_variant(fmt::format(
          "heads = {} / 2; head_dim = {}; q = fp16; kv = fp16; out = fp16;"
          " kv_cache = paged(page_size = 16); mask = causal;",
          2 * group, dim));
      harness::PagedProblemShape s;
      s.query_lens = {1, 1, 9};
      s.context_lens = {0, 63, 40};  // a sequence of length 1
      run(fmt::format("fp16 d{} group {}", dim, group), v, s, rng());
    }
  }
}

TEST_CASE("paged: decode batches (the decode tile: warps split the KV range)", "[gpu][paged]") {
  std::mt19937_64 rng(33);
  const char* kinds[] = {"kv = bf16;", "kv = fp8_e4m3 per_tensor;", "kv = int8 per_token_head;"};
  for (int dim : {64, 128, 256}) {
    for (int group : {1, 4, 16}) {
      for (const char* kv : kinds) {
        ir::Variant v = paged_variant(fmt::format(
            "heads = {} / 2; head_dim = {}; q = bf16; {} out = bf16;"
            " kv_cache = paged(page_size = 16); lse = true; sinks = per_head; mask = causal;",
            2 * group, dim, kv));
        harness::PagedProblemShape s;
        s.query_lens = {1, 1, 1, 1, 1};
        s.context_lens = {0, 5, 300, 1000, 77};
        run(fmt::format("decode d{} group {} {}", dim, group, kv), v, s, rng());
        run(fmt::format("decode d{} group {} {} split 5", dim, group, kv), v, s, rng(), 5);
      }
    }
  }
}

TEST_CASE("paged: quantized KV caches and fp8 output", "[gpu][paged]") {
  std::mt19937_64 rng(25);
  const char* kv_types[] = {"fp8_e4m3 per_tensor", "fp8_e5m2 per_tensor",
                            "fp8_e4m3 per_token_head", "int8 per_token_head"};
  for (const char* kv : kv_types) {
    ir::Variant v = paged_variant(base(kv, 16, "NHD"));
    run(fmt::format("kv {}", kv), v, mixed_batch(16), rng());
    harness::PagedProblemShape fused = mixed_batch(16);
    fused.fused_kv = true;
    run(fmt::format("kv {} fused HND", kv), paged_variant(base(kv, 16, "HND")), fused, rng());
  }
  ir::Variant fp8_out = paged_variant(
      "heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = fp8_e4m3;"
      " kv_cache = paged(page_size = 16); mask = causal;");
  run("fp8 output", fp8_out, mixed_batch(16), rng());
  run("fp8 output, split-KV", fp8_out, mixed_batch(16), rng(), 4);
}

TEST_CASE("paged: 8-bit K/V at every head-dim shape, with bf16 and fp16 queries", "[gpu][paged]") {
  // 8-bit K/V are decoded in registers: bf16 operands are read with a 2^-120 (e4m3) or
  // 2^-112 (e5m2) factor that Q and P compensate, fp16 operands with 2^-8 or none; odd
  // multiples of 16 give V runs aligned only to 2 or 4 bytes.
  std::mt19937_64 rng(26);
  const char* kv_types[] = {"fp8_e4m3 per_tensor", "fp8_e5m2 per_token_head",
                            "int8 per_token_head"};
  for (int dim : {48, 80, 96, 112, 192}) {
    for (const char* q : {"bf16", "fp16"}) {
      for (const char* kv : kv_types) {
        ir::Variant v = paged_variant(fmt::format(
            "heads = 8 / 2; head_dim = {}; q = {}; kv = {}; out = {};"
            " kv_cache = paged(page_size = 16); lse = true; mask = causal;",
            dim, q, kv, q));
        harness::PagedProblemShape s;
        s.query_lens = {1, 1, 20};
        s.context_lens = {150, 7, 60};
        run(fmt::format("d{} q {} kv {}", dim, q, kv), v, s, rng());
      }
    }
  }
}

TEST_CASE("paged: variant features through the same hooks", "[gpu][paged]") {
  std::mt19937_64 rng(27);
  const char* features[] = {
      "mask = causal && window(100);",
      "param cap : f32 = 20.0; score = softcap(cap); mask = causal;",
      "input slope : f32[q_heads]; score = alibi(slope); mask = causal;",
      "sinks = per_head; mask = causal && window(63);",
      "bidirectional_ranges = per_seq; mask = causal;",
  };
  for (const char* f : features) {
    ir::Variant v = paged_variant(fmt::format(
        "heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
        " kv_cache = paged(page_size = 16); lse = true; {}",
        f));
    run(f, v, mixed_batch(16), rng());
    run(std::string(f) + " split 3", v, mixed_batch(16), rng(), 3);
  }
  // One query head per KV head: ALiBi's key bias starts the score accumulators and the
  // LSE and sinks get the query part back, on the paged tile and on the decode tile
  // (whose warps combine their partial results).
  ir::Variant mha = paged_variant(
      "heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = paged(page_size = 16); lse = true; sinks = per_head;"
      " input slope : f32[q_heads]; score = alibi(slope); mask = causal;");
  run("alibi one head per kv head", mha, mixed_batch(16), rng());
  harness::PagedProblemShape decode;
  decode.query_lens = {1, 1, 1};
  decode.context_lens = {300, 17, 1000};
  run("alibi one head per kv head, decode", mha, decode, rng());
  run("alibi one head per kv head, decode split 3", mha, decode, rng(), 3);
}

TEST_CASE("paged: split-KV on and off give the same answer", "[gpu][paged]") {
  ir::Variant v = paged_variant(base("bf16", 16, "NHD", "sinks = per_head;"));
  harness::PagedProblemShape s;
  s.query_lens = {1, 1, 1, 4};
  s.context_lens = {2000, 513, 77, 1200};
  harness::HostPagedProblem problem = harness::make_random_paged_problem(v, s, 99);
  std::vector<unsigned char> first;
  // The stream split twice: its piece counts must be left at zero for the next launch.
  for (int splits : {1, 2, 7, 16, kStreamSplit, kStreamSplit}) {
    harness::run_paged_on_device(engine(), v, problem, splits);
    harness::CheckResult r = harness::compare_paged_with_reference(v, problem);
    INFO("splits " << splits << ": " << r.summary());
    CHECK(r.passed);
    record(r);
    if (first.empty()) {
      first = problem.out.bytes;
    } else {
      // Different segmentations round differently, but only in the last bits.
      harness::HostPagedProblem other = problem;
      other.out.bytes = first;
      harness::CheckResult same = harness::compare_paged_with_reference(v, other);
      CHECK(same.passed);
    }
    if (splits == kStreamSplit) std::printf("  split-KV stream: %s\n", r.summary().c_str());
    else std::printf("  split-KV %2d segments: %s\n", splits, r.summary().c_str());
  }
}

TEST_CASE("paged: the stream split (one wave of blocks shares every sequence's tiles)",
          "[gpu][paged]") {
  std::mt19937_64 rng(35);
  // A long sequence whose units are cut into more pieces than a warp has lanes, units
  // whole inside one block's share, a sequence of length 1, two speculative tokens.
  harness::PagedProblemShape s;
  s.query_lens = {1, 1, 1, 2, 1, 1, 1, 1};
  s.context_lens = {20000, 0, 5, 300, 1000, 77, 4095, 16};
  const std::string cases[] = {
      base("bf16", 16, "NHD", "sinks = per_head;"),
      base("bf16", 64, "HND"),
      base("fp8_e4m3 per_tensor", 16, "NHD"),
      base("int8 per_token_head", 32, "NHD", "sinks = per_head;"),
      "heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16; lse = true;"
      " kv_cache = paged(page_size = 16); mask = causal && window(100);",
      base("bf16", 16, "NHD", "param cap : f32 = 20.0; score = softcap(cap);"),
      base("bf16", 16, "NHD", "input slope : f32[q_heads]; score = alibi(slope);"),
      base("bf16", 16, "NHD", "bidirectional_ranges = per_seq;"),
      "heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = fp8_e4m3;"
      " kv_cache = paged(page_size = 16); mask = causal;",
      "heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16; lse = true;"
      " kv_cache = paged(page_size = 16); sinks = per_head;"
      " input slope : f32[q_heads]; score = alibi(slope); mask = causal;",
  };
  for (const std::string& body : cases) {
    ir::Variant v = paged_variant(body);
    run(fmt::format("stream: {}", body.substr(body.find("kv =") )), v, s, rng(), kStreamSplit);
  }
}

TEST_CASE("paged: cache_write then attention equals attention on the values", "[gpu][paged]") {
  std::mt19937_64 rng(29);
  for (const char* kv : {"bf16", "fp8_e4m3 per_tensor", "fp8_e4m3 per_token_head",
                         "int8 per_token_head"}) {
    for (bool fused : {false, true}) {
      ir::Variant v = paged_variant(base(kv, 16, fused ? "HND" : "NHD"));
      harness::PagedProblemShape s = mixed_batch(16);
      s.padding_tokens = 5;  // slot -1: skipped
      s.fused_kv = fused;
      harness::HostPagedProblem problem = harness::make_random_paged_problem(v, s, rng());
      // The device writes its own cache from the same tokens and attends over it; the
      // host's reference cache write checks what it wrote.
      const harness::HostPagedProblem host_write = problem;
      harness::PagedRunOptions options;
      options.write_cache_on_device = true;
      harness::run_paged_on_device(engine(), v, problem, options);
      // The device stores what the reference cache write stores, but where a value
      // sits on a rounding boundary (its scale is computed in f32 on the device and in
      // f64 then rounded on the host) a code may differ by one step.
      const harness::CacheComparison cache = harness::compare_caches(host_write, problem);
      // The attention is judged on the cache it read, so such a code does not count
      // against it.
      harness::CheckResult r = harness::compare_paged_with_reference(v, problem);
      std::printf("  cache_write %-24s%s then attention: %s; %zu of %zu cache bytes, %zu of "
                  "%zu scales differ\n",
                  kv, fused ? " fused" : "", r.summary().c_str(), cache.differing_bytes,
                  cache.bytes, cache.differing_scales, cache.scales);
      record(r);
      INFO(kv << (fused ? " fused: " : ": ") << r.summary() << "; differing bytes "
              << cache.differing_bytes << ", scales " << cache.differing_scales);
      CHECK(r.passed);
      CHECK(cache.ok(0.01));
    }
  }
}

TEST_CASE("merge: two halves of the keys combine into attention over all", "[gpu][paged]") {
  auto module = compile_variants(SourceFile{
      "<merge test>",
      "variant m { heads = 4 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = contiguous; lse = true; }"});
  REQUIRE(module.ok());
  const ir::Variant& v = module->variants.at(0);
  const int q_len = 130, half = 150, heads = 4, dim = 128;
  harness::ProblemShape shape;
  shape.seqlen_q = q_len;
  shape.seqlen_k = 2 * half;
  harness::HostProblem full = harness::make_random_problem(v, shape, 31);
  // The two halves share q; each sees half of the keys.
  auto half_problem = [&](int which) {
    harness::ProblemShape hs = shape;
    hs.seqlen_k = half;
    harness::HostProblem p = harness::make_random_problem(v, hs, 31);
    p.q = full.q;
    const size_t bytes = full.k.bytes.size() / 2;
    std::copy_n(full.k.bytes.begin() + which * bytes, bytes, p.k.bytes.begin());
    std::copy_n(full.v.bytes.begin() + which * bytes, bytes, p.v.bytes.begin());
    harness::run_on_device(engine(), v, p);
    return p;
  };
  harness::HostProblem a = half_problem(0), b = half_problem(1);

  auto gpu = engine().driver();
  Mirror m(gpu);
  MergeArgs args;
  auto rows_view = [&](const harness::HostTensor& t) {  // [1, S, H, D] -> [S, H, D]
    TensorView view = m.view(t);
    view.shape = {q_len, heads, dim};
    view.strides = {heads * dim, dim, 1};
    return view;
  };
  auto lse_view = [&](const harness::HostTensor& t) {  // [1, H, S] -> [H, S]
    TensorView view = m.view(t);
    view.shape = {heads, q_len};
    view.strides = {q_len, 1};
    return view;
  };
  args.out_a = rows_view(a.out), args.lse_a = lse_view(a.lse);
  args.out_b = rows_view(b.out), args.lse_b = lse_view(b.lse);
  m.poisoned(full.out);
  m.poisoned(full.lse);
  args.out = rows_view(full.out), args.lse = lse_view(full.lse);
  engine().merge(v, args);
  cuda::synchronize(*gpu);
  m.download(full.out);
  m.download(full.lse);
  harness::CheckResult r = harness::compare_with_reference(v, full);
  std::printf("  merge of two halves: %s\n", r.summary().c_str());
  record(r);
  INFO(r.summary());
  CHECK(r.passed);
}

TEST_CASE("paged at long context: decode and chunked prefill over 8k-64k keys",
          "[gpu][paged][long]") {
  // Outputs are near zero here (|out| ~ 0.03), so only a bound that scales with them
  // tells a correct kernel from a wrong one. Decode batches run with the heuristic's
  // split, forced segments (up to the merge's 64) and the stream split; chunked
  // prefill (queries after tens of thousands of cached keys) with forced segments.
  std::mt19937_64 rng(37);
  harness::PagedProblemShape decode;
  decode.query_lens = {1, 1, 1, 2};  // the last: two speculative tokens
  decode.context_lens = {8191, 20000, 40000, 65534};
  harness::PagedProblemShape chunked;
  chunked.query_lens = {16, 1, 64, 3};
  chunked.context_lens = {30000, 12000, 50000, 8189};
  struct Kind {
    const char *q, *kv, *out;
    int page;
    const char *layout, *extra;
  } kinds[] = {
      {"bf16", "bf16", "bf16", 16, "NHD", "lse = true; sinks = per_head;"},
      {"bf16", "bf16", "bf16", 64, "HND", "lse = true;"},
      {"fp16", "fp16", "fp16", 32, "NHD", "lse = true; sinks = per_head;"},
      {"bf16", "fp8_e4m3 per_tensor", "bf16", 16, "NHD", "lse = true;"},
      {"bf16", "fp8_e5m2 per_tensor", "bf16", 16, "HND", "lse = true; sinks = per_head;"},
      {"bf16", "int8 per_token_head", "bf16", 16, "NHD", "lse = true; sinks = per_head;"},
      {"fp16", "fp8_e4m3 per_token_head", "fp16", 16, "NHD", "lse = true;"},
      {"bf16", "bf16", "fp8_e4m3", 16, "NHD", ""},
  };
  for (const Kind& k : kinds) {
    const ir::Variant v = paged_variant(fmt::format(
        "heads = 8 / 2; head_dim = 128; q = {}; kv = {}; out = {};"
        " kv_cache = paged(page_size = {}, layout = {}); mask = causal; {}",
        k.q, k.kv, k.out, k.page, k.layout, k.extra));
    const std::string name = fmt::format("long q {} kv {} out {} page {} {}", k.q, k.kv, k.out,
                                         k.page, k.layout);
    run_splits(name + " decode", v, decode, rng(), {0, 8, 64, kStreamSplit});
    run_splits(name + " chunked", v, chunked, rng(), {0, 4, 16});
  }
}

TEST_CASE("paged: prefill chunks on both main loops (the Hopper kernel's copies and gathers)",
          "[gpu][paged][hopper]") {
  // Chunks of ragged lengths (not multiples of 64 or 128, one token past the decode
  // side's limit), after cached prefixes (q_len < kv_len) or fresh, sequences ending
  // on and just past a 128-key tile, with decode tokens in the same batch.
  std::mt19937_64 rng(41);
  harness::PagedProblemShape mixed;
  mixed.query_lens = {300, 1, 77, 1, 129, 2, 5, 4, 191};
  mixed.context_lens = {0, 500, 64, 3000, 1, 20, 123, 9, 65};
  mixed.extra_blocks = 5;
  // Pages a box each (16, 32, 64, and larger than the tile), gathered (48, 80, 96: pages
  // that straddle 128-key tiles; the DSL's page sizes are multiples of 16).
  for (int page : {16, 32, 64, 256, 48, 80, 96}) {
    for (const char* layout : {"NHD", "HND"}) {
      if (page != 16 && page != 48 && std::string(layout) == "HND") continue;
      ir::Variant v = paged_variant(base("bf16", page, layout));
      harness::PagedProblemShape s = mixed;
      s.fused_kv = page == 32;
      run(fmt::format("chunks bf16 page {} {}{}", page, layout, s.fused_kv ? " fused" : ""), v, s, rng());
    }
  }
  // GQA 64/8 (2 decode tokens a sequence stay on mma.sync, 3 are a chunk), MQA, MHA,
  // every head dim, fp16 with sinks.
  struct Heads {
    int q, kv, dim;
    const char* type;
  } heads[] = {{64, 8, 128, "bf16"}, {8, 1, 64, "fp16"}, {4, 4, 64, "bf16"}, {16, 2, 256, "bf16"},
               {48, 8, 128, "fp16"}};
  for (const Heads& h : heads) {
    ir::Variant v = paged_variant(fmt::format(
        "heads = {} / {}; head_dim = {}; q = {}; kv = {}; out = {}; lse = true; sinks = per_head;"
        " kv_cache = paged(page_size = 16); mask = causal;",
        h.q, h.kv, h.dim, h.type, h.type, h.type));
    harness::PagedProblemShape s;
    s.query_lens = {2, 3, 1, 260, 17};
    s.context_lens = {40, 200, 1000, 7, 0};
    run(fmt::format("chunks {} heads {}/{} d{}", h.type, h.q, h.kv, h.dim), v, s, rng());
  }
  // More query blocks than resident thread blocks (MQA packs 16 tokens a block).
  {
    ir::Variant v = paged_variant(
        "heads = 8 / 1; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
        " kv_cache = paged(page_size = 16); mask = causal;");
    harness::PagedProblemShape s;
    s.query_lens = {1500, 1, 900, 37};
    s.context_lens = {0, 2000, 300, 4000};
    run("chunks: more blocks than SMs", v, s, rng());
  }
  // Variant features and fp8 output on the chunks' kernel, with a split decode launch.
  const char* features[] = {
      "mask = causal && window(100);",
      "param cap : f32 = 20.0; score = softcap(cap); mask = causal;",
      "input slope : f32[q_heads]; score = alibi(slope); mask = causal;",
      "bidirectional_ranges = per_seq; mask = causal;",
      "mask = kv_pos % 3 != 1 && kv_pos <= q_pos;",
  };
  for (const char* f : features) {
    ir::Variant v = paged_variant(fmt::format(
        "heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16;"
        " kv_cache = paged(page_size = 16); lse = true; {}",
        f));
    run(fmt::format("chunks: {}", f), v, mixed_batch(16), rng());
    run(fmt::format("chunks: {} split 3", f), v, mixed_batch(16), rng(), 3);
  }
  ir::Variant fp8_out = paged_variant(
      "heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = fp8_e4m3;"
      " kv_cache = paged(page_size = 16); mask = causal;");
  run("chunks: fp8 output", fp8_out, mixed_batch(16), rng());
  run("chunks: fp8 output, decode in 4 segments", fp8_out, mixed_batch(16), rng(), 4);
}

TEST_CASE("paged: the Hopper path leaves decode batches and 8-bit caches on mma.sync", "[gpu][paged][hopper]") {
  // No chunk, or a cache the wgmma kernel does not read: the mma.sync kernels alone,
  // whatever the switch says.
  std::mt19937_64 rng(43);
  Engine& on = testing::prefill_engine(true);
  harness::PagedProblemShape decode;
  decode.query_lens = {1, 4, 1};  // group 4: four tokens are still the decode tile's
  decode.context_lens = {100, 60, 3000};
  ir::Variant bf16 = paged_variant(base("bf16", 16, "NHD"));
  ir::Variant fp8 = paged_variant(base("fp8_e4m3 per_tensor", 16, "NHD"));
  struct Case {
    const char* name;
    const ir::Variant* v;
    harness::PagedProblemShape shape;
  } cases[] = {{"decode batch", &bf16, decode}, {"fp8 cache with chunks", &fp8, mixed_batch(16)}};
  for (const Case& c : cases) {
    harness::HostPagedProblem problem = harness::make_random_paged_problem(*c.v, c.shape, rng());
    harness::run_paged_on_device(on, *c.v, problem, 0);
    const harness::CheckResult r = harness::compare_paged_with_reference(*c.v, problem);
    record(r);
    std::printf("  %-64s %s\n", c.name, r.summary().c_str());
    INFO(c.name << ": " << r.summary());
    CHECK(on.last_paged_prefill_mainloop() == Mainloop::mma_sync);
    CHECK(r.passed);
  }
}

TEST_CASE("paged: the Hopper path's cut moved (decode on the wgmma kernel; longer decode side)",
          "[gpu][paged][hopper]") {
  // EngineOptions::hopper_paged_decode_q_len_max: 0 puts every sequence on the wgmma
  // kernel (a decode token of a group fills group rows of 128), 64 leaves sequences of up
  // to 64 tokens to the mma.sync kernels on their general tile (never in segments).
  std::mt19937_64 rng(45);
  harness::PagedProblemShape decode;
  decode.query_lens = {1, 1, 2, 1};
  decode.context_lens = {0, 300, 4000, 129};
  for (int cut : {0, 64}) {
    EngineOptions options;
    options.hopper = true;
    options.hopper_paged_decode_q_len_max = cut;
    Engine cut_engine(options);
    const bool hopper_here = testing::paged_mainloops(paged_variant(base("bf16", 16, "NHD")), {100}).size() == 2;
    for (const harness::PagedProblemShape& shape : {decode, mixed_batch(16)}) {
      for (int splits : {0, 5}) {
        ir::Variant v = paged_variant(base("bf16", 16, "NHD", "sinks = per_head;"));
        harness::HostPagedProblem problem = harness::make_random_paged_problem(v, shape, rng());
        harness::run_paged_on_device(cut_engine, v, problem, splits);
        const harness::CheckResult r = harness::compare_paged_with_reference(v, problem);
        record(r);
        const int longest = *std::max_element(shape.query_lens.begin(), shape.query_lens.end());
        const std::string label = fmt::format("cut {}: longest chunk {}, splits {}", cut, longest, splits);
        std::printf("  %-64s %s\n", label.c_str(), r.summary().c_str());
        INFO(label << ": " << r.summary());
        CHECK(cut_engine.last_paged_prefill_mainloop() ==
              (hopper_here && longest > cut ? Mainloop::wgmma : Mainloop::mma_sync));
        CHECK(r.passed);
      }
    }
  }
}

TEST_CASE("paged summary", "[gpu][paged][summary]") {
  std::printf("GPU paged cases run: %d; worst element at %.3g of its bound, worst rel_l2 at "
              "%.3g of its bound\n",
              g_cases, g_worst_ratio, g_worst_l2_ratio);
  SUCCEED();
}
