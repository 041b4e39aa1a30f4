// The ELF reader the kernel cache and the tuner share: header fields of CUDA and AMDGPU
// files, sections and symbol tables, and malformed files refused without reading
// outside the bytes.
#include <string>

#include "catch.h"
#include "compiler/backend/elf_reader.h"
#include "elf_builder.h"

using namespace attnjit;

namespace {

std::string amdgpu_elf() {
  testing::ElfSpec spec;
  spec.machine = elf::kMachineAmdgpu;
  spec.os_abi = 64;  // ELFOSABI_AMDGPU_HSA
  spec.abi_version = 3;
  spec.type = 3;  // ET_DYN
  spec.flags = 0x54c;  // gfx942 with xnack any, sramecc any
  spec.symbols = {"attnjit_prefill", "attnjit_prefill.kd"};
  spec.sections = {{".text", std::string(16, '\x5a')}};
  return testing::make_elf(spec);
}

}  // namespace

TEST_CASE("ELF headers: machine, flags, ABI and type of CUDA and AMDGPU files", "[elf]") {
  testing::ElfSpec cuda;
  cuda.flags = 0x06005a04;
  cuda.symbols = {"k"};
  auto h = elf::read_header(testing::make_elf(cuda));
  REQUIRE(h.ok());
  CHECK(h->machine == elf::kMachineCuda);
  CHECK(h->flags == 0x06005a04u);
  CHECK(h->abi_version == 8);
  CHECK(h->os_abi == 0x41);
  CHECK(h->type == 2);

  auto a = elf::File::parse(amdgpu_elf());
  REQUIRE(a.ok());
  CHECK(a->header().machine == elf::kMachineAmdgpu);
  CHECK(a->header().flags == 0x54cu);
  CHECK(a->header().abi_version == 3);
  CHECK(a->header().type == 3);

  CHECK(elf::read_header("\x7f" "ELF").error() == "not an ELF file (no ELF header)");
  std::string elf32 = testing::make_elf(cuda);
  elf32[4] = 1;
  CHECK(elf::read_header(elf32).error() == "not a 64-bit ELF (class 1)");
  std::string big = testing::make_elf(cuda);
  big[5] = 2;
  CHECK(elf::read_header(big).error() == "not a little-endian ELF");
}

TEST_CASE("ELF sections and symbols by name, with their indices", "[elf]") {
  const std::string bytes = amdgpu_elf();
  auto f = elf::File::parse(bytes);
  REQUIRE(f.ok());
  // The null section, .shstrtab, .strtab, .symtab, .text.
  REQUIRE(f->sections().size() == 5);
  const elf::Section* text = f->section(".text");
  REQUIRE(text != nullptr);
  CHECK(f->contents(*text) == std::string(16, '\x5a'));
  CHECK(f->section(".nv.info") == nullptr);
  const elf::Section* symtab = f->section(".symtab");
  REQUIRE(symtab != nullptr);
  auto symbols = f->symbols(*symtab);
  REQUIRE(symbols.ok());
  REQUIRE(symbols->size() == 3);  // the null symbol first
  CHECK((*symbols)[1].name == "attnjit_prefill");
  CHECK((*symbols)[2].name == "attnjit_prefill.kd");
  CHECK((*symbols)[2].index == 2);
  auto found = f->find_symbol("attnjit_prefill.kd");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->index == 2);
  CHECK((*found)->defined());
  // A prefix of a name, or a section's name, is no symbol.
  CHECK_FALSE(f->find_symbol("attnjit_pre")->has_value());
  CHECK_FALSE(f->find_symbol(".text")->has_value());
  CHECK(f->symbols(*text).error() == "ELF section .text is not a symbol table");
}

TEST_CASE("malformed ELF files are refused, never read past their end", "[elf]") {
  const std::string good = amdgpu_elf();
  // Every truncation either parses (the cut fell after everything the reader needs)
  // or fails with a reason; the symbol lookup likewise.
  int refused = 0;
  for (size_t cut = 0; cut < good.size(); ++cut) {
    auto f = elf::File::parse(std::string_view(good).substr(0, cut));
    if (!f) {
      CHECK_FALSE(f.error().empty());
      ++refused;
      continue;
    }
    auto s = f->find_symbol("attnjit_prefill");
    if (!s) CHECK_FALSE(s.error().empty());
  }
  // The section table sits at the end: every cut before its end loses it.
  CHECK(refused == static_cast<int>(good.size()));
  // Every single byte set to 0xff in turn: parses or fails, never crashes.
  for (size_t at = 0; at < good.size(); ++at) {
    std::string bad = good;
    bad[at] = char(0xff);
    auto f = elf::File::parse(bad);
    if (f) (void)f->find_symbol("attnjit_prefill");
  }
  // Named problems.
  std::string wide = good;
  wide[58] = 32;  // e_shentsize
  CHECK(elf::File::parse(wide).error() == "ELF section headers of 32 bytes, not 64");
  std::string many = good;
  many[60] = char(0xf0);  // e_shnum: more sections than the file holds
  CHECK(elf::File::parse(many).error().find("lies outside the file") != std::string::npos);
  std::string names = good;
  names[62] = 9;  // e_shstrndx past the sections
  CHECK(elf::File::parse(names).error() == "the ELF section-name table index 9 is not a section");
}
