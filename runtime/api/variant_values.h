#pragma once
// The runtime values a variant declares (params, inputs, sinks, bidirectional ranges),
// checked against the variant. Every kernel kind takes these values the same way, so
// the prefill and paged validators share this one check instead of each holding a
// copy: they pass the pieces of their argument struct and their batch size.
#include <map>
#include <string>

#include "runtime/api/tensor.h"

namespace attnjit {

namespace ir { struct Variant; }

// Borrowed views of one launch's runtime values (all must outlive the call).
struct VariantValues {
  const std::map<std::string, float>* params = nullptr;       // host floats by name
  const std::map<std::string, TensorView>* inputs = nullptr;  // f32 arrays by name
  const TensorView* sinks = nullptr;                          // f32 [q_heads]
  const TensorView* bidirectional_ranges = nullptr;           // int32 [num_seqs, R, 2]
};

// Builds the borrowed views from any argument struct with the four members
// (PrefillArgs, PagedArgs).
template <typename Args>
VariantValues variant_values_of(const Args& args) {
  return {&args.params, &args.inputs, &args.sinks, &args.bidirectional_ranges};
}

// Throws ArgumentError `<where>: argument '<name>': expected ..., got ...` naming the
// value ("params[cap]", "inputs[slope]", "sinks", "bidirectional_ranges"). Checks, in
// order: params are declared, runtime (not const) and finite; every declared input is
// given (and no undeclared one) as a contiguous, 4-byte aligned f32 [extent] array on
// `expected_device`, where an input over `seqs` has `num_seqs` values; sinks are given
// exactly when the variant has `sinks = per_head`, f32 [q_heads] likewise; ranges are
// given exactly with `bidirectional_ranges = per_seq`, contiguous int32
// [num_seqs, R >= 1, 2], and when on the cpu each range is empty (start == end) or
// 0 <= start < end.
void validate_variant_values(const ir::Variant& variant, const VariantValues& values,
                             int num_seqs, DeviceKind expected_device, const std::string& where);

}  // namespace attnjit
