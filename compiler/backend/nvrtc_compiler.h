#pragma once
// NVRTC backend. libnvrtc is opened with dlopen on first use, so attnjit builds and
// runs without it; open() says what is missing when it cannot be found.
//
// Where libnvrtc is looked for, in order (nvrtc_library_candidates()):
//   1. $ATTNJIT_NVRTC_PATH, when set, and nothing else: an explicit choice that fails
//      is reported, never silently replaced by another library;
//   2. libnvrtc.so.13, libnvrtc.so.12, libnvrtc.so through the dynamic loader
//      ($LD_LIBRARY_PATH, the ld.so cache, the system directories);
//   3. the CUDA toolkit's default location, /usr/local/cuda/lib64;
//   4. the copy tools/install-deps.sh installs from PyPI (package nvidia-cuda-nvrtc)
//      when the system has none: nvrtc_pip_prefix()/nvidia/cu13/lib.
// libnvrtc loads its builtins library (libnvrtc-builtins.so.MAJOR.MINOR) with dlopen
// when it first compiles; open() loads the one next to the chosen libnvrtc first, so a
// copy outside the loader's path works and never pairs with another version's builtins.
#include <memory>
#include <string>
#include <vector>

#include "compiler/backend/backend.h"
#include "compiler/support/result.h"

namespace attnjit {

// Where tools/install-deps.sh installs NVRTC from PyPI (pip install --target):
// $XDG_DATA_HOME/attnjit/nvrtc, else ~/.local/share/attnjit/nvrtc; "" without a home.
std::string nvrtc_pip_prefix();
// The libnvrtc candidates open() tries, in order (see the top of this file).
std::vector<std::string> nvrtc_library_candidates();

// Builds CUDA targets' CUBIN and PTX; refuses other vendors' targets and formats.
class NvrtcCompiler final : public CompilerBackend {
 public:
  // Loads libnvrtc and its builtins once per process; a failure is remembered too.
  static Result<std::shared_ptr<NvrtcCompiler>, std::string> open();

  std::string name() const override { return "nvrtc"; }
  std::string version() const override;  // "13.0"
  std::string library_path() const;   // the libnvrtc that was loaded
  std::string builtins_path() const;  // the libnvrtc-builtins loaded for it
  std::string describe() const override;  // "NVRTC 13.0 from <library> (builtins <path>)"
  std::vector<std::string> options_for(const Target& target,
                                       const CompileOptions& opts) const override;
  Result<Artifact, CompileError> compile(const GeneratedSource& src, const Target& target,
                                         const CompileOptions& opts) const override;

  struct Api;  // dlsym'd entry points
  explicit NvrtcCompiler(std::shared_ptr<const Api> api);

 private:
  std::shared_ptr<const Api> api_;
};

}  // namespace attnjit
