// The Hopper (sm_90a, wgmma) kernel of the paged kind's prefill chunks
// (templates/kernels/hopper/paged_prefill.cuh): rendered and compiled by NVRTC to PTX and
// CUBIN without a warning for every shipped paged variant it takes and for page sizes
// whose tiles are copied a box per page (tensor copies) or gathered (cp.async), NHD and
// HND; which variants it refuses; the page-box rule; the planner's kernel list and the
// chunk threshold. Nothing here runs a kernel (tests/gpu/test_paged_gpu.cpp does).
#include <algorithm>
#include <string>

#include "catch.h"
#include "compiler/backend/nvrtc_compiler.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "compiler/support/embedded_files.h"
#include "runtime/api/hopper_paged_maps.h"
#include "runtime/plan/launch_plan.h"

namespace {

using namespace attnjit;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

ir::Variant variant_from(const std::string& text) {
  auto module = compile_variants(SourceFile{"<test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<test>", text}));
  return module->variants.at(0);
}

ir::Variant paged(int page, const char* layout, const std::string& extra = "", int head_dim = 128,
                  const char* heads = "32 / 8") {
  return variant_from("variant p { heads = " + std::string(heads) + "; head_dim = " + std::to_string(head_dim) +
                      "; q = bf16; kv = bf16; out = bf16; kv_cache = paged(page_size = " + std::to_string(page) +
                      ", layout = " + layout + "); " + (has(extra, "mask") ? "" : "mask = causal; ") + extra + " }");
}

const TuningTable& wgmma_table() {
  static const TuningTable table = [] {
    auto t = TuningTable::embedded("sm_90a", Mainloop::wgmma);
    REQUIRE(t.ok());
    return *t;
  }();
  return table;
}

KernelSpec paged_spec(const ir::Variant& v) {
  auto spec = choose_wgmma_paged(v, &wgmma_table(), std::nullopt);
  REQUIRE(spec.ok());
  REQUIRE(spec->has_value());
  return **spec;
}

// PTX and CUBIN (ptxas runs: a setmaxnreg it cannot honor is its warning), both free of
// warnings; returns the PTX.
std::string compile_both(const KernelSpec& spec) {
  static auto opened = NvrtcCompiler::open();
  if (!opened.ok()) FAIL("NVRTC is required but could not be opened: " << opened.error());
  auto src = render_kernel(spec);
  if (!src) FAIL("rendering " << spec.uri() << ": " << src.error());
  const Target& target = *find_target(spec.arch);
  CompileOptions options;
  options.warnings_as_errors = true;
  std::string ptx;
  for (BinaryFormat format : {BinaryFormat::ptx, BinaryFormat::cubin}) {
    options.format = format;
    auto built = (*opened)->compile(*src, target, options);
    if (!built) FAIL(spec.uri() << ": " << built.error().describe());
    std::string warnings;
    for (const std::string& w : built->warnings()) warnings += w + "\n";
    INFO(warnings);
    CHECK(warnings.empty());
    if (format == BinaryFormat::ptx) ptx = built->binary;
  }
  return ptx;
}

// What every build of the kernel holds: the warpgroup MMA, register reallocation, the
// proxy fence before gathered bytes are published, the gathers' cp.async (Q always,
// and the sequence's partial last tile); not the sm_80 loop.
void check_paged_ptx(const std::string& ptx) {
  CHECK(has(ptx, "wgmma.mma_async.sync.aligned.m64n"));
  CHECK(has(ptx, "setmaxnreg.inc.sync.aligned.u32 240"));
  CHECK(has(ptx, "setmaxnreg.dec.sync.aligned.u32 24"));
  CHECK(has(ptx, "cp.async.cg.shared.global"));
  CHECK(has(ptx, "fence.proxy.async.shared::cta"));
  CHECK(has(ptx, "mbarrier.try_wait.parity"));
  CHECK_FALSE(has(ptx, "mma.sync.aligned.m16n8k16"));
}

}  // namespace

TEST_CASE("the page-box rule: whole swizzle atoms, pages and tiles nested", "[hopper][paged]") {
  // Boxes of a page (pages smaller than the tile) or of the tile (pages larger).
  CHECK(hopper_page_box_rows(16, 128) == 16);
  CHECK(hopper_page_box_rows(32, 128) == 32);
  CHECK(hopper_page_box_rows(8, 64) == 8);
  CHECK(hopper_page_box_rows(128, 128) == 128);
  CHECK(hopper_page_box_rows(256, 128) == 128);
  CHECK(hopper_page_box_rows(1024, 64) == 64);
  // Gathered: pages that straddle tiles (the DSL's page sizes are multiples of 16), or
  // that are not whole 8-row atoms.
  CHECK(hopper_page_box_rows(48, 128) == 0);
  CHECK(hopper_page_box_rows(96, 64) == 0);
  CHECK(hopper_page_box_rows(80, 128) == 0);
  CHECK(hopper_page_box_rows(4, 64) == 0);
  CHECK(hopper_page_box_rows(12, 128) == 0);
}

TEST_CASE("every shipped paged variant the wgmma loop takes builds for sm_90a", "[hopper][paged][codegen][nvrtc]") {
  int built = 0;
  for (const char* file : {"configs/variants/default.attn", "configs/variants/paged.attn"}) {
    auto text = embedded_file(file);
    REQUIRE(text.has_value());
    auto module = compile_variants(SourceFile{file, std::string(*text)});
    REQUIRE(module.ok());
    for (const ir::Variant& v : module->variants) {
      if (v.kv_cache.kind != ir::KvCacheKind::paged) continue;
      const bool takes = wgmma_variant_problem(v, KernelKind::paged).empty();
      // 8-bit caches with per-token-head scales stay on the mma.sync paged kernel.
      CHECK(takes == (v.kv_type == DType::bf16 || v.kv_type == DType::f16));
      if (!takes) continue;
      const KernelSpec spec = paged_spec(v);
      INFO(spec.uri());
      CHECK(has(spec.uri(), ".wgmma."));
      CHECK(has(spec.uri(), ".sm_90a.m128n"));
      CHECK(spec.kind == KernelKind::paged);
      const std::string ptx = compile_both(spec);
      check_paged_ptx(ptx);
      CHECK(has(ptx, "cp.async.bulk.tensor.4d"));  // pages of 16: a box each
      ++built;
    }
  }
  CHECK(built >= 1);  // llama3_paged
}

TEST_CASE("the wgmma paged kernel builds for boxed and gathered page sizes, NHD and HND",
          "[hopper][paged][codegen][nvrtc]") {
  struct Case {
    int page;
    const char* layout;
    int head_dim;
    const char* heads;
    std::string extra;
  } cases[] = {
      {16, "HND", 64, "8 / 8", "lse = true; sinks = per_head;"},
      {32, "NHD", 128, "8 / 1", "param cap : f32 = 30; score = softcap(cap);"},  // MQA
      {256, "NHD", 256, "16 / 2", "input slope : f32[q_heads]; score = alibi(slope);"},
      {64, "HND", 128, "64 / 8", "bidirectional_ranges = per_seq;"},
      {48, "NHD", 128, "64 / 8", "lse = true;"},  // gathered
      {80, "HND", 64, "12 / 2", "mask = causal && window(100);"},  // gathered; 6 heads a group
  };
  for (const Case& c : cases) {
    const ir::Variant v = paged(c.page, c.layout, c.extra, c.head_dim, c.heads);
    const KernelSpec spec = paged_spec(v);
    INFO(spec.uri() << " " << c.extra);
    const std::string ptx = compile_both(spec);
    check_paged_ptx(ptx);
    // Tensor copies only where pages are whole boxes; gathered sizes leave none behind.
    CHECK(has(ptx, "cp.async.bulk.tensor.4d") == (hopper_page_box_rows(c.page, spec.tile.block_n) > 0));
    // Not the prefill kind's entry: the rendered source is the paged one, without the
    // mma.sync paged kind's rows and keys.
    auto src = render_kernel(spec);
    REQUIRE(src.ok());
    CHECK(has(src->text, "templates/kernels/hopper/paged_prefill.cuh"));
    CHECK_FALSE(has(src->text, "---- templates/kernels/paged.cuh"));
    CHECK_FALSE(has(src->text, "---- templates/kernels/hopper/prefill.cuh"));
    CHECK(has(src->text, "constexpr int kPageSize = " + std::to_string(c.page) + ";"));
  }
}

TEST_CASE("the wgmma paged kernel's refusals and geometry", "[hopper][paged][codegen]") {
  // 8-bit caches (with or without scales) and wide groups stay on the mma.sync kernel.
  const ir::Variant fp8 = variant_from(
      "variant v { heads = 8 / 2; head_dim = 128; q = bf16; kv = fp8_e4m3 per_tensor; out = bf16;"
      " kv_cache = paged(page_size = 16); }");
  CHECK(has(wgmma_variant_problem(fp8, KernelKind::paged), "one 16-bit type"));
  const ir::Variant int8 = variant_from(
      "variant v { heads = 8 / 2; head_dim = 128; q = bf16; kv = int8 per_token_head; out = bf16;"
      " kv_cache = paged(page_size = 16); }");
  CHECK_FALSE(wgmma_variant_problem(int8, KernelKind::paged).empty());
  const ir::Variant d96 = paged(16, "NHD", "", 96, "8 / 2");
  CHECK(has(wgmma_variant_problem(d96, KernelKind::paged), "head_dim 64, 128 or 256"));
  const ir::Variant wide = paged(16, "NHD", "", 64, "256 / 1");
  CHECK(has(wgmma_variant_problem(wide, KernelKind::paged), "128 rows, not 256"));
  for (const ir::Variant* v : {&fp8, &int8, &d96, &wide}) {
    auto chosen = choose_wgmma_paged(*v, &wgmma_table(), std::nullopt);
    REQUIRE(chosen.ok());
    CHECK_FALSE(chosen->has_value());
  }
  // A paged variant has no wgmma prefill kernel and a contiguous one no paged kernel.
  const ir::Variant llama = paged(16, "NHD");
  CHECK_FALSE(choose_wgmma_prefill(llama, &wgmma_table(), std::nullopt)->has_value());
  const ir::Variant contiguous = variant_from(
      "variant v { heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; }");
  CHECK(has(wgmma_variant_problem(contiguous, KernelKind::paged), "paged KV cache"));
  // Split kernels are refused by the main loop.
  KernelSpec split = paged_spec(llama);
  split.kv_split = KvSplit::segments;
  auto refused = render_kernel(split);
  REQUIRE_FALSE(refused.ok());
  CHECK(has(refused.error(), "does not split KV"));

  // The prefill kernel's tile (configs/sm_90a.json at head dim 128) and layout.
  const KernelSpec spec = paged_spec(llama);
  TileConfig shipped{128, 128, 12, 2};
  shipped.softmax_overlap = shipped.pingpong = true;
  CHECK(spec.tile == shipped);
  const KernelGeometry g = geometry_of(spec);
  CHECK(g.threads == 384);
  CHECK(g.shared_bytes == 32768 + 2 * 2 * 32768 + 9 * 8 + 1024);
  CHECK(spec.uri() != paged_spec(paged(32, "NHD")).uri());  // the page size is part of the kernel
}

TEST_CASE("the planner lists the wgmma paged kernel for sm_90 and sm_90a only", "[hopper][paged][runtime]") {
  const ir::Variant llama = paged(16, "NHD");
  for (const char* arch : {"sm_80", "sm_90", "sm_90a"}) {
    auto table = TuningTable::embedded(arch);
    REQUIRE(table.ok());
    auto specs = kernels_a_variant_can_need(llama, arch, *table, &wgmma_table());
    REQUIRE(specs.ok());
    const auto n = std::count_if(specs->begin(), specs->end(), [](const KernelSpec& s) {
      return s.mainloop == Mainloop::wgmma && s.kind == KernelKind::paged && s.arch == "sm_90a";
    });
    INFO(arch);
    CHECK(n == (std::string(arch) == "sm_80" ? 0 : 1));
    if (n == 1) CHECK(specs->back().uri() == paged_spec(llama).uri());  // the spec the engine looks up
    // The decode launch's kernels stay listed: the decode tile, whole, in segments and streamed.
    CHECK(std::count_if(specs->begin(), specs->end(), [](const KernelSpec& s) {
            return s.kind == KernelKind::paged && !s.mainloop;
          }) >= 5);
  }
  // An fp8 cache gets none.
  const ir::Variant fp8 = variant_from(
      "variant v { heads = 8 / 2; head_dim = 128; q = bf16; kv = fp8_e4m3 per_tensor; out = bf16;"
      " kv_cache = paged(page_size = 16); }");
  auto table = TuningTable::embedded("sm_90");
  REQUIRE(table.ok());
  auto specs = kernels_a_variant_can_need(fp8, "sm_90", *table, &wgmma_table());
  REQUIRE(specs.ok());
  CHECK(std::none_of(specs->begin(), specs->end(), [](const KernelSpec& s) { return s.mainloop.has_value(); }));
}

TEST_CASE("a decode launch that skips the chunks never splits in segments", "[hopper][paged][runtime]") {
  const ir::Variant llama = paged(16, "NHD");
  auto table = TuningTable::embedded("sm_90");
  REQUIRE(table.ok());
  const TileLookup tiles = table_tiles(llama, "sm_90", *table);
  DeviceFacts device;
  device.arch = "sm_90";
  device.sm_count = 132;
  device.segments_blocks_per_sm = 4;
  device.stream_blocks_per_sm = 4;
  PagedCall call;
  call.num_seqs = 3;
  call.total_q = 2000;
  call.max_seqlen_q = paged_decode_q_len_max(llama);
  call.max_seqlen_k = 60000;  // long sequences, few of them: the heuristic splits
  call.max_blocks_per_seq = 4000;
  auto whole_call = plan_for_call(llama, call, device, tiles);
  REQUIRE(whole_call.ok());
  REQUIRE(whole_call->splits != 1);  // the case: a split the mma.sync launch alone would take
  for (int asked : {0, 8, kStreamSplit, 1}) {
    call.num_splits = asked;
    call.skips_chunks = true;
    auto plan = plan_for_call(llama, call, device, tiles);
    REQUIRE(plan.ok());
    INFO("num_splits " << asked);
    CHECK(plan->splits == (asked == 1 ? 1 : kStreamSplit));
    CHECK(plan->launches.size() == 1);  // no merge launch
    CHECK(plan->launches[0].tile.block_m == 16);  // the decode tile
    call.skips_chunks = false;
    auto plain = plan_for_call(llama, call, device, tiles);
    REQUIRE(plain.ok());
    if (asked == 8) CHECK(plain->splits == 8);  // without chunks skipped, as asked
  }
}

TEST_CASE("the chunk threshold leaves the mma.sync launch the decode tile", "[hopper][paged][runtime]") {
  struct Group {
    const char* heads;
    int q_len_max;
  } groups[] = {{"8 / 8", 16}, {"32 / 8", 4}, {"64 / 8", 2}, {"16 / 1", 1}, {"32 / 1", 1}};
  for (const Group& g : groups) {
    const ir::Variant v = paged(16, "NHD", "", 128, g.heads);
    INFO(g.heads);
    CHECK(paged_decode_q_len_max(v) == g.q_len_max);
    // Every group the decode tile can hold gets it for the tokens left; one more token
    // a sequence would not fit (a 32-head group fits no decode tile at all).
    CHECK(uses_decode_tile(v, paged_decode_q_len_max(v)) == (v.group_size() <= 16));
    CHECK_FALSE(uses_decode_tile(v, paged_decode_q_len_max(v) + 1));
  }
}
