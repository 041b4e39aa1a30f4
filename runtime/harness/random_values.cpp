#include "runtime/harness/random_values.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace attnjit::harness {

namespace {

// Random ranges per sequence, padded to this many with empty ones.
constexpr int kRandomRanges = 2;
// About one random sink in this many gets a large magnitude.
constexpr int kLargeSinkOneIn = 8;
constexpr double kLargeSinkMin = 15, kLargeSinkMax = 30;
// Random inputs: positive, so slopes and per-head caps stay meaningful.
constexpr double kInputMin = 0.01, kInputMax = 1.0;

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("make_random_problem: " + what);
}

int64_t extent_length(const ir::Variant& v, ir::InputExtent e, int batch) {
  switch (e) {
    case ir::InputExtent::q_heads: return v.q_heads;
    case ir::InputExtent::kv_heads: return v.kv_heads;
    case ir::InputExtent::seqs: return batch;
  }
  return 0;
}

HostTensor f32_array(const std::vector<double>& values) {
  HostTensor t = make_host_tensor(DType::f32, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i)
    store_element(t.bytes.data(), DType::f32, static_cast<int64_t>(i), values[i]);
  return t;
}

void add_params(const ir::Variant& v, const ProblemShape& s, RandomSource& random,
                HostProblem& p) {
  std::vector<std::string> names;
  for (const ir::ScalarParam& param : v.params)
    if (!param.is_const) names.push_back(param.name);
  for (const auto& [name, value] : s.params)
    if (std::find(names.begin(), names.end(), name) == names.end())
      bad(fmt::format("variant {} has no param '{}' (its params: {})", v.name, name,
                      names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
  for (const ir::ScalarParam& param : v.params) {
    if (param.is_const) continue;
    // Drawn even when given, so giving one value leaves the others unchanged.
    const double factor = random.uniform(0.5, 1.5);
    auto given = s.params.find(param.name);
    p.params[param.name] = given != s.params.end() ? given->second
                                                   : static_cast<float>(param.default_value * factor);
  }
}

void add_inputs(const ir::Variant& v, const ProblemShape& s, RandomSource& random,
                HostProblem& p) {
  for (const auto& [name, values] : s.inputs)
    if (std::none_of(v.inputs.begin(), v.inputs.end(),
                     [&](const ir::InputArray& in) { return in.name == name; }))
      bad(fmt::format("variant {} has no input '{}'", v.name, name));
  for (const ir::InputArray& in : v.inputs) {
    const int64_t n = extent_length(v, in.extent, p.batch);
    std::vector<double> values(static_cast<size_t>(n));
    for (double& x : values) x = random.uniform(kInputMin, kInputMax);
    if (auto given = s.inputs.find(in.name); given != s.inputs.end()) {
      if (static_cast<int64_t>(given->second.size()) != n)
        bad(fmt::format("input '{}' of variant {} takes {} values ([{}]), got {}", in.name, v.name,
                        n, ir::input_extent_name(in.extent), given->second.size()));
      values.assign(given->second.begin(), given->second.end());
    }
    p.inputs[in.name] = f32_array(values);
  }
}

void add_sinks(const ir::Variant& v, const ProblemShape& s, RandomSource& random,
               HostProblem& p) {
  if (!v.sinks_per_head) {
    if (!s.sinks.empty()) bad(fmt::format("variant {} has no sinks", v.name));
    return;
  }
  std::vector<double> values(static_cast<size_t>(v.q_heads));
  for (double& x : values) {
    x = s.sinks_stddev * random.normal();
    const bool large = random.below(kLargeSinkOneIn) == 0;
    const double magnitude = random.uniform(kLargeSinkMin, kLargeSinkMax);
    if (s.large_sinks && large) x = x < 0 ? -magnitude : magnitude;
  }
  if (!s.sinks.empty()) {
    if (s.sinks.size() != values.size())
      bad(fmt::format("variant {} takes {} sinks (one per query head), got {}", v.name,
                      values.size(), s.sinks.size()));
    values.assign(s.sinks.begin(), s.sinks.end());
  }
  p.sinks = f32_array(values);
}

// 0 to kRandomRanges ranges inside [0, kv_len): a start, then an end after it.
std::vector<std::pair<int, int>> random_ranges(int kv_len, RandomSource& random) {
  std::vector<std::pair<int, int>> ranges;
  const int64_t count = random.below(kRandomRanges + 1);
  for (int64_t i = 0; i < count && kv_len > 0; ++i) {
    const int start = static_cast<int>(random.below(kv_len));
    const int end = start + 1 + static_cast<int>(random.below(kv_len - start));
    ranges.emplace_back(start, end);
  }
  return ranges;
}

void add_ranges(const ir::Variant& v, const ProblemShape& s, const std::vector<int>& kv_lens,
                RandomSource& random, HostProblem& p) {
  if (!v.bidirectional_ranges) {
    if (!s.bidirectional_ranges.empty())
      bad(fmt::format("variant {} has no bidirectional_ranges", v.name));
    return;
  }
  std::vector<std::vector<std::pair<int, int>>> ranges = s.bidirectional_ranges;
  if (ranges.empty()) {
    for (int kv_len : kv_lens) ranges.push_back(random_ranges(kv_len, random));
  } else if (ranges.size() != static_cast<size_t>(p.batch)) {
    bad(fmt::format("bidirectional_ranges has {} sequences, the problem {}", ranges.size(),
                    p.batch));
  }
  size_t width = kRandomRanges;
  for (const auto& seq : ranges) width = std::max(width, seq.size());
  // Padding is [0, 0): empty, as the kernel and the reference read it.
  p.bidirectional_ranges =
      make_host_tensor(DType::i32, {p.batch, static_cast<int64_t>(width), 2});
  for (size_t b = 0; b < ranges.size(); ++b) {
    for (size_t i = 0; i < ranges[b].size(); ++i) {
      const int64_t at = static_cast<int64_t>((b * width + i) * 2);
      store_element(p.bidirectional_ranges.bytes.data(), DType::i32, at, ranges[b][i].first);
      store_element(p.bidirectional_ranges.bytes.data(), DType::i32, at + 1, ranges[b][i].second);
    }
  }
}

}  // namespace

void add_runtime_values(const ir::Variant& v, const ProblemShape& s,
                        const std::vector<int>& kv_lens, RandomSource& random,
                        HostProblem& problem) {
  add_params(v, s, random, problem);
  add_inputs(v, s, random, problem);
  add_sinks(v, s, random, problem);
  add_ranges(v, s, kv_lens, random, problem);
}

}  // namespace attnjit::harness
