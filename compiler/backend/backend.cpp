#include "compiler/backend/backend.h"

#include <cstdlib>

#include <fmt/format.h>

#include "compiler/backend/nvrtc_compiler.h"

namespace attnjit {

bool CompileOptions::warnings_are_errors_by_default() {
  const char* value = std::getenv("ATTNJIT_WERROR");
  return value != nullptr && *value != '\0' && std::string(value) != "0";
}

Result<std::shared_ptr<const CompilerBackend>, std::string> open_default_backend(Vendor vendor) {
  switch (vendor) {
    case Vendor::cuda: {
      auto nvrtc = NvrtcCompiler::open();
      if (!nvrtc) return fail(nvrtc.error());
      return std::shared_ptr<const CompilerBackend>(*nvrtc);
    }
    case Vendor::hip: break;
  }
  return fail(fmt::format("no compiler backend for {} targets in this build", vendor_name(vendor)));
}

}  // namespace attnjit
