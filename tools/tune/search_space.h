#pragma once
// What `attnjit tune` tries: the tables of a config it tunes and, per table, the tile
// shapes it enumerates before anything is pruned (docs/tune.md lists them).
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/variant.h"
#include "compiler/spec/kernel_spec.h"
#include "compiler/spec/tuning_config.h"

namespace attnjit::tune {

// A table of a config file: prefill; paged (query chunks too long for the decode tile);
// paged_decode (chunks whose packed query rows fit the 16-row decode tile).
enum class TuneKind { prefill, paged, paged_decode };
const char* tune_kind_name(TuneKind k);  // as the config spells the table
bool parse_tune_kind(std::string_view name, TuneKind* out);
std::string tune_kind_names();            // "prefill, paged, paged_decode"
KernelKind kernel_kind(TuneKind k);       // the kernel the table configures
// The kinds a variant's kernels read from: prefill for contiguous K/V, the two paged
// tables for a paged cache.
std::vector<TuneKind> kinds_of(const ir::Variant& v);

// Whether `arch`'s config can hold these kinds ("" = it can): sm_90a's file tiles the
// wgmma prefill kernel only (own_mainloop(): the main loop a config file tiles).
std::string kinds_problem(const std::string& arch, const std::vector<TuneKind>& kinds);

// The axes of one kind's enumeration; every combination is a candidate.
struct SearchSpace {
  std::vector<int> warps;
  // Query rows per warp (16 or 32): BLOCK_M = rows * (warps - producer_warps), unless
  // fixed_block_m is set: the decode tile has BLOCK_M 16 whatever the warps (they share
  // the rows and split the KV tiles). The wgmma tile's producer warpgroup holds no rows:
  // 12 warps are 128 rows (two consumer warpgroups), 16 are 192 (three).
  std::vector<int> rows_per_warp;
  int fixed_block_m = 0;
  std::vector<int> block_n;
  std::vector<int> stages;
  std::vector<int> min_blocks_per_sm;  // 0: no register cap
  // The wgmma kernel's schedule switches (softmax_overlap, pingpong, persistent): every
  // combination of the three when set.
  bool hopper_schedules = false;
  int producer_warps = 0;  // warps that hold no query rows (above)
};
const SearchSpace& search_space(TuneKind k, Mainloop mainloop = Mainloop::mma_sync);

// Every tile of the kind's space in a fixed order, num_splits 0 (the launch heuristic).
std::vector<TileConfig> enumerate_tiles(TuneKind k, Mainloop mainloop = Mainloop::mma_sync);
// Fixed split counts tried on paged_decode's fastest tile once the tiles are timed: a
// fixed count serves every shape of its bucket, so it is a second, small stage rather
// than an axis multiplying the first.
std::vector<int> decode_split_counts();

// "128x64 w8 s2", with " b2" for min_blocks_per_sm and " splits 4" for num_splits.
std::string tile_name(const TileConfig& t);

}  // namespace attnjit::tune
