#pragma once
// A reader of the 64-bit little-endian ELF files GPU compilers write: CUDA CUBINs
// (e_machine EM_CUDA) and AMDGPU code objects (HSACO, EM_AMDGPU). It reads the header,
// the section table, the symbol tables and note entries, checking every offset against
// the bytes it was given; it never reads outside them, never throws, and refuses a
// malformed file with the reason. What the fields mean for one vendor (CUDA's e_flags
// layouts, AMDGPU's processor numbers and metadata note) belongs to the code that
// checks that vendor's binaries: runtime/cache/binary_target.cpp and the tuner's
// tools/tune/cubin_resources.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/support/result.h"

namespace attnjit::elf {

inline constexpr uint16_t kMachineCuda = 190;    // EM_CUDA
inline constexpr uint16_t kMachineAmdgpu = 224;  // EM_AMDGPU
inline constexpr uint32_t kSectionNull = 0;      // SHT_NULL
inline constexpr uint32_t kSectionSymtab = 2;    // SHT_SYMTAB
inline constexpr uint32_t kSectionStrtab = 3;    // SHT_STRTAB
inline constexpr uint32_t kSectionNote = 7;      // SHT_NOTE
inline constexpr uint32_t kSectionNobits = 8;    // SHT_NOBITS
inline constexpr uint32_t kSectionDynsym = 11;   // SHT_DYNSYM
inline constexpr uint8_t kSymbolObject = 1;      // STT_OBJECT
inline constexpr uint8_t kSymbolFunction = 2;    // STT_FUNC

// The `n`-byte (at most 8) little-endian number at `at`. Bytes past the end of `bytes`
// read as zero, so a caller's missed bounds check yields a wrong value, never a read
// outside the buffer; callers still check bounds to tell a short record from a zero.
uint64_t read_le(std::string_view bytes, uint64_t at, int n);

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
  uint32_t index = 0;     // in the section table: what sh_link and st_shndx refer to
  uint32_t type = 0;
  uint64_t flags = 0;
  // Within the file (checked), except for SHT_NULL and SHT_NOBITS, which hold no bytes.
  uint64_t offset = 0, size = 0;
  uint32_t link = 0, info = 0;
  uint64_t align = 0;  // sh_addralign
  uint64_t entry_bytes = 0;
};

struct Symbol {
  std::string_view name;
  uint64_t index = 0;       // in its table: what other sections (.nv.info) refer to
  uint8_t info = 0;         // binding << 4 | type
  uint16_t section = 0;     // st_shndx; 0 = undefined
  uint64_t value = 0, size = 0;
  bool defined() const { return section != 0; }
  uint8_t type() const { return info & 0xf; }  // STT_OBJECT, STT_FUNC, ...
};

// One note entry (of a SHT_NOTE section or a PT_NOTE segment).
struct Note {
  std::string_view name;  // the owner, without its terminating NUL: "AMDGPU", "GNU"
  uint32_t type = 0;      // its meaning depends on the owner
  std::string_view desc;  // the descriptor, without padding
};

// The entries of a note area: each namesz, descsz, type (u32 each), then the name and
// the descriptor, each padded to `align` bytes (4, or 8 where the area is 8-aligned).
// The last descriptor's padding may be missing. An error when an entry runs past the area.
Result<std::vector<Note>, std::string> read_notes(std::string_view area, uint64_t align = 4);

class File {
 public:
  // The header, every section (each inside the file) and their names.
  static Result<File, std::string> parse(std::string_view bytes);

  const Header& header() const { return header_; }
  const std::vector<Section>& sections() const { return sections_; }
  // The first section named `name`, or null.
  const Section* section(std::string_view name) const;
  // The first section of type `type` (kSectionSymtab, ...), or null.
  const Section* section_of_type(uint32_t type) const;
  // A section's bytes (empty for SHT_NULL and SHT_NOBITS).
  std::string_view contents(const Section& s) const;
  // The symbols of a SHT_SYMTAB or SHT_DYNSYM section, named from its linked string
  // table; an error when the table or a name lies outside its section.
  Result<std::vector<Symbol>, std::string> symbols(const Section& table) const;
  // The first defined symbol named `name` in the symbol table `table`; nullopt when it
  // has none (an undefined symbol only refers to a definition elsewhere).
  Result<std::optional<Symbol>, std::string> find_symbol(const Section& table,
                                                         std::string_view name) const;
  // The defined symbol named `name` in .symtab, else in .dynsym (a stripped shared
  // object keeps only that one); nullopt when neither has it. An error when a table is
  // malformed.
  Result<std::optional<Symbol>, std::string> find_symbol(std::string_view name) const;
  // The entries of every SHT_NOTE section, in file order. Segments are not read: the
  // compilers whose binaries this reads put every note in a section as well.
  Result<std::vector<Note>, std::string> notes() const;

 private:
  std::string_view bytes_;
  Header header_;
  std::vector<Section> sections_;
};

}  // namespace attnjit::elf
