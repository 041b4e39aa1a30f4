#include "compiler/codegen/dialect.h"

namespace attnjit {

namespace {
constexpr Dialect kDialects[] = {
    {Vendor::cuda, "CUDA", "templates/cuda/tile_ops.cuh", ".cu", "attnjit::tanh_approx", "expf", "exp2f",
     "logf", "sqrtf", "__fsqrt_rn", "fabsf", "fminf", "fmaxf"},
    {Vendor::hip, "HIP", "templates/hip/tile_ops.cuh", ".hip", "tanhf", "expf", "exp2f",
     "logf", "sqrtf", "__fsqrt_rn", "fabsf", "fminf", "fmaxf"},
};
}  // namespace

const Dialect& dialect_for(Vendor vendor) {
  for (const Dialect& d : kDialects)
    if (d.vendor == vendor) return d;
  return kDialects[0];
}

}  // namespace attnjit
