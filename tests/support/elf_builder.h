#pragma once
// Small, well-formed ELF64 files for tests: a header with the given machine, OS ABI,
// ABI version and e_flags, a section-name table, a string table, a symbol table with
// the given symbols, and any extra sections (notes built with elf_note), laid out as
// compilers lay them out: contents first, the section table last.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attnjit::testing {

struct ElfSymbol {
  ElfSymbol(std::string name, uint8_t type = 2, uint16_t section = 1)
      : name(std::move(name)), type(type), section(section) {}
  ElfSymbol(const char* name) : ElfSymbol(std::string(name)) {}
  std::string name;
  uint8_t type;      // STT_FUNC (2) unless told; STT_OBJECT is 1
  uint16_t section;  // st_shndx: 0 = undefined
};

struct ElfSection {
  std::string name;
  std::string bytes;
  uint32_t type = 1;   // SHT_PROGBITS unless told; SHT_NOTE is 7
  uint64_t align = 1;  // sh_addralign
};

struct ElfSpec {
  uint16_t machine = 190;  // EM_CUDA
  uint8_t os_abi = 0x41;   // CUDA's
  uint8_t abi_version = 8;
  uint16_t type = 2;       // ET_EXEC
  uint32_t flags = 0;
  std::vector<ElfSymbol> symbols;    // .symtab indices 1, 2, ...
  std::vector<ElfSection> sections;  // extra, from section index 4 on
  uint32_t symtab_link = 2;          // .symtab's sh_link: .strtab
  std::string trailer;               // bytes after the section table
};

// Section indices make_elf gives its own sections.
inline constexpr size_t kElfNamesSection = 1, kElfStrtabSection = 2, kElfSymtabSection = 3;
inline constexpr size_t kElfFirstExtraSection = 4;

namespace elf_detail {
inline void put(std::string& out, size_t at, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[at + i] = char(uint8_t(value >> (8 * i)));
}
inline uint64_t get(const std::string& in, size_t at, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= uint64_t(uint8_t(in[at + i])) << (8 * i);
  return value;
}
inline void append(std::string& out, uint64_t value, int bytes) {
  out.append(static_cast<size_t>(bytes), '\0');
  put(out, out.size() - bytes, value, bytes);
}
}  // namespace elf_detail

// Where section `index`'s header starts in a file make_elf wrote (from its e_shoff), for
// tests that corrupt one.
inline size_t elf_section_header_at(const std::string& elf, size_t index) {
  return size_t(elf_detail::get(elf, 40, 8)) + 64 * index;
}

// One note entry: namesz, descsz, type, then the owner's name with its NUL and the
// descriptor, each padded to 4 bytes.
inline std::string elf_note(std::string_view owner, uint32_t type, std::string_view desc) {
  std::string out;
  elf_detail::append(out, owner.size() + 1, 4);
  elf_detail::append(out, desc.size(), 4);
  elf_detail::append(out, type, 4);
  out += owner;
  out += '\0';
  while (out.size() % 4) out += '\0';
  out += desc;
  while (out.size() % 4) out += '\0';
  return out;
}

inline std::string make_elf(const ElfSpec& spec) {
  using elf_detail::append;
  using elf_detail::put;
  std::string out(64, '\0');
  out.replace(0, 4, "\x7f" "ELF");
  out[4] = 2;  // ELFCLASS64
  out[5] = 1;  // little-endian
  out[6] = 1;  // EV_CURRENT
  out[7] = char(spec.os_abi);
  out[8] = char(spec.abi_version);
  put(out, 16, spec.type, 2);
  put(out, 18, spec.machine, 2);
  put(out, 20, 1, 4);
  put(out, 48, spec.flags, 4);
  put(out, 52, 64, 2);

  // Section contents: [1] .shstrtab, [2] .strtab, [3] .symtab, then the extra ones.
  struct Placed {
    std::string name;
    uint32_t type;
    std::string bytes;
    uint32_t link = 0;
    uint64_t entry_bytes = 0;
    uint64_t align = 1;
  };
  std::string strtab(1, '\0'), symtab(24, '\0');
  for (const ElfSymbol& s : spec.symbols) {
    const size_t at = symtab.size();
    symtab.append(24, '\0');
    put(symtab, at, strtab.size(), 4);
    symtab[at + 4] = char((1 << 4) | s.type);  // STB_GLOBAL
    put(symtab, at + 6, s.section, 2);
    strtab += s.name + '\0';
  }
  std::vector<Placed> placed = {{".shstrtab", 3, ""}, {".strtab", 3, strtab},
                                {".symtab", 2, symtab, spec.symtab_link, 24}};
  for (const ElfSection& s : spec.sections)
    placed.push_back({s.name, s.type, s.bytes, 0, 0, s.align});
  std::string names(1, '\0');
  std::vector<uint32_t> name_at;
  for (const Placed& p : placed) {
    name_at.push_back(static_cast<uint32_t>(names.size()));
    names += p.name + '\0';
  }
  placed[0].bytes = names;
  std::vector<uint64_t> offsets;
  for (const Placed& p : placed) {
    while (p.align > 1 && out.size() % p.align) out += '\0';
    offsets.push_back(out.size());
    out += p.bytes;
  }
  while (out.size() % 8) out += '\0';
  put(out, 40, out.size(), 8);               // e_shoff
  put(out, 58, 64, 2);                       // e_shentsize
  put(out, 60, placed.size() + 1, 2);        // e_shnum, with the null section
  put(out, 62, kElfNamesSection, 2);         // e_shstrndx
  out.append(64, '\0');                      // the null section
  for (size_t i = 0; i < placed.size(); ++i) {
    append(out, name_at[i], 4);
    append(out, placed[i].type, 4);
    append(out, 0, 8);                       // flags
    append(out, 0, 8);                       // addr
    append(out, offsets[i], 8);
    append(out, placed[i].bytes.size(), 8);
    append(out, placed[i].link, 4);
    append(out, 0, 4);                       // info
    append(out, placed[i].align, 8);
    append(out, placed[i].entry_bytes, 8);
  }
  return out + spec.trailer;
}

}  // namespace attnjit::testing
