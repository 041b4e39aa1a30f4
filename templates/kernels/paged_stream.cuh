// Paged entry of the stream split (decode tiles: each sequence's new tokens fit one
// block's rows). A fixed grid, one resident wave of thread blocks, shares out the KV
// tiles of every (sequence, KV head) unit evenly, however many units there are, so
// the launch has no wave-quantization step when the batch grows by one sequence.
//
// The work line: units in (sequence, KV head) order, each as long as its sequence's
// visible tiles (at least 1, so a unit that sees no key still gets its output
// written), laid end to end; block b takes positions [b T / B, (b + 1) T / B) of the T
// on the line. A unit inside one share is attended and written like any paged block.
// Shares cut the others into pieces: attend() over a piece's tiles writes f32 rows and
// LSEs to one of the block's two slots (slot 0 for its first piece, which may continue
// a unit begun by earlier blocks; slot 1 for its last, which later blocks may
// continue). Every piece then counts itself done for its unit; the one that completes
// the count merges the unit's pieces into the output. Nothing waits for another
// block, so no launch order or co-residency is assumed.

namespace attnjit {

static_assert(kWorkLineOffset >= TileGeometry::kSharedBytes && kWorkLineOffset % 16 == 0,
              "the work line starts after attend()'s buffers, 16-byte aligned");

// A piece shorter than this many tiles would leave the warps of a decode block (which
// take every kWarps-th tile) nothing to pipeline: short lines use fewer blocks.
constexpr int kMinPieceTiles = 2 * kWarps;

// The tiles a sequence's query rows see: its unit length on the work line.
__device__ __forceinline__ int unit_length(const AttnjitPagedParams& p, int seq) {
  const int q_len = p.cu_seqlens_q[seq + 1] - p.cu_seqlens_q[seq];
  // No new tokens, or a prefill chunk another launch serves: no unit.
  if (q_len <= 0 || (p.decode_q_len_max > 0 && q_len > p.decode_q_len_max)) return 0;
  const int kv_len = p.seq_lens[seq];
  const int* ranges = kHasRanges ? p.variant.ranges + seq * p.variant.max_ranges * 2 : nullptr;
  const KvTiles t = visible_kv_tiles(kv_len - q_len, kv_len - 1, kv_len, ranges,
                                     kHasRanges ? p.variant.max_ranges : 0);
  return max(1, t.end - t.begin);
}

struct WorkLine {
  const int* prefix;  // prefix[s]: the unit length of sequences before s, summed
  int num_seqs;
  int kv_heads;
  long long length;   // T
  int blocks;         // B

  __device__ __forceinline__ long long share_begin(int block) const {
    return length * block / blocks;
  }
  // The block whose share holds position x: the largest b with share_begin(b) <= x.
  __device__ __forceinline__ int block_of(long long x) const {
    return static_cast<int>(((x + 1) * blocks - 1) / length);
  }
  __device__ __forceinline__ long long sequence_begin(int seq) const {
    return static_cast<long long>(prefix[seq]) * kv_heads;
  }
  // The sequence holding position x < length: the largest s with sequence_begin(s) <= x
  // (sequences with no new tokens have no positions; the search skips them).
  __device__ __forceinline__ int sequence_of(long long x) const {
    int lo = 0, hi = num_seqs - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (sequence_begin(mid) <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
};

// prefix[0..num_seqs] in shared memory, computed by every block: a thread sums a run
// of sequences, then the block scans the runs' sums.
__device__ __forceinline__ void build_prefix(const AttnjitPagedParams& p, int* prefix) {
  __shared__ int run_sums[TileGeometry::kThreads];
  const int tid = threadIdx.x;
  const int n = p.num_seqs;
  const int per_thread = (n + TileGeometry::kThreads - 1) / TileGeometry::kThreads;
  const int lo = min(n, tid * per_thread), hi = min(n, lo + per_thread);
  int sum = 0;
  for (int s = lo; s < hi; ++s) sum += prefix[s + 1] = unit_length(p, s);
  run_sums[tid] = sum;
  block_barrier();
  for (int step = 1; step < TileGeometry::kThreads; step *= 2) {  // inclusive scan
    const int add = tid >= step ? run_sums[tid - step] : 0;
    block_barrier();
    run_sums[tid] += add;
    block_barrier();
  }
  int running = run_sums[tid] - sum;
  for (int s = lo; s < hi; ++s) prefix[s + 1] = running += prefix[s + 1];
  if (tid == 0) prefix[0] = 0;
  block_barrier();
}

// Slot `slot` of block `block`: its f32 rows and their LSEs.
__device__ __forceinline__ float* slot_rows(const AttnjitPagedParams& p, int block, int slot) {
  return p.piece_out + (static_cast<long long>(block) * 2 + slot) * kBlockM * kHeadDim;
}
__device__ __forceinline__ float* slot_lse(const AttnjitPagedParams& p, int block, int slot) {
  return p.piece_lse + (static_cast<long long>(block) * 2 + slot) * kBlockM;
}

// Combines the pieces of the unit at [first, end) on the line into the caller's
// output: out = sum_i w_i o_i / (sum_i w_i [+ e^{sink - M}]), w_i = e^{lse_i - M}.
// A warp per row; each lane holds pairs of the head dimension, as in merge.cuh. The
// loads bypass L1 (ATTNJIT_LOAD_L2, the dialect's spelling): the pieces were published
// by other SMs in this launch.
__device__ __forceinline__ void merge_pieces(const AttnjitPagedParams& p, const WorkLine& line,
                                             long long first, long long end, int q_start,
                                             int kv_head, int rows_valid) {
  const int first_block = line.block_of(first);
  const int pieces = line.block_of(end - 1) - first_block + 1;
  // The first block's piece sits in slot 1 unless the unit starts its share.
  const int first_slot = line.share_begin(first_block) == first ? 0 : 1;
  const int lane = threadIdx.x % kWarpLanes;
  constexpr int kChunks = (kHeadDim + 2 * kWarpLanes - 1) / (2 * kWarpLanes);
  constexpr int kInFlight = 8;  // pieces whose rows load together

  auto piece_lse = [&](int i, int row) {
    return ATTNJIT_LOAD_L2(slot_lse(p, first_block + i, i == 0 ? first_slot : 0) + row);
  };
  for (int row = threadIdx.x / kWarpLanes; row < rows_valid; row += kWarps) {
    const int head = kv_head * kGroupSize + row % kGroupSize;
    const float sink = kHasSinks ? p.variant.sinks[head] : neg_inf();
    // Lane i holds the LSE of piece i (and i + kWarpLanes, ... are read again when the
    // unit has more pieces than lanes).
    const float first_lse = lane < pieces ? piece_lse(lane, row) : neg_inf();
    float top = fmaxf(sink, first_lse);
    for (int i = lane + kWarpLanes; i < pieces; i += kWarpLanes) top = fmaxf(top, piece_lse(i, row));
    top = warp_max(top);
    const float shift = top == neg_inf() ? 0.f : top;  // every piece empty: weights all 0

    float acc[kChunks][2] = {};
    float total = 0.f;
    for (int i0 = 0; i0 < pieces; i0 += kWarpLanes) {
      const int mine = i0 + lane;
      const float weight =
          mine < pieces ? expf((i0 == 0 ? first_lse : piece_lse(mine, row)) - shift) : 0.f;
      total += weight;
      for (int j0 = 0; j0 < kWarpLanes && i0 + j0 < pieces; j0 += kInFlight) {
        float w[kInFlight];
        float2 v[kInFlight][kChunks];
#pragma unroll
        for (int u = 0; u < kInFlight; ++u) {
          const int i = min(i0 + j0 + u, pieces - 1);
          w[u] = shuffle_from(weight, (j0 + u) % kWarpLanes);
          if (i0 + j0 + u >= pieces || j0 + u >= kWarpLanes) w[u] = 0.f;
          const float* from = slot_rows(p, first_block + i, i == 0 ? first_slot : 0) + row * kHeadDim;
#pragma unroll
          for (int c = 0; c < kChunks; ++c) {
            const int d = c * 2 * kWarpLanes + lane * 2;
            v[u][c] = d < kHeadDim ? ATTNJIT_LOAD_L2(reinterpret_cast<const float2*>(from + d))
                                   : make_float2(0.f, 0.f);
          }
        }
#pragma unroll
        for (int u = 0; u < kInFlight; ++u) {
          if (w[u] == 0.f) continue;  // an empty piece
#pragma unroll
          for (int c = 0; c < kChunks; ++c) {
            acc[c][0] += w[u] * v[u][c].x;
            acc[c][1] += w[u] * v[u][c].y;
          }
        }
      }
    }
    total = warp_sum(total) + (kHasSinks ? expf(sink - shift) : 0.f);

    const int token = row / kGroupSize;
    const float scale = total > 0.f ? p.merged_out_scale / total : 0.f;
    OutputStorage* out = static_cast<OutputStorage*>(p.out) + (q_start + token) * p.o_row_stride +
                         head * p.o_head_stride;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int d = c * 2 * kWarpLanes + lane * 2;
      if (d < kHeadDim) OutElem::store_pair(out + d, acc[c][0] * scale, acc[c][1] * scale);
    }
    if (kWriteLse && lane == 0)
      p.lse[(q_start + token) * p.lse_row_stride + head * p.lse_head_stride] =
          total > 0.f ? shift + logf(total) : neg_inf();
  }
}

}  // namespace attnjit

extern "C" __global__ void ATTNJIT_LAUNCH_BOUNDS
    ATTNJIT_ENTRY(const AttnjitPagedParams p) {
  using namespace attnjit;
  extern __shared__ __align__(128) unsigned char shared[];
  __shared__ int merge_here;

  // The host sizes dynamic shared memory as the prefix array from kWorkLineOffset, after
  // attend()'s buffers.
  int* prefix = reinterpret_cast<int*>(shared + kWorkLineOffset);
  build_prefix(p, prefix);
  WorkLine line{prefix, p.num_seqs, p.kv_heads, 0, 0};
  line.length = static_cast<long long>(prefix[p.num_seqs]) * p.kv_heads;
  line.blocks = static_cast<int>(min(static_cast<long long>(gridDim.x),
                                     max(1LL, line.length / kMinPieceTiles)));
  const int block = blockIdx.x;
  if (block >= line.blocks) return;

  const long long share_end = line.share_begin(block + 1);
  int piece = 0;
  for (long long x = line.share_begin(block); x < share_end; ++piece) {
    const int seq = line.sequence_of(x);
    const int length = prefix[seq + 1] - prefix[seq];
    const int kv_head = static_cast<int>((x - line.sequence_begin(seq)) / length);
    const long long unit_first = line.sequence_begin(seq) + static_cast<long long>(kv_head) * length;
    const long long unit_end = unit_first + length;
    const long long piece_end = min(share_end, unit_end);

    const int q_start = p.cu_seqlens_q[seq];
    const int q_len = min(p.cu_seqlens_q[seq + 1] - q_start, kTokensPerBlock);
    const int kv_len = p.seq_lens[seq];
    const PackedRows rows = packed_rows(p, q_start, q_len, kv_len, kv_head, 0, q_len, 0);
    const PagedKeys keys = paged_keys(p, seq, kv_head, kv_len);
    AttendOptions opt = paged_options(p, seq);
    const int pieces = line.block_of(unit_end - 1) - line.block_of(unit_first) + 1;
    if (pieces > 1) {
      const int slot = piece == 0 ? 0 : 1;
      opt.partial_rows = slot_rows(p, block, slot);
      opt.partial_lse = slot_lse(p, block, slot);
      opt.partial_multiplier = p.piece_multiplier;
    }
    const KvTiles visible = visible_kv_tiles(rows.q_pos_first, rows.q_pos_last, kv_len,
                                             opt.ranges, opt.range_count);
    opt.tiles = {min(visible.end, visible.begin + static_cast<int>(x - unit_first)),
                 min(visible.end, visible.begin + static_cast<int>(piece_end - unit_first)),
                 visible.widened_by_range};
    attend(shared, rows, keys, p.variant, opt);
    x = piece_end;
    // A whole unit is done; the buffers are free once every warp has left attend().
    if (pieces == 1) {
      block_barrier();
      continue;
    }

    // Publish the piece: its rows reach L2 before the count does (the count's last
    // taker reads them from L2).
    __threadfence();
    block_barrier();
    if (threadIdx.x == 0) {
      int* done = p.pieces_done + static_cast<long long>(seq) * p.kv_heads + kv_head;
      const bool last = atomicAdd(done, 1) == pieces - 1;
      if (last) atomicExch(done, 0);  // ready for the next launch
      __threadfence();
      merge_here = last;
    }
    block_barrier();
    if (merge_here) merge_pieces(p, line, unit_first, unit_end, q_start, kv_head, rows.rows_valid);
  }
}
