// The CUDA ELF layout read here (the ELF itself through compiler/backend/elf_reader.h):
// its ".nv.info" section is a list of attribute records, each
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

#include "compiler/backend/elf_reader.h"

namespace attnjit::tune {

namespace {

constexpr uint8_t kFormatNone = 1, kFormatByte = 2, kFormatHalf = 3, kFormatSized = 4;
constexpr uint8_t kAttrRegCount = 0x2f, kAttrFrameSize = 0x11;

}  // namespace

Result<KernelResources, std::string> read_cubin_resources(std::string_view bytes,
                                                          std::string_view entry) {
  auto elf = elf::File::parse(bytes);
  if (!elf) return fail("the CUBIN cannot be read: " + elf.error());
  const elf::Section* info_section = elf->section(".nv.info");
  if (!info_section) return fail(std::string("the CUBIN has no .nv.info section"));
  // .nv.info refers to functions by their index in .symtab.
  const elf::Section* symtab = elf->section_of_type(elf::kSectionSymtab);
  if (!symtab) return fail(std::string("the CUBIN has no .symtab section"));
  auto found = elf->find_symbol(*symtab, entry);
  if (!found) return fail("the CUBIN cannot be read: " + found.error());
  if (!*found) return fail(fmt::format("the CUBIN has no symbol \"{}\"", entry));
  const uint64_t symbol = (*found)->index;

  const std::string_view info = elf->contents(*info_section);
  std::optional<int> registers, frame;
  for (uint64_t at = 0; at + 2 <= info.size();) {
    const uint8_t format = uint8_t(info[at]), attribute = uint8_t(info[at + 1]);
    uint64_t next = at + 2;
    if (format == kFormatByte || format == kFormatHalf) {
      next = at + 4;
    } else if (format == kFormatSized) {
      if (at + 4 > info.size()) break;
      const uint64_t size = elf::read_le(info, at + 2, 2);
      next = at + 4 + size;
      if (next > info.size()) return fail(std::string("a .nv.info record runs past its section"));
      if (size == 8 && elf::read_le(info, at + 4, 4) == symbol) {
        const int value = static_cast<int>(elf::read_le(info, at + 8, 4));
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
