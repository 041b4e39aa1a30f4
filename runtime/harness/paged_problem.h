#pragma once
// One paged-attention problem on the host (a paged KV cache with a random block
// table, queries, runtime values), its float64 reference and the device round trip.
// Shared by the CLI (`attnjit run --kind paged`), the GPU tests and the benchmark.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/engine.h"
#include "runtime/api/paged_args.h"
#include "runtime/harness/prefill_problem.h"
#include "runtime/reference/paged_reference.h"

namespace attnjit::harness {

// The result type the comparison functions below take, under the harness's name too.
using attnjit::PagedReferenceResult;

struct PagedProblemShape {
  // Per sequence: new query tokens (the chunk at the end of the sequence) and cached
  // tokens before them, so seq_len = context_len + query_len. Decode is query_len 1;
  // a fresh prefill has context 0.
  std::vector<int> query_lens, context_lens;
  // The cache format is the variant's (kernels are compiled for it). 0 / unset take
  // the variant's; anything else must agree with it (a CLI flag that disagrees with
  // the variant file is an error, not a silent override).
  int page_size = 0;
  std::optional<ir::KvLayout> layout;
  // K and V as two views of one [num_blocks, 2, ...] tensor (vLLM's layout), so
  // their strides are not those of contiguous tensors; per_token_head scale caches
  // are then views of one f32 [num_blocks, page_size, kv_heads, 2] tensor too.
  bool fused_kv = false;
  // Pages no sequence uses, so page ids are sparse among num_blocks.
  int extra_blocks = 0;
  // Tokens with slot -1 mixed into the cache_write inputs (k_tokens, slot_mapping):
  // padding a cache write must skip.
  int padding_tokens = 0;
  // Fill every cache slot no sequence uses (and its scales) with 0xFF bytes (NaN for
  // the float types), so a kernel that lets a slot past seq_len reach its sums fails
  // (0 * NaN is NaN): real caches hold garbage there.
  bool poison_unused = true;
  // The variant's runtime values: ProblemShape's explicit params / inputs / sinks /
  // ranges and its random-value settings (its size fields are not read).
  ProblemShape values;
};

struct HostPagedProblem {
  int num_seqs = 0, total_q = 0, max_seqlen_q = 0;
  int num_blocks = 0, max_blocks_per_seq = 0, page_size = 0;
  ir::KvLayout layout = ir::KvLayout::NHD;
  bool fused_kv = false;
  std::vector<int> query_lens, seq_lens;  // host copies of the tables' lengths

  HostTensor q;                          // [total_q, q_heads, head_dim], q_type
  // Separate caches ([num_blocks, page layout...], kv_type), or with fused_kv one
  // kv_cache [num_blocks, 2, page layout...] and k_cache / v_cache left empty.
  HostTensor k_cache, v_cache, kv_cache;
  // per_token_head: f32 [num_blocks, page_size, kv_heads] each, or with fused_kv one
  // kv_scale_cache [num_blocks, page_size, kv_heads, 2] (K at 0, V at 1).
  HostTensor k_scale_cache, v_scale_cache, kv_scale_cache;
  HostTensor block_table, seq_lens_table, cu_seqlens_q;  // int32
  float k_descale = 1.0f, v_descale = 1.0f;  // per_tensor (also the cache_write scales)
  float out_scale = 1.0f;                    // fp8 output
  HostTensor out, lse;                       // [total_q, q_heads, head_dim], f32 [q_heads, total_q]

  // Every sequence's K/V tokens in order (plus padding tokens) before they were
  // written to the cache, [num_tokens, kv_heads, head_dim] in q_type, and their
  // int32 slots: the cache_write input that produced the cache.
  HostTensor k_tokens, v_tokens, slot_mapping;

  // The variant's runtime values, as in HostProblem.
  std::map<std::string, float> params;
  std::map<std::string, HostTensor> inputs;
  HostTensor sinks, bidirectional_ranges;

  // The arguments with each tensor's view from `view_of` (a host view, or a device
  // copy's); K/V caches and scale caches are unbound from their fused tensors here.
  using Viewer = std::function<TensorView(const HostTensor&)>;
  PagedArgs args(const Viewer& view_of) const;
  CacheWriteArgs cache_write_args(const Viewer& view_of) const;
  // Cpu views of everything.
  PagedArgs host_args() const;
  CacheWriteArgs host_cache_write_args() const;
};

// Builds a random problem for `v` (which must have kv_cache = paged): a randomly
// permuted block table (pages of different sequences interleaved, extra pages
// unused), random normal K/V tokens in q_type written into the cache with
// reference_cache_write semantics (so quantized caches hold what a cache write
// would store, with per_token_head scales), random normal q, per_tensor
// k/v_descale drawn from U(0.5, 2), fp8 out_scale from U(0.5, 2), and the runtime
// values as make_random_problem draws them. Same problem for the same seed on every
// platform. Throws std::invalid_argument for an inconsistent shape or variant.
HostPagedProblem make_random_paged_problem(const ir::Variant& v, const PagedProblemShape& s,
                                           uint64_t seed);

// The reference for the problem's inputs, with its low-precision twin (the verdict's
// yardstick); problem.out / lse untouched.
PagedReferenceResult compute_paged_reference(const ir::Variant& v, const HostPagedProblem& p);

// Judges problem.out / problem.lse (a device result downloaded into them) with the
// verdict (verdict.h) against the reference and its twin; fp8 outputs are divided by
// out_scale first. Quantized K/V get no looser bound than 16-bit ones: the reference
// dequantizes the very values the kernel reads, and the kernel decodes them exactly
// into its operand type. `ref` must come from compute_paged_reference (a reference
// without its twin is an std::invalid_argument).
CheckResult compare_paged_with_reference(const ir::Variant& v, const HostPagedProblem& p);
CheckResult compare_paged_with_reference(const ir::Variant& v, const HostPagedProblem& p,
                                         const PagedReferenceResult& ref);

// How a cache written on the device (downloaded into `written`) differs from the
// host's reference cache write of the same problem (`expected`, taken before the run):
// data caches byte by byte, per_token_head scales (f32) beyond kScaleRelativeTolerance
// (both NaN, an unused slot's poison, agree). The device computes scales in f32 and
// the host in f64 rounded to f32, so a value on a rounding boundary may take the
// other code: a few differing bytes are expected, many are a wrong write.
struct CacheComparison {
  size_t bytes = 0, differing_bytes = 0;
  size_t scales = 0, differing_scales = 0;
  // At most max_byte_fraction of the bytes differ and every scale agrees.
  bool ok(double max_byte_fraction) const;
};
inline constexpr double kScaleRelativeTolerance = 1e-6;
CacheComparison compare_caches(const HostPagedProblem& expected, const HostPagedProblem& written);

// The attention the problem's tokens (k_tokens / v_tokens, before quantization) get
// from an unquantized cache (kv = the variant's q type): the yardstick for the error
// a quantized cache adds, e.g. cache_write then attention against the plain values.
PagedReferenceResult compute_unquantized_reference(const ir::Variant& v, const HostPagedProblem& p);

struct PagedRunOptions {
  int num_splits = 0;  // PagedArgs::num_splits: 0 = heuristic, 1 = off, N = forced
  // Fill the device caches (and scale caches) with 0xFF bytes, write the tokens with
  // engine.write_kv_cache, then attend: the cache write and the attention kernel
  // checked together. The device caches are downloaded into the problem afterwards,
  // so the reference then runs on what the device wrote (compare the problem's
  // caches with a copy taken before to check the write itself).
  bool write_cache_on_device = false;
};

// Uploads the problem, poisons out / lse with NaN (0xFF bytes) so unwritten elements
// fail, runs engine.paged, synchronizes and downloads into problem.out / lse. Throws
// what the engine throws (no GPU, bad arguments, compile failure).
void run_paged_on_device(Engine& engine, const ir::Variant& v, HostPagedProblem& problem,
                         const PagedRunOptions& options = {});
// The same with only num_splits set.
void run_paged_on_device(Engine& engine, const ir::Variant& v, HostPagedProblem& problem,
                         int num_splits);

}  // namespace attnjit::harness
