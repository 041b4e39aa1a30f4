// Reading the target out of a CUBIN or PTX module.
//
// CUBIN: a 64-bit little-endian ELF with e_machine EM_CUDA (190). The SM version is in
// e_flags, in one of two layouts chosen by e_ident[EI_ABIVERSION]:
//   ABI version 7 and older (CUDA 12 and before): SM in bits 0-7, the arch-specific
//     ("accelerators") flag at bit 11;
//   ABI version 8 (CUDA 13): SM in bits 8-15, the arch-specific flag at bit 3.
// NVRTC 13.0 writes 0x06005004 for sm_80 and 0x06005a04 for sm_90 and sm_90a alike:
// the flag is not set for sm_90a, so the header tells the SM number but cannot tell
// sm_90 from sm_90a (the entry's own arch field, covered by its checksum, does). A
// layout newer than ABI version 8 is refused rather than guessed at.
//
// PTX: the module names its target in a `.target sm_90a[, ...]` directive near the top.
//
// HSACO: a 64-bit little-endian ELF with e_machine EM_AMDGPU (224) and the HSA OS ABI
// (64); e_ident[EI_ABIVERSION] is the code object version minus 2 (1 = v3 ... 4 = v6;
// v2 and older used another metadata format and are refused). The processor is named
// twice: e_flags bits 0-7 (EF_AMDGPU_MACH, a number per processor, see kAmdgpuMachs)
// and the `amdhsa.target` string of the NT_AMDGPU_METADATA note (a MessagePack map),
// e.g. "amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-". Both must name the target. A kernel
// `k` is launched through its descriptor, the object symbol `k.kd`.
#include "runtime/cache/binary_target.h"

#include <cstdint>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "compiler/backend/elf_reader.h"

namespace attnjit {
namespace {

constexpr size_t kElf64HeaderBytes = 64;
constexpr uint8_t kElfClass64 = 2;
constexpr uint8_t kElfDataLittleEndian = 1;
constexpr uint16_t kElfMachineCuda = 190;  // EM_CUDA
constexpr size_t kElfClassOffset = 4;
constexpr size_t kElfDataOffset = 5;
constexpr size_t kElfAbiVersionOffset = 8;
constexpr size_t kElfMachineOffset = 18;
constexpr size_t kElfFlagsOffset = 48;
constexpr int kNewestKnownAbiVersion = 8;
constexpr int kFirstSmHighAbiVersion = 8;  // from here on, SM in bits 8-15

uint32_t little_endian(std::string_view bytes, size_t at, size_t size) {
  uint32_t value = 0;
  for (size_t i = 0; i < size; ++i) value |= uint32_t(uint8_t(bytes[at + i])) << (8 * i);
  return value;
}

// "sm_90a" or "compute_90a" -> number 90, suffix "a". False when `arch` has neither
// prefix or no number.
bool parse_arch(std::string_view arch, int* number, std::string_view* suffix) {
  std::string_view rest;
  if (arch.substr(0, 3) == "sm_") rest = arch.substr(3);
  else if (arch.substr(0, 8) == "compute_") rest = arch.substr(8);
  else return false;
  size_t digits = 0;
  int value = 0;
  while (digits < rest.size() && digits < 4 && rest[digits] >= '0' && rest[digits] <= '9')
    value = value * 10 + (rest[digits++] - '0');
  if (digits == 0) return false;
  *number = value;
  *suffix = rest.substr(digits);
  return suffix->empty() || *suffix == "a" || *suffix == "f";
}

// "" when the ELF's symbol table (compiler/backend/elf_reader.h) defines `symbol`;
// else why not, for `what` ("CUBIN", "HSACO").
std::string elf_symbol_problem(std::string_view bytes, std::string_view symbol,
                               std::string_view what) {
  auto file = elf::File::parse(bytes);
  if (!file) return fmt::format("the {} cannot be read: {}", what, file.error());
  auto found = file->find_symbol(symbol);
  if (!found) return fmt::format("the {} cannot be read: {}", what, found.error());
  if (!*found || !(*found)->defined()) return fmt::format("the {} has no symbol '{}'", what, symbol);
  return "";
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

// --- HSACO ----------------------------------------------------------------------------

constexpr uint16_t kElfMachineAmdgpu = 224;  // EM_AMDGPU
constexpr uint8_t kElfOsAbiAmdgpuHsa = 64;   // ELFOSABI_AMDGPU_HSA
constexpr size_t kElfOsAbiOffset = 7;
constexpr int kFirstAbiVersion = 1;           // code object v3
constexpr int kNewestKnownHsacoAbiVersion = 4;  // code object v6
constexpr int kCodeObjectVersionOffset = 2;     // v = ABI version + 2
constexpr uint32_t kAmdgpuMachMask = 0xff;
constexpr size_t kShOffOffset = 0x28;       // e_shoff
constexpr size_t kShEntSizeOffset = 0x3a;   // e_shentsize
constexpr size_t kShNumOffset = 0x3c;       // e_shnum
constexpr size_t kSectionHeaderBytes = 64;
constexpr uint32_t kShtSymtab = 2;
constexpr uint32_t kShtNote = 7;
constexpr uint32_t kShtDynsym = 11;
constexpr size_t kSymbolBytes = 24;
constexpr uint8_t kSttObject = 1;
constexpr uint32_t kNtAmdgpuMetadata = 32;
constexpr std::string_view kTargetIdPrefix = "amdgcn-amd-amdhsa--";

// EF_AMDGPU_MACH values (LLVM's ELF.h), each checked against what clang 19 writes for
// the processor. Other processors read as unknown: an HSACO for one of them never
// matches a target of the table.
struct AmdgpuMach {
  uint32_t mach;
  std::string_view processor;
};
constexpr AmdgpuMach kAmdgpuMachs[] = {
    {0x2c, "gfx900"},  {0x2f, "gfx906"},  {0x30, "gfx908"},  {0x32, "gfx90c"},
    {0x36, "gfx1030"}, {0x3f, "gfx90a"},  {0x40, "gfx940"},  {0x41, "gfx1100"},
    {0x46, "gfx1101"}, {0x48, "gfx1200"}, {0x4b, "gfx941"},  {0x4c, "gfx942"},
    {0x4e, "gfx1201"},
};

std::string_view mach_processor(uint32_t mach) {
  for (const AmdgpuMach& m : kAmdgpuMachs)
    if (m.mach == mach) return m.processor;
  return "";
}

uint64_t little_endian64(std::string_view bytes, size_t at) {
  return uint64_t(little_endian(bytes, at, 4)) | (uint64_t(little_endian(bytes, at + 4, 4)) << 32);
}

// True when [offset, offset + size) lies inside `bytes`, without overflowing.
bool inside(std::string_view bytes, uint64_t offset, uint64_t size) {
  return offset <= bytes.size() && size <= bytes.size() - offset;
}

struct Section {
  uint32_t type = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t link = 0;
};

// The section headers, each checked to lie inside the file. Nullopt with `why` set
// when the table or a section does not.
std::optional<std::vector<Section>> read_sections(std::string_view elf, std::string* why) {
  const uint64_t table = little_endian64(elf, kShOffOffset);
  const uint32_t entry_size = little_endian(elf, kShEntSizeOffset, 2);
  const uint32_t count = little_endian(elf, kShNumOffset, 2);
  if (count == 0) {
    *why = "the HSACO has no section headers";
    return std::nullopt;
  }
  if (entry_size != kSectionHeaderBytes) {
    *why = fmt::format("the HSACO's section headers are {} bytes, not {}", entry_size,
                       kSectionHeaderBytes);
    return std::nullopt;
  }
  if (!inside(elf, table, uint64_t(count) * entry_size)) {
    *why = fmt::format("the HSACO's {} section headers at offset {} lie outside its {} bytes",
                       count, table, elf.size());
    return std::nullopt;
  }
  std::vector<Section> sections(count);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t at = size_t(table) + size_t(i) * entry_size;
    Section& s = sections[i];
    s.type = little_endian(elf, at + 4, 4);
    s.offset = little_endian64(elf, at + 0x18);
    s.size = little_endian64(elf, at + 0x20);
    s.link = little_endian(elf, at + 0x28, 4);
    // SHT_NOBITS (8) occupies no file bytes; every other kind this reader looks at does.
    if (s.type != 8 && s.type != 0 && !inside(elf, s.offset, s.size)) {
      *why = fmt::format("the HSACO's section {} ({} bytes at offset {}) lies outside its {} "
                         "bytes",
                         i, s.size, s.offset, elf.size());
      return std::nullopt;
    }
  }
  return sections;
}

// A section's bytes; none for one that lies outside the file (read_sections lets
// SHT_NULL and SHT_NOBITS sections through unchecked, and a symbol table may name one).
std::string_view section_bytes(std::string_view elf, const Section& s) {
  if (!inside(elf, s.offset, s.size)) return {};
  return elf.substr(size_t(s.offset), size_t(s.size));
}

// The MessagePack string that follows the key "amdhsa.target" in a metadata note's
// map: the key is a fixstr (0xa0 | 13), the value a fixstr or a str8 (0xd9, length).
std::optional<std::string> metadata_target(std::string_view desc) {
  const std::string key = std::string(1, char(0xa0 | 13)) + "amdhsa.target";
  const size_t at = desc.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  size_t next = at + key.size();
  if (next >= desc.size()) return std::nullopt;
  const uint8_t head = uint8_t(desc[next++]);
  size_t length = 0;
  if ((head & 0xe0) == 0xa0) {
    length = head & 0x1f;
  } else if (head == 0xd9 && next < desc.size()) {
    length = uint8_t(desc[next++]);
  } else {
    return std::nullopt;
  }
  if (length > desc.size() - next) return std::nullopt;
  return std::string(desc.substr(next, length));
}

// The amdhsa.target of the first AMDGPU metadata note in the SHT_NOTE sections; "" when
// there is none. A note entry: namesz, descsz, type (4 bytes each), then the name and
// the descriptor, each padded to 4 bytes.
std::string note_target_id(std::string_view elf, const std::vector<Section>& sections) {
  auto padded = [](uint64_t n) { return (n + 3) & ~uint64_t(3); };
  for (const Section& s : sections) {
    if (s.type != kShtNote) continue;
    const std::string_view notes = section_bytes(elf, s);
    size_t at = 0;
    while (notes.size() - at >= 12) {
      const uint64_t name_size = little_endian(notes, at, 4);
      const uint64_t desc_size = little_endian(notes, at + 4, 4);
      const uint32_t type = little_endian(notes, at + 8, 4);
      const uint64_t name_at = at + 12;
      const uint64_t desc_at = name_at + padded(name_size);
      if (!inside(notes, name_at, padded(name_size)) || !inside(notes, desc_at, desc_size)) break;
      const std::string_view name = notes.substr(size_t(name_at), size_t(name_size));
      if (type == kNtAmdgpuMetadata && name == std::string_view("AMDGPU\0", 7))
        if (auto target = metadata_target(notes.substr(size_t(desc_at), size_t(desc_size))))
          return *target;
      if (!inside(notes, desc_at, padded(desc_size))) break;
      at = size_t(desc_at + padded(desc_size));
    }
  }
  return "";
}

// `.entry NAME(`, with optional blanks before the parenthesis.
bool has_ptx_entry(std::string_view ptx, std::string_view symbol) {
  const std::string needle = fmt::format(".entry {}", symbol);
  for (size_t at = ptx.find(needle); at != std::string_view::npos;
       at = ptx.find(needle, at + 1)) {
    size_t next = at + needle.size();
    while (next < ptx.size() && is_space(ptx[next])) ++next;
    if (next < ptx.size() && ptx[next] == '(') return true;
  }
  return false;
}

}  // namespace

bool read_cubin_target(std::string_view elf, CubinTarget* out, std::string* why) {
  if (elf.size() < kElf64HeaderBytes || elf.substr(0, 4) != "\x7f" "ELF") {
    *why = "the CUBIN is not an ELF file (no ELF header)";
    return false;
  }
  if (uint8_t(elf[kElfClassOffset]) != kElfClass64) {
    *why = fmt::format("the CUBIN is not a 64-bit ELF (class {})", uint8_t(elf[kElfClassOffset]));
    return false;
  }
  if (uint8_t(elf[kElfDataOffset]) != kElfDataLittleEndian) {
    *why = "the CUBIN is not a little-endian ELF";
    return false;
  }
  const uint32_t machine = little_endian(elf, kElfMachineOffset, 2);
  if (machine != kElfMachineCuda) {
    *why = fmt::format("the CUBIN's ELF machine is {}, not EM_CUDA ({})", machine,
                       kElfMachineCuda);
    return false;
  }
  CubinTarget target;
  target.abi_version = uint8_t(elf[kElfAbiVersionOffset]);
  if (target.abi_version > kNewestKnownAbiVersion) {
    *why = fmt::format("the CUBIN uses CUDA ELF ABI version {}, whose e_flags layout this "
                       "build cannot read (it knows versions up to {})",
                       target.abi_version, kNewestKnownAbiVersion);
    return false;
  }
  const uint32_t flags = little_endian(elf, kElfFlagsOffset, 4);
  if (target.abi_version >= kFirstSmHighAbiVersion) {
    target.sm = int((flags >> 8) & 0xff);
    target.arch_specific = (flags & 0x8) != 0;
  } else {
    target.sm = int(flags & 0xff);
    target.arch_specific = (flags & 0x800) != 0;
  }
  if (target.sm == 0) {
    *why = fmt::format("the CUBIN's ELF flags 0x{:08x} name no SM version", flags);
    return false;
  }
  *out = target;
  return true;
}

std::string HsacoTarget::processor() const {
  if (!target_id.starts_with(kTargetIdPrefix)) return "";
  const std::string rest = target_id.substr(kTargetIdPrefix.size());
  return rest.substr(0, rest.find(':'));
}

bool read_hsaco_target(std::string_view elf, HsacoTarget* out, std::string* why) {
  if (elf.size() < kElf64HeaderBytes || elf.substr(0, 4) != "\x7f" "ELF") {
    *why = "the HSACO is not an ELF file (no ELF header)";
    return false;
  }
  if (uint8_t(elf[kElfClassOffset]) != kElfClass64) {
    *why = fmt::format("the HSACO is not a 64-bit ELF (class {})", uint8_t(elf[kElfClassOffset]));
    return false;
  }
  if (uint8_t(elf[kElfDataOffset]) != kElfDataLittleEndian) {
    *why = "the HSACO is not a little-endian ELF";
    return false;
  }
  const uint32_t machine = little_endian(elf, kElfMachineOffset, 2);
  if (machine != kElfMachineAmdgpu) {
    *why = fmt::format("the HSACO's ELF machine is {}, not EM_AMDGPU ({})", machine,
                       kElfMachineAmdgpu);
    return false;
  }
  if (uint8_t(elf[kElfOsAbiOffset]) != kElfOsAbiAmdgpuHsa) {
    *why = fmt::format("the HSACO's ELF OS ABI is {}, not AMDGPU HSA ({})",
                       uint8_t(elf[kElfOsAbiOffset]), kElfOsAbiAmdgpuHsa);
    return false;
  }
  const int abi_version = uint8_t(elf[kElfAbiVersionOffset]);
  if (abi_version < kFirstAbiVersion || abi_version > kNewestKnownHsacoAbiVersion) {
    *why = fmt::format("the HSACO is code object version {}; this build reads versions {} to {}",
                       abi_version + kCodeObjectVersionOffset,
                       kFirstAbiVersion + kCodeObjectVersionOffset,
                       kNewestKnownHsacoAbiVersion + kCodeObjectVersionOffset);
    return false;
  }
  auto sections = read_sections(elf, why);
  if (!sections) return false;
  HsacoTarget target;
  target.code_object_version = abi_version + kCodeObjectVersionOffset;
  target.mach = int(little_endian(elf, kElfFlagsOffset, 4) & kAmdgpuMachMask);
  target.mach_name = std::string(mach_processor(uint32_t(target.mach)));
  target.target_id = note_target_id(elf, *sections);
  *out = std::move(target);
  return true;
}

bool hsaco_defines_kernel(std::string_view elf, std::string_view symbol, std::string* why) {
  auto sections = read_sections(elf, why);
  if (!sections) return false;
  const std::string descriptor = std::string(symbol) + ".kd";
  int tables = 0;
  for (const Section& table : *sections) {
    if (table.type != kShtSymtab && table.type != kShtDynsym) continue;
    ++tables;
    if (table.link >= sections->size()) {
      *why = fmt::format("the HSACO's symbol table links to section {}, which does not exist",
                         table.link);
      return false;
    }
    const std::string_view names = section_bytes(elf, (*sections)[table.link]);
    const std::string_view symbols = section_bytes(elf, table);
    for (size_t at = 0; at + kSymbolBytes <= symbols.size(); at += kSymbolBytes) {
      const uint32_t name = little_endian(symbols, at, 4);
      const uint8_t type = uint8_t(symbols[at + 4]) & 0xf;
      const uint32_t section = little_endian(symbols, at + 6, 2);
      if (name >= names.size() || section == 0 || type != kSttObject) continue;
      const std::string_view rest = names.substr(name);
      if (rest.substr(0, rest.find('\0')) == descriptor) return true;
    }
  }
  *why = tables == 0 ? "the HSACO has no symbol table"
                     : fmt::format("the HSACO defines no kernel descriptor '{}'", descriptor);
  return false;
}

bool read_ptx_target(std::string_view ptx, std::string* target, std::string* why) {
  for (size_t line = 0; line < ptx.size();) {
    size_t end = ptx.find('\n', line);
    if (end == std::string_view::npos) end = ptx.size();
    std::string_view text = ptx.substr(line, end - line);
    line = end + 1;
    size_t at = 0;
    while (at < text.size() && is_space(text[at])) ++at;
    if (text.substr(at, 8) != ".target " && text.substr(at, 8) != ".target\t") continue;
    at += 8;
    while (at < text.size() && is_space(text[at])) ++at;
    size_t stop = at;
    while (stop < text.size() && !is_space(text[stop]) && text[stop] != ',' &&
           text[stop] != '\r')
      ++stop;
    *target = std::string(text.substr(at, stop - at));
    return true;
  }
  *why = "the PTX has no .target directive";
  return false;
}

std::string binary_target_mismatch(BinaryFormat format, std::string_view binary,
                                   std::string_view arch, std::string_view symbol) {
  int number = 0;
  std::string_view suffix;
  const bool arch_known = parse_arch(arch, &number, &suffix);
  switch (format) {
    case BinaryFormat::cubin: {
      CubinTarget target;
      std::string why;
      if (!read_cubin_target(binary, &target, &why)) return why;
      if (!arch_known) return fmt::format("cannot check a CUBIN against target '{}'", arch);
      if (target.sm != number)
        return fmt::format("the CUBIN's ELF header says sm_{}, not {}", target.sm, arch);
      if (target.arch_specific && suffix != "a")
        return fmt::format("the CUBIN's ELF header says sm_{}a (arch-specific), not {}",
                           target.sm, arch);
      if (!symbol.empty()) return elf_symbol_problem(binary, symbol, "CUBIN");
      return "";
    }
    case BinaryFormat::ptx: {
      std::string target, why;
      if (!read_ptx_target(binary, &target, &why)) return why;
      if (!arch_known) return fmt::format("cannot check PTX against target '{}'", arch);
      const std::string expected = fmt::format("sm_{}{}", number, suffix);
      if (target != expected)
        return fmt::format("the PTX's .target is {}, not {}", target, expected);
      if (!symbol.empty() && !has_ptx_entry(binary, symbol))
        return fmt::format("the PTX has no .entry '{}'", symbol);
      return "";
    }
    case BinaryFormat::hsaco: {
      HsacoTarget target;
      std::string why;
      if (!read_hsaco_target(binary, &target, &why)) return why;
      if (!arch.starts_with("gfx")) return fmt::format("cannot check an HSACO against target '{}'", arch);
      if (target.mach_name != arch)
        return fmt::format("the HSACO's ELF header says {} (EF_AMDGPU_MACH 0x{:02x}), not {}",
                           target.mach_name.empty() ? "an unknown processor" : target.mach_name,
                           target.mach, arch);
      if (target.target_id.empty()) return "the HSACO's metadata note has no amdhsa.target";
      if (target.processor() != arch)
        return fmt::format("the HSACO's amdhsa.target is {}, not {}", target.target_id, arch);
      if (!symbol.empty() && !hsaco_defines_kernel(binary, symbol, &why)) return why;
      return "";
    }
  }
  return "unknown binary format";
}

}  // namespace attnjit
