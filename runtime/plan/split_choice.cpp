// The split-KV cost model (the launch planner and Engine::choose_splits ask it) and the
// decode-tile rule.
#include "runtime/plan/split_choice.h"

#include <algorithm>
#include <cmath>

#include "compiler/ir/variant.h"
#include "templates/kernels/merge_params.h"

namespace attnjit {

namespace {
constexpr int kDecodeTileRows = 16;  // the decode tile's query rows (configs' paged_decode tables)
}  // namespace

bool uses_decode_tile(const ir::Variant& v, int max_seqlen_q) {
  return static_cast<long long>(max_seqlen_q) * v.group_size() <= kDecodeTileRows;
}

int paged_decode_q_len_max(const ir::Variant& v) { return std::max(1, kDecodeTileRows / v.group_size()); }

int most_splits(int max_kv_tiles) {
  // Never give a segment fewer than two tiles.
  return std::max(1, std::min(ATTNJIT_MAX_MERGE_PARTS, max_kv_tiles / 2));
}

double split_cost(const SplitProblem& p, int splits, const SplitCostModel& m) {
  // Blocks run in waves of sm_count * blocks_per_sm. A full wave costs its blocks'
  // tiles plus a fixed cost per block (start, Q load, pipeline fill, epilogue); a
  // partial wave's blocks share the memory bandwidth among fewer of them and stream
  // faster, but not without limit (partial_floor); splitting adds the merge pass.
  //
  // The stream split: one wave whose blocks share all tiles evenly. Each block pays
  // the fixed cost, stream_per_unit per unit of work in its share (a unit is a
  // sequence's tiles for one KV head: a piece's start, epilogue and the work-line
  // search), and stream_per_cut when shares cut units (partial rows written, counted
  // and merged in the launch).
  if (splits == kStreamSplit) {
    const double stream_wave = static_cast<double>(p.sm_count) * p.stream_blocks_per_sm;
    const double share = static_cast<double>(p.blocks) * p.max_kv_tiles / stream_wave;
    const double units_per_block = share / p.max_kv_tiles;
    const bool cuts = std::abs(units_per_block - std::round(units_per_block)) > 1e-9;
    return std::ceil(share) + m.fixed_per_block + m.stream_per_unit * units_per_block +
           (cuts ? m.stream_per_cut : 0.0);
  }
  const long long wave = static_cast<long long>(p.sm_count) * std::max(1, p.blocks_per_sm);
  const double tiles = (p.max_kv_tiles + splits - 1) / splits;
  const long long segments = p.blocks * splits;
  const long long full_waves = segments / wave, rest = segments % wave;
  double t = full_waves * (tiles + m.fixed_per_block);
  if (rest > 0)
    t += tiles * std::max(static_cast<double>(rest) / wave, m.partial_floor) + m.fixed_per_block;
  return t + (splits > 1 ? m.merge : 0.0);
}

int choose_splits(const SplitProblem& p, const SplitCostModel& m) {
  const int most = most_splits(p.max_kv_tiles);
  if (most < 2 || p.blocks <= 0) return 1;
  int best = 1;
  double best_cost = split_cost(p, 1, m);
  for (int s = 2; s <= most; ++s) {
    const double c = split_cost(p, s, m);
    if (c < best_cost) best = s, best_cost = c;
  }
  if (p.stream_blocks_per_sm > 0 && split_cost(p, kStreamSplit, m) < best_cost) return kStreamSplit;
  return best;
}

}  // namespace attnjit
