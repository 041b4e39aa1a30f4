#pragma once
// Portable random numbers for generated problems: the same values for the same seed
// with every compiler and standard library (std::normal_distribution and
// std::uniform_real_distribution are implementation-defined), so dumps and bug
// reports reproduce across the build machine and the GPU machine.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace attnjit::harness {

class RandomSource {
 public:
  explicit RandomSource(uint64_t seed) : rng_(seed) {}

  // Standard normal, by Box-Muller over mt19937_64.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 1.0 - uniform();  // (0, 1]: log(u1) is finite
    double u2 = uniform();
    double radius = std::sqrt(-2.0 * std::log(u1));
    double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

  // 53 random bits as a double in [0, 1).
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // A whole number in [0, n), n >= 1.
  int64_t below(int64_t n) { return static_cast<int64_t>(uniform() * static_cast<double>(n)); }

 private:
  std::mt19937_64 rng_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace attnjit::harness
