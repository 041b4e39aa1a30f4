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

// An OCP FP8 code (1 sign bit, 7 - mantissa_bits exponent bits, mantissa_bits mantissa
// bits, exponent_bias) as f32, exactly: the CUDA decoder's map, into f32 instead of a
// 16-bit type. The sign-extended code is shifted so that its seven magnitude bits sit
// under f32's exponent field and its sign at bit 31, which reads the code times
// 2^(exponent_bias - 127), subnormals included; one multiply by the power of two takes
// the factor back (f32 has the range for every code). So a decoded value is the CUDA
// decoder's value, without the scale that decoder leaves for the kernel to fold.
ATTNJIT_PORTABLE float fp8_value(unsigned char code, int mantissa_bits, int exponent_bias) {
  const int shift = 23 - mantissa_bits;
  const unsigned sign_extended = static_cast<unsigned>(static_cast<int>(static_cast<signed char>(code)));
  const unsigned bits = (sign_extended << shift) & (0x80000000u | (0x7Fu << shift));
  const float unscale = __builtin_bit_cast(float, static_cast<unsigned>(254 - exponent_bias) << 23);
  return __builtin_bit_cast(float, bits) * unscale;
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
