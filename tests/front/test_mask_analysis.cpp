// The KV band derived from masks: which keys a query can see, and whether the band is
// the whole mask.
#include <optional>

#include "catch.h"
#include "compiler/ir/print.h"
#include "compiler/passes/mask_analysis.h"
#include "compiler/passes/pipeline.h"

using namespace attnjit;

namespace {

// The band of a canonical variant whose mask is `mask` (no mask when empty).
ir::KvBand band_of(const std::string& mask, const std::string& declarations = "") {
  std::string text = "variant t { heads = 1 / 1; head_dim = 64; q = bf16; kv = bf16; out = bf16; " +
                     declarations + (mask.empty() ? "" : " mask = " + mask + ";") + " }";
  SourceFile file{"<mask>", text};
  auto module = compile_variants(file);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  return module->variants.at(0).band;
}

const std::optional<long long> unbounded;

}  // namespace

TEST_CASE("mask analysis: causal is an exact band ending at the diagonal", "[front]") {
  ir::KvBand band = band_of("causal");
  CHECK(band.lower_offset == unbounded);
  CHECK(band.upper_offset == 0);
  CHECK(band.exact);
  // Every spelling of causal gives the same band.
  for (const char* spelling : {"kv_pos <= q_pos", "q_pos >= kv_pos", "kv_pos < q_pos + 1",
                               "kv_pos - q_pos <= 0", "0 >= kv_pos - q_pos", "-q_pos + kv_pos <= 0"}) {
    INFO(spelling);
    ir::KvBand b = band_of(spelling);
    CHECK(b.lower_offset == unbounded);
    CHECK(b.upper_offset == 0);
    CHECK(b.exact);
  }
}

TEST_CASE("mask analysis: sliding windows", "[front]") {
  ir::KvBand band = band_of("causal && q_pos - kv_pos < 4096");
  CHECK(band.lower_offset == -4095);
  CHECK(band.upper_offset == 0);
  CHECK(band.exact);

  band = band_of("causal && window(127)");
  CHECK(band.lower_offset == -127);
  CHECK(band.upper_offset == 0);
  CHECK(band.exact);

  band = band_of("window(64, 8)");
  CHECK(band.lower_offset == -64);
  CHECK(band.upper_offset == 8);
  CHECK(band.exact);

  // window(left, right) is exactly [-left, +right], whichever side is wider or zero.
  for (auto [left, right] : {std::pair{0, 16}, std::pair{10, 0}, std::pair{3, 250}}) {
    INFO("window(" << left << ", " << right << ")");
    band = band_of("window(" + std::to_string(left) + ", " + std::to_string(right) + ")");
    CHECK(band.lower_offset == -left);
    CHECK(band.upper_offset == right);
    CHECK(band.exact);
  }

  band = band_of("q_pos - 127 <= kv_pos && kv_pos - q_pos <= 3");
  CHECK(band.lower_offset == -127);
  CHECK(band.upper_offset == 3);
  CHECK(band.exact);

  // The tighter of two bounds on the same side wins.
  band = band_of("causal && kv_pos < q_pos - 2 && window(100) && window(50)");
  CHECK(band.lower_offset == -50);
  CHECK(band.upper_offset == -3);
  CHECK(band.exact);

  // Consts are folded before the analysis.
  band = band_of("causal && q_pos - kv_pos < w", "const w : f32 = 1024;");
  CHECK(band.lower_offset == -1023);
  CHECK(band.exact);
}

TEST_CASE("mask analysis: strict and fractional bounds round to whole positions", "[front]") {
  ir::KvBand band = band_of("kv_pos > q_pos - 10");
  CHECK(band.lower_offset == -9);
  CHECK(band.upper_offset == unbounded);
  // An integer compared with a real constant compares in f32, exactly below 2^24.
  band = band_of("kv_pos - q_pos <= 2.5 && kv_pos - q_pos >= -2.5");
  CHECK(band.upper_offset == 2);
  CHECK(band.lower_offset == -2);
  CHECK(band.exact);
  band = band_of("kv_pos - q_pos < 2.5 && 0.5 < kv_pos - q_pos");
  CHECK(band.upper_offset == 2);
  CHECK(band.lower_offset == 1);
  band = band_of("q_pos - kv_pos == 1.5");  // never
  REQUIRE(band.lower_offset.has_value());
  REQUIRE(band.upper_offset.has_value());
  CHECK(*band.lower_offset > *band.upper_offset);
  band = band_of("kv_pos == q_pos");
  CHECK(band.lower_offset == 0);
  CHECK(band.upper_offset == 0);
  CHECK(band.exact);
}

TEST_CASE("mask analysis: what it cannot absorb makes the band inexact", "[front]") {
  ir::KvBand band = band_of("kv_pos % 2 == 0");
  CHECK(band.lower_offset == unbounded);
  CHECK(band.upper_offset == unbounded);
  CHECK_FALSE(band.exact);

  band = band_of("causal && kv_head == 0");
  CHECK(band.lower_offset == unbounded);
  CHECK(band.upper_offset == 0);
  CHECK_FALSE(band.exact);

  // A runtime window is a kernel argument, not a compile-time offset.
  band = band_of("causal && q_pos - kv_pos < w", "param w : f32 = 1024;");
  CHECK(band.lower_offset == unbounded);
  CHECK(band.upper_offset == 0);
  CHECK_FALSE(band.exact);

  // Coefficients other than +-1, absolute bounds and disjunctions are not bands.
  for (const char* mask : {"2 * kv_pos <= q_pos", "kv_pos < 128", "causal || kv_pos < 4",
                           "kv_pos != q_pos", "!(kv_pos > q_pos)"}) {
    INFO(mask);
    band = band_of(mask);
    CHECK(band.lower_offset == unbounded);
    CHECK(band.upper_offset == unbounded);
    CHECK_FALSE(band.exact);
  }
}

TEST_CASE("mask analysis: no mask, or one that folds to true, sees everything", "[front]") {
  for (const char* mask : {"", "true", "1 < 2", "causal || true"}) {
    INFO("mask: " << mask);
    ir::KvBand band = band_of(mask);
    CHECK(band.lower_offset == unbounded);
    CHECK(band.upper_offset == unbounded);
    CHECK(band.exact);
  }
  CHECK(passes::analyze_mask(nullptr).exact);
}

TEST_CASE("mask analysis works on IR built in code", "[front]") {
  using namespace ir;
  // q_pos - 31 <= kv_pos  &&  kv_pos <= q_pos
  ExprRef q = make_builtin(Builtin::q_pos), kv = make_builtin(Builtin::kv_pos);
  ExprRef mask = make_binary(Op::logical_and,
                             make_binary(Op::le, make_binary(Op::sub, q, make_constant(31)), kv),
                             make_binary(Op::le, kv, q));
  KvBand band = passes::analyze_mask(mask);
  CHECK(band.lower_offset == -31);
  CHECK(band.upper_offset == 0);
  CHECK(band.exact);
}
