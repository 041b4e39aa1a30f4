#pragma once
// hiprtc backend: HIP C++ text -> HSACO for AMD targets. The library is opened with
// dlopen on first use, so attnjit builds and runs without it.
//
// Where hiprtc is looked for, in order (hiprtc_library_candidates()):
//   1. $ATTNJIT_HIPRTC_PATH, when set, and nothing else;
//   2. libhiprtc.so.7 and libhiprtc.so.6 (ROCm 6 and later), then libamdhip64.so.5
//      (ROCm 5, whose HIP runtime library exports the hiprtc functions), through the
//      dynamic loader, then in /opt/rocm/lib.
// Loading libamdhip64.so.5 needs libhsa-runtime64.so.1 and libhsakmt.so.1 to be present,
// not a GPU. hiprtc compiles through comgr (libamd_comgr), which open() loads too: the
// one already loaded with hiprtc, else the one beside it, else one on the loader's path
// (the same soname hiprtc asks for later, so both use one copy).
//
// Two hazards, both contained here:
//   - comgr aborts the process (SIGABRT) when asked for a processor it does not know:
//     ROCm 5.2's comgr 2.4 knows neither gfx940-942 nor gfx1100. compile() refuses such
//     a target before compiling (knows()), with an error naming what comgr does know.
//   - LLVM inside comgr aborts on some inputs it should reject (gfx908 with a bf16 MFMA
//     builtin: "LLVM ERROR: Cannot select"). Every compile therefore runs in a forked
//     child process (compiler/backend/subprocess.h); a compiler that dies is a
//     CompileError carrying its last words, never the caller's death.
// hiprtc pre-includes its own runtime header (hip/hip_runtime.h, with __global__,
// threadIdx and the half types): generated source must not #include HIP headers, and
// its own names must not collide with that header's.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/backend/backend.h"
#include "compiler/support/result.h"

namespace attnjit {

// The hiprtc candidates open() tries, in order (see the top of this file).
std::vector<std::string> hiprtc_library_candidates();

// Builds HIP targets' HSACO; refuses other vendors' targets and formats.
class HiprtcCompiler final : public CompilerBackend {
 public:
  // Loads hiprtc and comgr once per process; a failure is remembered too.
  static Result<std::shared_ptr<HiprtcCompiler>, std::string> open();
  // The library at `path` (or soname), not remembered: for tests and tools.
  static Result<std::shared_ptr<HiprtcCompiler>, std::string> open_library(const std::string& path);

  std::string name() const override { return "hiprtc"; }
  // "9.0 (libamdhip64.so.5.2.21153, comgr 2.4)": hiprtcVersion() alone does not tell
  // ROCm releases apart (5.2 reports 9.0), so the library's file name and comgr's
  // version are part of it.
  std::string version() const override;
  std::string describe() const override;  // "hiprtc 9.0 from <library> with comgr 2.4 (<path>)"
  std::string library_path() const;       // the hiprtc library that was loaded
  std::string comgr_path() const;         // the comgr loaded for it
  // Whether comgr knows the processor `processor` ("gfx90a"); compiling for one it does
  // not know would abort inside comgr.
  bool knows(std::string_view processor) const;
  // The processors comgr knows, in its order: "gfx600, ..., gfx90a, ...".
  std::string known_processors() const;

  std::vector<std::string> options_for(const Target& target,
                                       const CompileOptions& opts) const override;
  Result<Artifact, CompileError> compile(const GeneratedSource& src, const Target& target,
                                         const CompileOptions& opts) const override;

  struct Api;  // dlsym'd entry points
  explicit HiprtcCompiler(std::shared_ptr<const Api> api);

 private:
  std::shared_ptr<const Api> api_;
};

}  // namespace attnjit
