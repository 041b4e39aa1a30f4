// Prefill kind: Q, K and V in memory, batch ([batch, seqlen, heads, dim]) or ragged
// ([tokens, heads, dim] with cu_seqlens). One thread block per (query tile, query head,
// sequence); the main loop is attention_core.cuh's attend().

namespace attnjit {

// kBlockM consecutive query rows of one head.
struct PrefillRows {
  const InputStorage* q;
  OutputStorage* out;
  float* lse;
  long long q_row_stride, o_row_stride, lse_row_stride;
  int head;
  int rows_valid;
  int q_pos_shift;  // query row i sits at position i + q_pos_shift
  int q_pos_first, q_pos_last;
  int q_len;

  __device__ __forceinline__ const InputStorage* q_row(int r) const { return q + r * q_row_stride; }
  __device__ __forceinline__ OutputStorage* out_row(int r) const { return out + r * o_row_stride; }
  __device__ __forceinline__ float* lse_at(int r) const { return lse + r * lse_row_stride; }
  __device__ __forceinline__ int q_pos(int r) const { return r + q_pos_shift; }
  __device__ __forceinline__ int q_head(int) const { return head; }
};

// One sequence's keys and values, rows `row_stride` elements apart.
struct ContiguousKeys {
  const KvStorage* k;
  const KvStorage* v;
  long long k_row_stride, v_row_stride;
  int kv_len;

  __device__ __forceinline__ const KvStorage* k_row(int j) const { return k + j * k_row_stride; }
  __device__ __forceinline__ const KvStorage* v_row(int j) const { return v + j * v_row_stride; }
  __device__ __forceinline__ float k_scale(int) const { return 1.f; }
  __device__ __forceinline__ float v_scale(int) const { return 1.f; }
};

}  // namespace attnjit

extern "C" __global__ void __launch_bounds__(attnjit::TileGeometry::kThreads)
    ATTNJIT_ENTRY(const AttnjitPrefillParams p) {
  using namespace attnjit;
  extern __shared__ __align__(128) unsigned char shared[];

  // Under a causal mask later query tiles do more work; launching them first keeps
  // the tail of the grid short.
  const int m_block = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y;
  const int seq = blockIdx.z;
  const int kv_head = head / kGroupSize;

  int q_len, kv_len;
  long long q_off, k_off, v_off, o_off, lse_off;
  if (p.cu_seqlens_q != nullptr) {
    const int q_start = p.cu_seqlens_q[seq];
    const int k_start = p.cu_seqlens_k[seq];
    q_len = p.cu_seqlens_q[seq + 1] - q_start;
    kv_len = p.cu_seqlens_k[seq + 1] - k_start;
    q_off = q_start * p.q_row_stride;
    k_off = k_start * p.k_row_stride;
    v_off = k_start * p.v_row_stride;
    o_off = q_start * p.o_row_stride;
    lse_off = q_start * p.lse_row_stride;
  } else {
    q_len = p.seqlen_q;
    kv_len = p.seqlen_k;
    q_off = seq * p.q_batch_stride;
    k_off = seq * p.k_batch_stride;
    v_off = seq * p.v_batch_stride;
    o_off = seq * p.o_batch_stride;
    lse_off = seq * p.lse_batch_stride;
  }
  const int m0 = m_block * kBlockM;
  if (m0 >= q_len) return;

  PrefillRows rows;
  rows.q_row_stride = p.q_row_stride;
  rows.o_row_stride = p.o_row_stride;
  rows.lse_row_stride = p.lse_row_stride;
  rows.q = static_cast<const InputStorage*>(p.q) + q_off + head * p.q_head_stride +
           m0 * p.q_row_stride;
  rows.out = static_cast<OutputStorage*>(p.out) + o_off + head * p.o_head_stride +
             m0 * p.o_row_stride;
  rows.lse = p.lse != nullptr ? p.lse + lse_off + head * p.lse_head_stride + m0 * p.lse_row_stride
                              : nullptr;
  rows.head = head;
  rows.rows_valid = min(kBlockM, q_len - m0);
  // Queries sit at the end of the sequence (FlashAttention's causal alignment).
  rows.q_pos_shift = m0 + kv_len - q_len;
  rows.q_pos_first = rows.q_pos_shift;
  rows.q_pos_last = rows.q_pos_shift + rows.rows_valid - 1;
  rows.q_len = q_len;

  ContiguousKeys keys;
  keys.k = static_cast<const KvStorage*>(p.k) + k_off + kv_head * p.k_head_stride;
  keys.v = static_cast<const KvStorage*>(p.v) + v_off + kv_head * p.v_head_stride;
  keys.k_row_stride = p.k_row_stride;
  keys.v_row_stride = p.v_row_stride;
  keys.kv_len = kv_len;

  AttendOptions opt;
  opt.softmax_scale = p.softmax_scale;
  opt.softmax_scale_log2 = p.softmax_scale_log2;
  opt.out_multiplier = 1.f;
  opt.ranges = kHasRanges ? p.variant.ranges + seq * p.variant.max_ranges * 2 : nullptr;
  opt.range_count = kHasRanges ? p.variant.max_ranges : 0;
  opt.seq = seq;
  opt.split = 0;
  opt.num_splits = 1;
  opt.debug_tile_counts = p.debug_tile_counts;
  attend(shared, rows, keys, p.variant, opt);
}
