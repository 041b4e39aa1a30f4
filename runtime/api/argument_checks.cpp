#include "runtime/api/argument_checks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <climits>
#include <cmath>

#include "compiler/ir/variant.h"

namespace attnjit {

const char* device_name(DeviceKind d) { return d == DeviceKind::cpu ? "cpu" : "cuda"; }

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string variant_name(const ir::Variant& v) {
  return fmt::format("variant {}", v.name.empty() ? "<unnamed>" : v.name);
}

std::string variant_tag(const ir::Variant& v) { return fmt::format("({})", variant_name(v)); }

void fail_argument(const std::string& where, const std::string& name, const std::string& expected,
                   const std::string& got) {
  throw ArgumentError(
      fmt::format("{}: argument '{}': expected {}, got {}", where, name, expected, got));
}

void ArgumentChecks::present(const char* name, const TensorView& t, const std::string& what) const {
  if (!t.defined()) fail(name, what, "null");
}

void ArgumentChecks::absent(const char* name, const TensorView& t, const std::string& why) const {
  if (t.defined()) fail(name, fmt::format("no tensor {}", why), t.describe());
}

void ArgumentChecks::device(const std::string& name, const TensorView& t) const {
  if (t.device != device_)
    fail(name, fmt::format("a tensor on {}", device_name(device_)),
         fmt::format("a tensor on {}", device_name(t.device)));
}

void ArgumentChecks::dtype(const std::string& name, const TensorView& t, DType want,
                           const std::string& why) const {
  if (t.dtype != want)
    fail(name, fmt::format("dtype {}{}", dtype_name(want), why), std::string(dtype_name(t.dtype)));
}

void ArgumentChecks::rank_and_strides(const TensorArg& a, const char* hint) const {
  const TensorView& t = *a.view;
  const int want = static_cast<int>(a.dims.size());
  if (t.rank() != want)
    fail(a.name, fmt::format("rank {} [{}]{}", want, fmt::join(a.dims, ", "), hint),
         fmt::format("rank {} ({})", t.rank(), t.describe()));
  if (!t.strides.empty() && static_cast<int>(t.strides.size()) != want)
    fail(a.name, fmt::format("{} strides (one per dimension) or none", want),
         fmt::format("{} strides", t.strides.size()));
}

void ArgumentChecks::rank(const TensorArg& a, const char* hint) const {
  rank_and_strides(a, hint);
  const TensorView& t = *a.view;
  for (int64_t extent : t.shape)
    if (extent < 0 || extent > INT_MAX)
      fail(a.name, fmt::format("sizes in [0, {}]", INT_MAX), shape_text(t.shape));
}

void ArgumentChecks::extent(const TensorArg& a, int dim, int64_t want,
                            const std::string& why) const {
  const int64_t got = a.view->shape[dim];
  if (got != want)
    fail(a.name, fmt::format("{} {}{}", a.dims[dim], want, why), std::to_string(got));
}

void ArgumentChecks::same_shape(const TensorArg& a, const TensorArg& as) const {
  if (a.view->shape != as.view->shape)
    fail(a.name, fmt::format("shape {} (as {})", shape_text(as.view->shape), as.name),
         shape_text(a.view->shape));
}

void ArgumentChecks::rows(const TensorArg& a) const {
  // An innermost extent of 1 is never stepped along, so its stride does not matter.
  if (a.view->shape[a.view->rank() - 1] > 1) unit_inner_stride(a);
  row_alignment(a);
}

void ArgumentChecks::unit_inner_stride(const TensorArg& a) const {
  const TensorView& t = *a.view;
  const int inner = t.rank() - 1;
  if (t.stride(inner) != 1)
    fail(a.name, fmt::format("stride 1 along {}", a.dims[inner]), std::to_string(t.stride(inner)));
}

void ArgumentChecks::row_alignment(const TensorArg& a) const {
  const TensorView& t = *a.view;
  const auto address = reinterpret_cast<uintptr_t>(t.data);
  if (address % kRowAlignmentBytes != 0)
    fail(a.name, "a 16-byte aligned data pointer (head_dim rows are loaded 16 bytes at a time)",
         fmt::format("{} ({} bytes past a 16-byte boundary)", t.data,
                     address % kRowAlignmentBytes));
  const int64_t bytes = dtype_bytes(t.dtype);
  for (int d = 0; d + 1 < t.rank(); ++d) {
    // A dimension of extent 1 is never stepped along, so its stride is irrelevant
    // (PyTorch reports arbitrary strides there).
    if (t.shape[d] <= 1) continue;
    const int64_t s = t.stride(d);
    if (s <= 0)
      fail(a.name, fmt::format("a positive stride along {}", a.dims[d]), std::to_string(s));
    if (s * bytes % kRowAlignmentBytes != 0)
      fail(a.name,
           fmt::format("stride along {} to be a multiple of 16 bytes ({} {} elements) so "
                       "every head_dim row stays 16-byte aligned",
                       a.dims[d], kRowAlignmentBytes / bytes, dtype_name(t.dtype)),
           fmt::format("{} ({} bytes)", s, s * bytes));
  }
}

void ArgumentChecks::elementwise(const TensorArg& a) const {
  aligned_only(a);
  const TensorView& t = *a.view;
  for (int d = 0; d < t.rank(); ++d)
    if (t.shape[d] > 1 && t.stride(d) <= 0)
      fail(a.name, fmt::format("a positive stride along {}", a.dims[d]),
           std::to_string(t.stride(d)));
}

void ArgumentChecks::int_array(const TensorArg& a) const {
  const TensorView& t = *a.view;
  if (t.shape[0] > 1 && t.stride(0) != 1)
    fail(a.name, fmt::format("stride 1 (a contiguous {} array)", dtype_name(t.dtype)),
         std::to_string(t.stride(0)));
  aligned_only(a);
}

void ArgumentChecks::aligned_only(const TensorArg& a) const {
  const int bytes = dtype_bytes(a.view->dtype);
  if (reinterpret_cast<uintptr_t>(a.view->data) % bytes != 0)
    fail(a.name, fmt::format("a {}-byte aligned data pointer", bytes),
         fmt::format("{}", a.view->data));
}

void ArgumentChecks::scale(const char* name, float value, bool used,
                           const std::string& why_unused) const {
  if (used) {
    if (!std::isfinite(value) || value <= 0.0f)
      fail(name, "a finite positive scale", fmt::format("{}", value));
  } else if (value != 1.0f) {
    fail(name, fmt::format("1 (the default) {}", why_unused), fmt::format("{}", value));
  }
}

}  // namespace attnjit
