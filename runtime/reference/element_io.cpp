// Element loads and stores for every tensor dtype, in float64. The narrow float
// formats are decoded and encoded bit by bit (no float intermediate), so a double
// rounds to the target format exactly once, to nearest even.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "compiler/support/diagnostics.h"
#include "runtime/reference/cpu_reference.h"

namespace attnjit {

namespace {

// A binary floating-point format narrower than float64.
struct MiniFloat {
  int exp_bits;
  int man_bits;
  int bias;
  // IEEE formats reserve the top exponent for inf/NaN. OCP e4m3fn has no inf: only
  // the all-ones pattern is NaN and the rest of the top exponent holds finite values.
  bool ieee_specials;
  // fp8 conversions saturate (like __NV_SATFINITE): overflow and inf give the
  // largest finite value instead of inf.
  bool saturate;
  uint32_t nan_bits;  // canonical quiet NaN, sign bit clear
};

constexpr MiniFloat kHalf{5, 10, 15, true, false, 0x7e00};
constexpr MiniFloat kBFloat16{8, 7, 127, true, false, 0x7fc0};
constexpr MiniFloat kE4M3{4, 3, 7, false, true, 0x7f};
constexpr MiniFloat kE5M2{5, 2, 15, true, true, 0x7e};

uint32_t exp_all_ones(const MiniFloat& f) { return (1u << f.exp_bits) - 1; }

double max_finite(const MiniFloat& f) {
  const uint32_t man_all_ones = (1u << f.man_bits) - 1;
  // IEEE: the top exponent is special, so the largest finite one is below it.
  // e4m3fn: the top exponent is finite, with the all-ones mantissa taken by NaN.
  const int top_exp = static_cast<int>(f.ieee_specials ? exp_all_ones(f) - 1 : exp_all_ones(f));
  const uint32_t top_man = f.ieee_specials ? man_all_ones : man_all_ones - 1;
  return std::ldexp(1.0 + std::ldexp(static_cast<double>(top_man), -f.man_bits),
                    top_exp - f.bias);
}

double decode(uint32_t bits, const MiniFloat& f) {
  const uint32_t man_mask = (1u << f.man_bits) - 1;
  const uint32_t sign = (bits >> (f.exp_bits + f.man_bits)) & 1u;
  const uint32_t exp = (bits >> f.man_bits) & exp_all_ones(f);
  const uint32_t man = bits & man_mask;
  double magnitude;
  if (f.ieee_specials && exp == exp_all_ones(f)) {
    magnitude = man == 0 ? std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::quiet_NaN();
  } else if (!f.ieee_specials && exp == exp_all_ones(f) && man == man_mask) {
    magnitude = std::numeric_limits<double>::quiet_NaN();
  } else if (exp == 0) {  // subnormal: no implicit leading 1
    magnitude = std::ldexp(static_cast<double>(man), 1 - f.bias - f.man_bits);
  } else {
    magnitude = std::ldexp(static_cast<double>(man | (1u << f.man_bits)),
                           static_cast<int>(exp) - f.bias - f.man_bits);
  }
  return sign ? -magnitude : magnitude;
}

// |value| rounded to the format's grid (nearest, ties to even), before any overflow
// handling: a multiple of the quantum, the spacing of representable values at its
// exponent (fixed below the normal range). Dividing by a power of two is exact and
// nearbyint rounds half to even in the default rounding mode.
double round_magnitude(double value, const MiniFloat& f) {
  double a = std::fabs(value);
  if (std::isinf(a)) return a;
  const int min_exp = 1 - f.bias;  // exponent of the smallest normal
  int e = std::ilogb(a);
  if (a == 0.0 || e < min_exp) e = min_exp;
  const double quantum = std::ldexp(1.0, e - f.man_bits);
  return std::nearbyint(a / quantum) * quantum;
}

// The value `value` becomes in the format: rounded, then saturated or overflowed to
// inf as the format does. NaN stays NaN.
double round_to_format(double value, const MiniFloat& f) {
  if (std::isnan(value)) return value;
  double a = round_magnitude(value, f);
  if (a > max_finite(f))
    a = f.saturate || !f.ieee_specials ? max_finite(f) : std::numeric_limits<double>::infinity();
  return std::copysign(a, value);
}

uint32_t encode(double value, const MiniFloat& f) {
  const uint32_t sign = std::signbit(value) ? 1u << (f.exp_bits + f.man_bits) : 0u;
  if (std::isnan(value)) return sign | f.nan_bits;
  const double limit = max_finite(f);
  const uint32_t inf_bits = exp_all_ones(f) << f.man_bits;

  const int min_exp = 1 - f.bias;  // exponent of the smallest normal
  double a = round_magnitude(value, f);
  if (a > limit) {
    if (f.saturate || !f.ieee_specials) a = limit;
    else return sign | inf_bits;
  }
  if (a == 0.0) return sign;
  const int e = std::ilogb(a);
  if (e < min_exp) {  // subnormal
    return sign | static_cast<uint32_t>(std::ldexp(a, f.man_bits - min_exp));
  }
  const auto man = static_cast<uint32_t>(std::ldexp(a, f.man_bits - e)) & ((1u << f.man_bits) - 1);
  return sign | (static_cast<uint32_t>(e + f.bias) << f.man_bits) | man;
}

// Integer stores round half to even and clamp to the type's range; NaN stores 0.
template <typename Int>
Int to_integer(double value) {
  if (std::isnan(value)) return 0;
  const double lo = static_cast<double>(std::numeric_limits<Int>::min());
  const double hi = static_cast<double>(std::numeric_limits<Int>::max());
  const double r = std::nearbyint(value);
  // Compared as doubles: int64's max rounds up to 2^63, one past the range, so the
  // bounds return the limits themselves rather than converting them back.
  if (r <= lo) return std::numeric_limits<Int>::min();
  if (r >= hi) return std::numeric_limits<Int>::max();
  return static_cast<Int>(r);
}

template <typename T>
T read(const void* base, int64_t index) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char*>(base) + index * sizeof(T), sizeof(T));
  return v;
}

template <typename T>
void write(void* base, int64_t index, T v) {
  std::memcpy(static_cast<unsigned char*>(base) + index * sizeof(T), &v, sizeof(T));
}

}  // namespace

double load_element(const void* base, DType t, int64_t index) {
  switch (t) {
    case DType::f16: return decode(read<uint16_t>(base, index), kHalf);
    case DType::bf16: return decode(read<uint16_t>(base, index), kBFloat16);
    case DType::f32: return read<float>(base, index);
    case DType::f64: return read<double>(base, index);
    case DType::fp8_e4m3: return decode(read<uint8_t>(base, index), kE4M3);
    case DType::fp8_e5m2: return decode(read<uint8_t>(base, index), kE5M2);
    case DType::i8: return read<int8_t>(base, index);
    case DType::u16: return read<uint16_t>(base, index);
    case DType::i32: return read<int32_t>(base, index);
    // Exact up to 2^53, which covers every index and offset a table can hold.
    case DType::i64: return static_cast<double>(read<int64_t>(base, index));
  }
  internal_error(__FILE__, __LINE__, "load_element: unknown dtype");
}

void store_element(void* base, DType t, int64_t index, double value) {
  switch (t) {
    case DType::f16: return write(base, index, static_cast<uint16_t>(encode(value, kHalf)));
    case DType::bf16: return write(base, index, static_cast<uint16_t>(encode(value, kBFloat16)));
    case DType::f32: return write(base, index, static_cast<float>(value));
    case DType::f64: return write(base, index, value);
    case DType::fp8_e4m3: return write(base, index, static_cast<uint8_t>(encode(value, kE4M3)));
    case DType::fp8_e5m2: return write(base, index, static_cast<uint8_t>(encode(value, kE5M2)));
    case DType::i8: return write(base, index, to_integer<int8_t>(value));
    case DType::u16: return write(base, index, to_integer<uint16_t>(value));
    case DType::i32: return write(base, index, to_integer<int32_t>(value));
    case DType::i64: return write(base, index, to_integer<int64_t>(value));
  }
  internal_error(__FILE__, __LINE__, "store_element: unknown dtype");
}

double round_to_dtype(DType t, double value) {
  switch (t) {
    case DType::f16: return round_to_format(value, kHalf);
    case DType::bf16: return round_to_format(value, kBFloat16);
    case DType::fp8_e4m3: return round_to_format(value, kE4M3);
    case DType::fp8_e5m2: return round_to_format(value, kE5M2);
    case DType::f32: return static_cast<float>(value);
    case DType::f64: return value;
    case DType::i8: return to_integer<int8_t>(value);
    case DType::u16: return to_integer<uint16_t>(value);
    case DType::i32: return to_integer<int32_t>(value);
    case DType::i64: return static_cast<double>(to_integer<int64_t>(value));
  }
  internal_error(__FILE__, __LINE__, "round_to_dtype: unknown dtype");
}

}  // namespace attnjit
