#include "runtime/api/engine.h"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/support/sha256.h"
#include "compiler/spec/tile_choice.h"

namespace attnjit {

const char* const kAttnjitVersion = ATTNJIT_VERSION;

std::string cache_key(const GeneratedSource& src, const std::vector<std::string>& options,
                      const std::string& compiler_version, const std::string& arch) {
  // Every input that can change the binary is hashed, each length-prefixed so two
  // different splits of the same bytes cannot collide.
  Sha256 h;
  auto field = [&h](const std::string& s) {
    h.update(std::to_string(s.size()));
    h.update(":");
    h.update(s);
  };
  field(src.text);
  for (const std::string& o : options) field(o);
  field(compiler_version);
  field(arch);
  field(kAttnjitVersion);
  auto digest = h.finish();
  std::string hex;
  for (int i = 0; i < 8; ++i) hex += fmt::format("{:02x}", digest[i]);
  return src.uri + "-" + hex;
}

cuda::DeviceBuffer& Engine::workspace(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (workspace_.size() < bytes) {
    workspace_ = cuda::DeviceBuffer();  // free before allocating the larger one
    workspace_ = cuda::DeviceBuffer(driver_, bytes);
  }
  return workspace_;
}

int Engine::blocks_per_sm(const cuda::LoadedKernel& kernel, int threads, int shared_bytes) {
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

cuda::DeviceBuffer& Engine::piece_counts(size_t units) {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t bytes = units * sizeof(int);
  if (piece_counts_.size() < bytes) {
    piece_counts_ = cuda::DeviceBuffer();
    piece_counts_ = cuda::DeviceBuffer(driver_, bytes);
    piece_counts_.fill_bytes(0);
    // The memset runs on the legacy default stream, which a non-blocking stream does
    // not wait for: finish it before any launch reads the counts.
    cuda::synchronize(*driver_);
  }
  return piece_counts_;
}

Engine::Engine(EngineOptions options)
    : options_(std::move(options)), cache_(options_.cache), backends_(options_.backends) {}
Engine::~Engine() = default;

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
    auto loaded = !options_.config_file.empty() ? TuningTable::load_file(options_.config_file)
                  : options_.config_dir.empty()
                      ? TuningTable::embedded(arch)
                      : TuningTable::load_file(options_.config_dir + "/" + arch + ".json");
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
  auto backend = this->backend(*target);
  if (!backend) return fail(CompileError{backend.error(), "", {}, ""});
  const CompilerBackend& compiler = **backend;
  CompileOptions options;
  options.format = format;
  CompiledKernel out;
  out.spec = spec;
  out.source = source->text;
  out.backend = *backend;
  // The options name the format, so CUBIN and PTX of one kernel have different keys.
  out.key = cache_key(*source, compiler.options_for(*target, options), compiler.version(), spec.arch);
  const GeneratedSource& src = *source;
  const CacheRequest request{out.key, spec.arch, src.entry, format, compiler.version()};
  auto lookup = cache_.get(request, [&] { return compiler.compile(src, *target, options); });
  if (!lookup) return fail(lookup.error());
  out.lookup = std::move(*lookup);
  return out;
}

Result<CompiledKernel, CompileError> Engine::compile(const KernelSpec& spec) {
  const Target* target = find_target(spec.arch);
  return build(spec, target ? target->default_format() : BinaryFormat::cubin);
}

bool Engine::gpu_available(std::string* why) {
  auto driver = cuda::Driver::open();
  if (!driver) {
    if (why) *why = driver.error();
    return false;
  }
  return true;
}

const Target& Engine::device_target() {
  auto target = driver()->target();
  if (!target) throw std::runtime_error("attnjit: " + target.error());
  return **target;
}

std::shared_ptr<cuda::Driver> Engine::driver() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!driver_) {
    auto opened = cuda::Driver::open();
    if (!opened) throw std::runtime_error("attnjit: no usable GPU: " + opened.error());
    driver_ = *opened;
  }
  return driver_;
}

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
  const cuda::LoadedKernel& kernel = loaded_kernel(spec);
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = resolved_[key];
  if (!slot) slot = std::make_unique<Resolved>(Resolved{std::move(spec), &kernel});
  return *slot;
}

const cuda::LoadedKernel& Engine::loaded_kernel(const KernelSpec& spec) {
  auto compiled = compile(spec);
  if (!compiled) throw std::runtime_error("attnjit: " + compiled.error().describe());
  std::shared_ptr<cuda::Driver> gpu = driver();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = loaded_.find(compiled->key);
  if (it != loaded_.end()) return *it->second;
  const Artifact& a = compiled->lookup.artifact;
  auto kernel = cuda::LoadedKernel::load(gpu, a.binary, a.entry, a.format == BinaryFormat::ptx);
  if (!kernel) throw std::runtime_error("attnjit: loading " + compiled->key + ": " + kernel.error());
  return *loaded_.emplace(compiled->key, std::move(*kernel)).first->second;
}

}  // namespace attnjit
