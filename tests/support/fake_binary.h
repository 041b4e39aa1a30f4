#pragma once
// The smallest binaries the kernel cache's target checks accept, for tests that store
// or build kernels without a compiler.
#include <cstdint>
#include <string>

namespace attnjit::testing {

// An ELF64 header as NVRTC 13 writes a CUBIN's (EM_CUDA, ELF ABI version 8, the SM in
// e_flags bits 8-15), then a string table holding `symbol`, then `tag` so binaries of
// different tests differ.
inline std::string fake_cubin(int sm, const std::string& symbol, const std::string& tag) {
  std::string elf(64, '\0');
  elf.replace(0, 4, "\x7f" "ELF");
  elf[4] = 2;       // ELFCLASS64
  elf[5] = 1;       // little-endian
  elf[6] = 1;       // EV_CURRENT
  elf[7] = 0x41;    // CUDA OS ABI
  elf[8] = 8;       // CUDA ELF ABI version
  elf[16] = 2;      // ET_EXEC
  elf[18] = char(190);  // EM_CUDA
  elf[20] = 1;
  const uint32_t flags = 0x06000004u | (uint32_t(sm) << 8);
  for (int i = 0; i < 4; ++i) elf[48 + i] = char(uint8_t(flags >> (8 * i)));
  elf += std::string("\0.strtab\0", 9) + symbol + std::string("\0", 1) + tag;
  return elf;
}

// A PTX module for `arch` ("sm_90a") defining the kernel `symbol`.
inline std::string fake_ptx(const std::string& arch, const std::string& symbol,
                            const std::string& tag) {
  return "//\n// " + tag + "\n//\n\n.version 9.0\n.target " + arch +
         "\n.address_size 64\n\n.visible .entry " + symbol + "(\n\t.param .u64 p\n)\n{\n\tret;\n}\n";
}

}  // namespace attnjit::testing
