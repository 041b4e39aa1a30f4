#include "runtime/api/engine.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/support/diagnostics.h"
#include "compiler/support/sha256.h"
#include "compiler/spec/spec_record.h"
#include "compiler/spec/tile_choice.h"
#include "runtime/api/engine_config.h"
#include "runtime/driver/gpu_device.h"

namespace attnjit {

const char* const kAttnjitVersion = ATTNJIT_VERSION;

namespace {

// <uri>-<16 hex digits of SHA-256 over the fields>, each field length-prefixed so two
// different splits of the same bytes cannot collide.
std::string hashed_key(const std::string& uri, const std::vector<std::string_view>& fields) {
  Sha256 h;
  for (std::string_view f : fields) {
    h.update(std::to_string(f.size()));
    h.update(":");
    h.update(f);
  }
  auto digest = h.finish();
  std::string hex;
  for (int i = 0; i < 8; ++i) hex += fmt::format("{:02x}", digest[i]);
  return uri + "-" + hex;
}

}  // namespace

std::string cache_key(const GeneratedSource& src, const std::vector<std::string>& options,
                      const std::string& compiler_version, const std::string& arch) {
  // Every input that can change the binary.
  std::vector<std::string_view> fields{src.text};
  for (const std::string& o : options) fields.push_back(o);
  fields.insert(fields.end(), {compiler_version, arch, kAttnjitVersion});
  return hashed_key(src.uri, fields);
}

std::string aot_key(const GeneratedSource& src, const std::string& arch, BinaryFormat format) {
  // "aot" keeps these keys apart from cache_key()'s whatever the field values.
  return hashed_key(src.uri, {"aot", src.text, arch, binary_format_name(format), kAttnjitVersion});
}

bool jit_enabled(const EngineOptions& options) {
  if (options.jit) return *options.jit;
  const char* env = std::getenv("ATTNJIT_JIT");
  return !(env && std::string_view(env) == "0");
}

GpuBuffer& Engine::workspace(size_t bytes) {
  std::shared_ptr<GpuRuntime> device = gpu();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!workspace_ || workspace_->size() < bytes) {
    workspace_.reset();  // free before allocating the larger one
    workspace_ = device->allocate(bytes);
  }
  return *workspace_;
}

int Engine::blocks_per_sm(const GpuKernel& kernel, int threads, int shared_bytes) {
  const auto key = std::make_tuple(&kernel, threads, shared_bytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = occupancy_.find(key);
    if (it != occupancy_.end()) return it->second;
  }
  const int blocks = kernel.blocks_per_sm(threads, shared_bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  return occupancy_[key] = blocks;
}

GpuBuffer& Engine::piece_counts(size_t units) {
  std::shared_ptr<GpuRuntime> device = gpu();
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t bytes = units * sizeof(int);
  if (!piece_counts_ || piece_counts_->size() < bytes) {
    piece_counts_.reset();
    piece_counts_ = device->allocate(bytes);
    piece_counts_->fill_bytes(0);
    // The memset runs on the legacy default stream, which a non-blocking stream does
    // not wait for: finish it before any launch reads the counts.
    device->synchronize();
  }
  return *piece_counts_;
}

int* Engine::tile_counters(GpuStream stream) {
  std::shared_ptr<GpuRuntime> device = gpu();
  std::lock_guard<std::mutex> lock(mutex_);
  std::unique_ptr<GpuBuffer>& counters = tile_counters_[stream.handle()];
  if (!counters) {
    counters = device->allocate(2 * sizeof(int));
    counters->fill_bytes(0);
    device->synchronize();  // as for piece_counts: before a launch on another stream reads them
  }
  return static_cast<int*>(counters->data());
}

namespace {

CacheOptions with_env_aot_directories(CacheOptions cache, bool from_env) {
  if (from_env)
    for (const std::filesystem::path& dir : aot_directories_from_env())
      cache.aot_directories.push_back(dir);
  return cache;
}

}  // namespace

Engine::Engine(EngineOptions options)
    : options_(std::move(options)),
      cache_(with_env_aot_directories(options_.cache, options_.aot_directories_from_env)),
      backends_(options_.backends),
      jit_(jit_enabled(options_)),
      record_file_(!options_.record_file.empty()        ? options_.record_file
                   : std::getenv("ATTNJIT_AOT_RECORD") ? std::getenv("ATTNJIT_AOT_RECORD")
                                                       : ""),
      gpu_(options_.gpu),
      hopper_(hopper_enabled(options_)) {}
Engine::~Engine() = default;

void Engine::record(const KernelSpec& spec, BinaryFormat format, const std::string& key,
                    CacheLookup* lookup) {
  if (record_file_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!recorded_.insert(key).second) return;
  }
  const std::string line = encode_kernel_record(spec, format) + "\n";
  // One write of a whole line with O_APPEND: lines of several processes recording into
  // one file never interleave.
  const int fd = ::open(record_file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  const bool written =
      fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const int error = errno;
  if (fd >= 0) ::close(fd);
  if (!written) {
    const std::string warning = fmt::format("cannot record kernel {} in {}: {}", spec.uri(),
                                            printable(record_file_), std::strerror(error));
    lookup->warning = lookup->warning.empty() ? warning : lookup->warning + "\n" + warning;
  }
}

Result<KernelSpec, std::string> Engine::make_spec(const ir::Variant& variant, KernelKind kind,
                                                  const std::string& arch,
                                                  const std::string& tuning_kind) const {
  const Target* target = find_target(arch);
  if (!target)
    return fail(fmt::format("unsupported arch '{}' (supported: {})", arch, target_names()));
  const Mainloop mainloop = kernel_mainloop(kind, *target);
  if (!target->has_mainloop(mainloop))
    return fail(fmt::format("no {} kernel for {}: it lacks the {} mainloop", kernel_kind_name(kind),
                            arch, mainloop_name(mainloop)));
  if (!mainloop_has_kernels(target->vendor, mainloop))
    return fail(fmt::format("no {} kernel for {} yet: attnjit has no {} kernels on the {} mainloop",
                            kernel_kind_name(kind), arch, vendor_name(target->vendor),
                            mainloop_name(mainloop)));
  KernelSpec spec;
  spec.kind = kind;
  spec.variant = variant;
  spec.arch = arch;
  // merge and cache_write need no table.
  std::optional<TuningTable> table;
  if (!options_.tile_override && (kind == KernelKind::prefill || kind == KernelKind::paged)) {
    auto loaded = engine_config(options_, arch);
    if (!loaded) return fail(loaded.error());
    table = std::move(*loaded);
  }
  auto tile = choose_tile(variant, kind, arch, table ? &*table : nullptr, options_.tile_override,
                          tuning_kind);
  if (!tile) return fail(tile.error());
  spec.tile = *tile;
  return spec;
}

Result<std::shared_ptr<const CompilerBackend>, std::string> Engine::backend(const Target& target) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = backends_.find(target.vendor);
  if (it != backends_.end() && it->second) return it->second;
  auto opened = open_default_backend(target.vendor);
  if (!opened) return fail(opened.error());
  backends_[target.vendor] = *opened;
  return *opened;
}

Result<CompiledKernel, CompileError> Engine::build(const KernelSpec& spec, BinaryFormat format) {
  const Target* target = find_target(spec.arch);
  if (!target)
    return fail(CompileError{
        fmt::format("unsupported arch '{}' (supported: {})", spec.arch, target_names()), "", {}, ""});
  if (!target->binary(format))
    return fail(CompileError{fmt::format("{} has no {} binaries", spec.arch, binary_format_name(format)),
                             "", {}, ""});
  auto source = render_kernel(spec);
  if (!source) return fail(CompileError{"code generation failed: " + source.error(), "", {}, ""});
  const GeneratedSource& src = *source;
  CompiledKernel out;
  out.spec = spec;
  out.source = src.text;

  // Ahead of time: found by a key that needs no compiler, so none is opened.
  std::string warning;
  const CacheRequest aot_request{aot_key(src, spec.arch, format), spec.arch, src.entry, format, ""};
  if (std::optional<CacheLookup> found = cache_.find_ahead_of_time(aot_request, &warning)) {
    out.key = aot_request.key;
    out.lookup = std::move(*found);
    out.lookup.warning = warning;
    out.compiler = out.lookup.built_by;
    record(spec, format, out.key, &out.lookup);
    return out;
  }

  // JIT off still takes a kernel the JIT cache holds, when a compiler is there to name
  // the cache key; it never compiles.
  auto backend = this->backend(*target);
  if (!backend)
    return fail(CompileError{jit_ ? backend.error() : missing_kernel_message(spec, aot_request.key),
                             "", {}, ""});
  const CompilerBackend& compiler = **backend;
  CompileOptions options;
  options.format = format;
  out.compiler = compiler.describe();
  out.compiler_name = compiler.name();
  out.compiler_version = compiler.version();
  out.compiler_options = compiler.options_for(*target, options);
  // The options name the format, so CUBIN and PTX of one kernel have different keys.
  out.key = cache_key(src, out.compiler_options, out.compiler_version, spec.arch);
  const CacheRequest request{out.key, spec.arch, src.entry, format, compiler.version()};
  auto lookup = cache_.get(request, [&]() -> Result<Artifact, CompileError> {
    if (!jit_) return fail(CompileError{missing_kernel_message(spec, aot_request.key), "", {}, ""});
    return compiler.compile(src, *target, options);
  });
  if (!lookup) return fail(lookup.error());
  out.lookup = std::move(*lookup);
  // Rejected AOT entries first: they explain why the kernel was compiled.
  if (!warning.empty())
    out.lookup.warning = out.lookup.warning.empty() ? warning : warning + "\n" + out.lookup.warning;
  // Recorded by the AOT key, so a kernel found ahead of time and one compiled are one.
  record(spec, format, aot_request.key, &out.lookup);
  return out;
}

std::string Engine::missing_kernel_message(const KernelSpec& spec, const std::string& key) const {
  std::string searched;
  for (const std::filesystem::path& dir : cache_.aot_directories())
    searched += (searched.empty() ? "" : ", ") + printable(dir.string());
  return fmt::format(
      "kernel {} (variant {}, kind {}, arch {}) is in no AOT directory ({}) and JIT "
      "compilation is off; build it with: attnjit aot build --variants <the file defining "
      "{}> --arch {} --kinds {} --out DIR, and add DIR to ATTNJIT_AOT_DIR (AOT key {})",
      spec.uri(), spec.variant.name, kernel_kind_name(spec.kind), spec.arch,
      searched.empty() ? "none given: set ATTNJIT_AOT_DIR" : "searched " + searched,
      spec.variant.name, spec.arch, kernel_kind_name(spec.kind), key);
}

Result<CompiledKernel, CompileError> Engine::compile(const KernelSpec& spec) {
  const Target* target = find_target(spec.arch);
  return build(spec, target ? target->default_format() : BinaryFormat::cubin);
}

// ---- the device: EngineOptions::gpu, else find_gpu()'s (CUDA first, then HIP) ----------
bool Engine::gpu_available(std::string* why) {
  auto gpu = find_gpu();
  if (why) *why = gpu ? "" : gpu.error();
  return gpu.ok();
}

std::shared_ptr<GpuRuntime> Engine::gpu() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!gpu_) {
    auto opened = open_gpu_runtime();
    if (!opened) throw std::runtime_error("attnjit: " + opened.error());
    gpu_ = *opened;
  }
  return gpu_;
}

const Target& Engine::device_target() {
  auto target = gpu()->target();
  if (!target) throw std::runtime_error("attnjit: " + target.error());
  return **target;
}

std::shared_ptr<cuda::Driver> Engine::driver() {
  std::shared_ptr<GpuRuntime> device = gpu();
  if (std::shared_ptr<cuda::Driver> cuda = cuda_driver_of(*device)) return cuda;
  if (device->vendor() == Vendor::hip)
    throw std::runtime_error(fmt::format(
        "attnjit: {} ({}) is a HIP device: Engine::driver() is the CUDA driver; Engine::gpu() "
        "is the runtime of either vendor",
        device->device_name(), device->arch()));
  throw std::runtime_error(
      "attnjit: the engine's GPU (EngineOptions::gpu) is not the CUDA driver's: "
      "Engine::driver() has none to give");
}
// ---------------------------------------------------------------------------------------

const Engine::Resolved& Engine::resolve(const ir::Variant& variant, const std::string& dsl,
                                        KernelKind kind, const std::string& where,
                                        const std::string& tuning_kind, KvSplit split) {
  // The DSL form round-trips to the same IR, so it identifies the variant exactly.
  const std::string key =
      fmt::format("{}|{}|{}|{}", kernel_kind_name(kind), tuning_kind, static_cast<int>(split), dsl);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = resolved_.find(key);
    if (it != resolved_.end()) return *it->second;
  }
  auto made = cached_spec(variant, dsl, kind, tuning_kind);
  if (!made) throw std::runtime_error(where + ": " + made.error());
  KernelSpec spec = **made;
  spec.kv_split = split;
  const GpuKernel& kernel = gpu_kernel(spec);
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = resolved_[key];
  if (!slot) slot = std::make_unique<Resolved>(Resolved{std::move(spec), &kernel});
  return *slot;
}

const GpuKernel& Engine::gpu_kernel(const KernelSpec& spec) {
  // The target's default format: CUBIN on CUDA, HSACO on HIP.
  auto compiled = compile(spec);
  if (!compiled) throw std::runtime_error("attnjit: " + compiled.error().describe());
  std::shared_ptr<GpuRuntime> device = gpu();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = loaded_.find(compiled->key);
  if (it != loaded_.end()) return *it->second;
  const Artifact& a = compiled->lookup.artifact;
  auto kernel = device->load(a.binary, a.entry, a.format);
  if (!kernel) throw std::runtime_error("attnjit: loading " + compiled->key + ": " + kernel.error());
  return *loaded_.emplace(compiled->key, std::move(*kernel)).first->second;
}

const cuda::LoadedKernel& Engine::loaded_kernel(const KernelSpec& spec) {
  const GpuKernel& kernel = gpu_kernel(spec);
  if (const cuda::LoadedKernel* cuda = cuda_kernel_of(kernel)) return *cuda;
  throw std::logic_error("attnjit: kernel " + spec.uri() + " is not loaded by the CUDA driver");
}

}  // namespace attnjit
