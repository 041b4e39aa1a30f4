// 2^x on the fused multiply-add pipe, for a share of the online softmax's
// exponentials: the special-function unit's ex2 (MUFU.EX2, one per score) limits the
// wgmma main loop at small head dims and with soft-capping, while the FMA pipe has room
// (FlashAttention-4 splits its exponentials the same way). Float adds, multiply-adds
// and integer operations only: no special-function instruction, and no rounding one
// (cvt.rni, FRND), which runs at the conversion rate, a fraction of the FMA's.
// Vendor-free plain C++, shared verbatim by the generated device source and the host
// test that measures its error (tests/compiler/test_exp2_poly.cpp), so the two are one
// statement.
#ifndef ATTNJIT_EXP2_POLY_H
#define ATTNJIT_EXP2_POLY_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__) || defined(__HIP__)
#define ATTNJIT_EXP2_POLY_INLINE __device__ __forceinline__
#else
// On the host (tests) the includer declares fmaf (<cmath>) first: this file pulls in no
// header of its own, as the generated source may name none.
#define ATTNJIT_EXP2_POLY_INLINE inline
#endif

namespace attnjit {

// 2^x for x <= 127, as x = n + f with n = round(x) and f in [-1/2, 1/2]:
//  - n: adding 1.5 * 2^23 leaves a float whose unit in the last place is 1, so the
//    add rounds x to the nearest integer n and stores 2^22 + n in the low mantissa
//    bits; subtracting the constant again gives n as a float, and x - n = f is exact.
//  - 2^f: a degree-4 polynomial with p(0) = 1, the minimax of the relative error on
//    [-1/2, 1/2] under that constraint (Remez): 3.56e-6 in exact arithmetic. Evaluated
//    in float, the largest relative error over every float x in [-2, 2) (every f, at
//    n = -2 ... 2; n itself is exact) is 3.63e-6: far under the rounding of the 16-bit
//    P that P V takes (up to 2^-8 relative for bf16, 2^-11 for fp16).
//  - 2^n: shifting the bits of x + 1.5 * 2^23 left by 23 keeps their low 9 bits, n in
//    two's complement, in the exponent field; adding that to p's bits multiplies p by
//    2^n.
// Exact powers of two at integers (exp2_poly(0) == 1, like ex2.approx); exactly 0 for
// every x < -126 and for -inf (ex2.approx.ftz flushes results below the smallest normal
// the same way, and a fully masked row's sum must stay exactly 0: normalize_row); every
// other result is a normal float (p >= 1 where n = -126). NaN gives NaN.
ATTNJIT_EXP2_POLY_INLINE float exp2_poly(float x) {
  constexpr float kRoundToInteger = 12582912.f;  // 1.5 * 2^23
  const float shifted = x + kRoundToInteger;
  const float f = x - (shifted - kRoundToInteger);
  float p = fmaf(0.00978291221f, f, 0.0559768826f);
  p = fmaf(p, f, 0.240207106f);
  p = fmaf(p, f, 0.693113625f);
  p = fmaf(p, f, 1.f);
  // Unsigned arithmetic: the bits of x below -126 (where the sum is meaningless) wrap
  // instead of overflowing, and the select discards them.
  const unsigned bits = __builtin_bit_cast(unsigned, p) + (__builtin_bit_cast(unsigned, shifted) << 23);
  return x < -126.f ? 0.f : __builtin_bit_cast(float, bits);
}

}  // namespace attnjit

#endif  // ATTNJIT_EXP2_POLY_H
