// The mma.sync main loop (sm_80 and later) shared by every kernel kind: one thread
// block, kBlockM query rows, a range of KV tiles, online softmax on tensor cores. Per
// KV tile, attend() reads as the algorithm: S = Q K^T, hooks(S) (the variant's score
// transform and mask), the online-softmax update, O += P V; then the epilogue. What is
// not about m16n8k16 fragments lives in templates/common/, shared with other main
// loops: score_transforms.cuh (ScoreTransform), key_mask.cuh (visible tiles, full
// tiles, mask_score), online_softmax.cuh (SoftmaxRow, normalize_row) and epilogue.cuh
// (where finished rows go). This file maps its fragments onto their rows.
//
// Codegen defines, before this file (after templates/kernels/position.h): the element
// types `Elem` (tensor-core operands) and `OutElem`, the decoders InputDecoder (q) and
// KvDecoder (k, v) that name the storage types, OutputStorage and kOutputDirect, the
// tile constants kHeadDim kBlockM kBlockN kWarps kStages kRowTiles, kGroupSize (query
// heads per KV head), kWriteLse, kHasSinks, kHasRanges, the launch geometry the host
// computed (kLaunchThreads, kLaunchSharedBytes: checked against TileGeometry below), the
// struct `VariantHooks` (mask, bound inputs, and the KV band derived from the mask) and
// the alias ScoreTransform, and the entry's ATTNJIT_ENTRY name and
// ATTNJIT_LAUNCH_BOUNDS. The loop never knows which variant it runs: it only calls the
// hooks.
//
// A kind's entry point describes its rows and keys with two small policies and calls
// attend():
//   Rows: q_row(r) / out_row(r) / lse_at(r) pointers, q_pos(r), q_head(r), the number
//         of valid rows, the first and last query position, and kOneHead (true when
//         every row belongs to the same query head);
//   Keys: k_tile(first) / v_tile(first) addressers of a tile's rows (called as
//         addresser(r) for key first + r), and, with per-token-head scales,
//         k_scale_tile(first) / v_scale_tile(first) addressers of the tile's scales;
//         kv_len.
//
// Work split: each warp owns 16 * kRowTiles query rows for the whole loop, so the
// softmax statistics of a row never leave the four lanes (one quad) holding it. With
// two row tiles per warp every K/V fragment read from shared memory feeds two MMAs,
// halving shared-memory traffic per FLOP. K and V tiles stream through a kStages-deep
// ring in shared memory shared by all warps.
//
// Decode tiles (BLOCK_M 16 with several warps) split the other way: every warp holds
// the same 16 query rows (a decode token's packed query heads) and the warps share out
// the block's KV tiles, each with its own ring of buffers and its own pipeline, so a
// block keeps several independent streams of copies in flight; the warps' partial
// results are combined at the end.

namespace attnjit {

struct TileGeometry {
  static constexpr int kThreads = kWarps * 32;
  static constexpr bool kWarpsSplitKv = kBlockM == 16 && kWarps > 1;
  static constexpr int kGroups = kWarpsSplitKv ? kWarps : 1;  // independent K/V pipelines
  static constexpr int kGroupThreads = kThreads / kGroups;
  static constexpr int kWarpRows = 16 * kRowTiles;  // query rows owned by one warp
  // Rows are padded by 16 bytes so the 8 row addresses of one ldmatrix fall in 8
  // different bank groups; this works for every head_dim that is a multiple of 16,
  // where an XOR swizzle would need a power-of-two row length.
  static constexpr int kRowBytes = (kHeadDim + 8) * 2;
  static constexpr int kChunksPerRow = kHeadDim / 8;  // 16-byte chunks of one 16-bit row
  static constexpr int kQBytes = kBlockM * kRowBytes;
  static constexpr int kKvTileBytes = kBlockN * kRowBytes;
  // 8-bit and f32 K/V arrive through cp.async as they are stored (rows padded by 16
  // bytes against bank conflicts, then the tile's per-token scales if the cache has
  // them) and become MMA operands in registers (RawOperands below), so no decoded copy
  // of a tile is ever written to shared memory; 16-bit K/V are read by ldmatrix.
  static constexpr bool kKvRaw = KvDecoder::kConverts;
  static constexpr int kRawRowBytes = kHeadDim * static_cast<int>(sizeof(KvStorage)) + 16;
  static constexpr int kRawTileBytes = kBlockN * kRawRowBytes;
  static constexpr int kScaleBytes = kPerTokenHeadScales ? kBlockN * 4 : 0;
  static constexpr int kKvBufferBytes = kKvRaw ? kRawTileBytes + kScaleBytes : kKvTileBytes;
  static constexpr int kGroupBytes = 2 * kStages * kKvBufferBytes;  // K buffers, then V
  static constexpr int kSharedBytes = kQBytes + kGroups * kGroupBytes;
  static constexpr int kDimSteps = kHeadDim / 16;  // k-steps of S = Q K^T
  static constexpr int kKvSteps = kBlockN / 16;    // k-steps of O += P V
  static constexpr int kScoreTiles = kBlockN / 8;  // 16x8 score tiles per warp row tile
  static constexpr int kOutTiles = kHeadDim / 8;   // 16x8 output tiles per warp row tile
  // Up to 128 values per row a warp keeps its Q fragments in registers for the whole
  // loop; above that they would crowd out the output accumulators, so Q is re-read
  // from shared memory each tile (a small fraction of the K/V shared-memory traffic).
  static constexpr bool kQInRegisters = kHeadDim * kRowTiles <= 128;
  // kWarpsSplitKv: one warp's partial result in shared memory, for the combine: its 16
  // rows, then their 16 maxes and 16 sums.
  static constexpr int kWarpPartFloats = 16 * kHeadDim + 32;
};

// The host launches with its own statement of this geometry (compiler/spec/kernel_geometry.cpp).
static_assert(TileGeometry::kThreads == kLaunchThreads,
              "the host's threads per block differ from this kernel's");
static_assert(TileGeometry::kSharedBytes == kLaunchSharedBytes,
              "the host's dynamic shared memory differs from this kernel's layout");
static_assert(kHeadDim % 16 == 0, "head_dim must be a multiple of 16");
static_assert(kRowTiles == 1 || kRowTiles == 2, "a warp owns 16 or 32 query rows");
static_assert(kBlockM == 16 * kRowTiles * kWarps || (TileGeometry::kWarpsSplitKv && kRowTiles == 1),
              "BLOCK_M = 16 * row tiles * warps, or 16 with warps splitting the KV tiles");
static_assert(kBlockN % 16 == 0, "BLOCK_N must be a multiple of 16");
static_assert(kStages >= 2, "the K/V pipeline needs at least two stages");
static_assert(!TileGeometry::kWarpsSplitKv || TileGeometry::kGroupBytes >= TileGeometry::kWarpPartFloats * 4,
              "a warp's K/V buffers hold its partial result when the warps are combined");

// One 16-byte chunk (8 elements) of a row into 16-bit shared memory: cp.async for
// 16-bit storage; otherwise (f32 queries) a synchronous load converted to Elem, since
// the tensor cores take 16-bit operands. Decoder: Raw16 or DecodeF32.
template <typename Decoder>
__device__ __forceinline__ void load_chunk(u32 to, const typename Decoder::Storage* from,
                                           bool valid) {
  if constexpr (Decoder::kConverts) {
    u32 packed[4] = {0u, 0u, 0u, 0u};
    if (valid) {
      float x[8];
      Decoder::load8(x, from);
#pragma unroll
      for (int i = 0; i < 4; ++i) packed[i] = Elem::pack2(x[2 * i], x[2 * i + 1]);
    }
    store_shared16(to, packed);
  } else {
    copy16_async(to, from, valid);
  }
}

// Loads rows [0, Rows) of a [Rows, kHeadDim] tile; `row_fn(r)` is the row's global
// pointer or null past the end (zero-filled: a NaN there would reach the output through
// P*V). `fallback` is any valid address: the
// source operand of a zero-filling copy.
// `kLoaders` threads share the copies; `tid` is the calling thread's index among them.
template <int Rows, typename Decoder, int kLoaders, typename RowFn>
__device__ __forceinline__ void load_tile(u32 dst, int tid, const typename Decoder::Storage* fallback,
                                          RowFn row_fn) {
  using Storage = typename Decoder::Storage;
  using G = TileGeometry;
  constexpr int kChunks = Rows * G::kChunksPerRow;
  constexpr int kPerThread = (kChunks + kLoaders - 1) / kLoaders;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int chunk = tid + i * kLoaders;
    if (kChunks % kLoaders == 0 || chunk < kChunks) {
      const int row = chunk / G::kChunksPerRow;
      const int col = chunk % G::kChunksPerRow;
      const Storage* from = row_fn(row);
      const bool valid = from != nullptr;
      load_chunk<Decoder>(dst + row * G::kRowBytes + col * 16, valid ? from + col * 8 : fallback,
                          valid);
    }
  }
}

// Rows `stride` elements apart from `base`: the addresser of contiguous K/V tiles.
template <typename Storage>
struct StridedRows {
  const Storage* base;
  long long stride;
  __device__ __forceinline__ const Storage* operator()(int r) const { return base + r * stride; }
};

// 8-bit and f32 K/V operands, decoded in registers from the stored bytes. The MMA's k
// index may be permuted freely as long as Q and K agree, and its n index for V as long
// as the output is written back through the same map, so each thread reads runs of
// consecutive elements with a few wide shared-memory loads instead of gathering bytes:
//   S = Q K^T: lane t = lane % 4 of a quad holds dims [t d/4, (t+1) d/4) of each K row
//     (and of each Q row), k-step kk using dims t d/4 + 4 kk + {0..3};
//   O += P V: lane g = lane / 4 holds dims [g d/8, (g+1) d/8) of each V row, n-tile j
//     using dim g d/8 + j; so output column c of n-tile j is dim c d/8 + j (out_dim).
// Decoders may leave values scaled by 2^kScaleLog2 (fp8 read with the compute type's
// exponent bias); attend() folds the factor back into its scales.
struct RawOperands {
  static constexpr int kElemBytes = static_cast<int>(sizeof(KvStorage));
  static constexpr int kKRunBytes = kHeadDim / 4 * kElemBytes;  // one thread's share of a K row
  static constexpr int kVRunElems = kHeadDim / 8;               // ... of a V row
  static constexpr int kVRunBytes = kVRunElems * kElemBytes;
  static constexpr int kPieceElems = 16 / kElemBytes;  // V elements per 16-byte load
  template <int kBytes>
  static constexpr int kAlignOf = kBytes % 16 == 0 ? 16 : kBytes % 8 == 0 ? 8 : kBytes % 4 == 0 ? 4 : 2;

  // K k-steps [kk0, kk0 + kSteps) of one key row (kk0 a multiple of 4): calls
  // use(s, b) with the B operand pair of k-step kk0 + s. `run` is the row's address plus
  // this lane's share.
  template <int kSteps, typename Use>
  static __device__ __forceinline__ void k_steps(u32 run, int kk0, Use use) {
    constexpr int kBytes = kSteps * 4 * kElemBytes;
    constexpr int kAlign = kAlignOf<kKRunBytes> < kAlignOf<kBytes> ? kAlignOf<kKRunBytes> : kAlignOf<kBytes>;
    u32 w[(kBytes + 3) / 4];
    load_shared_words<kBytes, kAlign>(w, run + kk0 * 4 * kElemBytes);
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      u32 b[2];
      if constexpr (kElemBytes == 1) {
        b[0] = KvDecoder::template pair<Elem>(w[s], w[s], 0, 1);
        b[1] = KvDecoder::template pair<Elem>(w[s], w[s], 2, 3);
      } else {
        b[0] = KvDecoder::template pair<Elem>(w[4 * s], w[4 * s + 1], 0, 0);
        b[1] = KvDecoder::template pair<Elem>(w[4 * s + 2], w[4 * s + 3], 0, 0);
      }
      use(s, b);
    }
  }

  // V n-tiles [j0, j0 + kTiles) of one 16-key step (j0 a multiple of kPieceElems): calls
  // use(j, b) with the B operand pair of n-tile j0 + j. `run` is the address of the
  // step's row 2t plus this lane's share; the other rows are 1, 8 and 9 rows further.
  template <int kTiles, typename Use>
  static __device__ __forceinline__ void v_tiles(u32 run, int j0, Use use) {
    constexpr int kBytes = kTiles * kElemBytes;
    constexpr int kAlign = kAlignOf<kVRunBytes> < kAlignOf<kBytes> ? kAlignOf<kVRunBytes> : kAlignOf<kBytes>;
    constexpr int kWords = (kBytes + 3) / 4;
    constexpr int kRow = TileGeometry::kRawRowBytes;
    u32 r0[kWords], r1[kWords], r8[kWords], r9[kWords];
    const u32 at = run + j0 * kElemBytes;
    load_shared_words<kBytes, kAlign>(r0, at);
    load_shared_words<kBytes, kAlign>(r1, at + kRow);
    load_shared_words<kBytes, kAlign>(r8, at + 8 * kRow);
    load_shared_words<kBytes, kAlign>(r9, at + 9 * kRow);
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
      u32 b[2];
      if constexpr (kElemBytes == 1) {
        b[0] = KvDecoder::template pair<Elem>(r0[j / 4], r1[j / 4], j % 4, 4 + j % 4);
        b[1] = KvDecoder::template pair<Elem>(r8[j / 4], r9[j / 4], j % 4, 4 + j % 4);
      } else {
        b[0] = KvDecoder::template pair<Elem>(r0[j], r1[j], 0, 0);
        b[1] = KvDecoder::template pair<Elem>(r8[j], r9[j], 0, 0);
      }
      use(j, b);
    }
  }

  // Q's A operand for k-step kk of the 16 rows at `rows` (this lane's row g, dims as K).
  static __device__ __forceinline__ void q_step(u32 (&a)[4], u32 rows, int kk) {
    const u32 at = rows + ((threadIdx.x % 4) * (kHeadDim / 4) + 4 * kk) * 2;
    u32 lo[2], hi[2];
    load_shared_words<8, 8>(lo, at);
    load_shared_words<8, 8>(hi, at + 8 * TileGeometry::kRowBytes);
    a[0] = lo[0], a[1] = hi[0], a[2] = lo[1], a[3] = hi[1];
  }
};

// S += Q K^T over k-steps [kk0, kk0 + kSteps) from a raw K tile; q_operand(a, mt, kk)
// gives Q's A operand.
template <int kSteps, typename QOperand>
__device__ __forceinline__ void raw_scores(float (&s)[kRowTiles][TileGeometry::kScoreTiles][4],
                                           QOperand q_operand, u32 k_tile, int kk0) {
  const int lane = threadIdx.x % 32;
  u32 a[kRowTiles][kSteps][4];
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
    for (int i = 0; i < kSteps; ++i) q_operand(a[mt][i], mt, kk0 + i);
#pragma unroll
  for (int t = 0; t < TileGeometry::kScoreTiles; ++t) {
    const u32 run = k_tile + (t * 8 + lane / 4) * TileGeometry::kRawRowBytes +
                    (lane % 4) * RawOperands::kKRunBytes;
    RawOperands::k_steps<kSteps>(run, kk0, [&](int i, const u32* b) {
#pragma unroll
      for (int mt = 0; mt < kRowTiles; ++mt) Elem::mma(s[mt][t], a[mt][i], b);
    });
  }
}

// O += P V for n-tiles [j0, j0 + kTiles) of one 16-key step of a raw V tile.
template <int kTiles>
__device__ __forceinline__ void raw_values(float (&o)[kRowTiles][TileGeometry::kOutTiles][4],
                                           const u32 (&p)[kRowTiles][4], u32 run, int j0) {
  RawOperands::v_tiles<kTiles>(run, j0, [&](int j, const u32* b) {
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt) Elem::mma(o[mt][j0 + j], p[mt], b);
  });
}

// Calls fn(dim, a, b) for each pair of adjacent head dims (dim, dim + 1) this lane holds
// of accumulator row half r (row lane / 4 + 8 r of a 16-row tile): output column c of
// 16x8 tile j is dim 8 j + c, or c d/8 + j with raw K/V operands (RawOperands).
template <typename Fn>
__device__ __forceinline__ void for_each_output_pair(const float (&o)[TileGeometry::kOutTiles][4],
                                                     int r, Fn fn) {
  const int t = threadIdx.x % 4;
  if constexpr (TileGeometry::kKvRaw) {
#pragma unroll
    for (int j = 0; j < TileGeometry::kOutTiles; j += 2)
#pragma unroll
      for (int c = 0; c < 2; ++c)
        fn((2 * t + c) * (kHeadDim / 8) + j, o[j][2 * r + c], o[j + 1][2 * r + c]);
  } else {
#pragma unroll
    for (int j = 0; j < TileGeometry::kOutTiles; ++j) fn(j * 8 + 2 * t, o[j][2 * r], o[j][2 * r + 1]);
  }
}

// Calls fn(mt, r, row) for each accumulator row this lane holds (row half r of row
// tile mt: block row `row`) that is one of the block's valid rows.
template <typename Fn>
__device__ __forceinline__ void for_each_valid_row(int warp_row0, int rows_valid, Fn fn) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = warp_row0 + mt * 16 + lane / 4 + r * 8;
      if (row < rows_valid) fn(mt, r, row);
    }
  }
}

struct AttendOptions {
  float softmax_scale;       // applied to q.k
  float softmax_scale_log2;  // softmax_scale * log2(e)
  float out_multiplier;      // applied to the normalized output (V descale * fp8 out scale)
  // A piece of a KV range that a merge completes (paged_stream.cuh): when set, rows go
  // to partial_rows (f32, row r at r * kHeadDim) and their LSEs to partial_lse[r],
  // normalized by their own sum, without the sink, scaled by partial_multiplier.
  float* partial_rows;
  float* partial_lse;
  float partial_multiplier;
  const int* ranges;         // this sequence's bidirectional ranges (kHasRanges)
  int range_count;
  int seq;
  KvTiles tiles;             // the tiles this block visits: visible ones, or a share of them
  int* debug_tile_counts;
};

// ---- the steps of one KV tile on a warp's m16n8k16 fragments ---------------------------
// A lane's accumulator values: value e of 16x8 tile t of row tile mt sits in row
// warp_row0 + mt * 16 + lane / 4 + 8 (e / 2), column t * 8 + 2 (lane % 4) + e % 2 (a
// key of the tile for scores; a head dim for outputs, or the map of for_each_output_pair
// with raw K/V operands). Each row is held by the four lanes of one quad.
typedef float Scores[kRowTiles][TileGeometry::kScoreTiles][4];
typedef float Outputs[kRowTiles][TileGeometry::kOutTiles][4];

// The hooks' state of one query row, made once before the loop: the row's `input`
// elements (VariantHooks::bind) and its score-transform constants.
template <typename Transform>
struct RowHooks {
  AttnjitBoundInputs bound;
  typename Transform::Row transform;
  RangeKeys ranged{0, 0};  // keys_sharing_a_range() of the row (kHasRanges)
};

// S = the transform's start value of each key (zero unless a key bias is folded into the
// accumulators; templates/common/score_transforms.cuh); kv_first_f is this lane's
// first key of the tile.
template <typename Transform>
__device__ __forceinline__ void start_scores(Scores& s, const Transform& xf, float kv_first_f) {
#pragma unroll
  for (int t = 0; t < TileGeometry::kScoreTiles; ++t) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const float init = xf.start(kv_first_f + static_cast<float>(t * 8 + c));
#pragma unroll
      for (int mt = 0; mt < kRowTiles; ++mt) s[mt][t][c] = s[mt][t][2 + c] = init;
    }
  }
}

// S += Q K^T for this warp's rows and the tile's kBlockN keys. Each K fragment read
// from shared memory feeds kRowTiles MMAs. q_operand(a, mt, kk) gives Q's A operand.
template <typename QOperand>
__device__ __forceinline__ void add_qk(Scores& s, QOperand q_operand, u32 k_tile, u32 k_frag_offset) {
  using G = TileGeometry;
  const int lane = threadIdx.x % 32;
  if constexpr (G::kKvRaw) {
    // Four k-steps at a time: one 16-byte load per K row and chunk for fp8.
#pragma unroll
    for (int c = 0; c < G::kDimSteps / 4; ++c) raw_scores<4>(s, q_operand, k_tile, 4 * c);
    if constexpr (G::kDimSteps % 4 != 0)
      raw_scores<G::kDimSteps % 4>(s, q_operand, k_tile, G::kDimSteps / 4 * 4);
    if constexpr (kPerTokenHeadScales) {  // each key's K scale multiplies its column
#pragma unroll
      for (int t = 0; t < G::kScoreTiles; ++t) {
        u32 w[2];
        load_shared_words<8, 8>(w, k_tile + G::kRawTileBytes + (t * 8 + (lane % 4) * 2) * 4);
#pragma unroll
        for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
          for (int e = 0; e < 4; ++e) s[mt][t][e] *= __uint_as_float(w[e % 2]);
      }
    }
  } else {
#pragma unroll
    for (int kk = 0; kk < G::kDimSteps; ++kk) {
      u32 a[kRowTiles][4];
#pragma unroll
      for (int mt = 0; mt < kRowTiles; ++mt) q_operand(a[mt], mt, kk);
#pragma unroll
      for (int nn = 0; nn < G::kScoreTiles / 2; ++nn) {
        u32 b[4];
        ldmatrix_x4(b, k_tile + k_frag_offset + nn * 16 * G::kRowBytes + kk * 32);
#pragma unroll
        for (int mt = 0; mt < kRowTiles; ++mt) {
          Elem::mma(s[mt][2 * nn], a[mt], b);
          Elem::mma(s[mt][2 * nn + 1], a[mt], b + 2);
        }
      }
    }
  }
}

// hooks(S): the variant's score transform, then, unless the tile is full, the mask
// (templates/common/key_mask.cuh), as two branch-free passes: the transform of each
// score can then start as soon as its MMA result is ready. position(mt, t, e) makes
// the Position of score e of tile t in row tile mt (recomputed per use, which is cheap,
// rather than held in registers, which the accumulators need).
template <typename Transform, typename PositionOf>
__device__ __forceinline__ void apply_score_hooks(Scores& s, const Transform& xf,
                                                  const RowHooks<Transform> (&hooks)[kRowTiles][2],
                                                  const AttnjitVariantArgs& args, const AttendOptions& opt,
                                                  bool widened_by_range, float kv_first_f, bool full_tile,
                                                  PositionOf position) {
  using G = TileGeometry;
  typename Transform::TileRow tile_row[kRowTiles][2];
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r)
      tile_row[mt][r] = xf.tile_row(hooks[mt][r].transform, kv_first_f, position(mt, 0, 2 * r).q_pos_f);
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
    for (int t = 0; t < G::kScoreTiles; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        s[mt][t][e] = xf.apply(s[mt][t][e], hooks[mt][e / 2].transform, tile_row[mt][e / 2],
                               static_cast<float>(t * 8 + (e % 2)), args, hooks[mt][e / 2].bound,
                               [&] { return position(mt, t, e); });
  if (!full_tile) {
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
      for (int t = 0; t < G::kScoreTiles; ++t)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          mask_score(s[mt][t][e], position(mt, t, e), args, hooks[mt][e / 2].bound, widened_by_range,
                     hooks[mt][e / 2].ranged);
  }
}

// The online-softmax update (templates/common/online_softmax.cuh) of each row this lane
// holds: the row's tile max over its quad, the rescale of what was accumulated, then S
// becomes P (times 2^kProbLog2).
template <int kProbLog2>
__device__ __forceinline__ void update_softmax(Scores& s, Outputs& o, SoftmaxRow (&softmax)[kRowTiles][2],
                                               float exp2_scale) {
  using G = TileGeometry;
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = softmax[mt][r].max;
#pragma unroll
      for (int t = 0; t < G::kScoreTiles; ++t)
        tile_max = fmaxf(tile_max, fmaxf(s[mt][t][2 * r], s[mt][t][2 * r + 1]));
      const SoftmaxRow::Step step = softmax[mt][r].rescale(quad_max(tile_max), exp2_scale, kProbLog2);
#pragma unroll
      for (int d = 0; d < G::kOutTiles; ++d) {
        o[mt][d][2 * r] *= step.alpha;
        o[mt][d][2 * r + 1] *= step.alpha;
      }
#pragma unroll
      for (int t = 0; t < G::kScoreTiles; ++t)
#pragma unroll
        for (int e = 2 * r; e < 2 * r + 2; ++e) s[mt][t][e] = softmax[mt][r].prob(s[mt][t][e], exp2_scale, step);
    }
  }
}

// O += P V. The score accumulators of two adjacent 16x8 tiles are exactly the A
// fragment of one 16x16 step, so P never leaves registers. With per-token scales, each
// key's V scale (raised by 2^kVScaleLog2) multiplies its column of P (the denominator
// has summed P already).
template <int kVScaleLog2>
__device__ __forceinline__ void add_pv(Outputs& o, const Scores& s, u32 v_tile, u32 v_frag_offset) {
  using G = TileGeometry;
  const int lane = threadIdx.x % 32;
  float v_scale[G::kScoreTiles][2];
#pragma unroll
  for (int t = 0; t < G::kScoreTiles; ++t) {
    v_scale[t][0] = v_scale[t][1] = 1.f;
    if constexpr (G::kKvRaw && kPerTokenHeadScales) {
      u32 w[2];
      load_shared_words<8, 8>(w, v_tile + G::kRawTileBytes + (t * 8 + (lane % 4) * 2) * 4);
      v_scale[t][0] = __uint_as_float(w[0]) * pow2(kVScaleLog2);
      v_scale[t][1] = __uint_as_float(w[1]) * pow2(kVScaleLog2);
    }
  }
#pragma unroll
  for (int kk = 0; kk < G::kKvSteps; ++kk) {
    u32 a[kRowTiles][4];
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {  // score tiles 2 kk and 2 kk + 1
        const float* p = s[mt][2 * kk + h];
        const float* vs = v_scale[2 * kk + h];
        a[mt][2 * h] = Elem::pack2(p[0] * vs[0], p[1] * vs[1]);
        a[mt][2 * h + 1] = Elem::pack2(p[2] * vs[0], p[3] * vs[1]);
      }
    }
    if constexpr (G::kKvRaw) {
      // Rows 2t, 2t+1, 2t+8, 2t+9 of the step, 16 bytes of each at a time.
      using R = RawOperands;
      const u32 run = v_tile + (kk * 16 + (lane % 4) * 2) * G::kRawRowBytes + (lane / 4) * R::kVRunBytes;
      constexpr int kPieces = R::kVRunElems / R::kPieceElems, kTail = R::kVRunElems % R::kPieceElems;
#pragma unroll
      for (int i = 0; i < kPieces; ++i) raw_values<R::kPieceElems>(o, a, run, i * R::kPieceElems);
      if constexpr (kTail != 0) raw_values<kTail>(o, a, run, kPieces * R::kPieceElems);
    } else {
#pragma unroll
      for (int dd = 0; dd < G::kOutTiles / 2; ++dd) {
        u32 b[4];
        ldmatrix_x4_trans(b, v_tile + v_frag_offset + kk * 16 * G::kRowBytes + dd * 32);
#pragma unroll
        for (int mt = 0; mt < kRowTiles; ++mt) {
          Elem::mma(o[mt][2 * dd], a[mt], b);
          Elem::mma(o[mt][2 * dd + 1], a[mt], b + 2);
        }
      }
    }
  }
}

// ---- combining the warps of a decode block (TileGeometry::kWarpsSplitKv) -------------
// Each warp holds the same 16 rows over its own share of the KV tiles. The partial
// results meet in shared memory (the K/V buffers are free once every thread has
// drained its copies: TileGeometry::kWarpPartFloats per warp); warp 0 then finishes
// the rows.
__device__ __forceinline__ void share_warp_rows(unsigned char* shared,
                                                const float (&o)[TileGeometry::kOutTiles][4],
                                                const RowTotals (&totals)[2], int warp, int lane) {
  using G = TileGeometry;
  block_barrier();
  float* mine = reinterpret_cast<float*>(shared + G::kQBytes) + warp * G::kWarpPartFloats;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = lane / 4 + 8 * r;
    if (lane % 4 == 0) {
      mine[16 * kHeadDim + row] = totals[r].max_log2;
      mine[16 * kHeadDim + 16 + row] = totals[r].sum;
    }
#pragma unroll
    for (int d = 0; d < G::kOutTiles; ++d) {
      mine[row * kHeadDim + d * 8 + (lane % 4) * 2] = o[d][2 * r];
      mine[row * kHeadDim + d * 8 + (lane % 4) * 2 + 1] = o[d][2 * r + 1];
    }
  }
  block_barrier();
}

// Warp 0: the block's rows from every warp's part, weighted by 2^(its max - the top).
__device__ __forceinline__ void combine_warp_rows(const unsigned char* shared,
                                                  float (&o)[TileGeometry::kOutTiles][4],
                                                  RowTotals (&totals)[2], int lane) {
  using G = TileGeometry;
  const float* scratch = reinterpret_cast<const float*>(shared + G::kQBytes);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = lane / 4 + 8 * r;
    float top = neg_inf();
    for (int w = 0; w < kWarps; ++w) top = fmaxf(top, scratch[w * G::kWarpPartFloats + 16 * kHeadDim + row]);
    const float shift = top == neg_inf() ? 0.f : top;
    float total = 0.f;
#pragma unroll
    for (int d = 0; d < G::kOutTiles; ++d) o[d][2 * r] = o[d][2 * r + 1] = 0.f;
    for (int w = 0; w < kWarps; ++w) {
      const float* part = scratch + w * G::kWarpPartFloats;
      const float weight = fast_exp2(part[16 * kHeadDim + row] - shift);  // 0 if empty
      total += part[16 * kHeadDim + 16 + row] * weight;
#pragma unroll
      for (int d = 0; d < G::kOutTiles; ++d) {
        o[d][2 * r] += part[row * kHeadDim + d * 8 + (lane % 4) * 2] * weight;
        o[d][2 * r + 1] += part[row * kHeadDim + d * 8 + (lane % 4) * 2 + 1] * weight;
      }
    }
    totals[r] = {top, total};
  }
}

// Row half r of a 16-row output tile as the epilogues take a row
// (templates/common/epilogue.cuh): hands fn each pair this lane holds.
struct OutputPairs {
  const float (&o)[TileGeometry::kOutTiles][4];
  int r;
  template <typename Fn>
  __device__ __forceinline__ void operator()(Fn fn) const { for_each_output_pair(o, r, fn); }
};

template <typename Rows, typename Keys>
__device__ __forceinline__ void attend(unsigned char* shared, const Rows& rows, const Keys& keys,
                                       const AttnjitVariantArgs& args, const AttendOptions& opt) {
  using G = TileGeometry;
  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;

  const KvTiles range = opt.tiles;
  const int n_begin = range.begin, n_end = range.end;
  int full_tiles = 0, visited_tiles = 0;  // counted for debug_tile_counts only

  // The threads that load and consume one K/V pipeline: the whole block, or one warp
  // when the warps split the KV tiles.
  const int group = G::kWarpsSplitKv ? warp : 0;
  const int gtid = G::kWarpsSplitKv ? lane : tid;
  auto group_sync = [&] {
    if constexpr (G::kWarpsSplitKv) warp_barrier();
    else block_barrier();
  };

  // This group's buffers: kStages K buffers, then kStages V buffers.
  const u32 q_smem = shared_address(shared);
  const u32 k_smem = q_smem + G::kQBytes + group * G::kGroupBytes;
  const u32 v_smem = k_smem + kStages * G::kKvBufferBytes;

  // Raw K/V: rows as stored by cp.async (16 bytes at a time, zero-filled past the end)
  // and, with per-token scales, each row's scale (zero past the end).
  auto load_raw_tile = [&](u32 dst, int first, int rows_valid, bool is_k) {
    constexpr int kChunksPerRow = kHeadDim * static_cast<int>(sizeof(KvStorage)) / 16;
    constexpr int kChunks = kBlockN * kChunksPerRow;
    const auto tile_rows = is_k ? keys.k_tile(first) : keys.v_tile(first);
#pragma unroll
    for (int i = 0; i < (kChunks + G::kGroupThreads - 1) / G::kGroupThreads; ++i) {
      const int chunk = gtid + i * G::kGroupThreads;
      if (kChunks % G::kGroupThreads == 0 || chunk < kChunks) {
        const int row = chunk / kChunksPerRow, col = chunk % kChunksPerRow;
        const bool valid = row < rows_valid;
        const unsigned char* from =
            reinterpret_cast<const unsigned char*>(tile_rows(valid ? row : 0)) + col * 16;
        copy16_async(dst + row * G::kRawRowBytes + col * 16, from, valid);
      }
    }
    if constexpr (kPerTokenHeadScales) {
      const auto scale_rows = is_k ? keys.k_scale_tile(first) : keys.v_scale_tile(first);
#pragma unroll
      for (int row = gtid; row < kBlockN; row += G::kGroupThreads) {
        const bool valid = row < rows_valid;
        copy4_async(dst + G::kRawTileBytes + row * 4, scale_rows(valid ? row : 0), valid);
      }
    }
  };

  auto load_kv_tile = [&](int n, int stage) {
    const int first = n * kBlockN;
    const int rows_valid = min(kBlockN, keys.kv_len - first);
    if constexpr (G::kKvRaw) {
      load_raw_tile(k_smem + stage * G::kKvBufferBytes, first, rows_valid, true);
      load_raw_tile(v_smem + stage * G::kKvBufferBytes, first, rows_valid, false);
    } else {
      // The keys' tile addressers compute a tile's base once, not per 16-byte chunk.
      const auto k_rows = keys.k_tile(first);
      const auto v_rows = keys.v_tile(first);
      load_tile<kBlockN, KvDecoder, G::kGroupThreads>(
          k_smem + stage * G::kKvBufferBytes, gtid, k_rows(0),
          [&](int r) { return r < rows_valid ? k_rows(r) : nullptr; });
      load_tile<kBlockN, KvDecoder, G::kGroupThreads>(
          v_smem + stage * G::kKvBufferBytes, gtid, v_rows(0),
          [&](int r) { return r < rows_valid ? v_rows(r) : nullptr; });
    }
  };

  load_tile<kBlockM, InputDecoder, G::kThreads>(
      q_smem, tid, rows.q_row(0),
      [&](int r) { return r < rows.rows_valid ? rows.q_row(r) : nullptr; });
  async_commit();
  // This pipeline's tiles: n_begin + group, then every kGroups-th.
  const int n_first = n_begin + group;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (n_first + s * G::kGroups < n_end) load_kv_tile(n_first + s * G::kGroups, s);
    async_commit();  // empty groups keep the wait counts below uniform
  }
  async_wait<kStages - 1>();  // the Q group
  block_barrier();

  // Fragment addressing. ldmatrix.x4: lane L gives the row address of 8x8 matrix L/8.
  // First query row of this warp in the tile (every warp has rows 0-15 when the warps
  // split the KV tiles).
  const int warp_row0 = G::kWarpsSplitKv ? 0 : warp * G::kWarpRows;
  const u32 q_frag_addr = q_smem + (warp_row0 + lane % 16) * G::kRowBytes + (lane / 16) * 16;
  const u32 k_frag_offset = ((lane / 16) * 8 + lane % 8) * G::kRowBytes + ((lane / 8) % 2) * 16;
  const u32 v_frag_offset = (((lane / 8) % 2) * 8 + lane % 8) * G::kRowBytes + (lane / 16) * 16;

  // Raw K/V decoders may leave operands scaled by 2^kKvScaleLog2 (2^-120 for fp8 e4m3
  // read as bf16). Products that small would fall below f32's normal range inside the
  // MMA, so Q and P are first scaled up by 2^kOperandLog2 (exact; far from bf16's
  // ceiling for p <= 1 and any realistic q). Scores and outputs then carry
  // 2^kProductLog2, which the softmax scale and the output multiplier take back.
  constexpr int kKvScaleLog2 = KvDecoder::template kScaleLog2<Elem>;
  constexpr int kOperandLog2 = kKvScaleLog2 < -64 ? 100 : 0;
  constexpr int kProductLog2 = kKvScaleLog2 + kOperandLog2;
  const u32 operand_scale = static_cast<u32>((kOperandLog2 + Elem::kExponentBias) << Elem::kMantissaBits) * 0x10001u;
  // A per-token V scale is about amax / (largest code): 5e-5 for e5m2, so P times it
  // would fall among fp16's subnormals and lose bits before the MMA. The scales are
  // raised by about the largest code (exact, a power of two), which keeps P * scale near
  // P * amax like an unquantized value, and the output multiplier takes it back.
  constexpr int kVScaleLog2 = kPerTokenHeadScales ? KvDecoder::kLargestCodeLog2 : 0;
  const float product_unscale = pow2(-kProductLog2);
  const float softmax_scale = opt.softmax_scale * product_unscale;
  const float softmax_scale_log2 = opt.softmax_scale_log2 * product_unscale;

  // Q's A operand for k-step kk of row tile mt.
  auto q_step = [&](u32(&a)[4], int mt, int kk) {
    if constexpr (G::kKvRaw) {
      RawOperands::q_step(a, q_smem + (warp_row0 + mt * 16 + lane / 4) * G::kRowBytes, kk);
      if constexpr (kOperandLog2 != 0) {
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] = Elem::mul2(a[i], operand_scale);
      }
    } else {
      ldmatrix_x4(a, q_frag_addr + mt * 16 * G::kRowBytes + kk * 32);
    }
  };
  u32 q_frag[G::kQInRegisters ? kRowTiles * G::kDimSteps : 1][4];
  if constexpr (G::kQInRegisters) {
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
      for (int kk = 0; kk < G::kDimSteps; ++kk) q_step(q_frag[mt * G::kDimSteps + kk], mt, kk);
  }
  auto q_operand = [&](u32(&a)[4], int mt, int kk) {
    if constexpr (G::kQInRegisters) {
#pragma unroll
      for (int e = 0; e < 4; ++e) a[e] = q_frag[G::kQInRegisters ? mt * G::kDimSteps + kk : 0][e];
    } else {
      q_step(a, mt, kk);
    }
  };

  // The rows this lane holds: tile row warp_row0 + mt * 16 + lane / 4 + 8 * r. Their
  // positions and heads are recomputed where needed (cheap) rather than held in
  // registers, which the accumulators need.
  auto my_row = [&](int mt, int r) { return warp_row0 + mt * 16 + lane / 4 + 8 * r; };

  // The variant's score transform (rendered by codegen after VariantHooks). A bias
  // that depends on the key alone may start the score accumulators when every row has
  // the same query head and per-token K scales do not multiply the scores after the MMA.
  using Transform = ScoreTransform<Rows::kOneHead && !(G::kKvRaw && kPerTokenHeadScales)>;
  Outputs o;
  SoftmaxRow softmax[kRowTiles][2];
  RowHooks<Transform> hooks[kRowTiles][2];
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int d = 0; d < G::kOutTiles; ++d) o[mt][d][0] = o[mt][d][1] = o[mt][d][2] = o[mt][d][3] = 0.f;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      softmax[mt][r] = SoftmaxRow::start();
      const int q_head = rows.q_head(my_row(mt, r));
      VariantHooks::bind(hooks[mt][r].bound, args, q_head, q_head / kGroupSize, opt.seq);
      if constexpr (kHasRanges)
        hooks[mt][r].ranged = keys_sharing_a_range(opt.ranges, opt.range_count, rows.q_pos(my_row(mt, r)));
    }
  }
  const Transform xf(args, hooks[0][0].bound, softmax_scale, softmax_scale_log2,
                     static_cast<float>(rows.q_pos_first));
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) hooks[mt][r].transform = xf.row(args, hooks[mt][r].bound);

  for (int n = n_first, it = 0; n < n_end; n += G::kGroups, ++it) {
    async_wait<kStages - 2>();  // tile n has landed ...
    group_sync();               // ... for every loader, and the previous tile's buffer is free
    const int ahead = n + (kStages - 1) * G::kGroups;
    if (ahead < n_end) load_kv_tile(ahead, (it + kStages - 1) % kStages);
    async_commit();
    ++visited_tiles;

    const int stage = it % kStages;
    const u32 k_tile = k_smem + stage * G::kKvBufferBytes;
    const u32 v_tile = v_smem + stage * G::kKvBufferBytes;
    const int kv_first = n * kBlockN;
    const float kv_first_f = static_cast<float>(kv_first + (lane % 4) * 2);  // this lane's first key
    auto position = [&](int mt, int t, int e) {
      Position at;
      at.q_pos = rows.q_pos(my_row(mt, e / 2));
      at.kv_pos = kv_first + t * 8 + (lane % 4) * 2 + (e % 2);
      at.q_pos_f = static_cast<float>(at.q_pos);  // per row: hoisted out of t and e
      at.kv_pos_f = kv_first_f + static_cast<float>(t * 8 + (e % 2));
      at.q_head = rows.q_head(my_row(mt, e / 2));
      at.kv_head = at.q_head / kGroupSize;
      at.seq = opt.seq;
      at.q_len = rows.q_len;
      at.kv_len = keys.kv_len;
      return at;
    };

    Scores s;
    start_scores(s, xf, kv_first_f);
    add_qk(s, q_operand, k_tile, k_frag_offset);  // S += Q K^T
    // Written out here rather than called (tile_is_full(), key_mask.cuh, states the same
    // test): as a call, NVVM folds the test into selects, which costs the ranges and
    // general-score kernels 40-56 bytes of spills on sm_80.
    const bool full_tile =
        VariantHooks::kBandIsExact && !range.widened_by_range && kv_first + kBlockN <= keys.kv_len &&
        (!VariantHooks::kHasUpperBand ||
         kv_first + kBlockN - 1 <= static_cast<long long>(rows.q_pos_first) + VariantHooks::kUpperOffset) &&
        (!VariantHooks::kHasLowerBand ||
         kv_first >= static_cast<long long>(rows.q_pos_last) + VariantHooks::kLowerOffset);
    full_tiles += full_tile;
    apply_score_hooks(s, xf, hooks, args, opt, range.widened_by_range, kv_first_f, full_tile, position);
    update_softmax<kOperandLog2>(s, o, softmax, xf.exp2_scale);  // S becomes P
    add_pv<kVScaleLog2>(o, s, v_tile, v_frag_offset);            // O += P V
  }
  async_wait<0>();

  if (opt.debug_tile_counts != nullptr && gtid == 0) {
    atomicAdd(opt.debug_tile_counts, visited_tiles);
    atomicAdd(opt.debug_tile_counts + 1, full_tiles);
  }

  // Epilogue: each row's max and denominator (the warps' parts combined when they
  // split the KV tiles), normalized (folding in the sink logit, which joins the
  // denominator but has no value row), then the rows written out.
  RowTotals totals[kRowTiles][2];
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      totals[mt][r] = softmax[mt][r].totals(quad_sum(softmax[mt][r].sum), xf.exp2_scale, kOperandLog2);
      totals[mt][r].max_log2 = xf.row_max_log2(totals[mt][r].max_log2, hooks[mt][r].transform,
                                               static_cast<float>(rows.q_pos(my_row(mt, r))));
    }
  }
  if constexpr (G::kWarpsSplitKv) {
    share_warp_rows(shared, o[0], totals[0], warp, lane);
    if (warp != 0) return;
    combine_warp_rows(shared, o[0], totals[0], lane);
  }

  const bool partial = opt.partial_rows != nullptr;
  const float out_multiplier =
      (partial ? opt.partial_multiplier : opt.out_multiplier) * product_unscale * pow2(-kVScaleLog2);
  RowNormalization norm[kRowTiles][2];
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (kHasSinks && !partial)
        norm[mt][r] = normalize_row_with_sink(totals[mt][r], args.sinks[rows.q_head(my_row(mt, r))], out_multiplier);
      else
        norm[mt][r] = normalize_row(totals[mt][r], out_multiplier);
    }
  }
  if (partial) {
    for_each_valid_row(warp_row0, rows.rows_valid, [&](int mt, int r, int row) {
      write_partial_row(opt.partial_rows + row * kHeadDim, norm[mt][r].out_scale, OutputPairs{o[mt], r});
      if (lane % 4 == 0) opt.partial_lse[row] = norm[mt][r].lse;
    });
    return;
  }
  if constexpr (kOutputDirect) {
    // Pairs straight from the accumulators: f32 rows would not fit the 16-bit staging
    // rows, and fp8 pairs are encoded as they are stored.
    for_each_valid_row(warp_row0, rows.rows_valid, [&](int mt, int r, int row) {
      write_output_row(rows.out_row(row), norm[mt][r].out_scale, OutputPairs{o[mt], r});
    });
  } else {
    // Staged through the warp's own Q rows of shared memory, no longer needed.
    warp_barrier();
    unsigned char* staging = shared + warp_row0 * G::kRowBytes;
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
      for (int r = 0; r < 2; ++r)
        stage_output_row<OutElem>(staging + (mt * 16 + lane / 4 + r * 8) * G::kRowBytes, norm[mt][r].out_scale,
                                  OutputPairs{o[mt], r});
    warp_barrier();
    copy_staged_rows<G::kWarpRows, G::kRowBytes, 32>(staging, rows, warp_row0, lane);
  }
  if (kWriteLse && lane % 4 == 0)
    for_each_valid_row(warp_row0, rows.rows_valid,
                       [&](int mt, int r, int row) { *rows.lse_at(row) = norm[mt][r].lse; });
}

}  // namespace attnjit
