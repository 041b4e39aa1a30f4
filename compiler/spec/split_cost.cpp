// The split cost model's field list and value checks (see the header).
#include "compiler/spec/split_cost.h"

#include <fmt/format.h>

#include <cmath>

namespace attnjit {

namespace {

// Costs are counted in tiles: a fixed cost of a million tiles is no GPU's, and keeps
// every cost the model adds up far from overflow.
constexpr double kMaxTiles = 1e6;

}  // namespace

const std::vector<SplitCostField>& split_cost_fields() {
  static const std::vector<SplitCostField> fields = {
      {"fixed_per_block", &SplitCostModel::fixed_per_block, 0, kMaxTiles, false},
      {"merge", &SplitCostModel::merge, 0, kMaxTiles, false},
      {"partial_floor", &SplitCostModel::partial_floor, 0, 1, true},
      {"stream_per_unit", &SplitCostModel::stream_per_unit, 0, kMaxTiles, false},
      {"stream_per_cut", &SplitCostModel::stream_per_cut, 0, kMaxTiles, false},
  };
  return fields;
}

std::string split_cost_value_problem(const SplitCostField& field, double value) {
  const bool low = field.min_exclusive ? !(value > field.min) : !(value >= field.min);
  if (std::isfinite(value) && !low && value <= field.max) return "";
  return fmt::format("expected a number in {}{:g}, {:g}], got {:g}", field.min_exclusive ? "(" : "[",
                     field.min, field.max, value);
}

std::string split_cost_model_problem(const SplitCostModel& model) {
  for (const SplitCostField& f : split_cost_fields())
    if (std::string why = split_cost_value_problem(f, model.*f.member); !why.empty())
      return fmt::format("{}: {}", f.name, why);
  return "";
}

}  // namespace attnjit
