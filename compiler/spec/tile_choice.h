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

}  // namespace attnjit
