// Prefill kind on the Hopper main loop: Q, K and V in memory, batch or ragged
// (cu_seqlens), read through tensor maps. One thread block per (query tile, query head,
// sequence), as templates/kernels/prefill.cuh; the main loop is hopper/mainloop.cuh's.

namespace attnjit {

// kBlockM consecutive query rows of one head: where their outputs and LSEs go and their
// positions (the copies read Q itself through the tensor map).
struct HopperPrefillRows {
  const AttnjitPrefillParams& p;
  int seq, head;
  int row0;         // the block's first row within the sequence's tensor rows
  int rows_valid;
  int q_pos_shift;  // query row r sits at position r + q_pos_shift
  int q_pos_first, q_pos_last;
  int q_len;

  // Offset of this sequence in a tensor: by cu_seqlens rows, or by the batch stride.
  __device__ __forceinline__ long long sequence_offset(long long batch_stride) const {
    return p.cu_seqlens_q != nullptr ? 0 : seq * batch_stride;
  }
  __device__ __forceinline__ OutputStorage* out_row(int r) const {
    return static_cast<OutputStorage*>(p.out) + sequence_offset(p.o_batch_stride) + (row0 + r) * p.o_row_stride +
           head * p.o_head_stride;
  }
  __device__ __forceinline__ float* lse_at(int r) const {
    return p.lse + sequence_offset(p.lse_batch_stride) + (row0 + r) * p.lse_row_stride + head * p.lse_head_stride;
  }
  __device__ __forceinline__ int q_pos(int r) const { return r + q_pos_shift; }
  __device__ __forceinline__ int q_head(int) const { return head; }
};

}  // namespace attnjit

extern "C" __global__ void ATTNJIT_LAUNCH_BOUNDS
    ATTNJIT_ENTRY(const __grid_constant__ AttnjitHopperPrefillParams hp) {
  using namespace attnjit;
  extern __shared__ __align__(1024) unsigned char shared[];
  const AttnjitPrefillParams& p = hp.base;

  // Later query tiles do more work under a causal mask: they are launched first.
  const int m_block = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y;
  const int seq = blockIdx.z;

  int q_len = p.seqlen_q, kv_len = p.seqlen_k, q_start = 0, k_start = 0;
  const bool ragged = p.cu_seqlens_q != nullptr;
  if (ragged) {
    q_start = p.cu_seqlens_q[seq];
    k_start = p.cu_seqlens_k[seq];
    q_len = p.cu_seqlens_q[seq + 1] - q_start;
    kv_len = p.cu_seqlens_k[seq + 1] - k_start;
  }
  const int m0 = m_block * kBlockM;
  if (m0 >= q_len) return;  // the whole block, before any barrier

  const int rows_valid = min(kBlockM, q_len - m0);
  const int q_pos_shift = m0 + kv_len - q_len;  // queries sit at the end of the sequence
  const HopperPrefillRows rows{p,           seq,         head,        q_start + m0, rows_valid,
                               q_pos_shift, q_pos_shift, q_pos_shift + rows_valid - 1, q_len};

  // Tensor coordinates: ragged tensors are one "sequence" of all tokens.
  const HopperCopies copies{&hp.q_map, &hp.k_map, &hp.v_map, q_start + m0, head,    ragged ? 0 : seq,
                            k_start,   head / kGroupSize, ragged ? 0 : seq};

  HopperOptions opt;
  opt.softmax_scale = p.softmax_scale;
  opt.softmax_scale_log2 = p.softmax_scale_log2;
  opt.out_multiplier = 1.f;
  opt.ranges = kHasRanges ? p.variant.ranges + seq * p.variant.max_ranges * 2 : nullptr;
  opt.range_count = kHasRanges ? p.variant.max_ranges : 0;
  opt.seq = seq;
  opt.tiles = visible_kv_tiles(rows.q_pos_first, rows.q_pos_last, kv_len, opt.ranges, opt.range_count);
  opt.debug_tile_counts = p.debug_tile_counts;
  hopper_attend(shared, rows, kv_len, copies, p.variant, opt);
}
