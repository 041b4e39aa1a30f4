// The split-KV cost model (Engine::choose_splits forwards here) and the decode-tile rule.
#include "runtime/plan/split_choice.h"

#include <algorithm>
#include <cmath>

#include "compiler/ir/variant.h"
#include "templates/kernels/merge_params.h"

namespace attnjit {

bool uses_decode_tile(const ir::Variant& v, int max_seqlen_q) {
  return static_cast<long long>(max_seqlen_q) * v.group_size() <= 16;
}

int choose_splits(long long blocks, int max_kv_tiles, int sm_count, int blocks_per_sm,
                  int stream_blocks_per_sm, int kv_bytes) {
  // Never give a segment fewer than two tiles.
  const int most = std::min(ATTNJIT_MAX_MERGE_PARTS, max_kv_tiles / 2);
  if (most < 2 || blocks <= 0) return 1;
  // Estimated time of a launch cut into `s` segments per sequence, in units of one
  // tile's streaming time for a block of a full wave. Blocks run in waves of
  // sm_count * blocks_per_sm. A full wave costs its blocks' tiles plus a fixed cost
  // per block (start, Q load, pipeline fill, epilogue); a partial wave's blocks share
  // the memory bandwidth among fewer of them and stream faster, but not without
  // limit (partial_floor); splitting adds the merge pass.
  //
  // The stream split: one wave whose blocks share all tiles evenly. Each block pays
  // the fixed cost, stream_per_unit per unit of work in its share (a unit is a
  // sequence's tiles for one KV head: a piece's start, epilogue and the work-line
  // search), and stream_per_cut when shares cut units (partial rows written, counted
  // and merged in the launch).
  //
  // Constants fitted on the H200 to grids of measured times (32 query / 8 KV heads,
  // d128, 16-key tiles, every split count and the stream split; bf16 K/V: batch 1-72
  // x context 512, 2048, 8192 and 1-8 x 32768, 224 points; fp8, with the sm_90 config's
  // three resident blocks per SM: batch 1-72 x context 512, 2048 and 8192, 216
  // points): the choice is within 5% of the fastest measured for 97% (bf16) and 96%
  // (fp8) of the points. The costs are in tiles, so one fitted set
  // per K/V element width: an 8-bit tile streams in half the time, while a block's
  // start and end are latency and cost the same (one byte-weighted set fitted worse).
  struct CostModel {
    double fixed_per_block, merge, partial_floor, stream_per_unit, stream_per_cut;
  };
  static constexpr CostModel kSixteenBit{22.0, 16.0, 0.75, 16.0, 14.0};
  static constexpr CostModel kEightBit{12.0, 32.0, 0.9, 24.0, 42.0};
  const CostModel& m = kv_bytes == 1 ? kEightBit : kSixteenBit;
  const long long wave = static_cast<long long>(sm_count) * std::max(1, blocks_per_sm);
  auto cost = [&](int s) {
    const double tiles = (max_kv_tiles + s - 1) / s;
    const long long segments = blocks * s;
    const long long full_waves = segments / wave, rest = segments % wave;
    double t = full_waves * (tiles + m.fixed_per_block);
    if (rest > 0)
      t += tiles * std::max(static_cast<double>(rest) / wave, m.partial_floor) + m.fixed_per_block;
    return t + (s > 1 ? m.merge : 0.0);
  };
  int best = 1;
  double best_cost = cost(1);
  for (int s = 2; s <= most; ++s) {
    const double c = cost(s);
    if (c < best_cost) best = s, best_cost = c;
  }
  if (stream_blocks_per_sm > 0) {
    const double stream_wave = static_cast<double>(sm_count) * stream_blocks_per_sm;
    const double share = static_cast<double>(blocks) * max_kv_tiles / stream_wave;
    const double units_per_block = share / max_kv_tiles;
    const bool cuts = std::abs(units_per_block - std::round(units_per_block)) > 1e-9;
    const double stream_cost = std::ceil(share) + m.fixed_per_block +
                               m.stream_per_unit * units_per_block +
                               (cuts ? m.stream_per_cut : 0.0);
    if (stream_cost < best_cost) return kStreamSplit;
  }
  return best;
}

}  // namespace attnjit
