#include "runtime/reference/runtime_values.h"

#include "runtime/reference/cpu_reference.h"

namespace attnjit {

namespace {

std::vector<double> read_array(const TensorView& t) {
  std::vector<double> values(static_cast<size_t>(t.shape.at(0)));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = load_element(t.data, t.dtype, static_cast<int64_t>(i) * t.stride(0));
  return values;
}

}  // namespace

RuntimeValues read_runtime_values(const ir::Variant& variant, const VariantValues& given,
                                  int batch) {
  static const std::map<std::string, float> kNoParams;
  const std::map<std::string, float>& params = given.params ? *given.params : kNoParams;
  RuntimeValues values;
  for (const ir::ScalarParam& p : variant.params) {
    auto it = params.find(p.name);
    if (it != params.end()) values.params[p.name] = it->second;
    else values.params[p.name] = p.is_const ? p.default_value : static_cast<float>(p.default_value);
  }
  for (const ir::InputArray& in : variant.inputs)
    values.arrays[in.name] = read_array(given.inputs->at(in.name));
  if (variant.sinks_per_head) values.sinks = read_array(*given.sinks);

  values.ranges.resize(static_cast<size_t>(batch));
  if (variant.bidirectional_ranges) {
    const TensorView& r = *given.bidirectional_ranges;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t i = 0; i < r.shape[1]; ++i) {
        const int64_t at = b * r.stride(0) + i * r.stride(1);
        PositionRange range{static_cast<int64_t>(load_element(r.data, DType::i32, at)),
                            static_cast<int64_t>(load_element(r.data, DType::i32, at + r.stride(2)))};
        if (range.start < range.end) values.ranges[b].push_back(range);
      }
    }
  }
  return values;
}

RuntimeValues read_runtime_values(const ir::Variant& variant, const PrefillArgs& args, int batch) {
  return read_runtime_values(variant, variant_values_of(args), batch);
}

}  // namespace attnjit
