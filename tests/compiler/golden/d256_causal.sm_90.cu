// attnjit generated kernel: variant d256_causal, kind prefill, arch sm_90 (CUDA)
// uri: prefill.d256_causal.bf16.h16x16.d256.causal.lse.sm_90.m128n64w8s2
// Rendered from templates/kernels/prefill.cuh; regenerate rather than edit.

// ---- device vocabulary: templates/cuda/tile_ops.cuh ----
// attnjit device vocabulary, CUDA dialect (sm_80 and later).
//
// The kernels in templates/kernels/ are written only in terms of these operations, so a
// second vendor supplies its own file with the same names and the kernels stay as
// they are. Everything is inline PTX or plain C++: no toolkit header is included, so
// NVRTC never searches for headers.

namespace attnjit {

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

constexpr float kLog2e = 1.4426950408889634f;  // log2(e): exp(x) == exp2(x * log2e)
constexpr float kLn2 = 0.6931471805599453f;    // ln(2):   log(x) == log2(x) * ln2

// ---- 16-bit element types ------------------------------------------------------------
// Each element type knows how to pack two floats for the tensor cores and how to run
// the m16n8k16 MMA on its operands.
struct Bf16 {
  static constexpr int kBytes = 2;
  static __device__ __forceinline__ u32 pack2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
  }
  static __device__ __forceinline__ float to_float(u16 x) {
    return __uint_as_float(static_cast<u32>(x) << 16);
  }
  // D(16x8, f32) += A(16x16, row) * B(16x8, col)
  static __device__ __forceinline__ void mma(float d[4], const u32 a[4], const u32 b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

struct Fp16 {
  static constexpr int kBytes = 2;
  static __device__ __forceinline__ u32 pack2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
  }
  static __device__ __forceinline__ float to_float(u16 x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
  }
  static __device__ __forceinline__ void mma(float d[4], const u32 a[4], const u32 b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

// ---- shared memory ----------------------------------------------------------------------
__device__ __forceinline__ u32 shared_address(const void* p) {
  u32 r;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
  return r;
}

// Four 8x8 16-bit matrices; lane L supplies the row address of matrix L/8, row L%8.
__device__ __forceinline__ void ldmatrix_x4(u32 r[4], u32 address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void ldmatrix_x4_trans(u32 r[4], u32 address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// ---- asynchronous global -> shared copies ----------------------------------------------
// Copies 16 bytes, or writes 16 zero bytes when `valid` is false (rows past the end of a
// sequence must read as zeros: a NaN there would reach the output through P*V).
__device__ __forceinline__ void copy16_async(u32 dst, const void* src, bool valid) {
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void async_commit() { asm volatile("cp.async.commit_group;"); }
template <int Pending>
__device__ __forceinline__ void async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(Pending));
}

__device__ __forceinline__ void block_barrier() { __syncthreads(); }
__device__ __forceinline__ void warp_barrier() { __syncwarp(); }

// ---- arithmetic ---------------------------------------------------------------------------
__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000u); }
__device__ __forceinline__ float fast_exp2(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float fast_log2(float x) {
  float r;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float xor_shuffle(float v, int mask) {
  float r;
  asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(mask));
  return r;
}
// The four lanes of a quad (lane / 4 equal) hold one accumulator row between them.
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, xor_shuffle(v, 1));
  return fmaxf(v, xor_shuffle(v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += xor_shuffle(v, 1);
  return v + xor_shuffle(v, 2);
}

// 16-byte vector store to global memory.
__device__ __forceinline__ void store16(void* dst, const void* src_shared) {
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src_shared);
}

}  // namespace attnjit

// ---- templates/kernels/prefill_params.h ----
// Kernel parameter block of the prefill kind. Shared verbatim by the host (runtime/)
// and the generated device source, so it uses plain C types only. Strides are in
// elements. Passed by value as the kernel's single argument.
#ifndef ATTNJIT_PREFILL_PARAMS_H
#define ATTNJIT_PREFILL_PARAMS_H

struct AttnjitPrefillParams {
  const void* q;     // [batch, seqlen_q, q_heads, head_dim] or [total_q, q_heads, head_dim]
  const void* k;     // [batch, seqlen_k, kv_heads, head_dim] or [total_k, kv_heads, head_dim]
  const void* v;
  void* out;         // like q
  float* lse;        // optional: [batch, q_heads, seqlen_q] or [q_heads, total_q]

  // Ragged batches: prefix sums of lengths (batch + 1 entries); null for fixed lengths.
  const int* cu_seqlens_q;
  const int* cu_seqlens_k;
  int batch;
  int seqlen_q;      // fixed-length mode: every sequence's length; ragged: the maximum
  int seqlen_k;

  long long q_batch_stride, q_row_stride, q_head_stride;
  long long k_batch_stride, k_row_stride, k_head_stride;
  long long v_batch_stride, v_row_stride, v_head_stride;
  long long o_batch_stride, o_row_stride, o_head_stride;
  long long lse_batch_stride, lse_row_stride, lse_head_stride;

  float softmax_scale;        // applied to q.k
  float softmax_scale_log2;   // softmax_scale * log2(e), for exp2-based softmax
};

#endif

// ---- templates/kernels/position.h ----
// What a variant hook may read about one (query, key) pair: the names of the DSL's
// builtins. Positions are absolute within the sequence.
namespace attnjit {

struct Position {
  int q_pos, kv_pos, q_head, kv_head, seq, q_len, kv_len;
};

}  // namespace attnjit

// ---- specialization ----
typedef attnjit::Bf16 Elem;     // q, k, v
typedef attnjit::Bf16 OutElem;  // out
constexpr int kHeadDim = 256;
constexpr int kBlockM = 128;
constexpr int kBlockN = 64;
constexpr int kWarps = 8;
constexpr int kStages = 2;
constexpr int kRowTiles = 1;  // 16-row MMA tiles per warp
constexpr int kGroupSize = 1;  // query heads per KV head (16 / 16)
constexpr bool kWriteLse = true;
// Variant hooks: the only place the kernel learns what variant it runs.
struct VariantHooks {
  static constexpr bool kHasScoreTransform = false;
  // Visible keys satisfy q_pos + kLowerOffset <= kv_pos <= q_pos + kUpperOffset.
  static constexpr bool kHasLowerBand = false;
  static constexpr int kLowerOffset = 0;
  static constexpr bool kHasUpperBand = true;
  static constexpr int kUpperOffset = 0;
  // True when the band is the whole mask, so mask() is never needed.
  static constexpr bool kBandIsExact = true;
  static __device__ __forceinline__ float score(float score, const attnjit::Position& at) {
    return score;
  }
  static __device__ __forceinline__ bool mask(const attnjit::Position& at) {
    return true;
  }
};
#define ATTNJIT_ENTRY attnjit_prefill_d256_causal

// ---- templates/kernels/prefill.cuh ----
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
