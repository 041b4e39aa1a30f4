#pragma once
// One prefill problem on the host, its float64 reference and the device round trip.
// Shared by the CLI (`attnjit run`, the default job), the GPU tests and the
// benchmark, so all three mean the same thing by "passes".
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/engine.h"
#include "runtime/api/prefill_args.h"
#include "runtime/reference/cpu_reference.h"

namespace attnjit::harness {

struct ProblemShape {
  int batch = 1;
  int seqlen_q = 0, seqlen_k = 0;       // fixed length
  std::vector<int> seqlens_q, seqlens_k;  // non-empty => ragged (size batch)
};

// A host tensor that owns its bytes (C order, elements stored in `dtype`).
struct HostTensor {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;

  bool defined() const { return !shape.empty(); }
  int64_t numel() const;
  // A cpu view of the bytes; an undefined TensorView when the tensor is absent.
  // Const because a view does not own: the reference only reads through it.
  TensorView view() const;
};

struct HostProblem {
  HostTensor q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k;
  int batch = 0;
  // Fixed length: every sequence's lengths; ragged: the longest ones.
  int max_seqlen_q = 0, max_seqlen_k = 0;
  bool ragged = false;

  // Cpu views of every tensor, as PrefillArgs (lse / cu_seqlens only when present).
  PrefillArgs host_args() const;
};

// Random normal inputs (never all zeros), the same for the same seed on every
// platform; out and lse are sized (lse present iff variant.lse) and zero-filled.
// Throws std::invalid_argument for an inconsistent shape (e.g. seqlens lists whose
// sizes differ from batch).
HostProblem make_random_problem(const ir::Variant& v, const ProblemShape& s, uint64_t seed);

struct Tolerance {
  double atol, rtol;
};
Tolerance tolerance_for(DType out);
// |lse - ref| <= kLseAtol + kLseRtol * |ref|; LSE is f32 from f32 accumulators.
inline constexpr double kLseAtol = 1e-3, kLseRtol = 1e-3;

struct CheckResult {
  double max_abs_error = 0, max_abs_ref = 0, rel_l2 = 0, lse_max_abs_error = 0;
  size_t nonfinite = 0, checked = 0;
  size_t mismatched = 0;      // output elements outside atol + rtol * |ref|
  size_t lse_mismatched = 0;  // LSE entries outside their tolerance (incl. -inf vs finite)
  Tolerance tolerance{0, 0};
  bool passed = false;
  // One line: PASS/FAIL, the errors, and on failure how many elements missed.
  std::string summary() const;
};

// The float64 reference for the problem's inputs (problem.out is not touched).
ReferenceResult compute_reference(const ir::Variant& v, const HostProblem& problem);
// The reference LSE ([rows, q_heads]) reordered into problem.lse's layout
// ([batch, q_heads, seqlen_q] or [q_heads, total_q]); empty when the problem has no lse.
std::vector<double> reference_lse_in_output_layout(const HostProblem& problem,
                                                   const ReferenceResult& ref);

// Compares a device result (already downloaded into `problem.out` / `problem.lse`)
// with the float64 reference.
CheckResult compare_with_reference(const ir::Variant& v, const HostProblem& problem);
CheckResult compare_with_reference(const ir::Variant& v, const HostProblem& problem,
                                   const ReferenceResult& ref);

// Uploads the inputs, poisons out/lse with NaN (0xFF bytes) so unwritten elements
// fail, runs engine.prefill, synchronizes and downloads into problem.out / .lse.
// Throws what Engine::prefill throws (no GPU, bad arguments, compile failure).
void run_on_device(Engine& engine, const ir::Variant& v, HostProblem& problem);
// run_on_device, then compare_with_reference.
CheckResult run_and_check(Engine& engine, const ir::Variant& v, HostProblem& problem);

}  // namespace attnjit::harness
