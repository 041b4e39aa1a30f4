// Engine::paged's Hopper path (on by default; off with EngineOptions::hopper = false or
// ATTNJIT_HOPPER=0): the prefill chunks of a paged call on the sm_90a wgmma kernel
// (templates/kernels/hopper/paged_prefill.cuh), after the mma.sync launches of its
// decode tokens (launch_paged.cpp). The K/V caches' tensor maps are encoded per call
// when the page size lets tiles be copied a box per page; otherwise the kernel gathers.
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "runtime/api/engine.h"
#include "runtime/api/engine_config.h"
#include "runtime/api/hopper_paged_maps.h"
#include "templates/cuda/hopper_layout.h"
#include "templates/kernels/variant_args.h"
#include "templates/kernels/paged_params.h"
#include "templates/kernels/hopper/tensor_map.h"
#include "templates/kernels/hopper/paged_params.h"

namespace attnjit {

static_assert(sizeof(AttnjitTensorMap) == sizeof(cuda::TensorMap) && alignof(AttnjitTensorMap) == 64,
              "the kernel's tensor map is the driver's 128 bytes, 64-byte aligned");

Result<std::optional<KernelSpec>, std::string> Engine::wgmma_paged_spec(const ir::Variant& variant) const {
  std::optional<TuningTable> table;
  if (!options_.hopper_tile && wgmma_variant_problem(variant, KernelKind::paged).empty()) {
    auto loaded = engine_config(options_, wgmma_arch(), Mainloop::wgmma);
    if (!loaded) return fail(loaded.error());
    table = std::move(*loaded);
  }
  return choose_wgmma_paged(variant, table ? &*table : nullptr, options_.hopper_tile);
}

void Engine::paged_chunks_on_hopper(const HopperKernel& hopper, const ir::Variant& variant, const PagedArgs& args,
                                    const PagedShape& shape, const AttnjitPagedParams& base, cuda::CUstream stream) {
  const std::string where = "attnjit::paged (Hopper kernel)";
  const TileConfig& tile = hopper.spec.tile;
  AttnjitHopperPagedParams p{};
  p.base = base;
  // Pages that are not whole boxes, or views tensor copies cannot read: every tile gathered.
  if (auto specs = hopper_paged_tensor_maps(variant, args, tile.block_n)) {
    std::shared_ptr<cuda::Driver> gpu = driver();
    AttnjitTensorMap* maps[2] = {&p.k_map, &p.v_map};
    for (int i = 0; i < 2; ++i) {
      auto encoded = cuda::encode_tensor_map(*gpu, (*specs)[i]);
      if (!encoded)
        throw std::runtime_error(fmt::format("{}: tensor map of {}: {}", where, i == 0 ? "k_cache" : "v_cache",
                                             encoded.error()));
      std::memcpy(maps[i], encoded->bytes.data(), sizeof(AttnjitTensorMap));
    }
    p.pages_by_copy = 1;
  }
  // As the mma.sync paged blocks: query blocks of BLOCK_M / group tokens over all
  // sequences (those of decode sequences exit at once), by KV head.
  const KernelGeometry g = hopper_geometry(tile, variant.head_dim);
  const long long tokens_per_block = tile.block_m / variant.group_size();
  const long long blocks = shape.total_q / tokens_per_block + shape.num_seqs;
  hopper.kernel->launch(static_cast<unsigned>(blocks), static_cast<unsigned>(variant.kv_heads), 1,
                        static_cast<unsigned>(g.threads), static_cast<unsigned>(g.shared_bytes), stream, &p,
                        sizeof(p));
}

}  // namespace attnjit
