// MFMA fragment layouts: which lane of a wave64 holds which element of A, B and C/D for
// each MFMA shape the kernels use, as plain constexpr functions. The device code
// addresses its fragments with them, and tests/amd/test_mfma_layouts.cpp drives a CPU
// emulator of each instruction with them and compares every entry with the tables of
// AMD's Matrix Instruction Calculator (tests/amd/mfma_layout_tables.inc).
//
// Shapes (the same layouts on CDNA 2 and CDNA 3, for bf16 and fp16 operands):
//   k32x32x8:  v_mfma_f32_32x32x8bf16_1k, v_mfma_f32_32x32x8f16 (gfx90a);
//              v_mfma_f32_32x32x8_bf16, v_mfma_f32_32x32x8_f16 (gfx942)
//   k16x16x16: v_mfma_f32_16x16x16bf16_1k, v_mfma_f32_16x16x16f16 (gfx90a);
//              v_mfma_f32_16x16x16_bf16, v_mfma_f32_16x16x16_f16 (gfx942)
// D = A (M x K) * B (K x N) + C (M x N). A lane holds kOperandElems 16-bit values of A
// (two 32-bit registers, element e in half e of them) and as many of B, and
// kAccumulators f32 values of C and D. Element e of a lane is at
//   A[a_row(lane, e)][a_k(lane, e)], B[b_k(lane, e)][b_col(lane, e)],
//   C[c_row(lane, e)][c_col(lane, e)].

namespace attnjit {
namespace mfma {

inline constexpr int kWaveLanes = 64;

struct Shape32x32x8 {
  static constexpr int kM = 32, kN = 32, kK = 8;
  static constexpr int kOperandElems = 4;   // per lane, of A and of B
  static constexpr int kAccumulators = 16;  // per lane, of C / D
  // A: row = lane % 32; the two lane halves hold k 0-3 and 4-7.
  static constexpr int a_row(int lane, int) { return lane % 32; }
  static constexpr int a_k(int lane, int e) { return 4 * (lane / 32) + e; }
  // B mirrors A: column = lane % 32.
  static constexpr int b_k(int lane, int e) { return 4 * (lane / 32) + e; }
  static constexpr int b_col(int lane, int) { return lane % 32; }
  // C/D: column = lane % 32; accumulator e is row 8 (e / 4) + 4 (lane / 32) + e % 4, so
  // a lane holds four runs of four consecutive rows, the other lane half the runs between.
  static constexpr int c_row(int lane, int e) { return 8 * (e / 4) + 4 * (lane / 32) + e % 4; }
  static constexpr int c_col(int lane, int) { return lane % 32; }
};

struct Shape16x16x16 {
  static constexpr int kM = 16, kN = 16, kK = 16;
  static constexpr int kOperandElems = 4;
  static constexpr int kAccumulators = 4;
  // A: row = lane % 16; lane quarter q = lane / 16 holds k 4q to 4q + 3.
  static constexpr int a_row(int lane, int) { return lane % 16; }
  static constexpr int a_k(int lane, int e) { return 4 * (lane / 16) + e; }
  static constexpr int b_k(int lane, int e) { return 4 * (lane / 16) + e; }
  static constexpr int b_col(int lane, int) { return lane % 16; }
  // C/D: column = lane % 16; accumulator e is row 4 (lane / 16) + e.
  static constexpr int c_row(int lane, int e) { return 4 * (lane / 16) + e; }
  static constexpr int c_col(int lane, int) { return lane % 16; }
};

// ---- the attention main loop's use of k32x32x8 (attention_core_mfma.cuh) -------------
// Scores are computed transposed, S^T = K Q^T: M = 32 keys, N = 32 query rows, K = 8
// head dims per instruction. Then a query row is a C column: lane % 32 holds row
// lane % 32 of the wave's 32 query rows, and its 16 accumulators are 16 of the 32 keys;
// the other lane half (lane ^ 32) holds the other 16. A row's max or sum over the tile
// is a reduction over one lane's accumulators, then one exchange with lane ^ 32.
//
// The same accumulators are, unchanged, the B operands of O^T = V^T P^T (M = 32 head
// dims, N = 32 query rows, K = 8 keys per instruction): B element e of k-step s is
// key 8 s + 4 (lane / 32) + e, which is accumulator 4 s + e (c_row(lane, 4 s + e)). So P
// never leaves its registers between the two products.
using AttentionShape = Shape32x32x8;

// The query row (of the wave's 32) a lane's scores and outputs belong to.
constexpr int query_of_lane(int lane) { return lane % 32; }
// The key (of a 32-key block) of score accumulator e, and the head dim (of a 32-dim
// block) of output accumulator e: both are C rows.
constexpr int key_of_accumulator(int lane, int e) { return AttentionShape::c_row(lane, e); }
constexpr int dim_of_accumulator(int lane, int e) { return AttentionShape::c_row(lane, e); }
// The lane holding the rest of a lane's query row.
constexpr int row_partner_lane(int lane) { return lane ^ 32; }
// B element e of k-step s (keys 8 s to 8 s + 7 of a 32-key block) of O^T = V^T P^T is
// score accumulator p_accumulator(s, e).
constexpr int p_accumulator(int s, int e) { return 4 * s + e; }
// A operand of S^T: the key row and the head dims a lane reads from the K tile for
// k-step s (head dims 8 s to 8 s + 7): four consecutive dims, one 8-byte read.
constexpr int k_row_of_lane(int lane) { return AttentionShape::a_row(lane, 0); }
constexpr int k_dim_of_lane(int lane, int s) { return 8 * s + AttentionShape::a_k(lane, 0); }
// B operand of S^T (Q^T): the query row and its four consecutive head dims.
constexpr int q_row_of_lane(int lane) { return AttentionShape::b_col(lane, 0); }
constexpr int q_dim_of_lane(int lane, int s) { return 8 * s + AttentionShape::b_k(lane, 0); }
// A operand of O^T (V^T): element e of k-step s is V[key][dim], a V row per element.
constexpr int v_key_of_lane(int lane, int s, int e) { return 8 * s + AttentionShape::a_k(lane, e); }
constexpr int v_dim_of_lane(int lane) { return AttentionShape::a_row(lane, 0); }

}  // namespace mfma
}  // namespace attnjit
