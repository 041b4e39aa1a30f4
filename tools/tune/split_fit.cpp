// The split cost fit (see the header). Costs are read off split_cost() itself, so the
// fit always models exactly what the launch path computes.
#include "tools/tune/split_fit.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

namespace attnjit::tune {

namespace {

// The four constants that enter the cost linearly, in this order.
constexpr int kLinear = 4;
double SplitCostModel::*const kLinearFields[kLinear] = {
    &SplitCostModel::fixed_per_block, &SplitCostModel::merge, &SplitCostModel::stream_per_unit,
    &SplitCostModel::stream_per_cut};

// partial_floor's grid (a wave's share cannot be zero), then a finer search around
// the best grid point.
constexpr double kFloorStep = 0.05;
constexpr int kRefineSteps = 30;
constexpr int kAlternations = 200;
// Choices this much slower in the loss (a log ratio) count as equal: timing noise.
constexpr double kLossTolerance = 1e-3;

// One measured time and the cost's parts for it at a given partial_floor:
// cost = base + sum(x[i] * constant i).
struct Row {
  size_t group = 0;
  double ms = 0;
  double base = 0;
  std::array<double, kLinear> x{};
};

bool usable(const SplitSample& s, int splits) {
  if (splits == kStreamSplit) return s.problem.stream_blocks_per_sm > 0;
  return splits >= 1 && splits <= most_splits(s.problem.max_kv_tiles);
}

std::vector<Row> rows_at(const std::vector<SplitSample>& samples, const std::vector<size_t>& groups,
                         double floor) {
  std::vector<Row> rows;
  SplitCostModel zero;
  zero.partial_floor = floor;
  for (size_t i = 0; i < samples.size(); ++i)
    for (const auto& [splits, ms] : samples[i].times_ms) {
      if (!usable(samples[i], splits) || !(ms > 0)) continue;
      Row r;
      r.group = groups[i];
      r.ms = ms;
      r.base = split_cost(samples[i].problem, splits, zero);
      for (int k = 0; k < kLinear; ++k) {
        SplitCostModel unit = zero;
        unit.*kLinearFields[k] = 1;
        r.x[k] = split_cost(samples[i].problem, splits, unit) - r.base;
      }
      rows.push_back(r);
    }
  return rows;
}

double cost_of(const Row& r, const std::array<double, kLinear>& c) {
  double t = r.base;
  for (int k = 0; k < kLinear; ++k) t += r.x[k] * c[k];
  return t;
}

// Sum of squared relative errors of tile_time[group] x cost against the measured time.
double objective(const std::vector<Row>& rows, const std::vector<double>& tile_ms,
                 const std::array<double, kLinear>& c) {
  double sum = 0;
  for (const Row& r : rows) {
    const double e = tile_ms[r.group] * cost_of(r, c) / r.ms - 1;
    sum += e * e;
  }
  return sum;
}

// Each group's tile time for fixed constants: argmin_tau sum (tau * cost / ms - 1)^2.
void fit_tile_times(const std::vector<Row>& rows, const std::array<double, kLinear>& c,
                    std::vector<double>& tile_ms) {
  std::vector<double> num(tile_ms.size(), 0), den(tile_ms.size(), 0);
  for (const Row& r : rows) {
    const double q = cost_of(r, c) / r.ms;
    num[r.group] += q;
    den[r.group] += q * q;
  }
  for (size_t g = 0; g < tile_ms.size(); ++g)
    if (den[g] > 0) tile_ms[g] = num[g] / den[g];
}

// Solves the k x k system m * x = v in place (Gaussian elimination, partial pivoting);
// false when it is singular.
bool solve(std::vector<std::vector<double>> m, std::vector<double> v, std::vector<double>& x) {
  const size_t n = v.size();
  double scale = 0;
  for (const auto& row : m)
    for (double e : row) scale = std::max(scale, std::abs(e));
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::abs(m[r][col]) > std::abs(m[pivot][col])) pivot = r;
    if (std::abs(m[pivot][col]) <= 1e-12 * std::max(scale, 1e-300)) return false;
    std::swap(m[pivot], m[col]);
    std::swap(v[pivot], v[col]);
    for (size_t r = col + 1; r < n; ++r) {
      const double f = m[r][col] / m[col][col];
      for (size_t k = col; k < n; ++k) m[r][k] -= f * m[col][k];
      v[r] -= f * v[col];
    }
  }
  x.assign(n, 0);
  for (size_t i = n; i-- > 0;) {
    double s = v[i];
    for (size_t k = i + 1; k < n; ++k) s -= m[i][k] * x[k];
    x[i] = s / m[i][i];
  }
  return true;
}

// The constants for fixed tile times: non-negative least squares over the constants
// the data can tell (a column of zeros, e.g. the stream split never measured, keeps its
// current value), by trying every set of free constants and keeping the best feasible
// solution (the non-negative optimum is the unconstrained one on its own support).
void fit_constants(const std::vector<Row>& rows, const std::vector<double>& tile_ms,
                   std::array<double, kLinear>& c) {
  std::array<bool, kLinear> seen{};
  for (const Row& r : rows)
    for (int k = 0; k < kLinear; ++k) seen[k] = seen[k] || r.x[k] != 0;
  std::array<double, kLinear> best = c;
  double best_sum = objective(rows, tile_ms, c);
  for (unsigned mask = 0; mask < (1u << kLinear); ++mask) {
    std::vector<int> free;
    bool valid = true;
    for (int k = 0; k < kLinear; ++k)
      if (mask & (1u << k)) {
        if (!seen[k]) valid = false;
        free.push_back(k);
      }
    if (!valid) continue;
    std::array<double, kLinear> trial = c;
    for (int k : free) trial[k] = 0;
    // Rows: w * (base + fixed part + sum free x * c) = 1, w = tile_ms / ms.
    const size_t n = free.size();
    std::vector<std::vector<double>> m(n, std::vector<double>(n, 0));
    std::vector<double> v(n, 0);
    for (const Row& r : rows) {
      const double w = tile_ms[r.group] / r.ms;
      const double y = 1 - w * cost_of(r, trial);
      for (size_t i = 0; i < n; ++i) {
        v[i] += w * r.x[free[i]] * y;
        for (size_t j = 0; j < n; ++j) m[i][j] += w * r.x[free[i]] * w * r.x[free[j]];
      }
    }
    std::vector<double> x;
    if (n > 0 && !solve(m, v, x)) continue;
    bool feasible = true;
    for (size_t i = 0; i < n; ++i) feasible = feasible && x[i] >= 0;
    if (!feasible) continue;
    for (size_t i = 0; i < n; ++i) trial[free[i]] = x[i];
    const double sum = objective(rows, tile_ms, trial);
    if (sum < best_sum) best_sum = sum, best = trial;
  }
  c = best;
}

struct FloorFit {
  double floor = 1;
  std::array<double, kLinear> constants{};
  double objective = 0;
  size_t rows = 0;
};

FloorFit fit_at(const std::vector<SplitSample>& samples, const std::vector<size_t>& groups,
                size_t group_count, double floor, const SplitCostModel& start) {
  const std::vector<Row> rows = rows_at(samples, groups, floor);
  FloorFit f;
  f.floor = floor;
  f.rows = rows.size();
  for (int k = 0; k < kLinear; ++k) f.constants[k] = start.*kLinearFields[k];
  std::vector<double> tile_ms(group_count, 0);
  fit_tile_times(rows, f.constants, tile_ms);
  double last = objective(rows, tile_ms, f.constants);
  for (int i = 0; i < kAlternations; ++i) {
    fit_constants(rows, tile_ms, f.constants);
    fit_tile_times(rows, f.constants, tile_ms);
    const double now = objective(rows, tile_ms, f.constants);
    const bool settled = last - now <= 1e-14 * std::max(1.0, last);
    last = now;
    if (settled) break;
  }
  f.objective = last;
  return f;
}

double measured_ms(const SplitSample& s, int splits) {
  for (const auto& [n, ms] : s.times_ms)
    if (n == splits) return ms;
  return 0;
}

}  // namespace

std::string split_name(int splits) {
  return splits == kStreamSplit ? "stream" : std::to_string(splits);
}

int measured_choice(const SplitSample& s, const SplitCostModel& model) {
  int best = 0;
  double best_cost = 0;
  // Segment counts in ascending order first, as choose_splits() weighs them.
  std::vector<int> order;
  for (const auto& [splits, ms] : s.times_ms)
    if (splits != kStreamSplit && usable(s, splits)) order.push_back(splits);
  std::sort(order.begin(), order.end());
  for (int splits : order) {
    const double c = split_cost(s.problem, splits, model);
    if (best == 0 || c < best_cost) best = splits, best_cost = c;
  }
  if (usable(s, kStreamSplit) && measured_ms(s, kStreamSplit) > 0) {
    const double c = split_cost(s.problem, kStreamSplit, model);
    if (best == 0 || c < best_cost) best = kStreamSplit;
  }
  return best;
}

SplitFit fit_split_costs(const std::vector<SplitSample>& all, const SplitCostModel& start) {
  SplitFit fit;
  fit.start = start;
  fit.fitted = start;
  std::vector<SplitSample> samples;
  for (const SplitSample& s : all) {
    int measured = 0;
    for (const auto& [splits, ms] : s.times_ms) measured += usable(s, splits) && ms > 0;
    if (measured >= 2) samples.push_back(s);
  }
  if (samples.empty()) return fit;
  std::map<int, size_t> group_index;
  std::vector<size_t> groups;
  for (const SplitSample& s : samples)
    groups.push_back(group_index.emplace(s.group, group_index.size()).first->second);

  auto at = [&](double floor) {
    return fit_at(samples, groups, group_index.size(), floor, start);
  };
  FloorFit best = at(start.partial_floor);
  for (double floor = kFloorStep; floor <= 1 + 1e-9; floor += kFloorStep) {
    FloorFit f = at(std::min(floor, 1.0));
    if (f.objective < best.objective) best = f;
  }
  // Golden-section search in the grid cells on either side of the best point; each
  // step keeps one of its two inner points.
  double lo = std::max(1e-3, best.floor - kFloorStep), hi = std::min(1.0, best.floor + kFloorStep);
  const double golden = (std::sqrt(5.0) - 1) / 2;
  FloorFit fa = at(hi - golden * (hi - lo)), fb = at(lo + golden * (hi - lo));
  for (int i = 0; i < kRefineSteps; ++i) {
    if (fa.objective < best.objective) best = fa;
    if (fb.objective < best.objective) best = fb;
    if (fa.objective <= fb.objective) {
      hi = fb.floor;
      fb = fa;
      fa = at(hi - golden * (hi - lo));
    } else {
      lo = fa.floor;
      fa = fb;
      fb = at(lo + golden * (hi - lo));
    }
  }
  if (fa.objective < best.objective) best = fa;
  if (fb.objective < best.objective) best = fb;
  fit.fitted.partial_floor = best.floor;
  for (int k = 0; k < kLinear; ++k) fit.fitted.*kLinearFields[k] = best.constants[k];
  fit.times = best.rows;
  fit.rms_relative_error = best.rows > 0 ? std::sqrt(best.objective / best.rows) : 0;

  double before = 0, after = 0;
  for (const SplitSample& s : samples) {
    SplitFitRow row;
    row.label = s.label;
    for (const auto& [splits, ms] : s.times_ms)
      if (usable(s, splits) && ms > 0 && (row.best_ms == 0 || ms < row.best_ms))
        row.best = splits, row.best_ms = ms;
    row.before = measured_choice(s, start);
    row.after = measured_choice(s, fit.fitted);
    row.before_ms = measured_ms(s, row.before);
    row.after_ms = measured_ms(s, row.after);
    before += std::log(row.before_ms / row.best_ms);
    after += std::log(row.after_ms / row.best_ms);
    fit.rows.push_back(row);
  }
  fit.loss_before = before / samples.size();
  fit.loss_after = after / samples.size();
  fit.improved = !(fit.fitted == start) && split_cost_model_problem(fit.fitted).empty() &&
                 fit.loss_after <= fit.loss_before + kLossTolerance;
  return fit;
}

std::string split_fit_report(const SplitFit& fit, const std::string& set_name) {
  std::string out = fmt::format("split costs {}: {} shapes, {} times\n", set_name, fit.rows.size(),
                                fit.times);
  if (fit.rows.empty()) return out + "  nothing to fit (no shape with two measured splits)\n";
  std::string constants;
  for (const SplitCostField& f : split_cost_fields())
    constants += fmt::format("{}{} {:g} -> {:.4g}", constants.empty() ? "" : ", ", f.name,
                             fit.start.*f.member, fit.fitted.*f.member);
  out += "  " + constants + "\n";
  out += fmt::format(
      "  fitted times: {:.1f}% RMS relative error; choices: {:.1f}% slower than the fastest "
      "(geometric mean) before, {:.1f}% after\n",
      100 * fit.rms_relative_error, 100 * std::expm1(fit.loss_before),
      100 * std::expm1(fit.loss_after));
  out += fmt::format("  {:<32} {:>16} {:>16} {:>16}\n", "shape", "fastest", "before", "after");
  for (const SplitFitRow& r : fit.rows) {
    auto choice = [&](int splits, double ms) {
      return fmt::format("{} ({:+.1f}%)", split_name(splits), 100 * (ms / r.best_ms - 1));
    };
    out += fmt::format("  {:<32} {:>16} {:>16} {:>16}\n", r.label,
                       fmt::format("{} ({:.1f} us)", split_name(r.best), 1000 * r.best_ms),
                       choice(r.before, r.before_ms), choice(r.after, r.after_ms));
  }
  out += fit.improved ? "  the fitted constants are written\n"
                      : "  kept: the fitted constants choose no better on these shapes\n";
  return out;
}

}  // namespace attnjit::tune
