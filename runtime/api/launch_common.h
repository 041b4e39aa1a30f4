#pragma once
// Pieces every launch file shares: the kernel ABI headers (in the order the generated
// source has them) and the translation of a variant's runtime values into the
// AttnjitVariantArgs slots codegen assigned. Grids, threads and shared memory come
// from launch plans (runtime/plan).
#include <stdexcept>
#include <string>

#include "compiler/ir/variant.h"
#include "runtime/api/tensor.h"
#include "templates/kernels/variant_args.h"

namespace attnjit {

// Slots in declaration order: params[i] is the variant's i-th param, inputs[j] its
// j-th input. `Args` is PrefillArgs or PagedArgs (validated before).
template <typename Args>
AttnjitVariantArgs variant_args(const ir::Variant& variant, const Args& args) {
  AttnjitVariantArgs out{};
  for (size_t i = 0; i < variant.params.size(); ++i) {
    auto it = args.params.find(variant.params[i].name);
    out.params[i] = static_cast<float>(it != args.params.end() ? it->second
                                                               : variant.params[i].default_value);
  }
  for (size_t i = 0; i < variant.inputs.size(); ++i)
    out.inputs[i] = static_cast<const float*>(args.inputs.at(variant.inputs[i].name).data);
  if (variant.sinks_per_head) out.sinks = static_cast<const float*>(args.sinks.data);
  if (variant.bidirectional_ranges) {
    out.ranges = static_cast<const int*>(args.bidirectional_ranges.data);
    out.max_ranges = static_cast<int>(args.bidirectional_ranges.shape[1]);
  }
  return out;
}

}  // namespace attnjit
