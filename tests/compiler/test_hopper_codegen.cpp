// The Hopper (sm_90a, wgmma) prefill kernel: rendered and compiled by NVRTC for every
// prefill variant of the default set and for variants with every hook (score forms,
// masks, sinks, ranges, LSE, inputs, f32 and fp8 outputs), without a warning (the
// suite runs with ATTNJIT_WERROR=1); its PTX uses the warpgroup MMA, the tensor copies
// and register reallocation. Which specs the main loop refuses, and that the default
// path is unchanged, are checked too. Nothing here runs a kernel
// (tests/gpu/test_hopper_gpu.cpp does).
#include <memory>
#include <string>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/backend/nvrtc_compiler.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/spec_record.h"
#include "compiler/spec/tile_choice.h"
#include "compiler/spec/tuning_config.h"
#include "compiler/support/embedded_files.h"

namespace {

using namespace attnjit;

ir::Variant variant_from(const std::string& text) {
  auto module = compile_variants(SourceFile{"<test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<test>", text}));
  return module->variants.at(0);
}

// The spec the engine and the AOT builder take: configs/sm_90a.json's tile.
KernelSpec hopper_spec(const ir::Variant& v) {
  auto table = TuningTable::embedded("sm_90a", Mainloop::wgmma);
  REQUIRE(table.ok());
  auto spec = choose_wgmma_prefill(v, &*table, std::nullopt);
  REQUIRE(spec.ok());
  REQUIRE(spec->has_value());
  return **spec;
}

std::shared_ptr<NvrtcCompiler> open_nvrtc() {
  auto opened = NvrtcCompiler::open();
  if (!opened.ok()) FAIL("NVRTC is required but could not be opened: " << opened.error());
  return opened.value();
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string warnings_of(const Artifact& artifact) {
  std::string text;
  for (const std::string& w : artifact.warnings()) text += w + "\n";
  return text;
}

// Compiles `spec` to PTX and to a CUBIN (ptxas runs: a setmaxnreg it ignores is its
// warning C7508), both free of warnings; returns the PTX.
std::string compile_both(NvrtcCompiler& nvrtc, const KernelSpec& spec) {
  auto src = render_kernel(spec);
  if (!src) FAIL("rendering " << spec.uri() << ": " << src.error());
  const Target& target = *find_target(spec.arch);
  CompileOptions options;
  options.warnings_as_errors = true;
  options.format = BinaryFormat::ptx;
  auto ptx = nvrtc.compile(*src, target, options);
  if (!ptx) FAIL(spec.uri() << ": " << ptx.error().describe());
  CHECK(warnings_of(*ptx).empty());
  options.format = BinaryFormat::cubin;
  auto cubin = nvrtc.compile(*src, target, options);
  if (!cubin) FAIL(spec.uri() << ": " << cubin.error().describe());
  CHECK(warnings_of(*cubin).empty());
  return ptx->binary;
}

}  // namespace

TEST_CASE("every default prefill variant builds on the wgmma main loop for sm_90a", "[hopper][codegen][nvrtc]") {
  auto nvrtc = open_nvrtc();
  auto text = embedded_file("configs/variants/default.attn");
  REQUIRE(text.has_value());
  auto module = compile_variants(SourceFile{"default.attn", std::string(*text)});
  REQUIRE(module.ok());
  int built = 0;
  for (const ir::Variant& v : module->variants) {
    if (!wgmma_variant_problem(v, KernelKind::prefill).empty()) continue;
    const KernelSpec spec = hopper_spec(v);
    INFO(spec.uri());
    // d64 takes three consumer warpgroups (160 registers each), d128 and d256 two (240).
    const bool three = v.head_dim == 64;
    CHECK(has(spec.uri(), three ? ".wgmma.sm_90a.m192n" : ".wgmma.sm_90a.m128n"));
    const std::string ptx = compile_both(*nvrtc, spec);
    CHECK(has(ptx, "wgmma.mma_async.sync.aligned.m64n"));
    CHECK(has(ptx, "cp.async.bulk.tensor.4d"));
    CHECK(has(ptx, three ? "setmaxnreg.inc.sync.aligned.u32 160" : "setmaxnreg.inc.sync.aligned.u32 240"));
    CHECK(has(ptx, "setmaxnreg.dec.sync.aligned.u32 24"));
    CHECK(has(ptx, "mbarrier.try_wait.parity"));
    CHECK_FALSE(has(ptx, "mma.sync.aligned.m16n8k16"));  // not the sm_80 loop
    ++built;
  }
  CHECK(built >= 2);  // head dims 64 and 128 (and 256)
}

TEST_CASE("the wgmma main loop builds every hook without warnings", "[hopper][codegen][nvrtc]") {
  auto nvrtc = open_nvrtc();
  const char* bodies[] = {
      "q = bf16; kv = bf16; out = bf16; mask = causal && window(100);",
      "q = fp16; kv = fp16; out = fp16; param cap : f32 = 30; score = softcap(cap); mask = causal;",
      "q = bf16; kv = bf16; out = bf16; input slope : f32[q_heads]; score = alibi(slope); mask = causal;",
      "q = bf16; kv = bf16; out = bf16; sinks = per_head; lse = true; mask = causal;",
      "q = bf16; kv = bf16; out = f32; score = score * 0.5 + kv_pos * 0.001; mask = kv_pos % 3 != 1;",
      "q = fp16; kv = fp16; out = fp8_e4m3; bidirectional_ranges = per_seq; mask = causal;",
  };
  for (int head_dim : {64, 128}) {
    for (const char* body : bodies) {
      const ir::Variant v = variant_from("variant h { heads = 8 / 2; head_dim = " + std::to_string(head_dim) +
                                         "; kv_cache = contiguous; " + body + " }");
      INFO("head_dim " << head_dim << ": " << body);
      const std::string ptx = compile_both(*nvrtc, hopper_spec(v));
      CHECK(has(ptx, "wgmma.mma_async"));
    }
  }
}

TEST_CASE("the wgmma main loop refuses what it cannot build, with the reason", "[hopper][codegen]") {
  const ir::Variant d128 = variant_from(
      "variant v { heads = 4 / 4; head_dim = 128; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; }");
  KernelSpec spec = hopper_spec(d128);
  REQUIRE(render_kernel(spec).ok());

  auto refusal = [](const KernelSpec& s) {
    auto src = render_kernel(s);
    return src ? std::string() : src.error();
  };
  KernelSpec plain = spec;
  plain.arch = "sm_90";  // wgmma needs the arch-specific target
  CHECK(has(refusal(plain), "sm_90 has no wgmma main loop"));
  KernelSpec wide = spec;
  wide.tile.block_n = 256;
  CHECK(has(refusal(wide), "registers per thread"));
  KernelSpec rows = spec;
  rows.tile.block_m = 64;
  CHECK(has(refusal(rows), "BLOCK_M 128 with 12 warps"));
  KernelSpec deep = spec;
  deep.tile.stages = 4;  // 32 KiB Q + 4 x 64 KiB K/V
  CHECK(has(refusal(deep), "exceeds the arch's"));

  const ir::Variant d96 = variant_from(
      "variant v { heads = 4 / 4; head_dim = 96; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; }");
  KernelSpec d96_spec = spec;
  d96_spec.variant = d96;
  CHECK(has(refusal(d96_spec), "head_dim 64, 128 or 256, not 96"));
  const ir::Variant fp8 = variant_from(
      "variant v { heads = 4 / 4; head_dim = 128; q = bf16; kv = fp8_e4m3; out = bf16; kv_cache = contiguous; }");
  KernelSpec fp8_spec = spec;
  fp8_spec.variant = fp8;
  CHECK(has(refusal(fp8_spec), "one 16-bit type"));
  CHECK(has(unsupported_spec(fp8_spec), "one 16-bit type"));
  // The engine and the AOT builder never make such specs: no wgmma kernel is chosen.
  auto table = TuningTable::embedded("sm_90a", Mainloop::wgmma);
  REQUIRE(table.ok());
  for (const ir::Variant* unsupported : {&d96, &fp8}) {
    auto chosen = choose_wgmma_prefill(*unsupported, &*table, std::nullopt);
    REQUIRE(chosen.ok());
    CHECK_FALSE(chosen->has_value());
  }
}

TEST_CASE("a wgmma spec is its own kernel: uri, geometry and record say so", "[hopper][codegen]") {
  const ir::Variant v = variant_from(
      "variant v { heads = 4 / 4; head_dim = 64; q = fp16; kv = fp16; out = fp16; kv_cache = contiguous; }");
  KernelSpec hopper = hopper_spec(v);
  KernelSpec default_loop = hopper;
  default_loop.mainloop.reset();
  CHECK(spec_mainloop(default_loop) == Mainloop::mma_sync);  // sm_90a's default stays mma.sync
  CHECK(find_target("sm_90a")->has_mainloop(Mainloop::wgmma));
  CHECK_FALSE(find_target("sm_90")->has_mainloop(Mainloop::wgmma));
  CHECK(mainloop_has_kernels(Vendor::cuda, Mainloop::wgmma));
  CHECK(spec_mainloop(hopper) == Mainloop::wgmma);
  CHECK(hopper.uri() != default_loop.uri());
  CHECK_FALSE(has(default_loop.uri(), "wgmma"));

  const KernelGeometry g = geometry_of(hopper);
  CHECK(g.threads == 512);
  // The shipped d64 tile has three consumer warpgroups (192 rows) and is persistent: two
  // 24 KiB Q buffers, three stages of 16 KiB K and V, 20 barriers (Q full and empty per
  // buffer, 4 per stage, the feed's 4), the feed's two 8-byte slots, 1 KiB for alignment.
  REQUIRE(hopper.tile.persistent);
  REQUIRE(hopper.tile.block_m == 192);
  CHECK(g.shared_bytes == 2 * 24576 + 3 * 2 * 16384 + 20 * 8 + 2 * 8 + 1024);
  auto src = render_kernel(hopper);
  REQUIRE(src.ok());
  CHECK(has(src->text, "constexpr int kLaunchThreads = 512;"));
  CHECK(has(src->text, "__launch_bounds__(attnjit::HopperGeometry::kThreads, 1)"));

  auto record = decode_kernel_record(encode_kernel_record(hopper, BinaryFormat::cubin));
  REQUIRE(record.ok());
  CHECK(record->spec.mainloop == Mainloop::wgmma);
  CHECK(record->spec.uri() == hopper.uri());
  auto plain_record = decode_kernel_record(encode_kernel_record(default_loop, BinaryFormat::cubin));
  REQUIRE(plain_record.ok());
  CHECK_FALSE(plain_record->spec.mainloop.has_value());
  CHECK_FALSE(has(encode_kernel_record(default_loop, BinaryFormat::cubin), "mainloop"));
}

namespace {

// `tile` with the schedule switches of bit mask `mask` (bit i: hopper_schedule_switches()[i]).
TileConfig with_schedule(TileConfig tile, int mask) {
  const auto& switches = hopper_schedule_switches();
  for (size_t i = 0; i < switches.size(); ++i) tile.*switches[i].member = (mask >> i) & 1;
  return tile;
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("every schedule of the wgmma main loop builds for sm_90a, its PTX showing it", "[hopper][codegen][nvrtc]") {
  auto nvrtc = open_nvrtc();
  REQUIRE(hopper_schedule_switches().size() == 3);
  for (int head_dim : {64, 128, 256}) {
    const ir::Variant v = variant_from("variant s { heads = 8 / 2; head_dim = " + std::to_string(head_dim) +
                                       "; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; mask = causal; }");
    for (int mask = 0; mask < 8; ++mask) {
      KernelSpec spec = hopper_spec(v);
      spec.tile = with_schedule(spec.tile, mask);
      const bool overlap = spec.tile.softmax_overlap, pingpong = spec.tile.pingpong,
                 persistent = spec.tile.persistent;
      INFO(spec.uri());
      auto src = render_kernel(spec);
      REQUIRE(src.ok());
      CHECK(has(src->text, fmt::format("constexpr bool kSoftmaxOverlap = {};", overlap)));
      CHECK(has(src->text, fmt::format("constexpr bool kPingpong = {};", pingpong)));
      CHECK(has(src->text, fmt::format("constexpr bool kPersistent = {};", persistent)));
      const std::string ptx = compile_both(*nvrtc, spec);
      CHECK(has(ptx, "wgmma.mma_async.sync.aligned.m64n"));
      // The overlapped loop waits for S with P V still pending; the serial one never.
      CHECK(has(ptx, "wgmma.wait_group.sync.aligned 1;") == overlap);
      CHECK(has(ptx, "wgmma.wait_group.sync.aligned 0;"));
      // Ping-pong turns: a consumer passes its turn with bar.arrive (and the 16-bit
      // epilogue's bar.sync is there either way).
      CHECK(has(ptx, "bar.arrive") == pingpong);
      CHECK(count_of(ptx, "bar.sync") >= (pingpong ? 2u : 1u));
      // The persistent block releases Q after its epilogue's ordinary accesses, behind
      // a proxy fence, and steps through the grid by its size.
      CHECK(has(ptx, "fence.proxy.async.shared::cta") == persistent);
      CHECK(has(ptx, "mbarrier.try_wait.parity"));
    }
  }
}

TEST_CASE("three consumer warpgroups: BLOCK_M 192 with 16 warps builds, within its register rule",
          "[hopper][codegen][nvrtc]") {
  auto nvrtc = open_nvrtc();
  const int max_shared = find_target("sm_90a")->max_shared_bytes;
  struct Case {
    int head_dim, block_n, stages;
  };
  for (Case c : {Case{64, 128, 3}, Case{64, 64, 3}, Case{128, 64, 2}}) {
    const ir::Variant v = variant_from("variant t { heads = 8 / 2; head_dim = " + std::to_string(c.head_dim) +
                                       "; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; mask = causal; }");
    for (int mask : {0, 3, 7}) {
      KernelSpec spec = hopper_spec(v);
      spec.tile = with_schedule(TileConfig{192, c.block_n, 16, c.stages}, mask);
      INFO(spec.uri());
      REQUIRE(hopper_tile_problem(spec.tile, c.head_dim, max_shared) == "");
      const KernelGeometry g = geometry_of(spec);
      CHECK(g.threads == 512);
      CHECK(has(spec.uri(), ".m192n"));
      auto src = render_kernel(spec);
      REQUIRE(src.ok());
      CHECK(has(src->text, "constexpr int kLaunchThreads = 512;"));
      CHECK(has(src->text, "constexpr int kWarps = 16;"));
      const std::string ptx = compile_both(*nvrtc, spec);
      CHECK(has(ptx, "wgmma.mma_async.sync.aligned.m64n"));
      // Three consumers: 160 registers after setmaxnreg (two take 240).
      CHECK(has(ptx, "setmaxnreg.inc.sync.aligned.u32 160;"));
      // Ping-pong turns pass with bar.arrive (the barrier ids are computed per consumer).
      CHECK(has(ptx, "bar.arrive") == spec.tile.pingpong);
    }
  }
  // The rules: 16 warps with BLOCK_M 192 only, and S, P and O within three consumers'
  // registers (d128 with 128-key tiles needs 160 of 128).
  CHECK(has(hopper_tile_problem(TileConfig{192, 128, 12, 2}, 64, max_shared), "192 with 16, got BLOCK_M 192 with 12"));
  CHECK(has(hopper_tile_problem(TileConfig{128, 128, 16, 2}, 64, max_shared), "got BLOCK_M 128 with 16"));
  CHECK(has(hopper_tile_problem(TileConfig{192, 128, 16, 2}, 128, max_shared),
            "needs 160 accumulator and P registers per thread; at most 128 fit with 3 consumer warpgroups"));
  CHECK(hopper_tile_problem(TileConfig{128, 128, 12, 2}, 128, max_shared) == "");
  // The paged kind's chunk kernel packs its rows 128 a block: a 192-row prefill tile
  // gives it 128 rows, the same BLOCK_N and stages, and no persistent grid.
  const ir::Variant paged = variant_from(
      "variant p { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
      "kv_cache = paged(page_size = 16, layout = NHD); mask = causal; }");
  auto chunk = choose_wgmma_paged(paged, nullptr, with_schedule(TileConfig{192, 128, 16, 3}, 7));
  REQUIRE(chunk.ok());
  REQUIRE(chunk->has_value());
  CHECK((*chunk)->tile == with_schedule(TileConfig{128, 128, 12, 3}, 3));
}

TEST_CASE("80-key tiles build at every head dim; d256 fits them with two stages", "[hopper][codegen][nvrtc]") {
  auto nvrtc = open_nvrtc();
  const int max_shared = find_target("sm_90a")->max_shared_bytes;
  for (int head_dim : {64, 128, 256}) {
    const ir::Variant v = variant_from("variant e { heads = 8 / 2; head_dim = " + std::to_string(head_dim) +
                                       "; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; mask = causal; }");
    KernelSpec spec = hopper_spec(v);
    spec.tile = with_schedule(TileConfig{128, 80, 12, 2}, head_dim == 256 ? 3 : 7);
    INFO(spec.uri());
    REQUIRE(hopper_tile_problem(spec.tile, head_dim, max_shared) == "");
    CHECK(has(spec.uri(), ".m128n80"));
    const std::string ptx = compile_both(*nvrtc, spec);
    // S = Q K^T is m64n80; O += P V keeps the head dim's width, in 80 / 16 k-steps.
    CHECK(has(ptx, "wgmma.mma_async.sync.aligned.m64n80k16"));
    CHECK(has(ptx, fmt::format("wgmma.mma_async.sync.aligned.m64n{}k16", head_dim)));
  }
  // d256: Q 64 KiB + 2 stages x (K + V) of 80 x 256 x 2 bytes = 224 KiB fit; 3 stages do not.
  CHECK(hopper_tile_problem(TileConfig{128, 80, 12, 2}, 256, max_shared) == "");
  CHECK(has(hopper_tile_problem(TileConfig{128, 80, 12, 3}, 256, max_shared), "exceeds the arch's"));
  // Other widths have no Wgmma<N> in the vocabulary.
  CHECK(has(hopper_tile_problem(TileConfig{128, 96, 12, 2}, 128, max_shared),
            "the wgmma main loop takes BLOCK_N 64, 80, 128, 256, got 96"));
}

TEST_CASE("the softmax's work reaches the kernels it was measured on", "[hopper][codegen][nvrtc]") {
  // Soft-capping spends a MUFU instruction per score on its tanh, so one exponential in
  // four moves to the FMA pipe (fma_exp2: the floor rounds down, add.rm); O's rescale is
  // skipped while rows keep their max (a warp vote) at head dims 128 and 256, not at 64
  // nor where ALiBi's bias moves the max every tile. d256 takes 80-key tiles.
  auto nvrtc = open_nvrtc();
  struct Case {
    int head_dim;
    const char* features;
    bool fma_exp2, lazy_rescale;
  } cases[] = {
      {128, "param cap : f32 = 50.0; score = softcap(cap);", true, true},
      {128, "", false, true},
      {256, "", false, true},
      {64, "", false, false},
      {128, "input slope : f32[q_heads]; score = alibi(slope);", false, false},
  };
  for (const Case& c : cases) {
    const KernelSpec spec = hopper_spec(variant_from(fmt::format(
        "variant e {{ heads = 8 / 2; head_dim = {}; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous;"
        " mask = causal; {} }}",
        c.head_dim, c.features)));
    INFO(spec.uri());
    const std::string ptx = compile_both(*nvrtc, spec);
    CHECK(has(ptx, "add.rm.f32") == c.fma_exp2);
    CHECK(has(ptx, "vote.sync.any.pred") == c.lazy_rescale);
    if (c.head_dim == 256) CHECK(spec.tile.block_n == 80);
  }
}

TEST_CASE("the schedule switches are part of a wgmma spec: uri, layout and record", "[hopper][codegen]") {
  const ir::Variant v = variant_from(
      "variant v { heads = 4 / 4; head_dim = 128; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; }");
  KernelSpec serial = hopper_spec(v);
  serial.tile = with_schedule(serial.tile, 0);
  KernelSpec all = serial;
  all.tile = with_schedule(serial.tile, 7);
  CHECK_FALSE(has(serial.uri(), "overlap"));
  CHECK(has(all.uri(), "s2.overlap.pingpong.persistent"));
  KernelSpec overlap_only = serial;
  overlap_only.tile.softmax_overlap = true;
  CHECK(has(overlap_only.uri(), "s2.overlap"));
  CHECK_FALSE(has(overlap_only.uri(), "persistent"));
  // The persistent layout adds a second Q tile where it fits (here: 2 x 32 KiB of Q and
  // 2 stages of 128-key K and V tiles), each Q tile's "empty" barrier, and the feed of
  // work-tile indices (two 8-byte slots, a full and an empty barrier each), and says so.
  CHECK(hopper_q_buffers(all.tile, 128) == 2);
  const int feed_bytes = 2 * 8 + 4 * 8;
  CHECK(geometry_of(all).shared_bytes == geometry_of(serial).shared_bytes + 128 * 128 * 2 + 3 * 8 + feed_bytes);
  auto all_src = render_kernel(all);
  REQUIRE(all_src.ok());
  CHECK(has(all_src->text, "constexpr int kQBuffers = 2;"));
  // At head dim 256 two Q tiles (2 x 64 KiB) and two stages of 64-key tiles (128 KiB)
  // exceed sm_90a's 227 KiB: one Q tile.
  TileConfig wide = all.tile;
  wide.block_n = 64;
  CHECK(hopper_q_buffers(wide, 256) == 1);
  TileConfig wide_serial = wide;
  wide_serial.persistent = false;
  CHECK(hopper_geometry(wide, 256).shared_bytes == hopper_geometry(wide_serial, 256).shared_bytes + 8 + feed_bytes);
  CHECK(geometry_of(overlap_only).shared_bytes == geometry_of(serial).shared_bytes);
  for (int mask = 0; mask < 8; ++mask) {
    KernelSpec spec = serial;
    spec.tile = with_schedule(serial.tile, mask);
    const std::string line = encode_kernel_record(spec, BinaryFormat::cubin);
    CHECK(has(line, "\"schedule\"") == (mask != 0));  // older records read the same
    auto record = decode_kernel_record(line);
    REQUIRE(record.ok());
    CHECK(record->spec.tile == spec.tile);
    CHECK(record->spec.uri() == spec.uri());
  }
  std::string bad = encode_kernel_record(all, BinaryFormat::cubin);
  bad.replace(bad.find("pingpong"), 8, "pingpang");
  auto refused = decode_kernel_record(bad);
  REQUIRE_FALSE(refused.ok());
  CHECK(has(refused.error(), "\"schedule\" must be a list of softmax_overlap, pingpong or persistent"));
}

TEST_CASE("sm_90a's config and tile overrides set the schedule switches; other main loops refuse them",
          "[hopper][codegen][config]") {
  const std::string tile = R"("BLOCK_M": 128, "BLOCK_N": 128, "num_warps": 12, "num_stages": 2)";
  auto parse = [&](const std::string& arch, const std::string& extra) {
    return TuningTable::parse(R"({"arch": ")" + arch + R"(", "prefill": {"default": {)" + tile + extra + "}}}",
                              "t.json");
  };
  auto table = parse("sm_90a", R"(, "softmax_overlap": true, "pingpong": false, "persistent": true)");
  REQUIRE(table.ok());
  const TileConfig picked = *table->pick("prefill", 128, true);
  CHECK(picked.softmax_overlap);
  CHECK_FALSE(picked.pingpong);
  CHECK(picked.persistent);
  // The shipped config's choice, measured on an H200 (docs/BENCHMARKS.md): the softmax
  // overlapped with the MMAs and ping-pong everywhere; the persistent grid at head dim
  // 64, and up to 128 under a causal mask.
  auto shipped = TuningTable::embedded("sm_90a", Mainloop::wgmma);
  REQUIRE(shipped.ok());
  for (int head_dim : {64, 128, 256}) {
    for (bool causal : {false, true}) {
      const TileConfig t = *shipped->pick("prefill", head_dim, causal);
      CHECK((t.softmax_overlap && t.pingpong));
      CHECK(t.persistent == (head_dim == 64 || (head_dim == 128 && causal)));
    }
  }

  auto wrong_type = parse("sm_90a", R"(, "pingpong": 1)");
  REQUIRE_FALSE(wrong_type.ok());
  CHECK(wrong_type.error() == "t.json: prefill.default.pingpong: expected true or false, got number 1");
  auto typo = parse("sm_90a", R"(, "persistant": true)");
  REQUIRE_FALSE(typo.ok());
  CHECK(has(typo.error(), "unknown key \"persistant\" (did you mean \"persistent\"?)"));
  const std::string mma_tile = R"("BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2)";
  auto mma = TuningTable::parse(
      R"({"arch": "sm_90", "prefill": {"default": {)" + mma_tile + R"(, "softmax_overlap": false}}})", "t.json");
  REQUIRE_FALSE(mma.ok());
  CHECK(mma.error() ==
        "t.json: prefill.default.softmax_overlap: softmax_overlap is a switch of the wgmma main loop (sm_90a's "
        "prefill tiles), not of mma_sync");

  auto override_tile = parse_tile_override("128,128,12,2,softmax_overlap,persistent");
  REQUIRE(override_tile.ok());
  CHECK(override_tile->softmax_overlap);
  CHECK_FALSE(override_tile->pingpong);
  CHECK(override_tile->persistent);
  CHECK(*parse_tile_override("128,128,12,2,pingpong") == with_schedule(TileConfig{128, 128, 12, 2}, 2));
  auto unknown = parse_tile_override("128,128,12,2,overlap");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error() ==
        "unknown schedule switch \"overlap\" (expected softmax_overlap, pingpong or persistent; in "
        "\"128,128,12,2,overlap\")");
  // The switches take the wgmma main loop's rules, so an mma.sync tile with them is refused.
  auto mma_override = parse_tile_override("128,64,8,2,pingpong");
  REQUIRE_FALSE(mma_override.ok());
  CHECK(has(mma_override.error(), "BLOCK_M 128 with 12 warps"));

  // A spec of another main loop never builds with a switch on.
  const ir::Variant v = variant_from(
      "variant v { heads = 4 / 4; head_dim = 128; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; }");
  KernelSpec plain = hopper_spec(v);
  plain.mainloop.reset();
  plain.tile = with_schedule(TileConfig{128, 64, 8, 2}, 4);
  auto src = render_kernel(plain);
  REQUIRE_FALSE(src.ok());
  CHECK(has(src.error(), "the schedule switches (softmax_overlap, pingpong or persistent) belong to the wgmma main loop"));
}
