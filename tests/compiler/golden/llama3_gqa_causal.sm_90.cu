// attnjit generated kernel: variant llama3_gqa_causal, kind prefill, arch sm_90 (CUDA)
// uri: prefill.llama3_gqa_causal.bf16.h32x8.d128.causal.sm_90.m256n64w8s2
// Rendered from templates/kernels/attention_core.cuh and templates/kernels/prefill.cuh; regenerate rather than edit.

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

// inline: a kernel that uses neither (merge) must not draw an unused-variable warning.
inline constexpr float kLog2e = 1.4426950408889634f;  // log2(e): exp(x) == exp2(x * log2e)
inline constexpr float kLn2 = 0.6931471805599453f;    // ln(2):   log(x) == log2(x) * ln2

// ---- 16-bit element types ------------------------------------------------------------
// Each element type knows how to pack two floats for the tensor cores and how to run
// the m16n8k16 MMA on its operands.
struct Bf16 {
  static constexpr int kBytes = 2;
  static constexpr int kMantissaBits = 7;  // the format, for bit-level decoders
  static constexpr int kExponentBias = 127;
  static __device__ __forceinline__ u32 pack2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
  }
  static __device__ __forceinline__ float to_float(u16 x) {
    return __uint_as_float(static_cast<u32>(x) << 16);
  }
  static __device__ __forceinline__ void store_pair(u16* p, float a, float b) {
    *reinterpret_cast<u32*>(p) = pack2(a, b);
  }
  // Both halves times `factor` (a pair of the same value); exact for powers of two.
  static __device__ __forceinline__ u32 mul2(u32 x, u32 factor) {
    u32 r;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(factor), "r"(0x80008000u));
    return r;
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
  static constexpr int kMantissaBits = 10;
  static constexpr int kExponentBias = 15;
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
  static __device__ __forceinline__ void store_pair(u16* p, float a, float b) {
    *reinterpret_cast<u32*>(p) = pack2(a, b);
  }
  static __device__ __forceinline__ u32 mul2(u32 x, u32 factor) {
    u32 r;
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(factor), "r"(0x80008000u));
    return r;
  }
  static __device__ __forceinline__ void mma(float d[4], const u32 a[4], const u32 b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

// ---- storage decoders -------------------------------------------------------------------
// How elements stored in global memory reach the tensor cores. 16-bit types are copied
// as they are (cp.async) and read by ldmatrix. f32 rows (q or kv) are converted to the
// compute type as they are loaded (load8). 8-bit K/V stay 8-bit in shared memory and are
// turned into operand pairs in registers just before the MMA (pair): two bytes picked
// from a pair of words, selected with their sign copied into the byte above, so each
// becomes a sign-extended 16-bit lane that a shift and a mask finish.

// Byte selector for prmt: lane 0 = byte `lo` of {b, a} sign-extended to 16 bits, lane 1
// = byte `hi` likewise (bytes 0-3 from a, 4-7 from b).
__device__ __forceinline__ u32 select_sign_extended_pair(u32 a, u32 b, int lo, int hi) {
  const u32 selector = static_cast<u32>(lo | ((lo | 8) << 4) | (hi << 8) | ((hi | 8) << 12));
  u32 r;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(selector));
  return r;
}

// kLargestCodeLog2: floor(log2) of the largest magnitude a quantized code holds (0 where
// values carry no per-token scale); a per-token scale is about amax / that code.
struct Raw16 {
  typedef u16 Storage;
  static constexpr bool kConverts = false;
  static constexpr int kLargestCodeLog2 = 0;
  template <typename E>
  static constexpr int kScaleLog2 = 0;
  static __device__ __forceinline__ void load8(float*, const Storage*) {}
};
struct DecodeF32 {
  typedef float Storage;
  static constexpr bool kConverts = true;
  static constexpr int kLargestCodeLog2 = 0;
  template <typename E>
  static constexpr int kScaleLog2 = 0;  // operands hold the values themselves
  // The operand pair (a, b) of two elements (whole words: `lo` and `hi` are unused).
  template <typename E>
  static __device__ __forceinline__ u32 pair(u32 a, u32 b, int, int) {
    return E::pack2(__uint_as_float(a), __uint_as_float(b));
  }
  static __device__ __forceinline__ void load8(float x[8], const Storage* p) {
    const float4 lo = *reinterpret_cast<const float4*>(p);
    const float4 hi = *reinterpret_cast<const float4*>(p + 4);
    x[0] = lo.x, x[1] = lo.y, x[2] = lo.z, x[3] = lo.w;
    x[4] = hi.x, x[5] = hi.y, x[6] = hi.z, x[7] = hi.w;
  }
};
// FP8 (1 sign, 8 - 1 - kMantissaBits exponent, kMantissaBits mantissa bits): the seven
// magnitude bits are moved under the compute type's exponent field. That reads the
// code with the compute type's exponent bias instead of its own, which scales every
// value (subnormals included, so the move is exact) by 2^kScaleLog2; the kernel folds
// the factor back into its scales rather than spending a multiply per element.
template <int kMantissaBits, int kExponentBias, int kLargestExponent>
struct DecodeFp8 {
  typedef unsigned char Storage;
  static constexpr bool kConverts = true;
  static constexpr int kLargestCodeLog2 = kLargestExponent;
  template <typename E>
  static constexpr int kScaleLog2 = kExponentBias - E::kExponentBias;
  template <typename E>
  static __device__ __forceinline__ u32 pair(u32 a, u32 b, int lo, int hi) {
    constexpr int kShift = E::kMantissaBits - kMantissaBits;
    constexpr u32 kKeep = 0x8000u | (0x7Fu << kShift);  // sign, then the magnitude bits
    return (select_sign_extended_pair(a, b, lo, hi) << kShift) & (kKeep | (kKeep << 16));
  }
};
typedef DecodeFp8<3, 7, 8> DecodeE4m3;    // largest 448 = 1.75 * 2^8
typedef DecodeFp8<2, 15, 15> DecodeE5m2;  // largest 57344 = 1.75 * 2^15
struct DecodeInt8 {
  typedef signed char Storage;
  static constexpr bool kConverts = true;
  static constexpr int kLargestCodeLog2 = 6;  // 127
  template <typename E>
  static constexpr int kScaleLog2 = 0;
  template <typename E>
  static __device__ __forceinline__ u32 pair(u32 a, u32 b, int lo, int hi) {
    const u32 lanes = select_sign_extended_pair(a, b, lo, hi);
    return E::pack2(static_cast<float>(static_cast<short>(lanes & 0xFFFFu)),
                    static_cast<float>(static_cast<short>(lanes >> 16)));
  }
};

// ---- storage encoders (cache writes) ------------------------------------------------------
// Element-wise decoders of the new tokens' storage.
struct ReadBf16 {
  typedef u16 Storage;
  static __device__ __forceinline__ float to_float(u16 x) { return Bf16::to_float(x); }
};
struct ReadFp16 {
  typedef u16 Storage;
  static __device__ __forceinline__ float to_float(u16 x) { return Fp16::to_float(x); }
};
struct ReadF32 {
  typedef float Storage;
  static __device__ __forceinline__ float to_float(float x) { return x; }
};
// 16-bit caches of the source's own type store the value rounded back.
template <typename Format>
struct Encode16 {
  typedef u16 Storage;
  static constexpr float kMaxValue = 1.f;
  static constexpr float kMinScale = 1.f;
  static __device__ __forceinline__ u16 encode(float x) {
    return static_cast<u16>(Format::pack2(x, 0.f) & 0xFFFFu);
  }
};
// FP8 with round-to-nearest-even and saturation to the largest finite value, by
// arithmetic that every arch has: round |x| to the grid of its binade, then place the
// bits. kMantissaBits / kExponentBias / kMax describe the format.
template <int kMantissaBits, int kExponentBias, int kMax>
struct EncodeFp8 {
  typedef unsigned char Storage;
  static constexpr float kMaxValue = static_cast<float>(kMax);
  static constexpr float kMinScale = 1e-12f;
  static __device__ __forceinline__ unsigned char encode(float x) {
    const float a = fminf(fabsf(x), kMaxValue);
    const int min_exponent = 1 - kExponentBias;  // of the smallest normal
    int e = static_cast<int>((__float_as_uint(a) >> 23) & 0xFFu) - 127;
    e = max(e, min_exponent);
    const float quantum = __uint_as_float(static_cast<u32>(e - kMantissaBits + 127) << 23);
    const float r = fminf(rintf(a / quantum) * quantum, kMaxValue);
    u32 code;
    if (r < __uint_as_float(static_cast<u32>(min_exponent + 127) << 23)) {
      code = static_cast<u32>(r / quantum);  // subnormal: a multiple of the quantum
    } else {
      const u32 bits = __float_as_uint(r);
      const int re = static_cast<int>((bits >> 23) & 0xFFu) - 127;
      code = (static_cast<u32>(re + kExponentBias) << kMantissaBits) |
             ((bits >> (23 - kMantissaBits)) & ((1u << kMantissaBits) - 1u));
    }
    return static_cast<unsigned char>(code | (x < 0.f && code != 0u ? 0x80u : 0u));
  }
};
typedef EncodeFp8<3, 7, 448> EncodeE4m3;
typedef EncodeFp8<2, 15, 57344> EncodeE5m2;
struct EncodeInt8 {
  typedef signed char Storage;
  static constexpr float kMaxValue = 127.f;
  static constexpr float kMinScale = 1e-12f;
  static __device__ __forceinline__ signed char encode(float x) {
    return static_cast<signed char>(static_cast<int>(rintf(fminf(fmaxf(x, -127.f), 127.f))));
  }
};

// Output writers for the types that are not staged as 16-bit rows.
struct StoreF32 {
  static __device__ __forceinline__ void store_pair(float* p, float a, float b) {
    *reinterpret_cast<float2*>(p) = make_float2(a, b);
  }
};
template <typename Encoder>  // fp8: saturating (clamped) encode of both values
struct StoreFp8 {
  static __device__ __forceinline__ void store_pair(unsigned char* p, float a, float b) {
    *reinterpret_cast<u16*>(p) =
        static_cast<u16>(Encoder::encode(a) | (static_cast<u32>(Encoder::encode(b)) << 8));
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

// kBytes bytes of shared memory at `address` (aligned to kAlign: 2, 4, 8 or 16) into
// words in memory order; a final partial word is zero-padded.
template <int kBytes, int kAlign>
__device__ __forceinline__ void load_shared_words(u32 (&w)[(kBytes + 3) / 4], u32 address) {
  static_assert(kBytes % kAlign == 0, "whole aligned units");
  if constexpr (kAlign == 16) {
#pragma unroll
    for (int i = 0; i < kBytes / 16; ++i)
      asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
                   : "=r"(w[4 * i]), "=r"(w[4 * i + 1]), "=r"(w[4 * i + 2]), "=r"(w[4 * i + 3])
                   : "r"(address + 16 * i));
  } else if constexpr (kAlign == 8) {
#pragma unroll
    for (int i = 0; i < kBytes / 8; ++i)
      asm volatile("ld.shared.v2.u32 {%0, %1}, [%2];"
                   : "=r"(w[2 * i]), "=r"(w[2 * i + 1])
                   : "r"(address + 8 * i));
  } else if constexpr (kAlign == 4) {
#pragma unroll
    for (int i = 0; i < kBytes / 4; ++i)
      asm volatile("ld.shared.u32 %0, [%1];" : "=r"(w[i]) : "r"(address + 4 * i));
  } else {
    static_assert(kAlign == 2, "alignment 2, 4, 8 or 16");
#pragma unroll
    for (int i = 0; i < (kBytes + 3) / 4; ++i) w[i] = 0u;
#pragma unroll
    for (int i = 0; i < kBytes / 2; ++i) {
      u16 half;
      asm volatile("ld.shared.u16 %0, [%1];" : "=h"(half) : "r"(address + 2 * i));
      w[i / 2] |= static_cast<u32>(half) << (16 * (i % 2));
    }
  }
}

// ---- asynchronous global -> shared copies ----------------------------------------------
// Copies 16 bytes, or writes 16 zero bytes when `valid` is false (rows past the end of a
// sequence must read as zeros: a NaN there would reach the output through P*V).
__device__ __forceinline__ void copy16_async(u32 dst, const void* src, bool valid) {
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}
// Copies 4 bytes (a per-token scale), or writes zeros when `valid` is false.
__device__ __forceinline__ void copy4_async(u32 dst, const void* src, bool valid) {
  int bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}
// Synchronous 16-byte store to shared memory (the converting load path).
__device__ __forceinline__ void store_shared16(u32 dst, const u32 v[4]) {
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(dst), "r"(v[0]), "r"(v[1]),
               "r"(v[2]), "r"(v[3]));
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
// 2^n for n in [-126, 127], exactly.
__device__ __forceinline__ float pow2(int n) { return __uint_as_float(static_cast<u32>(n + 127) << 23); }
__device__ __forceinline__ float fast_exp2(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
// 2^x for x <= 0 on the FMA pipe instead of the special-function unit (MUFU), which
// does 16 operations per clock per SM against 128 FMAs: a main loop whose scores
// already take a MUFU instruction each (soft-capping's tanh) computes part of its
// exponentials here so that MUFU stops setting the pace. 2^x = 2^floor(x) * 2^f with f
// in [0, 1): a cubic with p(0) = 1 gives 2^f (relative error 8.6e-5, below the
// rounding of the fp16 or bf16 probability it becomes), and floor(x), read from the
// low mantissa bits of x + 1.5 * 2^23 rounded down, goes into the exponent field.
// Below -127 (masked scores are -inf) the result is +0, as ex2.approx.ftz gives.
__device__ __forceinline__ float fma_exp2(float x) {
  constexpr float kFloorShift = 12582912.f;  // 1.5 * 2^23
  x = fmaxf(x, -127.f);
  const float shifted = __fadd_rd(x, kFloorShift);
  const float f = x - (shifted - kFloorShift);
  const float p = fmaf(fmaf(fmaf(0.07706602f, f, 0.22764611f), f, 0.69511652f), f, 1.f);
  return __uint_as_float(__float_as_uint(p) + (__float_as_uint(shifted) << 23));
}
__device__ __forceinline__ float fast_log2(float x) {
  float r;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
// One MUFU instruction (sm_75+), absolute error about 5e-4: soft-capping multiplies it
// by the cap, which FlashAttention's soft-cap accepts too. tanh_fast below is the
// accurate alternative at three times the special-function cost.
__device__ __forceinline__ float tanh_approx(float x) {
  float r;
  asm("tanh.approx.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float fast_rcp(float x) {  // rcp(inf) == 0
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
// tanh through exp2: 1 - 2 / (e^{2x} + 1). Saturates correctly at both ends and its
// absolute error (~1e-7) stays far below what a softcap multiplies it by, unlike
// tanh.approx (~5e-4 absolute).
__device__ __forceinline__ float tanh_fast(float x) {
  return 1.f - 2.f * fast_rcp(fast_exp2(x * (2.f * kLog2e)) + 1.f);
}
__device__ __forceinline__ float xor_shuffle(float v, int mask) {
  float r;
  asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(mask));
  return r;
}
// Lane `source`'s value of v, for every lane.
__device__ __forceinline__ float shuffle_from(float v, int source) {
  float r;
  asm volatile("shfl.sync.idx.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(source));
  return r;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int mask = 16; mask > 0; mask /= 2) v = fmaxf(v, xor_shuffle(v, mask));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int mask = 16; mask > 0; mask /= 2) v += xor_shuffle(v, mask);
  return v;
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

// ---- templates/kernels/variant_args.h ----
// Launch-time values of a variant, shared verbatim by the host (runtime/) and the
// generated device source of every kernel kind: `param` scalars, `input` arrays,
// per-head sinks and per-sequence bidirectional ranges. Plain C types only.
#ifndef ATTNJIT_VARIANT_ARGS_H
#define ATTNJIT_VARIANT_ARGS_H

#define ATTNJIT_MAX_PARAMS 16
#define ATTNJIT_MAX_INPUTS 8

struct AttnjitVariantArgs {
  float params[ATTNJIT_MAX_PARAMS];            // in declaration order of the variant's params
  const float* inputs[ATTNJIT_MAX_INPUTS];     // in declaration order of its inputs
  const float* sinks;                          // [q_heads] sink logits, or null
  const int* ranges;                           // [batch, max_ranges, 2] [start, end), or null
  int max_ranges;
};

// Each `input` array element a thread block needs, read once per block: every input
// is indexed by q_head, kv_head or seq, which are fixed for a block.
struct AttnjitBoundInputs {
  float values[ATTNJIT_MAX_INPUTS];
};

#endif

// ---- templates/kernels/prefill_params.h ----
// Kernel parameter block of the prefill kind. Shared verbatim by the host (runtime/)
// and the generated device source, so it uses plain C types only. The generated
// source places templates/kernels/variant_args.h before it. Strides are in
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

  struct AttnjitVariantArgs variant;
  // Tests only: when set, each thread block adds the KV tiles it visited to [0] and
  // those of them it treated as full (no per-element mask) to [1].
  int* debug_tile_counts;
};

#endif

// ---- templates/kernels/position.h ----
// What a variant hook may read about one (query, key) pair: the names of the DSL's
// builtins. Positions are absolute within the sequence.
namespace attnjit {

struct Position {
  int q_pos, kv_pos, q_head, kv_head, seq, q_len, kv_len;
  // The positions as floats, kept beside the ints: a score transform that needs
  // float(kv_pos - q_pos) (ALiBi) then subtracts floats instead of converting an int
  // per element, a quarter-rate instruction. Exact below 2^24 tokens.
  float q_pos_f, kv_pos_f;
};

}  // namespace attnjit

// ---- templates/common/score_transforms.cuh ----
// Score transforms: how a variant's `score = ...` reaches a main loop. Codegen
// recognizes the form of the variant's transform and renders, after its VariantHooks,
//   template <bool kKeyBiasStart> using ScoreTransform = attnjit::<Form><VariantHooks, kKeyBiasStart>;
// so a main loop never asks which variant it runs: it makes one ScoreTransform and
// calls the same five steps for every form, in this order:
//   ScoreTransform<b> xf(args, first_row_bound, softmax_scale, softmax_scale_log2, q_ref);
//     once, before the loop; xf.exp2_scale is what the softmax multiplies a
//     transformed score by (in log2 units) before exp2;
//   xf.row(args, bound)                  once per query row: the row's constants (Row);
//   xf.start(kv_pos_f)                   the value a score accumulator starts from;
//   xf.tile_row(row, kv_first_f, q_pos_f) once per tile and row (TileRow), kv_first_f
//                                        being the thread's first key of the tile;
//   xf.apply(x, row, tile_row, column, args, bound, at)  once per score x (q.k as the
//                                        MMA left it), the key at kv_first_f + column;
//                                        at() makes the score's Position (only the
//                                        general form calls it);
//   xf.row_max_log2(max_log2, row, q_pos_f)  once per row at the end: the row's max
//                                        in log2 units as the LSE and sinks need it.
// Each form also says whether apply() issues a special-function (MUFU) instruction per
// score (kSpecialFunctionPerScore), so a main loop can move work off that unit, and
// whether a row's running max settles after the first tiles (kRowMaxSettles: false
// where a bias grows along the keys, as ALiBi's toward the diagonal, or where the form
// cannot tell), so a main loop can skip rescaling its output while the max holds.
// kKeyBiasStart is the main loop's promise that every row of the block belongs to one
// query head and that nothing scales the scores between the MMA and apply(): a bias
// that depends on the key alone may then be the accumulators' starting value.
// Forms take the hooks as a template parameter, so only the hook functions a form
// calls need exist.

namespace attnjit {

// No transform: the softmax scale folds into the exp2 FMA.
template <typename Hooks, bool kKeyBiasStart>
struct PlainScore {
  static constexpr bool kSpecialFunctionPerScore = false;
  static constexpr bool kRowMaxSettles = true;
  struct Row {};
  struct TileRow {};
  float exp2_scale;

  __device__ __forceinline__ PlainScore(const AttnjitVariantArgs&, const AttnjitBoundInputs&, float,
                                        float softmax_scale_log2, float)
      : exp2_scale(softmax_scale_log2) {}
  __device__ __forceinline__ Row row(const AttnjitVariantArgs&, const AttnjitBoundInputs&) const { return {}; }
  __device__ __forceinline__ float start(float) const { return 0.f; }
  __device__ __forceinline__ TileRow tile_row(const Row&, float, float) const { return {}; }
  template <typename At>
  __device__ __forceinline__ float apply(float x, const Row&, const TileRow&, float,
                                         const AttnjitVariantArgs&, const AttnjitBoundInputs&, At) const {
    return x;
  }
  __device__ __forceinline__ float row_max_log2(float max_log2, const Row&, float) const { return max_log2; }
};

// Any expression: Hooks::score(scale * q.k, position, ...), brought into the log2
// domain per score (measured faster than folding log2(e) into the exp2 FMA).
template <typename Hooks, bool kKeyBiasStart>
struct GeneralScore {
  static constexpr bool kSpecialFunctionPerScore = false;
  static constexpr bool kRowMaxSettles = false;
  struct Row {};
  struct TileRow {};
  float exp2_scale;
  float softmax_scale;

  __device__ __forceinline__ GeneralScore(const AttnjitVariantArgs&, const AttnjitBoundInputs&,
                                          float softmax_scale_, float, float)
      : exp2_scale(1.f), softmax_scale(softmax_scale_) {}
  __device__ __forceinline__ Row row(const AttnjitVariantArgs&, const AttnjitBoundInputs&) const { return {}; }
  __device__ __forceinline__ float start(float) const { return 0.f; }
  __device__ __forceinline__ TileRow tile_row(const Row&, float, float) const { return {}; }
  template <typename At>
  __device__ __forceinline__ float apply(float x, const Row&, const TileRow&, float,
                                         const AttnjitVariantArgs& args, const AttnjitBoundInputs& bound,
                                         At at) const {
    return Hooks::score(x * softmax_scale, at(), args, bound) * kLog2e;
  }
  __device__ __forceinline__ float row_max_log2(float max_log2, const Row&, float) const { return max_log2; }
};

// Soft-capping with a cap fixed per launch, cap * tanh(score / cap) (Hooks::soft_cap()
// gives the cap): scores are kept as tanh(score / |cap|) in [-1, 1] (one multiply and
// the tanh; the function is the same for -cap) and |cap| * log2(e) becomes the exp2
// scale.
template <typename Hooks, bool kKeyBiasStart>
struct SoftCapScore {
  static constexpr bool kSpecialFunctionPerScore = true;
  static constexpr bool kRowMaxSettles = true;
  struct Row {};
  struct TileRow {};
  float exp2_scale;
  float inner;  // softmax_scale / |cap|

  __device__ __forceinline__ SoftCapScore(const AttnjitVariantArgs& args, const AttnjitBoundInputs&,
                                          float softmax_scale, float, float) {
    const float cap = fabsf(Hooks::soft_cap(args));
    inner = softmax_scale / cap;
    exp2_scale = cap * kLog2e;
  }
  __device__ __forceinline__ Row row(const AttnjitVariantArgs&, const AttnjitBoundInputs&) const { return {}; }
  __device__ __forceinline__ float start(float) const { return 0.f; }
  __device__ __forceinline__ TileRow tile_row(const Row&, float, float) const { return {}; }
  template <typename At>
  __device__ __forceinline__ float apply(float x, const Row&, const TileRow&, float,
                                         const AttnjitVariantArgs&, const AttnjitBoundInputs&, At) const {
    return tanh_approx(x * inner);
  }
  __device__ __forceinline__ float row_max_log2(float max_log2, const Row&, float) const { return max_log2; }
};

// ALiBi's form, score + slope * (kv_pos - q_pos), with a slope fixed per row
// (Hooks::position_slope()).
//
// Per score (kKeyBiasStart false): log2(e) * (scale * s + slope * (kv_pos - q_pos)) as
// two FMAs, the row's part of the bias once per tile, the column's a constant.
//
// From the start (kKeyBiasStart: one slope for the whole block): the bias's query part,
// slope * q_pos, is constant along a row and cancels in the softmax, so scores carry
// slope * (kv_pos - q_ref) instead, q_ref being the block's first position. That
// depends on the key alone, so it is the accumulators' starting value (in units of
// q.k, made once per tile) and costs nothing per score; row_max_log2() puts
// slope * (q_ref - q_pos) back into each row's max, for the LSE and the sinks.
template <typename Hooks, bool kKeyBiasStart>
struct LinearBiasScore {
  static constexpr bool kSpecialFunctionPerScore = false;
  static constexpr bool kRowMaxSettles = false;
  struct Row {
    float slope_log2;  // the row's slope times log2(e)
  };
  struct TileRow {
    float bias;  // slope * log2(e) * (the thread's first key - q_pos)
  };
  float exp2_scale;
  float softmax_scale_log2;
  float block_slope_log2;  // kKeyBiasStart: the slope of every row, times log2(e)
  float key_slope;         // kKeyBiasStart: slope / softmax_scale, the bias per key in units of q.k
  float q_ref;

  __device__ __forceinline__ LinearBiasScore(const AttnjitVariantArgs& args,
                                             const AttnjitBoundInputs& first_row, float,
                                             float softmax_scale_log2_, float q_ref_)
      : exp2_scale(kKeyBiasStart ? softmax_scale_log2_ : 1.f),
        softmax_scale_log2(softmax_scale_log2_),
        block_slope_log2(Hooks::position_slope(args, first_row) * kLog2e),
        key_slope(kKeyBiasStart ? block_slope_log2 / softmax_scale_log2_ : 0.f),
        q_ref(q_ref_) {}
  __device__ __forceinline__ Row row(const AttnjitVariantArgs& args, const AttnjitBoundInputs& bound) const {
    return {Hooks::position_slope(args, bound) * kLog2e};
  }
  __device__ __forceinline__ float start(float kv_pos_f) const {
    return kKeyBiasStart ? key_slope * (kv_pos_f - q_ref) : 0.f;
  }
  __device__ __forceinline__ TileRow tile_row(const Row& row, float kv_first_f, float q_pos_f) const {
    return {kKeyBiasStart ? 0.f : row.slope_log2 * (kv_first_f - q_pos_f)};
  }
  template <typename At>
  __device__ __forceinline__ float apply(float x, const Row& row, const TileRow& tile_row, float column,
                                         const AttnjitVariantArgs&, const AttnjitBoundInputs&, At) const {
    if constexpr (kKeyBiasStart) return x;
    else return fmaf(x, softmax_scale_log2, fmaf(row.slope_log2, column, tile_row.bias));
  }
  __device__ __forceinline__ float row_max_log2(float max_log2, const Row&, float q_pos_f) const {
    if constexpr (kKeyBiasStart) return max_log2 + block_slope_log2 * (q_ref - q_pos_f);
    else return max_log2;
  }
};

}  // namespace attnjit

// ---- specialization ----
typedef attnjit::Raw16 InputDecoder;  // q in memory
typedef InputDecoder::Storage InputStorage;
typedef attnjit::Raw16 KvDecoder;     // k, v in memory
typedef KvDecoder::Storage KvStorage;
typedef attnjit::Bf16 Elem;          // tensor-core operands
typedef attnjit::u16 OutputStorage;  // out in memory
typedef attnjit::Bf16 OutElem;
constexpr bool kOutputDirect = false;
constexpr int kHeadDim = 128;
constexpr int kBlockM = 256;
constexpr int kBlockN = 64;
constexpr int kWarps = 8;
constexpr int kStages = 2;
constexpr int kRowTiles = 2;  // 16-row MMA tiles per warp
constexpr int kGroupSize = 4;  // query heads per KV head (32 / 8)
constexpr bool kWriteLse = false;
constexpr bool kHasSinks = false;
constexpr bool kHasRanges = false;  // bidirectional ranges
constexpr bool kPerTokenHeadScales = false;  // K/V scales per token and head
constexpr int kLaunchThreads = 256;
constexpr int kLaunchSharedBytes = 139264;
// Variant hooks: the only place the kernel learns what variant it runs. A variant's
// expressions read some of each hook's parameters, so all are [[maybe_unused]].
struct VariantHooks {
  // Visible keys satisfy q_pos + kLowerOffset <= kv_pos <= q_pos + kUpperOffset.
  static constexpr bool kHasLowerBand = false;
  static constexpr int kLowerOffset = 0;
  static constexpr bool kHasUpperBand = true;
  static constexpr int kUpperOffset = 0;
  // True when the band is the whole mask, so mask() is never needed.
  static constexpr bool kBandIsExact = true;
  static __device__ __forceinline__ bool mask([[maybe_unused]] const attnjit::Position& at,
                                             [[maybe_unused]] const AttnjitVariantArgs& args,
                                             [[maybe_unused]] const AttnjitBoundInputs& bound) {
    return true;
  }
  static __device__ __forceinline__ void bind([[maybe_unused]] AttnjitBoundInputs& bound,
                                             [[maybe_unused]] const AttnjitVariantArgs& args,
                                             [[maybe_unused]] int q_head,
                                             [[maybe_unused]] int kv_head,
                                             [[maybe_unused]] int seq) {
  }
};
// The score transform's form (templates/common/score_transforms.cuh).
template <bool kKeyBiasStart>
using ScoreTransform = attnjit::PlainScore<VariantHooks, kKeyBiasStart>;
#define ATTNJIT_ENTRY attnjit_prefill_llama3_gqa_causal
#define ATTNJIT_LAUNCH_BOUNDS __launch_bounds__(attnjit::TileGeometry::kThreads)

// ---- templates/common/key_mask.cuh ----
// Which keys a query row sees, for every main loop: the KV band the compiler derived
// from the mask (VariantHooks' band constants), widened by bidirectional ranges; the
// tiles a block of rows visits; which of them are full (no per-element mask); and the
// per-element mask of the others.

namespace attnjit {

// The keys that share a bidirectional [start, end) range with a query row at q_pos: the
// ranges that hold the row all contain q_pos, so their union is one interval, from the
// lowest start to the highest end, and a key shares a range with the row exactly when it
// lies in that interval. Empty when no range holds the row. Found once per row, so the
// per-element mask compares two bounds instead of reading every range.
struct RangeKeys {
  int begin, end;
};

__device__ __forceinline__ RangeKeys keys_sharing_a_range(const int* ranges, int count, int q_pos) {
  RangeKeys keys{0, 0};
  for (int r = 0; r < count; ++r) {
    const int start = ranges[2 * r], end = ranges[2 * r + 1];
    if (start <= q_pos && q_pos < end) {
      keys.begin = keys.end > keys.begin ? min(keys.begin, start) : start;
      keys.end = max(keys.end, end);
    }
  }
  return keys;
}

// The KV positions [begin, end) a block of query rows must visit: the band the
// compiler derived from the mask, widened by bidirectional ranges that hold some of
// the rows (tiles in a range are then masked per element).
struct KvRange {
  int begin, end;
  bool widened_by_range;
};

__device__ __forceinline__ KvRange visible_kv_range(int q_pos_first, int q_pos_last, int kv_len,
                                                    const int* ranges, int range_count) {
  KvRange r{0, kv_len, false};
  // A position plus a band offset can leave int (both reach 2^31 - 2 in magnitude):
  // sum them as long long, then clamp to the keys.
  if (VariantHooks::kHasLowerBand)
    r.begin = static_cast<int>(min(static_cast<long long>(kv_len),
                                   max(0LL, static_cast<long long>(q_pos_first) + VariantHooks::kLowerOffset)));
  if (VariantHooks::kHasUpperBand)
    r.end = static_cast<int>(max(0LL, min(static_cast<long long>(kv_len),
                                          static_cast<long long>(q_pos_last) + VariantHooks::kUpperOffset + 1)));
  if constexpr (kHasRanges) {
    for (int i = 0; i < range_count; ++i) {
      const int start = max(ranges[2 * i], 0), end = min(ranges[2 * i + 1], kv_len);
      if (start >= end || start > q_pos_last || end <= q_pos_first) continue;
      if (r.end <= r.begin) r.begin = start, r.end = end;
      else r.begin = min(r.begin, start), r.end = max(r.end, end);
      r.widened_by_range = true;
    }
  }
  return r;
}

// The KV tiles [begin, end) of the rows' visible positions (tile n holds keys
// [n * kBlockN, (n + 1) * kBlockN)). Entries pass attend() these tiles or a share of them.
struct KvTiles {
  int begin, end;
  bool widened_by_range;
};

__device__ __forceinline__ KvTiles visible_kv_tiles(int q_pos_first, int q_pos_last, int kv_len,
                                                    const int* ranges, int range_count) {
  const KvRange r = visible_kv_range(q_pos_first, q_pos_last, kv_len, ranges, range_count);
  const int begin = r.begin / kBlockN;
  return {begin, r.end > r.begin ? (r.end + kBlockN - 1) / kBlockN : begin, r.widened_by_range};
}

// Share `index` of `count` even shares of `all` (split-KV segments).
__device__ __forceinline__ KvTiles even_share(KvTiles all, int index, int count) {
  const int per_share = (all.end - all.begin + count - 1) / count;
  const int begin = min(all.end, all.begin + index * per_share);
  return {begin, min(all.end, begin + per_share), all.widened_by_range};
}

// True when keys [kv_first, kv_first + kKeys) are all visible to every query row in
// [q_pos_first, q_pos_last]: wholly inside an exact band and the sequence, so the tile
// needs neither sequence-end nor per-element checks.
template <int kKeys>
__device__ __forceinline__ bool tile_is_full(int kv_first, int kv_len, int q_pos_first, int q_pos_last,
                                             bool widened_by_range) {
  return VariantHooks::kBandIsExact && !widened_by_range && kv_first + kKeys <= kv_len &&
         (!VariantHooks::kHasUpperBand ||
          kv_first + kKeys - 1 <= static_cast<long long>(q_pos_first) + VariantHooks::kUpperOffset) &&
         (!VariantHooks::kHasLowerBand ||
          kv_first >= static_cast<long long>(q_pos_last) + VariantHooks::kLowerOffset);
}

// The mask of one score of a tile that is not full: -inf unless its key is inside the
// sequence, the band and the variant's mask, or (when ranges widened the block's keys)
// in one bidirectional range with the query (`ranged`: the query row's
// keys_sharing_a_range()). (Written as one function that stores, not one that returns a
// bool: the compiler then keeps the checks free of branches.)
__device__ __forceinline__ void mask_score(float& score, const Position& at, const AttnjitVariantArgs& args,
                                           const AttnjitBoundInputs& bound, bool widened_by_range,
                                           RangeKeys ranged) {
  bool visible = at.kv_pos < at.kv_len;
  if (VariantHooks::kHasUpperBand)
    visible = visible && at.kv_pos <= static_cast<long long>(at.q_pos) + VariantHooks::kUpperOffset;
  if (VariantHooks::kHasLowerBand)
    visible = visible && at.kv_pos >= static_cast<long long>(at.q_pos) + VariantHooks::kLowerOffset;
  if (!VariantHooks::kBandIsExact) visible = visible && VariantHooks::mask(at, args, bound);
  if constexpr (kHasRanges) {
    if (widened_by_range && !visible && at.kv_pos < at.kv_len)
      visible = ranged.begin <= at.kv_pos && at.kv_pos < ranged.end;
  }
  if (!visible) score = neg_inf();
}

}  // namespace attnjit

// ---- templates/common/online_softmax.cuh ----
// The online softmax of one query row (FlashAttention's running max and sum, in the
// exp2 domain), for every main loop. A main loop keeps one SoftmaxRow per query row a
// thread holds and maps its score fragment onto rows: it finds the tile's max of a row
// over all threads that share the row, rescales, and calls prob() for each of the row's
// scores the thread holds. Scores are in the units the score transform leaves
// (ScoreTransform::exp2_scale takes them to log2 units).
//
// Probabilities come out times 2^prob_log2 (a power of two a main loop may need to keep
// products of small operands in range; 0 otherwise), and so does the sum; totals()
// takes the factor back.

namespace attnjit {

// A finished row: its max in log2 units and its full denominator (the sum over every
// thread that holds part of the row, without the sink).
struct RowTotals {
  float max_log2;
  float sum;
};

// One query row's state (all of the row, or this thread's share of it when several
// threads hold parts of the row).
struct SoftmaxRow {
  float max;  // running max of the row's scores; -inf until a key is visible
  float sum;  // this thread's share of the running denominator, times 2^prob_log2

  // What one tile's update needs: alpha rescales everything accumulated before the
  // tile (the sum here, the output row by the caller); exp2_bias turns the tile's
  // scaled scores into probabilities.
  struct Step {
    float alpha;
    float exp2_bias;
  };

  static __device__ __forceinline__ SoftmaxRow start() { return {neg_inf(), 0.f}; }

  // Begins a tile: `tile_max` is the max of the running max and the row's scores in
  // the tile, over every thread that holds part of the row.
  __device__ __forceinline__ Step rescale(float tile_max, float exp2_scale, int prob_log2) {
    // A row that has seen only masked keys keeps max -inf; subtract 0 instead so exp2
    // gives 0 rather than NaN from (-inf) - (-inf).
    const float max_scaled = tile_max == neg_inf() ? 0.f : tile_max * exp2_scale;
    const float alpha = fast_exp2(max * exp2_scale - max_scaled);
    const float exp2_bias = static_cast<float>(prob_log2) - max_scaled;
    max = tile_max;
    sum *= alpha;
    return {alpha, exp2_bias};
  }

  // rescale() for a main loop that skips multiplying its output rows while it can: the
  // running max moves only when the tile's max exceeds it by more than kLazyMaxLog2 in
  // log2 units (and always from -inf). Until then alpha is exactly 1 and probabilities
  // reach at most 2^kLazyMaxLog2 instead of 1, which the fp32 sum holds exactly and
  // fp16 or bf16 P holds with its usual relative precision; the LSE and the output's
  // normalization take the same max and sum, so the result is the softmax's. After the
  // first tiles a row's max rarely grows that much, so most tiles skip the rescale.
  static constexpr float kLazyMaxLog2 = 8.f;
  __device__ __forceinline__ Step rescale_lazily(float tile_max, float exp2_scale) {
    // From -inf the difference is NaN or inf: the max moves.
    if ((tile_max - max) * exp2_scale <= kLazyMaxLog2) return {1.f, -max * exp2_scale};
    return rescale(tile_max, exp2_scale, 0);
  }

  // The probability of one of the row's scores in the tile (times 2^prob_log2), added
  // to the sum; exp2 (fast_exp2 unless a main loop moves some of its exponentials to
  // another pipe) computes it from its log2.
  template <typename Exp2>
  __device__ __forceinline__ float prob(float score, float exp2_scale, const Step& step, Exp2 exp2) {
    const float p = exp2(fmaf(score, exp2_scale, step.exp2_bias));
    sum += p;
    return p;
  }
  __device__ __forceinline__ float prob(float score, float exp2_scale, const Step& step) {
    return prob(score, exp2_scale, step, [](float x) { return fast_exp2(x); });
  }

  // The finished row; `row_sum` is `sum` summed over every thread that holds part of it.
  __device__ __forceinline__ RowTotals totals(float row_sum, float exp2_scale, int prob_log2) const {
    return {max == neg_inf() ? neg_inf() : max * exp2_scale, row_sum * pow2(-prob_log2)};
  }
};

// How a finished row is written: out = accumulated row * out_scale, and its LSE
// (natural log) for the LSE output or a merge.
struct RowNormalization {
  float out_scale;
  float lse;
};

// out_multiplier scales the normalized row (dequantization, fp8 output scale). A fully
// masked row outputs zeros.
__device__ __forceinline__ RowNormalization normalize_row(RowTotals row, float out_multiplier) {
  const float sum = row.sum;
  return {sum > 0.f ? out_multiplier / sum : 0.f,
          sum > 0.f ? (row.max_log2 + fast_log2(sum)) * kLn2 : neg_inf()};
}

// With an attention sink: the sink's logit joins the denominator but has no value row.
__device__ __forceinline__ RowNormalization normalize_row_with_sink(RowTotals row, float sink_logit,
                                                                     float out_multiplier) {
  const float sink_log2 = sink_logit * kLog2e;
  const float top = fmaxf(row.max_log2, sink_log2);
  const float keep = fast_exp2(row.max_log2 - top);  // 0 for a fully masked row
  const float total = row.sum * keep + fast_exp2(sink_log2 - top);
  return {keep / total * out_multiplier, (top + fast_log2(total)) * kLn2};
}

}  // namespace attnjit

// ---- templates/common/epilogue.cuh ----
// Epilogues: where finished output rows go, for every main loop. A main loop hands
// over a row as `pairs`, a callable that calls fn(dim, a, b) for each pair of adjacent
// head dims (dim, dim + 1) of the row that the calling thread holds (accumulated
// values), and the row's out_scale (RowNormalization, online_softmax.cuh).

namespace attnjit {

// Straight to the output row: each pair encoded as stored (f32, or fp8 quantized with
// saturation by OutElem).
template <typename Pairs>
__device__ __forceinline__ void write_output_row(OutputStorage* out, float out_scale, Pairs pairs) {
  pairs([&](int dim, float a, float b) { OutElem::store_pair(out + dim, a * out_scale, b * out_scale); });
}

// A piece of a split KV range: f32, normalized by the piece's own sum (a merge
// completes the row with the pieces' LSEs).
template <typename Pairs>
__device__ __forceinline__ void write_partial_row(float* out, float out_scale, Pairs pairs) {
  pairs([&](int dim, float a, float b) {
    *reinterpret_cast<float2*>(out + dim) = make_float2(a * out_scale, b * out_scale);
  });
}

// 16-bit output through shared memory, so global stores are 16 bytes wide: first every
// thread stages its pairs into a row of `kRowBytes`-byte staging rows (Writer packs
// two floats into the 16-bit output type), then, after the threads that share the
// staging rows have synchronized, copy_staged_rows() copies the valid rows out.
template <typename Writer, typename Pairs>
__device__ __forceinline__ void stage_output_row(unsigned char* row, float out_scale, Pairs pairs) {
  pairs([&](int dim, float a, float b) {
    *reinterpret_cast<u32*>(row + dim * 2) = Writer::pack2(a * out_scale, b * out_scale);
  });
}

// Copies staged rows [0, kRows) to block rows first_row + r (those below
// rows.rows_valid) in 16-byte chunks; `kThreads` threads share the copies, `thread`
// being the caller's index among them.
template <int kRows, int kRowBytes, int kThreads, typename Rows>
__device__ __forceinline__ void copy_staged_rows(const unsigned char* staging, const Rows& rows,
                                                 int first_row, int thread) {
  constexpr int kChunksPerRow = kHeadDim / 8;  // 16-byte chunks of a 16-bit row
#pragma unroll
  for (int chunk = thread; chunk < kRows * kChunksPerRow; chunk += kThreads) {
    const int row = chunk / kChunksPerRow;
    const int col = chunk % kChunksPerRow;
    if (first_row + row < rows.rows_valid)
      store16(rows.out_row(first_row + row) + col * 8, staging + row * kRowBytes + col * 16);
  }
}

}  // namespace attnjit

// ---- templates/kernels/attention_core.cuh ----
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

// ---- templates/kernels/prefill.cuh ----
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
