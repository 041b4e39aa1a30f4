// attnjit device vocabulary, HIP dialect (CDNA 2 and 3: gfx90a, gfx942).
//
// The same names as templates/cuda/tile_ops.cuh where a shared template calls them
// (element types, storage encoders, output writers, shuffles, barriers, exp2/log2), in
// compiler builtins only: no HIP header, no ROCm device library, so hiprtc and the
// offline clang (-nogpuinc -nogpulib) compile the same text (docs/amd.md). Codegen
// places before this file templates/hip/prelude.h (the CUDA spellings the shared
// templates use), number_formats.h and mfma_layouts.h (plain functions the host tests
// share).
//
// A "warp" here is a wavefront of 64 lanes: every reduction over a warp covers 64.

namespace attnjit {

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

// inline: a kernel that uses neither (merge) must not draw an unused-variable warning.
inline constexpr float kLog2e = 1.4426950408889634f;  // log2(e): exp(x) == exp2(x * log2e)
inline constexpr float kLn2 = 0.6931471805599453f;    // ln(2):   log(x) == log2(x) * ln2

// Four 16-bit MFMA operands (two registers), and the accumulators of one MFMA.
typedef short Bf16x4 __attribute__((ext_vector_type(4)));
typedef _Float16 Fp16x4 __attribute__((ext_vector_type(4)));
typedef float F32x16 __attribute__((ext_vector_type(16)));
typedef float F32x4 __attribute__((ext_vector_type(4)));

// ---- 16-bit element types ------------------------------------------------------------
// Each knows how to pack two floats into a register and how to run the MFMAs on four
// of its values per operand (mfma_layouts.h says which four). Operands travel as two
// 32-bit words (elements 0-1, 2-3) and are reinterpreted at the instruction.
struct Bf16 {
  static constexpr int kBytes = 2;
  static constexpr int kMantissaBits = 7;
  static constexpr int kExponentBias = 127;
  static __device__ __forceinline__ u16 from_float(float x) { return formats::bf16_bits(x); }
  static __device__ __forceinline__ u32 pack2(float lo, float hi) {
    return static_cast<u32>(from_float(lo)) | (static_cast<u32>(from_float(hi)) << 16);
  }
  static __device__ __forceinline__ float to_float(u16 x) { return formats::bf16_value(x); }
  static __device__ __forceinline__ void store_pair(u16* p, float a, float b) {
    *reinterpret_cast<u32*>(p) = pack2(a, b);
  }
  // D(32x32, f32) += A(32x8) * B(8x32).
  static __device__ __forceinline__ void mfma_32x32x8(F32x16& d, u64 a, u64 b) {
    d = __builtin_amdgcn_mfma_f32_32x32x8bf16_1k(__builtin_bit_cast(Bf16x4, a),
                                                  __builtin_bit_cast(Bf16x4, b), d, 0, 0, 0);
  }
  // D(16x16, f32) += A(16x16) * B(16x16).
  static __device__ __forceinline__ void mfma_16x16x16(F32x4& d, u64 a, u64 b) {
    d = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(__builtin_bit_cast(Bf16x4, a),
                                                   __builtin_bit_cast(Bf16x4, b), d, 0, 0, 0);
  }
};

struct Fp16 {
  static constexpr int kBytes = 2;
  static constexpr int kMantissaBits = 10;
  static constexpr int kExponentBias = 15;
  // v_cvt_f16_f32: round to nearest even.
  static __device__ __forceinline__ u16 from_float(float x) {
    return __builtin_bit_cast(u16, static_cast<_Float16>(x));
  }
  static __device__ __forceinline__ u32 pack2(float lo, float hi) {
    return static_cast<u32>(from_float(lo)) | (static_cast<u32>(from_float(hi)) << 16);
  }
  static __device__ __forceinline__ float to_float(u16 x) {
    return static_cast<float>(__builtin_bit_cast(_Float16, x));
  }
  static __device__ __forceinline__ void store_pair(u16* p, float a, float b) {
    *reinterpret_cast<u32*>(p) = pack2(a, b);
  }
  static __device__ __forceinline__ void mfma_32x32x8(F32x16& d, u64 a, u64 b) {
    d = __builtin_amdgcn_mfma_f32_32x32x8f16(__builtin_bit_cast(Fp16x4, a),
                                             __builtin_bit_cast(Fp16x4, b), d, 0, 0, 0);
  }
  static __device__ __forceinline__ void mfma_16x16x16(F32x4& d, u64 a, u64 b) {
    d = __builtin_amdgcn_mfma_f32_16x16x16f16(__builtin_bit_cast(Fp16x4, a),
                                              __builtin_bit_cast(Fp16x4, b), d, 0, 0, 0);
  }
};

// ---- storage decoders -------------------------------------------------------------------
// How elements stored in global memory become MFMA operands. The MFMA main loop loads
// 16 bytes of a row at a time into registers and writes them to LDS as the compute
// type (decode16): 16-bit types as they are, f32 rounded to the compute type, 8-bit
// codes decoded exactly. kScaleLog2 (CUDA's factor of values left scaled by a power of
// two) is 0 for every HIP decoder: they leave the values themselves. kLargestCodeLog2:
// floor(log2) of the largest magnitude a quantized code holds (0 where values carry no
// per-token scale).
struct Raw16 {
  typedef u16 Storage;
  static constexpr bool kConverts = false;
  static constexpr int kLargestCodeLog2 = 0;
  template <typename E>
  static constexpr int kScaleLog2 = 0;
  static constexpr int kElemsPer16Bytes = 8;
  template <typename E>
  static __device__ __forceinline__ void decode16(u32 (&out)[4], const uint4& in) {
    out[0] = in.x, out[1] = in.y, out[2] = in.z, out[3] = in.w;
  }
};
struct DecodeF32 {
  typedef float Storage;
  static constexpr bool kConverts = true;
  static constexpr int kLargestCodeLog2 = 0;
  template <typename E>
  static constexpr int kScaleLog2 = 0;
  static constexpr int kElemsPer16Bytes = 4;
  template <typename E>
  static __device__ __forceinline__ void decode16(u32 (&out)[2], const uint4& in) {
    out[0] = E::pack2(__uint_as_float(in.x), __uint_as_float(in.y));
    out[1] = E::pack2(__uint_as_float(in.z), __uint_as_float(in.w));
  }
};
// OCP FP8, decoded exactly (formats::fp8_value: the CUDA decoder's values) and converted
// to the compute type, which holds every code exactly (bf16: every one; fp16: e4m3's
// and e5m2's finite codes).
template <int kMantissaBits, int kExponentBias, int kLargestExponent>
struct DecodeFp8 {
  typedef unsigned char Storage;
  static constexpr bool kConverts = true;
  static constexpr int kLargestCodeLog2 = kLargestExponent;
  template <typename E>
  static constexpr int kScaleLog2 = 0;
  static constexpr int kElemsPer16Bytes = 16;
  static __device__ __forceinline__ float value(u32 code) {
    return formats::fp8_value(static_cast<unsigned char>(code & 0xFFu), kMantissaBits, kExponentBias);
  }
  template <typename E>
  static __device__ __forceinline__ void decode16(u32 (&out)[8], const uint4& in) {
    const u32 words[4] = {in.x, in.y, in.z, in.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const u32 w = words[i / 2] >> (16 * (i % 2));
      out[i] = E::pack2(value(w), value(w >> 8));
    }
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
  static constexpr int kElemsPer16Bytes = 16;
  template <typename E>
  static __device__ __forceinline__ void decode16(u32 (&out)[8], const uint4& in) {
    const u32 words[4] = {in.x, in.y, in.z, in.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const u32 w = words[i / 2] >> (16 * (i % 2));
      out[i] = E::pack2(static_cast<float>(static_cast<signed char>(w & 0xFFu)),
                        static_cast<float>(static_cast<signed char>((w >> 8) & 0xFFu)));
    }
  }
};

// ---- storage encoders (cache writes) ------------------------------------------------------
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
  static __device__ __forceinline__ u16 encode(float x) { return Format::from_float(x); }
};
// OCP FP8, round-to-nearest-even, saturating (formats::fp8_encode).
template <int kMantissaBits, int kExponentBias, int kMax>
struct EncodeFp8 {
  typedef unsigned char Storage;
  static constexpr float kMaxValue = static_cast<float>(kMax);
  static constexpr float kMinScale = 1e-12f;
  static __device__ __forceinline__ unsigned char encode(float x) {
    return formats::fp8_encode(x, kMantissaBits, kExponentBias, kMaxValue);
  }
};
typedef EncodeFp8<3, 7, 448> EncodeE4m3;
typedef EncodeFp8<2, 15, 57344> EncodeE5m2;
struct EncodeInt8 {
  typedef signed char Storage;
  static constexpr float kMaxValue = 127.f;
  static constexpr float kMinScale = 1e-12f;
  static __device__ __forceinline__ signed char encode(float x) { return formats::int8_encode(x); }
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

// ---- wavefront and block -----------------------------------------------------------------
inline constexpr int kWaveLanes = mfma::kWaveLanes;

// This lane's index in its wavefront (mbcnt counts the lanes below it).
__device__ __forceinline__ int lane_id() {
  return static_cast<int>(__builtin_amdgcn_mbcnt_hi(~0u, __builtin_amdgcn_mbcnt_lo(~0u, 0u)));
}

// LDS and global memory stay ordered around the barrier (HIP's __syncthreads).
__device__ __forceinline__ void block_barrier() {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
  __builtin_amdgcn_s_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}
// A wavefront runs in lockstep; what one lane wrote to LDS must be visible to the others.
__device__ __forceinline__ void warp_barrier() {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "wavefront");
  __builtin_amdgcn_wave_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "wavefront");
}

// 16-byte copies: global <-> registers <-> LDS (CDNA has no asynchronous global-to-LDS
// copy of 16 bytes; the main loop keeps the next tile's loads in flight in registers).
__device__ __forceinline__ uint4 load16(const void* src) { return *static_cast<const uint4*>(src); }
__device__ __forceinline__ void store16(void* dst, const void* src) {
  *static_cast<uint4*>(dst) = *static_cast<const uint4*>(src);
}

// What other blocks of this launch published (after the count that says it is there):
// relaxed atomic loads at agent scope, which bypass the CU's own vector cache (glc on
// gfx90a, sc1 on gfx942) and read the L2, where the publishers' release fences put it.
// CUDA's __ldcg; HIP's own __ldcg is a plain load, for half types only.
__device__ __forceinline__ float load_l2(const float* p) {
  return __hip_atomic_load(p, __ATOMIC_RELAXED, __HIP_MEMORY_SCOPE_AGENT);
}
__device__ __forceinline__ float2 load_l2(const float2* p) {
  const u64 bits = __hip_atomic_load(reinterpret_cast<const u64*>(p), __ATOMIC_RELAXED, __HIP_MEMORY_SCOPE_AGENT);
  return make_float2(__builtin_bit_cast(float, static_cast<u32>(bits)), __builtin_bit_cast(float, static_cast<u32>(bits >> 32)));
}

// ---- arithmetic ---------------------------------------------------------------------------
__device__ __forceinline__ float neg_inf() { return __builtin_bit_cast(float, 0xff800000u); }
// 2^n for n in [-126, 127], exactly.
__device__ __forceinline__ float pow2(int n) { return __builtin_bit_cast(float, static_cast<u32>(n + 127) << 23); }
// v_exp_f32 / v_log_f32: the hardware's approximations, like CUDA's ex2/lg2.approx. The
// raw instructions have their own builtins in newer compilers; older ones (hiprtc of
// ROCm 5) lower the generic exp2/log2 to the same instructions.
__device__ __forceinline__ float fast_exp2(float x) {
#if __has_builtin(__builtin_amdgcn_exp2f)
  return __builtin_amdgcn_exp2f(x);
#else
  return __builtin_exp2f(x);
#endif
}
__device__ __forceinline__ float fast_log2(float x) {
#if __has_builtin(__builtin_amdgcn_logf)
  return __builtin_amdgcn_logf(x);
#else
  return __builtin_log2f(x);
#endif
}
__device__ __forceinline__ float fast_rcp(float x) { return __builtin_amdgcn_rcpf(x); }  // rcp(inf) == 0
// tanh through exp2: 1 - 2 / (e^{2x} + 1). CDNA has no tanh instruction; this saturates
// correctly at both ends with an absolute error near 1e-7. (The name is the CUDA
// vocabulary's, whose tanh.approx soft-capping calls.)
__device__ __forceinline__ float tanh_approx(float x) {
  return 1.f - 2.f * fast_rcp(fast_exp2(x * (2.f * kLog2e)) + 1.f);
}
__device__ __forceinline__ float tanh_fast(float x) { return tanh_approx(x); }
// Correctly rounded square root whatever the compiler: v_sqrt_f32 is within 1 ulp, and
// the neighbour whose square brackets x is chosen with two FMAs (inputs below 2^-96 are
// scaled by 2^32 first so the residuals stay normal). Masks compare its results.
__device__ __forceinline__ float sqrt_rn(float x) {
  const bool tiny = x < 0x1p-96f;
  const float xs = tiny ? x * 0x1p32f : x;
#if __has_builtin(__builtin_amdgcn_sqrtf)
  float s = __builtin_amdgcn_sqrtf(xs);
#else
  float s = __builtin_sqrtf(xs);
#endif
  if (xs > 0.f && s < __builtin_inff()) {
    const u32 bits = __builtin_bit_cast(u32, s);
    const float down = __builtin_bit_cast(float, bits - 1u);
    const float up = __builtin_bit_cast(float, bits + 1u);
    if (__builtin_fmaf(-down, s, xs) <= 0.f) s = down;
    if (__builtin_fmaf(-up, s, xs) > 0.f) s = up;
  }
  return tiny ? s * 0x1p-16f : s;
}

// ---- cross-lane ---------------------------------------------------------------------------
// Lane `source`'s value of v, for every lane (ds_bpermute addresses lanes in bytes).
__device__ __forceinline__ float shuffle_from(float v, int source) {
  return __builtin_bit_cast(float, __builtin_amdgcn_ds_bpermute(source << 2, __builtin_bit_cast(int, v)));
}
__device__ __forceinline__ float xor_shuffle(float v, int mask) { return shuffle_from(v, lane_id() ^ mask); }
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int mask = kWaveLanes / 2; mask > 0; mask /= 2) v = fmaxf(v, xor_shuffle(v, mask));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int mask = kWaveLanes / 2; mask > 0; mask /= 2) v += xor_shuffle(v, mask);
  return v;
}
// The MFMA main loop's rows: a query row is held by a lane and its row partner
// (mfma::row_partner_lane, the other half of the wavefront).
__device__ __forceinline__ float row_max(float v) {
  return fmaxf(v, shuffle_from(v, mfma::row_partner_lane(lane_id())));
}
__device__ __forceinline__ float row_sum(float v) { return v + shuffle_from(v, mfma::row_partner_lane(lane_id())); }

}  // namespace attnjit
