#pragma once
// The tensor maps the Hopper paged-prefill kernel copies K and V pages through
// (templates/kernels/hopper/paged_params.h states their form), built from a validated
// paged call's cache views. Pure: no driver, so the rules are testable without a GPU.
#include <array>
#include <string>

#include "compiler/ir/variant.h"
#include "compiler/support/result.h"
#include "runtime/api/paged_args.h"
#include "runtime/driver/tensor_map.h"

namespace attnjit {

// Slots of one box when the kernel copies a tile of `block_n` keys a box per page
// (attnjit_page_box_rows(): the page size a multiple of 8 and one of page size and
// block_n dividing the other); 0 when it gathers every tile instead.
int hopper_page_box_rows(int page_size, int block_n);

// K and V's specs: 4D (head dim, slot, KV head, page) with the views' strides, NHD and
// HND alike, boxes of 64 head dims by hopper_page_box_rows() slots, 128-byte swizzled; or
// why the call's tiles are gathered instead (the page size, or views tensor copies
// cannot read).
Result<std::array<cuda::TensorMapSpec, 2>, std::string> hopper_paged_tensor_maps(const ir::Variant& variant,
                                                                               const PagedArgs& args,
                                                                               int block_n);

}  // namespace attnjit
