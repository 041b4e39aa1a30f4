#pragma once
// A compiler backend: generated source, a target and options in; a binary (Artifact)
// or a failure with everything needed to reproduce it (CompileError) out, as a value.
// NVRTC implements it for CUDA targets (nvrtc_compiler.h); hiprtc (hiprtc_compiler.h)
// and an offline clang (clang_hip_compiler.h) for AMD targets, one of the two chosen
// per target by HipCompilers below. The engine holds one backend per vendor
// (EngineOptions::backends), so a test or a tool can put another in their place.
#include <memory>
#include <string>
#include <vector>

#include "compiler/backend/artifact.h"
#include "compiler/codegen/codegen.h"
#include "compiler/support/result.h"
#include "compiler/target/target.h"

namespace attnjit {

struct CompileOptions {
  BinaryFormat format = BinaryFormat::cubin;  // one of the target's binaries
  std::vector<std::string> extra;    // appended verbatim
  std::string save_source_dir;       // where failed sources are written ("" = temp dir)
  // A compile whose log has warnings fails (with the log and the saved source) instead
  // of returning an Artifact whose warnings() the caller must look at. Defaults to
  // $ATTNJIT_WERROR (set and not "0"); the test suites set it. Not part of the cache
  // key: it decides whether a binary is accepted, not what the binary is.
  bool warnings_as_errors = warnings_are_errors_by_default();

  static bool warnings_are_errors_by_default();
};

class CompilerBackend {
 public:
  virtual ~CompilerBackend() = default;

  virtual std::string name() const = 0;      // "nvrtc"
  virtual std::string version() const = 0;   // "13.0"; part of every cache key
  virtual std::string describe() const = 0;  // one line for logs: name, version, library
  // The exact option list compile() passes for `target` and `opts`; part of the cache
  // key, so two compiles with equal lists must give the same binary.
  virtual std::vector<std::string> options_for(const Target& target,
                                               const CompileOptions& opts) const = 0;
  virtual Result<Artifact, CompileError> compile(const GeneratedSource& src, const Target& target,
                                                 const CompileOptions& opts) const = 0;
};

class HiprtcCompiler;

// The HIP targets' backend: for each target, hiprtc or the offline clang, by the rule
// in backend.cpp (the one place it is stated). Either may be absent, not both.
class HipCompilers final : public CompilerBackend {
 public:
  HipCompilers(std::shared_ptr<const HiprtcCompiler> hiprtc,
               std::shared_ptr<const CompilerBackend> clang);

  // The backend that builds `target`; null when neither can (compile() says why).
  const CompilerBackend* backend_for(const Target& target) const;

  std::string name() const override { return "hip"; }
  // Both compilers' versions ("hiprtc <v>; clang <v>", "none" for one that is absent):
  // a kernel's key changes when either does, which at worst recompiles it.
  std::string version() const override;
  std::string describe() const override;
  std::vector<std::string> options_for(const Target& target,
                                       const CompileOptions& opts) const override;
  Result<Artifact, CompileError> compile(const GeneratedSource& src, const Target& target,
                                         const CompileOptions& opts) const override;

 private:
  std::shared_ptr<const HiprtcCompiler> hiprtc_;
  std::shared_ptr<const CompilerBackend> clang_;
};

// The backend a vendor's targets compile with unless one is given: NVRTC for CUDA,
// HipCompilers for HIP (each library opened once per process); an error naming what is
// missing when none is found.
Result<std::shared_ptr<const CompilerBackend>, std::string> open_default_backend(Vendor vendor);

}  // namespace attnjit
