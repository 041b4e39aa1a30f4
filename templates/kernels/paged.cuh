// Paged kind: queries of a mixed batch (prefill chunks and single decode tokens)
// against a paged KV cache. The query heads that share a KV head are packed into the
// rows of one thread block (row r = token r / kGroupSize, head r % kGroupSize), so each
// K/V tile is read once per group. This file describes a block's rows and keys for
// attention_core.cuh's attend(); the entry point that follows it (paged_blocks.cuh or
// paged_stream.cuh) decides which blocks visit which tiles.

namespace attnjit {

constexpr int kTokensPerBlock = kBlockM / kGroupSize;
static_assert(kTokensPerBlock >= 1, "BLOCK_M must hold at least one token's query heads");

// Query rows of one sequence's chunk: kTokensPerBlock tokens x kGroupSize heads.
struct PackedRows {
  const InputStorage* q;  // the chunk's first token, first head of the group
  OutputStorage* out;
  float* lse;
  long long q_row_stride, q_head_stride, o_row_stride, o_head_stride;
  long long lse_row_stride, lse_head_stride;
  int head0;              // first query head of the group
  int rows_valid;
  int pos0;               // position of the block's first token
  int q_pos_first, q_pos_last;
  int q_len;

  __device__ __forceinline__ const InputStorage* q_row(int r) const {
    return q + (r / kGroupSize) * q_row_stride + (r % kGroupSize) * q_head_stride;
  }
  __device__ __forceinline__ OutputStorage* out_row(int r) const {
    return out + (r / kGroupSize) * o_row_stride + (r % kGroupSize) * o_head_stride;
  }
  __device__ __forceinline__ float* lse_at(int r) const {
    return lse + (r / kGroupSize) * lse_row_stride + (r % kGroupSize) * lse_head_stride;
  }
  __device__ __forceinline__ int q_pos(int r) const { return pos0 + r / kGroupSize; }
  __device__ __forceinline__ int q_head(int r) const { return head0 + r % kGroupSize; }
  static constexpr bool kOneHead = kGroupSize == 1;  // every row belongs to one query head
};

// A tile's rows through the block table: rows of K, V, or their per-token scales. The
// pages a tile spans are looked up once per tile (a few loads), not once per 16-byte
// chunk: per-chunk page loads and their address arithmetic dominated the decode loop's
// instruction count.
template <typename Element>
struct PagedTileRows {
  // Tiles start at multiples of BLOCK_N, so when one of BLOCK_N and the page size
  // divides the other a tile never straddles a page boundary it does not need.
  static constexpr int kPages = kBlockN % kPageSize == 0 ? kBlockN / kPageSize
                                : kPageSize % kBlockN == 0 ? 1
                                                           : (kBlockN + kPageSize - 1) / kPageSize + 1;
  const Element* page_base[kPages];
  long long slot_stride;
  int first_in_page;

  __device__ __forceinline__ PagedTileRows(const Element* cache, const int* pages,
                                           long long block_stride, long long slot_stride_,
                                           int first, int kv_len)
      : slot_stride(slot_stride_), first_in_page(first % kPageSize) {
    const int first_page = first / kPageSize;
#pragma unroll
    for (int p = 0; p < kPages; ++p) {
      // Only the pages the sequence uses are read (the rest of the table may be stale).
      const int page = first_page + p;
      page_base[p] = page * kPageSize < kv_len ? cache + pages[page] * block_stride : cache;
    }
  }
  __device__ __forceinline__ const Element* operator()(int r) const {
    const int local = first_in_page + r;
    const int which = local / kPageSize;
    const Element* base = page_base[0];
#pragma unroll
    for (int p = 1; p < kPages; ++p)
      if (which == p) base = page_base[p];  // a select chain keeps the array in registers
    return base + (local % kPageSize) * slot_stride;
  }
};

// One sequence's keys and values, gathered through its row of the block table.
struct PagedKeys {
  const KvStorage* k;  // the cache base, offset to this KV head
  const KvStorage* v;
  const int* pages;    // this sequence's block table row
  long long k_block_stride, k_slot_stride, v_block_stride, v_slot_stride;
  const float* k_scales;  // per-token-head scales, offset to this KV head
  const float* v_scales;
  long long ks_block_stride, ks_slot_stride, vs_block_stride, vs_slot_stride;
  int kv_len;

  __device__ __forceinline__ PagedTileRows<KvStorage> k_tile(int first) const {
    return {k, pages, k_block_stride, k_slot_stride, first, kv_len};
  }
  __device__ __forceinline__ PagedTileRows<KvStorage> v_tile(int first) const {
    return {v, pages, v_block_stride, v_slot_stride, first, kv_len};
  }
  // Per-token-head scales (a per-tensor descale is folded into the softmax scale and
  // the output multiplier instead).
  __device__ __forceinline__ PagedTileRows<float> k_scale_tile(int first) const {
    return {k_scales, pages, ks_block_stride, ks_slot_stride, first, kv_len};
  }
  __device__ __forceinline__ PagedTileRows<float> v_scale_tile(int first) const {
    return {v_scales, pages, vs_block_stride, vs_slot_stride, first, kv_len};
  }
};

// Sequence s owns query blocks [cu_q[s] / T + s, cu_q[s + 1] / T + s + 1): an upper
// bound on its ceil(q_len / T) blocks that needs no prefix sum over block counts.
__device__ __forceinline__ int find_sequence(const int* cu_seqlens_q, int num_seqs, int block) {
  int lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (cu_seqlens_q[mid] / kTokensPerBlock + mid <= block) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// A (sequence, KV head) pair's query rows: `tokens` tokens of the chunk from token0,
// written to p.out / p.lse (split-KV segment `split`'s slice of them when split).
__device__ __forceinline__ PackedRows packed_rows(const AttnjitPagedParams& p, int q_start, int q_len,
                                                  int kv_len, int kv_head, int token0, int tokens,
                                                  int split) {
  PackedRows rows;
  const int head0 = kv_head * kGroupSize;
  const int row0 = q_start + token0;
  rows.q_row_stride = p.q_row_stride;
  rows.q_head_stride = p.q_head_stride;
  rows.q = static_cast<const InputStorage*>(p.q) + row0 * p.q_row_stride + head0 * p.q_head_stride;
  rows.o_row_stride = p.o_row_stride;
  rows.o_head_stride = p.o_head_stride;
  rows.out = static_cast<OutputStorage*>(p.out) + split * p.o_split_stride +
             row0 * p.o_row_stride + head0 * p.o_head_stride;
  rows.lse_row_stride = p.lse_row_stride;
  rows.lse_head_stride = p.lse_head_stride;
  rows.lse = p.lse != nullptr ? p.lse + split * p.lse_split_stride + row0 * p.lse_row_stride +
                                    head0 * p.lse_head_stride
                              : nullptr;
  rows.head0 = head0;
  rows.rows_valid = tokens * kGroupSize;
  // The chunk sits at the end of its sequence.
  rows.pos0 = kv_len - q_len + token0;
  rows.q_pos_first = rows.pos0;
  rows.q_pos_last = rows.pos0 + tokens - 1;
  rows.q_len = q_len;
  return rows;
}

__device__ __forceinline__ PagedKeys paged_keys(const AttnjitPagedParams& p, int seq, int kv_head,
                                                int kv_len) {
  PagedKeys keys;
  keys.k = static_cast<const KvStorage*>(p.k_cache) + kv_head * p.k_head_stride;
  keys.v = static_cast<const KvStorage*>(p.v_cache) + kv_head * p.v_head_stride;
  keys.pages = p.block_table + static_cast<long long>(seq) * p.block_table_stride;
  keys.k_block_stride = p.k_block_stride;
  keys.k_slot_stride = p.k_slot_stride;
  keys.v_block_stride = p.v_block_stride;
  keys.v_slot_stride = p.v_slot_stride;
  keys.k_scales = p.k_scales != nullptr ? p.k_scales + kv_head * p.ks_head_stride : nullptr;
  keys.v_scales = p.v_scales != nullptr ? p.v_scales + kv_head * p.vs_head_stride : nullptr;
  keys.ks_block_stride = p.ks_block_stride;
  keys.ks_slot_stride = p.ks_slot_stride;
  keys.vs_block_stride = p.vs_block_stride;
  keys.vs_slot_stride = p.vs_slot_stride;
  keys.kv_len = kv_len;
  return keys;
}

// Everything of attend()'s options but the tiles.
__device__ __forceinline__ AttendOptions paged_options(const AttnjitPagedParams& p, int seq) {
  AttendOptions opt;
  opt.softmax_scale = p.softmax_scale;
  opt.softmax_scale_log2 = p.softmax_scale_log2;
  opt.out_multiplier = p.out_multiplier;
  opt.ranges = kHasRanges ? p.variant.ranges + seq * p.variant.max_ranges * 2 : nullptr;
  opt.range_count = kHasRanges ? p.variant.max_ranges : 0;
  opt.seq = seq;
  opt.debug_tile_counts = p.debug_tile_counts;
  opt.partial_rows = nullptr;
  opt.partial_lse = nullptr;
  opt.partial_multiplier = 1.f;
  return opt;
}

}  // namespace attnjit
