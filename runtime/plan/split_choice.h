#pragma once
// How a paged launch splits its KV tiles: the limits of the split kinds and the cost
// model that picks among them. Plain arithmetic on call and device facts; the model's
// constants come from the per-arch config (compiler/spec/split_cost.h).
#include "compiler/spec/split_cost.h"

namespace attnjit {

namespace ir { struct Variant; }

// A paged launch's split count meaning the stream split (PagedArgs::num_splits, plans).
constexpr int kStreamSplit = -1;
// The stream kernel keeps an int per sequence in shared memory.
constexpr int kStreamSplitMaxSeqs = 4096;

// Decode batches (every chunk's query heads fit 16 rows, e.g. one token of 4 heads
// per KV head, or speculative tokens) run on the decode tile config.
bool uses_decode_tile(const ir::Variant& v, int max_seqlen_q);
// Where a paged call's Hopper path (sm_90a) cuts: a sequence with more new tokens than
// this is a prefill chunk and runs on the wgmma kernel; the rest stay on the mma.sync
// kernels, which then see at most this many tokens a sequence: the decode tile's rows
// (16 / query heads per KV head), at least 1.
int paged_decode_q_len_max(const ir::Variant& v);

// What the split choice weighs: `blocks` working thread blocks over KV sequences of up
// to `max_kv_tiles` tiles on `sm_count` SMs that hold `blocks_per_sm` blocks each; the
// stream split's kernel holds `stream_blocks_per_sm` (0 = the stream split is not
// available).
struct SplitProblem {
  long long blocks = 0;
  int max_kv_tiles = 0;
  int sm_count = 1;
  int blocks_per_sm = 1;
  int stream_blocks_per_sm = 0;
};

// The most segments a launch of `max_kv_tiles` tiles is cut into (1 = it never splits).
int most_splits(int max_kv_tiles);
// The model's estimated time of the launch cut into `splits` segments (1 to
// most_splits()) or the stream split (kStreamSplit, when available), in units of one
// tile's streaming time for a block of a full wave.
double split_cost(const SplitProblem& p, int splits, const SplitCostModel& model);
// The cheapest of them: a segment count, or kStreamSplit.
int choose_splits(const SplitProblem& p, const SplitCostModel& model);

}  // namespace attnjit
