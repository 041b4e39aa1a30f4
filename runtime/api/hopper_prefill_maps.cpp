// Tensor maps of a Hopper prefill call (see the header).
#include "runtime/api/hopper_prefill_maps.h"

#include <fmt/format.h>

namespace attnjit {

namespace {

constexpr unsigned kBoxColumns = 64;  // 128 bytes of 16-bit elements: the swizzle's row

// One view as (head dim, row, head, sequence). Fixed lengths: [batch, rows, heads, dim];
// ragged: [tokens, heads, dim] as one sequence.
Result<cuda::TensorMapSpec, std::string> map_of(const char* name, const TensorView& t, bool ragged,
                                                unsigned box_rows) {
  if (t.dtype != DType::bf16 && t.dtype != DType::f16)
    return fail(fmt::format("{} is {}, not a 16-bit type", name, dtype_name(t.dtype)));
  const int dim_axis = ragged ? 2 : 3;
  if (t.rank() != dim_axis + 1) return fail(fmt::format("{} has rank {}", name, t.rank()));
  if (t.stride(dim_axis) != 1) return fail(fmt::format("{}'s head dim is not contiguous", name));
  const auto bytes = [](int64_t elements) { return static_cast<unsigned long long>(elements) * 2; };
  cuda::TensorMapSpec s;
  s.element = t.dtype == DType::bf16 ? cuda::TensorMapElement::bf16 : cuda::TensorMapElement::f16;
  s.address = t.data;
  s.box = {kBoxColumns, box_rows, 1, 1};
  if (ragged) {
    // The sequence dimension has one element: its stride is never used, only checked.
    s.dims = {static_cast<unsigned long long>(t.shape[2]), static_cast<unsigned long long>(t.shape[0]),
              static_cast<unsigned long long>(t.shape[1]), 1};
    s.strides = {bytes(t.stride(0)), bytes(t.stride(1)), bytes(t.stride(0))};
  } else {
    s.dims = {static_cast<unsigned long long>(t.shape[3]), static_cast<unsigned long long>(t.shape[1]),
              static_cast<unsigned long long>(t.shape[2]), static_cast<unsigned long long>(t.shape[0])};
    s.strides = {bytes(t.stride(1)), bytes(t.stride(2)), bytes(t.stride(0))};
  }
  if (std::string why = cuda::tensor_map_problem(s); !why.empty()) return fail(fmt::format("{}: {}", name, why));
  return s;
}

}  // namespace

Result<std::array<cuda::TensorMapSpec, 3>, std::string> hopper_prefill_tensor_maps(const PrefillArgs& args,
                                                                                 const PrefillShape& shape,
                                                                                 const TileConfig& tile) {
  auto q = map_of("q", args.q, shape.ragged, static_cast<unsigned>(tile.block_m));
  if (!q) return fail(q.error());
  auto k = map_of("k", args.k, shape.ragged, static_cast<unsigned>(tile.block_n));
  if (!k) return fail(k.error());
  auto v = map_of("v", args.v, shape.ragged, static_cast<unsigned>(tile.block_n));
  if (!v) return fail(v.error());
  return std::array<cuda::TensorMapSpec, 3>{*q, *k, *v};
}

}  // namespace attnjit
