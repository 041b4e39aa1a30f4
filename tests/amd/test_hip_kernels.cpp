// attnjit's HIP kernels, built for the AMD targets on a machine without an AMD GPU: every
// kernel each variant of configs/variants/*.attn can need (prefill, paged in each split,
// merge, cache_write) renders and compiles with -Wall and no warning, with hiprtc for
// gfx90a and with the offline clang for gfx942 and gfx90a, into a code object that names
// its target and defines the kernel's descriptor. Skips (with the reason) where a
// compiler is absent. With $ATTNJIT_HSACO_OUT set, the code objects are kept there for
// tests/cli/run_amd_tests.sh, which reads them with llvm-readelf and llvm-objdump.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/backend/clang_hip_compiler.h"
#include "compiler/backend/hiprtc_compiler.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "compiler/support/diagnostics.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "compiler/spec/tuning_config.h"
#include "compiler/target/target.h"
#include "hip_test_kernels.h"
#include "runtime/cache/binary_target.h"
#include "runtime/plan/launch_plan.h"
#include "temp_dir.h"

namespace {

using namespace attnjit;

std::vector<ir::Variant> shipped_variants() {
  std::vector<ir::Variant> out;
  const std::filesystem::path dir = std::filesystem::path(ATTNJIT_SOURCE_DIR) / "configs/variants";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".attn") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 2);
  for (const auto& file : files) {
    auto module = compile_variants_file(file.string());
    REQUIRE(module.ok());
    for (const ir::Variant& v : module->variants) out.push_back(v);
  }
  return out;
}

// The tiles the engine would choose: the target's tuning config for the attention kinds
// (the MFMA main loop), the row kernels' fixed tile.
TileLookup hip_tiles(const ir::Variant& v, const std::string& arch) {
  auto table = TuningTable::embedded(arch);
  REQUIRE(table.ok());
  REQUIRE(table->arch() == arch);
  return table_tiles(v, arch, *table);
}

const char* split_name(KvSplit split) {
  switch (split) {
    case KvSplit::none: return "whole";
    case KvSplit::segments: return "segments";
    case KvSplit::stream: return "stream";
  }
  return "?";
}

// Every kernel a variant can need on `arch`: the list the engine plans from and the AOT
// builder compiles (it holds only kernels codegen renders for the variant's types).
std::vector<KernelSpec> hip_kernels_of(const ir::Variant& v, const std::string& arch) {
  auto specs = kernels_a_variant_can_need(v, arch, hip_tiles(v, arch));
  if (!specs) FAIL(specs.error());
  const Target* target = find_target(arch);
  REQUIRE(target != nullptr);
  for (const KernelSpec& spec : *specs) {
    CHECK(mainloop_has_kernels(Vendor::hip, kernel_mainloop(spec.kind, *target)));
    CHECK(unsupported_spec(spec) == "");
  }
  return *specs;
}

// The kernel's LDS within the target's 64 KiB: the main loop's K/V buffers, and for the
// stream split its work line of as many sequences as the planner gives it (the code
// object's static LDS, a few hundred bytes for the stream split's scan, is read by
// tests/cli/run_amd_tests.sh).
void check_lds(const KernelSpec& spec, const Target& target) {
  const KernelGeometry g = geometry_of(spec);
  CHECK(g.shared_bytes <= target.max_shared_bytes);
  if (spec.kv_split == KvSplit::stream)
    CHECK(g.launch_shared_bytes(KvSplit::stream, kStreamSplitMaxSeqs) <= target.max_shared_bytes);
}

// What a kernel's file is called among the kept code objects: the entry (which the
// script checks as the kernel's symbol), the split, the tile (a paged variant has two),
// the target and the compiler.
std::string object_name(const KernelSpec& spec, const std::string& compiler) {
  return fmt::format("{}.{}.m{}n{}w{}s{}.{}.{}", spec.entry_name(), split_name(spec.kv_split), spec.tile.block_m,
                     spec.tile.block_n, spec.tile.warps, spec.tile.stages, spec.arch, compiler);
}

void compile_all(CompilerBackend& backend, const std::string& arch, const std::string& compiler) {
  const testing::TempDir dir;
  CompileOptions options;
  options.format = BinaryFormat::hsaco;
  options.extra = {"-Wall"};
  options.save_source_dir = dir.path().string();
  options.warnings_as_errors = false;  // the warnings are checked below, by name
  int compiled = 0, prefill = 0, paged = 0, stream = 0;
  for (const ir::Variant& v : shipped_variants()) {
    for (const KernelSpec& spec : hip_kernels_of(v, arch)) {
      INFO(spec.uri() << " for " << arch << " with " << compiler);
      auto source = render_kernel(spec);
      REQUIRE(source.ok());
      // The generated file says what it is, and which dialect it is in.
      CHECK(source->text.find(fmt::format("arch {} (HIP)", arch)) != std::string::npos);
      const Target* target = find_target(arch);
      auto artifact = backend.compile(*source, *target, options);
      if (!artifact) FAIL(artifact.error().describe());
      CHECK(artifact->warnings().empty());
      CHECK(binary_target_mismatch(BinaryFormat::hsaco, artifact->binary, arch, spec.entry_name()) == "");
      check_lds(spec, *target);
      testing::keep_code_object(object_name(spec, compiler), artifact->binary);
      ++compiled;
      prefill += spec.kind == KernelKind::prefill;
      paged += spec.kind == KernelKind::paged;
      stream += spec.kv_split == KvSplit::stream;
    }
  }
  // Prefill of the three contiguous variants; of the three paged ones (each with at most
  // 16 query heads per KV head, so the decode tile serves them too) the general tile
  // whole and in segments, the decode tile whole, in segments and in the stream split
  // (at head_dim 256, gemma2_int8_paged's, both tiles are the same: three kernels);
  // merge and cache_write of all six (less the merges codegen refuses for an fp8 output).
  CHECK(prefill == 3);
  CHECK(paged == 13);
  CHECK(stream == 3);
  CHECK(compiled >= 27);
}

// Variant features on the MFMA main loop: every score-transform form, sinks, LSE,
// windows and general masks (with the dialect's math, sqrt exact in masks), ranges, f32
// and 8-bit K/V and the output types. Each compiles on one backend per target.
constexpr const char* kFeatureVariants = R"(
variant cap { heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16;
  kv_cache = contiguous; param cap : f32 = 30.0; score = softcap(cap); mask = causal && window(1000); }
variant alibi_lse_sinks { heads = 4 / 4; head_dim = 64; q = fp16; kv = fp16; out = fp16;
  kv_cache = contiguous; lse = true; sinks = per_head; input slope : f32[q_heads];
  score = alibi(slope); mask = causal; }
variant general { heads = 8 / 4; head_dim = 128; q = bf16; kv = bf16; out = f32;
  kv_cache = contiguous; input slope : f32[q_heads]; score = alibi_sqrt(slope);
  mask = sqrt(kv_pos + 1) < q_pos + 4 && exp(0.0 - abs(q_pos - kv_pos)) >= 0.0 && log(q_pos + 1) >= 0.0; }
variant ranges { heads = 4 / 4; head_dim = 96; q = bf16; kv = bf16; out = fp8_e4m3;
  kv_cache = contiguous; lse = true; bidirectional_ranges = per_seq; mask = causal; }
variant f32_io { heads = 12 / 12; head_dim = 64; q = f32; kv = f32; out = f32; kv_cache = contiguous; }
variant fp8_kv { heads = 8 / 2; head_dim = 128; q = bf16; kv = fp8_e4m3; out = bf16;
  kv_cache = contiguous; mask = causal; }
variant e5m2_kv { heads = 8 / 2; head_dim = 64; q = fp16; kv = fp8_e5m2; out = fp16;
  kv_cache = contiguous; }
variant int8_kv { heads = 8 / 8; head_dim = 256; q = bf16; kv = int8; out = bf16;
  kv_cache = contiguous; mask = causal; }
)";

// Paged variants with the features the shipped ones do not combine: FP8 (both formats)
// and INT8 K/V with per-token-head scales, FP8 with a per-tensor scale, HND and NHD pages
// of 16 to 64 slots, sinks, windows, soft-capping, ALiBi, a general score and mask, LSE,
// f32 and fp8 outputs, head dims 64 to 256, 1 to 8 query heads per KV head.
constexpr const char* kPagedFeatureVariants = R"(
variant p_fp8_pth { heads = 8 / 2; head_dim = 128; q = bf16; kv = fp8_e4m3 per_token_head; out = bf16;
  kv_cache = paged(page_size = 16, layout = HND); sinks = per_head; mask = causal && window(200); }
variant p_e5m2_pth { heads = 4 / 4; head_dim = 64; q = fp16; kv = fp8_e5m2 per_token_head; out = fp16;
  kv_cache = paged(page_size = 32); lse = true; mask = causal; }
variant p_int8_cap { heads = 16 / 2; head_dim = 256; q = bf16; kv = int8 per_token_head; out = fp8_e4m3;
  kv_cache = paged(page_size = 16, layout = HND); param cap : f32 = 30.0; score = softcap(cap); mask = causal; }
variant p_fp8_tensor { heads = 8 / 1; head_dim = 96; q = bf16; kv = fp8_e4m3; out = f32;
  kv_cache = paged(page_size = 64); input slope : f32[q_heads]; score = alibi(slope); mask = causal; }
variant p_general { heads = 8 / 4; head_dim = 64; q = fp16; kv = fp16; out = fp16;
  kv_cache = paged(page_size = 16); input slope : f32[q_heads]; score = alibi_sqrt(slope);
  mask = sqrt(kv_pos + 1) < q_pos + 4 && kv_pos <= q_pos; }
)";

}  // namespace

TEST_CASE("paged variant features compile on the MFMA main loop for gfx90a and gfx942",
          "[hip][hip_kernels]") {
  auto module = compile_variants(SourceFile{"<paged features>", kPagedFeatureVariants});
  if (!module) FAIL(render(module.error(), SourceFile{"<paged features>", kPagedFeatureVariants}));
  auto hiprtc = HiprtcCompiler::open();
  auto clang = ClangHipCompiler::open();
  if (!hiprtc || !clang) {
    WARN("skipped: needs hiprtc and clang-19 (tools/install-deps.sh installs them)");
    return;
  }
  const testing::TempDir dir;
  CompileOptions options;
  options.format = BinaryFormat::hsaco;
  options.extra = {"-Wall"};
  options.save_source_dir = dir.path().string();
  options.warnings_as_errors = false;
  int compiled = 0;
  for (const ir::Variant& v : module->variants) {
    for (const auto& [arch, backend] : {std::pair<std::string, CompilerBackend*>{"gfx90a", hiprtc->get()},
                                        std::pair<std::string, CompilerBackend*>{"gfx942", clang->get()}}) {
      // The paged kernels that differ in code: each tile whole and the stream split (the
      // segments differ from the whole kernel only in their f32 output).
      for (const KernelSpec& spec : hip_kernels_of(v, arch)) {
        if (spec.kind != KernelKind::paged || spec.kv_split == KvSplit::segments) continue;
        INFO(spec.uri() << " (" << split_name(spec.kv_split) << ") for " << arch);
        auto source = render_kernel(spec);
        if (!source) FAIL(source.error());
        auto artifact = backend->compile(*source, *find_target(arch), options);
        if (!artifact) FAIL(artifact.error().describe());
        CHECK(artifact->warnings().empty());
        CHECK(binary_target_mismatch(BinaryFormat::hsaco, artifact->binary, arch, spec.entry_name()) == "");
        check_lds(spec, *find_target(arch));
        testing::keep_code_object("feature." + object_name(spec, arch == "gfx90a" ? "hiprtc" : "clang"),
                                  artifact->binary);
        ++compiled;
      }
    }
  }
  // Each variant's general and decode tile whole, and the decode tile's stream split; at
  // head_dim 256 both tables give the same tile (four waves: fewer would spill), one kernel.
  CHECK(compiled == (4 * 3 + 2) * 2);
}

TEST_CASE("variant features compile on the MFMA main loop for gfx90a and gfx942", "[hip][hip_kernels]") {
  auto module = compile_variants(SourceFile{"<features>", kFeatureVariants});
  if (!module) FAIL(render(module.error(), SourceFile{"<features>", kFeatureVariants}));
  auto hiprtc = HiprtcCompiler::open();
  auto clang = ClangHipCompiler::open();
  if (!hiprtc || !clang) {
    WARN("skipped: needs hiprtc and clang-19 (tools/install-deps.sh installs them)");
    return;
  }
  const testing::TempDir dir;
  CompileOptions options;
  options.format = BinaryFormat::hsaco;
  options.extra = {"-Wall"};
  options.save_source_dir = dir.path().string();
  options.warnings_as_errors = false;
  int compiled = 0;
  for (const ir::Variant& v : module->variants) {
    for (const auto& [arch, backend] : {std::pair<std::string, CompilerBackend*>{"gfx90a", hiprtc->get()},
                                        std::pair<std::string, CompilerBackend*>{"gfx942", clang->get()}}) {
      INFO(v.name << " for " << arch);
      auto table = TuningTable::embedded(arch);
      REQUIRE(table.ok());
      auto tile = choose_tile(v, KernelKind::prefill, arch, &*table, std::nullopt, "");
      REQUIRE(tile.ok());
      const KernelSpec spec = spec_for(v, arch, KernelRole{KernelKind::prefill, "", KvSplit::none}, *tile);
      REQUIRE(unsupported_spec(spec) == "");
      auto source = render_kernel(spec);
      if (!source) FAIL(source.error());
      auto artifact = backend->compile(*source, *find_target(arch), options);
      if (!artifact) FAIL(artifact.error().describe());
      CHECK(artifact->warnings().empty());
      CHECK(binary_target_mismatch(BinaryFormat::hsaco, artifact->binary, arch, spec.entry_name()) == "");
      testing::keep_code_object("feature." + object_name(spec, arch == "gfx90a" ? "hiprtc" : "clang"),
                                artifact->binary);
      ++compiled;
    }
  }
  CHECK(compiled == 16);
}

TEST_CASE("every shipped variant's HIP kernels build with hiprtc for gfx90a", "[hip][hip_kernels]") {
  auto opened = HiprtcCompiler::open();
  if (!opened) {
    WARN("skipped: needs hiprtc (tools/install-deps.sh installs it): " << opened.error());
    return;
  }
  compile_all(**opened, "gfx90a", "hiprtc");
}

TEST_CASE("every shipped variant's HIP kernels build with clang for gfx942 and gfx90a",
          "[hip][hip_kernels]") {
  auto opened = ClangHipCompiler::open();
  if (!opened) {
    WARN("skipped: needs clang-19 (tools/install-deps.sh installs it): " << opened.error());
    return;
  }
  compile_all(**opened, "gfx942", "clang");
  compile_all(**opened, "gfx90a", "clang");
}
