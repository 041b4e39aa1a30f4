#pragma once
// The smallest binaries the kernel cache's target checks accept, for tests that store
// or build kernels without a compiler.
#include <cstdint>
#include <string>

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

}  // namespace attnjit::testing
