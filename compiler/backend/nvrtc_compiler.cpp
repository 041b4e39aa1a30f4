// NVRTC backend: CUDA C++ text -> CUBIN or PTX, through libnvrtc opened with dlopen.
//
// The NVRTC C ABI is spelled out below instead of including <nvrtc.h>, so attnjit
// builds on machines without the CUDA toolkit. The ABI has been stable since CUDA 11.1
// (the first release with nvrtcGetCUBIN); every symbol used here exists in 11.1+.
#include "compiler/backend/nvrtc_compiler.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "compiler/backend/saved_source.h"
#include "compiler/backend/shared_library.h"

namespace attnjit {
namespace {

// NVRTC's own types: nvrtcResult is a C enum (int-sized), nvrtcProgram an opaque pointer.
using NvrtcResult = int;
using NvrtcProgram = struct NvrtcProgramOpaque*;
constexpr NvrtcResult kNvrtcSuccess = 0;

}  // namespace

struct NvrtcCompiler::Api {
  void* library = nullptr;   // never dlclose'd: one per process, used until exit
  std::string library_path;  // which libnvrtc was found, for messages
  std::string builtins_path; // the libnvrtc-builtins loaded beside it
  std::string version;       // "13.0"

  const char* (*get_error_string)(NvrtcResult) = nullptr;
  NvrtcResult (*version_query)(int* major, int* minor) = nullptr;
  NvrtcResult (*create_program)(NvrtcProgram* prog, const char* src, const char* name,
                                int num_headers, const char* const* headers,
                                const char* const* include_names) = nullptr;
  NvrtcResult (*compile_program)(NvrtcProgram prog, int num_options,
                                 const char* const* options) = nullptr;
  NvrtcResult (*get_program_log_size)(NvrtcProgram prog, size_t* size) = nullptr;
  NvrtcResult (*get_program_log)(NvrtcProgram prog, char* log) = nullptr;
  NvrtcResult (*get_cubin_size)(NvrtcProgram prog, size_t* size) = nullptr;
  NvrtcResult (*get_cubin)(NvrtcProgram prog, char* cubin) = nullptr;
  NvrtcResult (*get_ptx_size)(NvrtcProgram prog, size_t* size) = nullptr;
  NvrtcResult (*get_ptx)(NvrtcProgram prog, char* ptx) = nullptr;
  NvrtcResult (*destroy_program)(NvrtcProgram* prog) = nullptr;

  std::string error_name(NvrtcResult rc) const {
    const char* name = get_error_string ? get_error_string(rc) : nullptr;
    return name ? name : fmt::format("NVRTC error {}", rc);
  }
};

namespace {

// True for an absolute path: relative XDG values are to be ignored (XDG spec).
bool absolute(const char* path) { return path != nullptr && path[0] == '/'; }

// libnvrtc dlopens "libnvrtc-builtins.so.MAJOR.MINOR" by name at its first compile,
// and the dynamic loader answers a name with an object already loaded under that
// soname before searching any path. Loading the builtins beside `library` now makes
// a copy outside the loader's path (the PyPI one) work, and keeps a toolkit's libnvrtc
// from pairing with another version's builtins found first on the path. Without one
// beside it, the loader's own search must find one now, not at the first compile.
// Returns the path of the builtins loaded; never dlclose'd, like libnvrtc.
Result<std::string, std::string> load_builtins(const std::string& library, int major,
                                               int minor) {
  const std::string name = fmt::format("libnvrtc-builtins.so.{}.{}", major, minor);
  const std::filesystem::path beside = std::filesystem::path(library).parent_path() / name;
  std::error_code ec;
  const bool local = std::filesystem::path(library).has_parent_path() &&
                     std::filesystem::is_regular_file(beside, ec);
  const std::string candidate = local ? beside.string() : name;
  void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return fail(fmt::format("{} (NVRTC {}.{}) needs {}, which is neither beside it nor on the "
                            "library path: {}",
                            library, major, minor, name, why ? why : "not found"));
  }
  return loaded_path(handle, candidate);
}

Result<std::shared_ptr<const NvrtcCompiler::Api>, std::string> load_api() {
  auto api = std::make_shared<NvrtcCompiler::Api>();
  std::string attempts;
  for (const std::string& candidate : nvrtc_library_candidates()) {
    api->library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (api->library) {
      api->library_path = loaded_path(api->library, candidate);
      break;
    }
    // dlerror() starts with the name it was given; printed once.
    const char* error = dlerror();
    std::string why = error ? error : "not found";
    if (why.rfind(candidate + ": ", 0) == 0) why.erase(0, candidate.size() + 2);
    attempts += fmt::format("\n  {}: {}", candidate, why);
  }
  if (!api->library)
    return fail(fmt::format(
        "libnvrtc not found; install it (tools/install-deps.sh installs it from PyPI, or "
        "install the CUDA toolkit) or set ATTNJIT_NVRTC_PATH to it; tried:{}",
        attempts));

  std::string missing;
  bind_symbol(api->library, "nvrtcGetErrorString", &api->get_error_string, &missing);
  bind_symbol(api->library, "nvrtcVersion", &api->version_query, &missing);
  bind_symbol(api->library, "nvrtcCreateProgram", &api->create_program, &missing);
  bind_symbol(api->library, "nvrtcCompileProgram", &api->compile_program, &missing);
  bind_symbol(api->library, "nvrtcGetProgramLogSize", &api->get_program_log_size, &missing);
  bind_symbol(api->library, "nvrtcGetProgramLog", &api->get_program_log, &missing);
  bind_symbol(api->library, "nvrtcGetCUBINSize", &api->get_cubin_size, &missing);
  bind_symbol(api->library, "nvrtcGetCUBIN", &api->get_cubin, &missing);
  bind_symbol(api->library, "nvrtcGetPTXSize", &api->get_ptx_size, &missing);
  bind_symbol(api->library, "nvrtcGetPTX", &api->get_ptx, &missing);
  bind_symbol(api->library, "nvrtcDestroyProgram", &api->destroy_program, &missing);
  if (!missing.empty())
    return fail(fmt::format("{} lacks {} (NVRTC older than CUDA 11.1?)", api->library_path,
                            missing));

  int major = 0, minor = 0;
  if (NvrtcResult rc = api->version_query(&major, &minor); rc != kNvrtcSuccess)
    return fail(fmt::format("nvrtcVersion failed in {}: {}", api->library_path,
                            api->error_name(rc)));
  api->version = fmt::format("{}.{}", major, minor);

  auto builtins = load_builtins(api->library_path, major, minor);
  if (!builtins) return fail(builtins.error());
  api->builtins_path = *builtins;
  return std::shared_ptr<const NvrtcCompiler::Api>(std::move(api));
}

// NVRTC sizes include the terminating NUL; Artifact keeps text without it.
std::string without_trailing_nuls(std::string text) {
  while (!text.empty() && text.back() == '\0') text.pop_back();
  return text;
}

// Destroys the program on every return path.
class ProgramGuard {
 public:
  ProgramGuard(const NvrtcCompiler::Api& api, NvrtcProgram program)
      : api_(api), program_(program) {}
  ~ProgramGuard() {
    if (program_) api_.destroy_program(&program_);
  }
  ProgramGuard(const ProgramGuard&) = delete;
  ProgramGuard& operator=(const ProgramGuard&) = delete;

 private:
  const NvrtcCompiler::Api& api_;
  NvrtcProgram program_;
};

}  // namespace

std::string nvrtc_pip_prefix() {
  if (const char* data = std::getenv("XDG_DATA_HOME"); absolute(data))
    return std::string(data) + "/attnjit/nvrtc";
  if (const char* home = std::getenv("HOME"); absolute(home))
    return std::string(home) + "/.local/share/attnjit/nvrtc";
  return "";
}

std::vector<std::string> nvrtc_library_candidates() {
  if (const char* override_path = std::getenv("ATTNJIT_NVRTC_PATH");
      override_path && *override_path)
    return {override_path};
  std::vector<std::string> names = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
                                    "/usr/local/cuda/lib64/libnvrtc.so.13",
                                    "/usr/local/cuda/lib64/libnvrtc.so.12"};
  if (std::string prefix = nvrtc_pip_prefix(); !prefix.empty())
    names.push_back(prefix + "/nvidia/cu13/lib/libnvrtc.so.13");
  return names;
}

NvrtcCompiler::NvrtcCompiler(std::shared_ptr<const Api> api) : api_(std::move(api)) {}

Result<std::shared_ptr<NvrtcCompiler>, std::string> NvrtcCompiler::open() {
  // Loaded once; a failure is remembered too, since the library will not appear later
  // in the same process and retrying dlopen on every compile would only slow errors.
  static const Result<std::shared_ptr<NvrtcCompiler>, std::string> opened =
      []() -> Result<std::shared_ptr<NvrtcCompiler>, std::string> {
    auto api = load_api();
    if (!api) return fail(api.error());
    return std::make_shared<NvrtcCompiler>(api.value());
  }();
  return opened;
}

std::string NvrtcCompiler::version() const { return api_->version; }
std::string NvrtcCompiler::library_path() const { return api_->library_path; }
std::string NvrtcCompiler::builtins_path() const { return api_->builtins_path; }
std::string NvrtcCompiler::describe() const {
  return fmt::format("NVRTC {} from {} (builtins {})", api_->version, api_->library_path,
                     api_->builtins_path);
}

// The option list is deliberately minimal, because every option is part of the cache
// key and of the generated code's meaning:
//   --gpu-architecture  the one target, spelled as the target table has it for the
//                       format (a real sm_ for CUBIN, a virtual compute_ for PTX so
//                       the driver can JIT it for the device it finds);
//   -std=c++17          pinned rather than left to the NVRTC version's default, so
//                       the dialect the templates are written in never shifts.
// Deliberately absent: --use_fast_math (the templates choose exp2/fast intrinsics
// themselves, so numerics do not hide in a flag), -lineinfo/-G (bigger binaries,
// different code), include paths (templates are embedded; sources are
// self-contained). `opts.extra` is appended verbatim for experiments.
std::vector<std::string> NvrtcCompiler::options_for(const Target& target,
                                                    const CompileOptions& opts) const {
  // A format the target lacks gets no architecture option: compile() refuses it.
  const TargetBinary* binary = target.binary(opts.format);
  std::vector<std::string> options;
  if (binary) options.push_back("--gpu-architecture=" + std::string(binary->arch_option));
  options.push_back("-std=c++17");
  options.insert(options.end(), opts.extra.begin(), opts.extra.end());
  return options;
}

Result<Artifact, CompileError> NvrtcCompiler::compile(const GeneratedSource& src,
                                                      const Target& target,
                                                      const CompileOptions& opts) const {
  const Api& api = *api_;
  const std::vector<std::string> options = options_for(target, opts);

  // Failures of any stage carry the same context; only a real compile error saves
  // the source, since that is the only case where a user wants to look at it.
  auto failure = [&](std::string message, std::string log, bool save_source) {
    return fail(compile_failure(src, options, std::move(message), std::move(log), save_source,
                                opts.save_source_dir, ".cu"));
  };

  if (target.vendor != Vendor::cuda)
    return failure(fmt::format("NVRTC compiles CUDA targets only; {} is a {} target",
                               target.name, vendor_name(target.vendor)),
                   "", false);
  if (opts.format == BinaryFormat::hsaco || !target.binary(opts.format))
    return failure(fmt::format("NVRTC cannot produce {} for {}",
                               binary_format_name(opts.format), target.name),
                   "", false);

  // The program name is what NVRTC prints in front of each diagnostic.
  const std::string program_name = file_name_safe(src.uri) + ".cu";
  NvrtcProgram program = nullptr;
  if (NvrtcResult rc = api.create_program(&program, src.text.c_str(), program_name.c_str(), 0,
                                          nullptr, nullptr);
      rc != kNvrtcSuccess)
    return failure(fmt::format("nvrtcCreateProgram failed for {}: {}", src.uri,
                               api.error_name(rc)),
                   "", true);
  ProgramGuard guard(api, program);

  std::vector<const char*> option_pointers;
  for (const std::string& option : options) option_pointers.push_back(option.c_str());
  const NvrtcResult compile_rc = api.compile_program(
      program, static_cast<int>(option_pointers.size()), option_pointers.data());

  std::string log;
  size_t log_size = 0;
  if (api.get_program_log_size(program, &log_size) == kNvrtcSuccess && log_size > 0) {
    log.resize(log_size);
    if (api.get_program_log(program, log.data()) != kNvrtcSuccess) log.clear();
    log = without_trailing_nuls(std::move(log));
  }

  if (compile_rc != kNvrtcSuccess)
    return failure(fmt::format("NVRTC {} failed to compile {} for {}: {}", api.version,
                               src.uri, target.name, api.error_name(compile_rc)),
                   std::move(log), true);

  const bool ptx = opts.format == BinaryFormat::ptx;
  size_t size = 0;
  NvrtcResult rc = ptx ? api.get_ptx_size(program, &size) : api.get_cubin_size(program, &size);
  std::string binary(size, '\0');
  if (rc == kNvrtcSuccess && size > 0)
    rc = ptx ? api.get_ptx(program, binary.data()) : api.get_cubin(program, binary.data());
  if (rc != kNvrtcSuccess || size == 0)
    return failure(fmt::format("NVRTC compiled {} but returned no {}: {}", src.uri,
                               binary_format_name(opts.format), api.error_name(rc)),
                   std::move(log), true);
  if (ptx) binary = without_trailing_nuls(std::move(binary));

  // A cheap early check that catches a template/entry-name mismatch on a machine
  // without a GPU, instead of at module load time: an extern "C" symbol appears
  // verbatim in the ELF string table and after ".entry" in PTX. (A substring match
  // can miss a mismatch, never report a false one.)
  if (!src.entry.empty() && binary.find(src.entry) == std::string::npos)
    return failure(fmt::format("compiled {} has no kernel named '{}' (is it declared "
                               "extern \"C\" __global__?)",
                               src.uri, src.entry),
                   std::move(log), true);

  Artifact artifact;
  artifact.log = std::move(log);
  if (opts.warnings_as_errors) {
    if (const size_t count = artifact.warnings().size(); count > 0)
      return failure(fmt::format("NVRTC {} compiled {} for {} with {} warning{} (warnings are "
                                 "errors: ATTNJIT_WERROR is set)",
                                 api.version, src.uri, target.name, count, count == 1 ? "" : "s"),
                     std::move(artifact.log), true);
  }
  artifact.format = opts.format;
  artifact.entry = src.entry;
  artifact.binary = std::move(binary);
  return artifact;
}

}  // namespace attnjit
