#include "compiler/backend/clang_hip_compiler.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "compiler/backend/saved_source.h"
#include "compiler/backend/subprocess.h"

namespace attnjit {
namespace {

namespace fs = std::filesystem;

// `clang --version` answers at once; a clang that does not is not usable.
constexpr std::chrono::seconds kVersionTimeLimit{60};

// `name` itself when it holds a '/', else the first executable of that name on $PATH;
// "" when there is none.
std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(start, end - start);
    start = end + 1;
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// A private directory for one compile, removed with everything in it on every path.
class TempDir {
 public:
  explicit TempDir(std::string* why) {
    std::error_code ec;
    const fs::path base = fs::temp_directory_path(ec);
    if (ec) {
      *why = "no temp directory: " + ec.message();
      return;
    }
    std::string pattern = (base / "attnjit-clang-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      *why = fmt::format("cannot create a directory like {}: {}", pattern, std::strerror(errno));
      return;
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

bool write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return bool(out);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void replace_all(std::string* text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = text->find(from); at != std::string::npos; at = text->find(from, at + to.size()))
    text->replace(at, from.size(), to);
}

}  // namespace

std::vector<std::string> clang_candidates() {
  if (const char* chosen = std::getenv("ATTNJIT_CLANG"); chosen && *chosen) return {chosen};
  return {"clang-19", "clang-18", "clang-17", "clang"};
}

ClangHipCompiler::ClangHipCompiler(std::string path, std::string version)
    : path_(std::move(path)), version_(std::move(version)) {}

Result<std::shared_ptr<ClangHipCompiler>, std::string> ClangHipCompiler::open_at(
    const std::string& clang) {
  const std::string path = find_executable(clang);
  if (path.empty()) return fail(fmt::format("{}: not found on $PATH", clang));
  const ChildOutcome asked = run_program({path, "--version"}, kVersionTimeLimit);
  if (!asked.exited_ok())
    return fail(fmt::format("{} --version {}: {}", path, asked.how_it_ended(),
                            first_line(asked.output)));
  const std::string version = first_line(asked.output);
  if (version.find("clang version") == std::string::npos)
    return fail(fmt::format("{} is not clang: its --version says \"{}\"", path, version));
  return std::make_shared<ClangHipCompiler>(path, version);
}

Result<std::shared_ptr<ClangHipCompiler>, std::string> ClangHipCompiler::open() {
  static const Result<std::shared_ptr<ClangHipCompiler>, std::string> opened =
      []() -> Result<std::shared_ptr<ClangHipCompiler>, std::string> {
    std::string attempts;
    for (const std::string& candidate : clang_candidates()) {
      auto found = open_at(candidate);
      if (found) return found;
      attempts += "\n  " + found.error();
    }
    return fail(fmt::format("no clang for HIP found; install clang-19 (tools/install-deps.sh does) "
                            "or set ATTNJIT_CLANG to one; tried:{}",
                            attempts));
  }();
  return opened;
}

std::string ClangHipCompiler::describe() const { return fmt::format("{} at {}", version_, path_); }

// The options, pinned like NVRTC's and hiprtc's (they are part of the cache key):
//   -x hip --cuda-device-only --no-gpu-bundle-output
//                        HIP source, device code only, written as a plain code object
//                        (not a clang offload bundle): what hipModuleLoadData takes;
//   --offload-arch       the one target, without target-ID features (runs with xnack
//                        and sramecc either way);
//   -nogpuinc -nogpulib  no HIP headers and no ROCm device library (none is installed
//                        with Debian's clang; the source is self-contained);
//   -O3, -std=c++17      as hiprtc's;
//   -mcode-object-version=5
//                        pinned, not left to the clang version's default: v5 is what
//                        ROCm 6 and later load and what they build by default, and
//                        gfx942 runs under ROCm 6 or later;
//   -fno-crash-diagnostics
//                        a crashing clang writes no reproducer files into /tmp (its
//                        log and attnjit's saved source are the reproducer).
std::vector<std::string> ClangHipCompiler::options_for(const Target& target,
                                                       const CompileOptions& opts) const {
  const TargetBinary* binary = target.binary(opts.format);
  std::vector<std::string> options = {"-x", "hip", "--cuda-device-only", "--no-gpu-bundle-output"};
  if (binary) options.push_back("--offload-arch=" + std::string(binary->arch_option));
  for (const char* option : {"-nogpuinc", "-nogpulib", "-O3", "-std=c++17",
                             "-mcode-object-version=5", "-fno-crash-diagnostics"})
    options.emplace_back(option);
  options.insert(options.end(), opts.extra.begin(), opts.extra.end());
  return options;
}

Result<Artifact, CompileError> ClangHipCompiler::compile(const GeneratedSource& src,
                                                         const Target& target,
                                                         const CompileOptions& opts) const {
  const std::vector<std::string> options = options_for(target, opts);
  // A failed compile's log names the temporary source, which is gone by the time anyone
  // reads it: the saved copy's path replaces it.
  std::string temp_source;
  auto failure = [&](std::string message, std::string log, bool save_source) {
    CompileError error = compile_failure(src, options, std::move(message), std::move(log),
                                         save_source, opts.save_source_dir, ".hip");
    // The log names the temp file clang read; point it at the saved copy.
    if (!error.source_path.empty()) replace_all(&error.log, temp_source, error.source_path);
    return fail(std::move(error));
  };

  if (target.vendor != Vendor::hip)
    return failure(fmt::format("clang (HIP) compiles HIP targets only; {} is a {} target",
                               target.name, vendor_name(target.vendor)),
                   "", false);
  if (opts.format != BinaryFormat::hsaco || !target.binary(opts.format))
    return failure(fmt::format("clang (HIP) cannot produce {} for {}",
                               binary_format_name(opts.format), target.name),
                   "", false);

  std::string why;
  TempDir dir(&why);
  if (dir.path().empty()) return failure("cannot compile " + src.uri + ": " + why, "", false);
  temp_source = (dir.path() / (file_name_safe(src.uri) + ".hip")).string();
  const std::string code_object = (dir.path() / "kernel.hsaco").string();
  if (!write_file(temp_source, src.text))
    return failure("cannot write " + temp_source, "", false);

  std::vector<std::string> argv = {path_};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), {"-o", code_object, temp_source});
  const ChildOutcome outcome = run_program(argv);
  if (!outcome.start_error.empty())
    return failure(fmt::format("cannot compile {}: {}", src.uri, outcome.start_error),
                   outcome.output, false);
  if (!outcome.exited_ok())
    return failure(fmt::format("{} failed to compile {} for {}: the compiler {}", version_, src.uri,
                               target.name, outcome.how_it_ended()),
                   outcome.output, true);
  std::string binary = read_file(code_object);
  if (binary.empty())
    return failure(fmt::format("{} compiled {} but wrote no code object", version_, src.uri),
                   outcome.output, true);
  // The cheap entry-name check the other backends make; the cache checks properly.
  if (!src.entry.empty() && binary.find(src.entry + ".kd") == std::string::npos)
    return failure(fmt::format("compiled {} has no kernel named '{}' (is it declared "
                               "extern \"C\" __attribute__((global))?)",
                               src.uri, src.entry),
                   outcome.output, true);

  Artifact artifact;
  artifact.log = outcome.output;
  if (opts.warnings_as_errors) {
    if (const size_t count = artifact.warnings().size(); count > 0)
      return failure(fmt::format("{} compiled {} for {} with {} warning{} (warnings are errors: "
                                 "ATTNJIT_WERROR is set)",
                                 version_, src.uri, target.name, count, count == 1 ? "" : "s"),
                     std::move(artifact.log), true);
  }
  artifact.format = BinaryFormat::hsaco;
  artifact.entry = src.entry;
  artifact.binary = std::move(binary);
  return artifact;
}

}  // namespace attnjit
