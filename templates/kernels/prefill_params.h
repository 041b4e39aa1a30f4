// Kernel parameter block of the prefill kind. Shared verbatim by the host (runtime/)
// and the generated device source, so it uses plain C types only. The generated
// source places templates/kernels/variant_args.h before it. Strides are in
// elements. Passed by value as the kernel's single argument.
#ifndef ATTNJIT_PREFILL_PARAMS_H
#define ATTNJIT_PREFILL_PARAMS_H

struct AttnjitPrefillParams {
  const void* q;     // [batch, seqlen_q, q_heads, head_dim] or [total_q, q_heads, head_dim]
  const void* k;     // [batch, seqlen_k, kv_heads, head_dim] or [total_k, kv_heads, head_dim]
  const void* v;
  void* out;         // like q
  float* lse;        // optional: [batch, q_heads, seqlen_q] or [q_heads, total_q]

  // Ragged batches: prefix sums of lengths (batch + 1 entries); null for fixed lengths.
  const int* cu_seqlens_q;
  const int* cu_seqlens_k;
  int batch;
  int seqlen_q;      // fixed-length mode: every sequence's length; ragged: the maximum
  int seqlen_k;

  long long q_batch_stride, q_row_stride, q_head_stride;
  long long k_batch_stride, k_row_stride, k_head_stride;
  long long v_batch_stride, v_row_stride, v_head_stride;
  long long o_batch_stride, o_row_stride, o_head_stride;
  long long lse_batch_stride, lse_row_stride, lse_head_stride;

  float softmax_scale;        // applied to q.k
  float softmax_scale_log2;   // softmax_scale * log2(e), for exp2-based softmax

  struct AttnjitVariantArgs variant;
  // Tests only: when set, each thread block adds the KV tiles it visited to [0] and
  // those of them it treated as full (no per-element mask) to [1].
  int* debug_tile_counts;
};

#endif
