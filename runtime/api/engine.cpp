#include "runtime/api/engine.h"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/support/sha256.h"
#include "templates/kernels/prefill_params.h"

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

struct Engine::Loaded {};

Engine::Engine(EngineOptions options) : options_(std::move(options)), cache_(options_.cache) {}
Engine::~Engine() = default;

Result<KernelSpec, std::string> Engine::make_spec(const ir::Variant& variant, KernelKind kind,
                                                  const std::string& arch) const {
  if (!is_supported_cuda_arch(arch))
    return fail(fmt::format("unsupported arch '{}' (supported: {})", arch, supported_cuda_archs()));
  KernelSpec spec;
  spec.kind = kind;
  spec.variant = variant;
  spec.arch = arch;
  if (options_.tile_override) {
    spec.tile = *options_.tile_override;
  } else {
    auto table = options_.config_dir.empty()
                     ? TuningTable::embedded(arch)
                     : TuningTable::load_file(options_.config_dir + "/" + arch + ".json");
    if (!table) return fail(table.error());
    const bool causal = variant.band.upper_offset.has_value();
    auto tile = table->pick(kernel_kind_name(kind), variant.head_dim, causal);
    if (!tile)
      return fail(fmt::format("tuning config for {} has no entry for kind {}", arch,
                              kernel_kind_name(kind)));
    spec.tile = *tile;
  }
  if (std::string why = validate_tile(spec.tile, variant.head_dim, shared_memory_limit(arch));
      !why.empty())
    return fail(fmt::format("tile config for variant {} on {}: {}", variant.name, arch, why));
  return spec;
}

std::shared_ptr<NvrtcCompiler> Engine::nvrtc() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!nvrtc_) {
    auto opened = NvrtcCompiler::open();
    if (!opened) throw std::runtime_error(opened.error());
    nvrtc_ = *opened;
  }
  return nvrtc_;
}

Result<CompiledKernel, CompileError> Engine::compile(const KernelSpec& spec) {
  auto source = render_kernel(spec);
  if (!source) return fail(CompileError{"code generation failed: " + source.error(), "", {}, ""});
  std::shared_ptr<NvrtcCompiler> compiler;
  try {
    compiler = nvrtc();
  } catch (const std::exception& e) {
    return fail(CompileError{e.what(), "", {}, ""});
  }
  CompileOptions options;
  options.arch = spec.arch;
  CompiledKernel out;
  out.spec = spec;
  out.source = source->text;
  out.key = cache_key(*source, compiler->options_for(options), compiler->version(), spec.arch);
  const GeneratedSource& src = *source;
  auto lookup = cache_.get(out.key, [&] { return compiler->compile(src, options); });
  if (!lookup) return fail(lookup.error());
  out.lookup = std::move(*lookup);
  return out;
}

bool Engine::gpu_available(std::string* why) {
  auto driver = cuda::Driver::open();
  if (!driver) {
    if (why) *why = driver.error();
    return false;
  }
  return true;
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

namespace {

// Strides of a [batch?, rows, heads, dim] view as the kernel's (batch, row, head).
struct Strides3 {
  long long batch = 0, row = 0, head = 0;
};
Strides3 row_head_strides(const TensorView& t, bool ragged) {
  if (ragged) return {0, t.stride(0), t.stride(1)};
  return {t.stride(0), t.stride(1), t.stride(2)};
}

int shared_bytes(const TileConfig& tile, int head_dim) {
  return 2 * (tile.block_m + 2 * tile.stages * tile.block_n) * (head_dim + 8);
}

}  // namespace

void Engine::prefill(const ir::Variant& variant, const PrefillArgs& args, cuda::CUstream stream) {
  const PrefillShape shape = validate_prefill(variant, args, DeviceKind::cuda, "attnjit::prefill");
  if (shape.batch == 0 || shape.seqlen_q == 0) return;
  std::shared_ptr<cuda::Driver> gpu = driver();
  auto spec = make_spec(variant, KernelKind::prefill, gpu->arch());
  if (!spec) throw std::runtime_error("attnjit::prefill: " + spec.error());
  const cuda::LoadedKernel& kernel = loaded_kernel(*spec);

  AttnjitPrefillParams p{};
  p.q = args.q.data;
  p.k = args.k.data;
  p.v = args.v.data;
  p.out = args.out.data;
  p.lse = variant.lse ? static_cast<float*>(args.lse.data) : nullptr;
  p.cu_seqlens_q = shape.ragged ? static_cast<const int*>(args.cu_seqlens_q.data) : nullptr;
  p.cu_seqlens_k = shape.ragged ? static_cast<const int*>(args.cu_seqlens_k.data) : nullptr;
  p.batch = shape.batch;
  p.seqlen_q = shape.seqlen_q;
  p.seqlen_k = shape.seqlen_k;
  const Strides3 q = row_head_strides(args.q, shape.ragged), k = row_head_strides(args.k, shape.ragged),
                 v = row_head_strides(args.v, shape.ragged), o = row_head_strides(args.out, shape.ragged);
  p.q_batch_stride = q.batch, p.q_row_stride = q.row, p.q_head_stride = q.head;
  p.k_batch_stride = k.batch, p.k_row_stride = k.row, p.k_head_stride = k.head;
  p.v_batch_stride = v.batch, p.v_row_stride = v.row, p.v_head_stride = v.head;
  p.o_batch_stride = o.batch, p.o_row_stride = o.row, p.o_head_stride = o.head;
  if (variant.lse) {
    // lse is [batch, heads, seqlen_q] or, ragged, [heads, total_q].
    if (shape.ragged) {
      p.lse_batch_stride = 0, p.lse_head_stride = args.lse.stride(0), p.lse_row_stride = args.lse.stride(1);
    } else {
      p.lse_batch_stride = args.lse.stride(0), p.lse_head_stride = args.lse.stride(1);
      p.lse_row_stride = args.lse.stride(2);
    }
  }
  p.softmax_scale = static_cast<float>(variant.softmax_scale());
  p.softmax_scale_log2 = static_cast<float>(variant.softmax_scale() * M_LOG2E);

  const TileConfig& tile = spec->tile;
  const unsigned m_blocks = (shape.seqlen_q + tile.block_m - 1) / tile.block_m;
  kernel.launch(m_blocks, variant.q_heads, shape.batch, tile.warps * 32,
                shared_bytes(tile, variant.head_dim), stream, &p, sizeof(p));
}

}  // namespace attnjit
