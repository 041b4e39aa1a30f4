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

TEST_CASE("ELF symbol lookup finds defined symbols only, by table or in .symtab", "[elf]") {
  testing::ElfSpec spec;
  // An undefined "k" (a reference to a definition elsewhere) before the defined one.
  spec.symbols = {{"k", elf::kSymbolFunction, 0}, {"k", elf::kSymbolObject, 1},
                  {"only_undefined", elf::kSymbolFunction, 0}};
  const std::string bytes = testing::make_elf(spec);
  auto f = elf::File::parse(bytes);
  REQUIRE(f.ok());
  const elf::Section* symtab = f->section_of_type(elf::kSectionSymtab);
  REQUIRE(symtab != nullptr);
  CHECK(symtab->name == ".symtab");
  CHECK(symtab->index == testing::kElfSymtabSection);
  CHECK(f->section_of_type(elf::kSectionDynsym) == nullptr);
  auto k = f->find_symbol(*symtab, "k");
  REQUIRE(k.ok());
  REQUIRE(k->has_value());
  CHECK((*k)->index == 2);
  CHECK((*k)->type() == elf::kSymbolObject);
  CHECK_FALSE(f->find_symbol("only_undefined")->has_value());
  // Every symbol is still listed, undefined ones too.
  CHECK(f->symbols(*symtab)->size() == 4);
}

TEST_CASE("ELF notes: owner, type and descriptor of each entry in SHT_NOTE sections", "[elf]") {
  testing::ElfSpec spec;
  spec.machine = elf::kMachineAmdgpu;
  // A 5-byte descriptor (3 bytes of padding) first, then a 4-aligned one; a second
  // section with an empty note.
  spec.sections = {{".note", testing::elf_note("AMDGPU", 32, "\x81\xa1k\xa1v") +
                                 testing::elf_note("GNU", 3, std::string("\x01\x02\x03\x04", 4)),
                    elf::kSectionNote, 4},
                   {".note.empty", testing::elf_note("", 1, ""), elf::kSectionNote, 4},
                   {".data", testing::elf_note("NotANote", 9, "x")}};
  const std::string bytes = testing::make_elf(spec);
  auto f = elf::File::parse(bytes);
  REQUIRE(f.ok());
  auto notes = f->notes();
  INFO((notes ? "" : notes.error()));
  REQUIRE(notes.ok());
  REQUIRE(notes->size() == 3);
  CHECK((*notes)[0].name == "AMDGPU");
  CHECK((*notes)[0].type == 32);
  CHECK((*notes)[0].desc == "\x81\xa1k\xa1v");
  CHECK((*notes)[1].name == "GNU");
  CHECK((*notes)[1].type == 3);
  CHECK((*notes)[1].desc == std::string("\x01\x02\x03\x04", 4));
  CHECK((*notes)[2].name == "");
  CHECK((*notes)[2].desc == "");

  // The last descriptor's padding may be missing; a few trailing bytes are padding.
  const std::string one = testing::elf_note("AMDGPU", 32, "abcde");
  auto unpadded = elf::read_notes(std::string_view(one).substr(0, one.size() - 3));
  REQUIRE(unpadded.ok());
  REQUIRE(unpadded->size() == 1);
  CHECK((*unpadded)[0].desc == "abcde");
  CHECK(elf::read_notes(one + std::string(11, '\0'))->size() == 1);
  // 8-aligned areas pad the name and the descriptor to 8 bytes.
  std::string wide(12, '\0');
  wide[0] = 4;  // namesz: "GNU\0"
  wide[4] = 3;  // descsz
  wide[8] = 5;  // type
  wide += std::string("GNU\0\0\0\0\0", 8) + "xyz" + std::string(5, '\0');
  auto eight = elf::read_notes(wide, 8);
  REQUIRE(eight.ok());
  REQUIRE(eight->size() == 1);
  CHECK((*eight)[0].name == "GNU");
  CHECK((*eight)[0].desc == "xyz");

  // Entries running past their area: refused with the reason, never read.
  for (size_t cut = 12; cut < one.size() - 3; ++cut) {
    INFO("first " << cut << " bytes");
    auto short_note = elf::read_notes(std::string_view(one).substr(0, cut));
    REQUIRE_FALSE(short_note.ok());
    CHECK(short_note.error().find("runs past its") != std::string::npos);
  }
  std::string huge = one;
  huge[4] = huge[5] = huge[6] = huge[7] = char(0xff);  // descsz 2^32 - 1
  CHECK(elf::read_notes(huge).error() ==
        "ELF note 0 (7-byte name, 4294967295-byte descriptor) runs past its 28-byte area");
  // A note section whose entry runs past it is named in the file's error.
  testing::ElfSpec bad;
  bad.sections = {{".note.bad", one.substr(0, 14), elf::kSectionNote, 4}};
  auto bad_file = elf::File::parse(testing::make_elf(bad));
  REQUIRE(bad_file.ok());
  CHECK(bad_file->notes().error() ==
        "ELF note 0 (7-byte name, 5-byte descriptor) runs past its 14-byte area in section "
        ".note.bad");
}

TEST_CASE("ELF null sections hold no bytes, and little-endian reads stay inside", "[elf]") {
  // Section 0 (SHT_NULL) with an offset far outside the file: parsed, never read.
  std::string bytes = amdgpu_elf();
  const size_t null_header = testing::elf_section_header_at(bytes, 0);
  testing::elf_detail::put(bytes, null_header + 24, uint64_t(1) << 40, 8);
  testing::elf_detail::put(bytes, null_header + 32, 64, 8);
  auto f = elf::File::parse(bytes);
  REQUIRE(f.ok());
  CHECK(f->contents(f->sections()[0]).empty());

  const std::string four("\x01\x02\x03\x04", 4);
  CHECK(elf::read_le(four, 0, 4) == 0x04030201u);
  CHECK(elf::read_le(four, 2, 4) == 0x0403u);  // bytes past the end read as zero
  CHECK(elf::read_le(four, 9, 8) == 0u);
  CHECK(elf::read_le(four, uint64_t(-2), 8) == 0u);
}
