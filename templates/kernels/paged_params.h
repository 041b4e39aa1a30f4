// Kernel parameter block of the paged kind (shared verbatim by host and device; plain C
// types; the generated source places templates/kernels/variant_args.h before it).
// Strides are in elements.
#ifndef ATTNJIT_PAGED_PARAMS_H
#define ATTNJIT_PAGED_PARAMS_H

struct AttnjitPagedParams {
  const void* q;               // [total_q, q_heads, head_dim]
  const void* k_cache;         // pages; any layout expressed by the three strides below
  const void* v_cache;
  void* out;                   // [total_q, q_heads, head_dim], or f32 partials when split
  float* lse;                  // [q_heads, total_q] (or partials when split), may be null

  const int* cu_seqlens_q;     // [num_seqs + 1]
  const int* seq_lens;         // [num_seqs]: cached + new tokens
  const int* block_table;      // [num_seqs, block_table_stride]
  int num_seqs;
  int block_table_stride;

  long long q_row_stride, q_head_stride;
  long long k_block_stride, k_slot_stride, k_head_stride;
  long long v_block_stride, v_slot_stride, v_head_stride;
  long long o_row_stride, o_head_stride, o_split_stride;
  long long lse_row_stride, lse_head_stride, lse_split_stride;

  // Dequantization: per-tensor descales, or per-token-head scale caches
  // [num_blocks, page_size, kv_heads] with strides.
  float k_descale, v_descale;
  const float* k_scales;
  const float* v_scales;
  long long ks_block_stride, ks_slot_stride, ks_head_stride;
  long long vs_block_stride, vs_slot_stride, vs_head_stride;

  float softmax_scale;         // already multiplied by k_descale for per-tensor scales
  float softmax_scale_log2;
  float out_multiplier;        // v_descale (per tensor) times the fp8 output scale
  int num_splits;

  // The stream split (paged_stream.cuh): the pieces of cut (sequence, KV head) units
  // go to each thread block's two slots of f32 rows, scaled by piece_multiplier (the
  // V descale); the last piece of a unit to finish merges them into out / lse,
  // applying merged_out_scale (the fp8 output scale).
  int kv_heads;
  float* piece_out;           // [blocks][2][BLOCK_M][head_dim]
  float* piece_lse;           // [blocks][2][BLOCK_M]
  int* pieces_done;           // [num_seqs * kv_heads], zero between launches
  float piece_multiplier;
  float merged_out_scale;

  // > 0: sequences with more new tokens than this are prefill chunks that another launch
  // (the Hopper kernel, templates/kernels/hopper/paged_prefill.cuh) serves; these
  // entries skip them. 0: these entries serve every sequence (the Hopper kernel, every
  // sequence with a token).
  int decode_q_len_max;

  struct AttnjitVariantArgs variant;
  int* debug_tile_counts;      // tests only (see prefill_params.h)
};

#endif
