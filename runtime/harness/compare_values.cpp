#include "runtime/harness/compare_values.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace attnjit::harness {

namespace {

bool is_negative_infinity(double x) { return std::isinf(x) && x < 0; }

}  // namespace

void compare_output_values(const HostTensor& out, double scale, const std::vector<double>& want,
                           CheckResult& r) {
  const int64_t n = out.numel();
  double err_sq = 0, ref_sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double got = load_element(out.bytes.data(), out.dtype, i) * scale;
    const double expected = want[i];
    r.max_abs_ref = std::max(r.max_abs_ref, std::abs(expected));
    if (!std::isfinite(got)) {
      ++r.nonfinite;
      continue;
    }
    const double err = std::abs(got - expected);
    r.max_abs_error = std::max(r.max_abs_error, err);
    if (err > r.tolerance.atol + r.tolerance.rtol * std::abs(expected)) ++r.mismatched;
    err_sq += err * err;
    ref_sq += expected * expected;
  }
  r.checked = static_cast<size_t>(n);
  // Relative to the reference's norm; an all-zero reference (every row masked) makes
  // it the absolute L2 error instead of a division by zero.
  r.rel_l2 = ref_sq > 0 ? std::sqrt(err_sq / ref_sq) : std::sqrt(err_sq);
  // A NaN or infinite output is unboundedly wrong; reporting the error of only the
  // finite elements would make a half-NaN output look accurate.
  if (r.nonfinite > 0) r.max_abs_error = r.rel_l2 = HUGE_VAL;
}

void compare_lse_values(const HostTensor& lse, const std::vector<double>& want, double atol,
                        double rtol, CheckResult& r) {
  for (size_t i = 0; i < want.size(); ++i) {
    const double got = load_element(lse.bytes.data(), DType::f32, static_cast<int64_t>(i));
    const double expected = want[i];
    // A fully masked row has LSE -inf in both; any other non-finite value is wrong.
    if (is_negative_infinity(expected) && is_negative_infinity(got)) continue;
    if (!std::isfinite(got)) {
      ++r.nonfinite;
      ++r.lse_mismatched;
      r.lse_max_abs_error = HUGE_VAL;
      continue;
    }
    const double err = std::abs(got - expected);  // infinite when only the reference is -inf
    r.lse_max_abs_error = std::max(r.lse_max_abs_error, err);
    if (!(err <= atol + rtol * std::abs(expected))) ++r.lse_mismatched;
  }
  r.checked += want.size();
}

}  // namespace attnjit::harness
