// Kernel parameter block of the Hopper (sm_90a) paged-prefill kernel
// (hopper/paged_prefill.cuh), and the rule that says when its K/V tiles can be copied
// one tensor-copy box per page. Shared verbatim by the host
// (runtime/api/hopper_paged_launch.cpp, runtime/api/hopper_paged_maps.cpp) and the
// generated device source, which places it after templates/kernels/paged_params.h,
// hopper/tensor_map.h and templates/cuda/hopper_layout.h (ATTNJIT_HOST_DEVICE). Passed
// by value as the kernel's single __grid_constant__ argument.
#ifndef ATTNJIT_HOPPER_PAGED_PARAMS_H
#define ATTNJIT_HOPPER_PAGED_PARAMS_H

// Rows (cache slots) of one tensor-copy box when a tile of `block_n` keys is copied box by
// box, a box per page it spans; 0 when it cannot be, and the tile is gathered instead.
// A box is min(page_size, block_n) slots of one page: tiles start at multiples of
// block_n, so when one of the two divides the other no box crosses a page. Each box must
// fill whole 8-row swizzle atoms (1024 bytes), which the 128-byte swizzle needs to
// start on their own boundary.
ATTNJIT_HOST_DEVICE constexpr int attnjit_page_box_rows(int page_size, int block_n) {
  return page_size % 8 != 0         ? 0
         : page_size % block_n == 0 ? block_n
         : block_n % page_size == 0 ? page_size
                                    : 0;
}

// The K and V caches as 4D tensors, innermost first: (head dim, slot, KV head, page), in
// elements, with the views' strides (NHD and HND differ only in them). Boxes are 64 head
// dims (128 bytes, swizzled) by attnjit_page_box_rows() slots of one head of one page.
// The kind's block follows: sequences with more than base.decode_q_len_max new tokens
// are this kernel's.
struct AttnjitHopperPagedParams {
  struct AttnjitTensorMap k_map, v_map;  // first: each stays 64-byte aligned
  struct AttnjitPagedParams base;
  int pages_by_copy;  // 1: the maps are set and tiles of stored keys are copied by boxes
};

#endif
