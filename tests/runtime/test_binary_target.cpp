// Reading the target out of CUBIN ELF headers and PTX modules: both e_flags layouts on
// hand-made headers, and real NVRTC output, unchanged and with patched headers.
#include <cstdint>
#include <string>

#include "catch.h"
#include "elf_builder.h"
#include "compiler/backend/nvrtc_compiler.h"
#include "runtime/cache/binary_target.h"

using attnjit::BinaryFormat;
using attnjit::CubinTarget;
using attnjit::binary_target_mismatch;
using attnjit::read_cubin_target;

namespace {

constexpr size_t kMachineOffset = 18;
constexpr size_t kFlagsOffset = 48;

// A CUDA ELF with the given ABI version and e_flags whose symbol table defines `symbol`.
std::string cuda_elf(uint8_t abi_version, uint32_t flags, const std::string& symbol = "k") {
  attnjit::testing::ElfSpec spec;
  spec.abi_version = abi_version;
  spec.flags = flags;
  spec.symbols = {symbol};
  return attnjit::testing::make_elf(spec);
}

CubinTarget target_of(const std::string& elf) {
  CubinTarget target;
  std::string why;
  INFO(why);
  REQUIRE(read_cubin_target(elf, &target, &why));
  return target;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("CUBIN e_flags are read in both CUDA ELF layouts", "[runtime][cache]") {
  // ABI version 8 (CUDA 13): SM in bits 8-15, arch-specific flag at bit 3.
  CHECK(target_of(cuda_elf(8, 0x06005004)).sm == 80);
  CHECK(target_of(cuda_elf(8, 0x06005a04)).sm == 90);
  CHECK_FALSE(target_of(cuda_elf(8, 0x06005a04)).arch_specific);
  CHECK(target_of(cuda_elf(8, 0x0600640a)).sm == 100);
  CHECK(target_of(cuda_elf(8, 0x0600640a)).arch_specific);
  // ABI version 7 (CUDA 12): SM in bits 0-7, arch-specific flag at bit 11; bits 8-10
  // are texture-mode and addressing flags, not part of the SM.
  CHECK(target_of(cuda_elf(7, 0x005a0550)).sm == 80);
  CHECK(target_of(cuda_elf(7, 0x005a0d5a)).sm == 90);
  CHECK(target_of(cuda_elf(7, 0x005a0d5a)).arch_specific);
  CHECK_FALSE(target_of(cuda_elf(7, 0x0000055a)).arch_specific);
}

TEST_CASE("headers that are not a CUDA CUBIN are refused with the reason",
          "[runtime][cache]") {
  CubinTarget target;
  std::string why;
  const std::string good = cuda_elf(8, 0x06005a04);
  auto refused = [&](std::string elf, const std::string& reason) {
    why.clear();
    INFO("expected: " << reason);
    CHECK_FALSE(read_cubin_target(elf, &target, &why));
    CHECK(contains(why, reason));
  };
  refused(good.substr(0, 40), "not an ELF file");
  refused("PK\x03\x04 a zip file, not an ELF file at all, long enough for a header......",
          "not an ELF file");
  std::string elf32 = good;
  elf32[4] = 1;
  refused(elf32, "not a 64-bit ELF (class 1)");
  std::string big_endian = good;
  big_endian[5] = 2;
  refused(big_endian, "not a little-endian ELF");
  std::string x86 = good;
  x86[kMachineOffset] = 62;
  refused(x86, "ELF machine is 62, not EM_CUDA (190)");
  refused(cuda_elf(9, 0x06005a04), "ABI version 9");
  refused(cuda_elf(8, 0x06000004), "name no SM version");
}

TEST_CASE("a binary must be for the requested arch and define the symbol",
          "[runtime][cache]") {
  const std::string sm90 = cuda_elf(8, 0x06005a04, "attnjit_prefill");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm90, "sm_90", "attnjit_prefill") == "");
  // The header cannot tell sm_90 from sm_90a (NVRTC 13 sets no flag for sm_90a).
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm90, "sm_90a", "attnjit_prefill") == "");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm90, "sm_80", "attnjit_prefill") ==
        "the CUBIN's ELF header says sm_90, not sm_80");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm90, "sm_90", "attnjit_pref") ==
        "the CUBIN has no symbol 'attnjit_pref'");
  const std::string sm100a = cuda_elf(8, 0x0600640a, "k");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm100a, "sm_100a", "k") == "");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm100a, "sm_100", "k") ==
        "the CUBIN's ELF header says sm_100a (arch-specific), not sm_100");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm90, "gfx942", "attnjit_prefill") ==
        "cannot check a CUBIN against target 'gfx942'");

  const std::string ptx =
      "// comment .target sm_70\n.version 9.0\n.target sm_90a, texmode_independent\n"
      ".address_size 64\n.visible .entry attnjit_prefill (\n)\n{\n}\n";
  CHECK(binary_target_mismatch(BinaryFormat::ptx, ptx, "sm_90a", "attnjit_prefill") == "");
  CHECK(binary_target_mismatch(BinaryFormat::ptx, ptx, "compute_90a", "attnjit_prefill") == "");
  CHECK(binary_target_mismatch(BinaryFormat::ptx, ptx, "sm_90", "attnjit_prefill") ==
        "the PTX's .target is sm_90a, not sm_90");
  CHECK(binary_target_mismatch(BinaryFormat::ptx, ptx, "sm_90a", "attnjit_pre") ==
        "the PTX has no .entry 'attnjit_pre'");
  CHECK(binary_target_mismatch(BinaryFormat::ptx, "// no target\n.version 9.0\n", "sm_90",
                               "k") == "the PTX has no .target directive");
}

TEST_CASE("real NVRTC CUBINs carry their SM, and patched headers are caught",
          "[runtime][cache][nvrtc]") {
  auto nvrtc = attnjit::NvrtcCompiler::open();
  if (!nvrtc.ok()) {
    WARN("skipped: needs NVRTC to make real CUBINs: " << nvrtc.error());
    return;
  }
  const attnjit::GeneratedSource source{
      "extern \"C\" __global__ void attnjit_target_test(float* out) {\n"
      "  out[threadIdx.x] = 2.0f * out[threadIdx.x] + 1.0f;\n"
      "}\n",
      "attnjit_target_test", "target_test"};
  auto compile = [&](const char* arch, BinaryFormat format) {
    attnjit::CompileOptions options;
    options.format = format;
    auto compiled = (*nvrtc)->compile(source, *attnjit::find_target(arch), options);
    INFO(arch << ": " << (compiled.ok() ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    return compiled->binary;
  };
  const std::string symbol = source.entry;
  const std::string sm80 = compile("sm_80", BinaryFormat::cubin);
  const std::string sm90 = compile("sm_90", BinaryFormat::cubin);
  const std::string sm90a = compile("sm_90a", BinaryFormat::cubin);
  INFO("NVRTC " << (*nvrtc)->version() << ", ELF ABI version " << target_of(sm90).abi_version);
  CHECK(target_of(sm80).sm == 80);
  CHECK(target_of(sm90).sm == 90);
  CHECK(target_of(sm90a).sm == 90);
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm80, "sm_80", symbol) == "");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm90, "sm_90", symbol) == "");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm90a, "sm_90a", symbol) == "");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm80, "sm_90", symbol) ==
        "the CUBIN's ELF header says sm_80, not sm_90");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, sm90, "sm_80", symbol) ==
        "the CUBIN's ELF header says sm_90, not sm_80");

  // The SM byte of the sm_90 CUBIN rewritten to 80, where this ABI version keeps it.
  std::string patched = sm90;
  const size_t sm_byte = kFlagsOffset + (target_of(sm90).abi_version >= 8 ? 1 : 0);
  REQUIRE(uint8_t(patched[sm_byte]) == 90);
  patched[sm_byte] = char(80);
  CHECK(target_of(patched).sm == 80);
  CHECK(binary_target_mismatch(BinaryFormat::cubin, patched, "sm_90", symbol) ==
        "the CUBIN's ELF header says sm_80, not sm_90");
  std::string other_machine = sm90;
  other_machine[kMachineOffset] = 62;
  CHECK(contains(binary_target_mismatch(BinaryFormat::cubin, other_machine, "sm_90", symbol),
                 "not EM_CUDA"));
  std::string elf32 = sm90;
  elf32[4] = 1;
  CHECK(contains(binary_target_mismatch(BinaryFormat::cubin, elf32, "sm_90", symbol),
                 "not a 64-bit ELF"));

  const std::string ptx90a = compile("sm_90a", BinaryFormat::ptx);
  CHECK(binary_target_mismatch(BinaryFormat::ptx, ptx90a, "sm_90a", symbol) == "");
  CHECK(binary_target_mismatch(BinaryFormat::ptx, ptx90a, "sm_90", symbol) ==
        "the PTX's .target is sm_90a, not sm_90");
}

TEST_CASE("the symbol must be defined in the ELF's symbol table, not merely named",
          "[runtime][cache]") {
  // The kernel's name appears in the file (a string table entry, another section's
  // text) but no symbol of that name exists: not this kernel's binary.
  attnjit::testing::ElfSpec spec;
  spec.flags = 0x06005a04;
  spec.symbols = {"attnjit_other"};
  spec.sections = {{".nv.info.names", std::string("\0attnjit_prefill\0", 17)}};
  const std::string named_only = attnjit::testing::make_elf(spec);
  CHECK(named_only.find(std::string("\0attnjit_prefill\0", 17)) != std::string::npos);
  CHECK(binary_target_mismatch(BinaryFormat::cubin, named_only, "sm_90", "attnjit_prefill") ==
        "the CUBIN has no symbol 'attnjit_prefill'");
  CHECK(binary_target_mismatch(BinaryFormat::cubin, named_only, "sm_90", "attnjit_other") == "");
  // A section table that points outside the file is refused with the reason.
  std::string broken = attnjit::testing::make_elf(spec);
  broken[40] = char(0xf0);  // e_shoff far past the end
  broken[41] = char(0xff);
  CHECK(binary_target_mismatch(BinaryFormat::cubin, broken, "sm_90", "attnjit_other") ==
        "the CUBIN cannot be read: the ELF section table lies outside the file");
}
