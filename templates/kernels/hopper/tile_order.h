// The order in which a persistent grid of the Hopper prefill kernel visits its work
// tiles (one tile: kBlockM query rows of one query head of one sequence). Plain
// constexpr C++, shared verbatim by the host (tests) and the generated device source,
// where the producer and the consumers of a block walk the same indices through it and
// so agree on every tile without talking to each other.
//
// The order, for batch and ragged (cu_seqlens) layouts alike:
//  - sequence by sequence;
//  - within a sequence, its query heads in sections whose K and V fit in a share of
//    L2 (kL2SectionBytes), so the blocks running at one time read the same few heads'
//    keys and values; a section is whole KV heads (GQA query heads sharing one stay
//    together);
//  - within a section, query tiles (query_tile_rows()) last to first, each over the
//    section's heads:
//    under a causal mask a later query tile sees more keys, so the longest tiles come
//    first and the short ones fill the gaps at the end.
// Blocks take indices blockIdx.x, blockIdx.x + gridDim.x, ...: a static schedule.
//
// Ragged batches must not cost a pass over cu_seqlens per tile: sequence s is given
// slots [floor(cu_seqlens_q[s] / block_m) + s, floor(cu_seqlens_q[s + 1] / block_m) + s + 1)
// of the query-tile axis, at least its ceil(q_len / block_m) tiles (a sequence of
// length L starting at offset a spans at most floor(L / block_m) + 1 block boundaries);
// the slots beyond them are empty tiles (m_block < 0). Every block's indices only
// grow, so a cursor finds each index's sequence by stepping forward.
#ifndef ATTNJIT_HOPPER_TILE_ORDER_H
#define ATTNJIT_HOPPER_TILE_ORDER_H

#ifndef ATTNJIT_HOST_DEVICE
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define ATTNJIT_HOST_DEVICE __host__ __device__
#else
#define ATTNJIT_HOST_DEVICE
#endif
#endif

namespace attnjit {
namespace hopper {

// K and V of the heads one section visits: a share of the H100/H200's 50 MB L2 that
// leaves room for the Q tiles and outputs streaming past.
inline constexpr long long kL2SectionBytes = 32LL << 20;

struct TileOrderProblem {
  const int* cu_seqlens_q;  // ragged: batch + 1 prefix sums; null: every sequence has seqlen_q / seqlen_k
  const int* cu_seqlens_k;
  int batch;
  int seqlen_q, seqlen_k;
  int heads;                   // query heads
  int group_size;              // query heads per KV head
  int block_m;                 // query rows per tile
  long long kv_bytes_per_key;  // K and V bytes of one key of one KV head
};

struct WorkTile {
  int seq, head;
  int m_block;  // the query tile within the sequence; < 0: an empty slot, nothing to do
};

// Where a block is in the order: the sequence of its last index.
struct TileOrderCursor {
  int seq = 0;
};

ATTNJIT_HOST_DEVICE constexpr int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

ATTNJIT_HOST_DEVICE constexpr int sequence_q_len(const TileOrderProblem& p, int seq) {
  return p.cu_seqlens_q ? p.cu_seqlens_q[seq + 1] - p.cu_seqlens_q[seq] : p.seqlen_q;
}
ATTNJIT_HOST_DEVICE constexpr int sequence_kv_len(const TileOrderProblem& p, int seq) {
  return p.cu_seqlens_k ? p.cu_seqlens_k[seq + 1] - p.cu_seqlens_k[seq] : p.seqlen_k;
}

// The rows of query tile `m_block` of a sequence of `q_len` rows. The tiles end at the
// sequence's end: tile m starts at row q_len - (tiles - m) * block_m, negative for a
// partial first tile, whose rows before row 0 are not the sequence's. (Under a causal
// mask the first tile's rows see the fewest keys; a partial last tile would be the
// longest one.)
struct QueryTileRows {
  int first_row;  // the tile's row 0 within the sequence
  int rows_first;  // the tile's first row that is the sequence's
};
ATTNJIT_HOST_DEVICE constexpr QueryTileRows query_tile_rows(int q_len, int block_m, int m_block) {
  const int tiles = (q_len + block_m - 1) / block_m;  // in int: ceil_div() divides 64-bit
  const int first_row = q_len - (tiles - m_block) * block_m;
  return {first_row, first_row < 0 ? -first_row : 0};
}

// The first query-tile slot of sequence `seq` (seq = batch: the number of slots).
ATTNJIT_HOST_DEVICE constexpr long long first_slot(const TileOrderProblem& p, int seq) {
  return p.cu_seqlens_q ? p.cu_seqlens_q[seq] / p.block_m + seq
                        : static_cast<long long>(seq) * ceil_div(p.seqlen_q, p.block_m);
}

// Indices of the whole order: every slot of every query head.
ATTNJIT_HOST_DEVICE constexpr long long work_tile_count(const TileOrderProblem& p) {
  return p.batch > 0 ? static_cast<long long>(p.heads) * first_slot(p, p.batch) : 0;
}

// Query heads of one L2 section of a sequence with `kv_len` keys: whole KV heads, at least one.
ATTNJIT_HOST_DEVICE constexpr int section_heads(const TileOrderProblem& p, int kv_len) {
  const long long kv_bytes = (kv_len > 0 ? kv_len : 1) * p.kv_bytes_per_key;
  const long long kv_heads = kL2SectionBytes / kv_bytes;
  const long long heads = (kv_heads > 0 ? kv_heads : 1) * p.group_size;
  return heads < p.heads ? static_cast<int>(heads) : p.heads;
}

// The work tile at `index` (0 <= index < work_tile_count(p)). The cursor carries the
// sequence of the previous call; an index before it starts the search over.
ATTNJIT_HOST_DEVICE constexpr WorkTile work_tile_at(const TileOrderProblem& p, long long index,
                                                    TileOrderCursor& cursor) {
  const long long slot = index / p.heads;
  if (cursor.seq >= p.batch || slot < first_slot(p, cursor.seq)) cursor.seq = 0;
  while (slot >= first_slot(p, cursor.seq + 1)) ++cursor.seq;
  const int seq = cursor.seq;
  const long long first = first_slot(p, seq);
  const int slots = static_cast<int>(first_slot(p, seq + 1) - first);
  const int tiles = ceil_div(sequence_q_len(p, seq), p.block_m);
  // Sections of `per_section` heads, the last one possibly narrower; each holds all
  // of the sequence's slots of its heads, slot-major.
  const int per_section = section_heads(p, sequence_kv_len(p, seq));
  const long long local = index - first * p.heads;
  const int section = static_cast<int>(local / (static_cast<long long>(per_section) * slots));
  const int head0 = section * per_section;
  const int width = p.heads - head0 < per_section ? p.heads - head0 : per_section;
  const long long in_section = local - static_cast<long long>(head0) * slots;
  const int step = static_cast<int>(in_section / width);  // 0 = the sequence's last query tile
  return {seq, head0 + static_cast<int>(in_section % width), tiles - 1 - step};
}

}  // namespace hopper
}  // namespace attnjit

#endif
