#pragma once
// `attnjit run --dump DIR`: everything needed to look at a run from Python or to
// replay it: inputs, device output, reference output, and meta.json describing them.
#include <cstdint>
#include <filesystem>

#include "compiler/ir/variant.h"
#include "runtime/harness/paged_problem.h"
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

// `attnjit run --kind paged --dump DIR`.
struct PagedRunRecord {
  const ir::Variant& variant;
  const harness::PagedProblemShape& shape;
  uint64_t seed;
  const harness::HostPagedProblem& problem;  // inputs and the downloaded device result
  const harness::PagedReferenceResult& reference;
  const harness::CheckResult& check;
  int splits_requested;  // --splits: 0 = heuristic
  int splits_used;       // what the engine launched
  bool cache_written_on_device;  // --write-cache: the caches hold what the device wrote
};

// Writes q.npy, the caches (k_cache.npy v_cache.npy, or kv_cache.npy [num_blocks, 2,
// ...] when fused; k_scale_cache.npy v_scale_cache.npy or kv_scale_cache.npy for
// per_token_head scales), block_table.npy seq_lens.npy cu_seqlens_q.npy (int32),
// out.npy and ref_out.npy (float32; ref_out without out_scale), lse.npy ref_lse.npy
// ([q_heads, total_q]) when the variant has LSE, the cache_write inputs k_tokens.npy
// v_tokens.npy slot_mapping.npy with --write-cache, the runtime values as write_dump
// does, and meta.json (dtypes as in write_dump, page size, layout, descales, splits).
void write_paged_dump(const std::filesystem::path& dir, const PagedRunRecord& run);

}  // namespace attnjit::cli
