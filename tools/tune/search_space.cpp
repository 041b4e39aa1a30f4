#include "tools/tune/search_space.h"

#include <fmt/format.h>

#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/tuning_config.h"
#include "templates/kernels/merge_params.h"

namespace attnjit::tune {

namespace {

constexpr TuneKind kAllKinds[] = {TuneKind::prefill, TuneKind::paged, TuneKind::paged_decode};

}  // namespace

const char* tune_kind_name(TuneKind k) {
  switch (k) {
    case TuneKind::prefill: return "prefill";
    case TuneKind::paged: return "paged";
    case TuneKind::paged_decode: return "paged_decode";
  }
  return "unknown";
}

bool parse_tune_kind(std::string_view name, TuneKind* out) {
  for (TuneKind k : kAllKinds)
    if (name == tune_kind_name(k)) {
      *out = k;
      return true;
    }
  return false;
}

std::string tune_kind_names() {
  std::string names;
  for (TuneKind k : kAllKinds) names += fmt::format("{}{}", names.empty() ? "" : ", ", tune_kind_name(k));
  return names;
}

KernelKind kernel_kind(TuneKind k) {
  return k == TuneKind::prefill ? KernelKind::prefill : KernelKind::paged;
}

std::vector<TuneKind> kinds_of(const ir::Variant& v) {
  if (v.kv_cache.kind == ir::KvCacheKind::paged) return {TuneKind::paged, TuneKind::paged_decode};
  return {TuneKind::prefill};
}

std::string kinds_problem(const std::string& arch, const std::vector<TuneKind>& kinds) {
  if (own_mainloop(arch) != Mainloop::wgmma) return "";
  for (TuneKind k : kinds)
    if (k != TuneKind::prefill)
      return fmt::format("{}'s config tiles the wgmma prefill kernel only, not {} (tune that kind "
                         "with the arch's plain target's config)",
                         arch, tune_kind_name(k));
  return "";
}

const SearchSpace& search_space(TuneKind k, Mainloop mainloop) {
  // The wgmma prefill kernel: two or three consumer warpgroups of 64 rows beside the
  // producer (BLOCK_M 128 in 12 warps, 192 in 16); BLOCK_N, the ring's depth and the
  // schedule are what its rules leave open (hopper_tile_problem prunes what overflows
  // the consumers' registers or shared memory).
  static const SearchSpace wgmma{{12, 16}, {16}, 0, kHopperBlockNs, {2, 3, 4}, {0}, true, 4};
  if (mainloop == Mainloop::wgmma) return wgmma;
  // Around the shipped configs: 4 or 8 warps of 16 or 32 rows for the full tiles
  // (the validator drops 32-row warps past head_dim 128 and whatever overflows shared
  // memory), a register cap of 1 or 2 resident blocks beside none (an explicit cap
  // changes the compiler's allocation even at 1). The paged tile sees short chunks
  // after long contexts, so narrower key tiles. The decode tile streams the cache:
  // every warp count, deeper pipelines and register caps that let more blocks reside.
  static const SearchSpace prefill{{4, 8}, {16, 32}, 0, {32, 64, 128}, {2, 3}, {0, 1, 2}, false};
  static const SearchSpace paged{{4, 8}, {16, 32}, 0, {16, 32, 64}, {2, 3}, {0, 2}, false};
  static const SearchSpace decode{{1, 2, 4, 8}, {}, 16, {16, 32, 64}, {2, 3, 4}, {0, 2, 3, 4}, false};
  switch (k) {
    case TuneKind::prefill: return prefill;
    case TuneKind::paged: return paged;
    case TuneKind::paged_decode: return decode;
  }
  return prefill;
}

std::vector<TileConfig> enumerate_tiles(TuneKind k, Mainloop mainloop) {
  const SearchSpace& s = search_space(k, mainloop);
  // A fixed BLOCK_M is one "rows" choice standing for itself.
  const std::vector<int> rows_choices = s.fixed_block_m > 0 ? std::vector<int>{0} : s.rows_per_warp;
  std::vector<TileConfig> tiles;
  for (int warps : s.warps)
    for (int rows : rows_choices)
      for (int block_n : s.block_n)
        for (int stages : s.stages)
          for (int min_blocks : s.min_blocks_per_sm) {
            TileConfig t;
            t.block_m = s.fixed_block_m > 0 ? s.fixed_block_m : rows * (warps - s.producer_warps);
            t.block_n = block_n;
            t.warps = warps;
            t.stages = stages;
            t.min_blocks_per_sm = min_blocks;
            for (int schedule = 0; schedule < (s.hopper_schedules ? 8 : 1); ++schedule) {
              t.softmax_overlap = schedule & 1;
              t.pingpong = schedule & 2;
              t.persistent = schedule & 4;
              tiles.push_back(t);
            }
          }
  return tiles;
}

std::vector<int> decode_split_counts() {
  std::vector<int> counts;
  for (int n : {1, 2, 4, 8, 16})
    if (n <= ATTNJIT_MAX_MERGE_PARTS) counts.push_back(n);
  return counts;
}

std::string tile_name(const TileConfig& t) {
  std::string name = fmt::format("{}x{} w{} s{}", t.block_m, t.block_n, t.warps, t.stages);
  if (t.min_blocks_per_sm > 0) name += fmt::format(" b{}", t.min_blocks_per_sm);
  if (t.num_splits > 0) name += fmt::format(" splits {}", t.num_splits);
  if (t.softmax_overlap) name += " overlap";
  if (t.pingpong) name += " pingpong";
  if (t.persistent) name += " persistent";
  return name;
}

}  // namespace attnjit::tune
