// The driver's CUtensorMap as the Hopper kernels' parameter blocks hold it, shared
// verbatim by the host and the generated device source (which places it before the
// main loop's parameter block: hopper/prefill_params.h, hopper/paged_params.h).
#ifndef ATTNJIT_HOPPER_TENSOR_MAP_H
#define ATTNJIT_HOPPER_TENSOR_MAP_H

// 128 opaque bytes on a 64-byte boundary, written by cuTensorMapEncodeTiled.
struct alignas(64) AttnjitTensorMap {
  unsigned long long opaque[16];
};

#endif
