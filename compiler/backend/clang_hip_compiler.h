#pragma once
// Offline clang backend: HIP C++ text -> HSACO with a clang run as a subprocess (fork
// and exec, no shell), for AMD targets the installed hiprtc cannot build (gfx942 with
// ROCm 5's comgr). The source goes to a temporary file; clang writes the code object
// beside it; both are removed afterwards.
//
// No ROCm is needed: the source is compiled without HIP headers and without the ROCm
// device library (-nogpuinc -nogpulib), so it must be self-contained (attnjit's HIP
// vocabulary wraps __builtin_amdgcn_* itself) and declare kernels as
// `extern "C" __attribute__((global))`.
//
// Which clang, in order (clang_candidates()): $ATTNJIT_CLANG when set, and nothing
// else; clang-19, clang-18, clang-17 on $PATH; then clang. Debian 12 ships clang-19
// (tools/install-deps.sh installs it), which knows gfx90a and gfx942 (gfx950 needs
// clang 20).
#include <memory>
#include <string>
#include <vector>

#include "compiler/backend/backend.h"
#include "compiler/support/result.h"

namespace attnjit {

// The clang executables open() tries, in order (see the top of this file).
std::vector<std::string> clang_candidates();

class ClangHipCompiler final : public CompilerBackend {
 public:
  // Finds clang and asks its version, once per process; a failure is remembered too.
  static Result<std::shared_ptr<ClangHipCompiler>, std::string> open();
  // A specific clang executable (a path, or a name looked up in $PATH).
  static Result<std::shared_ptr<ClangHipCompiler>, std::string> open_at(const std::string& clang);

  std::string name() const override { return "clang"; }
  // The first line of `clang --version`: "Debian clang version 19.1.7 (3~deb12u1)".
  std::string version() const override { return version_; }
  std::string describe() const override;  // "<version> at <path>"
  std::string path() const { return path_; }
  std::vector<std::string> options_for(const Target& target,
                                       const CompileOptions& opts) const override;
  Result<Artifact, CompileError> compile(const GeneratedSource& src, const Target& target,
                                         const CompileOptions& opts) const override;

  ClangHipCompiler(std::string path, std::string version);

 private:
  std::string path_;
  std::string version_;
};

}  // namespace attnjit
