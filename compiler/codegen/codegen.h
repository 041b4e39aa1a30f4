#pragma once
// Renders one deterministic source file for a KernelSpec from the kernel templates
// (templates/, embedded at build time) and the per-vendor dialect table.
#include <string>

#include "compiler/spec/kernel_spec.h"
#include "compiler/support/result.h"

namespace attnjit {

struct GeneratedSource {
  std::string text;
  std::string entry;   // extern "C" kernel symbol
  std::string uri;     // KernelSpec::uri()
};

Result<GeneratedSource, std::string> render_kernel(const KernelSpec& spec);

// Why render_kernel() refuses `spec` whatever its tile ("" when it does not): the kind
// against the KV cache, the variant's limits and element types. The renderers' own
// checks, without rendering: the launch planner lists only kernels that can exist.
std::string unsupported_spec(const KernelSpec& spec);

}  // namespace attnjit
