// NVRTC backend on a hand-written kernel. NVRTC is part of the required build
// environment (no GPU is needed to compile), so when it cannot be opened these tests
// fail and print why, rather than skip.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>

#include "catch.h"
#include "compiler/backend/nvrtc_compiler.h"

namespace fs = std::filesystem;
using attnjit::BinaryFormat;
using attnjit::CompileOptions;
using attnjit::GeneratedSource;
using attnjit::NvrtcCompiler;

namespace {

const char* kAddKernel = R"(// hand-written test kernel: no includes, plain CUDA C++
extern "C" __global__ void attnjit_test_add(const float* a, const float* b, float* out,
                                            int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}
)";

GeneratedSource add_kernel() { return {kAddKernel, "attnjit_test_add", "test_add_f32"}; }

std::shared_ptr<NvrtcCompiler> open_nvrtc() {
  auto opened = NvrtcCompiler::open();
  if (!opened.ok()) FAIL("NVRTC is required but could not be opened: " << opened.error());
  return opened.value();
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
  CompileOptions cubin;
  cubin.arch = "sm_90a";
  CHECK(nvrtc->options_for(cubin) ==
        std::vector<std::string>{"--gpu-architecture=sm_90a", "-std=c++17"});
  CompileOptions ptx;
  ptx.arch = "sm_90a";
  ptx.format = BinaryFormat::ptx;
  ptx.extra = {"-DEXTRA=1"};
  CHECK(nvrtc->options_for(ptx) ==
        std::vector<std::string>{"--gpu-architecture=compute_90a", "-std=c++17", "-DEXTRA=1"});
}

TEST_CASE("nvrtc compiles a kernel to CUBIN", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  for (const char* arch : {"sm_80", "sm_90"}) {
    CompileOptions options;
    options.arch = arch;
    auto compiled = nvrtc->compile(add_kernel(), options);
    INFO(arch << ": " << (compiled.ok() ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    CHECK(compiled->format == BinaryFormat::cubin);
    CHECK(compiled->entry == "attnjit_test_add");
    REQUIRE(compiled->binary.size() > 4);
    CHECK(compiled->binary.compare(0, 4, "\x7f" "ELF") == 0);
  }
}

TEST_CASE("nvrtc compiles a kernel to PTX", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  for (const char* arch : {"sm_80", "sm_90"}) {
    CompileOptions options;
    options.arch = arch;
    options.format = BinaryFormat::ptx;
    auto compiled = nvrtc->compile(add_kernel(), options);
    INFO(arch << ": " << (compiled.ok() ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    CHECK(compiled->format == BinaryFormat::ptx);
    CHECK(contains(compiled->binary, ".entry attnjit_test_add"));
    CHECK(contains(compiled->binary, std::string(".target ") + arch));
    CHECK(compiled->binary.back() != '\0');  // the loader adds the terminator
  }
}

TEST_CASE("nvrtc output is deterministic", "[runtime][nvrtc]") {
  auto nvrtc = open_nvrtc();
  CompileOptions options;
  auto first = nvrtc->compile(add_kernel(), options);
  auto second = nvrtc->compile(add_kernel(), options);
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
  auto compiled = nvrtc->compile(broken, options);
  REQUIRE_FALSE(compiled.ok());
  const attnjit::CompileError& error = compiled.error();
  INFO(error.describe());
  CHECK(contains(error.message, "test_broken"));
  CHECK(contains(error.log, "undeclared_name"));
  CHECK(contains(error.log, "error"));
  CHECK(error.options == nvrtc->options_for(options));
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
  SECTION("an unknown architecture") {
    CompileOptions options;
    options.arch = "gfx942";
    auto compiled = nvrtc->compile(add_kernel(), options);
    REQUIRE_FALSE(compiled.ok());
    CHECK(contains(compiled.error().message, "gfx942"));
  }
  SECTION("hsaco") {
    CompileOptions options;
    options.format = BinaryFormat::hsaco;
    auto compiled = nvrtc->compile(add_kernel(), options);
    REQUIRE_FALSE(compiled.ok());
    CHECK(contains(compiled.error().message, "hsaco"));
  }
  SECTION("an entry name the source does not define") {
    GeneratedSource source = add_kernel();
    source.entry = "attnjit_no_such_kernel";
    auto compiled = nvrtc->compile(source, CompileOptions{});
    REQUIRE_FALSE(compiled.ok());
    CHECK(contains(compiled.error().message, "attnjit_no_such_kernel"));
    if (!compiled.error().source_path.empty()) fs::remove(compiled.error().source_path);
  }
}
