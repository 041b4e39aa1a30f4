#pragma once
// NVRTC backend. libnvrtc is opened with dlopen on first use, so attnjit builds and
// runs without it; open() says what is missing when it cannot be found.
#include <memory>
#include <string>
#include <vector>

#include "compiler/backend/artifact.h"
#include "compiler/codegen/codegen.h"
#include "compiler/support/result.h"

namespace attnjit {

struct CompileOptions {
  std::string arch = "sm_90";        // sm_80, sm_86, sm_89, sm_90, sm_90a
  BinaryFormat format = BinaryFormat::cubin;  // or ptx
  std::vector<std::string> extra;    // appended verbatim
  std::string save_source_dir;       // where failed sources are written ("" = temp dir)
};

class NvrtcCompiler {
 public:
  // Loads libnvrtc (libnvrtc.so.13, .so.12, .so, or $ATTNJIT_NVRTC_PATH) once per process.
  static Result<std::shared_ptr<NvrtcCompiler>, std::string> open();

  std::string version() const;  // "13.0"; part of every cache key
  // The option list compile() passes for `opts` (part of the cache key too).
  std::vector<std::string> options_for(const CompileOptions& opts) const;
  Result<Artifact, CompileError> compile(const GeneratedSource& src,
                                         const CompileOptions& opts) const;

  struct Api;  // dlsym'd entry points
  explicit NvrtcCompiler(std::shared_ptr<const Api> api);

 private:
  std::shared_ptr<const Api> api_;
};

}  // namespace attnjit
