#pragma once
// A compiler backend for tests that need no NVRTC or HIP compiler: it builds the smallest
// binaries the cache accepts for the target it is given (fake_binary.h) and records each
// compile.
#include <mutex>
#include <string>
#include <vector>

#include "compiler/backend/backend.h"
#include "fake_binary.h"

namespace attnjit::testing {

// Builds the smallest binaries the cache accepts for the target it is given, and
// records each compile.
class FakeBackend : public CompilerBackend {
 public:
  struct Call {
    std::string target;
    BinaryFormat format;
  };
  // Compiles may come from several threads (the AOT builder, the tuner): the record of
  // calls is guarded.
  mutable std::mutex mutex;
  mutable std::vector<Call> calls;
  mutable std::vector<std::string> binaries;  // what each compile returned, in order
  std::string failure;  // non-empty: every compile fails with this message

  std::string name() const override { return "fake"; }
  std::string version() const override { return "0.1-fake"; }
  std::string describe() const override { return "fake backend 0.1"; }
  std::vector<std::string> options_for(const Target& target,
                                       const CompileOptions& opts) const override {
    const TargetBinary* binary = target.binary(opts.format);
    return {"--fake-arch=" + std::string(binary ? binary->arch_option : "none")};
  }
  Result<Artifact, CompileError> compile(const GeneratedSource& src, const Target& target,
                                         const CompileOptions& opts) const override {
    {
      std::lock_guard<std::mutex> lock(mutex);
      calls.push_back({std::string(target.name), opts.format});
    }
    if (!failure.empty()) return fail(CompileError{failure, "fake log", options_for(target, opts), ""});
    Artifact artifact;
    artifact.format = opts.format;
    artifact.entry = src.entry;
    const int sm = target.capability.major * 10 + target.capability.minor;
    artifact.binary = opts.format == BinaryFormat::ptx     ? fake_ptx(std::string(target.name), src.entry, src.uri)
                      : opts.format == BinaryFormat::hsaco ? fake_hsaco(std::string(target.name), src.entry, src.uri)
                                                           : fake_cubin(sm, src.entry, src.uri);
    {
      std::lock_guard<std::mutex> lock(mutex);
      binaries.push_back(artifact.binary);
    }
    return artifact;
  }
};

}  // namespace attnjit::testing
