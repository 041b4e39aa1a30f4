#pragma once
// `attnjit run --dump DIR`: everything needed to look at a run from Python or to
// replay it: inputs, device output, reference output, and meta.json describing them.
#include <cstdint>
#include <filesystem>

#include "compiler/ir/variant.h"
#include "runtime/harness/prefill_problem.h"

namespace attnjit::cli {

struct RunRecord {
  const ir::Variant& variant;
  const harness::ProblemShape& shape;
  uint64_t seed;
  const harness::HostProblem& problem;  // inputs and the downloaded device result
  const ReferenceResult& reference;
  const harness::CheckResult& check;
};

// Writes q.npy k.npy v.npy out.npy ref_out.npy (float32), lse.npy ref_lse.npy when
// the variant has LSE, cu_seqlens_q.npy cu_seqlens_k.npy when ragged, input_NAME.npy,
// sinks.npy and bidirectional_ranges.npy when the variant takes them, and meta.json
// (with the params used).
// Throws CommandError naming the file that could not be written.
void write_dump(const std::filesystem::path& dir, const RunRecord& run);

}  // namespace attnjit::cli
