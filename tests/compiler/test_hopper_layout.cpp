// Hopper layout arithmetic (templates/cuda/hopper_layout.h), which the sm_90a kernel and
// these tests share, checked against the PTX ISA's statements: the 128-byte swizzle
// pattern, the matrix descriptor's bit fields, the canonical K-major and MN-major
// layouts a descriptor describes (an emulator of the tensor core's reads against an
// emulator of the copy engine's writes, for every operand the kernel builds), and the
// m64nNk16 register fragments (the accumulators becoming P's A operand, the quad
// reductions of a row).
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "catch.h"
#include "templates/cuda/hopper_layout.h"

namespace {

using namespace attnjit::hopper;

// ---- descriptor decoding, as the ISA's bit table states the fields ----------------------
struct Decoded {
  unsigned start, leading, stride, base_offset, swizzle;
};
Decoded decode(unsigned long long d) {
  return {static_cast<unsigned>(d & 0x3FFF) << 4, static_cast<unsigned>((d >> 16) & 0x3FFF) << 4,
          static_cast<unsigned>((d >> 32) & 0x3FFF) << 4, static_cast<unsigned>((d >> 49) & 0x7),
          static_cast<unsigned>(d >> 62)};
}

// The tensor core's 128-byte swizzle on an absolute shared-memory address (Swizzle<3,4,3>:
// address bits [4, 7) XOR bits [7, 10)), written as bit operations, independently of
// swizzle128().
unsigned hardware_swizzle(unsigned address) { return address ^ (((address >> 7) & 7u) << 4); }

constexpr int kElemBytes = 2;  // bf16 / fp16

// Where a wgmma reads element (mn, k) (k < 16) of an operand through descriptor `d`, by
// the PTX ISA's canonical layouts for 128-byte swizzling (T = 8 16-bit elements):
//   K-major:  ((8,m),(T,2k)):((8T,SBO),(1,T))
//   MN-major: ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO))
unsigned read_address(unsigned long long d, bool mn_major, int mn, int k) {
  const Decoded f = decode(d);
  REQUIRE(f.swizzle == kSwizzle128B);
  REQUIRE(f.base_offset == 0);
  constexpr int T = 8;
  unsigned elements;
  if (!mn_major) {
    elements = (mn % 8) * 8 * T + (mn / 8) * (f.stride / kElemBytes) + k;  // k % T + T * (k / T)
  } else {
    elements = mn % T + T * ((mn / T) % 8) + (mn / 64) * (f.leading / kElemBytes) + (k % 8) * 8 * T +
               (k / 8) * (f.stride / kElemBytes);
  }
  return hardware_swizzle(f.start + elements * kElemBytes);
}

// Where the copy engine writes element (row, col) of a [rows, cols] 16-bit tile stored as
// cols / 64 boxes of rows x 128 bytes with the 128-byte swizzle, from a 1024-byte aligned
// `tile`.
unsigned written_address(unsigned tile, int rows, int row, int col) {
  const unsigned block = tile + (col / 64) * rows * 128;
  return block + swizzle128(row * 128 + (col % 64) * kElemBytes);
}

}  // namespace

TEST_CASE("the 128-byte swizzle moves 16-byte chunks as the ISA's table shows", "[hopper][layout]") {
  // Row r of an 8-row atom stores logical chunk c at position table[r][c] (the CUDA
  // programming guide's TMA swizzle figure for CU_TENSOR_MAP_SWIZZLE_128B).
  const int table[8][8] = {{0, 1, 2, 3, 4, 5, 6, 7}, {1, 0, 3, 2, 5, 4, 7, 6}, {2, 3, 0, 1, 6, 7, 4, 5},
                           {3, 2, 1, 0, 7, 6, 5, 4}, {4, 5, 6, 7, 0, 1, 2, 3}, {5, 4, 7, 6, 1, 0, 3, 2},
                           {6, 7, 4, 5, 2, 3, 0, 1}, {7, 6, 5, 4, 3, 2, 1, 0}};
  for (int atom = 0; atom < 3; ++atom)
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c)
        for (int byte : {0, 5, 15}) {
          const unsigned logical = atom * 1024 + r * 128 + c * 16 + byte;
          const unsigned expected = atom * 1024 + r * 128 + table[r][c] * 16 + byte;
          INFO("atom " << atom << " row " << r << " chunk " << c << " byte " << byte);
          CHECK(swizzle128(logical) == expected);
        }
  // A permutation of each atom's bytes.
  std::set<unsigned> seen;
  for (unsigned b = 0; b < kSwizzleAtomBytes; ++b) seen.insert(swizzle128(b));
  CHECK(seen.size() == kSwizzleAtomBytes);
  CHECK(*seen.rbegin() == kSwizzleAtomBytes - 1);
}

TEST_CASE("matrix descriptors pack the ISA's bit fields", "[hopper][layout]") {
  // The ISA's MN-major, no-swizzle bf16 example: LBO 128 elements, SBO 64 elements,
  // encoded as 16 and 8.
  const unsigned long long example = matrix_descriptor(0x2400, 128 * 2, 64 * 2, kSwizzleNone);
  CHECK((example & 0x3FFF) == (0x2400 >> 4));
  CHECK(((example >> 16) & 0x3FFF) == 16);
  CHECK(((example >> 32) & 0x3FFF) == 8);
  CHECK((example >> 62) == 0);
  // Unused bits stay clear: 14-15, 30-31, 46-48 (and the base offset, 49-51, is 0).
  const unsigned long long unused = (3ULL << 14) | (3ULL << 30) | (0x3FULL << 46) | (0x3FFULL << 52);
  CHECK((matrix_descriptor(0x3FFF0, 0x3FFF0, 0x3FFF0, kSwizzle32B) & unused) == 0);
  // Each field keeps address bits 4-17 only: (x & 0x3FFFF) >> 4.
  CHECK((matrix_descriptor(0x40010, 0, 0, kSwizzleNone) & 0x3FFF) == 1);
  CHECK((matrix_descriptor(0x1000F, 0, 0, kSwizzleNone) & 0x3FFF) == 0x1000);  // the low 4 bits dropped
  // The swizzle codes: 1 = 128 bytes, 2 = 64, 3 = 32, in bits 62-63.
  CHECK(matrix_descriptor(0, 0, 0, kSwizzle128B) >> 62 == 1);
  CHECK(matrix_descriptor(0, 0, 0, kSwizzle64B) >> 62 == 2);
  CHECK(matrix_descriptor(0, 0, 0, kSwizzle32B) >> 62 == 3);

  // The kernel's two operand forms.
  const Decoded k = decode(kmajor_sw128_descriptor(0x8420));
  CHECK(k.start == 0x8420);
  CHECK(k.leading == 16);  // unused with swizzling: "assumed 1"
  CHECK(k.stride == 1024);  // 8 rows of 128 bytes
  CHECK(k.swizzle == kSwizzle128B);
  const Decoded mn = decode(mnmajor_sw128_descriptor(0x9000, 128 * 128));
  CHECK(mn.start == 0x9000);
  CHECK(mn.leading == 128 * 128);
  CHECK(mn.stride == 1024);
  CHECK(mn.swizzle == kSwizzle128B);
}

TEST_CASE("the kernel's operand descriptors read what the copies wrote", "[hopper][layout]") {
  // The emulators above disagree for a wrong stride, leading offset, k-step offset or
  // column block: e.g. an SBO of 512 or a k-step of 16 bytes fails here.
  const unsigned base = 3 * 1024;  // any 1024-byte aligned tile
  for (int head_dim : {64, 128, 256}) {
    const int block_m = 128;
    for (int block_n : {64, 128}) {
      INFO("head_dim " << head_dim << " BLOCK_N " << block_n);
      // S = Q K^T: Q (A) rows of each 64-row warpgroup, K (B) rows = keys, both K-major.
      for (int step = 0; step < head_dim / 16; ++step) {
        for (int wg = 0; wg < 2; ++wg) {
          const unsigned long long q = kmajor_sw128_descriptor(kmajor_step_address(base, block_m, 64 * wg, step));
          for (int m = 0; m < 64; ++m)
            for (int k = 0; k < 16; ++k)
              REQUIRE(read_address(q, false, m, k) == written_address(base, block_m, 64 * wg + m, 16 * step + k));
        }
        const unsigned long long kd = kmajor_sw128_descriptor(kmajor_step_address(base, block_n, 0, step));
        for (int n = 0; n < block_n; ++n)
          for (int k = 0; k < 16; ++k)
            REQUIRE(read_address(kd, false, n, k) == written_address(base, block_n, n, 16 * step + k));
      }
      // O += P V: V (B) with k = key (rows of the tile), n = head dim, MN-major.
      for (int step = 0; step < block_n / 16; ++step) {
        const unsigned long long v = mnmajor_sw128_descriptor(mnmajor_step_address(base, step),
                                                              column_block_bytes(block_n));
        for (int n = 0; n < head_dim; ++n)
          for (int k = 0; k < 16; ++k)
            REQUIRE(read_address(v, true, n, k) == written_address(base, block_n, 16 * step + k, n));
      }
    }
  }
  // And they fail for a wrong choice: the atom pitch halved.
  const unsigned long long wrong = matrix_descriptor(base, 16, 512, kSwizzle128B);
  CHECK(read_address(wrong, false, 8, 0) != written_address(base, 64, 8, 0));
}

TEST_CASE("wgmma accumulators: every element once, rows within a quad, as the ISA's figure",
          "[hopper][layout]") {
  // Spot values of the PTX ISA's m64nNk16 D fragment figure: T0 holds d0, d1 of row 0 and
  // d2, d3 of row 8; T1 columns 2, 3; T4 row 1; warp 1 (T32) starts at row 16; d4 moves 8
  // columns right.
  CHECK(accumulator_row(0, 0) == 0);
  CHECK(accumulator_col(0, 1) == 1);
  CHECK(accumulator_row(0, 2) == 8);
  CHECK(accumulator_col(0, 3) == 1);
  CHECK(accumulator_col(1, 0) == 2);
  CHECK(accumulator_row(4, 0) == 1);
  CHECK(accumulator_row(32, 0) == 16);
  CHECK(accumulator_col(0, 4) == 8);
  CHECK(accumulator_row(127, 3) == 63);
  for (int n : {64, 128, 256}) {
    std::map<std::pair<int, int>, int> holders;
    std::map<int, std::set<int>> threads_of_row;
    for (int t = 0; t < kWarpgroupThreads; ++t)
      for (int i = 0; i < n / 2; ++i) {
        const int row = accumulator_row(t, i), col = accumulator_col(t, i);
        REQUIRE(row >= 0);
        REQUIRE(row < kWarpgroupRows);
        REQUIRE(col >= 0);
        REQUIRE(col < n);
        ++holders[{row, col}];
        threads_of_row[row].insert(t);
      }
    CHECK(holders.size() == static_cast<size_t>(64 * n));
    CHECK(std::all_of(holders.begin(), holders.end(), [](const auto& h) { return h.second == 1; }));
    // The threads holding a row are the four lanes of one quad: the softmax reduces a
    // row with xor-shuffles over lanes 1 and 2.
    for (const auto& [row, threads] : threads_of_row) {
      INFO("row " << row);
      REQUIRE(threads.size() == 4);
      CHECK(*threads.begin() % 4 == 0);
      CHECK(*threads.rbegin() == *threads.begin() + 3);
    }
  }
}

TEST_CASE("an emulated warpgroup: S's accumulators become P's A operand, row maxima by quads",
          "[hopper][layout]") {
  constexpr int kN = 128;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-4.f, 4.f);
  float s[64][kN];
  for (auto& row : s)
    for (float& x : row) x = u(rng);
  // Distribute S over the warpgroup's accumulators as wgmma leaves it.
  std::vector<std::vector<float>> acc(kWarpgroupThreads, std::vector<float>(kN / 2));
  for (int t = 0; t < kWarpgroupThreads; ++t)
    for (int i = 0; i < kN / 2; ++i) acc[t][i] = s[accumulator_row(t, i)][accumulator_col(t, i)];

  // P's A operand of each k-step, gathered back through the A fragment layout, is the
  // k-step's 16 columns of S.
  for (int step = 0; step < kN / 16; ++step)
    for (int t = 0; t < kWarpgroupThreads; ++t)
      for (int e = 0; e < 8; ++e) {
        const float a = acc[t][accumulator_of_a_element(step, e)];
        REQUIRE(a == s[a_fragment_row(t, e)][16 * step + a_fragment_col(t, e)]);
      }

  // A row's max: each thread's own values of the row, then xor-shuffles over lanes 1
  // and 2 (the kernel's quad_max).
  for (int half = 0; half < 2; ++half) {
    std::vector<float> partial(kWarpgroupThreads);
    for (int t = 0; t < kWarpgroupThreads; ++t) {
      float m = -1e30f;
      for (int i = 2 * half; i < kN / 2; i += 4) m = std::max({m, acc[t][i], acc[t][i + 1]});
      partial[t] = m;
    }
    for (int mask : {1, 2}) {
      std::vector<float> next(kWarpgroupThreads);
      for (int t = 0; t < kWarpgroupThreads; ++t) next[t] = std::max(partial[t], partial[t ^ mask]);
      partial = next;
    }
    for (int t = 0; t < kWarpgroupThreads; ++t) {
      const int row = accumulator_row(t, 2 * half);
      REQUIRE(partial[t] == *std::max_element(s[row], s[row] + kN));
    }
  }
}
