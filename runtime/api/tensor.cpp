#include "runtime/api/tensor.h"

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "compiler/support/diagnostics.h"

namespace attnjit {

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t extent : shape) n *= extent;
  return n;
}

int64_t TensorView::stride(int dim) const {
  ATTNJIT_ASSERT(dim >= 0 && dim < rank(), "TensorView::stride: dimension out of range");
  if (!strides.empty()) {
    ATTNJIT_ASSERT(strides.size() == shape.size(),
                   "TensorView::stride: strides and shape differ in rank");
    return strides[dim];
  }
  // Contiguous row-major: the product of the extents to the right.
  int64_t s = 1;
  for (int d = rank() - 1; d > dim; --d) s *= shape[d];
  return s;
}

std::string TensorView::describe() const {
  std::vector<int64_t> effective;
  // A malformed strides list is printed as given, so a message can show it.
  if (!strides.empty() && strides.size() != shape.size()) {
    effective = strides;
  } else {
    for (int d = 0; d < rank(); ++d) effective.push_back(stride(d));
  }
  return fmt::format("{}[{}] strides [{}] on {}", dtype_name(dtype), fmt::join(shape, ", "),
                     fmt::join(effective, ", "), device == DeviceKind::cpu ? "cpu" : "cuda");
}

TensorView contiguous_view(void* data, DType dtype, std::vector<int64_t> shape,
                           DeviceKind device) {
  TensorView view;
  view.data = data;
  view.dtype = dtype;
  view.shape = std::move(shape);
  view.device = device;
  // Explicit strides, so code that indexes `strides` directly sees the same numbers
  // as stride().
  view.strides.assign(view.shape.size(), 1);
  for (int d = view.rank() - 2; d >= 0; --d)
    view.strides[d] = view.strides[d + 1] * view.shape[d + 1];
  return view;
}

int64_t host_integer(const TensorView& t, int64_t offset) {
  const auto* p = static_cast<const unsigned char*>(t.data);
  if (t.dtype == DType::i64) {
    int64_t v;
    std::memcpy(&v, p + offset * sizeof(int64_t), sizeof v);
    return v;
  }
  int32_t v;
  std::memcpy(&v, p + offset * sizeof(int32_t), sizeof v);
  return v;
}

}  // namespace attnjit
