#pragma once
// SHA-256 (FIPS 180-4), used for cache keys and cache entry checksums.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace attnjit {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  std::array<uint8_t, 32> finish();

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view bytes);

}  // namespace attnjit
