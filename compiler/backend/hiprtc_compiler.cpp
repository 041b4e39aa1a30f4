// hiprtc backend: HIP C++ text -> HSACO, through hiprtc opened with dlopen, each
// compile in a forked child (see hiprtc_compiler.h for why).
//
// The hiprtc and comgr C ABIs are spelled out below instead of including their headers,
// so attnjit builds without ROCm. hiprtc's entry points used here exist unchanged from
// ROCm 4.2 (the symbol version hip_4.2) to ROCm 7; comgr's two ISA queries from comgr
// 1.8 on.
#include "compiler/backend/hiprtc_compiler.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "compiler/backend/saved_source.h"
#include "compiler/backend/shared_library.h"
#include "compiler/backend/subprocess.h"

namespace attnjit {
namespace {

using HiprtcResult = int;
using HiprtcProgram = struct HiprtcProgramOpaque*;
constexpr HiprtcResult kHiprtcSuccess = 0;
using ComgrStatus = int;
constexpr ComgrStatus kComgrSuccess = 0;

// comgr names an ISA by its full target ID: "amdgcn-amd-amdhsa--gfx90a[:features]".
constexpr std::string_view kIsaPrefix = "amdgcn-amd-amdhsa--";

}  // namespace

struct HiprtcCompiler::Api {
  void* library = nullptr;  // never dlclose'd: one per process, used until exit
  void* comgr = nullptr;
  std::string library_path;
  std::string comgr_path;
  std::string version;              // see HiprtcCompiler::version()
  std::string hiprtc_version;       // "9.0"
  std::string comgr_version;        // "2.4"
  std::vector<std::string> processors;  // what comgr knows: "gfx90a", ...

  const char* (*get_error_string)(HiprtcResult) = nullptr;
  HiprtcResult (*version_query)(int* major, int* minor) = nullptr;
  HiprtcResult (*create_program)(HiprtcProgram* prog, const char* src, const char* name,
                                 int num_headers, const char* const* headers,
                                 const char* const* include_names) = nullptr;
  HiprtcResult (*compile_program)(HiprtcProgram prog, int num_options,
                                  const char* const* options) = nullptr;
  HiprtcResult (*get_program_log_size)(HiprtcProgram prog, size_t* size) = nullptr;
  HiprtcResult (*get_program_log)(HiprtcProgram prog, char* log) = nullptr;
  HiprtcResult (*get_code_size)(HiprtcProgram prog, size_t* size) = nullptr;
  HiprtcResult (*get_code)(HiprtcProgram prog, char* code) = nullptr;
  HiprtcResult (*destroy_program)(HiprtcProgram* prog) = nullptr;

  std::string error_name(HiprtcResult rc) const {
    const char* name = get_error_string ? get_error_string(rc) : nullptr;
    return name ? name : fmt::format("hiprtc error {}", rc);
  }
};

namespace {

// The library's file name after symlinks: "libamdhip64.so.5.2.21153" names the release.
std::string real_file_name(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  return (ec ? std::filesystem::path(path) : real).filename().string();
}

// The comgr hiprtc compiles with (see hiprtc_compiler.h): already loaded, else beside
// the hiprtc library, else on the loader's path; newest soname first.
Result<void*, std::string> load_comgr(const std::string& hiprtc_path) {
  const char* const sonames[] = {"libamd_comgr.so.3", "libamd_comgr.so.2"};
  for (const char* soname : sonames)
    if (void* loaded = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) return loaded;
  const std::filesystem::path dir = std::filesystem::path(hiprtc_path).parent_path();
  std::string attempts;
  for (bool beside : {true, false}) {
    if (beside && dir.empty()) continue;
    for (const char* soname : sonames) {
      const std::string candidate = beside ? (dir / soname).string() : soname;
      if (void* loaded = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL)) return loaded;
      const char* error = dlerror();
      attempts += fmt::format("\n  {}: {}", candidate, error ? error : "not found");
    }
  }
  return fail(fmt::format("{} compiles through comgr (libamd_comgr), which was not found; "
                          "tried:{}",
                          hiprtc_path, attempts));
}

Result<std::shared_ptr<const HiprtcCompiler::Api>, std::string> load_api(
    const std::vector<std::string>& candidates) {
  auto api = std::make_shared<HiprtcCompiler::Api>();
  std::string attempts;
  for (const std::string& candidate : candidates) {
    api->library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (api->library) {
      api->library_path = loaded_path(api->library, candidate);
      break;
    }
    const char* error = dlerror();
    std::string why = error ? error : "not found";
    if (why.rfind(candidate + ": ", 0) == 0) why.erase(0, candidate.size() + 2);
    attempts += fmt::format("\n  {}: {}", candidate, why);
  }
  if (!api->library)
    return fail(fmt::format(
        "hiprtc not found; install ROCm (on Debian 12: tools/install-deps.sh installs "
        "libamdhip64-dev) or set ATTNJIT_HIPRTC_PATH to it; tried:{}",
        attempts));

  std::string missing;
  bind_symbol(api->library, "hiprtcGetErrorString", &api->get_error_string, &missing);
  bind_symbol(api->library, "hiprtcVersion", &api->version_query, &missing);
  bind_symbol(api->library, "hiprtcCreateProgram", &api->create_program, &missing);
  bind_symbol(api->library, "hiprtcCompileProgram", &api->compile_program, &missing);
  bind_symbol(api->library, "hiprtcGetProgramLogSize", &api->get_program_log_size, &missing);
  bind_symbol(api->library, "hiprtcGetProgramLog", &api->get_program_log, &missing);
  bind_symbol(api->library, "hiprtcGetCodeSize", &api->get_code_size, &missing);
  bind_symbol(api->library, "hiprtcGetCode", &api->get_code, &missing);
  bind_symbol(api->library, "hiprtcDestroyProgram", &api->destroy_program, &missing);
  if (!missing.empty())
    return fail(fmt::format("{} lacks {} (not a hiprtc library?)", api->library_path, missing));

  int major = 0, minor = 0;
  if (HiprtcResult rc = api->version_query(&major, &minor); rc != kHiprtcSuccess)
    return fail(fmt::format("hiprtcVersion failed in {}: {}", api->library_path,
                            api->error_name(rc)));
  api->hiprtc_version = fmt::format("{}.{}", major, minor);

  auto comgr = load_comgr(api->library_path);
  if (!comgr) return fail(comgr.error());
  api->comgr = *comgr;
  api->comgr_path = loaded_path(api->comgr, "libamd_comgr");
  void (*comgr_version)(size_t*, size_t*) = nullptr;
  ComgrStatus (*isa_count)(size_t*) = nullptr;
  ComgrStatus (*isa_name)(size_t, const char**) = nullptr;
  missing.clear();
  bind_symbol(api->comgr, "amd_comgr_get_version", &comgr_version, &missing);
  bind_symbol(api->comgr, "amd_comgr_get_isa_count", &isa_count, &missing);
  bind_symbol(api->comgr, "amd_comgr_get_isa_name", &isa_name, &missing);
  if (!missing.empty())
    return fail(fmt::format("{} lacks {} (comgr older than 1.8?)", api->comgr_path, missing));
  size_t comgr_major = 0, comgr_minor = 0, count = 0;
  comgr_version(&comgr_major, &comgr_minor);
  api->comgr_version = fmt::format("{}.{}", comgr_major, comgr_minor);
  if (isa_count(&count) != kComgrSuccess)
    return fail(fmt::format("amd_comgr_get_isa_count failed in {}", api->comgr_path));
  for (size_t i = 0; i < count; ++i) {
    const char* name = nullptr;
    if (isa_name(i, &name) != kComgrSuccess || name == nullptr) continue;
    std::string_view isa = name;
    if (!isa.starts_with(kIsaPrefix)) continue;
    isa.remove_prefix(kIsaPrefix.size());
    std::string processor(isa.substr(0, isa.find(':')));
    if (std::find(api->processors.begin(), api->processors.end(), processor) == api->processors.end())
      api->processors.push_back(std::move(processor));
  }
  api->version = fmt::format("{} ({}, comgr {})", api->hiprtc_version,
                             real_file_name(api->library_path), api->comgr_version);
  return std::shared_ptr<const HiprtcCompiler::Api>(std::move(api));
}

// What the child sends back: hiprtc's result code, then the log and the code object,
// each as a 64-bit length and its bytes.
struct ChildReport {
  int32_t result = 0;
  std::string log;
  std::string code;
};

void write_report(int fd, const ChildReport& report) {
  auto put_bytes = [fd](const std::string& bytes) {
    const uint64_t size = bytes.size();
    write_all(fd, &size, sizeof size);
    write_all(fd, bytes.data(), bytes.size());
  };
  write_all(fd, &report.result, sizeof report.result);
  put_bytes(report.log);
  put_bytes(report.code);
}

// False when the bytes end early: the child died while writing.
bool read_report(const std::string& bytes, ChildReport* report) {
  size_t at = 0;
  auto take = [&](void* out, size_t size) {
    if (bytes.size() - at < size) return false;
    std::memcpy(out, bytes.data() + at, size);
    at += size;
    return true;
  };
  auto take_bytes = [&](std::string* out) {
    uint64_t size = 0;
    if (!take(&size, sizeof size) || bytes.size() - at < size) return false;
    out->assign(bytes, at, size_t(size));
    at += size_t(size);
    return true;
  };
  return take(&report->result, sizeof report->result) && take_bytes(&report->log) &&
         take_bytes(&report->code) && at == bytes.size();
}

// The whole hiprtc conversation, run in the child.
ChildReport compile_in_child(const HiprtcCompiler::Api& api, const GeneratedSource& src,
                             const std::vector<std::string>& options) {
  ChildReport report;
  const std::string program_name = file_name_safe(src.uri) + ".hip";
  HiprtcProgram program = nullptr;
  report.result = api.create_program(&program, src.text.c_str(), program_name.c_str(), 0,
                                     nullptr, nullptr);
  if (report.result != kHiprtcSuccess) return report;
  std::vector<const char*> pointers;
  for (const std::string& option : options) pointers.push_back(option.c_str());
  report.result = api.compile_program(program, int(pointers.size()), pointers.data());
  size_t size = 0;
  if (api.get_program_log_size(program, &size) == kHiprtcSuccess && size > 0) {
    report.log.resize(size);
    if (api.get_program_log(program, report.log.data()) != kHiprtcSuccess) report.log.clear();
    while (!report.log.empty() && report.log.back() == '\0') report.log.pop_back();
  }
  if (report.result == kHiprtcSuccess) {
    size = 0;
    report.result = api.get_code_size(program, &size);
    if (report.result == kHiprtcSuccess && size > 0) {
      report.code.resize(size);
      report.result = api.get_code(program, report.code.data());
    }
  }
  api.destroy_program(&program);
  return report;
}

// The log of a compile: hiprtc's, then anything the compiler printed itself.
std::string joined_log(std::string log, const std::string& output) {
  if (output.empty()) return log;
  if (!log.empty() && log.back() != '\n') log += '\n';
  return log + output;
}

}  // namespace

std::vector<std::string> hiprtc_library_candidates() {
  if (const char* override_path = std::getenv("ATTNJIT_HIPRTC_PATH");
      override_path && *override_path)
    return {override_path};
  return {"libhiprtc.so.7", "libhiprtc.so.6", "libamdhip64.so.5", "/opt/rocm/lib/libhiprtc.so.7",
          "/opt/rocm/lib/libhiprtc.so.6", "/opt/rocm/lib/libamdhip64.so.5"};
}

HiprtcCompiler::HiprtcCompiler(std::shared_ptr<const Api> api) : api_(std::move(api)) {}

Result<std::shared_ptr<HiprtcCompiler>, std::string> HiprtcCompiler::open() {
  static const Result<std::shared_ptr<HiprtcCompiler>, std::string> opened =
      []() -> Result<std::shared_ptr<HiprtcCompiler>, std::string> {
    auto api = load_api(hiprtc_library_candidates());
    if (!api) return fail(api.error());
    return std::make_shared<HiprtcCompiler>(api.value());
  }();
  return opened;
}

Result<std::shared_ptr<HiprtcCompiler>, std::string> HiprtcCompiler::open_library(
    const std::string& path) {
  auto api = load_api({path});
  if (!api) return fail(api.error());
  return std::make_shared<HiprtcCompiler>(api.value());
}

std::string HiprtcCompiler::version() const { return api_->version; }
std::string HiprtcCompiler::library_path() const { return api_->library_path; }
std::string HiprtcCompiler::comgr_path() const { return api_->comgr_path; }
std::string HiprtcCompiler::describe() const {
  return fmt::format("hiprtc {} from {} with comgr {} ({})", api_->hiprtc_version,
                     api_->library_path, api_->comgr_version, api_->comgr_path);
}

bool HiprtcCompiler::knows(std::string_view processor) const {
  return std::find(api_->processors.begin(), api_->processors.end(), processor) !=
         api_->processors.end();
}

std::string HiprtcCompiler::known_processors() const {
  return fmt::format("{}", fmt::join(api_->processors, ", "));
}

// Like NVRTC's, the list is minimal and pinned, since it is part of the cache key:
//   --offload-arch   the one target, as the table spells it (no target-ID features:
//                    the code runs with xnack and sramecc either way);
//   -O3              hiprtc's default optimization level, stated;
//   -std=c++17       the dialect the kernel templates are written in, as for NVRTC.
// The code object version is the library's default: it is the one the ROCm runtime
// shipped with this hiprtc loads (v4 for ROCm 5, v5 for ROCm 6).
std::vector<std::string> HiprtcCompiler::options_for(const Target& target,
                                                     const CompileOptions& opts) const {
  const TargetBinary* binary = target.binary(opts.format);
  std::vector<std::string> options;
  if (binary) options.push_back("--offload-arch=" + std::string(binary->arch_option));
  options.push_back("-O3");
  options.push_back("-std=c++17");
  options.insert(options.end(), opts.extra.begin(), opts.extra.end());
  return options;
}

Result<Artifact, CompileError> HiprtcCompiler::compile(const GeneratedSource& src,
                                                       const Target& target,
                                                       const CompileOptions& opts) const {
  const Api& api = *api_;
  const std::vector<std::string> options = options_for(target, opts);
  auto failure = [&](std::string message, std::string log, bool save_source) {
    return fail(compile_failure(src, options, std::move(message), std::move(log), save_source,
                                opts.save_source_dir, ".hip"));
  };

  if (target.vendor != Vendor::hip)
    return failure(fmt::format("hiprtc compiles HIP targets only; {} is a {} target", target.name,
                               vendor_name(target.vendor)),
                   "", false);
  const TargetBinary* binary = target.binary(opts.format);
  if (opts.format != BinaryFormat::hsaco || !binary)
    return failure(fmt::format("hiprtc cannot produce {} for {}", binary_format_name(opts.format),
                               target.name),
                   "", false);
  if (!knows(binary->arch_option))
    return failure(fmt::format("hiprtc {} cannot compile for {}: its comgr {} does not know that "
                               "processor (compiling would abort inside comgr); it knows {}",
                               api.version, binary->arch_option, api.comgr_version,
                               known_processors()),
                   "", false);

  const ChildOutcome outcome = run_in_child(
      [&](int result_fd) { write_report(result_fd, compile_in_child(api, src, options)); });
  ChildReport report;
  if (!outcome.exited_ok() || !read_report(outcome.result, &report))
    return failure(fmt::format("hiprtc {} crashed compiling {} for {}: the compiler process {}",
                               api.version, src.uri, target.name,
                               outcome.exited_ok() ? "sent back a truncated result"
                                                   : outcome.how_it_ended()),
                   outcome.output, true);
  std::string log = joined_log(std::move(report.log), outcome.output);
  if (report.result != kHiprtcSuccess)
    return failure(fmt::format("hiprtc {} failed to compile {} for {}: {}", api.version, src.uri,
                               target.name, api.error_name(report.result)),
                   std::move(log), true);
  if (report.code.empty())
    return failure(fmt::format("hiprtc {} compiled {} but returned no code object", api.version,
                               src.uri),
                   std::move(log), true);
  // As for NVRTC, a cheap early check of the entry name: the kernel's descriptor symbol
  // `entry.kd` is in the code object's string table (the cache checks it properly).
  if (!src.entry.empty() && report.code.find(src.entry + ".kd") == std::string::npos)
    return failure(fmt::format("compiled {} has no kernel named '{}' (is it declared "
                               "extern \"C\" and a kernel?)",
                               src.uri, src.entry),
                   std::move(log), true);

  Artifact artifact;
  artifact.log = std::move(log);
  if (opts.warnings_as_errors) {
    if (const size_t count = artifact.warnings().size(); count > 0)
      return failure(fmt::format("hiprtc {} compiled {} for {} with {} warning{} (warnings are "
                                 "errors: ATTNJIT_WERROR is set)",
                                 api.version, src.uri, target.name, count, count == 1 ? "" : "s"),
                     std::move(artifact.log), true);
  }
  artifact.format = BinaryFormat::hsaco;
  artifact.entry = src.entry;
  artifact.binary = std::move(report.code);
  return artifact;
}

}  // namespace attnjit
