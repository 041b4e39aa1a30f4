// The MFMA fragment layouts of the HIP vocabulary (templates/hip/mfma_layouts.h), on the
// CPU. An instruction is emulated from AMD's own register tables (the Matrix Instruction
// Calculator's, tests/amd/mfma_layout_tables.inc): registers in, matrices out, D = A B + C,
// registers back. The vocabulary's index functions are checked entry by entry against
// those tables, and then drive the emulator the way the kernels do: a GEMM per shape,
// and the MFMA main loop's attention tile (S^T = K Q^T, the row max and sum over a lane
// and its row partner, P kept in the accumulators as the B operand of O^T = V^T P^T)
// against a reference softmax(Q K^T) V, also with the per-token K and V scales of the
// paged kind's 8-bit caches. Nothing here runs on an AMD GPU: this proves the
// index functions agree with AMD's documented layouts, not that the hardware does.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "catch.h"
#include "templates/hip/mfma_layouts.h"
#include "tests/amd/mfma_layout_tables.inc"

namespace {

namespace mfma = attnjit::mfma;
namespace tables = attnjit::testing::amd_tables;

constexpr int kLanes = 64;

// One MFMA shape as the hardware lays it out (AMD's tables) and its sizes.
template <int kAElems, int kCElems>
struct HardwareLayout {
  int m, n, k;
  const int (*a)[kAElems][2];  // [lane][element] = {row, k}
  const int (*b)[kAElems][2];  // {k, column}
  const int (*d)[kCElems][2];  // {row, column}
};
const HardwareLayout<4, 16> k32x32x8{32, 32, 8, tables::k32x32x8_A, tables::k32x32x8_B, tables::k32x32x8_D};
const HardwareLayout<4, 4> k16x16x16{16, 16, 16, tables::k16x16x16_A, tables::k16x16x16_B, tables::k16x16x16_D};

// Registers of a wave: per lane, the operand elements of A and B and the accumulators.
template <int kAElems, int kCElems>
struct Registers {
  float a[kLanes][kAElems] = {};
  float b[kLanes][kAElems] = {};
  float c[kLanes][kCElems] = {};
};

// The emulated instruction: reads A, B and C out of the registers by AMD's tables
// (checking that every matrix entry is held exactly once), and writes D = A B + C back
// into the accumulators.
template <int kAElems, int kCElems>
void emulate(const HardwareLayout<kAElems, kCElems>& hw, Registers<kAElems, kCElems>& r) {
  std::vector<double> A(hw.m * hw.k), B(hw.k * hw.n), C(hw.m * hw.n);
  std::vector<int> seen_a(A.size()), seen_b(B.size()), seen_c(C.size());
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int e = 0; e < kAElems; ++e) {
      const int ai = hw.a[lane][e][0] * hw.k + hw.a[lane][e][1];
      const int bi = hw.b[lane][e][0] * hw.n + hw.b[lane][e][1];
      A[ai] = r.a[lane][e], ++seen_a[ai];
      B[bi] = r.b[lane][e], ++seen_b[bi];
    }
    for (int e = 0; e < kCElems; ++e) {
      const int ci = hw.d[lane][e][0] * hw.n + hw.d[lane][e][1];
      C[ci] = r.c[lane][e], ++seen_c[ci];
    }
  }
  for (const auto* seen : {&seen_a, &seen_b, &seen_c})
    REQUIRE(std::all_of(seen->begin(), seen->end(), [](int n) { return n == 1; }));
  for (int lane = 0; lane < kLanes; ++lane)
    for (int e = 0; e < kCElems; ++e) {
      const int i = hw.d[lane][e][0], j = hw.d[lane][e][1];
      double sum = C[i * hw.n + j];
      for (int kk = 0; kk < hw.k; ++kk) sum += A[i * hw.k + kk] * B[kk * hw.n + j];
      r.c[lane][e] = static_cast<float>(sum);
    }
}

template <typename Shape, int kAElems, int kCElems>
void check_against_tables(const HardwareLayout<kAElems, kCElems>& hw) {
  static_assert(Shape::kOperandElems == kAElems && Shape::kAccumulators == kCElems);
  CHECK(Shape::kM == hw.m);
  CHECK(Shape::kN == hw.n);
  CHECK(Shape::kK == hw.k);
  for (int lane = 0; lane < kLanes; ++lane) {
    INFO("lane " << lane);
    for (int e = 0; e < kAElems; ++e) {
      INFO("operand element " << e);
      CHECK(Shape::a_row(lane, e) == hw.a[lane][e][0]);
      CHECK(Shape::a_k(lane, e) == hw.a[lane][e][1]);
      CHECK(Shape::b_k(lane, e) == hw.b[lane][e][0]);
      CHECK(Shape::b_col(lane, e) == hw.b[lane][e][1]);
    }
    for (int e = 0; e < kCElems; ++e) {
      INFO("accumulator " << e);
      CHECK(Shape::c_row(lane, e) == hw.d[lane][e][0]);
      CHECK(Shape::c_col(lane, e) == hw.d[lane][e][1]);
    }
  }
}

// A GEMM of one instruction through the vocabulary's index functions: operands placed
// by them, the result read back by them.
template <typename Shape, int kAElems, int kCElems>
void check_gemm(const HardwareLayout<kAElems, kCElems>& hw) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> small(-8, 8);  // products and sums exact in f32
  std::vector<float> A(Shape::kM * Shape::kK), B(Shape::kK * Shape::kN), C(Shape::kM * Shape::kN);
  for (float& x : A) x = static_cast<float>(small(rng));
  for (float& x : B) x = static_cast<float>(small(rng));
  for (float& x : C) x = static_cast<float>(small(rng));
  Registers<kAElems, kCElems> r;
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int e = 0; e < kAElems; ++e) {
      r.a[lane][e] = A[Shape::a_row(lane, e) * Shape::kK + Shape::a_k(lane, e)];
      r.b[lane][e] = B[Shape::b_k(lane, e) * Shape::kN + Shape::b_col(lane, e)];
    }
    for (int e = 0; e < kCElems; ++e) r.c[lane][e] = C[Shape::c_row(lane, e) * Shape::kN + Shape::c_col(lane, e)];
  }
  emulate(hw, r);
  int nonzero = 0;
  for (int lane = 0; lane < kLanes; ++lane)
    for (int e = 0; e < kCElems; ++e) {
      const int i = Shape::c_row(lane, e), j = Shape::c_col(lane, e);
      float want = C[i * Shape::kN + j];
      for (int kk = 0; kk < Shape::kK; ++kk) want += A[i * Shape::kK + kk] * B[kk * Shape::kN + j];
      CHECK(r.c[lane][e] == want);
      nonzero += want != 0.f;
    }
  CHECK(nonzero > kLanes);  // not a trivially zero product
}

}  // namespace

TEST_CASE("MFMA index functions match AMD's register tables", "[hip][mfma]") {
  check_against_tables<mfma::Shape32x32x8>(k32x32x8);
  check_against_tables<mfma::Shape16x16x16>(k16x16x16);
}

TEST_CASE("an MFMA emulated from AMD's tables multiplies operands placed by the index functions",
          "[hip][mfma]") {
  check_gemm<mfma::Shape32x32x8>(k32x32x8);
  check_gemm<mfma::Shape16x16x16>(k16x16x16);
}

namespace {

// The MFMA main loop's data flow for one wave's tile: 32 query rows (one wave), 64 keys
// (two 32-key blocks), head_dim 64 (two 32-dim blocks), against softmax(Q K^T) V. With
// per-token scales (the paged kind's 8-bit caches: K and V hold codes, each key has its
// own K and V scale), each score is multiplied by the K scale of the key
// key_of_accumulator() names, and each P element, as the B operand of O^T, by the V scale
// of the key v_key_of_lane() names, as attention_core_mfma.cuh does: the reference
// multiplies the keys' rows instead.
void check_attention_tile(bool per_token_scales) {
  constexpr int kQ = 32, kKeys = 64, kDim = 64;
  using S = mfma::AttentionShape;
  std::mt19937 rng(per_token_scales ? 7 : 5);
  std::uniform_int_distribution<int> small(-4, 4);
  std::uniform_int_distribution<int> eighths(1, 16);
  std::vector<float> q(kQ * kDim), k(kKeys * kDim), v(kKeys * kDim), k_scale(kKeys, 1.f), v_scale(kKeys, 1.f);
  for (float& x : q) x = static_cast<float>(small(rng)) * 0.25f;  // exact in bf16
  for (float& x : k) x = static_cast<float>(small(rng)) * 0.25f;
  for (float& x : v) x = static_cast<float>(small(rng));
  if (per_token_scales) {  // distinct per key, so a key read through the wrong index shows
    for (float& x : k_scale) x = static_cast<float>(eighths(rng)) * 0.125f;
    for (float& x : v_scale) x = static_cast<float>(eighths(rng)) * 0.125f;
  }
  const float scale = 0.5f;

  // S^T = K Q^T per 32-key block, k-step by k-step over the head dims.
  Registers<4, 16> s[kKeys / 32];
  for (int kb = 0; kb < kKeys / 32; ++kb) {
    for (int step = 0; step < kDim / 8; ++step) {
      for (int lane = 0; lane < kLanes; ++lane)
        for (int e = 0; e < 4; ++e) {
          s[kb].a[lane][e] = k[(kb * 32 + mfma::k_row_of_lane(lane)) * kDim + mfma::k_dim_of_lane(lane, step) + e];
          s[kb].b[lane][e] = q[mfma::q_row_of_lane(lane) * kDim + mfma::q_dim_of_lane(lane, step) + e];
        }
      emulate(k32x32x8, s[kb]);
    }
  }
  // Every score is where key_of_accumulator / query_of_lane say, and exact.
  std::vector<float> ref_s(kQ * kKeys);
  for (int i = 0; i < kQ; ++i)
    for (int j = 0; j < kKeys; ++j) {
      float dot = 0.f;
      for (int d = 0; d < kDim; ++d) dot += q[i * kDim + d] * k[j * kDim + d];
      ref_s[i * kKeys + j] = dot;
    }
  for (int kb = 0; kb < kKeys / 32; ++kb)
    for (int lane = 0; lane < kLanes; ++lane)
      for (int e = 0; e < S::kAccumulators; ++e)
        REQUIRE(s[kb].c[lane][e] ==
                ref_s[mfma::query_of_lane(lane) * kKeys + kb * 32 + mfma::key_of_accumulator(lane, e)]);
  // Per-token K scales multiply score columns, each accumulator by its own key's; the
  // reference's scores are those of the scaled keys.
  for (int kb = 0; kb < kKeys / 32; ++kb)
    for (int lane = 0; lane < kLanes; ++lane)
      for (int e = 0; e < S::kAccumulators; ++e) s[kb].c[lane][e] *= k_scale[kb * 32 + mfma::key_of_accumulator(lane, e)];
  for (int i = 0; i < kQ; ++i)
    for (int j = 0; j < kKeys; ++j) ref_s[i * kKeys + j] *= k_scale[j];

  // The row max: over the lane's accumulators, then with its row partner (the
  // vocabulary's row_max exchanges with row_partner_lane). Every lane ends with its
  // row's max over all keys.
  float partial[kLanes];
  for (int lane = 0; lane < kLanes; ++lane) {
    partial[lane] = -INFINITY;
    for (int kb = 0; kb < kKeys / 32; ++kb)
      for (int e = 0; e < S::kAccumulators; ++e) partial[lane] = std::max(partial[lane], s[kb].c[lane][e]);
  }
  float row_max[kLanes];
  for (int lane = 0; lane < kLanes; ++lane)
    row_max[lane] = std::max(partial[lane], partial[mfma::row_partner_lane(lane)]);
  for (int lane = 0; lane < kLanes; ++lane) {
    const int i = mfma::query_of_lane(lane);
    CHECK(row_max[lane] == *std::max_element(&ref_s[i * kKeys], &ref_s[i * kKeys] + kKeys));
    CHECK(mfma::row_partner_lane(mfma::row_partner_lane(lane)) == lane);
    CHECK(mfma::query_of_lane(mfma::row_partner_lane(lane)) == i);
  }

  // P in place, and the row sums the same way.
  float sum_partial[kLanes] = {};
  for (int kb = 0; kb < kKeys / 32; ++kb)
    for (int lane = 0; lane < kLanes; ++lane)
      for (int e = 0; e < S::kAccumulators; ++e) {
        float& p = s[kb].c[lane][e];
        p = std::exp2((p - row_max[lane]) * scale);
        sum_partial[lane] += p;
      }

  // O^T = V^T P^T: the B operand of k-step `step` of key block kb is the accumulators
  // p_accumulator(step, e) of the scores, read in place (times the V scale of their key,
  // v_key_of_lane(), with per-token scales).
  Registers<4, 16> o[kDim / 32];
  for (int db = 0; db < kDim / 32; ++db)
    for (int kb = 0; kb < kKeys / 32; ++kb)
      for (int step = 0; step < 4; ++step) {
        for (int lane = 0; lane < kLanes; ++lane)
          for (int e = 0; e < 4; ++e) {
            o[db].a[lane][e] = v[(kb * 32 + mfma::v_key_of_lane(lane, step, e)) * kDim + db * 32 + mfma::v_dim_of_lane(lane)];
            o[db].b[lane][e] = s[kb].c[lane][mfma::p_accumulator(step, e)] *
                               v_scale[kb * 32 + mfma::v_key_of_lane(lane, step, e)];
          }
        emulate(k32x32x8, o[db]);
      }
  for (int lane = 0; lane < kLanes; ++lane) {
    const int i = mfma::query_of_lane(lane);
    const float row_sum = sum_partial[lane] + sum_partial[mfma::row_partner_lane(lane)];
    for (int db = 0; db < kDim / 32; ++db)
      for (int e = 0; e < S::kAccumulators; ++e) {
        const int d = db * 32 + mfma::dim_of_accumulator(lane, e);
        double want = 0, total = 0;
        for (int j = 0; j < kKeys; ++j) {
          const double p = std::exp2((ref_s[i * kKeys + j] - row_max[lane]) * scale);
          want += p * v[j * kDim + d] * v_scale[j];
          total += p;
        }
        INFO("lane " << lane << ", dim " << d);
        CHECK(o[db].c[lane][e] / row_sum == Approx(want / total).margin(1e-5));
      }
  }
  // The epilogue hands out pairs of adjacent dims: accumulators 2 m and 2 m + 1.
  for (int lane = 0; lane < kLanes; ++lane)
    for (int e = 0; e < S::kAccumulators; e += 2)
      CHECK(mfma::dim_of_accumulator(lane, e + 1) == mfma::dim_of_accumulator(lane, e) + 1);
}

}  // namespace

TEST_CASE("the MFMA main loop's attention tile: S^T, row reductions, P as the B operand, O^T",
          "[hip][mfma]") {
  check_attention_tile(false);
}

TEST_CASE("the MFMA main loop's attention tile with per-token K and V scales (paged 8-bit caches)",
          "[hip][mfma]") {
  check_attention_tile(true);
}
