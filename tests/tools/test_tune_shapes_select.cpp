// The tuner's shapes (--shapes) and its choice among measured candidates.
#include "catch.h"
#include "tools/tune/select.h"
#include "tools/tune/shapes.h"
#include "tune_test_support.h"

using namespace attnjit;
using namespace attnjit::tune;
#if defined(ATTNJIT_CATCH3)
using Catch::Approx;
#endif

namespace {

// A candidate that compiled, passed and took `ms[i]` on shape i of one variant.
Candidate timed(const TileConfig& tile, const std::vector<Shape>& shapes, std::vector<double> ms,
                bool baseline = false) {
  Candidate c;
  c.tile = tile;
  c.baseline = baseline;
  KernelBuild built;
  built.status = KernelBuild::Status::ok;
  c.builds.assign(1, built);
  c.checks.assign(1, CheckOutcome{CheckOutcome::Status::pass, "PASS"});
  for (size_t i = 0; i < shapes.size(); ++i) {
    Timing t;
    t.shape = shapes[i];
    t.median_ms = t.min_ms = ms[i];
    t.runs = 20;
    c.timings.push_back(t);
  }
  return c;
}

const std::vector<Shape> kShapes = {{4, 1024, 1024}, {1, 4096, 4096}};
const TileConfig kBase{128, 64, 4, 2}, kA{64, 64, 4, 2}, kB{128, 32, 4, 3};

}  // namespace

TEST_CASE("shapes parse in each kind's form", "[tune]") {
  auto prefill = parse_shapes(TuneKind::prefill, "4x4096,2x100x300");
  REQUIRE(prefill.ok());
  CHECK(*prefill == std::vector<Shape>{{4, 4096, 4096}, {2, 100, 300}});
  auto decode = parse_shapes(TuneKind::paged_decode, "64x8192,8x2x100");
  REQUIRE(decode.ok());
  CHECK(*decode == std::vector<Shape>{{64, 1, 8192}, {8, 2, 100}});
  auto paged = parse_shapes(TuneKind::paged, "8x512x2048,4x4096");
  REQUIRE(paged.ok());
  CHECK(*paged == std::vector<Shape>{{8, 512, 2048}, {4, 4096, 0}});
  // Names round-trip.
  for (TuneKind k : {TuneKind::prefill, TuneKind::paged, TuneKind::paged_decode})
    for (const Shape& s : default_shapes(k)) {
      auto back = parse_shapes(k, shape_name(k, s));
      REQUIRE(back.ok());
      CHECK(back->at(0) == s);
    }
  for (const char* bad : {"", "4", "4x", "x4", "4x-1", "4x1x2x3", "4,,8x8", "0x100", "4x0",
                          "4x100000000000", "65536x65536", "4 x 8"}) {
    INFO(bad);
    CHECK_FALSE(parse_shapes(TuneKind::prefill, bad).ok());
  }
  // A paged context may be empty; a prefill length may not.
  CHECK(parse_shapes(TuneKind::paged_decode, "8x1x0").ok());
  CHECK_FALSE(parse_shapes(TuneKind::prefill, "8x1x0").ok());
}

TEST_CASE("decode shapes must use the decode tile, paged ones must not", "[tune]") {
  const auto variants = attnjit::testing::variants_from(
      "variant g4 { heads = 32 / 8; head_dim = 128; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = paged(page_size = 16); mask = causal; }");
  const ir::Variant& v = variants[0];
  CHECK(shape_mismatch(TuneKind::paged_decode, v, {8, 1, 100}) == "");
  CHECK(shape_mismatch(TuneKind::paged_decode, v, {8, 4, 100}) == "");  // 4 x 4 = 16 rows
  CHECK(shape_mismatch(TuneKind::paged_decode, v, {8, 5, 100}).find("does not use the decode tile") !=
        std::string::npos);
  CHECK(shape_mismatch(TuneKind::paged, v, {8, 4, 100}).find("tune it as paged_decode") !=
        std::string::npos);
  CHECK(shape_mismatch(TuneKind::paged, v, {8, 512, 100}) == "");
}

TEST_CASE("the fastest candidate that is no slower on any shape wins", "[tune]") {
  std::vector<Candidate> c = {timed(kBase, kShapes, {1.0, 4.0}, true),
                              timed(kA, kShapes, {0.9, 3.6}), timed(kB, kShapes, {0.95, 3.9})};
  const Selection s = select_candidate(c, 1, kShapes);
  CHECK(s.chosen == 1);
  CHECK(c[1].chosen);
  CHECK_FALSE(c[0].chosen);
  CHECK(c[1].score == Approx(0.9));
  CHECK(c[0].score == Approx(1.0));
}

TEST_CASE("a candidate slower on one shape does not replace the baseline", "[tune]") {
  // Much faster on one shape, 5% slower on the other: the baseline stays.
  std::vector<Candidate> c = {timed(kBase, kShapes, {1.0, 4.0}, true),
                              timed(kA, kShapes, {0.5, 4.2})};
  const Selection s = select_candidate(c, 1, kShapes);
  CHECK(s.chosen == 0);
  CHECK(c[0].chosen);
  // Within the noise allowance it may win.
  c[1] = timed(kA, kShapes, {0.5, 4.0 * (1 + kShapeSlack / 2)});
  CHECK(select_candidate(c, 1, kShapes).chosen == 1);
}

TEST_CASE("a gain below the threshold keeps the baseline", "[tune]") {
  std::vector<Candidate> c = {timed(kBase, kShapes, {1.0, 4.0}, true),
                              timed(kA, kShapes, {0.995, 3.98})};
  const Selection s = select_candidate(c, 1, kShapes);
  CHECK(s.chosen == 0);
  CHECK(s.reason.find("baseline stays") != std::string::npos);
}

TEST_CASE("a candidate that failed its check is never chosen", "[tune]") {
  std::vector<Candidate> c = {timed(kBase, kShapes, {1.0, 4.0}, true),
                              timed(kA, kShapes, {0.1, 0.4}), timed(kB, kShapes, {0.9, 3.6})};
  c[1].checks[0] = CheckOutcome{CheckOutcome::Status::fail, "FAIL rel_l2 ..."};
  CHECK(select_candidate(c, 1, kShapes).chosen == 2);
  CHECK_FALSE(c[1].chosen);
  CHECK(c[1].score == 0);
  // Pruned, uncompiled or partly timed candidates take no part either.
  c[2].pruned = "spills";
  CHECK(select_candidate(c, 1, kShapes).chosen == 0);
  c[2].pruned.clear();
  c[2].timings.pop_back();
  CHECK(select_candidate(c, 1, kShapes).chosen == 0);
}

TEST_CASE("without a timed baseline the fastest candidate wins", "[tune]") {
  std::vector<Candidate> c = {timed(kBase, kShapes, {1.0, 4.0}, true),
                              timed(kA, kShapes, {0.9, 3.0}), timed(kB, kShapes, {0.8, 3.5})};
  c[0].checks[0].status = CheckOutcome::Status::fail;
  const Selection s = select_candidate(c, 1, kShapes);
  // Scores against each shape's fastest: kA (0.9/0.8, 1) vs kB (1, 3.5/3).
  CHECK(s.chosen == 1);
  std::vector<Candidate> none = {timed(kBase, kShapes, {1.0, 4.0}, true)};
  none[0].builds[0].status = KernelBuild::Status::failed;
  CHECK(select_candidate(none, 1, kShapes).chosen == -1);
}
