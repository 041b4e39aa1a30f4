// Tensor maps of a Hopper paged call (see the header).
#include "runtime/api/hopper_paged_maps.h"

#include <algorithm>

#include <fmt/format.h>

#include "templates/cuda/hopper_layout.h"
#include "templates/kernels/variant_args.h"
#include "templates/kernels/paged_params.h"
#include "templates/kernels/hopper/tensor_map.h"
#include "templates/kernels/hopper/paged_params.h"

namespace attnjit {

namespace {

// One cache view as (head dim, slot, KV head, page).
Result<cuda::TensorMapSpec, std::string> map_of(const char* name, const TensorView& t, ir::KvLayout layout,
                                                unsigned box_rows) {
  if (t.dtype != DType::bf16 && t.dtype != DType::f16)
    return fail(fmt::format("{} is {}, not a 16-bit type", name, dtype_name(t.dtype)));
  if (t.rank() != 4) return fail(fmt::format("{} has rank {}", name, t.rank()));
  if (t.stride(3) != 1) return fail(fmt::format("{}'s head dim is not contiguous", name));
  // The view's axes of slot and KV head by layout.
  const int slot_axis = layout == ir::KvLayout::HND ? 2 : 1;
  const int head_axis = layout == ir::KvLayout::HND ? 1 : 2;
  const int axes[3] = {slot_axis, head_axis, 0};
  cuda::TensorMapSpec s;
  s.element = t.dtype == DType::bf16 ? cuda::TensorMapElement::bf16 : cuda::TensorMapElement::f16;
  s.address = t.data;
  s.box = {static_cast<unsigned>(hopper::kBlockColumns), box_rows, 1, 1};
  s.dims = {static_cast<unsigned long long>(t.shape[3])};
  for (int axis : axes) s.dims.push_back(static_cast<unsigned long long>(t.shape[axis]));
  // A dimension of extent 1 is never stepped along and the argument checks leave its
  // stride free: it gets the packed stride, which the map's rules accept.
  unsigned long long packed = s.dims[0] * 2;
  for (int i = 0; i < 3; ++i) {
    const int axis = axes[i];
    const long long stride = t.stride(axis);
    s.strides.push_back(t.shape[axis] <= 1 || stride <= 0 ? packed : static_cast<unsigned long long>(stride) * 2);
    packed = std::max(packed, s.strides.back() * s.dims[i + 1]);
  }
  if (std::string why = cuda::tensor_map_problem(s); !why.empty()) return fail(fmt::format("{}: {}", name, why));
  return s;
}

}  // namespace

int hopper_page_box_rows(int page_size, int block_n) { return attnjit_page_box_rows(page_size, block_n); }

Result<std::array<cuda::TensorMapSpec, 2>, std::string> hopper_paged_tensor_maps(const ir::Variant& variant,
                                                                               const PagedArgs& args,
                                                                               int block_n) {
  const int rows = hopper_page_box_rows(variant.kv_cache.page_size, block_n);
  if (rows == 0)
    return fail(fmt::format("pages of {} slots are not whole boxes of a {}-key tile", variant.kv_cache.page_size,
                            block_n));
  auto k = map_of("k_cache", args.k_cache, variant.kv_cache.layout, static_cast<unsigned>(rows));
  if (!k) return fail(k.error());
  auto v = map_of("v_cache", args.v_cache, variant.kv_cache.layout, static_cast<unsigned>(rows));
  if (!v) return fail(v.error());
  return std::array<cuda::TensorMapSpec, 2>{*k, *v};
}

}  // namespace attnjit
