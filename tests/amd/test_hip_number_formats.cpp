// The HIP vocabulary's number formats (templates/hip/number_formats.h), run on the CPU:
// the FP8 decoder gives the CUDA decoder's values for every code the encoder writes,
// which are the OCP values (so an FP8 cache reads the same on both vendors); the encoders round to
// nearest even and saturate like the CUDA encoder; bf16 rounding; and why gfx942's fnuz
// conversions cannot read attnjit's OCP caches as they are.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "catch.h"

#define ATTNJIT_PORTABLE inline
#include "templates/hip/number_formats.h"

namespace {

using attnjit::formats::bf16_bits;
using attnjit::formats::fp8_encode;
using attnjit::formats::fp8_value;

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// A model of the CUDA decoder (templates/cuda/tile_ops.cuh, DecodeFp8::pair) on one
// pair of codes, instruction by instruction: prmt.b32 with the sign-replicating
// selector (byte `lo` of {b, a} and its sign byte, then byte `hi`), shift, mask.
uint32_t cuda_fp8_pair(uint32_t a, uint32_t b, int lo, int hi, int fp8_mantissa, int compute_mantissa) {
  const uint64_t bytes = (static_cast<uint64_t>(b) << 32) | a;
  auto byte = [&](int i) { return static_cast<uint32_t>((bytes >> (8 * i)) & 0xFFu); };
  auto sign_byte = [&](int i) { return (byte(i) & 0x80u) ? 0xFFu : 0x00u; };
  const uint32_t lanes = byte(lo) | (sign_byte(lo) << 8) | (byte(hi) << 16) | (sign_byte(hi) << 24);
  const int shift = compute_mantissa - fp8_mantissa;
  const uint32_t keep = 0x8000u | (0x7Fu << shift);
  return (lanes << shift) & (keep | (keep << 16));
}

// The value of 16-bit compute-type bits: bf16 (7 mantissa bits) or fp16 (10).
double compute_value(uint16_t bits, int mantissa_bits) {
  if (mantissa_bits == 7) return bits_float(static_cast<uint32_t>(bits) << 16);
  const int sign = bits >> 15, e = (bits >> 10) & 0x1F, m = bits & 0x3FF;
  double v = e == 0 ? std::ldexp(m, -24) : e == 31 ? INFINITY : std::ldexp(1024 + m, e - 25);
  return sign ? -v : v;
}

// An OCP FP8 code's value from the OCP definition (E4M3: bias 7, S.1111.111 is NaN, no
// infinity; E5M2: bias 15, IEEE-like infinities and NaNs); NaN for the NaN codes.
double ocp_value(uint8_t code, int mantissa_bits) {
  const int exponent_bits = 7 - mantissa_bits;
  const int bias = (1 << (exponent_bits - 1)) - 1;
  const int sign = code >> 7, e = (code >> mantissa_bits) & ((1 << exponent_bits) - 1);
  const int m = code & ((1 << mantissa_bits) - 1);
  const int max_e = (1 << exponent_bits) - 1;
  if (mantissa_bits == 3 && e == max_e && m == 7) return NAN;
  if (mantissa_bits == 2 && e == max_e) return m == 0 ? (sign ? -INFINITY : INFINITY) : NAN;
  const double v = e == 0 ? std::ldexp(m, 1 - bias - mantissa_bits)
                          : std::ldexp((1 << mantissa_bits) + m, e - bias - mantissa_bits);
  return sign ? -v : v;
}

// The fnuz formats gfx942's FP8 instructions read: bias one larger than OCP's, 0x80 the
// only NaN, no negative zero, no infinities (every other code finite).
double fnuz_value(uint8_t code, int mantissa_bits) {
  if (code == 0x80) return NAN;
  const int exponent_bits = 7 - mantissa_bits;
  const int bias = 1 << (exponent_bits - 1);
  const int sign = code >> 7, e = (code >> mantissa_bits) & ((1 << exponent_bits) - 1);
  const int m = code & ((1 << mantissa_bits) - 1);
  const double v = e == 0 ? std::ldexp(m, 1 - bias - mantissa_bits)
                          : std::ldexp((1 << mantissa_bits) + m, e - bias - mantissa_bits);
  return sign ? -v : v;
}

struct Fp8Format {
  int mantissa_bits, bias;
  float max_value;
};
constexpr Fp8Format kE4m3{3, 7, 448.f};
constexpr Fp8Format kE5m2{2, 15, 57344.f};

// The code an exact round-to-nearest-even encoder with saturation gives: the finite code
// nearest to x (ties to the even code), searched over every code.
uint8_t nearest_code(float x, const Fp8Format& f) {
  if (std::isnan(x)) x = f.max_value;  // the CUDA encoder saturates NaN
  const double a = std::min<double>(std::fabs(x), f.max_value);
  int best = 0;
  double best_distance = INFINITY;
  for (int code = 0; code < 0x80; ++code) {
    const double v = ocp_value(static_cast<uint8_t>(code), f.mantissa_bits);
    if (!std::isfinite(v)) continue;
    const double d = std::fabs(v - a);
    if (d < best_distance || (d == best_distance && code % 2 == 0)) best = code, best_distance = d;
  }
  return static_cast<uint8_t>(best | (x < 0 && best != 0 ? 0x80 : 0));
}

}  // namespace

TEST_CASE("HIP FP8 decoding gives the CUDA decoder's values for every code it writes", "[hip][formats]") {
  for (const Fp8Format& f : {kE4m3, kE5m2}) {
    for (int compute_mantissa : {7, 10}) {  // bf16, fp16
      const int compute_bias = compute_mantissa == 7 ? 127 : 15;
      // The CUDA decoder leaves values times 2^(fp8 bias - compute bias); its kernel
      // folds the factor back.
      const double unscale = std::ldexp(1.0, compute_bias - f.bias);
      int compared = 0;
      for (int code = 0; code < 256; ++code) {
        INFO("mantissa " << f.mantissa_bits << "/" << compute_mantissa << ", code " << code);
        // The code as the low and as the high lane of a CUDA pair, next to another code.
        const uint32_t other = static_cast<uint32_t>((code * 37 + 11) & 0xFF);
        const uint32_t word = static_cast<uint32_t>(code) | (other << 8);
        const uint32_t low = cuda_fp8_pair(word, word, 0, 1, f.mantissa_bits, compute_mantissa) & 0xFFFFu;
        const uint32_t high = cuda_fp8_pair(word, word, 1, 0, f.mantissa_bits, compute_mantissa) >> 16;
        CHECK(low == high);
        const double cuda = compute_value(static_cast<uint16_t>(low), compute_mantissa) * unscale;
        const double hip = fp8_value(static_cast<uint8_t>(code), f.mantissa_bits, f.bias);
        // OCP's NaN / infinity codes (never written: the encoder saturates) may differ.
        if (!std::isfinite(ocp_value(static_cast<uint8_t>(code), f.mantissa_bits))) continue;
        CHECK(hip == cuda);
        CHECK(std::signbit(hip) == std::signbit(cuda));
        ++compared;
      }
      CHECK(compared == (f.mantissa_bits == 3 ? 254 : 248));
    }
  }
}

TEST_CASE("decoded FP8 codes are the OCP values, exactly", "[hip][formats]") {
  for (const Fp8Format& f : {kE4m3, kE5m2}) {
    int finite = 0;
    for (int code = 0; code < 256; ++code) {
      INFO("mantissa " << f.mantissa_bits << ", code " << code);
      const double want = ocp_value(static_cast<uint8_t>(code), f.mantissa_bits);
      const double got = fp8_value(static_cast<uint8_t>(code), f.mantissa_bits, f.bias);
      if (!std::isfinite(want)) continue;  // the encoder never writes these codes
      ++finite;
      CHECK(got == want);
      CHECK(std::signbit(got) == std::signbit(want));  // -0 stays -0
      // Every finite code is exact in bf16; in fp16 too (e4m3's smallest, 2^-9, is an
      // fp16 normal; e5m2 shares fp16's exponent).
      CHECK(static_cast<double>(attnjit::formats::bf16_value(attnjit::formats::bf16_bits(static_cast<float>(got)))) == got);
    }
    CHECK(finite == (f.mantissa_bits == 3 ? 254 : 248));
  }
}

TEST_CASE("gfx942's fnuz conversions read OCP codes at half their value, and not at all at the edges",
          "[hip][formats]") {
  // Why attnjit decodes OCP codes in software on gfx942 instead of with its FP8
  // instructions: the same bits mean half the value, 0x80 (OCP's -0) is fnuz's NaN, and
  // OCP's NaN and infinity codes are finite fnuz numbers.
  for (const Fp8Format& f : {kE4m3, kE5m2}) {
    int halved = 0;
    for (int code = 0; code < 256; ++code) {
      const double ocp = ocp_value(static_cast<uint8_t>(code), f.mantissa_bits);
      const double fnuz = fnuz_value(static_cast<uint8_t>(code), f.mantissa_bits);
      if (code == 0x80) {
        CHECK(std::isnan(fnuz));
        CHECK(ocp == 0.0);
      } else if (!std::isfinite(ocp)) {
        CHECK(std::isfinite(fnuz));
      } else {
        CHECK(fnuz * 2 == ocp);
        ++halved;
      }
    }
    CHECK(halved == (f.mantissa_bits == 3 ? 253 : 247));
  }
}

TEST_CASE("HIP FP8 encoding rounds to nearest even and saturates", "[hip][formats]") {
  std::vector<float> xs = {0.f, -0.f, 1.f, -1.f, 448.f, 449.f, 464.f, 480.f, 1e6f, -1e6f, 57344.f,
                           61440.f, 1e-9f, -1e-9f, INFINITY, -INFINITY, NAN};
  for (const Fp8Format& f : {kE4m3, kE5m2}) {
    // Every code's value and every midpoint between neighbouring codes (the ties).
    for (int code = 0; code < 0x80; ++code) {
      const double v = ocp_value(static_cast<uint8_t>(code), f.mantissa_bits);
      const double next = ocp_value(static_cast<uint8_t>(code + 1), f.mantissa_bits);
      if (!std::isfinite(v)) continue;
      xs.push_back(static_cast<float>(v));
      xs.push_back(static_cast<float>(-v));
      if (std::isfinite(next)) xs.push_back(static_cast<float>((v + next) / 2));
    }
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-20.f, 17.f);
  for (int i = 0; i < 20000; ++i) {
    const float magnitude = std::exp2(exponent(rng));
    xs.push_back(i % 2 ? magnitude : -magnitude);
  }
  for (const Fp8Format& f : {kE4m3, kE5m2}) {
    for (float x : xs) {
      INFO("mantissa " << f.mantissa_bits << ", x = " << x);
      CHECK(fp8_encode(x, f.mantissa_bits, f.bias, f.max_value) == nearest_code(x, f));
    }
  }
  CHECK(fp8_encode(448.f, 3, 7, 448.f) == 0x7E);  // the largest finite e4m3, not NaN's 0x7F
  CHECK(fp8_encode(-1e9f, 2, 15, 57344.f) == 0xFB);  // saturates below e5m2's -inf (0xFC)
}

TEST_CASE("HIP bf16 rounding is to nearest even, and NaN stays NaN", "[hip][formats]") {
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 100000; ++i) {
    const float x = bits_float(any(rng));
    if (std::isnan(x)) {
      CHECK(std::isnan(attnjit::formats::bf16_value(bf16_bits(x))));
      continue;
    }
    const uint16_t b = bf16_bits(x);
    // Neighbours of the result bracket x, and the result is the nearer (ties: even).
    const double got = attnjit::formats::bf16_value(b);
    const uint32_t truncated = float_bits(x) & 0xFFFF0000u;
    const double down = bits_float(truncated);
    // The next bf16 away from zero; past the largest finite value, 2^128 (which rounds to
    // infinity, as in IEEE arithmetic).
    const uint32_t exponent = (truncated >> 23) & 0xFFu;
    const double ulp = std::ldexp(1.0, (exponent == 0 ? 1 : static_cast<int>(exponent)) - 127 - 7);
    const double up = down + (x < 0 ? -ulp : ulp);
    const double dx = static_cast<double>(x);
    double want = std::fabs(dx - down) < std::fabs(up - dx)   ? down
                  : std::fabs(dx - down) > std::fabs(up - dx) ? up
                  : ((truncated >> 16) & 1u) == 0             ? down
                                                              : up;
    if (std::fabs(want) >= std::ldexp(1.0, 128)) want = x < 0 ? -INFINITY : INFINITY;
    INFO("x bits " << float_bits(x));
    CHECK(got == want);
  }
  CHECK(bf16_bits(1.f) == 0x3F80);
  CHECK(bf16_bits(bits_float(0x3F808000u)) == 0x3F80);  // a tie, to even
  CHECK(bf16_bits(bits_float(0x3F818000u)) == 0x3F82);  // a tie, to even (up)
  CHECK(bf16_bits(bits_float(0x7F7FFFFFu)) == 0x7F80);  // rounds to infinity, as IEEE does
}

TEST_CASE("HIP INT8 encoding clamps and rounds to nearest even", "[hip][formats]") {
  using attnjit::formats::int8_encode;
  CHECK(int8_encode(0.5f) == 0);
  CHECK(int8_encode(1.5f) == 2);
  CHECK(int8_encode(-2.5f) == -2);
  CHECK(int8_encode(126.6f) == 127);
  CHECK(int8_encode(1000.f) == 127);
  CHECK(int8_encode(-1000.f) == -127);
  CHECK(int8_encode(NAN) == -127);
}
