#pragma once
// The bounds check of a copy into or out of a device buffer, shared by both vendors'
// DeviceBuffer (cuda_driver.cpp, hip_driver.cpp).
#include <cstddef>
#include <stdexcept>

#include <fmt/format.h>

namespace attnjit {

// Throws std::out_of_range unless [offset, offset + bytes) lies within `size` bytes
// (written without offset + bytes, which could wrap).
inline void check_buffer_range(size_t offset, size_t bytes, size_t size, const char* what) {
  if (offset > size || bytes > size - offset)
    throw std::out_of_range(fmt::format("{} bytes [{}, {}) outside a device buffer of {} bytes",
                                        what, offset, offset + bytes, size));
}

}  // namespace attnjit
