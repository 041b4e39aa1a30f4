// Engine::prefill on the Hopper kernel (on by default; off with EngineOptions::hopper =
// false or ATTNJIT_HOPPER=0): the sm_90a wgmma + TMA prefill kernel, its tensor maps
// encoded on the host for each call, its parameter block (the maps, then the prefill
// kind's block) passed by value, on a grid of one block per work tile or (a persistent
// tile config) one block per resident slot.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "compiler/ir/print.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "runtime/api/engine.h"
#include "runtime/api/engine_config.h"
#include "runtime/api/hopper_prefill_maps.h"
#include "runtime/api/launch_prefill.h"
#include "templates/kernels/hopper/tensor_map.h"
#include "templates/kernels/hopper/prefill_params.h"

namespace attnjit {

static_assert(sizeof(AttnjitTensorMap) == sizeof(cuda::TensorMap) && alignof(AttnjitTensorMap) == 64,
              "the kernel's tensor map is the driver's 128 bytes, 64-byte aligned");

bool hopper_enabled(const EngineOptions& options) {
  if (options.hopper) return *options.hopper;
  const char* env = std::getenv("ATTNJIT_HOPPER");
  return !(env && std::string_view(env) == "0");
}

Result<std::optional<KernelSpec>, std::string> Engine::wgmma_prefill_spec(const ir::Variant& variant) const {
  std::optional<TuningTable> table;
  if (!options_.hopper_tile && wgmma_variant_problem(variant, KernelKind::prefill).empty()) {
    auto loaded = engine_config(options_, wgmma_arch(), Mainloop::wgmma);
    if (!loaded) return fail(loaded.error());
    table = std::move(*loaded);
  }
  return choose_wgmma_prefill(variant, table ? &*table : nullptr, options_.hopper_tile);
}

bool Engine::hopper_runs(const ir::Variant& variant, KernelKind kind) {
  if (!hopper_ || gpu()->vendor() != Vendor::cuda || !wgmma_variant_problem(variant, kind).empty()) return false;
  const Target* target = find_target(wgmma_arch());
  return target && target->runs_on(Vendor::cuda, driver()->capability(), target->default_format());
}

Result<KernelSpec, std::string> Engine::device_prefill_spec(const ir::Variant& variant) {
  if (hopper_runs(variant, KernelKind::prefill)) {
    auto spec = wgmma_prefill_spec(variant);
    if (!spec) return fail(spec.error());
    if (*spec) return std::move(**spec);
  }
  return make_spec(variant, KernelKind::prefill, std::string(device_target().name));
}

const Engine::HopperKernel* Engine::hopper_kernel(const ir::Variant& variant, const std::string& dsl,
                                                  KernelKind kind) {
  if (!hopper_runs(variant, kind)) return nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = hopper_kernels_.find(dsl);
    if (it != hopper_kernels_.end()) return &it->second;
  }
  // The spec the AOT builder lists too (choose_wgmma_prefill / choose_wgmma_paged).
  auto spec = kind == KernelKind::prefill ? wgmma_prefill_spec(variant) : wgmma_paged_spec(variant);
  if (!spec) throw std::runtime_error(fmt::format("attnjit::{} (Hopper kernel): {}", kernel_kind_name(kind), spec.error()));
  if (!*spec) return nullptr;
  const cuda::LoadedKernel* kernel = &loaded_kernel(**spec);
  std::lock_guard<std::mutex> lock(mutex_);
  return &hopper_kernels_.emplace(dsl, HopperKernel{std::move(**spec), kernel}).first->second;
}

bool Engine::prefill_on_hopper(const ir::Variant& variant, const std::string& dsl,
                               const PrefillArgs& args, const PrefillShape& shape,
                               cuda::CUstream stream) {
  const std::string where = "attnjit::prefill (Hopper kernel)";
  const HopperKernel* hopper = hopper_kernel(variant, dsl, KernelKind::prefill);
  if (!hopper) return false;
  std::shared_ptr<cuda::Driver> gpu = driver();
  const TileConfig& tile = hopper->spec.tile;
  // Views the copies cannot read (a strided head dim, unaligned rows) take the mma.sync kernel.
  auto specs = hopper_prefill_tensor_maps(args, shape, tile);
  if (!specs) return false;

  AttnjitHopperPrefillParams p{};
  AttnjitTensorMap* maps[3] = {&p.q_map, &p.k_map, &p.v_map};
  for (int i = 0; i < 3; ++i) {
    auto encoded = cuda::encode_tensor_map(*gpu, (*specs)[i]);
    if (!encoded) throw std::runtime_error(fmt::format("{}: tensor map of {}: {}", where, "qkv"[i], encoded.error()));
    std::memcpy(maps[i], encoded->bytes.data(), sizeof(AttnjitTensorMap));
  }
  p.base = prefill_params(variant, args, shape);

  const KernelGeometry g = hopper_geometry(tile, variant.head_dim);
  unsigned grid[3];
  if (tile.persistent) {
    // One block per resident slot (one per SM at this kernel's shared memory and
    // registers), each looping over the work tiles.
    const long long work = hopper_work_tile_bound(variant.q_heads, shape.batch, shape.seqlen_q,
                                                  shape.ragged ? args.q.shape[0] : -1, tile.block_m);
    // The driver's occupancy (the Hopper kernels are CUDA modules, outside the engine's
    // cache of GpuKernel occupancies); one query per launch of a persistent kernel.
    const int slots_per_sm = hopper->kernel->blocks_per_sm(static_cast<unsigned>(g.threads),
                                                           static_cast<unsigned>(g.shared_bytes));
    grid[0] = hopper_persistent_blocks(work, gpu->attribute(cuda::kMultiprocessorCount), slots_per_sm);
    grid[1] = grid[2] = 1;
    p.tile_counters = tile_counters(GpuStream(stream));
  } else {
    grid[0] = static_cast<unsigned>((shape.seqlen_q + tile.block_m - 1) / tile.block_m);
    grid[1] = static_cast<unsigned>(variant.q_heads);
    grid[2] = static_cast<unsigned>(shape.batch);
  }
  hopper->kernel->launch(grid[0], grid[1], grid[2], static_cast<unsigned>(g.threads),
                         static_cast<unsigned>(g.shared_bytes), stream, &p, sizeof(p));
  last_prefill_mainloop_ = Mainloop::wgmma;
  return true;
}

}  // namespace attnjit
