// NVRTC backend on a hand-written kernel. NVRTC is part of the required build
// environment (no GPU is needed to compile), so when it cannot be opened these tests
// fail and print why, rather than skip.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <regex>

#include "catch.h"
#include "scoped_env.h"
#include "compiler/backend/nvrtc_compiler.h"

namespace fs = std::filesystem;
using attnjit::BinaryFormat;
using attnjit::CompileOptions;
using attnjit::GeneratedSource;
using attnjit::NvrtcCompiler;
using attnjit::Target;

using attnjit::testing::ScopedEnv;

namespace {

const char* kAddKernel = R"(// hand-written test kernel: no includes, plain CUDA C++
extern "C" __global__ void attnjit_test_add(const float* a, const float* b, float* out,
                                            int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}
)";

GeneratedSource add_kernel() { return {kAddKernel, "attnjit_test_add", "test_add_f32"}; }

// Compiles, but NVRTC warns twice: a constant truncated to int (#69-D, the kind of
// warning generated source once produced for an out-of-range window) and an unused
// variable (#177-D).
const char* kWarningKernel = R"(extern "C" __global__ void attnjit_test_warn(int* out) {
  static constexpr int kTruncated = -4294967296;
  int unused_variable;
  out[0] = kTruncated;
}
)";

GeneratedSource warning_kernel() { return {kWarningKernel, "attnjit_test_warn", "test_warn"}; }

std::shared_ptr<NvrtcCompiler> open_nvrtc() {
  auto opened = NvrtcCompiler::open();
  if (!opened.ok()) FAIL("NVRTC is required but could not be opened: " << opened.error());
  return opened.value();
}

const Target& target(const char* name) {
  const Target* t = attnjit::find_target(name);
  if (!t) FAIL("no target " << name);
  return *t;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("nvrtc reports its version", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  INFO("version " << nvrtc->version());
  CHECK(std::regex_match(nvrtc->version(), std::regex(R"(\d+\.\d+)")));
  CHECK(std::stoi(nvrtc->version()) >= 12);
}

TEST_CASE("nvrtc options are minimal and follow the format", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  CHECK(nvrtc->name() == "nvrtc");
  CHECK(nvrtc->options_for(target("sm_90a"), CompileOptions{}) ==
        std::vector<std::string>{"--gpu-architecture=sm_90a", "-std=c++17"});
  CompileOptions ptx;
  ptx.format = BinaryFormat::ptx;
  ptx.extra = {"-DEXTRA=1"};
  CHECK(nvrtc->options_for(target("sm_90a"), ptx) ==
        std::vector<std::string>{"--gpu-architecture=compute_90a", "-std=c++17", "-DEXTRA=1"});
  CHECK(nvrtc->options_for(target("sm_86"), ptx) ==
        std::vector<std::string>{"--gpu-architecture=compute_86", "-std=c++17", "-DEXTRA=1"});
}

TEST_CASE("nvrtc compiles a kernel to CUBIN", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  for (const char* arch : {"sm_80", "sm_90"}) {
    auto compiled = nvrtc->compile(add_kernel(), target(arch), CompileOptions{});
    INFO(arch << ": " << (compiled.ok() ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    CHECK(compiled->format == BinaryFormat::cubin);
    CHECK(compiled->entry == "attnjit_test_add");
    CHECK(compiled->warnings().empty());
    REQUIRE(compiled->binary.size() > 4);
    CHECK(compiled->binary.compare(0, 4, "\x7f" "ELF") == 0);
  }
}

TEST_CASE("nvrtc compiles a kernel to PTX", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  for (const char* arch : {"sm_80", "sm_90"}) {
    CompileOptions options;
    options.format = BinaryFormat::ptx;
    auto compiled = nvrtc->compile(add_kernel(), target(arch), options);
    INFO(arch << ": " << (compiled.ok() ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    CHECK(compiled->format == BinaryFormat::ptx);
    CHECK(compiled->warnings().empty());
    CHECK(contains(compiled->binary, ".entry attnjit_test_add"));
    CHECK(contains(compiled->binary, std::string(".target ") + arch));
    CHECK(compiled->binary.back() != '\0');  // the loader adds the terminator
  }
}

TEST_CASE("nvrtc output is deterministic", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  CompileOptions options;
  auto first = nvrtc->compile(add_kernel(), target("sm_90"), options);
  auto second = nvrtc->compile(add_kernel(), target("sm_90"), options);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->binary == second->binary);
}

TEST_CASE("nvrtc syntax errors come back as a CompileError", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  char pattern[] = "/tmp/attnjit-nvrtc-test-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  const fs::path dir = pattern;

  GeneratedSource broken{
      "extern \"C\" __global__ void attnjit_test_broken(float* out) {\n"
      "  out[0] = undeclared_name\n"
      "}\n",
      "attnjit_test_broken", "test_broken"};
  CompileOptions options;
  options.save_source_dir = dir.string();
  auto compiled = nvrtc->compile(broken, target("sm_90"), options);
  REQUIRE_FALSE(compiled.ok());
  const attnjit::CompileError& error = compiled.error();
  INFO(error.describe());
  CHECK(contains(error.message, "test_broken"));
  CHECK(contains(error.log, "undeclared_name"));
  CHECK(contains(error.log, "error"));
  CHECK(error.options == nvrtc->options_for(target("sm_90"), options));
  REQUIRE_FALSE(error.source_path.empty());
  CHECK(fs::path(error.source_path).parent_path() == dir);
  std::ifstream saved(error.source_path);
  CHECK(std::string(std::istreambuf_iterator<char>(saved), {}) == broken.text);
  const std::string described = error.describe();
  CHECK(contains(described, error.source_path));
  CHECK(contains(described, "--gpu-architecture=sm_90"));
  CHECK(contains(described, "undeclared_name"));
  fs::remove_all(dir);
}

TEST_CASE("nvrtc rejects what it cannot build, clearly", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  SECTION("another vendor's target") {
    const Target& gfx942 = *attnjit::find_target("gfx942");
    CompileOptions options;
    options.format = BinaryFormat::hsaco;
    auto compiled = nvrtc->compile(add_kernel(), gfx942, options);
    REQUIRE_FALSE(compiled.ok());
    CHECK(contains(compiled.error().message, "gfx942"));
    CHECK(contains(compiled.error().message, "HIP target"));
  }
  SECTION("hsaco") {
    CompileOptions options;
    options.format = BinaryFormat::hsaco;
    auto compiled = nvrtc->compile(add_kernel(), target("sm_90"), options);
    REQUIRE_FALSE(compiled.ok());
    CHECK(contains(compiled.error().message, "hsaco"));
  }
  SECTION("an entry name the source does not define") {
    GeneratedSource source = add_kernel();
    source.entry = "attnjit_no_such_kernel";
    auto compiled = nvrtc->compile(source, target("sm_90"), CompileOptions{});
    REQUIRE_FALSE(compiled.ok());
    CHECK(contains(compiled.error().message, "attnjit_no_such_kernel"));
    if (!compiled.error().source_path.empty()) fs::remove(compiled.error().source_path);
  }
}

TEST_CASE("nvrtc warnings of a successful compile are part of its result", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  CompileOptions options;
  options.warnings_as_errors = false;
  auto compiled = nvrtc->compile(warning_kernel(), target("sm_90"), options);
  INFO((compiled.ok() ? compiled->log : compiled.error().describe()));
  REQUIRE(compiled.ok());
  const std::vector<std::string> warnings = compiled->warnings();
  REQUIRE(warnings.size() == 2);
  // Each warning is NVRTC's whole paragraph: the located message, the line, the caret.
  CHECK(std::regex_search(warnings[0], std::regex(R"(^test_warn\.cu\(2\): warning #69-D: .*truncat)")));
  CHECK(contains(warnings[0], "-4294967296;\n"));
  CHECK(contains(warnings[0], "^"));
  CHECK(std::regex_search(warnings[1], std::regex(R"(^test_warn\.cu\(3\): warning #177-D: .*unused_variable)")));
  // NVRTC's advice paragraph between them is not a warning.
  CHECK(contains(compiled->log, "Remark:"));
  for (const std::string& w : warnings) CHECK_FALSE(contains(w, "Remark:"));
}

TEST_CASE("a warning is a compile error when warnings_as_errors is set", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  char pattern[] = "/tmp/attnjit-nvrtc-werror-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  CompileOptions options;
  options.warnings_as_errors = true;
  options.save_source_dir = pattern;
  auto compiled = nvrtc->compile(warning_kernel(), target("sm_90"), options);
  REQUIRE_FALSE(compiled.ok());
  const attnjit::CompileError& error = compiled.error();
  INFO(error.describe());
  CHECK(contains(error.message, "test_warn"));
  CHECK(contains(error.message, "2 warnings"));
  CHECK(contains(error.message, "ATTNJIT_WERROR"));
  CHECK(contains(error.log, "#69-D"));
  CHECK_FALSE(error.source_path.empty());
  // A clean kernel still compiles.
  auto clean = nvrtc->compile(add_kernel(), target("sm_90"), options);
  INFO((clean.ok() ? "" : clean.error().describe()));
  CHECK(clean.ok());
  fs::remove_all(pattern);
}

TEST_CASE("ATTNJIT_WERROR sets the default of warnings_as_errors", "[runtime][nvrtc]") {
  {
    ScopedEnv env("ATTNJIT_WERROR", nullptr);
    CHECK_FALSE(CompileOptions{}.warnings_as_errors);
  }
  {
    ScopedEnv env("ATTNJIT_WERROR", "1");
    CHECK(CompileOptions{}.warnings_as_errors);
  }
  {
    ScopedEnv env("ATTNJIT_WERROR", "0");
    CHECK_FALSE(CompileOptions{}.warnings_as_errors);
  }
  {
    ScopedEnv env("ATTNJIT_WERROR", "");
    CHECK_FALSE(CompileOptions{}.warnings_as_errors);
  }
}

TEST_CASE("warnings are read from NVRTC's log paragraphs", "[runtime][nvrtc]") {
  using attnjit::Artifact;
  CHECK(Artifact::log_warnings("").empty());
  CHECK(Artifact::log_warnings("\n\n").empty());
  CHECK(Artifact::log_warnings("Remark: The warnings can be suppressed with \"-diag-suppress <n>\"\n")
            .empty());
  const std::string log =
      "k.cu(3): warning #69-D: integer conversion resulted in truncation\n"
      "    int x = 4294967296;\n"
      "            ^\n"
      "\n"
      "Remark: The warnings can be suppressed with \"-diag-suppress <warning-number>\"\n"
      "\n"
      "k.cu(9): warning #177-D: variable \"y\" was declared but never referenced\n"
      "    int y;\n"
      "        ^\n";
  CHECK(Artifact::log_warnings(log) ==
        std::vector<std::string>{"k.cu(3): warning #69-D: integer conversion resulted in truncation\n"
                                 "    int x = 4294967296;\n"
                                 "            ^",
                                 "k.cu(9): warning #177-D: variable \"y\" was declared but never "
                                 "referenced\n"
                                 "    int y;\n"
                                 "        ^"});
  // Text in no known shape still counts: generated source should compile silently.
  CHECK(Artifact::log_warnings("nvrtc: something new\n") ==
        std::vector<std::string>{"nvrtc: something new"});
  // A cache entry keeps the log, so a hit reports what the compile reported.
  Artifact artifact;
  artifact.log = log;
  CHECK(artifact.warnings().size() == 2);
}

TEST_CASE("nvrtc is looked for in the documented order", "[runtime][nvrtc]") {
  SECTION("an explicit ATTNJIT_NVRTC_PATH is the only candidate") {
    ScopedEnv path("ATTNJIT_NVRTC_PATH", "/opt/nvrtc/libnvrtc.so.13");
    CHECK(attnjit::nvrtc_library_candidates() ==
          std::vector<std::string>{"/opt/nvrtc/libnvrtc.so.13"});
  }
  SECTION("the loader's path, the toolkit, then the PyPI copy install-deps.sh makes") {
    ScopedEnv path("ATTNJIT_NVRTC_PATH", nullptr);
    ScopedEnv data("XDG_DATA_HOME", "/data");
    CHECK(attnjit::nvrtc_pip_prefix() == "/data/attnjit/nvrtc");
    CHECK(attnjit::nvrtc_library_candidates() ==
          std::vector<std::string>{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
                                   "/usr/local/cuda/lib64/libnvrtc.so.13",
                                   "/usr/local/cuda/lib64/libnvrtc.so.12",
                                   "/data/attnjit/nvrtc/nvidia/cu13/lib/libnvrtc.so.13"});
  }
  SECTION("the PyPI copy's prefix follows the XDG rules") {
    ScopedEnv home("HOME", "/home/someone");
    {
      ScopedEnv data("XDG_DATA_HOME", nullptr);
      CHECK(attnjit::nvrtc_pip_prefix() == "/home/someone/.local/share/attnjit/nvrtc");
    }
    {
      ScopedEnv data("XDG_DATA_HOME", "relative/dir");  // ignored, as XDG says
      CHECK(attnjit::nvrtc_pip_prefix() == "/home/someone/.local/share/attnjit/nvrtc");
    }
  }
}

TEST_CASE("nvrtc loads the builtins that sit beside its library", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  INFO(nvrtc->describe());
  const fs::path library = nvrtc->library_path();
  const fs::path builtins = nvrtc->builtins_path();
  CHECK(library.is_absolute());
  CHECK(builtins.is_absolute());
  CHECK(builtins.filename() == "libnvrtc-builtins.so." + nvrtc->version());
  // The one beside the library when there is one (the toolkit's and the PyPI layout);
  // other layouts get the loader's search.
  const fs::path beside = library.parent_path() / builtins.filename();
  if (fs::exists(beside)) CHECK(fs::equivalent(builtins, beside));
  CHECK(contains(nvrtc->describe(), nvrtc->library_path()));
}
