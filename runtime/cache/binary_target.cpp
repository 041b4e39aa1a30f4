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
// The ELF itself (header, sections, symbols, notes) is read by compiler/backend/
// elf_reader.h; what follows is what its fields mean for each vendor.
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

#include <fmt/format.h>

#include "compiler/backend/elf_reader.h"

namespace attnjit {
namespace {

constexpr int kNewestKnownAbiVersion = 8;
constexpr int kFirstSmHighAbiVersion = 8;  // from here on, SM in bits 8-15

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

// The ELF header of a `what` ("CUBIN", "HSACO") whose e_machine must be `machine`
// (spelled `machine_name`); else why not.
Result<elf::Header, std::string> read_gpu_header(std::string_view bytes, std::string_view what,
                                                 uint16_t machine,
                                                 std::string_view machine_name) {
  auto header = elf::read_header(bytes);
  if (!header) return fail(fmt::format("the {} is {}", what, header.error()));
  if (header->machine != machine)
    return fail(fmt::format("the {}'s ELF machine is {}, not {} ({})", what, header->machine,
                            machine_name, machine));
  return header;
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

// --- HSACO ----------------------------------------------------------------------------

constexpr uint8_t kElfOsAbiAmdgpuHsa = 64;   // ELFOSABI_AMDGPU_HSA
constexpr int kFirstAbiVersion = 1;           // code object v3
constexpr int kNewestKnownHsacoAbiVersion = 4;  // code object v6
constexpr int kCodeObjectVersionOffset = 2;     // v = ABI version + 2
constexpr uint32_t kAmdgpuMachMask = 0xff;
constexpr uint32_t kNtAmdgpuMetadata = 32;
constexpr std::string_view kAmdgpuNoteOwner = "AMDGPU";
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

// The HSACO's ELF with its header checked (machine, OS ABI, code object version) and a
// section table; else why not.
Result<elf::File, std::string> open_hsaco(std::string_view bytes) {
  auto header = read_gpu_header(bytes, "HSACO", elf::kMachineAmdgpu, "EM_AMDGPU");
  if (!header) return fail(header.error());
  if (header->os_abi != kElfOsAbiAmdgpuHsa)
    return fail(fmt::format("the HSACO's ELF OS ABI is {}, not AMDGPU HSA ({})", header->os_abi,
                            kElfOsAbiAmdgpuHsa));
  const int abi_version = header->abi_version;
  if (abi_version < kFirstAbiVersion || abi_version > kNewestKnownHsacoAbiVersion)
    return fail(fmt::format("the HSACO is code object version {}; this build reads versions {} to {}",
                            abi_version + kCodeObjectVersionOffset,
                            kFirstAbiVersion + kCodeObjectVersionOffset,
                            kNewestKnownHsacoAbiVersion + kCodeObjectVersionOffset));
  auto file = elf::File::parse(bytes);
  if (!file) return fail("the HSACO cannot be read: " + file.error());
  if (file->sections().empty()) return fail(std::string("the HSACO has no section headers"));
  return file;
}

// The target of an HSACO opened by open_hsaco: the header's processor and the
// amdhsa.target of the first AMDGPU metadata note that has one.
Result<HsacoTarget, std::string> hsaco_target(const elf::File& file) {
  auto notes = file.notes();
  if (!notes) return fail("the HSACO cannot be read: " + notes.error());
  HsacoTarget target;
  target.code_object_version = file.header().abi_version + kCodeObjectVersionOffset;
  target.mach = int(file.header().flags & kAmdgpuMachMask);
  target.mach_name = std::string(mach_processor(uint32_t(target.mach)));
  for (const elf::Note& note : *notes) {
    if (note.type != kNtAmdgpuMetadata || note.name != kAmdgpuNoteOwner) continue;
    if (auto id = metadata_target(note.desc)) {
      target.target_id = *id;
      break;
    }
  }
  return target;
}

// "" when the HSACO defines the kernel descriptor `symbol`.kd; else why not.
std::string hsaco_kernel_problem(const elf::File& file, std::string_view symbol) {
  if (!file.section_of_type(elf::kSectionSymtab) && !file.section_of_type(elf::kSectionDynsym))
    return "the HSACO has no symbol table";
  const std::string descriptor = std::string(symbol) + ".kd";
  auto found = file.find_symbol(descriptor);
  if (!found) return "the HSACO cannot be read: " + found.error();
  if (!*found || (*found)->type() != elf::kSymbolObject)
    return fmt::format("the HSACO defines no kernel descriptor '{}'", descriptor);
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
  auto header = read_gpu_header(elf, "CUBIN", elf::kMachineCuda, "EM_CUDA");
  if (!header) {
    *why = header.error();
    return false;
  }
  CubinTarget target;
  target.abi_version = header->abi_version;
  if (target.abi_version > kNewestKnownAbiVersion) {
    *why = fmt::format("the CUBIN uses CUDA ELF ABI version {}, whose e_flags layout this "
                       "build cannot read (it knows versions up to {})",
                       target.abi_version, kNewestKnownAbiVersion);
    return false;
  }
  const uint32_t flags = header->flags;
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
  auto file = open_hsaco(elf);
  if (!file) {
    *why = file.error();
    return false;
  }
  auto target = hsaco_target(*file);
  if (!target) {
    *why = target.error();
    return false;
  }
  *out = std::move(*target);
  return true;
}

bool hsaco_defines_kernel(std::string_view elf, std::string_view symbol, std::string* why) {
  auto file = elf::File::parse(elf);
  *why = file ? hsaco_kernel_problem(*file, symbol) : "the HSACO cannot be read: " + file.error();
  return why->empty();
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
      if (symbol.empty()) return "";
      auto file = elf::File::parse(binary);
      if (!file) return "the CUBIN cannot be read: " + file.error();
      auto found = file->find_symbol(symbol);
      if (!found) return "the CUBIN cannot be read: " + found.error();
      if (!*found) return fmt::format("the CUBIN has no symbol '{}'", symbol);
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
      auto file = open_hsaco(binary);
      if (!file) return file.error();
      auto target = hsaco_target(*file);
      if (!target) return target.error();
      if (!arch.starts_with("gfx")) return fmt::format("cannot check an HSACO against target '{}'", arch);
      if (target->mach_name != arch)
        return fmt::format("the HSACO's ELF header says {} (EF_AMDGPU_MACH 0x{:02x}), not {}",
                           target->mach_name.empty() ? "an unknown processor" : target->mach_name,
                           target->mach, arch);
      if (target->target_id.empty()) return "the HSACO's metadata note has no amdhsa.target";
      if (target->processor() != arch)
        return fmt::format("the HSACO's amdhsa.target is {}, not {}", target->target_id, arch);
      return symbol.empty() ? "" : hsaco_kernel_problem(*file, symbol);
    }
  }
  return "unknown binary format";
}

}  // namespace attnjit
