#pragma once
// Small, well-formed ELF64 files for tests: a header with the given machine, ABI and
// e_flags, a section-name table, a string table, a symbol table defining the given
// symbols, and any extra sections, laid out as compilers lay them out.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attnjit::testing {

struct ElfSpec {
  uint16_t machine = 190;  // EM_CUDA
  uint8_t os_abi = 0x41;   // CUDA's
  uint8_t abi_version = 8;
  uint16_t type = 2;       // ET_EXEC
  uint32_t flags = 0;
  std::vector<std::string> symbols;  // defined functions, .symtab indices 1, 2, ...
  std::vector<std::pair<std::string, std::string>> sections;  // extra: name, bytes
  std::string trailer;               // bytes after the section table
};

namespace elf_detail {
inline void put(std::string& out, size_t at, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[at + i] = char(uint8_t(value >> (8 * i)));
}
inline void append(std::string& out, uint64_t value, int bytes) {
  out.append(static_cast<size_t>(bytes), '\0');
  put(out, out.size() - bytes, value, bytes);
}
}  // namespace elf_detail

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
  };
  std::string strtab(1, '\0'), symtab(24, '\0');
  for (const std::string& s : spec.symbols) {
    const size_t at = symtab.size();
    symtab.append(24, '\0');
    put(symtab, at, strtab.size(), 4);
    symtab[at + 4] = char((1 << 4) | 2);  // STB_GLOBAL, STT_FUNC
    put(symtab, at + 6, 1, 2);            // defined (in a section)
    strtab += s + '\0';
  }
  std::vector<Placed> placed = {{".shstrtab", 3, ""}, {".strtab", 3, strtab},
                                {".symtab", 2, symtab, 2, 24}};
  for (const auto& [name, bytes] : spec.sections) placed.push_back({name, 1, bytes});
  std::string names(1, '\0');
  std::vector<uint32_t> name_at;
  for (const Placed& p : placed) {
    name_at.push_back(static_cast<uint32_t>(names.size()));
    names += p.name + '\0';
  }
  placed[0].bytes = names;
  std::vector<uint64_t> offsets;
  for (const Placed& p : placed) {
    offsets.push_back(out.size());
    out += p.bytes;
  }
  while (out.size() % 8) out += '\0';
  put(out, 40, out.size(), 8);               // e_shoff
  put(out, 58, 64, 2);                       // e_shentsize
  put(out, 60, placed.size() + 1, 2);        // e_shnum, with the null section
  put(out, 62, 1, 2);                        // e_shstrndx
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
    append(out, 1, 8);                       // addralign
    append(out, placed[i].entry_bytes, 8);
  }
  return out + spec.trailer;
}

}  // namespace attnjit::testing
