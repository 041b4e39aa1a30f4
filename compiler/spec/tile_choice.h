#pragma once
// The tile config a variant's kernel gets on a target. Engine::make_spec, the launch
// planner and the ahead-of-time builder all choose tiles here, so they cannot differ.
#include <optional>
#include <string>

#include "compiler/spec/kernel_spec.h"

namespace attnjit {

// merge and cache_write: kRowKernelTile. The attention kinds: `override_tile` when
// given, else `table`'s pick for the variant (head dim, causal, window, score
// transform, 8-bit K/V) from its `tuning_kind` table ("" = the kind's own, or
// "paged_decode"); then checked against the tile rules and `arch`'s shared memory for
// the variant's own K/V layout. `table` may be null only with an override.
Result<TileConfig, std::string> choose_tile(const ir::Variant& variant, KernelKind kind,
                                            const std::string& arch, const TuningTable* table,
                                            const std::optional<TileConfig>& override_tile,
                                            const std::string& tuning_kind = "");

// The wgmma prefill kernel a compute capability 9.0 device runs for `variant`
// (templates/kernels/hopper/): the prefill kind on sm_90a's wgmma main loop, its tile
// `override_tile` when given, else `table`'s pick (sm_90a's table:
// TuningTable::embedded("sm_90a", Mainloop::wgmma)), checked by hopper_tile_problem().
// nullopt when the main loop cannot build the variant (wgmma_variant_problem()). The
// engine's Hopper path and the launch planner's kernel list both take the spec from here,
// so the kernel an engine looks up is the one the AOT builder built.
Result<std::optional<KernelSpec>, std::string> choose_wgmma_prefill(
    const ir::Variant& variant, const TuningTable* table, const std::optional<TileConfig>& override_tile);

// The wgmma paged kernel (templates/kernels/hopper/paged_prefill.cuh) that serves the
// prefill chunks of `variant`'s paged calls on a compute capability 9.0 device: as
// choose_wgmma_prefill(), the tile from the same prefill table (a chunk's rows and keys
// run the prefill loop), nullopt when the main loop cannot build the paged variant.
Result<std::optional<KernelSpec>, std::string> choose_wgmma_paged(
    const ir::Variant& variant, const TuningTable* table, const std::optional<TileConfig>& override_tile);

// The target of the wgmma kernels (the target table's row with that main loop: sm_90a),
// and whether a device of `arch`'s target runs
// them (sm_90 and sm_90a: compute capability 9.0).
std::string wgmma_arch();
bool runs_wgmma_kernels(const std::string& arch);

}  // namespace attnjit
