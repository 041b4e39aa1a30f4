// Paged kind on the Hopper main loop (sm_90a): the prefill chunks of a mixed batch (the
// sequences with more than base.decode_q_len_max new tokens; the mma.sync paged entries
// serve the others in their own launch). One thread block of hopper/mainloop.cuh's
// three warpgroups per (kBlockM query rows of one sequence's chunk, KV head); the
// consumers are the main loop's, the producer is this file's:
//   - Q: the block's rows gathered by the producer warpgroup's 128 threads with 16-byte
//     cp.async into the swizzled Q tile (packed rows are not one box of a tensor);
//   - K and V, tile by tile through the sequence's row of the block table: a tile whose
//     keys are all stored (first + BLOCK_N <= kv_len) is copied by tensor copies, one box
//     of attnjit_page_box_rows() slots per page and 64-column block, when the page size
//     allows (hopper/paged_params.h) and the host could encode the maps; any other tile
//     (every tile otherwise, and always the sequence's last, partial one, whose slots past
//     kv_len must read as zeros: a cache holds garbage there, and 0 * NaN in P V would
//     reach the output) is gathered with 16-byte cp.async, zero-filling rows past kv_len.
// Gathered bytes are written by the generic proxy and read by wgmma through the async
// proxy: each producer thread waits for its own copies, fences the proxies
// (fence.proxy.async) and then arrives on the stage's "full" barrier, which counts the
// 128 producer threads (and, for a copied tile, the boxes' bytes).
//
// GQA: the query heads of one KV head are packed into the block's rows, as the mma.sync
// paged kind packs them (templates/kernels/paged.cuh's PackedRows): row r is token
// r / kGroupSize of the block, query head kv_head * kGroupSize + r % kGroupSize. Each
// K/V tile a block loads then serves every head of the group (a chunk's tokens are
// few next to a prefill's, so one head per block would read each page kGroupSize times
// for blocks mostly of rows past the chunk).

namespace attnjit {

constexpr int kChunkTokensPerBlock = kBlockM / kGroupSize;
static_assert(kChunkTokensPerBlock >= 1, "BLOCK_M must hold the query heads of one token");
constexpr int kPageBoxRows = attnjit_page_box_rows(kPageSize, kBlockN);
static_assert(kHeadDim / 8 <= hopper::kWarpgroupThreads && hopper::kWarpgroupThreads % (kHeadDim / 8) == 0,
              "the producer's threads split a row's 16-byte pieces evenly");

// The block's query rows: where their outputs and LSEs go and their positions.
struct HopperPagedRows {
  OutputStorage* out;  // the block's first token, first query head of the group
  float* lse;
  long long o_row_stride, o_head_stride, lse_row_stride, lse_head_stride;
  int head0;  // first query head of the group
  static constexpr int rows_first = 0;
  int rows_valid;
  int pos0;   // position of the block's first token
  int q_pos_first, q_pos_last;
  int q_len;

  __device__ __forceinline__ OutputStorage* out_row(int r) const {
    return out + (r / kGroupSize) * o_row_stride + (r % kGroupSize) * o_head_stride;
  }
  __device__ __forceinline__ float* lse_at(int r) const {
    return lse + (r / kGroupSize) * lse_row_stride + (r % kGroupSize) * lse_head_stride;
  }
  __device__ __forceinline__ int q_pos(int r) const { return pos0 + r / kGroupSize; }
  __device__ __forceinline__ int q_head(int r) const { return head0 + r % kGroupSize; }
  __device__ __forceinline__ bool holds(int r) const { return r < rows_valid; }
};

// Rows [0, kRows) of a [kRows, kHeadDim] 16-bit tile into the swizzled layout at `dst`
// (kHeadDim / 64 column blocks of kRows 128-byte rows, as the tensor copies leave a
// tile), by 16-byte cp.async of the producer warpgroup's threads, then committed as
// one group. row(r) is the row's first element, or null for a row that reads as zeros.
template <int kRows, typename Storage, typename RowOf>
__device__ __forceinline__ void gather_rows(u32 dst, const Storage* any_row, RowOf row) {
  constexpr int kChunksPerRow = kHeadDim / 8;
  constexpr int kRowsPerPass = hopper::kWarpgroupThreads / kChunksPerRow;
  const int thread = threadIdx.x % hopper::kWarpgroupThreads;
  const int chunk = thread % kChunksPerRow;
  const u32 column = dst + (chunk / (hopper::kBlockColumns / 8)) * hopper::column_block_bytes(kRows);
  const unsigned chunk_bytes = (chunk % (hopper::kBlockColumns / 8)) * hopper::kChunkBytes;
  for (int r = thread / kChunksPerRow; r < kRows; r += kRowsPerPass) {
    const Storage* src = row(r);
    copy16_async(column + hopper::swizzle128(r * hopper::kSwizzleRowBytes + chunk_bytes),
                 (src != nullptr ? src : any_row) + chunk * 8, src != nullptr);
  }
  async_commit();
}

static_assert(!kPersistent, "the paged kind's chunk blocks are one work tile each");

// The producer warpgroup of a block (every thread runs it).
struct HopperPagedProducer {
  const AttnjitHopperPagedParams* hp;
  int seq, kv_head;
  int q_row0;      // the block's first token, in q's rows
  int rows_valid;
  int kv_len;

  // K or V of the tile from key `first` by tensor copies, a box per page and column
  // block; the other threads arrive.
  __device__ __forceinline__ void copy_tile(u32 dst, const AttnjitTensorMap* map, u32 bar, const int* pages,
                                            int first) const {
    if (threadIdx.x % hopper::kWarpgroupThreads != 0) {
      mbarrier_arrive(bar);
      return;
    }
    mbarrier_arrive_expect_tx(bar, HopperGeometry::kKvTileBytes);
    constexpr int kBoxes = kPageBoxRows > 0 ? kBlockN / kPageBoxRows : 0;  // per column block
#pragma unroll 1
    for (int box = 0; box < kBoxes; ++box) {
      const int key = first + box * kPageBoxRows;
      const int page = pages[key / kPageSize];
#pragma unroll
      for (int block = 0; block < HopperGeometry::kColumnBlocks; ++block)
        tma_load_4d(dst + block * hopper::column_block_bytes(kBlockN) + box * kPageBoxRows * hopper::kSwizzleRowBytes,
                    map, bar, block * hopper::kBlockColumns, key % kPageSize, kv_head, page);
    }
  }

  // K or V of the tile from key `first` gathered through the block table (rows past
  // kv_len read as zeros); one cp.async group.
  __device__ __forceinline__ void gather_tile(u32 dst, const KvStorage* cache, long long block_stride,
                                              long long slot_stride, const int* pages, int first) const {
    gather_rows<kBlockN>(dst, cache, [&](int r) -> const KvStorage* {
      const int key = first + r;
      if (key >= kv_len) return nullptr;
      return cache + pages[key / kPageSize] * block_stride + (key % kPageSize) * slot_stride;
    });
  }

  __device__ __forceinline__ void operator()(const HopperShared& sh, KvTiles tiles, HopperProgress& progress) const {
    const AttnjitPagedParams& p = hp->base;
    const bool by_copy = kPageBoxRows > 0 && hp->pages_by_copy != 0;
    if (by_copy && threadIdx.x == 0) {
      tma_prefetch_map(&hp->k_map);
      tma_prefetch_map(&hp->v_map);
    }
    // Q: the packed rows of the group's heads, past rows_valid zeros.
    const InputStorage* q = static_cast<const InputStorage*>(p.q) + q_row0 * p.q_row_stride +
                            kv_head * kGroupSize * p.q_head_stride;
    gather_rows<kBlockM>(sh.q(progress.q_buffer()), q, [&](int r) -> const InputStorage* {
      return r < rows_valid ? q + (r / kGroupSize) * p.q_row_stride + (r % kGroupSize) * p.q_head_stride
                            : nullptr;
    });
    async_wait<0>();
    fence_proxy_async();
    mbarrier_arrive(sh.q_full(progress.q_buffer()));

    const KvStorage* k = static_cast<const KvStorage*>(p.k_cache) + kv_head * p.k_head_stride;
    const KvStorage* v = static_cast<const KvStorage*>(p.v_cache) + kv_head * p.v_head_stride;
    const int* pages = p.block_table + static_cast<long long>(seq) * p.block_table_stride;
    for (int n = tiles.begin; n < tiles.end; ++n) {
      const int it = progress.ring(n - tiles.begin), stage = ring_stage(it);
      const int first = n * kBlockN;
      const bool copied = by_copy && first + kBlockN <= kv_len;
      // A stage is free once every consumer warpgroup released its previous tile.
      if (it >= kStages) mbarrier_wait(sh.k_empty(stage), ring_parity(it - kStages));
      if (copied) copy_tile(sh.k(stage), &hp->k_map, sh.k_full(stage), pages, first);
      else gather_tile(sh.k(stage), k, p.k_block_stride, p.k_slot_stride, pages, first);
      if (it >= kStages) mbarrier_wait(sh.v_empty(stage), ring_parity(it - kStages));
      if (copied) {
        copy_tile(sh.v(stage), &hp->v_map, sh.v_full(stage), pages, first);
      } else {
        gather_tile(sh.v(stage), v, p.v_block_stride, p.v_slot_stride, pages, first);
        // K's group first (V's may still be in flight), each published after its bytes
        // landed and the proxies were fenced.
        async_wait<1>();
        fence_proxy_async();
        mbarrier_arrive(sh.k_full(stage));
        async_wait<0>();
        fence_proxy_async();
        mbarrier_arrive(sh.v_full(stage));
      }
    }
    progress.finish(tiles);
  }
};

// A chunk block's one work tile as the main loop takes it; the producer warpgroup's
// threads all produce (they gather).
struct HopperPagedWork {
  static constexpr int kProducerArrivals = hopper::kWarpgroupThreads;
  HopperPagedRows rows;
  int kv_len;
  HopperPagedProducer producer;
  HopperOptions opt;
  __device__ __forceinline__ void produce(const HopperShared& sh, HopperProgress& progress) const {
    producer(sh, opt.tiles, progress);
  }
};

// The schedule of a chunk block: the tile it was launched for.
struct HopperPagedOneTile {
  using Work = HopperPagedWork;
  Work work;
  template <typename Fn>
  __device__ __forceinline__ void produce_each(const HopperTileFeed&, Fn fn) const {
    fn(work);
  }
  template <typename Fn>
  __device__ __forceinline__ void consume_each(const HopperTileFeed&, Fn fn) const {
    fn(work);
  }
};

// Sequence s owns query blocks [cu_q[s] / T + s, cu_q[s + 1] / T + s + 1) (T tokens a
// block), an upper bound on its ceil(q_len / T) blocks that needs no prefix sum, as in
// templates/kernels/paged.cuh.
__device__ __forceinline__ int chunk_sequence(const int* cu_seqlens_q, int num_seqs, int block) {
  int lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (cu_seqlens_q[mid] / kChunkTokensPerBlock + mid <= block) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

}  // namespace attnjit

extern "C" __global__ void ATTNJIT_LAUNCH_BOUNDS
    ATTNJIT_ENTRY(const __grid_constant__ AttnjitHopperPagedParams hp) {
  using namespace attnjit;
  extern __shared__ __align__(1024) unsigned char shared[];
  const AttnjitPagedParams& p = hp.base;

  // Later query blocks (more keys under a causal mask) are launched first.
  const int block = gridDim.x - 1 - blockIdx.x;
  const int kv_head = blockIdx.y;
  const int seq = chunk_sequence(p.cu_seqlens_q, p.num_seqs, block);
  const int q_start = p.cu_seqlens_q[seq];
  const int q_len = p.cu_seqlens_q[seq + 1] - q_start;
  const int token0 = (block - (q_start / kChunkTokensPerBlock + seq)) * kChunkTokensPerBlock;
  // Not a chunk (the mma.sync launch serves it), or past it: the whole block, before any barrier.
  if (q_len <= p.decode_q_len_max || token0 >= q_len) return;
  const int kv_len = p.seq_lens[seq];
  const int tokens = min(kChunkTokensPerBlock, q_len - token0);

  HopperPagedRows rows;
  const int head0 = kv_head * kGroupSize;
  const long long row0 = q_start + token0;
  rows.out = static_cast<OutputStorage*>(p.out) + row0 * p.o_row_stride + head0 * p.o_head_stride;
  rows.lse = p.lse != nullptr ? p.lse + row0 * p.lse_row_stride + head0 * p.lse_head_stride : nullptr;
  rows.o_row_stride = p.o_row_stride;
  rows.o_head_stride = p.o_head_stride;
  rows.lse_row_stride = p.lse_row_stride;
  rows.lse_head_stride = p.lse_head_stride;
  rows.head0 = head0;
  rows.rows_valid = tokens * kGroupSize;
  rows.pos0 = kv_len - q_len + token0;  // the chunk sits at the end of its sequence
  rows.q_pos_first = rows.pos0;
  rows.q_pos_last = rows.pos0 + tokens - 1;
  rows.q_len = q_len;

  HopperOptions opt;
  opt.softmax_scale = p.softmax_scale;
  opt.softmax_scale_log2 = p.softmax_scale_log2;
  opt.out_multiplier = p.out_multiplier;
  opt.ranges = kHasRanges ? p.variant.ranges + seq * p.variant.max_ranges * 2 : nullptr;
  opt.range_count = kHasRanges ? p.variant.max_ranges : 0;
  opt.seq = seq;
  opt.tiles = visible_kv_tiles(rows.q_pos_first, rows.q_pos_last, kv_len, opt.ranges, opt.range_count);
  opt.debug_tile_counts = p.debug_tile_counts;

  const HopperPagedProducer producer{&hp, seq, kv_head, static_cast<int>(row0), rows.rows_valid, kv_len};
  hopper_attend(shared, HopperPagedOneTile{{rows, kv_len, producer, opt}}, p.variant);
}
