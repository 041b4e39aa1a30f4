// The Hopper main loop (sm_90a): warpgroup MMAs (wgmma) fed by tensor-memory copies
// (TMA) through a ring of shared-memory stages, with warp specialization. One thread
// block of three or four warpgroups handles work tiles of kBlockM = 128 or 192 query
// rows of one head:
//   - warpgroup 0, the producer: gives most of its registers away (setmaxnreg) and one
//     elected thread of its first warp issues every copy: each work tile's Q, and K and
//     V of each visited KV tile into stage (tile % kStages), each completing a "full"
//     mbarrier with its byte count, after the consumers have released the stage on its
//     "empty" mbarrier;
//   - warpgroups 1 to kBlockM / 64, the consumers: take the registers, and each owns 64
//     query rows of the tile. Per KV tile its own rows see: S = Q K^T (wgmma, both
//     operands in shared memory), K's stage released, the variant's hooks on S
//     (templates/common/: score transform, key mask unless the tile is full), the
//     online-softmax update, P packed to 16 bits in registers, O += P V (wgmma, P from
//     registers), V's stage released. The block's other KV tiles (past a causal
//     diagonal or before a window for these 64 rows, all of them for rows outside
//     the sequence) it passes: it releases their stages and takes their ping-pong turns
//     without MMAs. Then the epilogue writes the rows.
// Tiles are stored as the copies leave them: 64-column blocks of 128-byte swizzled rows
// (templates/cuda/hopper_layout.h, which also states the descriptors and fragments).
//
// The schedule is the tile config's (compiler/spec/hopper_geometry.h), one constant each:
//   - kSoftmaxOverlap: a consumer issues S of tile n + 1 and O += P V of tile n together,
//     then runs the hooks and softmax of tile n + 1 while both MMAs run;
//   - kPingpong: the consumers take turns issuing their MMAs (named barriers, in a
//     cycle), so one's softmax runs while the others' MMAs hold the tensor cores;
//   - kPersistent: the grid has one block per resident slot and each block loops over
//     work tiles (the entry's schedule, whose producer takes them one by one from a
//     counter shared by the grid and passes each to the consumers through shared
//     memory: HopperTileFeed); the ring's and the Q barriers' phases carry on from tile
//     to tile. Work tile w's Q goes to Q buffer w % kQBuffers (two where they
//     fit, so the next tile's Q is copied while this one's last KV tiles run), released
//     on the buffer's own "empty" barrier once every consumer's epilogue (which stages
//     rows in its space) is done.
//
// Codegen defines before this file what it defines for the mma.sync main loop
// (templates/kernels/attention_core.cuh's header lists it), with kWarps = 12 or 16, the
// launch geometry of compiler/spec/hopper_geometry.cpp, which HopperGeometry below must
// equal, and the schedule's constants.

namespace attnjit {

struct HopperGeometry {
  static constexpr int kConsumerGroups = kBlockM / hopper::kWarpgroupRows;
  static constexpr int kGroupThreads = hopper::kWarpgroupThreads;
  static constexpr int kConsumerThreads = kConsumerGroups * kGroupThreads;
  static constexpr int kThreads = kGroupThreads * (1 + kConsumerGroups);
  static constexpr int kColumnBlocks = kHeadDim / hopper::kBlockColumns;
  static constexpr int kQBytes = kBlockM * kHeadDim * 2;
  static constexpr int kKvTileBytes = kBlockN * kHeadDim * 2;
  // From a 1024-byte aligned base (the swizzle atoms must start on such a boundary):
  // kQBuffers Q tiles, kStages K tiles, kStages V tiles, then the mbarriers.
  static constexpr int kKOffset = kQBuffers * kQBytes;
  static constexpr int kVOffset = kKOffset + kStages * kKvTileBytes;
  static constexpr int kBarrierOffset = kVOffset + kStages * kKvTileBytes;
  // When a block loops over work tiles, the feed's slots of work-tile indices.
  static constexpr int kFeedSlotsWhenLooping = 2;
  static constexpr int kFeedSlots = kPersistent ? kFeedSlotsWhenLooping : 0;
  // q_full per Q buffer, then per stage k_full, v_full, k_empty, v_empty, then when a
  // block loops over work tiles q_empty per Q buffer and full and empty per feed slot;
  // then the feed's slots (8 bytes each).
  static constexpr int kBarriers = kQBuffers + 4 * kStages + (kPersistent ? kQBuffers : 0) + 2 * kFeedSlots;
  static constexpr int kFeedOffset = kBarrierOffset + 8 * kBarriers;
  // Dynamic shared memory is only guaranteed 16-byte alignment: the base is rounded up.
  static constexpr int kAlignmentSlack = hopper::kSwizzleAtomBytes;
  static constexpr int kSharedBytes = kFeedOffset + 8 * kFeedSlots + kAlignmentSlack;
  // Registers per thread after setmaxnreg: the producer needs few; the consumers hold
  // S, P and O (24 * 128 + 240 * 256 and 24 * 128 + 160 * 384 <= 65536, the register
  // file; compiler/spec/hopper_geometry.cpp's tile rule counts on the same).
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = kConsumerGroups == 2 ? 240 : 160;
  static constexpr int kScoreValues = kBlockN / 2;   // S accumulators per thread
  static constexpr int kOutputValues = kHeadDim / 2;  // O accumulators per thread
  // Named barriers (0 is the block's): a consumer's output staging uses
  // kStagingBarrier + group, its ping-pong turn kTurnBarrier + group.
  static constexpr int kStagingBarrier = 1;
  static constexpr int kTurnBarrier = kStagingBarrier + kConsumerGroups;
};

static_assert(HopperGeometry::kThreads == kLaunchThreads,
              "the host's threads per block differ from this kernel's");
static_assert(HopperGeometry::kSharedBytes == kLaunchSharedBytes,
              "the host's dynamic shared memory differs from this kernel's layout");
static_assert(kWarps * 32 == HopperGeometry::kThreads, "the producer and the consumer warpgroups");
static_assert(HopperGeometry::kConsumerGroups == 2 || HopperGeometry::kConsumerGroups == 3,
              "two or three consumer warpgroups");
static_assert(kRowTiles == 1, "each warp holds 16 rows of its warpgroup's 64");
static_assert(kBlockM == HopperGeometry::kConsumerGroups * hopper::kWarpgroupRows,
              "each consumer warpgroup owns 64 query rows");
static_assert(kHeadDim % hopper::kBlockColumns == 0, "the head dim is whole 64-column blocks");
static_assert(kQBuffers == 1 || (kQBuffers == 2 && kPersistent), "a second Q buffer serves a block's next work tile");
static_assert(kBlockN % 16 == 0 && kStages >= 2, "whole k-steps of P V, a ring of two or more stages");
static_assert(kQHeads % kGroupSize == 0, "whole groups of query heads per KV head");
static_assert(!InputDecoder::kConverts && !KvDecoder::kConverts && !kPerTokenHeadScales,
              "the Hopper main loop reads 16-bit Q, K and V as they are stored");

// What the entry point tells the main loop about a work tile besides its rows (the
// mma.sync loop's AttendOptions, less what only its split kinds use).
struct HopperOptions {
  float softmax_scale;       // applied to q.k
  float softmax_scale_log2;  // softmax_scale * log2(e)
  float out_multiplier;      // applied to the normalized output
  const int* ranges;         // this sequence's bidirectional ranges (kHasRanges)
  int range_count;
  int seq;
  KvTiles tiles;             // the visible tiles
  int* debug_tile_counts;    // tests: [0] += tiles visited, [1] += of them full for consumer 0
};

// The hooks' state of one query row, made once per work tile.
template <typename Transform>
struct HopperRowHooks {
  AttnjitBoundInputs bound;
  typename Transform::Row transform;
  RangeKeys ranged{0, 0};  // keys_sharing_a_range() of the row (kHasRanges)
};

// Where a work tile's copies read: the tensor maps and the tensor coordinates of its rows.
struct HopperCopies {
  const AttnjitTensorMap* q_map;
  const AttnjitTensorMap* k_map;
  const AttnjitTensorMap* v_map;
  int q_row, q_head, q_seq;     // the Q tile's first row (tensor rows), head, sequence coordinate
  int kv_row, kv_head, kv_seq;  // key 0's row, the KV head, sequence coordinate
};

// Shared-memory addresses of the layout (`data` is `base` as a generic pointer).
struct HopperShared {
  unsigned char* data;
  u32 base;
  __device__ __forceinline__ u32 q(int buffer) const { return base + buffer * HopperGeometry::kQBytes; }
  __device__ __forceinline__ unsigned char* q_data(int buffer) const { return data + buffer * HopperGeometry::kQBytes; }
  __device__ __forceinline__ u32 k(int stage) const {
    return base + HopperGeometry::kKOffset + stage * HopperGeometry::kKvTileBytes;
  }
  __device__ __forceinline__ u32 v(int stage) const {
    return base + HopperGeometry::kVOffset + stage * HopperGeometry::kKvTileBytes;
  }
  __device__ __forceinline__ u32 barrier(int i) const { return base + HopperGeometry::kBarrierOffset + 8 * i; }
  __device__ __forceinline__ u32 q_full(int buffer) const { return barrier(buffer); }
  __device__ __forceinline__ u32 k_full(int stage) const { return barrier(kQBuffers + 4 * stage); }
  __device__ __forceinline__ u32 v_full(int stage) const { return barrier(kQBuffers + 1 + 4 * stage); }
  __device__ __forceinline__ u32 k_empty(int stage) const { return barrier(kQBuffers + 2 + 4 * stage); }
  __device__ __forceinline__ u32 v_empty(int stage) const { return barrier(kQBuffers + 3 + 4 * stage); }
  __device__ __forceinline__ u32 q_empty(int buffer) const {  // kPersistent
    return barrier(kQBuffers + 4 * kStages + buffer);
  }
  __device__ __forceinline__ u32 feed_full(int slot) const {  // kPersistent
    return barrier(kQBuffers + 4 * kStages + kQBuffers + slot);
  }
  __device__ __forceinline__ u32 feed_empty(int slot) const {  // kPersistent
    return barrier(kQBuffers + 4 * kStages + kQBuffers + HopperGeometry::kFeedSlots + slot);
  }
  __device__ __forceinline__ volatile long long* feed_slot(int slot) const {  // kPersistent
    return reinterpret_cast<volatile long long*>(data + HopperGeometry::kFeedOffset) + slot;
  }
};

// Where a role is in the block's sequence of work: the producer and each consumer keep
// their own copy and advance it identically, so the barriers' phases agree.
struct HopperProgress {
  int kv_tiles = 0;  // KV tiles that went through the ring before this work tile
  int work = 0;      // work tiles before this one
  // The ring position of the current work tile's `i`-th visited KV tile.
  __device__ __forceinline__ int ring(int i) const { return kv_tiles + i; }
  // The Q buffer of the current work tile, and the parity of the phase its barriers
  // complete for it.
  __device__ __forceinline__ int q_buffer() const { return work % kQBuffers; }
  __device__ __forceinline__ u32 q_parity() const { return static_cast<u32>((work / kQBuffers) & 1); }
  __device__ __forceinline__ void finish(KvTiles tiles) { kv_tiles += tiles.end - tiles.begin, ++work; }
};

// The stage of ring position `it`, and the parity of the phase its barriers complete.
__device__ __forceinline__ int ring_stage(int it) { return it % kStages; }
__device__ __forceinline__ u32 ring_parity(int it) { return static_cast<u32>((it / kStages) & 1); }

// How a persistent block's producer hands the consumers the work tiles it takes: the
// k-th index goes through slot k % 2 of shared memory, written by the producer's elected
// thread once every consumer thread has read the slot's previous index (its "empty"
// barrier), published on its "full" barrier (whose arrival releases the write). An
// index < 0 ends the block's work.
struct HopperTileFeed {
  const HopperShared& sh;
  static constexpr int kSlots = HopperGeometry::kFeedSlotsWhenLooping;
  __device__ __forceinline__ void publish(int k, long long index) const {
    const int slot = k % kSlots;
    if (k >= kSlots) mbarrier_wait(sh.feed_empty(slot), static_cast<u32>(((k / kSlots) & 1) ^ 1));
    *sh.feed_slot(slot) = index;
    mbarrier_arrive(sh.feed_full(slot));
  }
  __device__ __forceinline__ long long take(int k) const {
    const int slot = k % kSlots;
    mbarrier_wait(sh.feed_full(slot), static_cast<u32>((k / kSlots) & 1));
    const long long index = *sh.feed_slot(slot);
    mbarrier_arrive(sh.feed_empty(slot));
    return index;
  }
};

// One tile of rows [row, row + rows) of every column block, into `dst`.
template <int kRows>
__device__ __forceinline__ void copy_tile(u32 dst, const AttnjitTensorMap* map, u32 bar, int row, int head,
                                          int seq) {
#pragma unroll
  for (int block = 0; block < HopperGeometry::kColumnBlocks; ++block)
    tma_load_4d(dst + block * hopper::column_block_bytes(kRows), map, bar, block * hopper::kBlockColumns, row,
                head, seq);
}

// The producer's elected thread, for one work tile: Q, then K and V of tiles
// [tiles.begin, tiles.end).
__device__ __forceinline__ void produce(const HopperShared& sh, const HopperCopies& c, KvTiles tiles,
                                        HopperProgress& progress) {
  using G = HopperGeometry;
  if (progress.work == 0) {
    tma_prefetch_map(c.q_map);
    tma_prefetch_map(c.k_map);
    tma_prefetch_map(c.v_map);
  }
  const int q_buffer = progress.q_buffer();
  auto load_q = [&] {
    // A later work tile's Q waits for every consumer's epilogue of the buffer's
    // previous tile (the phase before this tile's).
    if (kPersistent && progress.work >= kQBuffers) mbarrier_wait(sh.q_empty(q_buffer), progress.q_parity() ^ 1u);
    mbarrier_arrive_expect_tx(sh.q_full(q_buffer), G::kQBytes);
    copy_tile<kBlockM>(sh.q(q_buffer), c.q_map, sh.q_full(q_buffer), c.q_row, c.q_head, c.q_seq);
  };
  // Q comes first when its buffer is free by now: the first tiles', or any with two
  // buffers (its buffer's last tile ended before the one the consumers are on). With
  // one buffer a later tile's Q waits for the previous epilogue: after its first K,
  // which does not.
  bool q_loaded = progress.work < kQBuffers || kQBuffers > 1;
  if (q_loaded) load_q();
  for (int n = tiles.begin; n < tiles.end; ++n) {
    const int it = progress.ring(n - tiles.begin), stage = ring_stage(it);
    const int row = c.kv_row + n * kBlockN;
    // A stage is free once every consumer warpgroup released its previous tile.
    if (it >= kStages) mbarrier_wait(sh.k_empty(stage), ring_parity(it - kStages));
    mbarrier_arrive_expect_tx(sh.k_full(stage), G::kKvTileBytes);
    copy_tile<kBlockN>(sh.k(stage), c.k_map, sh.k_full(stage), row, c.kv_head, c.kv_seq);
    if (!q_loaded) {
      load_q();
      q_loaded = true;
    }
    if (it >= kStages) mbarrier_wait(sh.v_empty(stage), ring_parity(it - kStages));
    mbarrier_arrive_expect_tx(sh.v_full(stage), G::kKvTileBytes);
    copy_tile<kBlockN>(sh.v(stage), c.v_map, sh.v_full(stage), row, c.kv_head, c.kv_seq);
  }
  if (!q_loaded) load_q();
  progress.finish(tiles);
}

// Ping-pong (kPingpong): a consumer waits for its turn before issuing MMAs and passes
// the turn to the next consumer (in a cycle) after issuing them, so they take the
// tensor cores in turn. Consumer 0 is given the first turn. Every consumer takes the
// same number of turns (a passed KV tile takes as many as a computed one), so the turns
// stay in step across work tiles; the last pass of the kernel is left unanswered, which
// is harmless at exit.
struct HopperTurns {
  int group;
  static constexpr int kThreads = 2 * HopperGeometry::kGroupThreads;  // the waiting group and the passing one
  __device__ __forceinline__ void start() const {
    if (kPingpong && group == 0) named_barrier_arrive(HopperGeometry::kTurnBarrier, kThreads);
  }
  __device__ __forceinline__ void wait() const {
    if (kPingpong) named_barrier_sync(HopperGeometry::kTurnBarrier + group, kThreads);
  }
  __device__ __forceinline__ void pass() const {
    if (kPingpong) named_barrier_arrive(HopperGeometry::kTurnBarrier + next(), kThreads);
  }
  // The consumer after this one in the cycle (two consumers spell it 1 - group: no
  // modulo, the instructions the two-consumer kernels were measured with).
  __device__ __forceinline__ int next() const {
    return HopperGeometry::kConsumerGroups == 2 ? 1 - group : (group + 1) % HopperGeometry::kConsumerGroups;
  }
};

// Row half r (value i's row is half (i / 2) % 2: rows lane / 4 and lane / 4 + 8 of the
// warp's 16) of the output accumulators, as the epilogues take a row: each pair of
// adjacent head dims this thread holds.
struct HopperOutputPairs {
  const float (&o)[HopperGeometry::kOutputValues];
  int r;
  template <typename Fn>
  __device__ __forceinline__ void operator()(Fn fn) const {
    const int lane = threadIdx.x % 32;
#pragma unroll
    for (int j = 0; j < HopperGeometry::kOutputValues / 4; ++j)
      fn(8 * j + 2 * (lane % 4), o[4 * j + 2 * r], o[4 * j + 2 * r + 1]);
  }
};

// 16-bit output rows of consumer warpgroup `group`, staged through its own 64 rows of the
// work tile's Q tile at `q_tile` (no longer read once its last S = Q K^T has completed)
// in the copies' swizzled layout, so the 4-byte stores of a warp's 8 rows fall in
// different banks; then copied to the output in 16-byte pieces.
template <typename Rows>
__device__ __forceinline__ void stage_and_write_rows(unsigned char* q_tile, const Rows& rows,
                                                     const float (&o)[HopperGeometry::kOutputValues],
                                                     const RowNormalization (&norm)[2], int group) {
  using G = HopperGeometry;
  const int thread = threadIdx.x % G::kGroupThreads;
  const int group_row0 = group * hopper::kWarpgroupRows;
  // Column block b of the warpgroup's rows starts 1024-byte aligned, as swizzle128() needs.
  auto staged = [&](int block) {
    return q_tile + block * hopper::column_block_bytes(kBlockM) + group_row0 * hopper::kSwizzleRowBytes;
  };
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int local_row = hopper::accumulator_row(thread, 2 * r);
    HopperOutputPairs{o, r}([&](int dim, float a, float b) {
      const unsigned offset = hopper::swizzle128(local_row * hopper::kSwizzleRowBytes + (dim % hopper::kBlockColumns) * 2);
      *reinterpret_cast<u32*>(staged(dim / hopper::kBlockColumns) + offset) =
          OutElem::pack2(a * norm[r].out_scale, b * norm[r].out_scale);
    });
  }
  named_barrier_sync(G::kStagingBarrier + group, G::kGroupThreads);  // the warpgroup's rows are staged
  constexpr int kChunksPerRow = kHeadDim / 8;        // 16-byte pieces of a row
  constexpr int kChunksPerBlockRow = hopper::kBlockColumns / 8;
#pragma unroll
  for (int chunk = thread; chunk < hopper::kWarpgroupRows * kChunksPerRow; chunk += G::kGroupThreads) {
    const int local_row = chunk / kChunksPerRow, column = chunk % kChunksPerRow;
    const int row = group_row0 + local_row;
    const unsigned offset = hopper::swizzle128(local_row * hopper::kSwizzleRowBytes +
                                               (column % kChunksPerBlockRow) * hopper::kChunkBytes);
    if (rows.holds(row)) store16(rows.out_row(row) + column * 8, staged(column / kChunksPerBlockRow) + offset);
  }
}

// The tiles of the block's `block` that a warpgroup's rows, at positions [q_pos_first,
// q_pos_last], see: none when `rows_valid` is false (they all lie outside the sequence).
// The bounds are the warpgroup's, broadcast from lane 0 so that ptxas knows the ring
// positions they lead to are the same across the warp.
__device__ __forceinline__ KvTiles own_kv_tiles(KvTiles block, bool rows_valid, int q_pos_first, int q_pos_last,
                                                int kv_len, const HopperOptions& opt) {
  const KvTiles seen = visible_kv_tiles(q_pos_first, q_pos_last, kv_len, opt.ranges, opt.range_count);
  const int begin = min(max(seen.begin, block.begin), block.end);
  const int end = rows_valid ? max(begin, min(seen.end, block.end)) : begin;
  return {warp_uniform(begin), warp_uniform(end), seen.widened_by_range};
}

// One consumer warpgroup (`group` 0 to kConsumerGroups - 1): its 64 query rows of one
// work tile over the tile's KV tiles, then its epilogue.
template <typename Rows>
__device__ __forceinline__ void consume(const HopperShared& sh, const Rows& rows, int kv_len,
                                        const AttnjitVariantArgs& args, const HopperOptions& opt, int group,
                                        HopperProgress& progress, const HopperTurns& turns) {
  using G = HopperGeometry;
  const int thread = threadIdx.x % G::kGroupThreads;  // within the warpgroup
  const int lane = thread % 32;
  const int group_row0 = group * hopper::kWarpgroupRows;
  // The block rows this thread holds: row half r is block row my_row(r).
  auto my_row = [&](int r) { return group_row0 + hopper::accumulator_row(thread, 2 * r); };

  // The warpgroup's own rows decide which of the block's tiles it computes and which
  // of those are full for it.
  // Its rows of the sequence: [first_row, end_row) (none when first_row >= end_row).
  const int first_row = max(group_row0, rows.rows_first);
  const int end_row = min(group_row0 + hopper::kWarpgroupRows, rows.rows_valid);
  const int last_row = max(first_row, end_row - 1);
  const int q_pos_first = rows.q_pos(first_row), q_pos_last = rows.q_pos(last_row);
  const KvTiles tiles = opt.tiles;  // the block's: the ring's positions count these
  const KvTiles own = own_kv_tiles(tiles, first_row < end_row, q_pos_first, q_pos_last, kv_len, opt);

  using Transform = ScoreTransform<false>;  // key biases are added per score, not folded into S
  // Rows keep their max while it holds (rescale_lazily) where skipping O's rescale pays:
  // 64 or more output values a thread (measured: d256 -3%, d128 -1 to -2%; d64 +5%, and
  // ALiBi, whose max moves every tile, +4%).
  constexpr bool kLazyRescale = kHeadDim >= 128 && Transform::kRowMaxSettles;
  HopperRowHooks<Transform> hooks[2];
  SoftmaxRow softmax[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    softmax[r] = SoftmaxRow::start();
    const int q_head = rows.q_head(my_row(r));
    VariantHooks::bind(hooks[r].bound, args, q_head, q_head / kGroupSize, opt.seq);
    if constexpr (kHasRanges)
      hooks[r].ranged = keys_sharing_a_range(opt.ranges, opt.range_count, rows.q_pos(my_row(r)));
  }
  const Transform xf(args, hooks[0].bound, opt.softmax_scale, opt.softmax_scale_log2,
                     static_cast<float>(rows.q_pos_first));
#pragma unroll
  for (int r = 0; r < 2; ++r) hooks[r].transform = xf.row(args, hooks[r].bound);

  float o[G::kOutputValues];
#pragma unroll
  for (int i = 0; i < G::kOutputValues; ++i) o[i] = 0.f;

  int full_tiles = 0;
  const u32 q_tile = sh.q(progress.q_buffer());

  // The steps of a KV tile. The MMAs are issued asynchronously (each batch committed
  // as one group); the caller waits for them and fences their registers.
  // S = Q K^T of the tile in `stage`.
  auto issue_scores = [&](float (&s)[G::kScoreValues], int stage) {
#pragma unroll
    for (int step = 0; step < kHeadDim / 16; ++step)
      Wgmma<kBlockN>::template ss<Elem, 0, 0>(
          s, hopper::kmajor_sw128_descriptor(hopper::kmajor_step_address(q_tile, kBlockM, group_row0, step)),
          hopper::kmajor_sw128_descriptor(hopper::kmajor_step_address(sh.k(stage), kBlockN, 0, step)),
          step > 0 ? 1u : 0u);
    wgmma_commit();
  };
  // O += P V of the tile in `stage`.
  auto issue_pv = [&](const u32 (&p)[kBlockN / 16][4], int stage) {
#pragma unroll
    for (int step = 0; step < kBlockN / 16; ++step)
      Wgmma<kHeadDim>::template rs<Elem, 1>(
          o, p[step],
          hopper::mnmajor_sw128_descriptor(hopper::mnmajor_step_address(sh.v(stage), step),
                                           hopper::column_block_bytes(kBlockN)),
          1u);
    wgmma_commit();
  };
  // Registers written by ordinary instructions before the MMAs read them (or an MMA
  // writes them) are fenced on both sides of the wgmma fence.
  auto fence_pv_operands = [&](u32 (&p)[kBlockN / 16][4]) {
    fence_operands(o);
#pragma unroll
    for (int step = 0; step < kBlockN / 16; ++step) fence_operands(p[step]);
  };
  // hooks(S) of KV tile n: the score transform, then the mask unless every key is
  // visible to every row of the warpgroup; then the online softmax of both rows this
  // thread holds: S becomes P (f32), and alpha[r] is what O's row half r must be
  // multiplied by before this tile's P V is added. A transform that spends a MUFU
  // instruction per score has one exponential in four computed on the FMA pipe
  // (fma_exp2): two MUFU operations per score would otherwise outlast the other
  // warpgroup's MMAs (one in two and one in eight measured slower).
  auto softmax_tile = [&](float (&s)[G::kScoreValues], int n, float (&alpha)[2]) {
    constexpr bool kFmaExp2 = Transform::kSpecialFunctionPerScore;
    constexpr int kFmaExp2Pairs = 2;  // the second of each two pairs: one exponential in four
    const int kv_first = n * kBlockN;
    const float kv_first_f = static_cast<float>(kv_first + 2 * (lane % 4));  // this thread's first key
    auto position = [&](int i) {
      Position at;
      at.q_pos = rows.q_pos(my_row((i / 2) % 2));
      at.kv_pos = kv_first + hopper::accumulator_col(thread, i);
      at.q_pos_f = static_cast<float>(at.q_pos);
      at.kv_pos_f = kv_first_f + static_cast<float>(8 * (i / 4) + i % 2);
      at.q_head = rows.q_head(my_row((i / 2) % 2));
      at.kv_head = at.q_head / kGroupSize;
      at.seq = opt.seq;
      at.q_len = rows.q_len;
      at.kv_len = kv_len;
      return at;
    };
    typename Transform::TileRow tile_row[2];
#pragma unroll
    for (int r = 0; r < 2; ++r)
      tile_row[r] = xf.tile_row(hooks[r].transform, kv_first_f, static_cast<float>(rows.q_pos(my_row(r))));
#pragma unroll
    for (int i = 0; i < G::kScoreValues; ++i) {
      const int r = (i / 2) % 2;
      s[i] = xf.apply(s[i], hooks[r].transform, tile_row[r], static_cast<float>(8 * (i / 4) + i % 2), args,
                      hooks[r].bound, [&] { return position(i); });
    }
    const bool full_tile =
        tile_is_full<kBlockN>(kv_first, kv_len, q_pos_first, q_pos_last, own.widened_by_range);
    full_tiles += full_tile;
    if (!full_tile) {
#pragma unroll
      for (int i = 0; i < G::kScoreValues; ++i)
        mask_score(s[i], position(i), args, hooks[(i / 2) % 2].bound, own.widened_by_range,
                   hooks[(i / 2) % 2].ranged);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = softmax[r].max;
#pragma unroll
      for (int i = 2 * r; i < G::kScoreValues; i += 4) tile_max = fmaxf(tile_max, fmaxf(s[i], s[i + 1]));
      const float row_max = quad_max(tile_max);
      const SoftmaxRow::Step step = kLazyRescale ? softmax[r].rescale_lazily(row_max, xf.exp2_scale)
                                                 : softmax[r].rescale(row_max, xf.exp2_scale, 0);
      alpha[r] = step.alpha;
#pragma unroll
      for (int i = 2 * r; i < G::kScoreValues; i += 4) {
        s[i] = softmax[r].prob(s[i], xf.exp2_scale, step);
        if (kFmaExp2 && (i / 4) % kFmaExp2Pairs == kFmaExp2Pairs - 1)
          s[i + 1] = softmax[r].prob(s[i + 1], xf.exp2_scale, step, [](float x) { return fma_exp2(x); });
        else
          s[i + 1] = softmax[r].prob(s[i + 1], xf.exp2_scale, step);
      }
    }
  };
  // Skipped by a warp whose rows all kept their max (alpha 1: rescale_lazily).
  auto rescale_output = [&](const float (&alpha)[2]) {
    if (kLazyRescale && !warp_any(alpha[0] != 1.f || alpha[1] != 1.f)) return;
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int i = 2 * r; i < G::kOutputValues; i += 4) o[i] *= alpha[r], o[i + 1] *= alpha[r];
  };
  // P as the A operand of each 16-key step (rounded to the input type, as the mma.sync
  // loop does).
  auto pack_probabilities = [&](u32 (&p)[kBlockN / 16][4], const float (&s)[G::kScoreValues]) {
#pragma unroll
    for (int step = 0; step < kBlockN / 16; ++step)
#pragma unroll
      for (int j = 0; j < 4; ++j)
        p[step][j] = Elem::pack2(s[hopper::accumulator_of_a_element(step, 2 * j)],
                                 s[hopper::accumulator_of_a_element(step, 2 * j + 1)]);
  };

  // S = Q K^T of the tile at ring position `it` alone, waited for; K's stage released.
  auto scores_alone = [&](float (&s)[G::kScoreValues], int it) {
    const int stage = ring_stage(it);
    mbarrier_wait(sh.k_full(stage), ring_parity(it));
    turns.wait();
    wgmma_fence();
    issue_scores(s, stage);
    turns.pass();
    wgmma_wait<0>();
    fence_operands(s);
    mbarrier_arrive(sh.k_empty(stage));
  };

  // A block tile these rows do not see: its stages are released once its copies have
  // landed (an earlier arrival would count toward the stage's previous phase), and its
  // turns are taken without MMAs: as many as a computed tile takes.
  auto pass_tile = [&](int n) {
    const int it = progress.ring(n - tiles.begin), stage = ring_stage(it);
    const u32 parity = ring_parity(it);
    mbarrier_wait(sh.k_full(stage), parity);
    mbarrier_arrive(sh.k_empty(stage));
    mbarrier_wait(sh.v_full(stage), parity);
    mbarrier_arrive(sh.v_empty(stage));
    constexpr int kTurnsPerTile = kSoftmaxOverlap ? 1 : 2;
#pragma unroll
    for (int t = 0; t < kTurnsPerTile; ++t) turns.wait(), turns.pass();
  };

  mbarrier_wait(sh.q_full(progress.q_buffer()), progress.q_parity());
  // Three loops, not a branch per tile: a branch around the MMAs would make ptxas
  // serialize every wgmma of the kernel.
  for (int n = tiles.begin; n < own.begin; ++n) pass_tile(n);
  if constexpr (!kSoftmaxOverlap) {
    // Each KV tile in turn: S, its softmax, then O += P V.
    for (int n = own.begin; n < own.end; ++n) {
      const int it = progress.ring(n - tiles.begin), stage = ring_stage(it);
      const u32 parity = ring_parity(it);
      float s[G::kScoreValues];
      scores_alone(s, it);

      float alpha[2];
      softmax_tile(s, n, alpha);
      rescale_output(alpha);
      u32 p[kBlockN / 16][4];
      pack_probabilities(p, s);

      mbarrier_wait(sh.v_full(stage), parity);
      fence_pv_operands(p);
      turns.wait();
      wgmma_fence();
      issue_pv(p, stage);
      turns.pass();
      wgmma_wait<0>();
      fence_pv_operands(p);
      mbarrier_arrive(sh.v_empty(stage));
    }
  } else if (own.begin < own.end) {
    // The first tile's S and softmax alone; then per tile n + 1: S of n + 1 and
    // O += P V of n issued together, the softmax of n + 1 while they run (S completes
    // first: its group was committed first), O rescaled once P V of n has completed;
    // then the last tile's P V.
    u32 p[kBlockN / 16][4];  // P of the tile whose P V is next
    {
      float s[G::kScoreValues];
      scores_alone(s, progress.ring(own.begin - tiles.begin));
      float alpha[2];
      softmax_tile(s, own.begin, alpha);  // O is still zero: nothing to rescale
      pack_probabilities(p, s);
    }
    for (int n = own.begin + 1; n < own.end; ++n) {
      const int it = progress.ring(n - tiles.begin), stage = ring_stage(it);
      const int previous_stage = ring_stage(it - 1);
      float s[G::kScoreValues];
      mbarrier_wait(sh.k_full(stage), ring_parity(it));
      mbarrier_wait(sh.v_full(previous_stage), ring_parity(it - 1));
      fence_pv_operands(p);
      turns.wait();
      wgmma_fence();
      issue_scores(s, stage);
      issue_pv(p, previous_stage);
      turns.pass();
      wgmma_wait<1>();  // S of tile n
      fence_operands(s);
      mbarrier_arrive(sh.k_empty(stage));

      float alpha[2];
      softmax_tile(s, n, alpha);

      wgmma_wait<0>();  // P V of tile n - 1: O and P are free again
      fence_pv_operands(p);
      mbarrier_arrive(sh.v_empty(previous_stage));
      rescale_output(alpha);
      pack_probabilities(p, s);
    }
    const int last = progress.ring(own.end - 1 - tiles.begin), last_stage = ring_stage(last);
    mbarrier_wait(sh.v_full(last_stage), ring_parity(last));
    fence_pv_operands(p);
    turns.wait();
    wgmma_fence();
    issue_pv(p, last_stage);
    turns.pass();
    wgmma_wait<0>();
    fence_pv_operands(p);
    mbarrier_arrive(sh.v_empty(last_stage));
  } else if (tiles.begin < tiles.end) {
    // The overlapped loop takes one turn more than it has tiles.
    turns.wait(), turns.pass();
  }
  for (int n = own.end; n < tiles.end; ++n) pass_tile(n);

  if (opt.debug_tile_counts != nullptr && group == 0 && thread == 0) {
    atomicAdd(opt.debug_tile_counts, tiles.end - tiles.begin);
    atomicAdd(opt.debug_tile_counts + 1, full_tiles);
  }

  // Epilogue: each row's max and denominator over its quad, normalized (with the sink
  // logit when the variant has sinks), then written.
  RowNormalization norm[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = my_row(r);
    RowTotals totals = softmax[r].totals(quad_sum(softmax[r].sum), xf.exp2_scale, 0);
    totals.max_log2 =
        xf.row_max_log2(totals.max_log2, hooks[r].transform, static_cast<float>(rows.q_pos(row)));
    norm[r] = kHasSinks ? normalize_row_with_sink(totals, args.sinks[rows.q_head(row)], opt.out_multiplier)
                        : normalize_row(totals, opt.out_multiplier);
    if (kWriteLse && lane % 4 == 0 && rows.holds(row)) *rows.lse_at(row) = norm[r].lse;
  }
  if constexpr (kOutputDirect) {
    // f32 and fp8 rows: pairs straight from the accumulators.
#pragma unroll
    for (int r = 0; r < 2; ++r)
      if (rows.holds(my_row(r)))
        write_output_row(rows.out_row(my_row(r)), norm[r].out_scale, HopperOutputPairs{o, r});
  } else {
    stage_and_write_rows(sh.q_data(progress.q_buffer()), rows, o, norm, group);
  }
  if constexpr (kPersistent) {
    // Q's space may take the next work tile's copy once every consumer thread is done
    // with it: its last S long completed, its staged rows read. The copy engine writes
    // it next, so the ordinary accesses are ordered before it by the proxy fence.
    fence_proxy_async();
    mbarrier_arrive(sh.q_empty(progress.q_buffer()));
  }
  progress.finish(tiles);
}

// The block: barriers, then the producer or a consumer by warpgroup (one if/else, so
// setmaxnreg applies per warpgroup), each over the work tiles of `schedule` in its
// order: schedule.produce_each(feed, fn) (the producer's elected thread or warpgroup)
// and schedule.consume_each(feed, fn) (each consumer thread) call fn(work) with the
// same work tiles, those of a persistent grid passed along `feed`. A work tile is a
// Schedule::Work of .rows, .kv_len and .opt for the consumers and, for the producer,
// .produce(sh, progress): Q, then K and V of opt.tiles into the ring, each stage after
// its "empty" barrier's phase, completing the "full" barriers with
// Work::kProducerArrivals arrivals (the threads that produce: 1, an elected thread
// issuing tensor copies, or the whole warpgroup gathering) plus any tensor-copy bytes
// announced. templates/kernels/hopper/prefill.cuh and paged_prefill.cuh have the kinds'.
template <typename Schedule>
__device__ __forceinline__ void hopper_attend(unsigned char* shared, const Schedule& schedule,
                                              const AttnjitVariantArgs& args) {
  using G = HopperGeometry;
  using Work = typename Schedule::Work;
  constexpr int kProducers = Work::kProducerArrivals;
  static_assert(kProducers == 1 || kProducers == G::kGroupThreads,
                "one elected producer thread, or the producer warpgroup");
  const u32 unaligned = shared_address(shared);
  const u32 base = (unaligned + hopper::kSwizzleAtomBytes - 1) & ~(hopper::kSwizzleAtomBytes - 1);
  const HopperShared sh{shared + (base - unaligned), base};
  if (threadIdx.x == 0) {
    for (int buffer = 0; buffer < kQBuffers; ++buffer) mbarrier_init(sh.q_full(buffer), kProducers);
    for (int stage = 0; stage < kStages; ++stage) {
      mbarrier_init(sh.k_full(stage), kProducers);  // the producers' arrivals; then the bytes
      mbarrier_init(sh.v_full(stage), kProducers);
      mbarrier_init(sh.k_empty(stage), G::kConsumerThreads);  // every consumer thread
      mbarrier_init(sh.v_empty(stage), G::kConsumerThreads);
    }
    if (kPersistent) {
      for (int buffer = 0; buffer < kQBuffers; ++buffer) mbarrier_init(sh.q_empty(buffer), G::kConsumerThreads);
      for (int slot = 0; slot < G::kFeedSlots; ++slot) {
        mbarrier_init(sh.feed_full(slot), 1);  // the elected producer thread
        mbarrier_init(sh.feed_empty(slot), G::kConsumerThreads);
      }
    }
    mbarrier_init_fence();
  }
  block_barrier();

  const HopperTileFeed feed{sh};
  const int warpgroup = threadIdx.x / G::kGroupThreads;
  if (warpgroup == 0) {
    registers_decrease<G::kProducerRegisters>();
    // Elected once: the thread keeps its progress through every work tile.
    if (kProducers == G::kGroupThreads || (threadIdx.x / 32 == 0 && elect_one())) {
      HopperProgress progress;
      schedule.produce_each(feed, [&](const Work& work) { work.produce(sh, progress); });
    }
  } else {
    registers_increase<G::kConsumerRegisters>();
    // Broadcast so that ptxas knows it is the warp's (see warp_uniform()): the Q
    // descriptors and the KV tile bounds derived from it then stay in uniform registers.
    const int group = warp_uniform(warpgroup - 1);
    const HopperTurns turns{group};
    turns.start();
    HopperProgress progress;
    schedule.consume_each(feed, [&](const Work& work) {
      consume(sh, work.rows, work.kv_len, args, work.opt, group, progress, turns);
    });
  }
}

}  // namespace attnjit
