// Reading the target out of AMDGPU code objects (HSACO): hand-made ELF files, whole and
// corrupted, and real ones from hiprtc and clang, unchanged and with patched bytes.
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/backend/clang_hip_compiler.h"
#include "compiler/backend/hiprtc_compiler.h"
#include "elf_builder.h"
#include "fake_binary.h"
#include "hip_test_kernels.h"
#include "runtime/cache/binary_target.h"

namespace {

using namespace attnjit;

using testing::elf_detail::get;
using testing::elf_detail::put;
using testing::elf_section_header_at;

using testing::HsacoParts;
using testing::kElfFunc;
using testing::kElfObject;
constexpr size_t kMachineOffset = 18;
constexpr size_t kFlagsOffset = 48;
constexpr size_t kShOffOffset = 0x28;
constexpr size_t kNoteSection = testing::kElfFirstExtraSection;

std::string make_hsaco(const HsacoParts& parts) { return testing::fake_hsaco(parts); }

std::string hsaco_mismatch(const std::string& elf, std::string_view arch = "gfx942",
                     std::string_view symbol = "k") {
  return binary_target_mismatch(BinaryFormat::hsaco, elf, arch, symbol);
}

std::string refusal(const std::string& elf) {
  HsacoTarget target;
  std::string why;
  CHECK_FALSE(read_hsaco_target(elf, &target, &why));
  return why;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every occurrence of `from` in `bytes` replaced by `to` (same length); how many.
int patch_all(std::string* bytes, const std::string& from, const std::string& to) {
  REQUIRE(from.size() == to.size());
  int count = 0;
  for (size_t at = bytes->find(from); at != std::string::npos; at = bytes->find(from, at + 1)) {
    bytes->replace(at, from.size(), to);
    ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("a hand-made HSACO reads back its target and kernel", "[runtime][cache][hsaco]") {
  const std::string elf = make_hsaco({});
  HsacoTarget target;
  std::string why;
  INFO(why);
  REQUIRE(read_hsaco_target(elf, &target, &why));
  CHECK(target.code_object_version == 5);
  CHECK(target.mach == 0x4c);
  CHECK(target.mach_name == "gfx942");
  CHECK(target.target_id == "amdgcn-amd-amdhsa--gfx942");
  CHECK(target.processor() == "gfx942");
  CHECK(hsaco_mismatch(elf) == "");
  CHECK(hsaco_mismatch(elf, "gfx942", "") == "");

  HsacoParts v4;
  v4.abi_version = 2;
  v4.flags = 0x53f;
  v4.target_id = "amdgcn-amd-amdhsa--gfx90a:sramecc+:xnack-";
  REQUIRE(read_hsaco_target(make_hsaco(v4), &target, &why));
  CHECK(target.code_object_version == 4);
  CHECK(target.processor() == "gfx90a");
  CHECK(hsaco_mismatch(make_hsaco(v4), "gfx90a") == "");
}

TEST_CASE("bytes that are not an AMDGPU code object are refused with the reason",
          "[runtime][cache][hsaco]") {
  const std::string good = make_hsaco({});
  CHECK(refusal(good.substr(0, 40)) == "the HSACO is not an ELF file (no ELF header)");
  std::string elf32 = good;
  elf32[4] = 1;
  CHECK(refusal(elf32) == "the HSACO is not a 64-bit ELF (class 1)");
  std::string big_endian = good;
  big_endian[5] = 2;
  CHECK(refusal(big_endian) == "the HSACO is not a little-endian ELF");
  std::string cuda = good;
  cuda[kMachineOffset] = char(190);
  CHECK(refusal(cuda) == "the HSACO's ELF machine is 190, not EM_AMDGPU (224)");
  std::string sysv = good;
  sysv[7] = 0;
  CHECK(refusal(sysv) == "the HSACO's ELF OS ABI is 0, not AMDGPU HSA (64)");
  HsacoParts old;
  old.abi_version = 0;
  CHECK(refusal(make_hsaco(old)) == "the HSACO is code object version 2; this build reads versions 3 to 6");
  HsacoParts future;
  future.abi_version = 5;
  CHECK(refusal(make_hsaco(future)) == "the HSACO is code object version 7; this build reads versions 3 to 6");

  std::string no_sections = good;
  put(no_sections, 0x3c, 0, 2);
  CHECK(refusal(no_sections) == "the HSACO has no section headers");
  std::string odd_entries = good;
  put(odd_entries, 0x3a, 40, 2);
  CHECK(refusal(odd_entries) == "the HSACO cannot be read: ELF section headers of 40 bytes, not 64");
  std::string far_table = good;
  put(far_table, kShOffOffset, uint64_t(-64), 8);
  CHECK(refusal(far_table) == "the HSACO cannot be read: the ELF section table lies outside the file");
  // A section whose offset plus size wraps around 2^64.
  std::string wrapping = good;
  const size_t note_header = elf_section_header_at(good, kNoteSection);
  put(wrapping, note_header + 0x18, uint64_t(-16), 8);
  CHECK(refusal(wrapping) == "the HSACO cannot be read: ELF section 4 lies outside the file");

  // Every truncation loses the section headers at the end, and is refused, never read
  // past its end.
  for (size_t size = 0; size < good.size(); ++size) {
    INFO("first " << size << " bytes");
    CHECK(hsaco_mismatch(good.substr(0, size)) != "");
  }
}

TEST_CASE("an HSACO must name the requested processor twice and define the kernel",
          "[runtime][cache][hsaco]") {
  const std::string gfx942 = make_hsaco({});
  CHECK(hsaco_mismatch(gfx942, "gfx90a") ==
        "the HSACO's ELF header says gfx942 (EF_AMDGPU_MACH 0x4c), not gfx90a");
  CHECK(hsaco_mismatch(gfx942, "sm_90") == "cannot check an HSACO against target 'sm_90'");

  HsacoParts unknown_mach;
  unknown_mach.flags = 0x599;
  CHECK(hsaco_mismatch(make_hsaco(unknown_mach)) ==
        "the HSACO's ELF header says an unknown processor (EF_AMDGPU_MACH 0x99), not gfx942");
  HsacoParts other_note;
  other_note.target_id = "amdgcn-amd-amdhsa--gfx941:xnack-";
  CHECK(hsaco_mismatch(make_hsaco(other_note)) ==
        "the HSACO's amdhsa.target is amdgcn-amd-amdhsa--gfx941:xnack-, not gfx942");
  HsacoParts no_note;
  no_note.target_id = "";
  CHECK(hsaco_mismatch(make_hsaco(no_note)) == "the HSACO's metadata note has no amdhsa.target");

  const std::string no_descriptor = "the HSACO defines no kernel descriptor 'k.kd'";
  CHECK(hsaco_mismatch(gfx942, "gfx942", "q") == "the HSACO defines no kernel descriptor 'q.kd'");
  HsacoParts function_only;
  function_only.symbols = {{"k", kElfFunc, 1}};
  CHECK(hsaco_mismatch(make_hsaco(function_only)) == no_descriptor);
  HsacoParts undefined;
  undefined.symbols = {{"k", kElfFunc, 1}, {"k.kd", kElfObject, 0}};
  CHECK(hsaco_mismatch(make_hsaco(undefined)) == no_descriptor);
  HsacoParts not_an_object;
  not_an_object.symbols = {{"k.kd", kElfFunc, 1}};
  CHECK(hsaco_mismatch(make_hsaco(not_an_object)) == no_descriptor);
  HsacoParts longer_name;
  longer_name.symbols = {{"k.kdx", kElfObject, 1}, {"xk.kd", kElfObject, 1}};
  CHECK(hsaco_mismatch(make_hsaco(longer_name)) == no_descriptor);
  HsacoParts bad_link;
  bad_link.symtab_link = 9;
  CHECK(hsaco_mismatch(make_hsaco(bad_link)) ==
        "the HSACO cannot be read: ELF symbol table .symtab links no string table");
  // A symbol whose name lies past its string table: refused, never read.
  std::string far_name = gfx942;
  const size_t symtab_header = elf_section_header_at(gfx942, testing::kElfSymtabSection);
  const size_t symtab_at = size_t(get(gfx942, symtab_header + 0x18, 8));
  put(far_name, symtab_at + 2 * 24, 0x7fffffff, 4);  // the k.kd entry
  CHECK(hsaco_mismatch(far_name) ==
        "the HSACO cannot be read: ELF symbol 2 of .symtab has its name outside the string table");
  // A symbol table linked to the null section, whose offset lies far outside the file:
  // the null section holds no bytes, so no names, and none is read.
  HsacoParts null_link;
  null_link.symtab_link = 0;
  std::string null_far = make_hsaco(null_link);
  put(null_far, elf_section_header_at(null_far, 0) + 0x18, uint64_t(1) << 40, 8);
  put(null_far, elf_section_header_at(null_far, 0) + 0x20, 64, 8);
  CHECK(hsaco_mismatch(null_far) ==
        "the HSACO cannot be read: ELF symbol 1 of .symtab has its name outside the string table");
  std::string no_symtab = gfx942;
  put(no_symtab, symtab_header + 4, 1, 4);  // SHT_PROGBITS
  CHECK(hsaco_mismatch(no_symtab) == "the HSACO has no symbol table");
}

TEST_CASE("real code objects carry their processor, and patched ones are caught",
          "[runtime][cache][hsaco][hip]") {
  struct Built {
    std::string arch;
    std::string binary;
  };
  std::vector<Built> built;
  CompileOptions options;
  options.format = BinaryFormat::hsaco;
  if (auto hiprtc = HiprtcCompiler::open()) {
    auto compiled = (*hiprtc)->compile(testing::mfma_32x32x8_bf16_kernel(),
                                       *find_target("gfx90a"), options);
    INFO((compiled ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    built.push_back({"gfx90a", compiled->binary});
  } else {
    WARN("hiprtc part skipped: " << hiprtc.error());
  }
  if (auto clang = ClangHipCompiler::open()) {
    auto compiled = (*clang)->compile(testing::mfma_16x16x16_bf16_kernel(),
                                      *find_target("gfx942"), options);
    INFO((compiled ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    built.push_back({"gfx942", compiled->binary});
  } else {
    WARN("clang part skipped: " << clang.error());
  }
  const std::string entry = testing::kMfmaTestEntry;
  for (const Built& b : built) {
    INFO(b.arch);
    CHECK(hsaco_mismatch(b.binary, b.arch, entry) == "");
    const std::string other = b.arch == "gfx942" ? "gfx90a" : "gfx942";
    CHECK(contains(hsaco_mismatch(b.binary, other, entry), "not " + other));

    // The header's processor rewritten to the other target's: caught by the header.
    std::string patched_mach = b.binary;
    patched_mach[kFlagsOffset] = char(other == "gfx942" ? 0x4c : 0x3f);
    CHECK(hsaco_mismatch(patched_mach, b.arch, entry) ==
          fmt::format("the HSACO's ELF header says {} (EF_AMDGPU_MACH 0x{:02x}), not {}", other,
                      uint8_t(patched_mach[kFlagsOffset]), b.arch));
    // The note's processor rewritten (same length): caught by the note.
    std::string patched_note = b.binary;
    const std::string spelled = "amdgcn-amd-amdhsa--" + b.arch;
    REQUIRE(patch_all(&patched_note, spelled, "amdgcn-amd-amdhsa--gfx941") >= 1);
    CHECK(contains(hsaco_mismatch(patched_note, b.arch, entry),
                   "the HSACO's amdhsa.target is amdgcn-amd-amdhsa--gfx941"));
    // The kernel descriptor's name rewritten in every string table: no kernel.
    std::string patched_symbol = b.binary;
    REQUIRE(patch_all(&patched_symbol, entry + ".kd", "attnjit_mfma_tesX.kd") >= 1);
    CHECK(hsaco_mismatch(patched_symbol, b.arch, entry) ==
          "the HSACO defines no kernel descriptor 'attnjit_mfma_test.kd'");
    std::string other_machine = b.binary;
    other_machine[kMachineOffset] = 62;
    CHECK(contains(hsaco_mismatch(other_machine, b.arch, entry), "not EM_AMDGPU"));
  }
}
