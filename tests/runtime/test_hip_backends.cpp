// The AMD compiler backends on a machine without an AMD GPU: hiprtc builds gfx90a, the
// offline clang gfx942, each a checked HSACO; what either cannot build (gfx908 with a
// bf16 MFMA, gfx1100, gfx999) is an error value and the test process lives on, even
// where the compiler itself aborts. Tests skip with the reason when a compiler is absent.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/backend/backend.h"
#include "compiler/backend/clang_hip_compiler.h"
#include "compiler/backend/hiprtc_compiler.h"
#include "compiler/backend/subprocess.h"
#include "hip_test_kernels.h"
#include "runtime/cache/binary_target.h"
#include "temp_dir.h"

namespace {

using namespace attnjit;
namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A row for an AMD processor the table does not have.
Target amd_row(std::string_view name) {
  return Target{.name = name, .vendor = Vendor::hip, .capability = {}, .arch_specific = false,
                .binaries = {{BinaryFormat::hsaco, name}}, .max_shared_bytes = 65536,
                .wave_size = 64, .mainloops = {Mainloop::simt, Mainloop::mfma}};
}

CompileOptions hsaco_options(const testing::TempDir& dir) {
  CompileOptions options;
  options.format = BinaryFormat::hsaco;
  options.save_source_dir = dir.path().string();
  return options;
}

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The checks every HSACO a backend returns must pass.
void check_code_object(const Artifact& artifact, std::string_view arch) {
  CHECK(artifact.format == BinaryFormat::hsaco);
  CHECK(artifact.entry == testing::kMfmaTestEntry);
  CHECK(artifact.warnings().empty());
  CHECK(binary_target_mismatch(BinaryFormat::hsaco, artifact.binary, arch, artifact.entry) == "");
  HsacoTarget target;
  std::string why;
  INFO(why);
  REQUIRE(read_hsaco_target(artifact.binary, &target, &why));
  CHECK(target.mach_name == arch);
  CHECK(target.processor() == arch);
}

std::shared_ptr<HiprtcCompiler> hiprtc_or_skip() {
  auto opened = HiprtcCompiler::open();
  if (!opened) WARN("skipped: needs hiprtc (tools/install-deps.sh installs it): " << opened.error());
  return opened ? *opened : nullptr;
}

std::shared_ptr<ClangHipCompiler> clang_or_skip() {
  auto opened = ClangHipCompiler::open();
  if (!opened) WARN("skipped: needs clang-19 (tools/install-deps.sh installs it): " << opened.error());
  return opened ? *opened : nullptr;
}

}  // namespace

TEST_CASE("a child's result, output and end come back; its crash does not spread",
          "[hip][subprocess]") {
  const ChildOutcome fine = run_in_child([](int fd) {
    write_all(fd, "code", 4);
    std::fputs("a compiler's chatter\n", stderr);
  });
  CHECK(fine.exited_ok());
  CHECK(fine.result == "code");
  CHECK(fine.output == "a compiler's chatter\n");

  const ChildOutcome aborted = run_in_child([](int fd) {
    std::fputs("LLVM ERROR: about to die\n", stderr);
    std::fflush(stderr);
    std::abort();
  });
  CHECK_FALSE(aborted.exited_ok());
  CHECK(aborted.signal == SIGABRT);
  CHECK(aborted.output == "LLVM ERROR: about to die\n");
  CHECK(contains(aborted.how_it_ended(), "was killed by signal 6"));

  const ChildOutcome threw = run_in_child([](int) { throw std::runtime_error("thrown in the child"); });
  CHECK(threw.exit_code == 70);

  // A hung compiler is killed at the limit (one second here).
  const ChildOutcome hung = run_in_child([](int) { ::pause(); }, std::chrono::seconds(1));
  CHECK(hung.timed_out);
  CHECK(hung.how_it_ended() == "ran past its time limit and was killed");
}

TEST_CASE("a program runs without a shell, its status and output captured", "[hip][subprocess]") {
  const ChildOutcome ran = run_program({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"});
  CHECK(ran.start_error.empty());
  CHECK(ran.exit_code == 3);
  CHECK(contains(ran.output, "to-stdout\n"));
  CHECK(contains(ran.output, "to-stderr\n"));
  CHECK(ran.how_it_ended() == "exited with status 3");
  // Arguments reach the program verbatim: no shell splits or expands them.
  const ChildOutcome verbatim = run_program({"/bin/echo", "a b", "$HOME", "*"});
  CHECK(verbatim.output == "a b $HOME *\n");

  const ChildOutcome missing = run_program({"/nonexistent/attnjit-no-such-program", "--version"});
  CHECK_FALSE(missing.exited_ok());
  CHECK(missing.start_error ==
        "cannot run /nonexistent/attnjit-no-such-program: No such file or directory");
  CHECK(run_program({}).start_error == "no program to run");
}

TEST_CASE("hiprtc builds gfx90a code objects with MFMA", "[hip][hiprtc]") {
  auto hiprtc = hiprtc_or_skip();
  if (!hiprtc) return;
  INFO(hiprtc->describe());
  testing::TempDir dir;
  const Target& gfx90a = *find_target("gfx90a");
  REQUIRE(hiprtc->knows("gfx90a"));
  const std::vector<std::string> expected = {"--offload-arch=gfx90a", "-O3", "-std=c++17"};
  CHECK(hiprtc->options_for(gfx90a, hsaco_options(dir)) == expected);
  for (const GeneratedSource& source :
       {testing::mfma_32x32x8_bf16_kernel(), testing::mfma_16x16x16_bf16_kernel()}) {
    INFO(source.uri);
    auto compiled = hiprtc->compile(source, gfx90a, hsaco_options(dir));
    INFO((compiled ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    check_code_object(*compiled, "gfx90a");
    testing::keep_code_object(source.uri + ".gfx90a.hiprtc", compiled->binary);
  }
}

TEST_CASE("hiprtc refuses processors its comgr does not know, before compiling",
          "[hip][hiprtc]") {
  auto hiprtc = hiprtc_or_skip();
  if (!hiprtc) return;
  testing::TempDir dir;
  // Each of these aborts the process inside ROCm 5.2's comgr when compiled for.
  std::vector<Target> unknown = {amd_row("gfx999")};
  if (!hiprtc->knows("gfx1100")) unknown.push_back(amd_row("gfx1100"));
  if (!hiprtc->knows("gfx942")) unknown.push_back(*find_target("gfx942"));
  for (const Target& target : unknown) {
    INFO(target.name);
    auto compiled = hiprtc->compile(testing::mfma_16x16x16_bf16_kernel(), target, hsaco_options(dir));
    REQUIRE_FALSE(compiled.ok());
    CHECK(contains(compiled.error().message,
                   fmt::format("cannot compile for {}: its comgr", target.name)));
    CHECK(contains(compiled.error().message, "does not know that processor"));
    CHECK(contains(compiled.error().message, "it knows gfx"));
    CHECK(compiled.error().source_path.empty());
  }
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("a compiler that aborts inside hiprtc is an error value", "[hip][hiprtc]") {
  auto hiprtc = hiprtc_or_skip();
  if (!hiprtc) return;
  if (!hiprtc->knows("gfx908")) {
    WARN("skipped: this hiprtc's comgr does not know gfx908");
    return;
  }
  testing::TempDir dir;
  // gfx908 (CDNA 1) has no bf16 "_1k" MFMA: LLVM's instruction selection fails, and
  // ROCm 5.2 reports that with a fatal error that aborts the compiling process.
  auto compiled = hiprtc->compile(testing::mfma_32x32x8_bf16_kernel(), amd_row("gfx908"),
                                  hsaco_options(dir));
  REQUIRE_FALSE(compiled.ok());
  const CompileError& error = compiled.error();
  INFO(error.describe());
  CHECK(contains(error.message, "gfx908"));
  if (contains(hiprtc->version(), "comgr 2.4")) {
    CHECK(contains(error.message, "crashed compiling test.mfma32x32x8bf16 for gfx908"));
    CHECK(contains(error.message, "killed by signal 6"));
    CHECK(contains(error.log, "LLVM ERROR: Cannot select"));
  }
  REQUIRE_FALSE(error.source_path.empty());
  CHECK(fs::path(error.source_path).parent_path() == dir.path());
  CHECK(fs::path(error.source_path).extension() == ".hip");
  CHECK(file_text(error.source_path) == testing::mfma_32x32x8_bf16_kernel().text);
  // And the process that asked is still here to compile the next kernel.
  auto next = hiprtc->compile(testing::mfma_32x32x8_bf16_kernel(), *find_target("gfx90a"),
                              hsaco_options(dir));
  CHECK(next.ok());
}

TEST_CASE("hiprtc's compile errors carry the log, options and saved source", "[hip][hiprtc]") {
  auto hiprtc = hiprtc_or_skip();
  if (!hiprtc) return;
  testing::TempDir dir;
  const Target& gfx90a = *find_target("gfx90a");
  const GeneratedSource broken{
      "extern \"C\" __attribute__((global)) void attnjit_broken(float* out) {\n"
      "  out[0] = attnjit_undeclared_name;\n"
      "}\n",
      "attnjit_broken", "test.broken"};
  auto compiled = hiprtc->compile(broken, gfx90a, hsaco_options(dir));
  REQUIRE_FALSE(compiled.ok());
  INFO(compiled.error().describe());
  CHECK(contains(compiled.error().message, "failed to compile test.broken for gfx90a"));
  CHECK(contains(compiled.error().log, "attnjit_undeclared_name"));
  CHECK(compiled.error().options == hiprtc->options_for(gfx90a, hsaco_options(dir)));
  CHECK(file_text(compiled.error().source_path) == broken.text);

  GeneratedSource renamed = testing::mfma_32x32x8_bf16_kernel();
  renamed.entry = "attnjit_no_such_kernel";
  auto no_entry = hiprtc->compile(renamed, gfx90a, hsaco_options(dir));
  REQUIRE_FALSE(no_entry.ok());
  CHECK(contains(no_entry.error().message, "has no kernel named 'attnjit_no_such_kernel'"));

  auto cuda = hiprtc->compile(broken, *find_target("sm_90"), hsaco_options(dir));
  REQUIRE_FALSE(cuda.ok());
  CHECK(cuda.error().message == "hiprtc compiles HIP targets only; sm_90 is a CUDA target");
  CompileOptions cubin = hsaco_options(dir);
  cubin.format = BinaryFormat::cubin;
  auto wrong_format = hiprtc->compile(broken, gfx90a, cubin);
  REQUIRE_FALSE(wrong_format.ok());
  CHECK(wrong_format.error().message == "hiprtc cannot produce cubin for gfx90a");

  auto missing = HiprtcCompiler::open_library("/nonexistent/libhiprtc.so.6");
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error(), "hiprtc not found"));
  CHECK(contains(missing.error(), "/nonexistent/libhiprtc.so.6: cannot open shared object file"));
}

TEST_CASE("the offline clang builds gfx942 and gfx90a code objects with MFMA", "[hip][clang]") {
  auto clang = clang_or_skip();
  if (!clang) return;
  INFO(clang->describe());
  testing::TempDir dir;
  const Target& gfx942 = *find_target("gfx942");
  const std::vector<std::string> options = clang->options_for(gfx942, hsaco_options(dir));
  CHECK(std::find(options.begin(), options.end(), "--offload-arch=gfx942") != options.end());
  CHECK(std::find(options.begin(), options.end(), "-mcode-object-version=5") != options.end());
  CHECK(contains(clang->version(), "clang version"));

  auto compiled = clang->compile(testing::mfma_16x16x16_bf16_kernel(), gfx942, hsaco_options(dir));
  INFO((compiled ? "" : compiled.error().describe()));
  REQUIRE(compiled.ok());
  check_code_object(*compiled, "gfx942");
  HsacoTarget target;
  std::string why;
  REQUIRE(read_hsaco_target(compiled->binary, &target, &why));
  CHECK(target.code_object_version == 5);
  testing::keep_code_object("test.mfma16x16x16bf16.gfx942.clang", compiled->binary);

  auto gfx90a = clang->compile(testing::mfma_32x32x8_bf16_kernel(), *find_target("gfx90a"),
                               hsaco_options(dir));
  INFO((gfx90a ? "" : gfx90a.error().describe()));
  REQUIRE(gfx90a.ok());
  check_code_object(*gfx90a, "gfx90a");
  // Nothing is left behind: failed sources only (none here), no temporary files.
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("what the offline clang cannot build is an error value", "[hip][clang]") {
  auto clang = clang_or_skip();
  if (!clang) return;
  testing::TempDir dir;
  struct Case {
    Target target;
    GeneratedSource source;
    std::string in_log;
  };
  const std::vector<Case> cases = {
      // Not a processor clang knows.
      {amd_row("gfx999"), testing::mfma_16x16x16_bf16_kernel(), "gfx999"},
      // RDNA 3 has no MFMA at all.
      {amd_row("gfx1100"), testing::mfma_16x16x16_bf16_kernel(), "error"},
      // CDNA 1 lacks the bf16 "_1k" MFMA: clang's backend fails on it.
      {amd_row("gfx908"), testing::mfma_32x32x8_bf16_kernel(), "error"},
  };
  for (const Case& c : cases) {
    INFO(c.target.name);
    auto compiled = clang->compile(c.source, c.target, hsaco_options(dir));
    REQUIRE_FALSE(compiled.ok());
    const CompileError& error = compiled.error();
    INFO(error.describe());
    CHECK(contains(error.message, fmt::format("failed to compile {} for {}", c.source.uri,
                                              c.target.name)));
    CHECK(contains(error.log, c.in_log));
    REQUIRE_FALSE(error.source_path.empty());
    CHECK(file_text(error.source_path) == c.source.text);
    // The log names the saved source, not the temporary copy clang read.
    CHECK_FALSE(contains(error.log, "attnjit-clang-"));
  }
  auto missing = ClangHipCompiler::open_at("/nonexistent/clang-19");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error() == "/nonexistent/clang-19: not found on $PATH");
  auto not_clang = ClangHipCompiler::open_at("/bin/true");
  REQUIRE_FALSE(not_clang.ok());
  CHECK(not_clang.error().rfind("/bin/true is not clang: its --version says \"", 0) == 0);
}

TEST_CASE("each HIP target goes to the compiler the rule names", "[hip][backend]") {
  auto hiprtc = HiprtcCompiler::open();
  auto clang = ClangHipCompiler::open();
  if (!hiprtc || !clang) {
    WARN("skipped: needs both hiprtc and clang-19");
    return;
  }
  const Target& gfx90a = *find_target("gfx90a");
  const Target& gfx942 = *find_target("gfx942");
  CompileOptions hsaco;
  hsaco.format = BinaryFormat::hsaco;
  const HipCompilers both(*hiprtc, *clang);
  // hiprtc for what its comgr knows, clang for the rest.
  CHECK(both.backend_for(gfx90a) == hiprtc->get());
  CHECK(both.backend_for(gfx942) ==
        ((*hiprtc)->knows("gfx942") ? static_cast<const CompilerBackend*>(hiprtc->get())
                                    : clang->get()));
  CHECK(both.options_for(gfx90a, hsaco) ==
        (*hiprtc)->options_for(gfx90a, hsaco));
  CHECK(contains(both.version(), (*hiprtc)->version()));
  CHECK(contains(both.version(), (*clang)->version()));

  const HipCompilers clang_only(nullptr, *clang);
  CHECK(clang_only.backend_for(gfx90a) == clang->get());
  CHECK(contains(clang_only.version(), "hiprtc none"));

  if (!(*hiprtc)->knows("gfx942")) {
    const HipCompilers hiprtc_only(*hiprtc, nullptr);
    CHECK(hiprtc_only.backend_for(gfx942) == nullptr);
    auto compiled = hiprtc_only.compile(testing::mfma_16x16x16_bf16_kernel(), gfx942,
                                        hsaco);
    REQUIRE_FALSE(compiled.ok());
    CHECK(contains(compiled.error().message,
                   "no compiler for gfx942: hiprtc's comgr does not know it"));
  }
}
