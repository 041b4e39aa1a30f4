#pragma once
// The variant's runtime values of one reference run, read out of PrefillArgs' host
// views into float64 (after validate_prefill has checked them).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/prefill_args.h"
#include "runtime/api/variant_values.h"

namespace attnjit {

// A bidirectional range [start, end) of absolute positions.
struct PositionRange {
  int64_t start = 0, end = 0;
  bool contains(int64_t pos) const { return start <= pos && pos < end; }
};

struct RuntimeValues {
  // Every param of the variant by name: the caller's value or the default. Runtime
  // params are f32 kernel arguments, so defaults are rounded to f32 as the kernel sees
  // them; consts keep their exact value (canonicalization folds them the same way).
  std::map<std::string, double> params;
  std::map<std::string, std::vector<double>> arrays;  // `input`s by name
  std::vector<double> sinks;                          // [q_heads], with sinks = per_head
  std::vector<std::vector<PositionRange>> ranges;     // per sequence; empty ranges dropped
};

// `batch` sizes the per-sequence ranges; the values must have passed
// validate_variant_values (validate_prefill, validate_paged). Any kind's argument
// struct works through variant_values_of(args).
RuntimeValues read_runtime_values(const ir::Variant& variant, const VariantValues& values,
                                  int batch);
RuntimeValues read_runtime_values(const ir::Variant& variant, const PrefillArgs& args, int batch);

}  // namespace attnjit
