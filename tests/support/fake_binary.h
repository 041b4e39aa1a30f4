#pragma once
// The smallest binaries the kernel cache's target checks accept, for tests that store
// or build kernels without a compiler.
#include <cstdint>
#include <string>
#include <vector>

#include "elf_builder.h"

namespace attnjit::testing {

// A CUBIN as NVRTC 13 writes one (EM_CUDA, ELF ABI version 8, the SM in e_flags bits
// 8-15) whose symbol table defines `symbol`, then `tag` so binaries of different
// tests differ.
inline std::string fake_cubin(int sm, const std::string& symbol, const std::string& tag) {
  ElfSpec spec;
  spec.flags = 0x06000004u | (uint32_t(sm) << 8);
  spec.symbols = {symbol};
  spec.trailer = tag;
  return make_elf(spec);
}

// A PTX module for `arch` ("sm_90a") defining the kernel `symbol`.
inline std::string fake_ptx(const std::string& arch, const std::string& symbol,
                            const std::string& tag) {
  return "//\n// " + tag + "\n//\n\n.version 9.0\n.target " + arch +
         "\n.address_size 64\n\n.visible .entry " + symbol + "(\n\t.param .u64 p\n)\n{\n\tret;\n}\n";
}

inline constexpr uint8_t kElfObject = 1;  // STT_OBJECT
inline constexpr uint8_t kElfFunc = 2;    // STT_FUNC

// What fake_hsaco() writes; a test changes one part to make a wrong code object.
struct HsacoParts {
  int abi_version = 3;  // code object v5
  uint32_t flags = 0x54c;  // gfx942, xnack and sramecc "any"
  std::string target_id = "amdgcn-amd-amdhsa--gfx942";  // "" = no note
  std::vector<ElfSymbol> symbols = {{"k", kElfFunc, 1}, {"k.kd", kElfObject, 1}};
  uint32_t symtab_link = kElfStrtabSection;
  std::string trailer;  // bytes after the section table
};

// An ELF64 AMDGPU code object as the compilers lay one out, reduced to what the reader
// looks at: the header, a string table, a symbol table and a note section with the
// metadata map (section 4), and the section headers last.
inline std::string fake_hsaco(const HsacoParts& parts) {
  ElfSpec spec;
  spec.machine = 224;  // EM_AMDGPU
  spec.os_abi = 64;    // ELFOSABI_AMDGPU_HSA
  spec.abi_version = uint8_t(parts.abi_version);
  spec.type = 3;       // ET_DYN
  spec.flags = parts.flags;
  spec.symbols = parts.symbols;
  spec.symtab_link = parts.symtab_link;
  spec.trailer = parts.trailer;
  // The NT_AMDGPU_METADATA note: a MessagePack map {amdhsa.target: str8, amdhsa.version: [1, 2]}.
  std::string desc;
  if (!parts.target_id.empty()) {
    desc += char(0x82);
    desc += char(0xa0 | 13);
    desc += "amdhsa.target";
    desc += char(0xd9);
    desc += char(parts.target_id.size());
    desc += parts.target_id;
    desc += char(0xa0 | 14);
    desc += "amdhsa.version";
    desc += "\x92\x01\x02";
  }
  spec.sections = {{".note", parts.target_id.empty() ? "" : elf_note("AMDGPU", 32, desc), 7,
                    4}};  // SHT_NOTE
  return make_elf(spec);
}

// A code object for `target` ("gfx90a", "gfx942") defining kernel `symbol` and its
// descriptor, then `tag`.
inline std::string fake_hsaco(const std::string& target, const std::string& symbol,
                              const std::string& tag) {
  HsacoParts parts;
  // EF_AMDGPU_MACH (LLVM's values) with xnack and sramecc "any".
  parts.flags = 0x500u | (target == "gfx90a" ? 0x3fu : 0x4cu);
  parts.target_id = "amdgcn-amd-amdhsa--" + target;
  parts.symbols = {{symbol, kElfFunc, 1}, {symbol + ".kd", kElfObject, 1}};
  parts.trailer = tag;
  return fake_hsaco(parts);
}

}  // namespace attnjit::testing
