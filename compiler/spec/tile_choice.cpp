#include "compiler/spec/tile_choice.h"

#include <fmt/format.h>

#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/kernel_geometry.h"

namespace attnjit {

Result<TileConfig, std::string> choose_tile(const ir::Variant& variant, KernelKind kind,
                                            const std::string& arch, const TuningTable* table,
                                            const std::optional<TileConfig>& override_tile,
                                            const std::string& tuning_kind) {
  if (kind == KernelKind::merge || kind == KernelKind::cache_write) return kRowKernelTile;
  TileConfig tile;
  if (override_tile) {
    tile = *override_tile;
  } else {
    if (!table) return fail(fmt::format("no tuning config for {} was given", arch));
    const std::string table_kind = tuning_kind.empty() ? kernel_kind_name(kind) : tuning_kind;
    const bool causal = variant.band.upper_offset.has_value();
    const bool windowed = variant.band.lower_offset.has_value();
    auto picked = table->pick(table_kind, variant.head_dim, causal, windowed,
                              variant.score != nullptr, dtype_bytes(variant.kv_type) == 1);
    if (!picked)
      return fail(fmt::format("tuning config for {} has no entry for kind {}", arch, table_kind));
    tile = *picked;
  }
  // At the variant's own K/V layout (element size, scales).
  if (std::string why = validate_tile_for(arch, tile, kv_elements_of(variant));
      !why.empty())
    return fail(fmt::format("tile config for variant {} on {}: {}", variant.name, arch, why));
  return tile;
}

std::string wgmma_arch() {
  for (const Target& t : all_targets())
    if (t.has_mainloop(Mainloop::wgmma)) return std::string(t.name);
  return "";
}

bool runs_wgmma_kernels(const std::string& arch) {
  const Target* target = find_target(arch);
  const Target* hopper = find_target(wgmma_arch());  // null when no target has wgmma
  return target && hopper && hopper->runs_on(target->vendor, target->capability, hopper->default_format());
}

namespace {

Result<std::optional<KernelSpec>, std::string> choose_wgmma(KernelKind kind, const ir::Variant& variant,
                                                           const TuningTable* table,
                                                           const std::optional<TileConfig>& override_tile) {
  if (!wgmma_variant_problem(variant, kind).empty()) return std::optional<KernelSpec>();
  const std::string arch = wgmma_arch();
  TileConfig tile;
  if (override_tile) {
    tile = *override_tile;
  } else {
    if (!table) return fail(fmt::format("no tuning config for {}'s wgmma kernels was given", arch));
    const bool causal = variant.band.upper_offset.has_value();
    const bool windowed = variant.band.lower_offset.has_value();
    auto picked = table->pick(kernel_kind_name(KernelKind::prefill), variant.head_dim, causal, windowed,
                              variant.score != nullptr, false);
    if (!picked) return fail(fmt::format("tuning config for {} has no entry for kind prefill", arch));
    tile = *picked;
  }
  if (std::string why = hopper_tile_problem(tile, variant.head_dim, shared_memory_limit(arch)); !why.empty())
    return fail(fmt::format("wgmma tile config for variant {} on {}: {}", variant.name, arch, why));
  KernelSpec spec;
  spec.kind = kind;
  spec.variant = variant;
  spec.arch = arch;
  spec.tile = tile;
  spec.mainloop = Mainloop::wgmma;
  return std::optional<KernelSpec>(std::move(spec));
}

}  // namespace

Result<std::optional<KernelSpec>, std::string> choose_wgmma_prefill(
    const ir::Variant& variant, const TuningTable* table, const std::optional<TileConfig>& override_tile) {
  return choose_wgmma(KernelKind::prefill, variant, table, override_tile);
}

Result<std::optional<KernelSpec>, std::string> choose_wgmma_paged(
    const ir::Variant& variant, const TuningTable* table, const std::optional<TileConfig>& override_tile) {
  auto spec = choose_wgmma(KernelKind::paged, variant, table, override_tile);
  // The chunk kernel runs one block per work tile (its grid is the mma.sync paged
  // kind's): the persistent grid is the prefill kind's switch; the consumers' take. Its
  // packed rows are kHopperPagedBlockM a block: a taller prefill tile keeps its BLOCK_N
  // and stages, checked again at that height.
  if (!spec || !*spec) return spec;
  TileConfig& tile = (*spec)->tile;
  tile.persistent = false;
  if (tile.block_m != kHopperPagedBlockM) {
    tile.block_m = kHopperPagedBlockM;
    tile.warps = hopper_warps(kHopperPagedBlockM);
    if (std::string why = hopper_tile_problem(tile, variant.head_dim, shared_memory_limit(wgmma_arch())); !why.empty())
      return fail(fmt::format("wgmma paged tile for variant {}: {}", variant.name, why));
  }
  return spec;
}

}  // namespace attnjit
