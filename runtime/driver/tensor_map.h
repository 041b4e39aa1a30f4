#pragma once
// Tensor maps (CUtensorMap) for Hopper's tensor-memory copies: the description of a
// global tensor and of the box one copy moves into shared memory, checked on the host
// against the driver's rules before cuTensorMapEncodeTiled sees it, so a bad view is a
// message naming the rule rather than a driver error code.
#include <array>
#include <string>
#include <vector>

#include "compiler/support/result.h"
#include "runtime/driver/cuda_driver.h"

namespace attnjit::cuda {

// The 128 opaque bytes the driver writes; kernels take it by value (64-byte aligned)
// in their __grid_constant__ parameter block.
struct alignas(64) TensorMap {
  std::array<unsigned char, 128> bytes{};
};

// The element types the Hopper kernels copy.
enum class TensorMapElement { bf16, f16 };
int tensor_map_element_bytes(TensorMapElement e);

struct TensorMapSpec {
  TensorMapElement element = TensorMapElement::bf16;
  const void* address = nullptr;            // global memory
  std::vector<unsigned long long> dims;     // elements per dimension, innermost first (rank 1-5)
  std::vector<unsigned long long> strides;  // bytes between elements of dims 1 .. rank-1
  std::vector<unsigned> box;                // elements per dimension of one copy
  bool swizzle_128b = true;                 // shared memory rows of 128 bytes, swizzled
};

// Inclusive limits of cuTensorMapEncodeTiled (CUDA driver API reference).
inline constexpr int kTensorMapMaxRank = 5;
inline constexpr unsigned long long kTensorMapMaxDim = 1ULL << 32;
inline constexpr unsigned long long kTensorMapStrideLimit = 1ULL << 40;  // exclusive
inline constexpr unsigned kTensorMapMaxBox = 256;
inline constexpr unsigned kTensorMapAlignment = 16;  // address, strides, the inner box in bytes
inline constexpr unsigned kSwizzle128Bytes = 128;     // the inner box's most bytes with that swizzle

// Why the driver would refuse `spec` ("" when it follows every rule): rank, alignment
// of the address, each dimension, each stride (a multiple of 16 bytes, below 2^40), each
// box extent (1-256; the inner one a multiple of 16 bytes and, swizzled, at most 128).
std::string tensor_map_problem(const TensorMapSpec& spec);

// The driver's encoding of `spec` (checked first), or why not.
Result<TensorMap, std::string> encode_tensor_map(const Driver& driver, const TensorMapSpec& spec);

}  // namespace attnjit::cuda
