// ELF64 little-endian layout, as the System V ABI states it:
//   header (64 bytes): e_ident[16] (magic, class 2 = 64-bit, data 1 = little-endian,
//   version, OS ABI, ABI version), e_type u16 @16, e_machine u16 @18, e_version u32 @20,
//   e_entry u64 @24, e_phoff u64 @32, e_shoff u64 @40, e_flags u32 @48, e_ehsize u16
//   @52, e_phentsize u16 @54, e_phnum u16 @56, e_shentsize u16 @58, e_shnum u16 @60,
//   e_shstrndx u16 @62;
//   section header (64 bytes): sh_name u32, sh_type u32, sh_flags u64, sh_addr u64,
//   sh_offset u64, sh_size u64, sh_link u32, sh_info u32, sh_addralign u64,
//   sh_entsize u64;
//   symbol (24 bytes): st_name u32, st_info u8, st_other u8, st_shndx u16, st_value
//   u64, st_size u64;
//   note entry: n_namesz u32, n_descsz u32, n_type u32, the name (NUL-terminated,
//   counted in n_namesz) and the descriptor, each padded to the area's alignment.
// More than 0xff00 sections: e_shnum is 0 and section 0's sh_size holds the count; a
// name table index past that: e_shstrndx is SHN_XINDEX and section 0's sh_link holds it.
#include "compiler/backend/elf_reader.h"

#include <algorithm>

#include <fmt/format.h>

namespace attnjit::elf {

namespace {

constexpr size_t kHeaderBytes = 64;
constexpr size_t kSectionHeaderBytes = 64;
constexpr size_t kSymbolBytes = 24;
constexpr uint8_t kClass64 = 2;
constexpr uint8_t kLittleEndian = 1;
constexpr size_t kNoteHeaderBytes = 12;
constexpr uint16_t kSectionIndexEscape = 0xffff;  // SHN_XINDEX

// Sections that occupy no bytes of the file: their offset and size mean nothing here.
bool holds_no_bytes(uint32_t type) { return type == kSectionNull || type == kSectionNobits; }

bool inside(std::string_view b, uint64_t at, uint64_t n) {
  return at <= b.size() && n <= b.size() - at;
}

Section section_at(std::string_view b, uint64_t at) {
  Section s;
  s.type = static_cast<uint32_t>(read_le(b, at + 4, 4));
  s.flags = read_le(b, at + 8, 8);
  s.offset = read_le(b, at + 24, 8);
  s.size = read_le(b, at + 32, 8);
  s.link = static_cast<uint32_t>(read_le(b, at + 40, 4));
  s.info = static_cast<uint32_t>(read_le(b, at + 44, 4));
  s.align = read_le(b, at + 48, 8);
  s.entry_bytes = read_le(b, at + 56, 8);
  return s;
}

// How messages name a section: by name, or by index when it has none.
std::string label(const Section& s) {
  return s.name.empty() ? fmt::format("#{}", s.index) : std::string(s.name);
}

// The NUL-terminated string at `at` of a string table's bytes; nullopt when it runs out.
std::optional<std::string_view> string_at(std::string_view table, uint64_t at) {
  if (at >= table.size()) return std::nullopt;
  const size_t end = table.find('\0', at);
  if (end == std::string_view::npos) return std::nullopt;
  return table.substr(at, end - at);
}

}  // namespace

uint64_t read_le(std::string_view b, uint64_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n && i < 8; ++i)
    if (at < b.size() && uint64_t(i) < b.size() - at) v |= uint64_t(uint8_t(b[at + i])) << (8 * i);
  return v;
}

Result<Header, std::string> read_header(std::string_view b) {
  if (b.size() < kHeaderBytes || b.substr(0, 4) != "\x7f" "ELF")
    return fail(std::string("not an ELF file (no ELF header)"));
  if (uint8_t(b[4]) != kClass64) return fail(fmt::format("not a 64-bit ELF (class {})", uint8_t(b[4])));
  if (uint8_t(b[5]) != kLittleEndian) return fail(std::string("not a little-endian ELF"));
  Header h;
  h.os_abi = uint8_t(b[7]);
  h.abi_version = uint8_t(b[8]);
  h.type = static_cast<uint16_t>(read_le(b, 16, 2));
  h.machine = static_cast<uint16_t>(read_le(b, 18, 2));
  h.flags = static_cast<uint32_t>(read_le(b, 48, 4));
  h.section_table = read_le(b, 40, 8);
  h.section_entry_bytes = static_cast<uint16_t>(read_le(b, 58, 2));
  h.section_count = static_cast<uint32_t>(read_le(b, 60, 2));
  h.names_section = static_cast<uint32_t>(read_le(b, 62, 2));
  return h;
}

Result<File, std::string> File::parse(std::string_view b) {
  auto header = read_header(b);
  if (!header) return fail(header.error());
  File f;
  f.bytes_ = b;
  f.header_ = *header;
  Header& h = f.header_;
  if (h.section_table == 0) return f;  // no section table: nothing more to read
  if (h.section_entry_bytes != kSectionHeaderBytes)
    return fail(fmt::format("ELF section headers of {} bytes, not {}", h.section_entry_bytes,
                            kSectionHeaderBytes));
  if (!inside(b, h.section_table, kSectionHeaderBytes))
    return fail(std::string("the ELF section table lies outside the file"));
  const Section first = section_at(b, h.section_table);
  if (h.section_count == 0) {
    if (first.size > UINT32_MAX) return fail(std::string("the ELF section count is too large"));
    h.section_count = static_cast<uint32_t>(first.size);
  }
  if (h.names_section == kSectionIndexEscape) h.names_section = first.link;
  // Each section header lies in the file, so the count is bounded by its size.
  if (!inside(b, h.section_table, uint64_t(h.section_count) * kSectionHeaderBytes))
    return fail(fmt::format("the ELF section table ({} sections) lies outside the file",
                            h.section_count));
  f.sections_.reserve(h.section_count);
  std::vector<uint32_t> name_offsets;
  for (uint32_t i = 0; i < h.section_count; ++i) {
    const uint64_t at = h.section_table + uint64_t(i) * kSectionHeaderBytes;
    Section s = section_at(b, at);
    s.index = i;
    if (!holds_no_bytes(s.type) && !inside(b, s.offset, s.size))
      return fail(fmt::format("ELF section {} lies outside the file", i));
    name_offsets.push_back(static_cast<uint32_t>(read_le(b, at, 4)));
    f.sections_.push_back(s);
  }
  if (h.section_count > 0) {
    if (h.names_section >= h.section_count)
      return fail(fmt::format("the ELF section-name table index {} is not a section",
                              h.names_section));
    const std::string_view names = f.contents(f.sections_[h.names_section]);
    for (uint32_t i = 0; i < h.section_count; ++i) {
      // Section 0 is the null section and may have no name.
      std::optional<std::string_view> name = string_at(names, name_offsets[i]);
      if (!name && name_offsets[i] != 0)
        return fail(fmt::format("ELF section {}'s name lies outside the name table", i));
      f.sections_[i].name = name.value_or("");
    }
  }
  return f;
}

const Section* File::section(std::string_view name) const {
  for (const Section& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

const Section* File::section_of_type(uint32_t type) const {
  for (const Section& s : sections_)
    if (s.type == type) return &s;
  return nullptr;
}

std::string_view File::contents(const Section& s) const {
  if (holds_no_bytes(s.type)) return {};
  return bytes_.substr(s.offset, s.size);
}

Result<std::vector<Symbol>, std::string> File::symbols(const Section& table) const {
  if (table.type != kSectionSymtab && table.type != kSectionDynsym)
    return fail(fmt::format("ELF section {} is not a symbol table", label(table)));
  if (table.entry_bytes != kSymbolBytes)
    return fail(fmt::format("ELF symbol table {} has {}-byte entries, not {}", label(table),
                            table.entry_bytes, kSymbolBytes));
  if (table.link >= sections_.size())
    return fail(fmt::format("ELF symbol table {} links no string table", label(table)));
  const std::string_view strings = contents(sections_[table.link]);
  const std::string_view data = contents(table);
  std::vector<Symbol> out;
  out.reserve(data.size() / kSymbolBytes);
  for (uint64_t i = 0; i < data.size() / kSymbolBytes; ++i) {
    const uint64_t at = i * kSymbolBytes;
    Symbol s;
    s.index = i;
    const uint64_t name = read_le(data, at, 4);
    s.info = uint8_t(data[at + 4]);
    s.section = static_cast<uint16_t>(read_le(data, at + 6, 2));
    s.value = read_le(data, at + 8, 8);
    s.size = read_le(data, at + 16, 8);
    std::optional<std::string_view> text = string_at(strings, name);
    if (!text && name != 0)
      return fail(fmt::format("ELF symbol {} of {} has its name outside the string table", i,
                              label(table)));
    s.name = text.value_or("");
    out.push_back(s);
  }
  return out;
}

Result<std::optional<Symbol>, std::string> File::find_symbol(const Section& table,
                                                             std::string_view name) const {
  auto symbols = this->symbols(table);
  if (!symbols) return fail(symbols.error());
  for (const Symbol& sym : *symbols)
    if (sym.defined() && sym.name == name) return std::optional<Symbol>(sym);
  return std::optional<Symbol>();
}

Result<std::optional<Symbol>, std::string> File::find_symbol(std::string_view name) const {
  for (uint32_t type : {kSectionSymtab, kSectionDynsym})
    for (const Section& s : sections_) {
      if (s.type != type) continue;
      auto found = find_symbol(s, name);
      if (!found || *found) return found;
    }
  return std::optional<Symbol>();
}

Result<std::vector<Note>, std::string> read_notes(std::string_view area, uint64_t align) {
  if (align != 8) align = 4;  // what readelf does: 8-aligned areas pad to 8, all others to 4
  auto padded = [align](uint64_t n) { return (n + align - 1) & ~(align - 1); };
  std::vector<Note> out;
  // Fewer bytes than an entry header at the end are the area's own padding.
  for (uint64_t at = 0; area.size() - at >= kNoteHeaderBytes;) {
    const uint64_t name_size = read_le(area, at, 4), desc_size = read_le(area, at + 4, 4);
    const uint64_t name_at = at + kNoteHeaderBytes;
    const uint64_t desc_at = name_at + padded(name_size);
    if (!inside(area, name_at, padded(name_size)) || !inside(area, desc_at, desc_size))
      return fail(fmt::format("ELF note {} ({}-byte name, {}-byte descriptor) runs past its "
                              "{}-byte area",
                              out.size(), name_size, desc_size, area.size()));
    Note n;
    n.name = area.substr(name_at, name_size);
    if (!n.name.empty() && n.name.back() == '\0') n.name.remove_suffix(1);
    n.type = static_cast<uint32_t>(read_le(area, at + 8, 4));
    n.desc = area.substr(desc_at, desc_size);
    out.push_back(n);
    at = std::min<uint64_t>(desc_at + padded(desc_size), area.size());
  }
  return out;
}

Result<std::vector<Note>, std::string> File::notes() const {
  std::vector<Note> out;
  for (const Section& s : sections_) {
    if (s.type != kSectionNote) continue;
    auto notes = read_notes(contents(s), s.align);
    if (!notes) return fail(fmt::format("{} in section {}", notes.error(), label(s)));
    out.insert(out.end(), notes->begin(), notes->end());
  }
  return out;
}

}  // namespace attnjit::elf
