// Flash-attention forward (prefill kind): online softmax over KV tiles on tensor cores.
//
// Codegen defines, before this file (after templates/kernels/position.h): the element
// types `Elem` (q/k/v) and `OutElem`, the tile constants kHeadDim kBlockM kBlockN kWarps
// kStages kRowTiles, kGroupSize (query heads per KV head), kWriteLse, the struct
// `VariantHooks` (score transform, mask, and the KV band derived from the mask) and the
// entry symbol ATTNJIT_ENTRY. The kernel never knows which variant it runs: it only
// calls the hooks.
//
// Work split: one thread block per (query tile of kBlockM rows, query head, sequence);
// each warp owns 16 * kRowTiles query rows for the whole loop, so the softmax
// statistics of a row never leave the four lanes (one quad) holding it. With two row
// tiles per warp every K/V fragment read from shared memory feeds two MMAs, halving
// shared-memory traffic per FLOP. K and V tiles stream through a
// kStages-deep cp.async ring in shared memory and are shared by all warps.

namespace attnjit {

struct PrefillGeometry {
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kWarpRows = 16 * kRowTiles;  // query rows owned by one warp
  // Rows are padded by 16 bytes so the 8 row addresses of one ldmatrix fall in 8
  // different bank groups; this works for every head_dim that is a multiple of 16,
  // where an XOR swizzle would need a power-of-two row length.
  static constexpr int kRowBytes = (kHeadDim + 8) * 2;
  static constexpr int kChunksPerRow = kHeadDim / 8;  // 16-byte chunks in one row
  static constexpr int kQBytes = kBlockM * kRowBytes;
  static constexpr int kKvTileBytes = kBlockN * kRowBytes;
  static constexpr int kSharedBytes = kQBytes + 2 * kStages * kKvTileBytes;
  static constexpr int kDimSteps = kHeadDim / 16;  // k-steps of S = Q K^T
  static constexpr int kKvSteps = kBlockN / 16;    // k-steps of O += P V
  static constexpr int kScoreTiles = kBlockN / 8;  // 16x8 score tiles per warp
  static constexpr int kOutTiles = kHeadDim / 8;   // 16x8 output tiles per warp
  // Up to 128 values per row a warp keeps its Q fragments in registers for the whole
  // loop; above that they would crowd out the output accumulators, so Q is re-read
  // from shared memory each tile (a small fraction of the K/V shared-memory traffic).
  static constexpr bool kQInRegisters = kHeadDim * kRowTiles <= 128;
};

static_assert(kHeadDim % 16 == 0, "head_dim must be a multiple of 16");
static_assert(kRowTiles == 1 || kRowTiles == 2, "a warp owns 16 or 32 query rows");
static_assert(kBlockM == 16 * kRowTiles * kWarps, "BLOCK_M = 16 * row tiles * warps");
static_assert(kBlockN % 16 == 0, "BLOCK_N must be a multiple of 16");
static_assert(kStages >= 2, "the K/V pipeline needs at least two stages");

// Issues cp.async copies of `rows_valid` rows (zero-filling up to Rows) of a
// [Rows, kHeadDim] tile whose rows are `row_stride` elements apart in global memory.
template <int Rows>
__device__ __forceinline__ void load_tile_async(u32 dst, const u16* src, long long row_stride,
                                                int rows_valid, int tid) {
  using G = PrefillGeometry;
  constexpr int kChunks = Rows * G::kChunksPerRow;
  constexpr int kPerThread = (kChunks + G::kThreads - 1) / G::kThreads;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int chunk = tid + i * G::kThreads;
    if (kChunks % G::kThreads == 0 || chunk < kChunks) {
      const int row = chunk / G::kChunksPerRow;
      const int col = chunk % G::kChunksPerRow;
      const bool valid = row < rows_valid;
      const u16* from = valid ? src + row * row_stride + col * 8 : src;
      copy16_async(dst + row * G::kRowBytes + col * 16, from, valid);
    }
  }
}

// Where one sequence's rows start and how long it is.
struct SequenceView {
  const u16* q;
  const u16* k;
  const u16* v;
  u16* out;
  float* lse;
  int q_len;
  int kv_len;
};

__device__ __forceinline__ SequenceView locate_sequence(const AttnjitPrefillParams& p, int seq,
                                                        int head, int kv_head) {
  SequenceView s;
  long long q_off, k_off, v_off, o_off, lse_off;
  if (p.cu_seqlens_q != nullptr) {
    const int q_start = p.cu_seqlens_q[seq];
    const int k_start = p.cu_seqlens_k[seq];
    s.q_len = p.cu_seqlens_q[seq + 1] - q_start;
    s.kv_len = p.cu_seqlens_k[seq + 1] - k_start;
    q_off = q_start * p.q_row_stride;
    k_off = k_start * p.k_row_stride;
    v_off = k_start * p.v_row_stride;
    o_off = q_start * p.o_row_stride;
    lse_off = q_start * p.lse_row_stride;
  } else {
    s.q_len = p.seqlen_q;
    s.kv_len = p.seqlen_k;
    q_off = seq * p.q_batch_stride;
    k_off = seq * p.k_batch_stride;
    v_off = seq * p.v_batch_stride;
    o_off = seq * p.o_batch_stride;
    lse_off = seq * p.lse_batch_stride;
  }
  s.q = static_cast<const u16*>(p.q) + q_off + head * p.q_head_stride;
  s.k = static_cast<const u16*>(p.k) + k_off + kv_head * p.k_head_stride;
  s.v = static_cast<const u16*>(p.v) + v_off + kv_head * p.v_head_stride;
  s.out = static_cast<u16*>(p.out) + o_off + head * p.o_head_stride;
  s.lse = p.lse != nullptr ? p.lse + lse_off + head * p.lse_head_stride : nullptr;
  return s;
}

}  // namespace attnjit

extern "C" __global__ void __launch_bounds__(attnjit::PrefillGeometry::kThreads)
    ATTNJIT_ENTRY(const AttnjitPrefillParams p) {
  using namespace attnjit;
  using G = PrefillGeometry;
  extern __shared__ __align__(128) unsigned char shared[];

  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  // Under a causal mask later query tiles do more work; launching them first keeps
  // the tail of the grid short.
  const int m_block = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y;
  const int seq = blockIdx.z;
  const int kv_head = head / kGroupSize;

  const SequenceView sv = locate_sequence(p, seq, head, kv_head);
  const int m0 = m_block * kBlockM;
  if (m0 >= sv.q_len) return;
  const int rows_here = min(kBlockM, sv.q_len - m0);
  // Queries sit at the end of the sequence (FlashAttention's causal alignment).
  const int q_pos_shift = sv.kv_len - sv.q_len;
  const int q_pos_first = m0 + q_pos_shift;
  const int q_pos_last = m0 + rows_here - 1 + q_pos_shift;

  // The KV tiles this query tile can see, from the band the compiler derived.
  int kv_begin = 0, kv_end = sv.kv_len;
  if (VariantHooks::kHasLowerBand) kv_begin = max(0, q_pos_first + VariantHooks::kLowerOffset);
  if (VariantHooks::kHasUpperBand)
    kv_end = min(sv.kv_len, q_pos_last + VariantHooks::kUpperOffset + 1);
  const int n_begin = kv_begin / kBlockN;
  const int n_end = kv_end > kv_begin ? (kv_end + kBlockN - 1) / kBlockN : n_begin;

  const u32 q_smem = shared_address(shared);
  const u32 k_smem = q_smem + G::kQBytes;
  const u32 v_smem = k_smem + kStages * G::kKvTileBytes;

  auto load_kv_tile = [&](int n, int stage) {
    const int first = n * kBlockN;
    const int rows = min(kBlockN, sv.kv_len - first);
    load_tile_async<kBlockN>(k_smem + stage * G::kKvTileBytes, sv.k + first * p.k_row_stride,
                             p.k_row_stride, rows, tid);
    load_tile_async<kBlockN>(v_smem + stage * G::kKvTileBytes, sv.v + first * p.v_row_stride,
                             p.v_row_stride, rows, tid);
  };

  load_tile_async<kBlockM>(q_smem, sv.q + m0 * p.q_row_stride, p.q_row_stride, rows_here, tid);
  async_commit();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (n_begin + s < n_end) load_kv_tile(n_begin + s, s);
    async_commit();  // empty groups keep the wait counts below uniform
  }
  async_wait<kStages - 1>();  // the Q group
  block_barrier();

  // Fragment addressing. ldmatrix.x4: lane L gives the row address of 8x8 matrix L/8.
  const int warp_row0 = warp * G::kWarpRows;  // first query row of this warp in the tile
  const u32 q_frag_addr = q_smem + (warp_row0 + lane % 16) * G::kRowBytes + (lane / 16) * 16;
  const u32 k_frag_offset = ((lane / 16) * 8 + lane % 8) * G::kRowBytes + ((lane / 8) % 2) * 16;
  const u32 v_frag_offset = (((lane / 8) % 2) * 8 + lane % 8) * G::kRowBytes + (lane / 16) * 16;

  u32 q_frag[G::kQInRegisters ? kRowTiles * G::kDimSteps : 1][4];
  if constexpr (G::kQInRegisters) {
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
      for (int kk = 0; kk < G::kDimSteps; ++kk)
        ldmatrix_x4(q_frag[mt * G::kDimSteps + kk], q_frag_addr + mt * 16 * G::kRowBytes + kk * 32);
  }

  float o[kRowTiles][G::kOutTiles][4];
  float row_max[kRowTiles][2];  // running max of each row's logits (log2 domain if transformed)
  float row_sum[kRowTiles][2];  // this lane's part of each row's running denominator
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int d = 0; d < G::kOutTiles; ++d) o[mt][d][0] = o[mt][d][1] = o[mt][d][2] = o[mt][d][3] = 0.f;
    row_max[mt][0] = row_max[mt][1] = neg_inf();
    row_sum[mt][0] = row_sum[mt][1] = 0.f;
  }

  // With a score transform the logits are brought into the log2 domain explicitly;
  // otherwise the scale folds into one FMA inside exp2.
  const float exp2_scale = VariantHooks::kHasScoreTransform ? 1.f : p.softmax_scale_log2;

  for (int n = n_begin; n < n_end; ++n) {
    const int it = n - n_begin;
    async_wait<kStages - 2>();  // tile n has landed ...
    block_barrier();            // ... for every thread, and tile n-1's buffer is free
    if (n + kStages - 1 < n_end) load_kv_tile(n + kStages - 1, (it + kStages - 1) % kStages);
    async_commit();

    const int stage = it % kStages;
    const u32 k_tile = k_smem + stage * G::kKvTileBytes;
    const u32 v_tile = v_smem + stage * G::kKvTileBytes;

    // S = Q K^T for this warp's rows and the tile's kBlockN keys. Each K fragment
    // read from shared memory feeds kRowTiles MMAs.
    float s[kRowTiles][G::kScoreTiles][4];
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt)
#pragma unroll
      for (int t = 0; t < G::kScoreTiles; ++t) s[mt][t][0] = s[mt][t][1] = s[mt][t][2] = s[mt][t][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < G::kDimSteps; ++kk) {
      u32 a[kRowTiles][4];
#pragma unroll
      for (int mt = 0; mt < kRowTiles; ++mt) {
        if constexpr (G::kQInRegisters) {
#pragma unroll
          for (int i = 0; i < 4; ++i) a[mt][i] = q_frag[G::kQInRegisters ? mt * G::kDimSteps + kk : 0][i];
        } else {
          ldmatrix_x4(a[mt], q_frag_addr + mt * 16 * G::kRowBytes + kk * 32);
        }
      }
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

    // Score transform and mask. A tile wholly inside an exact band needs neither
    // sequence-end nor per-element checks.
    const int kv_first = n * kBlockN;
    const bool full_tile =
        VariantHooks::kBandIsExact && kv_first + kBlockN <= sv.kv_len &&
        (!VariantHooks::kHasUpperBand ||
         kv_first + kBlockN - 1 <= q_pos_first + VariantHooks::kUpperOffset) &&
        (!VariantHooks::kHasLowerBand || kv_first >= q_pos_last + VariantHooks::kLowerOffset);
    if (VariantHooks::kHasScoreTransform || !full_tile) {
#pragma unroll
      for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
        for (int t = 0; t < G::kScoreTiles; ++t) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            Position at;
            at.q_pos = m0 + warp_row0 + mt * 16 + lane / 4 + (e / 2) * 8 + q_pos_shift;
            at.kv_pos = kv_first + t * 8 + (lane % 4) * 2 + (e % 2);
            at.q_head = head;
            at.kv_head = kv_head;
            at.seq = seq;
            at.q_len = sv.q_len;
            at.kv_len = sv.kv_len;
            float x = s[mt][t][e];
            if (VariantHooks::kHasScoreTransform)
              x = VariantHooks::score(x * p.softmax_scale, at) * kLog2e;
            if (!full_tile) {
              bool visible = at.kv_pos < sv.kv_len;
              if (VariantHooks::kHasUpperBand)
                visible = visible && at.kv_pos <= at.q_pos + VariantHooks::kUpperOffset;
              if (VariantHooks::kHasLowerBand)
                visible = visible && at.kv_pos >= at.q_pos + VariantHooks::kLowerOffset;
              if (!VariantHooks::kBandIsExact) visible = visible && VariantHooks::mask(at);
              if (!visible) x = neg_inf();
            }
            s[mt][t][e] = x;
          }
        }
      }
    }

    // Online softmax: new running max, rescale what was accumulated, exponentiate.
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float tile_max = row_max[mt][r];
#pragma unroll
        for (int t = 0; t < G::kScoreTiles; ++t)
          tile_max = fmaxf(tile_max, fmaxf(s[mt][t][2 * r], s[mt][t][2 * r + 1]));
        tile_max = quad_max(tile_max);
        // A row that has seen only masked keys keeps max -inf; subtract 0 instead so
        // exp2 gives 0 rather than NaN from (-inf) - (-inf).
        const float max_scaled = tile_max == neg_inf() ? 0.f : tile_max * exp2_scale;
        const float alpha = fast_exp2(row_max[mt][r] * exp2_scale - max_scaled);
        row_max[mt][r] = tile_max;
        row_sum[mt][r] *= alpha;
#pragma unroll
        for (int d = 0; d < G::kOutTiles; ++d) {
          o[mt][d][2 * r] *= alpha;
          o[mt][d][2 * r + 1] *= alpha;
        }
#pragma unroll
        for (int t = 0; t < G::kScoreTiles; ++t) {
#pragma unroll
          for (int e = 2 * r; e < 2 * r + 2; ++e) {
            const float prob = fast_exp2(fmaf(s[mt][t][e], exp2_scale, -max_scaled));
            s[mt][t][e] = prob;
            row_sum[mt][r] += prob;
          }
        }
      }
    }

    // O += P V. The score accumulators of two adjacent 16x8 tiles are exactly the A
    // fragment of one 16x16 step, so P never leaves registers.
#pragma unroll
    for (int kk = 0; kk < G::kKvSteps; ++kk) {
      u32 a[kRowTiles][4];
#pragma unroll
      for (int mt = 0; mt < kRowTiles; ++mt) {
        a[mt][0] = Elem::pack2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        a[mt][1] = Elem::pack2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        a[mt][2] = Elem::pack2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        a[mt][3] = Elem::pack2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
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
  async_wait<0>();

  // Epilogue: normalize, stage this warp's rows in its own (no longer needed) Q rows of
  // shared memory, then write them out with 16-byte stores.
  float inv_sum[kRowTiles][2], lse[kRowTiles][2];
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float sum = quad_sum(row_sum[mt][r]);
      inv_sum[mt][r] = sum > 0.f ? 1.f / sum : 0.f;  // a fully masked row outputs zeros
      lse[mt][r] = sum > 0.f ? (row_max[mt][r] * exp2_scale + fast_log2(sum)) * kLn2 : neg_inf();
    }
  }
  warp_barrier();
  unsigned char* warp_rows = shared + warp_row0 * G::kRowBytes;
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int d = 0; d < G::kOutTiles; ++d) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = mt * 16 + lane / 4 + r * 8;
        const int col = d * 8 + (lane % 4) * 2;
        *reinterpret_cast<u32*>(warp_rows + row * G::kRowBytes + col * 2) =
            OutElem::pack2(o[mt][d][2 * r] * inv_sum[mt][r], o[mt][d][2 * r + 1] * inv_sum[mt][r]);
      }
    }
  }
  warp_barrier();
  const int out_row0 = m0 + warp_row0;
#pragma unroll
  for (int chunk = lane; chunk < G::kWarpRows * G::kChunksPerRow; chunk += 32) {
    const int row = chunk / G::kChunksPerRow;
    const int col = chunk % G::kChunksPerRow;
    if (out_row0 + row < sv.q_len)
      store16(sv.out + (out_row0 + row) * p.o_row_stride + col * 8,
              warp_rows + row * G::kRowBytes + col * 16);
  }
  if (kWriteLse && lane % 4 == 0) {
#pragma unroll
    for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = out_row0 + mt * 16 + lane / 4 + r * 8;
        if (row < sv.q_len) sv.lse[row * p.lse_row_stride] = lse[mt][r];
      }
    }
  }
}
