#pragma once
// Tensors cross the API as non-owning views. Strides are in elements (as in DLPack
// and PyTorch). The caller owns the memory.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/ir/dtype.h"

namespace attnjit {

// Where a view's memory is: the host, or the engine's GPU (`cuda` on either vendor: a
// HIP device's memory is `cuda` too).
enum class DeviceKind { cpu, cuda };

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::bf16;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // empty = contiguous row-major
  DeviceKind device = DeviceKind::cuda;

  int rank() const { return static_cast<int>(shape.size()); }
  int64_t numel() const;
  int64_t stride(int dim) const;  // honours empty strides (contiguous)
  bool defined() const { return data != nullptr; }
  std::string describe() const;   // "bf16[2, 128, 32, 128] strides [..] on cuda"
};

// Element `offset` (in elements) of a cpu int32 or int64 tensor: index tables such as
// cu_seqlens, block tables and slot mappings, read by validation and the references.
int64_t host_integer(const TensorView& t, int64_t offset);

TensorView contiguous_view(void* data, DType dtype, std::vector<int64_t> shape,
                           DeviceKind device = DeviceKind::cuda);

// Thrown for a bad tensor argument. The message names the argument, what was
// expected and what was given, e.g.
//   attnjit::prefill: argument 'k': expected dtype bf16, got fp16
class ArgumentError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace attnjit
