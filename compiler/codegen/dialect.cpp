#include "compiler/codegen/dialect.h"

#include <fmt/format.h>

#include "compiler/support/embedded_files.h"

namespace attnjit {

namespace {
constexpr const char* kNoPrefix[] = {nullptr};
// The HIP vocabulary builds on these (templates/hip/tile_ops.cuh says why).
constexpr const char* kHipPrefix[] = {"templates/hip/prelude.h", "templates/hip/number_formats.h",
                                      "templates/hip/mfma_layouts.h", nullptr};

// HIP's math: compiler builtins, which lower without the ROCm device library (clang runs
// with -nogpulib; there is no tanhf, expf or __fsqrt_rn there). tanh and the exact
// square root are the vocabulary's own (CDNA has no tanh instruction, and v_sqrt_f32 is
// not correctly rounded), and so is the load of other blocks' results (HIP's __ldcg
// exists for half types only, as a plain load).
constexpr Dialect kDialects[] = {
    {Vendor::cuda, "CUDA", "templates/cuda/tile_ops.cuh", kNoPrefix, ".cu", "attnjit::tanh_approx", "expf",
     "exp2f", "logf", "sqrtf", "__fsqrt_rn", "fabsf", "fminf", "fmaxf", "__ldcg"},
    {Vendor::hip, "HIP", "templates/hip/tile_ops.cuh", kHipPrefix, ".hip", "attnjit::tanh_approx",
     "__builtin_expf", "__builtin_exp2f", "__builtin_logf", "__builtin_sqrtf", "attnjit::sqrt_rn",
     "__builtin_fabsf", "__builtin_fminf", "__builtin_fmaxf", "attnjit::load_l2"},
};
}  // namespace

const Dialect& dialect_for(Vendor vendor) {
  for (const Dialect& d : kDialects)
    if (d.vendor == vendor) return d;
  return kDialects[0];
}

Result<std::string, std::string> vocabulary_text(const Dialect& dialect) {
  std::string out;
  for (const char* const* part = dialect.vocabulary_prefix; *part != nullptr; ++part) {
    auto text = embedded_file(*part);
    if (!text) return fail(fmt::format("kernel template {} is not embedded in this build", *part));
    out += fmt::format("// ---- {} ----\n", *part);
    out += *text;
  }
  auto tile_ops = embedded_file(dialect.tile_ops);
  if (!tile_ops) return fail(fmt::format("kernel template {} is not embedded in this build", dialect.tile_ops));
  if (!out.empty()) out += fmt::format("// ---- {} ----\n", dialect.tile_ops);
  out += *tile_ops;
  return out;
}

}  // namespace attnjit
