// Kernel parameter block of the Hopper (sm_90a) prefill kernel: the tensor maps its
// copies read Q, K and V through, then the prefill kind's own block. Shared verbatim by
// the host (runtime/api/launch_prefill_hopper.cpp) and the generated device source,
// which places it after templates/kernels/prefill_params.h and hopper/tensor_map.h.
// Passed by value as the kernel's single __grid_constant__ argument: the copies name the
// maps by their address in parameter space.
#ifndef ATTNJIT_HOPPER_PREFILL_PARAMS_H
#define ATTNJIT_HOPPER_PREFILL_PARAMS_H

// Each map is 4D, innermost first: (head dim, row, head, sequence), in elements, with the
// views' strides; ragged batches have one "sequence" holding every token, addressed by
// cu_seqlens rows. Boxes are 64 head dims (128 bytes, swizzled) by kBlockM (Q) or kBlockN
// (K, V) rows of one head: a row past a tensor's end reads as zeros.
struct AttnjitHopperPrefillParams {
  struct AttnjitTensorMap q_map, k_map, v_map;  // first: each stays 64-byte aligned
  struct AttnjitPrefillParams base;
  // A persistent grid's counters: [0] work tiles given out past the first gridDim.x,
  // [1] blocks finished; zero before a launch, and the launch leaves them zero. Unused
  // (null) by the one-block-per-tile grid.
  int* tile_counters;
};

#endif
