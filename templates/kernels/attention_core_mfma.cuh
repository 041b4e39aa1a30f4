// The MFMA main loop (CDNA 2 and 3: gfx90a, gfx942): one thread block, kBlockM query
// rows, a range of KV tiles, online softmax on v_mfma_f32_32x32x8 (bf16 or fp16 operands,
// f32 accumulators). The counterpart of attention_core.cuh (mma.sync) with the same
// interface, so a kind's entry points (prefill.cuh, paged_blocks.cuh, paged_stream.cuh)
// serve both: Rows and Keys policies, AttendOptions, StridedRows, and attend(). What is
// not about MFMA fragments is shared with every main loop (templates/common/): the score
// transform (ScoreTransform), the visible tiles, full tiles and mask_score
// (key_mask.cuh), SoftmaxRow and normalize_row (online_softmax.cuh), and where finished
// rows go (epilogue.cuh).
//
// Codegen defines, before this file, what it defines for attention_core.cuh (element
// types, decoders, tile constants, kLaunchThreads / kLaunchSharedBytes, VariantHooks,
// ScoreTransform, ATTNJIT_ENTRY, ATTNJIT_LAUNCH_BOUNDS).
//
// Work split: each wavefront (64 lanes) owns 32 query rows for the whole loop, and the
// block's waves share the K/V tiles, which pass through LDS. Scores are computed
// transposed, S^T = K Q^T, so that a lane holds one query row (templates/hip/
// mfma_layouts.h): the row's max and sum are a reduction over the lane's accumulators
// and one exchange with its row partner, and the score accumulators are, unchanged, the
// B operands of O^T = V^T P^T. Q is read from global memory straight into registers (the
// B operand of S^T) once; K and V are loaded from global memory into registers a tile
// ahead, converted to the compute type (f32 rounded, FP8 and INT8 decoded exactly), and
// written to LDS: with two stages (double buffering) one barrier per tile separates
// the buffers, with one stage two barriers do (half the LDS, for head_dim 256).

namespace attnjit {

struct TileGeometry {
  static constexpr int kThreads = kWarps * kWaveLanes;
  static constexpr int kWaveRows = mfma::AttentionShape::kN;  // query rows of one wave
  static constexpr int kKeyBlock = mfma::AttentionShape::kM;  // keys of one S^T MFMA
  static constexpr int kDimBlock = mfma::AttentionShape::kM;  // head dims of one O^T MFMA
  static constexpr int kStep = mfma::AttentionShape::kK;      // the MFMA's reduction depth
  // Rows are padded by 16 bytes: the lanes of an S^T operand read 32 rows at one column,
  // which the padding spreads over the LDS banks.
  static constexpr int kRowBytes = (kHeadDim + 8) * 2;
  static constexpr int kTileBytes = kBlockN * kRowBytes;  // a K or V tile in the compute type
  static constexpr int kScaleBytes = kPerTokenHeadScales ? kBlockN * 4 : 0;
  static constexpr int kKvBufferBytes = kTileBytes + kScaleBytes;
  // kStages K buffers, then kStages V buffers; Q lives in registers.
  static constexpr int kSharedBytes = 2 * kStages * kKvBufferBytes;
  static constexpr int kKeyBlocks = kBlockN / kKeyBlock;
  static constexpr int kDimBlocks = kHeadDim / kDimBlock;
  static constexpr int kDimSteps = kHeadDim / kStep;      // k-steps of S^T = K Q^T
  static constexpr int kKeySteps = kKeyBlock / kStep;     // k-steps of O^T per key block
  static constexpr int kAccumulators = mfma::AttentionShape::kAccumulators;
};

static_assert(TileGeometry::kThreads == kLaunchThreads,
              "the host's threads per block differ from this kernel's");
static_assert(TileGeometry::kSharedBytes == kLaunchSharedBytes,
              "the host's LDS differs from this kernel's layout");
static_assert(kHeadDim % TileGeometry::kDimBlock == 0, "head_dim must be a multiple of 32");
static_assert(kBlockM == TileGeometry::kWaveRows * kWarps, "BLOCK_M = 32 * waves");
static_assert(kBlockN % TileGeometry::kKeyBlock == 0, "BLOCK_N must be a multiple of 32");
static_assert(kStages == 1 || kStages == 2, "one or two K/V stages in LDS");
static_assert(kRowTiles == 1, "a wave owns one 32-row MFMA tile of queries");
// Every output type is written from the accumulators (16-bit ones too: CUDA stages
// those through shared memory, which this loop spends on K and V).
static_assert(kOutputDirect == (sizeof(OutputStorage) != 2), "kOutputDirect: f32 and fp8 outputs");

// Rows `stride` elements apart from `base`: the addresser of contiguous K/V tiles.
template <typename Storage>
struct StridedRows {
  const Storage* base;
  long long stride;
  __device__ __forceinline__ const Storage* operator()(int r) const { return base + r * stride; }
};

struct AttendOptions {
  float softmax_scale;       // applied to q.k
  float softmax_scale_log2;  // softmax_scale * log2(e)
  float out_multiplier;      // applied to the normalized output (V descale * fp8 out scale)
  // A piece of a KV range that a merge completes: when set, rows go to partial_rows (f32,
  // row r at r * kHeadDim) and their LSEs to partial_lse[r], normalized by their own sum,
  // without the sink, scaled by partial_multiplier.
  float* partial_rows;
  float* partial_lse;
  float partial_multiplier;
  const int* ranges;         // this sequence's bidirectional ranges (kHasRanges)
  int range_count;
  int seq;
  KvTiles tiles;             // the tiles this block visits: visible ones, or a share of them
  int* debug_tile_counts;
};

// `kWords` 32-bit words to LDS at `to` (aligned to 4 * kWords bytes up to 16).
template <int kWords>
__device__ __forceinline__ void store_lds_words(unsigned char* to, const u32 (&w)[kWords]) {
  if constexpr (kWords % 4 == 0) {
#pragma unroll
    for (int i = 0; i < kWords / 4; ++i)
      reinterpret_cast<uint4*>(to)[i] = uint4{w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]};
  } else {
    static_assert(kWords == 2, "16-byte chunks convert to 2, 4 or 8 words");
    *reinterpret_cast<u64*>(to) = static_cast<u64>(w[0]) | (static_cast<u64>(w[1]) << 32);
  }
}

// kRows rows of kHeadDim elements on their way from global memory to LDS: load() issues
// the block's 16-byte loads into registers (zeros for rows past the end: a NaN there
// would reach the output through P V), store() converts them to the compute type and
// writes the LDS tile (rows kRowBytes apart). Every thread of the block takes a share.
template <typename Decoder, int kRows>
struct StagedRows {
  using Storage = typename Decoder::Storage;
  static constexpr int kElems = Decoder::kElemsPer16Bytes;  // elements per 16-byte load
  static constexpr int kChunksPerRow = kHeadDim / kElems;
  static constexpr int kChunks = kRows * kChunksPerRow;
  static constexpr int kThreads = TileGeometry::kThreads;
  static constexpr int kPerThread = (kChunks + kThreads - 1) / kThreads;
  static_assert(kHeadDim % kElems == 0, "rows of whole 16-byte loads");
  uint4 raw[kPerThread];

  template <typename RowFn>
  __device__ __forceinline__ void load(int tid, RowFn row_fn) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int chunk = tid + i * kThreads;
      raw[i] = uint4{0u, 0u, 0u, 0u};
      if (kChunks % kThreads == 0 || chunk < kChunks) {
        const Storage* from = row_fn(chunk / kChunksPerRow);
        if (from != nullptr) raw[i] = load16(from + (chunk % kChunksPerRow) * kElems);
      }
    }
  }
  __device__ __forceinline__ void store(unsigned char* tile, int tid) const {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int chunk = tid + i * kThreads;
      if (kChunks % kThreads == 0 || chunk < kChunks) {
        u32 words[kElems / 2];
        Decoder::template decode16<Elem>(words, raw[i]);
        store_lds_words(tile + (chunk / kChunksPerRow) * TileGeometry::kRowBytes +
                            (chunk % kChunksPerRow) * kElems * 2,
                        words);
      }
    }
  }
};

// Four consecutive 16-bit values of LDS (8-byte aligned) as one MFMA operand.
__device__ __forceinline__ u64 lds_operand(const unsigned char* at) { return *reinterpret_cast<const u64*>(at); }

// Q's B operand of S^T for k-step `step`: head dims q_dim_of_lane(lane, step) .. + 3 of
// the lane's query row, straight from global memory (zeros past the block's rows).
template <typename Rows>
__device__ __forceinline__ u64 q_operand(const Rows& rows, int row, int lane, int step) {
  if (row >= rows.rows_valid) return 0ull;
  const InputStorage* at = rows.q_row(row) + mfma::q_dim_of_lane(lane, step);
  if constexpr (InputDecoder::kConverts) {
    const float* f = reinterpret_cast<const float*>(at);
    return static_cast<u64>(Elem::pack2(f[0], f[1])) | (static_cast<u64>(Elem::pack2(f[2], f[3])) << 32);
  } else {
    return *reinterpret_cast<const u64*>(at);
  }
}

// The hooks' state of the lane's query row, made once before the loop.
template <typename Transform>
struct RowHooks {
  AttnjitBoundInputs bound;
  typename Transform::Row transform;
  RangeKeys ranged{0, 0};  // keys_sharing_a_range() of the row (kHasRanges)
};

// A lane's accumulators of one 32 x 32 MFMA: scores (S^T) or outputs (O^T).
typedef F32x16 Accumulators;

// The output row of this lane as the epilogues take a row (templates/common/epilogue.cuh):
// accumulators 2m and 2m + 1 of each dim block are adjacent head dims.
struct OutputPairs {
  const Accumulators (&o)[TileGeometry::kDimBlocks];
  int lane;
  template <typename Fn>
  __device__ __forceinline__ void operator()(Fn fn) const {
#pragma unroll
    for (int db = 0; db < TileGeometry::kDimBlocks; ++db)
#pragma unroll
      for (int e = 0; e < TileGeometry::kAccumulators; e += 2)
        fn(db * TileGeometry::kDimBlock + mfma::dim_of_accumulator(lane, e), o[db][e], o[db][e + 1]);
  }
};

template <typename Rows, typename Keys>
__device__ __forceinline__ void attend(unsigned char* shared, const Rows& rows, const Keys& keys,
                                       const AttnjitVariantArgs& args, const AttendOptions& opt) {
  using G = TileGeometry;
  const int tid = threadIdx.x;
  const int wave = tid / kWaveLanes;
  const int lane = tid % kWaveLanes;
  const int row = wave * G::kWaveRows + mfma::query_of_lane(lane);  // this lane's query row

  const KvTiles range = opt.tiles;
  const int n_begin = range.begin, n_end = range.end;
  int full_tiles = 0, visited_tiles = 0;  // counted for debug_tile_counts only

  unsigned char* const k_smem = shared;
  unsigned char* const v_smem = shared + kStages * G::kKvBufferBytes;

  // The next tile, in flight in registers while the current one is computed.
  StagedRows<KvDecoder, kBlockN> k_next, v_next;
  float k_scale_next = 0.f, v_scale_next = 0.f;  // per-token scales: thread t < kBlockN, key t
  auto fetch = [&](int n) {
    const int first = n * kBlockN;
    const int rows_valid = min(kBlockN, keys.kv_len - first);
    const auto k_rows = keys.k_tile(first);
    const auto v_rows = keys.v_tile(first);
    k_next.load(tid, [&](int r) { return r < rows_valid ? k_rows(r) : nullptr; });
    v_next.load(tid, [&](int r) { return r < rows_valid ? v_rows(r) : nullptr; });
    if constexpr (kPerTokenHeadScales) {  // zero past the end, like the rows
      k_scale_next = v_scale_next = 0.f;
      if (tid < kBlockN && tid < rows_valid) {
        k_scale_next = *keys.k_scale_tile(first)(tid);
        v_scale_next = *keys.v_scale_tile(first)(tid);
      }
    }
  };
  auto stage = [&](int buffer) {
    unsigned char* k_tile = k_smem + buffer * G::kKvBufferBytes;
    unsigned char* v_tile = v_smem + buffer * G::kKvBufferBytes;
    k_next.store(k_tile, tid);
    v_next.store(v_tile, tid);
    if constexpr (kPerTokenHeadScales) {
      if (tid < kBlockN) {
        reinterpret_cast<float*>(k_tile + G::kTileBytes)[tid] = k_scale_next;
        reinterpret_cast<float*>(v_tile + G::kTileBytes)[tid] = v_scale_next;
      }
    }
  };

  if (n_begin < n_end) {
    fetch(n_begin);
    stage(0);
  }
  // Q's operands for the whole loop (up to 128 head dims; past that they are re-read
  // from global memory, L2-resident, each tile so the output accumulators keep their
  // registers).
  constexpr bool kQInRegisters = kHeadDim <= 128;
  u64 q_frag[kQInRegisters ? G::kDimSteps : 1];
  if constexpr (kQInRegisters) {
#pragma unroll
    for (int s = 0; s < G::kDimSteps; ++s) q_frag[s] = q_operand(rows, row, lane, s);
  }
  block_barrier();

  // Per-token V scales multiply P, raised by about the largest code (exact) so that
  // P * scale stays far from fp16's subnormals; the output multiplier takes it back.
  constexpr int kVScaleLog2 = kPerTokenHeadScales ? KvDecoder::kLargestCodeLog2 : 0;
  // The decoders leave exact values (KvDecoder::kScaleLog2 is 0 on HIP): the scales are
  // the call's own.
  static_assert(KvDecoder::template kScaleLog2<Elem> == 0, "HIP decoders read exact values");

  using Transform = ScoreTransform<Rows::kOneHead && !kPerTokenHeadScales>;
  RowHooks<Transform> hooks;
  const int q_head = rows.q_head(row < rows.rows_valid ? row : 0);
  VariantHooks::bind(hooks.bound, args, q_head, q_head / kGroupSize, opt.seq);
  const Transform xf(args, hooks.bound, opt.softmax_scale, opt.softmax_scale_log2,
                     static_cast<float>(rows.q_pos_first));
  hooks.transform = xf.row(args, hooks.bound);
  const int q_pos = rows.q_pos(row);
  const float q_pos_f = static_cast<float>(q_pos);
  if constexpr (kHasRanges) hooks.ranged = keys_sharing_a_range(opt.ranges, opt.range_count, q_pos);

  SoftmaxRow softmax = SoftmaxRow::start();
  Accumulators o[G::kDimBlocks];
#pragma unroll
  for (int db = 0; db < G::kDimBlocks; ++db)
#pragma unroll
    for (int e = 0; e < G::kAccumulators; ++e) o[db][e] = 0.f;

  for (int n = n_begin, it = 0; n < n_end; ++n, ++it) {
    const int buffer = kStages == 2 ? it % 2 : 0;
    const bool more = n + 1 < n_end;
    if (more) fetch(n + 1);  // global loads in flight during this tile's math
    ++visited_tiles;
    const unsigned char* k_tile = k_smem + buffer * G::kKvBufferBytes;
    const unsigned char* v_tile = v_smem + buffer * G::kKvBufferBytes;
    const int kv_first = n * kBlockN;
    const float kv_first_f = static_cast<float>(kv_first);

    // S^T = K Q^T, the accumulators starting from the transform's start value.
    Accumulators s[G::kKeyBlocks];
#pragma unroll
    for (int kb = 0; kb < G::kKeyBlocks; ++kb)
#pragma unroll
      for (int e = 0; e < G::kAccumulators; ++e)
        s[kb][e] = xf.start(kv_first_f + static_cast<float>(kb * G::kKeyBlock + mfma::key_of_accumulator(lane, e)));
#pragma unroll
    for (int step = 0; step < G::kDimSteps; ++step) {
      const u64 b = kQInRegisters ? q_frag[kQInRegisters ? step : 0] : q_operand(rows, row, lane, step);
#pragma unroll
      for (int kb = 0; kb < G::kKeyBlocks; ++kb) {
        const u64 a = lds_operand(k_tile + (kb * G::kKeyBlock + mfma::k_row_of_lane(lane)) * G::kRowBytes +
                                  mfma::k_dim_of_lane(lane, step) * 2);
        Elem::mfma_32x32x8(s[kb], a, b);
      }
    }
    if constexpr (kPerTokenHeadScales) {  // each key's K scale multiplies its scores
      const float* k_scales = reinterpret_cast<const float*>(k_tile + G::kTileBytes);
#pragma unroll
      for (int kb = 0; kb < G::kKeyBlocks; ++kb)
#pragma unroll
        for (int e = 0; e < G::kAccumulators; ++e) s[kb][e] *= k_scales[kb * G::kKeyBlock + mfma::key_of_accumulator(lane, e)];
    }

    // hooks(S): the score transform, then, unless the tile is full, the mask.
    auto position = [&](int column) {
      Position at;
      at.q_pos = q_pos;
      at.kv_pos = kv_first + column;
      at.q_pos_f = q_pos_f;
      at.kv_pos_f = kv_first_f + static_cast<float>(column);
      at.q_head = q_head;
      at.kv_head = q_head / kGroupSize;
      at.seq = opt.seq;
      at.q_len = rows.q_len;
      at.kv_len = keys.kv_len;
      return at;
    };
    const typename Transform::TileRow tile_row = xf.tile_row(hooks.transform, kv_first_f, q_pos_f);
#pragma unroll
    for (int kb = 0; kb < G::kKeyBlocks; ++kb)
#pragma unroll
      for (int e = 0; e < G::kAccumulators; ++e) {
        const int column = kb * G::kKeyBlock + mfma::key_of_accumulator(lane, e);
        s[kb][e] = xf.apply(s[kb][e], hooks.transform, tile_row, static_cast<float>(column), args, hooks.bound,
                            [&] { return position(column); });
      }
    const bool full_tile = tile_is_full<kBlockN>(kv_first, keys.kv_len, rows.q_pos_first, rows.q_pos_last,
                                                 range.widened_by_range);
    full_tiles += full_tile;
    if (!full_tile) {
#pragma unroll
      for (int kb = 0; kb < G::kKeyBlocks; ++kb)
#pragma unroll
        for (int e = 0; e < G::kAccumulators; ++e) {
          float x = s[kb][e];
          mask_score(x, position(kb * G::kKeyBlock + mfma::key_of_accumulator(lane, e)), args, hooks.bound,
                     range.widened_by_range, hooks.ranged);
          s[kb][e] = x;
        }
    }

    // The online softmax of the lane's row: the tile's max over the lane and its row
    // partner, the rescale of what was accumulated, then S becomes P.
    float tile_max = softmax.max;
#pragma unroll
    for (int kb = 0; kb < G::kKeyBlocks; ++kb)
#pragma unroll
      for (int e = 0; e < G::kAccumulators; ++e) tile_max = fmaxf(tile_max, s[kb][e]);
    const SoftmaxRow::Step step = softmax.rescale(row_max(tile_max), xf.exp2_scale, 0);
#pragma unroll
    for (int db = 0; db < G::kDimBlocks; ++db)
#pragma unroll
      for (int e = 0; e < G::kAccumulators; ++e) o[db][e] *= step.alpha;
#pragma unroll
    for (int kb = 0; kb < G::kKeyBlocks; ++kb)
#pragma unroll
      for (int e = 0; e < G::kAccumulators; ++e) s[kb][e] = softmax.prob(s[kb][e], xf.exp2_scale, step);

    // O^T += V^T P^T: P's accumulators are the B operands in place (rounded to the input
    // type, as on CUDA); V^T's A operand is four keys' values of the lane's head dim.
#pragma unroll
    for (int kb = 0; kb < G::kKeyBlocks; ++kb) {
#pragma unroll
      for (int ks = 0; ks < G::kKeySteps; ++ks) {
        float p[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          p[e] = s[kb][mfma::p_accumulator(ks, e)];
          if constexpr (kPerTokenHeadScales)
            p[e] *= reinterpret_cast<const float*>(v_tile + G::kTileBytes)[kb * G::kKeyBlock + mfma::v_key_of_lane(lane, ks, e)] *
                    pow2(kVScaleLog2);
        }
        const u64 b = static_cast<u64>(Elem::pack2(p[0], p[1])) | (static_cast<u64>(Elem::pack2(p[2], p[3])) << 32);
#pragma unroll
        for (int db = 0; db < G::kDimBlocks; ++db) {
          const unsigned char* column = v_tile + (db * G::kDimBlock + mfma::v_dim_of_lane(lane)) * 2;
          u64 a = 0;
#pragma unroll
          for (int e = 0; e < 4; ++e)
            a |= static_cast<u64>(*reinterpret_cast<const u16*>(
                     column + (kb * G::kKeyBlock + mfma::v_key_of_lane(lane, ks, e)) * G::kRowBytes))
                 << (16 * e);
          Elem::mfma_32x32x8(o[db], a, b);
        }
      }
    }

    if constexpr (kStages == 2) {
      if (more) stage(buffer ^ 1);  // the buffer every wave finished reading a tile ago
      block_barrier();
    } else {
      block_barrier();  // every wave is done with the buffer ...
      if (more) stage(0);
      block_barrier();  // ... and it holds the next tile
    }
  }

  if (opt.debug_tile_counts != nullptr && tid == 0) {
    atomicAdd(opt.debug_tile_counts, visited_tiles);
    atomicAdd(opt.debug_tile_counts + 1, full_tiles);
  }

  // Epilogue: the row's max and denominator (the lane's share and its partner's),
  // normalized (folding in the sink logit), then the row written out.
  RowTotals totals = softmax.totals(row_sum(softmax.sum), xf.exp2_scale, 0);
  totals.max_log2 = xf.row_max_log2(totals.max_log2, hooks.transform, q_pos_f);
  const bool partial = opt.partial_rows != nullptr;
  const float out_multiplier = (partial ? opt.partial_multiplier : opt.out_multiplier) * pow2(-kVScaleLog2);
  const RowNormalization norm = kHasSinks && !partial
                                    ? normalize_row_with_sink(totals, args.sinks[q_head], out_multiplier)
                                    : normalize_row(totals, out_multiplier);
  if (row >= rows.rows_valid) return;
  const OutputPairs pairs{o, lane};
  const bool writes_lse = lane == mfma::query_of_lane(lane);  // one lane of the two per row
  if (partial) {
    write_partial_row(opt.partial_rows + row * kHeadDim, norm.out_scale, pairs);
    if (writes_lse) opt.partial_lse[row] = norm.lse;
    return;
  }
  // Pairs straight from the accumulators, in the output type (OutElem::store_pair).
  write_output_row(rows.out_row(row), norm.out_scale, pairs);
  if (kWriteLse && writes_lse) *rows.lse_at(row) = norm.lse;
}

}  // namespace attnjit
