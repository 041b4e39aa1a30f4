#pragma once
// The C++ entry point: variant IR in, compiled/cached/loaded kernels out, launches.
//
//   attnjit::Engine engine;
//   auto module = attnjit::load_variants_file("model.attn");   // or parse text
//   engine.prefill(module->variants[0], args, stream);
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "compiler/backend/backend.h"
#include "compiler/ir/variant.h"
#include "compiler/spec/kernel_spec.h"
#include "compiler/target/target.h"
#include "runtime/api/paged_args.h"
#include "runtime/api/prefill_args.h"
#include "runtime/cache/kernel_cache.h"
#include "runtime/driver/cuda_driver.h"
#include "runtime/driver/gpu_kernel.h"
#include "runtime/plan/launch_plan.h"

// The paged kind's kernel parameter block (templates/kernels/paged_params.h).
struct AttnjitPagedParams;

namespace attnjit {

struct EngineOptions {
  CacheOptions cache;
  std::string config_dir;                   // "" = configs embedded at build time
  std::string config_file;                  // one config file for every arch (wins over config_dir)
  std::optional<TileConfig> tile_override;  // wins over the JSON configs
  // Compiler backends by vendor; a vendor left out gets open_default_backend()'s (NVRTC
  // for CUDA) on its first compile. A test puts a fake here to build without NVRTC.
  std::map<Vendor, std::shared_ptr<const CompilerBackend>> backends;
  // Ahead-of-time directories (cache.aot_directories first) are searched before anything
  // is compiled or a compiler opened. With this set, the directories of $ATTNJIT_AOT_DIR
  // (a colon-separated list) follow cache.aot_directories. Tools that build kernels
  // (the AOT builder, the tuner) turn it off.
  bool aot_directories_from_env = true;
  // Compiling at run time. Off, a kernel found in no AOT directory and not in the JIT
  // cache is an error that says how to build it; nothing is compiled. Unset: on, unless
  // $ATTNJIT_JIT is "0".
  std::optional<bool> jit;
  // Where to record every kernel this engine builds, one JSON line each
  // (compiler/spec/spec_record.h), for `attnjit aot build --kernels FILE` to build
  // exactly what a workload used. "" = $ATTNJIT_AOT_RECORD, unset = no record.
  std::string record_file;
  // The Hopper prefill kernel (sm_90a: wgmma fed by tensor-memory copies) for prefill
  // calls it can run on a compute capability 9.0 device (16-bit q and kv of one type,
  // contiguous K/V, head dim 64, 128 or 256, views the copies can read); other calls,
  // and every call with it off, take the mma.sync kernels. Unset: on, unless
  // $ATTNJIT_HOPPER is "0".
  std::optional<bool> hopper;
  // Its tile, and that of the paged kind's chunks kernel (compiler/spec/hopper_geometry.h's
  // rules); unset = the sm_90a config's (configs/sm_90a.json, choose_wgmma_prefill(),
  // choose_wgmma_paged()). tile_override applies to the mma.sync kernels only.
  std::optional<TileConfig> hopper_tile;
  // Where the Hopper path cuts a paged call: sequences with more new tokens than this run
  // on the wgmma kernel, the others on the mma.sync kernels. Unset: the decode tile's
  // tokens (paged_decode_q_len_max()); 0: every sequence, decode tokens too (to time
  // decode on the wgmma kernel; a negative value counts as 0).
  std::optional<int> hopper_paged_decode_q_len_max;
  // The GPU to launch on; unset = device 0 of the first vendor that has one, CUDA first,
  // then HIP (open_gpu_runtime()). A test puts a fake here to see what the engine
  // loads and launches without a GPU.
  std::shared_ptr<GpuRuntime> gpu;
};

// Whether JIT compilation is on for `options` (EngineOptions::jit, else $ATTNJIT_JIT).
bool jit_enabled(const EngineOptions& options);
// Whether the Hopper prefill kernel is on (EngineOptions::hopper, else $ATTNJIT_HOPPER).
bool hopper_enabled(const EngineOptions& options);

struct CompiledKernel {
  KernelSpec spec;
  // The lookup key: aot_key() when the kernel came from an AOT directory, else the JIT
  // cache's cache_key(). Loaded kernels are kept by it.
  std::string key;
  CacheLookup lookup;         // the artifact and where it came from
  std::string source;         // the generated source
  // Who built the binary: the backend's describe(), or for an AOT kernel the name and
  // version its index records (no backend is opened then).
  std::string compiler;
  // The backend's name, version and exact options, which the JIT key hashes; empty for
  // an AOT kernel. The AOT builder records them in its index.
  std::string compiler_name;
  std::string compiler_version;
  std::vector<std::string> compiler_options;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();

  // The spec a (variant, kind, arch, head_dim) problem resolves to, config applied.
  // `tuning_kind` picks another table of the config ("paged_decode"); "" = the kind's.
  Result<KernelSpec, std::string> make_spec(const ir::Variant& variant, KernelKind kind,
                                            const std::string& arch,
                                            const std::string& tuning_kind = "") const;
  // The wgmma prefill spec the Hopper path runs `variant` on: choose_wgmma_prefill() with
  // this engine's sm_90a config (or EngineOptions::hopper_tile); nullopt when that main
  // loop cannot build the variant.
  Result<std::optional<KernelSpec>, std::string> wgmma_prefill_spec(const ir::Variant& variant) const;
  // The wgmma paged spec the Hopper path runs a paged `variant`'s prefill chunks on:
  // choose_wgmma_paged() with the same config; nullopt when the main loop cannot build it.
  Result<std::optional<KernelSpec>, std::string> wgmma_paged_spec(const ir::Variant& variant) const;
  // The spec prefill() launches `variant` with on this engine's GPU: the Hopper kernel's
  // where it takes the variant (on, a device the sm_90a target runs on, a variant it
  // builds), else the device target's. (A call whose views the tensor copies cannot read
  // still takes the device target's kernel: last_prefill_mainloop() says which ran.)
  Result<KernelSpec, std::string> device_prefill_spec(const ir::Variant& variant);
  // Generates, compiles (or fetches from cache) without touching a GPU: the one compile
  // path, for launches and tools alike. `format` must be one of the spec's target's
  // binaries; compile() builds the target's default (CUBIN for CUDA). Looks in the AOT
  // directories first, without opening a compiler; then (JIT on) the JIT cache and the
  // compiler.
  Result<CompiledKernel, CompileError> build(const KernelSpec& spec, BinaryFormat format);
  Result<CompiledKernel, CompileError> compile(const KernelSpec& spec);
  // The backend `target` compiles with (EngineOptions::backends, else the vendor's
  // default, opened once); the error says what is missing.
  Result<std::shared_ptr<const CompilerBackend>, std::string> backend(const Target& target);

  // Validates the arguments, gets the kernel for the current device and launches it
  // on `stream` (null = default stream; a CUstream on a CUDA device, a hipStream_t on
  // a HIP one). Throws ArgumentError for bad arguments and std::runtime_error when there
  // is no GPU or a compile fails. Tensor views of device memory are DeviceKind::cuda
  // on either vendor.
  void prefill(const ir::Variant& variant, const PrefillArgs& args, GpuStream stream = nullptr);

  // The paged kind (flash_attn_with_kvcache-like): a mixed batch of query chunks
  // against a paged KV cache; split-KV with a merge launch when the batch is too
  // small to fill the GPU. Uses the engine's workspace: calls on one engine must not
  // run concurrently on different streams.
  void paged(const ir::Variant& variant, const PagedArgs& args, GpuStream stream = nullptr);
  // New K/V tokens into the paged cache by slot mapping, quantized per the variant.
  void write_kv_cache(const ir::Variant& variant, const CacheWriteArgs& args,
                      GpuStream stream = nullptr);
  // Two partial results over disjoint keys into one (cascade / shared prefix).
  void merge(const ir::Variant& variant, const MergeArgs& args, GpuStream stream = nullptr);

  // The split-KV choice paged() makes through its launch plan: attnjit::choose_splits
  // (runtime/plan/split_choice.h) with the set of `costs` for `kv_bytes` (paged() uses
  // its config's).
  static int choose_splits(long long blocks, int max_kv_tiles, int sm_count, int blocks_per_sm,
                           int stream_blocks_per_sm = 0, int kv_bytes = 2,
                           const SplitCosts& costs = kDefaultSplitCosts);
  // The split count of the last paged() launch (kStreamSplit for the stream split),
  // for benchmarks and logs.
  int last_paged_splits() const { return last_paged_splits_; }
  // The main loop of the last prefill() launch: mma_sync, or wgmma when the Hopper
  // kernel took the call (EngineOptions::hopper); mfma on an AMD device.
  Mainloop last_prefill_mainloop() const { return last_prefill_mainloop_; }
  // The main loop that ran the prefill chunks (sequences of more new tokens than
  // EngineOptions::hopper_paged_decode_q_len_max) of the last paged() call: wgmma when the Hopper
  // kernel took them (EngineOptions::hopper, a 9.0 device, a variant it builds), else
  // mma_sync (also when the call had none).
  Mainloop last_paged_prefill_mainloop() const { return last_paged_prefill_mainloop_; }

  // The GPU is EngineOptions::gpu, else device 0 of the first vendor that has one, CUDA
  // first, then HIP (find_gpu(), runtime/driver/gpu_device.h). Its runtime, of either
  // vendor: what the engine loads and launches kernels through. Throws
  // std::runtime_error naming both vendors' reasons when there is no GPU.
  std::shared_ptr<GpuRuntime> gpu();
  // Its CUDA driver (for CUDA buffers, tensor maps); throws std::runtime_error with the
  // reason when there is no GPU, or naming the device when it is a HIP one.
  std::shared_ptr<cuda::Driver> driver();
  // The target kernels are built for on the GPU, of either vendor (gfx942 on an MI300X);
  // throws std::runtime_error when there is no GPU or no target runs on it.
  const Target& device_target();
  // True when this process has a GPU of either vendor (find_gpu()); `why` gets the
  // reason when not.
  static bool gpu_available(std::string* why = nullptr);

  KernelCache& cache() { return cache_; }

 private:
  // `spec`'s kernel compiled for (or found for) the device and loaded on it, once per
  // cache key.
  const GpuKernel& gpu_kernel(const KernelSpec& spec);
  // The same kernel as the CUDA driver's, for the Hopper path; throws on a HIP device.
  const cuda::LoadedKernel& loaded_kernel(const KernelSpec& spec);

  // A launch's kernel and its spec, resolved once per (variant, kind, tuning table,
  // split) and then found by a short key: spec resolution, code generation and
  // hashing stay off the per-call path. Throws std::runtime_error prefixed by `where`.
  struct Resolved {
    KernelSpec spec;
    const GpuKernel* kernel;
  };
  // The variant's DSL form is given: a call that resolves several kernels of one
  // variant prints it once (printing dominates a lookup).
  const Resolved& resolve(const ir::Variant& variant, const std::string& dsl, KernelKind kind,
                          const std::string& where, const std::string& tuning_kind = "",
                          KvSplit split = KvSplit::none);
  const Resolved& resolve(const ir::Variant& variant, const std::string& dsl,
                          const KernelRole& role, const std::string& where);
  // The spec (split none) of a (variant, kind, tuning table) on the current device, made
  // once by make_spec and kept: the launch planner's tiles and every resolved kernel's
  // come from here, so a plan's geometry is always its kernel's.
  Result<const KernelSpec*, std::string> cached_spec(const ir::Variant& variant,
                                                     const std::string& dsl, KernelKind kind,
                                                     const std::string& tuning_kind);
  // The planner's view of those specs (valid while `variant` and `dsl` live).
  TileLookup tiles_for(const ir::Variant& variant, const std::string& dsl);
  // Arch and SM count of the current device, for plans (asked once).
  DeviceFacts device_facts();
  // A plan's launch, its kernel resolved; throws std::runtime_error prefixed by `where`.
  void launch(const ir::Variant& variant, const std::string& dsl, const PlannedLaunch& planned,
              const std::string& where, GpuStream stream, const void* params,
              size_t params_size);
  GpuBuffer& workspace(size_t bytes);
  // The stream split's per-unit piece counts: zeroed when allocated, and each launch
  // leaves them zero.
  GpuBuffer& piece_counts(size_t units);
  // A persistent Hopper prefill grid's two counters (templates/kernels/hopper/
  // prefill_params.h) for launches on `stream`: zeroed when allocated, and each launch
  // leaves them zero. One pair per stream, so calls on different streams may overlap.
  int* tile_counters(GpuStream stream);
  // Resident blocks per SM of `kernel` at this block size and shared memory, queried
  // from the driver once (the split choice asks on every paged() call).
  int blocks_per_sm(const GpuKernel& kernel, int threads, int shared_bytes);

  // The error of a kernel that JIT-off could not find, with the command that builds it.
  std::string missing_kernel_message(const KernelSpec& spec, const std::string& key) const;

  EngineOptions options_;
  KernelCache cache_;
  std::mutex mutex_;
  std::map<Vendor, std::shared_ptr<const CompilerBackend>> backends_;  // opened or given
  bool jit_;  // jit_enabled(options_), read once
  std::string record_file_;             // options_.record_file or $ATTNJIT_AOT_RECORD
  std::set<std::string> recorded_;      // keys already written to it
  // Appends `spec` to the record file, once per AOT key; a failure to write is a warning.
  void record(const KernelSpec& spec, BinaryFormat format, const std::string& key,
              CacheLookup* lookup);
  std::shared_ptr<GpuRuntime> gpu_;  // options_.gpu, else opened on first use
  std::map<std::string, std::unique_ptr<GpuKernel>> loaded_;  // by cache key
  std::unique_ptr<GpuBuffer> workspace_;  // split-KV partial results
  std::unique_ptr<GpuBuffer> piece_counts_;
  std::map<void*, std::unique_ptr<GpuBuffer>> tile_counters_;  // by stream handle
  std::map<std::string, std::unique_ptr<Resolved>> resolved_;
  std::map<std::string, KernelSpec> specs_;  // by kind | tuning table | DSL form
  std::optional<DeviceFacts> device_facts_;
  std::atomic<int> last_paged_splits_{0};  // written by concurrent paged() calls
  std::map<std::tuple<const GpuKernel*, int, int>, int> occupancy_;

  // The Hopper prefill path (launch_prefill_hopper.cpp): launches the call on the wgmma
  // kernel and returns true, or returns false when that kernel cannot run it (device,
  // variant, views). Its specs and kernels are kept by variant DSL.
  bool prefill_on_hopper(const ir::Variant& variant, const std::string& dsl,
                         const PrefillArgs& args, const PrefillShape& shape,
                         cuda::CUstream stream);
  bool hopper_;  // hopper_enabled(options_), read once
  struct HopperKernel {
    KernelSpec spec;
    const cuda::LoadedKernel* kernel;
  };
  // The wgmma kernel of `variant` for `kind` (prefill, or the paged kind's chunks),
  // chosen and loaded once; null when this device or the variant does not take it.
  const HopperKernel* hopper_kernel(const ir::Variant& variant, const std::string& dsl, KernelKind kind);
  // Whether the Hopper kernel of `kind` can take `variant` on the current CUDA device.
  bool hopper_runs(const ir::Variant& variant, KernelKind kind);
  std::map<std::string, HopperKernel> hopper_kernels_;  // by DSL: prefill and paged variants differ
  std::atomic<Mainloop> last_prefill_mainloop_{Mainloop::mma_sync};

  // The paged kind (launch_paged.cpp): the mma.sync launches of a call (with
  // `decode_q_len_max` > 0 they skip the sequences with more new tokens), then, in
  // hopper_paged_launch.cpp, the Hopper kernel of the call's prefill chunks where it takes
  // them (hopper_kernel() of the paged kind is null when it does not).
  void paged_mma_sync(const ir::Variant& variant, const std::string& dsl, const PagedArgs& args,
                      const PagedShape& shape, int decode_q_len_max, GpuStream stream);
  void paged_chunks_on_hopper(const HopperKernel& kernel, const ir::Variant& variant, const PagedArgs& args,
                              const PagedShape& shape, const AttnjitPagedParams& base, cuda::CUstream stream);
  std::atomic<Mainloop> last_paged_prefill_mainloop_{Mainloop::mma_sync};
};

// The JIT cache key of a generated source: <uri>-<16 hex of SHA-256 over (source,
// options, compiler version, arch, attnjit version)>.
std::string cache_key(const GeneratedSource& src, const std::vector<std::string>& options,
                      const std::string& compiler_version, const std::string& arch);
// The AOT key of a generated source: <uri>-<16 hex of SHA-256 over (source, arch, binary
// format, attnjit version)>. It names no compiler, so a host without one finds a
// kernel by it; the index records which compiler built it. A changed template, variant
// or tile changes the source and so the key: a stale binary is never found.
std::string aot_key(const GeneratedSource& src, const std::string& arch, BinaryFormat format);

extern const char* const kAttnjitVersion;

}  // namespace attnjit
