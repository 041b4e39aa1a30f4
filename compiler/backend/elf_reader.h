#pragma once
// A reader of the 64-bit little-endian ELF files GPU compilers write: CUDA CUBINs
// (e_machine EM_CUDA) and AMDGPU code objects (HSACO, EM_AMDGPU). It reads the header,
// the section table and the symbol tables, checking every offset against the bytes it
// was given; it never reads outside them and refuses a malformed file with the reason.
// The kernel cache's target and symbol checks and the tuner's resource reader use it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/support/result.h"

namespace attnjit::elf {

inline constexpr uint16_t kMachineCuda = 190;    // EM_CUDA
inline constexpr uint16_t kMachineAmdgpu = 224;  // EM_AMDGPU
inline constexpr uint32_t kSectionSymtab = 2;    // SHT_SYMTAB
inline constexpr uint32_t kSectionStrtab = 3;    // SHT_STRTAB
inline constexpr uint32_t kSectionNobits = 8;    // SHT_NOBITS
inline constexpr uint32_t kSectionDynsym = 11;   // SHT_DYNSYM

// The ELF header fields GPU binaries record their target in.
struct Header {
  uint8_t os_abi = 0;       // e_ident[EI_OSABI]
  uint8_t abi_version = 0;  // e_ident[EI_ABIVERSION]
  uint16_t type = 0;        // e_type: ET_EXEC, ET_DYN, ...
  uint16_t machine = 0;     // e_machine
  uint32_t flags = 0;       // e_flags: the SM (CUDA) or the gfx target (AMDGPU)
  uint64_t section_table = 0;
  uint16_t section_entry_bytes = 0;
  uint32_t section_count = 0;  // e_shnum, or section 0's sh_size when that is 0
  uint32_t names_section = 0;  // e_shstrndx, or section 0's sh_link when SHN_XINDEX
};

// Reads the header of a 64-bit little-endian ELF. Errors complete "the file is ...":
// "not an ELF file (no ELF header)", "not a 64-bit ELF (class 1)", "not a little-endian ELF".
Result<Header, std::string> read_header(std::string_view bytes);

struct Section {
  std::string_view name;  // from the section-name table; "" when it has none
  uint32_t type = 0;
  uint64_t flags = 0;
  uint64_t offset = 0, size = 0;  // within the file (checked), except SHT_NOBITS
  uint32_t link = 0, info = 0;
  uint64_t entry_bytes = 0;
};

struct Symbol {
  std::string_view name;
  uint64_t index = 0;       // in its table: what other sections (.nv.info) refer to
  uint8_t info = 0;         // binding << 4 | type
  uint16_t section = 0;     // st_shndx; 0 = undefined
  uint64_t value = 0, size = 0;
  bool defined() const { return section != 0; }
};

class File {
 public:
  // The header, every section (each inside the file) and their names.
  static Result<File, std::string> parse(std::string_view bytes);

  const Header& header() const { return header_; }
  const std::vector<Section>& sections() const { return sections_; }
  // The first section named `name`, or null.
  const Section* section(std::string_view name) const;
  // A section's bytes (empty for SHT_NOBITS).
  std::string_view contents(const Section& s) const;
  // The symbols of a SHT_SYMTAB or SHT_DYNSYM section, named from its linked string
  // table; an error when the table or a name lies outside its section.
  Result<std::vector<Symbol>, std::string> symbols(const Section& table) const;
  // The symbol named `name` in .symtab, else in .dynsym (a stripped shared object keeps
  // only that one); nullopt when neither has it. An error when a table is malformed.
  Result<std::optional<Symbol>, std::string> find_symbol(std::string_view name) const;

 private:
  std::string_view bytes_;
  Header header_;
  std::vector<Section> sections_;
};

}  // namespace attnjit::elf
