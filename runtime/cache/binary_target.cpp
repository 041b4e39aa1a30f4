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
#include "runtime/cache/binary_target.h"

#include <cstdint>

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
    case BinaryFormat::hsaco:
      if (!symbol.empty()) return elf_symbol_problem(binary, symbol, "HSACO");
      return "";
  }
  return "unknown binary format";
}

}  // namespace attnjit
