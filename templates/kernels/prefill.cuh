// Prefill kind: Q, K and V in memory, batch ([batch, seqlen, heads, dim]) or ragged
// ([tokens, heads, dim] with cu_seqlens). One thread block per (query tile, query head,
// sequence); the main loop is attention_core.cuh's attend().

namespace attnjit {

// Rows and keys read their pointers and strides from the parameter block (constant
// memory, passed as __grid_constant__) whenever they need them, so only a few integers
// stay in registers across the main loop, which the accumulators need.

// kBlockM consecutive query rows of one head.
struct PrefillRows {
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
  __device__ __forceinline__ const InputStorage* q_row(int r) const {
    return static_cast<const InputStorage*>(p.q) + sequence_offset(p.q_batch_stride) +
           (row0 + r) * p.q_row_stride + head * p.q_head_stride;
  }
  __device__ __forceinline__ OutputStorage* out_row(int r) const {
    return static_cast<OutputStorage*>(p.out) + sequence_offset(p.o_batch_stride) +
           (row0 + r) * p.o_row_stride + head * p.o_head_stride;
  }
  __device__ __forceinline__ float* lse_at(int r) const {
    return p.lse + sequence_offset(p.lse_batch_stride) + (row0 + r) * p.lse_row_stride +
           head * p.lse_head_stride;
  }
  __device__ __forceinline__ int q_pos(int r) const { return r + q_pos_shift; }
  __device__ __forceinline__ int q_head(int) const { return head; }
  static constexpr bool kOneHead = true;  // every row belongs to one query head
};

// One sequence's keys and values.
struct ContiguousKeys {
  const AttnjitPrefillParams& p;
  int seq, kv_head;
  int row0;  // the sequence's first key row (ragged) or 0
  int kv_len;

  __device__ __forceinline__ long long sequence_offset(long long batch_stride) const {
    return p.cu_seqlens_k != nullptr ? 0 : seq * batch_stride;
  }
  __device__ __forceinline__ const KvStorage* k_row(int j) const {
    return static_cast<const KvStorage*>(p.k) + sequence_offset(p.k_batch_stride) +
           (row0 + j) * p.k_row_stride + kv_head * p.k_head_stride;
  }
  __device__ __forceinline__ const KvStorage* v_row(int j) const {
    return static_cast<const KvStorage*>(p.v) + sequence_offset(p.v_batch_stride) +
           (row0 + j) * p.v_row_stride + kv_head * p.v_head_stride;
  }
  __device__ __forceinline__ StridedRows<KvStorage> k_tile(int first) const {
    return {k_row(first), p.k_row_stride};
  }
  __device__ __forceinline__ StridedRows<KvStorage> v_tile(int first) const {
    return {v_row(first), p.v_row_stride};
  }
};

}  // namespace attnjit

extern "C" __global__ void ATTNJIT_LAUNCH_BOUNDS
    ATTNJIT_ENTRY(const __grid_constant__ AttnjitPrefillParams p) {
  using namespace attnjit;
  extern __shared__ __align__(128) unsigned char shared[];

  // Under a causal mask later query tiles do more work; launching them first keeps
  // the tail of the grid short.
  const int m_block = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y;
  const int seq = blockIdx.z;

  int q_len = p.seqlen_q, kv_len = p.seqlen_k, q_start = 0, k_start = 0;
  if (p.cu_seqlens_q != nullptr) {
    q_start = p.cu_seqlens_q[seq];
    k_start = p.cu_seqlens_k[seq];
    q_len = p.cu_seqlens_q[seq + 1] - q_start;
    kv_len = p.cu_seqlens_k[seq + 1] - k_start;
  }
  const int m0 = m_block * kBlockM;
  if (m0 >= q_len) return;

  const int rows_valid = min(kBlockM, q_len - m0);
  // Queries sit at the end of the sequence (FlashAttention's causal alignment).
  const int q_pos_shift = m0 + kv_len - q_len;
  const PrefillRows rows{p,           seq,         head,        q_start + m0, rows_valid,
                         q_pos_shift, q_pos_shift, q_pos_shift + rows_valid - 1, q_len};
  const ContiguousKeys keys{p, seq, head / kGroupSize, k_start, kv_len};

  AttendOptions opt;
  opt.softmax_scale = p.softmax_scale;
  opt.softmax_scale_log2 = p.softmax_scale_log2;
  opt.out_multiplier = 1.f;
  opt.ranges = kHasRanges ? p.variant.ranges + seq * p.variant.max_ranges * 2 : nullptr;
  opt.range_count = kHasRanges ? p.variant.max_ranges : 0;
  opt.seq = seq;
  opt.tiles = visible_kv_tiles(rows.q_pos_first, rows.q_pos_last, kv_len, opt.ranges, opt.range_count);
  opt.debug_tile_counts = p.debug_tile_counts;
  opt.partial_rows = nullptr;
  opt.partial_lse = nullptr;
  opt.partial_multiplier = 1.f;
  attend(shared, rows, keys, p.variant, opt);
}
