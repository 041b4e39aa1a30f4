#pragma once
// Cache entries for tests: an entry in the previous format (the smallest binaries the
// cache's target checks accept are in fake_binary.h).
#include <cstdint>
#include <string>

#include "compiler/backend/artifact.h"
#include "compiler/support/sha256.h"
#include "fake_binary.h"

namespace attnjit::testing {

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
