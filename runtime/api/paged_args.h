#pragma once
// Arguments of the paged kind (vLLM / FlashInfer / flash_attn_with_kvcache shapes):
// one launch serves a mixed batch of sequences whose keys and values live in a paged
// KV cache, each with a chunk of new query tokens at the end of the sequence
// (prefill, chunked prefill after cached context, or a single decode token).
#include <map>
#include <string>

#include "runtime/api/tensor.h"
#include "runtime/plan/split_choice.h"  // kStreamSplit, kStreamSplitMaxSeqs, uses_decode_tile

namespace attnjit {

namespace ir { struct Variant; }

struct PagedArgs {
  TensorView q;             // [total_q, q_heads, head_dim], dtype = variant.q_type
  // Pages of page_size tokens; layout per the variant's kv_cache:
  //   NHD: [num_blocks, page_size, kv_heads, head_dim]
  //   HND: [num_blocks, kv_heads, page_size, head_dim]
  // Any strides (innermost 1), so views unbound from one [num_blocks, 2, ...] tensor work.
  TensorView k_cache, v_cache;     // dtype = variant.kv_type
  TensorView block_table;   // int32 [num_seqs, max_blocks_per_seq]: page ids
  TensorView seq_lens;      // int32 [num_seqs]: tokens per sequence, cached + new
  TensorView cu_seqlens_q;  // int32 [num_seqs + 1]: prefix sums of new-token counts
  int max_seqlen_q = 0;     // the longest query chunk
  int max_seqlen_k = 0;     // the longest seq_len, a hint for split-KV; 0 = table capacity
  TensorView out;           // [total_q, q_heads, head_dim], dtype = variant.out_type
  TensorView lse;           // optional f32 [q_heads, total_q] (variant.lse)

  // Quantized KV (variant.kv_scale): per_tensor fp8 -> one descale each for K and V;
  // per_token_head fp8/int8 -> f32 scale caches [num_blocks, page_size, kv_heads]
  // as strided views (vLLM's inline scales in a padded head dim work via strides).
  float k_descale = 1.0f, v_descale = 1.0f;
  TensorView k_scale_cache, v_scale_cache;
  float out_scale = 1.0f;   // fp8 output: out = clamp(result * out_scale)

  // Runtime values of the variant, as in PrefillArgs.
  std::map<std::string, float> params;
  std::map<std::string, TensorView> inputs;
  TensorView sinks;
  TensorView bidirectional_ranges;

  // Split-KV: 0 = heuristic, 1 = off, N = N even segments (<= 64) and a merge launch,
  // kStreamSplit = the stream split (decode batches only: every chunk's query heads
  // fit the 16-row decode tile).
  int num_splits = 0;

  // Tests only: a device int32[2] the kernel adds its visited / full KV tile counts to.
  int* debug_tile_counts = nullptr;
};

// Writes new K/V tokens into the paged cache (vLLM's reshape_and_cache).
struct CacheWriteArgs {
  TensorView k, v;                 // [num_tokens, kv_heads, head_dim], dtype = variant.q_type
  TensorView k_cache, v_cache;     // as in PagedArgs
  TensorView slot_mapping;         // int32 or int64 [num_tokens]: block * page_size + offset; < 0 skips
  float k_scale = 1.0f, v_scale = 1.0f;    // per_tensor quantization: stored = value / scale
  TensorView k_scale_cache, v_scale_cache; // per_token_head: written with each token's scale
};

// Combines two partial attention results over disjoint key sets (cascade / shared
// prefix): out = (out_a * e^lse_a + out_b * e^lse_b) / (e^lse_a + e^lse_b).
struct MergeArgs {
  TensorView out_a, lse_a;  // [tokens, heads, head_dim], f32 [heads, tokens]
  TensorView out_b, lse_b;
  TensorView out;           // [tokens, heads, head_dim]
  TensorView lse;           // optional f32 [heads, tokens]
};

struct PagedShape {
  int num_seqs = 0;
  int total_q = 0;
  int num_blocks = 0;
  int max_blocks_per_seq = 0;
};

PagedShape validate_paged(const ir::Variant& variant, const PagedArgs& args,
                          DeviceKind expected_device, const std::string& where);
void validate_cache_write(const ir::Variant& variant, const CacheWriteArgs& args,
                          DeviceKind expected_device, const std::string& where);
void validate_merge(const MergeArgs& args, DeviceKind expected_device, const std::string& where);

}  // namespace attnjit
