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
