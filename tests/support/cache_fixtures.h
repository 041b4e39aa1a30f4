#pragma once
// Cache entries for tests: the smallest binaries the cache's target checks accept, and
// an entry in the previous format.
#include <cstdint>
#include <string>

#include "compiler/backend/artifact.h"
#include "compiler/support/sha256.h"

namespace attnjit::testing {

// The smallest CUBIN the cache's checks accept: an ELF64 header as NVRTC 13 writes it
// (EM_CUDA, ELF ABI version 8, the SM in e_flags bits 8-15), then a string table
// holding `symbol`, then `tag` so binaries of different tests differ.
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

inline std::string fake_ptx(const std::string& arch, const std::string& symbol,
                            const std::string& tag) {
  return "//\n// " + tag + "\n//\n\n.version 9.0\n.target " + arch +
         "\n.address_size 64\n\n.visible .entry " + symbol +
         "(\n\t.param .u64 p\n)\n{\n\tret;\n}\n";
}

// An entry in the previous format (version 1: no key, arch or compiler version), byte
// for byte as the previous release wrote it.
inline std::string version_1_entry(const Artifact& a) {
  auto put32 = [](std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(char(uint8_t(v >> (8 * i))));
  };
  std::string bytes = "ATTNJITK";
  put32(bytes, 1);
  put32(bytes, static_cast<uint32_t>(a.format));
  put32(bytes, static_cast<uint32_t>(a.entry.size()));
  bytes += a.entry;
  put32(bytes, static_cast<uint32_t>(a.log.size()));
  bytes += a.log;
  for (int i = 0; i < 8; ++i) bytes.push_back(char(uint8_t(uint64_t(a.binary.size()) >> (8 * i))));
  Sha256 hasher;
  hasher.update(bytes);
  hasher.update(a.binary);
  auto digest = hasher.finish();
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return bytes + a.binary;
}

}  // namespace attnjit::testing
