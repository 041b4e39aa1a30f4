// attnjit's HIP kernels, built for the AMD targets on a machine without an AMD GPU: every
// kernel each variant of configs/variants/*.attn can need, of the kinds that have HIP
// templates, renders and compiles with -Wall and no warning, with hiprtc for
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

// The tiles the engine would choose: the target's tuning config for prefill (the MFMA
// main loop), the row kernels' fixed tile; the paged kind has no HIP entry point yet
// (codegen refuses it, so its specs are left out below).
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

// Every kernel a variant can need on `arch` whose mainloop has HIP templates, and that
// codegen does not refuse for the variant's types (the list the AOT builder compiles).
std::vector<KernelSpec> hip_kernels_of(const ir::Variant& v, const std::string& arch) {
  auto specs = kernels_a_variant_can_need(v, arch, hip_tiles(v, arch));
  if (!specs.ok()) {
    // A paged variant: its attention kernels are refused as not yet built, which makes
    // the list an error; its row kernels are these.
    CHECK(specs.error().find(fmt::format("no paged kernel for {} yet", arch)) != std::string::npos);
    specs = std::vector<KernelSpec>{};
    for (const KernelRole& role : {KernelRole{KernelKind::merge, "", KvSplit::none},
                                   KernelRole{KernelKind::merge, "", KvSplit::segments},
                                   KernelRole{KernelKind::cache_write, "", KvSplit::none}})
      specs->push_back(spec_for(v, arch, role, kRowKernelTile));
  }
  std::vector<KernelSpec> out;
  const Target* target = find_target(arch);
  REQUIRE(target != nullptr);
  for (const KernelSpec& spec : *specs)
    if (mainloop_has_kernels(Vendor::hip, kernel_mainloop(spec.kind, *target)) &&
        unsupported_spec(spec).empty())
      out.push_back(spec);
  return out;
}

// What a kernel's file is called among the kept code objects: the entry (which the
// script checks as the kernel's symbol), the split, the target and the compiler.
std::string object_name(const KernelSpec& spec, const std::string& compiler) {
  return fmt::format("{}.{}.{}.{}", spec.entry_name(), split_name(spec.kv_split), spec.arch, compiler);
}

void compile_all(CompilerBackend& backend, const std::string& arch, const std::string& compiler) {
  const testing::TempDir dir;
  CompileOptions options;
  options.format = BinaryFormat::hsaco;
  options.extra = {"-Wall"};
  options.save_source_dir = dir.path().string();
  options.warnings_as_errors = false;  // the warnings are checked below, by name
  int compiled = 0, prefill = 0;
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
      // Dynamic LDS (the attention kinds' K/V buffers) within the target's 64 KiB; the
      // code object's static LDS is read by tests/cli/run_amd_tests.sh.
      CHECK(geometry_of(spec).shared_bytes <= target->max_shared_bytes);
      testing::keep_code_object(object_name(spec, compiler), artifact->binary);
      ++compiled;
      prefill += spec.kind == KernelKind::prefill;
    }
  }
  // Prefill of the three contiguous variants, merge and cache_write of all six (less the
  // merges codegen refuses for an fp8 output); the paged kind joins the list when it has
  // an MFMA entry point.
  CHECK(prefill == 3);
  CHECK(compiled >= 14);
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

}  // namespace

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
