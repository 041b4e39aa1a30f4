#pragma once
// How a paged launch splits its KV tiles: the limits of the split kinds and the cost
// model that picks among them. Plain arithmetic on call and device facts.
namespace attnjit {

namespace ir { struct Variant; }

// A paged launch's split count meaning the stream split (PagedArgs::num_splits, plans).
constexpr int kStreamSplit = -1;
// The stream kernel keeps an int per sequence in shared memory.
constexpr int kStreamSplitMaxSeqs = 4096;

// Decode batches (every chunk's query heads fit 16 rows, e.g. one token of 4 heads
// per KV head, or speculative tokens) run on the decode tile config.
bool uses_decode_tile(const ir::Variant& v, int max_seqlen_q);

// The number of split-KV segments for a launch of `blocks` working thread blocks over
// KV sequences of up to `max_kv_tiles` tiles on `sm_count` SMs that hold
// `blocks_per_sm` blocks each, or kStreamSplit when the stream split (whose kernel
// holds `stream_blocks_per_sm` blocks per SM; 0 = not available) is estimated faster;
// `kv_bytes` is the K/V element size (1 or 2).
int choose_splits(long long blocks, int max_kv_tiles, int sm_count, int blocks_per_sm,
                  int stream_blocks_per_sm = 0, int kv_bytes = 2);

}  // namespace attnjit
