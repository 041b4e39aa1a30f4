#pragma once
// The element-by-element comparison of a kernel's result with its float64 reference,
// shared by compare_with_reference (prefill) and compare_paged_with_reference (paged):
// both judge outputs and LSE the same way and differ only in the tolerances, the
// output scale and the reference LSE's layout, which they pass in.
#include <vector>

#include "runtime/harness/prefill_problem.h"

namespace attnjit::harness {

// Compares every element of `out` (read in out.dtype, then times `scale`) with `want`
// (out.numel() values, in out's order) under r.tolerance, and records in `r`:
// max_abs_ref, max_abs_error, mismatched, nonfinite, checked (= out.numel()) and
// rel_l2. A non-finite output makes max_abs_error and rel_l2 infinite.
void compare_output_values(const HostTensor& out, double scale, const std::vector<double>& want,
                           CheckResult& r);

// Compares `lse` (f32) with `want` (in lse's layout): each entry within
// atol + rtol * |want|, where -inf in both (a row that sees no key) agrees. Adds to `r`:
// lse_max_abs_error, lse_mismatched, nonfinite (a non-finite entry counts as both)
// and checked.
void compare_lse_values(const HostTensor& lse, const std::vector<double>& want, double atol,
                        double rtol, CheckResult& r);

}  // namespace attnjit::harness
