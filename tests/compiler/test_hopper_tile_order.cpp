// The persistent Hopper grid's tile order (templates/kernels/hopper/tile_order.h), which
// the kernel's producer and consumers walk on the device: every work tile exactly once,
// the longest tiles of a section first, whole KV heads per L2 section, ragged batches
// through their slots, the same tiles whichever block (cursor) asks; and the host's
// bound on the work for the grid (compiler/spec/hopper_geometry.h); and the rows of each
// query tile, which end at the sequence's end.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "catch.h"
#include "compiler/spec/hopper_geometry.h"
#include "templates/kernels/hopper/tile_order.h"

namespace {

using namespace attnjit;
using hopper::TileOrderCursor;
using hopper::TileOrderProblem;
using hopper::WorkTile;

constexpr int kBlockM = 128;

struct Lengths {
  std::vector<int> cu_q, cu_k;  // empty: fixed lengths
};

TileOrderProblem problem_of(const Lengths& l, int batch, int seqlen_q, int seqlen_k, int heads, int group,
                            int head_dim = 128) {
  return TileOrderProblem{l.cu_q.empty() ? nullptr : l.cu_q.data(),
                          l.cu_k.empty() ? nullptr : l.cu_k.data(),
                          batch,
                          seqlen_q,
                          seqlen_k,
                          heads,
                          group,
                          kBlockM,
                          2LL * head_dim * 2};
}

Lengths ragged(const std::vector<int>& q, const std::vector<int>& k) {
  Lengths l;
  l.cu_q.push_back(0);
  l.cu_k.push_back(0);
  for (size_t i = 0; i < q.size(); ++i) {
    l.cu_q.push_back(l.cu_q.back() + q[i]);
    l.cu_k.push_back(l.cu_k.back() + k[i]);
  }
  return l;
}

// The tiles in order, as one cursor walks every index (empty slots left out), and how
// many slots were empty.
std::vector<WorkTile> walk(const TileOrderProblem& p, long long* empty = nullptr) {
  std::vector<WorkTile> out;
  TileOrderCursor cursor;
  long long empties = 0;
  for (long long i = 0; i < hopper::work_tile_count(p); ++i) {
    const WorkTile t = hopper::work_tile_at(p, i, cursor);
    if (t.m_block < 0) ++empties;
    else out.push_back(t);
  }
  if (empty) *empty = empties;
  return out;
}

// Every (seq, head, query tile) with a row appears exactly once.
void check_each_tile_once(const TileOrderProblem& p, const std::vector<WorkTile>& order) {
  std::set<std::tuple<int, int, int>> seen;
  for (const WorkTile& t : order) {
    INFO("seq " << t.seq << " head " << t.head << " m " << t.m_block);
    REQUIRE(t.seq >= 0);
    REQUIRE(t.seq < p.batch);
    REQUIRE(t.head >= 0);
    REQUIRE(t.head < p.heads);
    REQUIRE(t.m_block * kBlockM < hopper::sequence_q_len(p, t.seq));
    CHECK(seen.insert({t.seq, t.head, t.m_block}).second);
  }
  long long expected = 0;
  for (int s = 0; s < p.batch; ++s)
    expected += static_cast<long long>(p.heads) * ((hopper::sequence_q_len(p, s) + kBlockM - 1) / kBlockM);
  CHECK(static_cast<long long>(seen.size()) == expected);
}

// The KV tiles a causal query tile visits (queries at the end of the sequence): more for a later tile.
int causal_kv_tiles(int q_len, int kv_len, int m_block, int block_n) {
  const int last_q_pos = std::min(q_len, (m_block + 1) * kBlockM) - 1 + kv_len - q_len;
  return last_q_pos / block_n + 1;
}

}  // namespace

TEST_CASE("the tile order visits every batch tile once, longest first under a causal mask", "[hopper][tile_order]") {
  const int batch = 3, seqlen = 1000, heads = 8, group = 2;  // 8 query tiles, the last partial
  const TileOrderProblem p = problem_of({}, batch, seqlen, seqlen + 300, heads, group);
  CHECK(hopper::work_tile_count(p) == 3LL * 8 * 8);
  long long empty = -1;
  const std::vector<WorkTile> order = walk(p, &empty);
  CHECK(empty == 0);  // fixed lengths have no empty slots
  check_each_tile_once(p, order);
  // Short sequences' K and V fit in one section: sequence by sequence, within one the
  // query tiles last to first, each over all heads; so the causal KV tile counts never grow.
  for (size_t i = 1; i < order.size(); ++i) {
    const WorkTile& a = order[i - 1];
    const WorkTile& b = order[i];
    INFO("position " << i);
    CHECK(b.seq >= a.seq);
    if (a.seq == b.seq) {
      CHECK(b.m_block <= a.m_block);
      CHECK(causal_kv_tiles(seqlen, seqlen + 300, b.m_block, 128) <=
            causal_kv_tiles(seqlen, seqlen + 300, a.m_block, 128));
      if (a.m_block == b.m_block) CHECK(b.head == a.head + 1);
    }
  }
  CHECK(order.front().m_block == 7);
  CHECK(order.back().m_block == 0);
}

TEST_CASE("the tile order keeps each L2 section's K and V to whole KV heads", "[hopper][tile_order]") {
  // 262144 keys x 128 dims x 2 bytes x (K, V) = 128 MiB per KV head: one KV head (its
  // 4 query heads) per section.
  const int heads = 12, group = 4, seqlen_k = 262144;
  const TileOrderProblem p = problem_of({}, 2, 300, seqlen_k, heads, group);
  CHECK(hopper::section_heads(p, seqlen_k) == group);
  const std::vector<WorkTile> order = walk(p);
  check_each_tile_once(p, order);
  // Each section: 3 query tiles x 4 heads, longest first, then the next KV head's.
  for (size_t i = 0; i < order.size(); ++i) {
    const size_t within_seq = i % (heads * 3);
    const int section = static_cast<int>(within_seq / (group * 3));
    INFO("position " << i);
    CHECK(order[i].seq == static_cast<int>(i / (heads * 3)));
    CHECK(order[i].head / group == section);
    CHECK(order[i].m_block == 2 - static_cast<int>(within_seq % (group * 3)) / group);
  }
  // A middle length: sections of whole KV heads, the last one narrower.
  const TileOrderProblem mid = problem_of({}, 1, 4096, 3 * 65536, heads, group);  // 96 MiB per KV head
  CHECK(hopper::section_heads(mid, 3 * 65536) == group);
  const TileOrderProblem two = problem_of({}, 1, 4096, 65536, heads, group);  // 32 MiB: one KV head
  CHECK(hopper::section_heads(two, 65536) == group);
  const TileOrderProblem many = problem_of({}, 1, 4096, 16384, 10, 2);  // 8 MiB: four KV heads of five
  CHECK(hopper::section_heads(many, 16384) == 8);
  const std::vector<WorkTile> many_order = walk(many);
  check_each_tile_once(many, many_order);
  // The first section's 8 heads, 32 query tiles from the last; then heads 8 and 9.
  CHECK(many_order[0].m_block == 31);
  CHECK(many_order[7].head == 7);
  CHECK(many_order[8].m_block == 30);
  CHECK(many_order[8 * 32].head == 8);
  CHECK(many_order[8 * 32].m_block == 31);
  CHECK(many_order[8 * 32 + 1].head == 9);
}

TEST_CASE("the tile order covers ragged batches through their slots", "[hopper][tile_order]") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    // Many short sequences, empty ones, single rows, one long one, q_len < kv_len.
    std::vector<int> q, k;
    const int batch = 1 + static_cast<int>(rng() % 60);
    for (int s = 0; s < batch; ++s) {
      const int kind = static_cast<int>(rng() % 6);
      const int len = kind == 0 ? 0 : kind == 1 ? 1 : kind == 2 ? 1000 + static_cast<int>(rng() % 3000)
                                                                : 1 + static_cast<int>(rng() % 300);
      q.push_back(len);
      k.push_back(len + static_cast<int>(rng() % 2 ? rng() % 500 : 0));
    }
    const Lengths l = ragged(q, k);
    const int heads = static_cast<int>(1 + rng() % 8), group = heads % 2 == 0 ? 2 : 1;
    const TileOrderProblem p = problem_of(l, batch, 0, 0, heads, group);
    INFO("round " << round << ", batch " << batch);
    long long empty = -1;
    const std::vector<WorkTile> order = walk(p, &empty);
    check_each_tile_once(p, order);
    // At most one empty slot per sequence and head, and the host's bound holds.
    CHECK(empty <= static_cast<long long>(heads) * batch);
    CHECK(hopper::work_tile_count(p) <= hopper_work_tile_bound(heads, batch, 0, l.cu_q.back(), 128));
    // Within a sequence and head, the query tiles come last to first.
    std::map<std::pair<int, int>, int> last_m;
    for (const WorkTile& t : order) {
      auto [it, fresh] = last_m.try_emplace({t.seq, t.head}, t.m_block);
      if (!fresh) {
        CHECK(t.m_block == it->second - 1);
        it->second = t.m_block;
      }
    }
    // A persistent grid: each block walks its indices with its own cursor and finds
    // exactly the tiles one walk does.
    for (int blocks : {1, 7, 132}) {
      std::vector<WorkTile> by_blocks;
      for (int b = 0; b < blocks; ++b) {
        TileOrderCursor cursor;
        for (long long i = b; i < hopper::work_tile_count(p); i += blocks) {
          const WorkTile t = hopper::work_tile_at(p, i, cursor);
          TileOrderCursor fresh;
          const WorkTile again = hopper::work_tile_at(p, i, fresh);
          CHECK(std::tie(t.seq, t.head, t.m_block) == std::tie(again.seq, again.head, again.m_block));
          if (t.m_block >= 0) by_blocks.push_back(t);
        }
      }
      CHECK(by_blocks.size() == order.size());
    }
  }
}

TEST_CASE("the persistent grid has one block per resident slot, at most one per work tile", "[hopper][tile_order]") {
  // Fixed lengths: the exact count.
  const TileOrderProblem p = problem_of({}, 2, 300, 300, 32, 4);
  CHECK(hopper_work_tile_bound(32, 2, 300, -1, 128) == hopper::work_tile_count(p));
  CHECK(hopper_work_tile_bound(32, 0, 300, -1, 128) == 0);
  // Ragged: whole tiles of all rows plus one slot per sequence, per head.
  CHECK(hopper_work_tile_bound(4, 3, 0, 300, 128) == 4 * (2 + 3));
  CHECK(hopper_persistent_blocks(1000, 132, 1) == 132);
  CHECK(hopper_persistent_blocks(50, 132, 1) == 50);
  CHECK(hopper_persistent_blocks(1000, 132, 2) == 264);
  CHECK(hopper_persistent_blocks(0, 132, 1) == 1);   // a launch of nothing still has a block
  CHECK(hopper_persistent_blocks(1000, 132, 0) == 132);  // occupancy unknown: one per SM
}

// Query tiles end at the sequence's end: together they hold each row once, every tile
// but the first is whole, and the first starts before row 0 by what the length leaves.
TEST_CASE("query tiles end at the sequence's end, a partial tile first", "[hopper][tile_order]") {
  for (int block_m : {128, 192}) {
    for (int q_len = 1; q_len <= 3 * block_m + 1; ++q_len) {
      INFO("block_m " << block_m << ", q_len " << q_len);
      const int tiles = hopper::ceil_div(q_len, block_m);
      std::vector<int> owner(q_len, -1);
      for (int m = 0; m < tiles; ++m) {
        const hopper::QueryTileRows t = hopper::query_tile_rows(q_len, block_m, m);
        CHECK(t.rows_first == (m == 0 ? (tiles * block_m - q_len) : 0));
        for (int r = t.rows_first; r < block_m; ++r) {
          const int row = t.first_row + r;
          REQUIRE(row >= 0);
          REQUIRE(row < q_len);
          CHECK(owner[row] == -1);
          owner[row] = m;
        }
      }
      CHECK(std::count(owner.begin(), owner.end(), -1) == 0);
      CHECK(hopper::query_tile_rows(q_len, block_m, tiles - 1).first_row + block_m == q_len);
    }
  }
  // seqlen 1024 on 192-row tiles: the first tile holds 64 rows, starting 128 rows early.
  CHECK(hopper::query_tile_rows(1024, 192, 0).first_row == -128);
  CHECK(hopper::query_tile_rows(1024, 192, 0).rows_first == 128);
  CHECK(hopper::query_tile_rows(1024, 192, 1).first_row == 64);
}
