// The split cost fit on synthetic measurements: times made by the model itself with
// known constants (and a tile time per variant) must give those constants back, the
// choices must then be the fastest, and a fit that would choose worse is not taken.
#include <cmath>
#include <string>
#include <vector>

#include "catch.h"
#include "tools/tune/config_merge.h"
#include "tools/tune/split_fit.h"

using namespace attnjit;
using namespace attnjit::tune;

namespace {

// Decode launches on an H200-like GPU (132 SMs): batches of 8 KV heads over short and
// long contexts, some filling partial waves, some a few full ones.
std::vector<SplitProblem> problems(int per_sm, int stream_per_sm) {
  std::vector<SplitProblem> out;
  for (long long seqs : {1, 4, 5, 16, 33, 34, 64, 100})
    for (int tiles : {64, 128, 512, 2048})
      out.push_back(SplitProblem{seqs * 8, tiles, 132, per_sm, stream_per_sm});
  return out;
}

// Each problem timed under every split, as tile_ms[group] x the model's cost.
std::vector<SplitSample> synthetic(const SplitCostModel& truth, const std::vector<double>& tile_ms,
                                   int per_sm, int stream_per_sm) {
  std::vector<SplitSample> samples;
  int i = 0;
  for (const SplitProblem& p : problems(per_sm, stream_per_sm)) {
    SplitSample s;
    s.label = "problem " + std::to_string(i);
    s.group = i % static_cast<int>(tile_ms.size());
    s.problem = p;
    for (int n = 1; n <= most_splits(p.max_kv_tiles); ++n)
      s.times_ms.emplace_back(n, tile_ms[s.group] * split_cost(p, n, truth));
    if (stream_per_sm > 0)
      s.times_ms.emplace_back(kStreamSplit, tile_ms[s.group] * split_cost(p, kStreamSplit, truth));
    samples.push_back(s);
    ++i;
  }
  return samples;
}

void check_close(const SplitCostModel& got, const SplitCostModel& want, double rel) {
  for (const SplitCostField& f : split_cost_fields()) {
    INFO(f.name << ": got " << got.*f.member << ", want " << want.*f.member);
    CHECK(std::abs(got.*f.member - want.*f.member) <= rel * std::max(1.0, std::abs(want.*f.member)));
  }
}

}  // namespace

TEST_CASE("the split cost fit recovers known constants from the model's own times",
          "[tune][split]") {
  // Far from the shipped constants, partial_floor off the fit's grid; two variants
  // whose tiles stream at different speeds.
  const SplitCostModel truth{35.0, 9.0, 0.37, 11.0, 27.0};
  const std::vector<SplitSample> samples = synthetic(truth, {0.0021, 0.0047}, 2, 2);
  const SplitFit fit = fit_split_costs(samples, kDefaultSplitCosts.kv_16bit);
  check_close(fit.fitted, truth, 1e-4);
  CHECK(fit.rms_relative_error < 1e-6);
  CHECK(fit.rows.size() == samples.size());
  size_t times = 0;
  for (const SplitSample& s : samples) times += s.times_ms.size();
  CHECK(fit.times == times);
  // The refit chooses the fastest split everywhere; the shipped constants do not.
  CHECK(fit.loss_after < 1e-9);
  CHECK(fit.loss_before > 1e-3);
  CHECK(fit.improved);
  for (const SplitFitRow& r : fit.rows) {
    INFO(r.label);
    CHECK(r.after_ms == r.best_ms);
  }
  const std::string report = split_fit_report(fit, "split_cost.kv_16bit");
  CHECK(report.find("partial_floor 0.75 -> 0.37") != std::string::npos);
  CHECK(report.find("the fitted constants are written") != std::string::npos);
  CHECK(report.find("problem 0 ") != std::string::npos);
}

TEST_CASE("the fit recovers the 8-bit shipped set starting from the 16-bit one", "[tune][split]") {
  const std::vector<SplitSample> samples = synthetic(kDefaultSplitCosts.kv_8bit, {0.0013}, 3, 3);
  const SplitFit fit = fit_split_costs(samples, kDefaultSplitCosts.kv_16bit);
  check_close(fit.fitted, kDefaultSplitCosts.kv_8bit, 1e-4);
}

TEST_CASE("constants the measurements cannot tell keep their values", "[tune][split]") {
  // No stream split measured (its occupancy 0: not available): the stream constants
  // stay; the others are recovered.
  SplitCostModel truth{30.0, 20.0, 0.6, 16.0, 14.0};
  const SplitCostModel start{22.0, 16.0, 0.75, 5.0, 7.0};
  const SplitFit fit = fit_split_costs(synthetic(truth, {0.003}, 2, 0), start);
  truth.stream_per_unit = start.stream_per_unit;
  truth.stream_per_cut = start.stream_per_cut;
  check_close(fit.fitted, truth, 1e-4);
}

TEST_CASE("a fit that would choose slower splits is not taken", "[tune][split]") {
  // Times from the start constants themselves: the refit is the start (nothing to
  // improve), not marked for writing.
  const SplitCostModel start = kDefaultSplitCosts.kv_16bit;
  const SplitFit same = fit_split_costs(synthetic(start, {0.002}, 2, 2), start);
  check_close(same.fitted, start, 1e-4);
  CHECK(same.loss_before < 1e-9);
  // A shape whose measured fastest split the model cannot rank (its times say the
  // opposite of any cost the model can produce: one segment slowest, more always
  // faster, then suddenly the stream split best): whatever the fit finds, it is only
  // written when its choices are no slower than the start's.
  SplitSample odd;
  odd.label = "odd";
  odd.problem = SplitProblem{8, 512, 132, 2, 2};
  for (int n = 1; n <= most_splits(512); ++n) odd.times_ms.emplace_back(n, 1.0 / n + (n % 3) * 0.5);
  odd.times_ms.emplace_back(kStreamSplit, 5.0);
  const SplitFit fit = fit_split_costs({odd}, start);
  REQUIRE(fit.rows.size() == 1);
  if (fit.improved) CHECK(fit.loss_after <= fit.loss_before + 1e-3);
  else CHECK(split_fit_report(fit, "s").find("kept:") != std::string::npos);
  // Nothing measurable: nothing fitted.
  SplitSample one;
  one.problem = SplitProblem{8, 512, 132, 2, 2};
  one.times_ms = {{1, 1.0}};
  const SplitFit none = fit_split_costs({one}, start);
  CHECK(none.rows.empty());
  CHECK_FALSE(none.improved);
  CHECK(none.fitted == start);
}

TEST_CASE("measured_choice follows choose_splits among the measured splits", "[tune][split]") {
  for (const SplitProblem& p : problems(2, 2)) {
    SplitSample s;
    s.problem = p;
    for (int n = 1; n <= most_splits(p.max_kv_tiles); ++n) s.times_ms.emplace_back(n, 1.0);
    s.times_ms.emplace_back(kStreamSplit, 1.0);
    INFO(p.blocks << " blocks, " << p.max_kv_tiles << " tiles");
    CHECK(measured_choice(s, kDefaultSplitCosts.kv_16bit) ==
          choose_splits(p, kDefaultSplitCosts.kv_16bit));
  }
}

TEST_CASE("refitted split costs are merged into the config's split_cost block", "[tune][split]") {
  const std::string base = R"({
  "arch": "sm_90",
  "paged_decode": {"default": {"BLOCK_M": 16, "BLOCK_N": 16, "num_warps": 4, "num_stages": 2}},
  "split_cost": {"kv_8bit": {"fixed_per_block": 12.0, "merge": 32.0, "partial_floor": 0.9,
                             "stream_per_unit": 24.0, "stream_per_cut": 42.0}}
}
)";
  auto fallback = TuningTable::embedded("sm_90");
  REQUIRE(fallback.ok());
  Meta meta;
  meta.device = "NVIDIA H200";
  SplitCostUpdate update;
  update.kv_16bit = SplitCostModel{25.123456, 14.5, 0.6666666, 17.0, 0.0};
  auto merged = merge_config(base, "sm_90.json", "sm_90", {}, meta, *fallback, true, false, update);
  REQUIRE(merged.ok());
  auto table = TuningTable::parse(*merged, "merged");
  REQUIRE(table.ok());
  // Four significant digits, the 8-bit set untouched.
  CHECK(table->split_costs().kv_16bit == SplitCostModel{25.12, 14.5, 0.6667, 17.0, 0.0});
  CHECK(table->split_costs().kv_8bit == kDefaultSplitCosts.kv_8bit);
  CHECK(merged->find("\"kv_8bit\"") < merged->find("\"kv_16bit\""));
  // No update: the block is left as it was.
  auto unchanged = merge_config(base, "sm_90.json", "sm_90", {}, meta, *fallback, true, false);
  REQUIRE(unchanged.ok());
  CHECK(unchanged->find("kv_16bit") == std::string::npos);
}
