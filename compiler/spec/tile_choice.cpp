#include "compiler/spec/tile_choice.h"

#include <fmt/format.h>

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

}  // namespace attnjit
