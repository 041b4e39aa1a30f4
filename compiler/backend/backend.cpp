#include "compiler/backend/backend.h"

#include <cstdlib>

#include <fmt/format.h>

#include "compiler/backend/clang_hip_compiler.h"
#include "compiler/backend/hiprtc_compiler.h"
#include "compiler/backend/nvrtc_compiler.h"

namespace attnjit {

bool CompileOptions::warnings_are_errors_by_default() {
  const char* value = std::getenv("ATTNJIT_WERROR");
  return value != nullptr && *value != '\0' && std::string(value) != "0";
}

HipCompilers::HipCompilers(std::shared_ptr<const HiprtcCompiler> hiprtc,
                           std::shared_ptr<const CompilerBackend> clang)
    : hiprtc_(std::move(hiprtc)), clang_(std::move(clang)) {}

// Which compiler builds a HIP target, stated here and nowhere else:
//   1. hiprtc, when it is installed and its comgr knows the target's processor. hiprtc
//      ships with the ROCm runtime that will load the code object, so what it builds
//      (code object version, ABI) is what that runtime expects. ROCm 6 and later know
//      gfx90a and gfx942; Debian 12's ROCm 5.2 knows gfx90a only.
//   2. Otherwise the offline clang (gfx942 on a machine with ROCm 5.2 or no ROCm).
//   3. Neither: compile() fails and says what each lacks.
// Asking hiprtc about a processor its comgr does not know is never done: it aborts.
const CompilerBackend* HipCompilers::backend_for(const Target& target) const {
  const TargetBinary* binary = target.binary(BinaryFormat::hsaco);
  if (hiprtc_ && binary && hiprtc_->knows(binary->arch_option)) return hiprtc_.get();
  return clang_.get();
}

std::string HipCompilers::version() const {
  return fmt::format("hiprtc {}; clang {}", hiprtc_ ? hiprtc_->version() : "none",
                     clang_ ? clang_->version() : "none");
}

std::string HipCompilers::describe() const {
  return fmt::format("{}; {}", hiprtc_ ? hiprtc_->describe() : "no hiprtc",
                     clang_ ? clang_->describe() : "no clang");
}

std::vector<std::string> HipCompilers::options_for(const Target& target,
                                                   const CompileOptions& opts) const {
  const CompilerBackend* backend = backend_for(target);
  return backend ? backend->options_for(target, opts) : opts.extra;
}

Result<Artifact, CompileError> HipCompilers::compile(const GeneratedSource& src,
                                                     const Target& target,
                                                     const CompileOptions& opts) const {
  if (const CompilerBackend* backend = backend_for(target))
    return backend->compile(src, target, opts);
  return fail(CompileError{
      fmt::format("no compiler for {}: hiprtc's comgr does not know it ({}) and no offline clang "
                  "was found",
                  target.name, hiprtc_ ? "it knows " + hiprtc_->known_processors() : "no hiprtc"),
      "", options_for(target, opts), ""});
}

Result<std::shared_ptr<const CompilerBackend>, std::string> open_default_backend(Vendor vendor) {
  switch (vendor) {
    case Vendor::cuda: {
      auto nvrtc = NvrtcCompiler::open();
      if (!nvrtc) return fail(nvrtc.error());
      return std::shared_ptr<const CompilerBackend>(*nvrtc);
    }
    case Vendor::hip: {
      auto hiprtc = HiprtcCompiler::open();
      auto clang = ClangHipCompiler::open();
      if (!hiprtc && !clang)
        return fail(fmt::format("no compiler for HIP targets:\n{}\n{}", hiprtc.error(),
                                clang.error()));
      return std::shared_ptr<const CompilerBackend>(std::make_shared<HipCompilers>(
          hiprtc ? *hiprtc : nullptr,
          clang ? std::shared_ptr<const CompilerBackend>(*clang) : nullptr));
    }
  }
  return fail(fmt::format("no compiler backend for {} targets in this build", vendor_name(vendor)));
}

}  // namespace attnjit
