#include "runtime/harness/verdict.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "compiler/support/diagnostics.h"
#include "runtime/harness/prefill_problem.h"
#include "runtime/reference/paged_reference.h"

namespace attnjit::harness {

namespace {

bool is_negative_infinity(double x) { return std::isinf(x) && x < 0; }

// The smallest positive value of an output type: below it rounding is absolute.
double smallest_step(DType t) {
  switch (t) {
    case DType::bf16: return 0x1p-133;
    case DType::f16: return 0x1p-24;
    case DType::f32: return 0x1p-149;
    case DType::fp8_e4m3: return 0x1p-9;
    case DType::fp8_e5m2: return 0x1p-16;
    case DType::f64: return 0x1p-1074;
    default: return 1.0;  // integers
  }
}

// ||a - b|| / ||b||, or ||a - b|| when b is all zero (every row masked).
double relative_l2(double diff_sq, double ref_sq) {
  return ref_sq > 0 ? std::sqrt(diff_sq / ref_sq) : std::sqrt(diff_sq);
}

}  // namespace

double unit_roundoff(DType t) {
  switch (t) {
    case DType::bf16: return 0x1p-8;
    case DType::f16: return 0x1p-11;
    case DType::f32: return 0x1p-24;
    case DType::fp8_e4m3: return 0x1p-4;
    case DType::fp8_e5m2: return 0x1p-3;
    case DType::f64: return 0x1p-53;
    default: return 0.5;
  }
}

void judge_outputs(const HostTensor& out, double unscale, DType compute, int head_dim,
                   const std::vector<double>& ref, const LowPrecisionResult& low, CheckResult& r) {
  const int64_t n = out.numel();
  const auto size = static_cast<size_t>(n);
  ATTNJIT_ASSERT(ref.size() == size, "judge_outputs: reference size differs from the output's");
  ATTNJIT_ASSERT(low.out.size() == size && low.out_unrounded.size() == size,
                 "judge_outputs: the low-precision twin is missing or mis-sized");
  ATTNJIT_ASSERT(head_dim > 0 && n % head_dim == 0, "judge_outputs: rows of head_dim values");
  const double u_out = unit_roundoff(out.dtype);
  const double u_compute = unit_roundoff(compute);
  // A saturating type stores its largest value for anything beyond.
  const double limit = quantized_max(out.dtype) > 0 && out.dtype != DType::i8
                           ? quantized_max(out.dtype) * unscale
                           : HUGE_VAL;
  const double step = smallest_step(out.dtype) * unscale;

  std::vector<double> got(size);
  double ref_sq = 0, err_sq = 0, low_sq = 0, pre_sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    got[i] = load_element(out.bytes.data(), out.dtype, i) * unscale;
    const double expected = ref[i];
    r.max_abs_ref = std::max(r.max_abs_ref, std::abs(expected));
    ref_sq += expected * expected;
    low_sq += (low.out[i] - expected) * (low.out[i] - expected);
    pre_sq += (low.out_unrounded[i] - expected) * (low.out_unrounded[i] - expected);
    if (!std::isfinite(got[i])) {
      ++r.nonfinite;
      continue;
    }
    const double err = std::abs(got[i] - expected);
    r.max_abs_error = std::max(r.max_abs_error, err);
    err_sq += err * err;
  }
  r.checked += size;
  r.low_rel_l2 = relative_l2(low_sq, ref_sq);
  r.rel_l2 = relative_l2(err_sq, ref_sq);
  r.rel_l2_bound = kRelL2Factor * r.low_rel_l2 +
                   2.0 * u_out / std::sqrt(static_cast<double>(std::max<int64_t>(n, 1))) + kF32Slack;
  const double pre_rel_l2 = relative_l2(pre_sq, ref_sq);
  r.twin_implausible = r.low_rel_l2 > kTwinPlausibleFactor * std::max(u_out, u_compute) + kF32Slack;

  for (int64_t row = 0; row < n / head_dim; ++row) {
    const int64_t first = row * head_dim;
    double row_sq = 0, row_err_sq = 0;
    for (int64_t i = first; i < first + head_dim; ++i) {
      row_sq += ref[i] * ref[i];
      row_err_sq += (low.out_unrounded[i] - ref[i]) * (low.out_unrounded[i] - ref[i]);
    }
    const double rms = std::sqrt(row_sq / head_dim);
    const double low_err = std::max(std::sqrt(row_err_sq / head_dim), pre_rel_l2 * rms);
    const double atol =
        (1 + u_out) * std::max(kRoundoffFactor * u_compute * rms, kLowErrorFactor * low_err) +
        step / 2;
    for (int64_t i = first; i < first + head_dim; ++i) {
      if (!std::isfinite(got[i])) continue;
      const double expected = std::clamp(ref[i], -limit, limit);
      const double bound = atol + u_out * std::abs(expected);
      const double err = std::abs(got[i] - expected);
      const double ratio = err == 0.0 ? 0.0 : err / bound;
      if (!(ratio <= 1.0)) ++r.mismatched;
      if (!(ratio <= r.worst_ratio)) {
        r.worst_ratio = ratio;
        r.worst_index = static_cast<size_t>(i);
      }
    }
  }
  // A NaN or infinite output is unboundedly wrong; reporting the error of only the
  // finite elements would make a half-NaN output look accurate.
  if (r.nonfinite > 0) r.max_abs_error = r.rel_l2 = r.worst_ratio = HUGE_VAL;
}

void judge_lse(const HostTensor& lse, const std::vector<double>& ref,
               const std::vector<double>& low, const std::vector<double>& model_error,
               CheckResult& r) {
  ATTNJIT_ASSERT(low.size() == ref.size() && model_error.size() == ref.size() &&
                     static_cast<size_t>(lse.numel()) == ref.size(),
                 "judge_lse: sizes differ");
  r.has_lse = true;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double got = load_element(lse.bytes.data(), DType::f32, static_cast<int64_t>(i));
    const double expected = ref[i];
    // A fully masked row has LSE -inf in both; any other non-finite value is wrong.
    if (is_negative_infinity(expected) && is_negative_infinity(got)) continue;
    if (!std::isfinite(got)) ++r.nonfinite;
    double ratio = HUGE_VAL;  // NaN, or -inf on one side only
    double err = HUGE_VAL;
    if (std::isfinite(got) && std::isfinite(expected)) {
      err = std::abs(got - expected);
      const double twin = std::isfinite(low[i]) ? std::abs(low[i] - expected) : 0.0;
      ratio = err / (kLseAtol + kLseRtol * std::abs(expected) + kLseLowFactor * twin +
                     model_error[i]);
    }
    r.lse_max_abs_error = std::max(r.lse_max_abs_error, err);
    r.lse_worst_ratio = std::max(r.lse_worst_ratio, ratio);
    if (!(ratio <= 1.0)) ++r.lse_mismatched;
  }
  r.checked += ref.size();
}

void decide(CheckResult& r) {
  r.passed = r.nonfinite == 0 && r.mismatched == 0 && r.lse_mismatched == 0 &&
             r.rel_l2 <= r.rel_l2_bound && !r.twin_implausible;
}

std::string CheckResult::summary() const {
  std::string s = fmt::format(
      "{} rel_l2 {:.3g} (bound {:.3g}, low precision {:.3g}), worst element {:.3g} of its "
      "bound, max_abs_err {:.3g} (max |ref| {:.3g})",
      passed ? "PASS" : "FAIL", rel_l2, rel_l2_bound, low_rel_l2, worst_ratio, max_abs_error,
      max_abs_ref);
  if (has_lse)
    s += fmt::format(", lse worst {:.3g} of its bound (max_abs_err {:.3g})", lse_worst_ratio,
                     lse_max_abs_error);
  s += fmt::format(", {} values checked", checked);
  if (!passed) {
    s += fmt::format(": {} outputs outside their bounds (worst at element {}), {} non-finite values",
                     mismatched, worst_index, nonfinite);
    if (lse_mismatched) s += fmt::format(", {} LSE mismatches", lse_mismatched);
    if (!(rel_l2 <= rel_l2_bound)) s += ", rel_l2 above its bound";
    if (twin_implausible) s += ", the low-precision reference is implausibly far from the float64 one (a reference bug)";
  }
  return s;
}

std::string CheckResult::details() const {
  std::string s = fmt::format(
      "rel L2 error   {:.3g} (bound {:.3g}: {:g} x {:.3g} of the low-precision reference + floor)\n"
      "worst element  {:.3g} of its bound (element {}); max abs error {:.3g} (max |ref| {:.3g})\n",
      rel_l2, rel_l2_bound, kRelL2Factor, low_rel_l2, worst_ratio, worst_index, max_abs_error,
      max_abs_ref);
  if (has_lse)
    s += fmt::format("lse            worst {:.3g} of its bound; max abs error {:.3g}\n",
                     lse_worst_ratio, lse_max_abs_error);
  return s;
}

}  // namespace attnjit::harness
