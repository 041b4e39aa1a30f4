#pragma once
// The verdict on a kernel's result, shared by compare_with_reference (prefill) and
// compare_paged_with_reference (paged), hence by the CLI, the default job and the GPU
// tests: is the result as close to the float64 reference as a correct kernel in its
// precision gets? The yardstick is the reference's low-precision twin (LowPrecision,
// runtime/reference/attention_rows.h), the same attention rounded where the kernel
// rounds; its distance from the float64 reference is the error a correct kernel
// makes, at every scale of the output. docs/TESTING.md "The verdict" gives the rule,
// the measurements behind its constants and why.
#include <cstddef>
#include <string>
#include <vector>

#include "compiler/ir/dtype.h"
#include "runtime/reference/cpu_reference.h"

namespace attnjit::harness {

struct HostTensor;

// The rule. u_out and u_c are the unit roundoffs (2^-p) of the output and the compute
// (tensor-core operand) types, low the twin, low' the twin before its output rounding.
//  1. rel_l2(out, ref) <= kRelL2Factor * rel_l2(low, ref) + 2 u_out / sqrt(n) + kF32Slack
//     (the floor: one of n elements one output ulp off, and f32 arithmetic).
//  2. Every element: |out - ref| <= atol_row + u_out |ref|, where for its row (the
//     head_dim values of one query and head)
//       atol_row = (1 + u_out) max(kRoundoffFactor u_c rms_row,
//                                  kLowErrorFactor max(err_row, e * rms_row)) + q / 2,
//     rms_row the row's RMS of ref, err_row the RMS of low' - ref over the row, e =
//     rel_l2(low', ref) over the whole output, q the output type's smallest step (its
//     subnormal spacing). u_out |ref| is the output's own rounding (half an ulp); the
//     atol covers the arithmetic before it. A saturating (fp8) output is compared with
//     the reference clamped to its largest value.
//  3. LSE: -inf in both (a row that sees no key) agrees; otherwise
//     |lse - ref| <= kLseAtol + kLseRtol |ref| + kLseLowFactor |low - ref| + model,
//     model the twin's bound for a modelled approximation (tanh.approx), else 0.
//  4. No NaN or infinity anywhere.
//  5. The twin itself is plausible: rel_l2(low, ref) <= kTwinPlausibleFactor *
//     max(u_out, u_c) + kF32Slack. Rules 1 and 2 grow with the twin's error, so a twin
//     broken for some variant would otherwise widen the bounds until a wrong output
//     (all zeros: rel_l2 1) passes. Correct twins measure 0.3-1.2 of max(u_out, u_c)
//     (the upper end for fp8 outputs of long contexts, whose values sit near zero).
inline constexpr double kRelL2Factor = 3.0;
inline constexpr double kTwinPlausibleFactor = 2.0;
inline constexpr double kF32Slack = 0x1p-22;
inline constexpr double kRoundoffFactor = 4.0;
inline constexpr double kLowErrorFactor = 10.0;
inline constexpr double kLseAtol = 1e-4, kLseRtol = 1e-5, kLseLowFactor = 2.0;

// 2^-p for a float type of p significand bits (bf16 2^-8, fp16 2^-11, f32 2^-24,
// e4m3 2^-4, e5m2 2^-3, f64 2^-53); 0.5 for integer types (rounding to an integer).
double unit_roundoff(DType t);

struct CheckResult {
  // Outputs.
  double rel_l2 = 0;        // ||out - ref|| / ||ref|| (absolute when ref is all zero)
  double rel_l2_bound = 0;  // rule 1's bound
  double low_rel_l2 = 0;    // the twin's own rel_l2: what a correct kernel reaches
  bool twin_implausible = false;  // rule 5 failed: a reference bug, not a kernel verdict
  double worst_ratio = 0;   // max over elements of |out - ref| / its rule-2 bound
  size_t worst_index = 0;   // that element (flat index in out)
  double max_abs_error = 0, max_abs_ref = 0;
  size_t mismatched = 0;    // elements outside their rule-2 bound
  // LSE (when the problem has one).
  bool has_lse = false;
  double lse_worst_ratio = 0, lse_max_abs_error = 0;
  size_t lse_mismatched = 0;  // entries outside their bound (incl. -inf vs finite)
  size_t nonfinite = 0, checked = 0;
  bool passed = false;
  // One line: PASS/FAIL, rel_l2 against its bound, the worst element against its
  // bound, and on failure what missed.
  std::string summary() const;
  // The same measurements as labelled lines (newline-terminated), for a reader.
  std::string details() const;
};

// Judges `out` (each element read in out.dtype and multiplied by `unscale`), rows of
// head_dim values, against `ref` and `low` (the twin), all in out's element order;
// `compute` is the kernel's operand type. Fills the output fields and `checked`.
void judge_outputs(const HostTensor& out, double unscale, DType compute, int head_dim,
                   const std::vector<double>& ref, const LowPrecisionResult& low, CheckResult& r);

// Judges `lse` (f32) against `ref`, the twin's `low` and its `model_error`, all in
// lse's layout. Fills the LSE fields; adds to nonfinite and checked.
void judge_lse(const HostTensor& lse, const std::vector<double>& ref,
               const std::vector<double>& low, const std::vector<double>& model_error,
               CheckResult& r);

// Sets r.passed from the judged fields (rules 1-4).
void decide(CheckResult& r);

}  // namespace attnjit::harness
