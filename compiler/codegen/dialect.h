#pragma once
// Everything that differs between GPU vendors in generated source, in one table.
// Kernel templates are vendor-neutral; they call the tile vocabulary whose
// implementation this table names.
#include <string>

#include "compiler/spec/kernel_spec.h"
#include "compiler/support/result.h"

namespace attnjit {

struct Dialect {
  Vendor vendor;
  const char* name;             // printed in the generated file's header
  const char* tile_ops;         // embedded template with the device vocabulary
  // Embedded files placed, in order, before tile_ops (null-terminated; may be empty):
  // what the vocabulary builds on (HIP: its prelude and the functions the host tests share).
  const char* const* vocabulary_prefix;
  const char* source_suffix;    // file suffix when a source is saved (.cu / .hip)
  const char* math_tanh;        // spelling of the single-precision math functions
  const char* math_exp;
  const char* math_exp2;
  const char* math_log;
  const char* math_sqrt;
  const char* math_sqrt_exact;  // correctly rounded whatever the compile flags (masks)
  const char* math_abs;
  const char* math_min;
  const char* math_max;
  // A load of what other blocks of the same launch published (the stream split's
  // pieces): it must not hit a stale line of the SM's / CU's own cache. Takes a
  // `const float*` or a `const float2*`.
  const char* load_l2;
};

const Dialect& dialect_for(Vendor vendor);

// The device vocabulary as generated source includes it: the prefix files, each after a
// "// ---- <path> ----" line, then tile_ops (CUDA: tile_ops alone, as it always was).
Result<std::string, std::string> vocabulary_text(const Dialect& dialect);

}  // namespace attnjit
