// The CUDA ELF layout read here: a 64-bit little-endian ELF whose ".nv.info" section is
// a list of attribute records, each
//   u8 format, u8 attribute, then by format: EIFMT_NVAL (1) nothing, EIFMT_BVAL (2) one
//   byte padded to two, EIFMT_HVAL (3) a u16, EIFMT_SVAL (4) a u16 size and that many
//   bytes.
// EIATTR_REGCOUNT (0x2f) and EIATTR_FRAME_SIZE (0x11) are SVAL records of two u32: the
// function's symbol index in ".symtab", then the value. NVRTC 13.0 writes them so for
// every kernel (checked against cuobjdump's resource usage).
#include "tools/tune/cubin_resources.h"

#include <cstdint>
#include <optional>

#include <fmt/format.h>

namespace attnjit::tune {

namespace {

constexpr size_t kElfHeaderBytes = 64;
constexpr size_t kSectionHeaderBytes = 64;
constexpr size_t kSymbolBytes = 24;
constexpr uint32_t kSectionSymtab = 2;

constexpr uint8_t kFormatNone = 1, kFormatByte = 2, kFormatHalf = 3, kFormatSized = 4;
constexpr uint8_t kAttrRegCount = 0x2f, kAttrFrameSize = 0x11;

// Little-endian reads that refuse to go past the end.
class Bytes {
 public:
  explicit Bytes(std::string_view b) : b_(b) {}
  bool has(uint64_t at, uint64_t n) const { return at <= b_.size() && n <= b_.size() - at; }
  uint64_t get(uint64_t at, int n) const {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(uint8_t(b_[at + i])) << (8 * i);
    return v;
  }
  std::string_view text(uint64_t at, uint64_t size) const { return b_.substr(at, size); }

 private:
  std::string_view b_;
};

struct Section {
  uint32_t name = 0, type = 0, link = 0;
  uint64_t offset = 0, size = 0;
};

// The NUL-terminated string at `at` of string table `s`; nullopt if it runs out.
std::optional<std::string_view> string_at(const Bytes& b, const Section& s, uint64_t at) {
  if (at >= s.size || !b.has(s.offset, s.size)) return std::nullopt;
  std::string_view table = b.text(s.offset, s.size);
  const size_t end = table.find('\0', at);
  if (end == std::string_view::npos) return std::nullopt;
  return table.substr(at, end - at);
}

}  // namespace

Result<KernelResources, std::string> read_cubin_resources(std::string_view elf,
                                                          std::string_view entry) {
  const Bytes b(elf);
  if (!b.has(0, kElfHeaderBytes) || elf.substr(0, 4) != "\x7f" "ELF" || elf[4] != 2 || elf[5] != 1)
    return fail(std::string("not a 64-bit little-endian ELF file"));
  const uint64_t section_table = b.get(0x28, 8);
  const uint64_t entry_size = b.get(0x3a, 2), count = b.get(0x3c, 2), names_index = b.get(0x3e, 2);
  if (entry_size != kSectionHeaderBytes || !b.has(section_table, count * kSectionHeaderBytes) ||
      names_index >= count)
    return fail(std::string("the ELF section table is malformed"));
  std::vector<Section> sections(count);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t at = section_table + i * kSectionHeaderBytes;
    Section& s = sections[i];
    s.name = static_cast<uint32_t>(b.get(at, 4));
    s.type = static_cast<uint32_t>(b.get(at + 4, 4));
    s.offset = b.get(at + 24, 8);
    s.size = b.get(at + 32, 8);
    s.link = static_cast<uint32_t>(b.get(at + 40, 4));
  }

  const Section* info = nullptr;
  const Section* symtab = nullptr;
  for (const Section& s : sections) {
    std::optional<std::string_view> name = string_at(b, sections[names_index], s.name);
    if (name && *name == ".nv.info") info = &s;
    if (s.type == kSectionSymtab) symtab = &s;
  }
  if (!info || !symtab) return fail(std::string("the CUBIN has no .nv.info or .symtab section"));
  if (!b.has(info->offset, info->size) || !b.has(symtab->offset, symtab->size) ||
      symtab->link >= count)
    return fail(std::string("the CUBIN's .nv.info or .symtab section lies outside the file"));

  // The entry's symbol index.
  std::optional<uint64_t> symbol;
  for (uint64_t i = 0; i < symtab->size / kSymbolBytes; ++i) {
    const uint64_t name = b.get(symtab->offset + i * kSymbolBytes, 4);
    std::optional<std::string_view> text = string_at(b, sections[symtab->link], name);
    if (text && *text == entry) symbol = i;
  }
  if (!symbol) return fail(fmt::format("the CUBIN has no symbol \"{}\"", entry));

  std::optional<int> registers, frame;
  for (uint64_t at = info->offset, end = info->offset + info->size; at + 2 <= end;) {
    const uint8_t format = uint8_t(elf[at]), attribute = uint8_t(elf[at + 1]);
    uint64_t next = at + 2;
    if (format == kFormatByte || format == kFormatHalf) {
      next = at + 4;
    } else if (format == kFormatSized) {
      if (at + 4 > end) break;
      const uint64_t size = b.get(at + 2, 2);
      next = at + 4 + size;
      if (next > end) return fail(std::string("a .nv.info record runs past its section"));
      if (size == 8 && b.get(at + 4, 4) == *symbol) {
        const int value = static_cast<int>(b.get(at + 8, 4));
        if (attribute == kAttrRegCount) registers = value;
        if (attribute == kAttrFrameSize) frame = value;
      }
    } else if (format != kFormatNone) {
      return fail(fmt::format("unknown .nv.info record format {}", format));
    }
    at = next;
  }
  if (!registers) return fail(fmt::format("the CUBIN records no register count for \"{}\"", entry));
  return KernelResources{*registers, frame.value_or(0)};
}

}  // namespace attnjit::tune
