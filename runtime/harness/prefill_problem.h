#pragma once
// One prefill problem on the host, its float64 reference and the device round trip.
// Shared by the CLI (`attnjit run`, the default job), the GPU tests and the
// benchmark, so all three mean the same thing by "passes".
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/engine.h"
#include "runtime/api/prefill_args.h"
#include "runtime/harness/verdict.h"
#include "runtime/reference/cpu_reference.h"

namespace attnjit::harness {

// What make_random_problem generates: the sizes, and optionally some of the variant's
// runtime values (any value not given here is drawn at random, see below).
struct ProblemShape {
  int batch = 1;
  int seqlen_q = 0, seqlen_k = 0;       // fixed length
  std::vector<int> seqlens_q, seqlens_k;  // non-empty => ragged (size batch)

  // Explicit runtime values, e.g. params["cap"] = 0.5 to make a soft-cap saturate.
  std::map<std::string, float> params;               // by param name
  std::map<std::string, std::vector<float>> inputs;  // by input name, one value per head / sequence
  std::vector<float> sinks;                          // q_heads values
  // Per sequence (size batch), its [start, end) ranges; empty: random ranges.
  std::vector<std::vector<std::pair<int, int>>> bidirectional_ranges;
  // Random sinks are N(0, sinks_stddev^2); with large_sinks, about one head in eight
  // instead gets a magnitude from 15 to 30 (either sign), where a kernel that loses
  // range in its running max or sum shows it.
  double sinks_stddev = 2.0;
  bool large_sinks = true;

  // `batch` sequences of seqlen_q queries against seqlen_k keys each.
  static ProblemShape fixed(int batch, int seqlen_q, int seqlen_k) {
    ProblemShape s;
    s.batch = batch, s.seqlen_q = seqlen_q, s.seqlen_k = seqlen_k;
    return s;
  }
  // One sequence per entry: q[i] queries against k[i] keys.
  static ProblemShape ragged(std::vector<int> q, std::vector<int> k) {
    ProblemShape s;
    s.batch = static_cast<int>(q.size());
    s.seqlens_q = std::move(q), s.seqlens_k = std::move(k);
    return s;
  }
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
// A zero-filled host tensor.
HostTensor make_host_tensor(DType dtype, std::vector<int64_t> shape);

struct HostProblem {
  HostTensor q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k;
  int batch = 0;
  // Fixed length: every sequence's lengths; ragged: the longest ones.
  int max_seqlen_q = 0, max_seqlen_k = 0;
  bool ragged = false;

  // The variant's runtime values (each present exactly when the variant needs it).
  std::map<std::string, float> params;       // every runtime param of the variant
  std::map<std::string, HostTensor> inputs;  // every input: f32 [q_heads | kv_heads | batch]
  HostTensor sinks;                          // f32 [q_heads]
  HostTensor bidirectional_ranges;           // int32 [batch, max_ranges, 2]

  // Cpu views of every tensor and value, as PrefillArgs (optional ones when present).
  PrefillArgs host_args() const;
};

// Random normal q/k/v (never all zeros), the same for the same seed on every
// platform; out and lse are sized (lse present iff variant.lse) and zero-filled.
// Runtime values the shape does not give are random too:
//  - params: the declared default times U(0.5, 1.5);
//  - inputs: U(0.01, 1) (positive, so slopes and caps stay meaningful);
//  - sinks: see ProblemShape::sinks_stddev;
//  - bidirectional ranges: 0 to 2 ranges inside [0, kv_len) per sequence, padded
//    with empty [0, 0) ranges to max_ranges = 2.
// Throws std::invalid_argument for an inconsistent shape (e.g. seqlens lists whose
// sizes differ from batch) or an explicit value the variant does not take.
HostProblem make_random_problem(const ir::Variant& v, const ProblemShape& s, uint64_t seed);

// The float64 reference for the problem's inputs, with its low-precision twin (the
// verdict's yardstick); problem.out is not touched.
ReferenceResult compute_reference(const ir::Variant& v, const HostProblem& problem);
// Per-row values laid out like the reference LSE ([rows, q_heads]: the LSE, the twin's
// LSE or its model error) reordered into problem.lse's layout ([batch, q_heads,
// seqlen_q] or [q_heads, total_q]); empty when the problem has no lse.
std::vector<double> lse_in_output_layout(const HostProblem& problem,
                                         const std::vector<double>& rows_by_heads);
// The reference LSE in problem.lse's layout.
std::vector<double> reference_lse_in_output_layout(const HostProblem& problem,
                                                   const ReferenceResult& ref);

// Judges a device result (already downloaded into `problem.out` / `problem.lse`) with
// the verdict (verdict.h) against the reference and its twin. `ref` must come from
// compute_reference (a reference without its twin is an std::invalid_argument).
CheckResult compare_with_reference(const ir::Variant& v, const HostProblem& problem);
CheckResult compare_with_reference(const ir::Variant& v, const HostProblem& problem,
                                   const ReferenceResult& ref);

// Uploads the tensors and runtime value arrays (params travel on the host), poisons
// out/lse with NaN (0xFF bytes) so unwritten elements fail, runs engine.prefill,
// synchronizes and downloads into problem.out / .lse.
// Throws what Engine::prefill throws (no GPU, bad arguments, compile failure).
void run_on_device(Engine& engine, const ir::Variant& v, HostProblem& problem);
// run_on_device, then compare_with_reference.
CheckResult run_and_check(Engine& engine, const ir::Variant& v, HostProblem& problem);

}  // namespace attnjit::harness
