// Checks of a variant's runtime values, in a fixed order: params, inputs, sinks,
// bidirectional ranges. Kernels index every one of these arrays as a plain C array
// (templates/kernels/variant_args.h), hence the demand for contiguous memory.
#include "runtime/api/variant_values.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/argument_checks.h"

namespace attnjit {

namespace {

// Row-major without gaps; a dimension of extent 1 is never stepped along, so any
// stride is fine there.
bool packed(const TensorView& t) {
  int64_t expected = 1;
  for (int d = t.rank() - 1; d >= 0; --d) {
    if (t.shape[d] > 1 && t.stride(d) != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

// "its params: cap, w" or "it declares none", for messages about unknown names.
template <typename T>
std::string declared_names(const std::vector<T>& items) {
  constexpr bool is_param = std::is_same_v<T, ir::ScalarParam>;
  std::vector<std::string> names;
  for (const T& item : items) {
    if constexpr (is_param)
      if (item.is_const) continue;  // consts cannot be set, so they are not offered
    names.push_back(item.name);
  }
  if (names.empty()) return "it declares none";
  return fmt::format("its {}: {}", is_param ? "params" : "inputs", fmt::join(names, ", "));
}

int64_t extent_length(const ir::Variant& v, ir::InputExtent e, int num_seqs) {
  switch (e) {
    case ir::InputExtent::q_heads: return v.q_heads;
    case ir::InputExtent::kv_heads: return v.kv_heads;
    case ir::InputExtent::seqs: return num_seqs;
  }
  return 0;
}

const char* extent_meaning(ir::InputExtent e) {
  switch (e) {
    case ir::InputExtent::q_heads: return "one per query head";
    case ir::InputExtent::kv_heads: return "one per kv head";
    case ir::InputExtent::seqs: return "one per sequence";
  }
  return "";
}

// The dimension name shown for an input's only axis.
const char* extent_dim(ir::InputExtent e) {
  return e == ir::InputExtent::seqs ? "batch" : ir::input_extent_name(e);
}

class ValuesCheck {
 public:
  ValuesCheck(const ir::Variant& variant, const VariantValues& values, int num_seqs,
              DeviceKind device, const std::string& where)
      : variant_(variant), num_seqs_(num_seqs), c_(device, where) {
    // Absent pieces read as "nothing given".
    if (values.params) params_ = values.params;
    if (values.inputs) inputs_ = values.inputs;
    if (values.sinks) sinks_ = values.sinks;
    if (values.bidirectional_ranges) ranges_ = values.bidirectional_ranges;
  }

  void run() const {
    check_params();
    check_inputs();
    check_sinks();
    check_ranges();
  }

 private:
  void check_params() const {
    for (const auto& [name, value] : *params_) {
      const std::string arg = fmt::format("params[{}]", name);
      auto it = std::find_if(variant_.params.begin(), variant_.params.end(),
                             [&](const ir::ScalarParam& p) { return p.name == name; });
      if (it == variant_.params.end())
        c_.fail(arg,
                fmt::format("a param of {} ({})", variant_name(variant_),
                            declared_names(variant_.params)),
                "an unknown name");
      if (it->is_const)
        c_.fail(arg, "a runtime param",
                fmt::format("a const of {} (baked into the kernel; it cannot be set)",
                            variant_name(variant_)));
      // A NaN or infinite param turns every score it touches into NaN.
      if (!std::isfinite(value)) c_.fail(arg, "a finite value", fmt::format("{}", value));
    }
  }

  void check_f32_array(const std::string& name, const TensorView& t, int64_t length,
                       const char* dim, const char* meaning) const {
    c_.device(name, t);
    c_.dtype(name, t, DType::f32, "");
    // Rank and strides by hand: the message says "1 stride or none", not
    // rank_and_strides' "1 strides (one per dimension) or none".
    if (t.rank() != 1)
      c_.fail(name, fmt::format("rank 1 [{}]", dim),
              fmt::format("rank {} ({})", t.rank(), t.describe()));
    if (!t.strides.empty() && t.strides.size() != 1)
      c_.fail(name, "1 stride or none", fmt::format("{} strides", t.strides.size()));
    if (t.shape[0] != length)
      c_.fail(name, fmt::format("{} values ({})", length, meaning), std::to_string(t.shape[0]));
    if (!packed(t)) c_.fail(name, "stride 1 (a contiguous f32 array)", std::to_string(t.stride(0)));
    c_.aligned_only({name.c_str(), &t, {dim}});
  }

  void check_inputs() const {
    // Unknown names first: a misspelled input is both unknown and missing, and the
    // unknown name is the more useful message.
    for (const auto& [name, view] : *inputs_) {
      const bool declared = std::any_of(variant_.inputs.begin(), variant_.inputs.end(),
                                        [&](const ir::InputArray& in) { return in.name == name; });
      if (!declared)
        c_.fail(fmt::format("inputs[{}]", name),
                fmt::format("an input of {} ({})", variant_name(variant_),
                            declared_names(variant_.inputs)),
                view.defined() ? view.describe() : "an unknown name");
    }
    for (const ir::InputArray& in : variant_.inputs) {
      const std::string arg = fmt::format("inputs[{}]", in.name);
      auto it = inputs_->find(in.name);
      if (it == inputs_->end() || !it->second.defined())
        c_.fail(arg,
                fmt::format("an f32 tensor [{}] ({} declares input {} : f32[{}])",
                         extent_dim(in.extent), variant_name(variant_), in.name,
                         ir::input_extent_name(in.extent)),
                "null");
      check_f32_array(arg, it->second, extent_length(variant_, in.extent, num_seqs_),
                      extent_dim(in.extent), extent_meaning(in.extent));
    }
  }

  void check_sinks() const {
    const TensorView& sinks = *sinks_;
    if (variant_.sinks_per_head)
      c_.present("sinks", sinks,
                 fmt::format("an f32 tensor [q_heads] because {} has sinks = per_head",
                             variant_name(variant_)));
    else
      c_.absent("sinks", sinks, fmt::format("because {} has no sinks", variant_name(variant_)));
    if (sinks.defined())
      check_f32_array("sinks", sinks, variant_.q_heads, "q_heads", "one per query head");
  }

  void check_ranges() const {
    const char* name = "bidirectional_ranges";
    const TensorView& r = *ranges_;
    if (variant_.bidirectional_ranges)
      c_.present(name, r,
                 fmt::format("an int32 tensor [batch, max_ranges, 2] because {} has "
                             "bidirectional_ranges = per_seq",
                             variant_name(variant_)));
    else
      c_.absent(name, r,
                fmt::format("because {} has no bidirectional_ranges", variant_name(variant_)));
    if (!r.defined()) return;
    const TensorArg arg{name, &r, {"batch", "max_ranges", "2"}};
    c_.device(arg);
    c_.dtype(name, r, DType::i32, "");
    c_.rank_and_strides(arg);
    if (r.shape[0] != num_seqs_ || r.shape[1] < 1 || r.shape[2] != 2)
      c_.fail(name,
              fmt::format("shape [{}, R, 2] with R >= 1 ([batch, max_ranges, [start, end)])",
                       num_seqs_),
              shape_text(r.shape));
    if (!packed(r))
      c_.fail(name, fmt::format("a contiguous int32 tensor (strides [{}, 2, 1])", 2 * r.shape[1]),
              fmt::format("strides [{}, {}, {}]", r.stride(0), r.stride(1), r.stride(2)));
    c_.aligned_only(arg);
    // Device memory cannot be read here; host ranges are checked in full.
    if (r.device == DeviceKind::cpu) check_host_ranges(r);
  }

  void check_host_ranges(const TensorView& r) const {
    const auto* base = static_cast<const unsigned char*>(r.data);
    for (int64_t b = 0; b < r.shape[0]; ++b) {
      for (int64_t i = 0; i < r.shape[1]; ++i) {
        int32_t bounds[2];
        std::memcpy(bounds, base + (b * r.shape[1] + i) * 2 * sizeof(int32_t), sizeof bounds);
        const int32_t start = bounds[0], end = bounds[1];
        if (start == end) continue;  // an empty range: padding
        // start > end is not quietly empty: it is almost always swapped bounds.
        if (start < 0 || start > end)
          c_.fail("bidirectional_ranges",
                  "0 <= start < end in every range (start == end for an empty one)",
                  fmt::format("[{}, {}) in range {} of sequence {}", start, end, i, b));
      }
    }
  }

  static inline const std::map<std::string, float> kNoParams{};
  static inline const std::map<std::string, TensorView> kNoInputs{};
  static inline const TensorView kNoTensor{};

  const ir::Variant& variant_;
  int num_seqs_;
  ArgumentChecks c_;
  const std::map<std::string, float>* params_ = &kNoParams;
  const std::map<std::string, TensorView>* inputs_ = &kNoInputs;
  const TensorView* sinks_ = &kNoTensor;
  const TensorView* ranges_ = &kNoTensor;
};

}  // namespace

void validate_variant_values(const ir::Variant& variant, const VariantValues& values,
                             int num_seqs, DeviceKind expected_device, const std::string& where) {
  ValuesCheck(variant, values, num_seqs, expected_device, where).run();
}

}  // namespace attnjit
