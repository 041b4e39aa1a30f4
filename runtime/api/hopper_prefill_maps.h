#pragma once
// The tensor maps the Hopper prefill kernel reads Q, K and V through
// (templates/kernels/hopper/prefill_params.h states their form), built from a validated
// call's views. Pure: no driver, so the rules are testable without a GPU.
#include <array>
#include <string>

#include "compiler/spec/tuning_config.h"
#include "compiler/support/result.h"
#include "runtime/api/prefill_args.h"
#include "runtime/driver/tensor_map.h"

namespace attnjit {

// Q, K and V's specs (4D: head dim, row, head, sequence; boxes of 64 head dims by
// BLOCK_M or BLOCK_N rows of one head, 128-byte swizzled), or why the views cannot be
// read by tensor copies (an element stride other than 1, a stride or address not a
// multiple of 16 bytes...): the caller then takes the mma.sync kernel.
Result<std::array<cuda::TensorMapSpec, 3>, std::string> hopper_prefill_tensor_maps(const PrefillArgs& args,
                                                                                 const PrefillShape& shape,
                                                                                 const TileConfig& tile);

}  // namespace attnjit
