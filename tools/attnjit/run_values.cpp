#include "tools/attnjit/run_values.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/reference/cpu_reference.h"

namespace attnjit::cli {

namespace {

// Arrays longer than this print their first values and a count.
constexpr int64_t kShownValues = 8;

std::vector<std::string> runtime_params(const ir::Variant& v) {
  std::vector<std::string> names;
  for (const ir::ScalarParam& p : v.params)
    if (!p.is_const) names.push_back(p.name);
  return names;
}

float parse_value(const std::string& text, const std::string& pair) {
  float value = 0;
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || stop != end || !std::isfinite(value))
    throw UsageError("--param " + pair + ": expected a finite number after '=', got '" + text + "'");
  return value;
}

std::string values_text(const harness::HostTensor& t) {
  std::vector<std::string> shown;
  for (int64_t i = 0; i < std::min(t.numel(), kShownValues); ++i)
    shown.push_back(fmt::format("{:.4g}", load_element(t.bytes.data(), t.dtype, i)));
  std::string text = fmt::format("{}", fmt::join(shown, ", "));
  if (t.numel() > kShownValues) text += fmt::format(", ... ({} values)", t.numel());
  return text;
}

std::string ranges_text(const harness::HostTensor& t) {
  std::vector<std::string> sequences;
  for (int64_t b = 0; b < t.shape[0]; ++b) {
    std::vector<std::string> ranges;
    for (int64_t r = 0; r < t.shape[1]; ++r) {
      const int64_t at = (b * t.shape[1] + r) * 2;
      const double start = load_element(t.bytes.data(), DType::i32, at);
      const double end = load_element(t.bytes.data(), DType::i32, at + 1);
      if (start != end) ranges.push_back(fmt::format("[{}, {})", start, end));
    }
    sequences.push_back(fmt::format("{}: {}", b, ranges.empty() ? "none" : fmt::format("{}", fmt::join(ranges, " "))));
  }
  return fmt::format("{}", fmt::join(sequences, "; "));
}

// The runtime values of a problem, prefill or paged alike.
struct RuntimeValues {
  const std::map<std::string, float>& params;
  const std::map<std::string, harness::HostTensor>& inputs;
  const harness::HostTensor& sinks;
  const harness::HostTensor& bidirectional_ranges;
};

void print_values(const ir::Variant& variant, const harness::ProblemShape& shape,
                  const RuntimeValues& problem) {
  if (!problem.params.empty()) {
    std::vector<std::string> items;
    for (const auto& [name, value] : problem.params) {
      auto p = std::find_if(variant.params.begin(), variant.params.end(),
                            [&](const ir::ScalarParam& x) { return x.name == name; });
      const bool given = shape.params.count(name) > 0;
      items.push_back(fmt::format("{} = {:.6g} ({})", name, value,
                                  given ? std::string("given")
                                        : fmt::format("random, default {:g}", p->default_value)));
    }
    std::printf("params   %s\n", fmt::format("{}", fmt::join(items, ", ")).c_str());
  }
  for (const ir::InputArray& in : variant.inputs) {
    const bool given = shape.inputs.count(in.name) > 0;
    std::printf("input    %s f32[%s] = %s (%s)\n", in.name.c_str(), ir::input_extent_name(in.extent),
                values_text(problem.inputs.at(in.name)).c_str(), given ? "given" : "random");
  }
  if (problem.sinks.defined())
    std::printf("sinks    %s (%s)\n", values_text(problem.sinks).c_str(),
                shape.sinks.empty() ? "random" : "given");
  if (problem.bidirectional_ranges.defined())
    std::printf("ranges   %s (%s)\n", ranges_text(problem.bidirectional_ranges).c_str(),
                shape.bidirectional_ranges.empty() ? "random" : "given");
}

}  // namespace

std::map<std::string, float> parse_params(const Args& args, const ir::Variant& variant) {
  std::map<std::string, float> params;
  const std::vector<std::string> known = runtime_params(variant);
  for (const std::string& pair : args.values(kParamFlag.name)) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--param: expected NAME=VALUE, got '" + pair + "'");
    const std::string name = pair.substr(0, eq);
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw UsageError(fmt::format("--param {}: variant {} has no param '{}' ({})", pair, variant.name, name,
                                   known.empty() ? std::string("it has none")
                                                 : fmt::format("its params: {}", fmt::join(known, ", "))));
    params[name] = parse_value(pair.substr(eq + 1), pair);
  }
  return params;
}

void print_runtime_values(const ir::Variant& variant, const harness::ProblemShape& shape,
                          const harness::HostProblem& problem) {
  print_values(variant, shape,
               {problem.params, problem.inputs, problem.sinks, problem.bidirectional_ranges});
}

void print_runtime_values(const ir::Variant& variant, const harness::ProblemShape& shape,
                          const harness::HostPagedProblem& problem) {
  print_values(variant, shape,
               {problem.params, problem.inputs, problem.sinks, problem.bidirectional_ranges});
}

}  // namespace attnjit::cli
