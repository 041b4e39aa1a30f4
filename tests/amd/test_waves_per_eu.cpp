// waves_per_eu (aiter's register cap) from a tile to the code object: the HIP source
// carries amdgpu_waves_per_eu next to the work-group size, a tile with it is another
// kernel (name, key), and the gfx942 code object clang builds from it keeps a wave within
// the register share the cap leaves it (the metadata's .vgpr_count).
#include <optional>
#include <string>

#include "catch.h"
#include "compiler/backend/clang_hip_compiler.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "compiler/spec/spec_record.h"
#include "compiler/spec/tile_choice.h"
#include "compiler/spec/tuning_config.h"
#include "runtime/plan/launch_plan.h"

namespace {

using namespace attnjit;

// d256 needs the most registers of the shipped head dims.
const char* const kVariant =
    "variant big { heads = 8 / 2; head_dim = 256; q = bf16; kv = bf16; out = bf16;\n"
    "  kv_cache = contiguous; mask = causal; }\n";

KernelSpec prefill_spec(const std::string& arch, int waves_per_eu) {
  auto module = compile_variants(SourceFile{"<test>", kVariant});
  REQUIRE(module.ok());
  TileConfig tile{128, 32, 4, 1};
  tile.waves_per_eu = waves_per_eu;
  return spec_for(module->variants.at(0), arch, KernelRole{KernelKind::prefill, "", KvSplit::none},
                  tile);
}

// The `.vgpr_count` of the code object's AMDGPU metadata (a MessagePack map in a note):
// the key as a fixstr, then its value as a positive fixint, uint8 or uint16.
std::optional<int> vgpr_count(const std::string& elf) {
  const std::string key = std::string(1, char(0xa0 | 11)) + ".vgpr_count";
  const size_t at = elf.find(key);
  if (at == std::string::npos || at + key.size() + 3 > elf.size()) return std::nullopt;
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(elf[at + key.size() + i]); };
  if (byte(0) < 0x80) return byte(0);
  if (byte(0) == 0xcc) return byte(1);
  if (byte(0) == 0xcd) return byte(1) << 8 | byte(2);
  return std::nullopt;
}

}  // namespace

TEST_CASE("waves_per_eu is rendered for HIP kernels and names another kernel", "[amd][waves_per_eu]") {
  const KernelSpec capped = prefill_spec("gfx942", 2), free = prefill_spec("gfx942", 0);
  auto with = render_kernel(capped);
  auto without = render_kernel(free);
  REQUIRE(with.ok());
  REQUIRE(without.ok());
  CHECK(with->text.find("#define ATTNJIT_LAUNCH_BOUNDS __launch_bounds__(attnjit::TileGeometry::kThreads) "
                        "__attribute__((amdgpu_waves_per_eu(2)))\n") != std::string::npos);
  CHECK(without->text.find("amdgpu_waves_per_eu") == std::string::npos);
  // Two values are two kernels: the names differ, and so do the sources the keys hash.
  CHECK(capped.uri() != free.uri());
  CHECK(capped.uri().find("m128n32w4s1e2") != std::string::npos);
  CHECK(with->uri != without->uri);
  CHECK(with->text != without->text);

  // The AOT builder's record keeps it (and reads records without it as before).
  auto recorded = decode_kernel_record(encode_kernel_record(capped, BinaryFormat::hsaco));
  REQUIRE(recorded.ok());
  CHECK(recorded->spec.tile == capped.tile);
  auto old = decode_kernel_record(encode_kernel_record(free, BinaryFormat::hsaco));
  REQUIRE(old.ok());
  CHECK(old->spec.tile.waves_per_eu == 0);
  CHECK(encode_kernel_record(free, BinaryFormat::hsaco).find("[128,32,4,1,0,0]") != std::string::npos);

  // A CUDA target's kernel cannot be given one: codegen refuses the tile.
  auto cuda = render_kernel(prefill_spec("sm_90", 2));
  REQUIRE_FALSE(cuda.ok());
  CHECK(cuda.error().find("waves_per_eu is an AMD setting") != std::string::npos);
}

TEST_CASE("a gfx942 code object built with waves_per_eu keeps within its register share",
          "[amd][waves_per_eu][hip]") {
  auto clang = ClangHipCompiler::open();
  if (!clang) {
    WARN("skipped: needs clang-19 (tools/install-deps.sh installs it): " << clang.error());
    return;
  }
  CompileOptions options;
  options.format = BinaryFormat::hsaco;
  std::optional<int> counts[2];
  for (int waves : {0, 2}) {
    auto source = render_kernel(prefill_spec("gfx942", waves));
    REQUIRE(source.ok());
    auto artifact = (*clang)->compile(*source, *find_target("gfx942"), options);
    if (!artifact) FAIL(artifact.error().describe());
    counts[waves / 2] = vgpr_count(artifact->binary);
    REQUIRE(counts[waves / 2].has_value());
  }
  INFO("VGPRs per lane without the cap " << *counts[0] << ", with waves_per_eu 2 " << *counts[1]);
  // 2 waves per SIMD share its 512 registers per lane (VGPRs and AGPRs): at most 256 each.
  CHECK(*counts[1] <= 256);
  // Left to itself the compiler takes more for this kernel, so the cap is what held it.
  CHECK(*counts[0] > 256);
}
