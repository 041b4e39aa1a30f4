// Number formats of the HIP vocabulary, as plain functions: the device code calls them,
// and the host tests (tests/amd/) include this file to check them bit for bit on the
// CPU, with ATTNJIT_PORTABLE defined as `inline`. Only compiler builtins that GCC and
// clang both have, so the two builds compute the same thing.
//
// FP8: attnjit's FP8 caches hold OCP e4m3 / e5m2 codes on every vendor (written by
// cache_write, read by the attention kernels), so a cache is the same bytes on NVIDIA
// and AMD. gfx942's hardware FP8 conversions read the fnuz formats instead (another
// exponent bias, no negative zero, no infinities), and gfx90a has none; so OCP codes
// are decoded here in software, by the same map as the CUDA decoder (docs/amd.md).

namespace attnjit {
namespace formats {

// f32 -> bf16 bits, rounded to nearest even (CDNA 2 and 3 have no conversion
// instruction). A NaN stays a (quiet) NaN instead of rounding into infinity.
ATTNJIT_PORTABLE unsigned short bf16_bits(float x) {
  const unsigned u = __builtin_bit_cast(unsigned, x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<unsigned short>((u >> 16) | 0x40u);
  return static_cast<unsigned short>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

ATTNJIT_PORTABLE float bf16_value(unsigned short bits) {
  return __builtin_bit_cast(float, static_cast<unsigned>(bits) << 16);
}

// An OCP FP8 code (1 sign bit, 7 - fp8_mantissa_bits exponent bits, fp8_mantissa_bits
// mantissa bits) as the bits of a 16-bit compute type with compute_mantissa_bits (bf16:
// 7, fp16: 10): the seven magnitude bits move under the compute type's exponent field
// and the sign to bit 15. The result reads the code with the compute type's exponent
// bias instead of its own, i.e. it is the code's value times 2^(fp8 bias - compute
// bias), exactly (subnormals included). This is the CUDA decoder's map, lane for lane
// (a sign-extended byte, shifted, masked), so both vendors read a cache alike.
ATTNJIT_PORTABLE unsigned short fp8_in_compute_bits(unsigned char code, int fp8_mantissa_bits,
                                                    int compute_mantissa_bits) {
  const int shift = compute_mantissa_bits - fp8_mantissa_bits;
  const unsigned keep = 0x8000u | (0x7Fu << shift);
  const unsigned sign_extended =
      static_cast<unsigned short>(static_cast<short>(static_cast<signed char>(code)));
  return static_cast<unsigned short>((sign_extended << shift) & keep);
}

// f32 -> OCP FP8 code with round-to-nearest-even and saturation to the largest finite
// value (NaN saturates too), the CUDA encoder's arithmetic: round |x| to the grid of
// its binade, then place the bits.
ATTNJIT_PORTABLE unsigned char fp8_encode(float x, int mantissa_bits, int exponent_bias, float max_value) {
  const float a = __builtin_fminf(__builtin_fabsf(x), max_value);
  const int min_exponent = 1 - exponent_bias;  // of the smallest normal
  int e = static_cast<int>((__builtin_bit_cast(unsigned, a) >> 23) & 0xFFu) - 127;
  e = e < min_exponent ? min_exponent : e;
  const float quantum = __builtin_bit_cast(float, static_cast<unsigned>(e - mantissa_bits + 127) << 23);
  const float r = __builtin_fminf(__builtin_rintf(a / quantum) * quantum, max_value);
  unsigned code;
  if (r < __builtin_bit_cast(float, static_cast<unsigned>(min_exponent + 127) << 23)) {
    code = static_cast<unsigned>(r / quantum);  // subnormal: a multiple of the quantum
  } else {
    const unsigned bits = __builtin_bit_cast(unsigned, r);
    const int re = static_cast<int>((bits >> 23) & 0xFFu) - 127;
    code = (static_cast<unsigned>(re + exponent_bias) << mantissa_bits) |
           ((bits >> (23 - mantissa_bits)) & ((1u << mantissa_bits) - 1u));
  }
  return static_cast<unsigned char>(code | (x < 0.f && code != 0u ? 0x80u : 0u));
}

// f32 -> INT8, rounded to nearest even and clamped to [-127, 127] (NaN gives -127).
ATTNJIT_PORTABLE signed char int8_encode(float x) {
  return static_cast<signed char>(
      static_cast<int>(__builtin_rintf(__builtin_fminf(__builtin_fmaxf(x, -127.f), 127.f))));
}

}  // namespace formats
}  // namespace attnjit
