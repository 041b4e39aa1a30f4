#pragma once
// The constants of the split-KV cost model (runtime/plan/split_choice.h weighs a paged
// launch's split counts with them). They are measured facts about a GPU, so they live
// in the per-arch config's "split_cost" block, one set per K/V element width, and
// `attnjit tune --kind paged_decode` refits them (tools/tune/split_fit.h).
//
// The costs are in units of one tile's streaming time for a block of a full wave; see
// split_cost() in runtime/plan/split_choice.cpp for how each constant enters.
#include <string>
#include <vector>

namespace attnjit {

struct SplitCostModel {
  double fixed_per_block = 0;  // a block's start, Q load, pipeline fill and epilogue
  double merge = 0;            // the merge pass of a segment split
  double partial_floor = 1;    // the least share of a full wave's time a partial wave takes
  double stream_per_unit = 0;  // stream split: per (sequence, KV head) unit in a block's share
  double stream_per_cut = 0;   // stream split: when shares cut units (partial rows merged)
  bool operator==(const SplitCostModel&) const = default;
};

// One set per K/V element width: an 8-bit tile streams in half the time while a
// block's start and end are latency and cost the same, so one byte-weighted set fits
// worse than two.
struct SplitCosts {
  SplitCostModel kv_16bit;  // 16-bit K/V (and f32)
  SplitCostModel kv_8bit;   // fp8, int8
  const SplitCostModel& for_kv_bytes(int bytes) const { return bytes == 1 ? kv_8bit : kv_16bit; }
  bool operator==(const SplitCosts&) const = default;
};

// The constants a config without a "split_cost" block (or without one of its sets)
// gets, and that configs/sm_*.json carry. Fitted on the H200 to grids of measured
// times (32 query / 8 KV heads, d128, 16-key tiles, every split count and the stream
// split; bf16 K/V: batch 1-72 x context 512, 2048, 8192 and 1-8 x 32768, 224 points;
// fp8, with the sm_90 config's three resident blocks per SM: batch 1-72 x context 512,
// 2048 and 8192, 216 points): the choice is within 5% of the fastest measured for 97%
// (bf16) and 96% (fp8) of the points.
inline constexpr SplitCosts kDefaultSplitCosts{
    {22.0, 16.0, 0.75, 16.0, 14.0},
    {12.0, 32.0, 0.9, 24.0, 42.0},
};

// The fields as the config spells them, with their valid ranges: the one list the
// loader, the tuner's writer and the docs follow.
struct SplitCostField {
  const char* name;
  double SplitCostModel::*member;
  double min, max;
  bool min_exclusive;  // partial_floor > 0: a partial wave never runs in no time
};
const std::vector<SplitCostField>& split_cost_fields();
// The names of the two sets in the "split_cost" block.
inline constexpr const char* kSplitCost16BitKey = "kv_16bit";
inline constexpr const char* kSplitCost8BitKey = "kv_8bit";

// Why `value` cannot be `field` ("" = it can), e.g. "expected a number in (0, 1], got 1.5".
std::string split_cost_value_problem(const SplitCostField& field, double value);
// The first problem of a whole set, prefixed by the field's name; "" when valid.
std::string split_cost_model_problem(const SplitCostModel& model);

}  // namespace attnjit
