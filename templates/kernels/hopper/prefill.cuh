// Prefill kind on the Hopper main loop: Q, K and V in memory, batch or ragged
// (cu_seqlens), read through tensor maps. A work tile is (query tile, query head,
// sequence), as in templates/kernels/prefill.cuh; the main loop is hopper/mainloop.cuh's.
// One block per work tile, or (kPersistent) one block per resident slot looping over
// the work tiles in hopper/tile_order.h's order, which the blocks take from a counter
// in turn.

namespace attnjit {

// kBlockM consecutive query rows of one head: where their outputs and LSEs go and their
// positions (the copies read Q itself through the tensor map). Rows [rows_first,
// rows_valid) belong to the sequence; the others are computed on whatever the copy
// brought (zeros outside the tensor, or a neighbouring ragged sequence's rows) and
// never written.
struct HopperPrefillRows {
  const AttnjitPrefillParams& p;
  int seq, head;
  int row0;  // the block's first row within the sequence's tensor rows (negative for a first partial tile)
  int rows_first, rows_valid;
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
  __device__ __forceinline__ bool holds(int r) const { return r >= rows_first && r < rows_valid; }
};

// One work tile as the main loop takes it; one elected thread issues its copies.
struct HopperPrefillWork {
  static constexpr int kProducerArrivals = 1;
  HopperPrefillRows rows;
  int kv_len;
  HopperCopies copies;
  HopperOptions opt;
  __device__ __forceinline__ void produce(const HopperShared& sh, HopperProgress& progress) const {
    attnjit::produce(sh, copies, opt.tiles, progress);
  }
};

// Sequence `seq`'s query and key lengths and first tensor rows.
struct HopperPrefillSequence {
  int q_len, kv_len, q_start, k_start;
};
__device__ __forceinline__ HopperPrefillSequence prefill_sequence(const AttnjitPrefillParams& p, int seq) {
  if (p.cu_seqlens_q == nullptr) return {p.seqlen_q, p.seqlen_k, 0, 0};
  const int q_start = p.cu_seqlens_q[seq], k_start = p.cu_seqlens_k[seq];
  return {p.cu_seqlens_q[seq + 1] - q_start, p.cu_seqlens_k[seq + 1] - k_start, q_start, k_start};
}

// The work tile of query tile `m_block` of (`seq`, `head`), which must hold a row. Its
// rows are hopper::query_tile_rows()'s: a partial tile is the sequence's first. (At
// seqlen 1024 on 192-row tiles a causal sequence visits 27 KV tiles, not the 32 of a
// partial last tile.)
__device__ __forceinline__ HopperPrefillWork prefill_work(const AttnjitHopperPrefillParams& hp, int seq, int head,
                                                          int m_block) {
  const AttnjitPrefillParams& p = hp.base;
  const HopperPrefillSequence sq = prefill_sequence(p, seq);
  const bool ragged = p.cu_seqlens_q != nullptr;
  const hopper::QueryTileRows tile_rows = hopper::query_tile_rows(sq.q_len, kBlockM, m_block);
  const int m0 = tile_rows.first_row;
  const int rows_first = tile_rows.rows_first;
  const int rows_valid = kBlockM;
  const int q_pos_shift = m0 + sq.kv_len - sq.q_len;  // queries sit at the end of the sequence
  const int q_pos_first = q_pos_shift + rows_first, q_pos_last = q_pos_shift + rows_valid - 1;
  HopperOptions opt;
  opt.softmax_scale = p.softmax_scale;
  opt.softmax_scale_log2 = p.softmax_scale_log2;
  opt.out_multiplier = 1.f;
  opt.ranges = kHasRanges ? p.variant.ranges + seq * p.variant.max_ranges * 2 : nullptr;
  opt.range_count = kHasRanges ? p.variant.max_ranges : 0;
  opt.seq = seq;
  opt.tiles = visible_kv_tiles(q_pos_first, q_pos_last, sq.kv_len, opt.ranges, opt.range_count);
  opt.debug_tile_counts = p.debug_tile_counts;
  // Tensor coordinates: ragged tensors are one "sequence" of all tokens.
  return {HopperPrefillRows{p, seq, head, sq.q_start + m0, rows_first, rows_valid, q_pos_shift, q_pos_first,
                            q_pos_last, sq.q_len},
          sq.kv_len,
          HopperCopies{&hp.q_map, &hp.k_map, &hp.v_map, sq.q_start + m0, head, ragged ? 0 : seq, sq.k_start,
                       head / kGroupSize, ragged ? 0 : seq},
          opt};
}

// The schedule of a block of the one-tile-per-block grid: the tile it was launched for.
struct HopperPrefillOneTile {
  using Work = HopperPrefillWork;
  const AttnjitHopperPrefillParams& hp;
  int seq, head, m_block;
  template <typename Fn>
  __device__ __forceinline__ void produce_each(const HopperTileFeed&, Fn fn) const {
    fn(prefill_work(hp, seq, head, m_block));
  }
  template <typename Fn>
  __device__ __forceinline__ void consume_each(const HopperTileFeed&, Fn fn) const {
    fn(prefill_work(hp, seq, head, m_block));
  }
};

// The schedule of a block of the persistent grid: its first index of the tile order is
// blockIdx.x, each later one the next the grid's counter gives out past the first
// gridDim.x (hp.tile_counters[0]), so a block that drew short tiles takes more of them
// (the order puts long tiles first). The producer takes the indices, skips empty slots
// and passes the rest to the consumers through `feed`; it asks for its next index before
// issuing the current tile's copies, so the atomic's latency hides under them.
struct HopperPrefillTileLoop {
  using Work = HopperPrefillWork;
  const AttnjitHopperPrefillParams& hp;

  __device__ __forceinline__ hopper::TileOrderProblem order() const {
    const AttnjitPrefillParams& p = hp.base;
    return {p.cu_seqlens_q, p.cu_seqlens_k, p.batch, p.seqlen_q, p.seqlen_k, kQHeads, kGroupSize, kBlockM,
            2LL * kHeadDim * 2};
  }
  template <typename Fn>
  __device__ __forceinline__ void produce_each(const HopperTileFeed& feed, Fn fn) const {
    const hopper::TileOrderProblem o = order();
    const long long count = hopper::work_tile_count(o);
    hopper::TileOrderCursor cursor;
    auto next = [&] { return atomicAdd(hp.tile_counters, 1) + static_cast<long long>(gridDim.x); };
    long long index = blockIdx.x;
    for (int k = 0;; ++k) {
      hopper::WorkTile tile{};
      while (index < count && (tile = hopper::work_tile_at(o, index, cursor)).m_block < 0) index = next();
      feed.publish(k, index < count ? index : -1);
      if (index >= count) return;
      const long long following = next();
      fn(prefill_work(hp, tile.seq, tile.head, tile.m_block));
      index = following;
    }
  }
  template <typename Fn>
  __device__ __forceinline__ void consume_each(const HopperTileFeed& feed, Fn fn) const {
    const hopper::TileOrderProblem o = order();
    hopper::TileOrderCursor cursor;
    for (int k = 0;; ++k) {
      const long long index = feed.take(k);
      if (index < 0) return;
      const hopper::WorkTile tile = hopper::work_tile_at(o, index, cursor);
      fn(prefill_work(hp, tile.seq, tile.head, tile.m_block));
    }
  }
};

// After a persistent grid's blocks are all done, the last one zeroes the counter for
// the next launch (hp.tile_counters[1] counts the finished blocks). Every block's last
// draw from the counter has returned before it counts itself finished.
__device__ __forceinline__ void reset_tile_counter(const AttnjitHopperPrefillParams& hp) {
  block_barrier();
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(hp.tile_counters + 1, 1) == static_cast<int>(gridDim.x) - 1) {
      atomicExch(hp.tile_counters, 0);
      atomicExch(hp.tile_counters + 1, 0);
    }
  }
}

}  // namespace attnjit

extern "C" __global__ void ATTNJIT_LAUNCH_BOUNDS
    ATTNJIT_ENTRY(const __grid_constant__ AttnjitHopperPrefillParams hp) {
  using namespace attnjit;
  extern __shared__ __align__(1024) unsigned char shared[];
  if constexpr (kPersistent) {
    hopper_attend(shared, HopperPrefillTileLoop{hp}, hp.base.variant);
    reset_tile_counter(hp);
  } else {
    // Later query tiles do more work under a causal mask: they are launched first.
    const int m_block = gridDim.x - 1 - blockIdx.x;
    const int head = blockIdx.y;
    const int seq = blockIdx.z;
    if (m_block * kBlockM >= prefill_sequence(hp.base, seq).q_len) return;  // the whole block, before any barrier
    hopper_attend(shared, HopperPrefillOneTile{hp, seq, head, m_block}, hp.base.variant);
  }
}
