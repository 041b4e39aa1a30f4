// Tensor maps: the driver's rules, checked on the host, then cuTensorMapEncodeTiled.
#include "runtime/driver/tensor_map.h"

#include <cstdint>

#include <fmt/format.h>

namespace attnjit::cuda {

namespace {

// Driver ABI values (cuda.h's CUtensorMapDataType, ...Interleave, ...Swizzle,
// ...L2promotion, ...FloatOOBfill), spelled here so no toolkit header is needed.
constexpr int kDataTypeFloat16 = 6;
constexpr int kDataTypeBfloat16 = 9;
constexpr int kInterleaveNone = 0;
constexpr int kSwizzleNone = 0;
constexpr int kSwizzle128B = 3;
constexpr int kL2Promotion128B = 2;
constexpr int kOobFillZeros = 0;  // CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE: out-of-bounds reads as 0

int data_type(TensorMapElement e) {
  return e == TensorMapElement::bf16 ? kDataTypeBfloat16 : kDataTypeFloat16;
}

}  // namespace

int tensor_map_element_bytes(TensorMapElement) { return 2; }

std::string tensor_map_problem(const TensorMapSpec& spec) {
  const size_t rank = spec.dims.size();
  if (rank < 1 || rank > static_cast<size_t>(kTensorMapMaxRank))
    return fmt::format("a tensor map has 1 to {} dimensions, not {}", kTensorMapMaxRank, rank);
  if (spec.strides.size() != rank - 1)
    return fmt::format("a rank-{} tensor map takes {} strides (of dimensions 1 and up), not {}", rank,
                       rank - 1, spec.strides.size());
  if (spec.box.size() != rank)
    return fmt::format("a rank-{} tensor map takes {} box extents, not {}", rank, rank, spec.box.size());
  const auto address = reinterpret_cast<std::uintptr_t>(spec.address);
  if (address == 0) return "the tensor's address is null";
  if (address % kTensorMapAlignment != 0)
    return fmt::format("the tensor's address {:#x} is not a multiple of {} bytes", address, kTensorMapAlignment);
  for (size_t i = 0; i < rank; ++i)
    if (spec.dims[i] < 1 || spec.dims[i] > kTensorMapMaxDim)
      return fmt::format("dimension {} has {} elements; a tensor map takes 1 to 2^32", i, spec.dims[i]);
  for (size_t i = 0; i < spec.strides.size(); ++i) {
    if (spec.strides[i] % kTensorMapAlignment != 0)
      return fmt::format("the stride of dimension {} is {} bytes, not a multiple of {}", i + 1, spec.strides[i],
                         kTensorMapAlignment);
    if (spec.strides[i] >= kTensorMapStrideLimit)
      return fmt::format("the stride of dimension {} is {} bytes; a tensor map takes less than 2^40", i + 1,
                         spec.strides[i]);
  }
  for (size_t i = 0; i < rank; ++i)
    if (spec.box[i] < 1 || spec.box[i] > kTensorMapMaxBox)
      return fmt::format("box extent {} is {}; a tensor map takes 1 to {}", i, spec.box[i], kTensorMapMaxBox);
  const unsigned inner_bytes = spec.box[0] * static_cast<unsigned>(tensor_map_element_bytes(spec.element));
  if (inner_bytes % kTensorMapAlignment != 0)
    return fmt::format("the box's inner extent is {} bytes, not a multiple of {}", inner_bytes, kTensorMapAlignment);
  if (spec.swizzle_128b && inner_bytes > kSwizzle128Bytes)
    return fmt::format("the box's inner extent is {} bytes; the 128-byte swizzle takes at most {}", inner_bytes,
                       kSwizzle128Bytes);
  return "";
}

Result<TensorMap, std::string> encode_tensor_map(const Driver& driver, const TensorMapSpec& spec) {
  if (std::string why = tensor_map_problem(spec); !why.empty()) return fail(why);
  const unsigned rank = static_cast<unsigned>(spec.dims.size());
  const std::vector<unsigned> element_strides(rank, 1u);
  TensorMap map;
  auto encoded = driver.encode_tiled_tensor_map(
      map.bytes.data(), data_type(spec.element), rank, const_cast<void*>(spec.address), spec.dims.data(),
      spec.strides.data(), spec.box.data(), element_strides.data(), kInterleaveNone,
      spec.swizzle_128b ? kSwizzle128B : kSwizzleNone, kL2Promotion128B, kOobFillZeros);
  if (!encoded) return fail(encoded.error());
  return map;
}

}  // namespace attnjit::cuda
