// Hopper (sm_90a) layout arithmetic: where the tensor-memory copy puts a tile's bytes in
// shared memory (128-byte swizzle), how a wgmma shared-memory matrix descriptor is
// packed, and which thread of a warpgroup holds which element of a wgmma register
// fragment. Plain constexpr C++, shared verbatim by the host (tests, the launch code)
// and the generated device source, so the kernel and its tests use one statement of
// each rule. References: the PTX ISA's "Asynchronous Warpgroup Level Matrix" sections
// (register fragments, shared memory matrix layout, matrix descriptor format) and the
// CUDA programming guide's tensor-memory-access swizzle patterns.
#ifndef ATTNJIT_HOPPER_LAYOUT_H
#define ATTNJIT_HOPPER_LAYOUT_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define ATTNJIT_HOST_DEVICE __host__ __device__
#else
#define ATTNJIT_HOST_DEVICE
#endif

namespace attnjit {
namespace hopper {

// ---- 128-byte swizzle ---------------------------------------------------------------
// A tile copied with CU_TENSOR_MAP_SWIZZLE_128B is stored in rows of 128 bytes (the box's
// inner extent must be at most 128 bytes, so a wider row is copied as several boxes). In
// each group of 8 rows (1024 bytes, the swizzle atom), the 16-byte chunk c of row r lands
// in chunk c ^ r: address bits [4, 7) are XORed with bits [7, 10). The pattern is a
// function of the shared-memory address itself, so an atom must start on a 1024-byte
// boundary for a tile to be read back with descriptor base offset 0.
inline constexpr unsigned kSwizzleRowBytes = 128;
inline constexpr unsigned kSwizzleAtomRows = 8;
inline constexpr unsigned kSwizzleAtomBytes = kSwizzleRowBytes * kSwizzleAtomRows;  // 1024
inline constexpr unsigned kChunkBytes = 16;

// The byte offset (from a 1024-byte aligned base) where logical byte `offset` of a
// 128-byte-row tile is stored.
ATTNJIT_HOST_DEVICE constexpr unsigned swizzle128(unsigned offset) {
  return offset ^ (((offset / kSwizzleRowBytes) % kSwizzleAtomRows) * kChunkBytes);
}

// ---- wgmma shared-memory matrix descriptors -------------------------------------------
// 64 bits: start address, leading and stride dimension byte offsets (each encoded as
// (x & 0x3FFFF) >> 4 in 14 bits, at bits 0, 16 and 32), the base offset (bits 49-51; 0
// when swizzle atoms start on their natural boundary) and the swizzle mode (bits 62-63).
enum DescriptorSwizzle : unsigned { kSwizzleNone = 0, kSwizzle128B = 1, kSwizzle64B = 2, kSwizzle32B = 3 };

ATTNJIT_HOST_DEVICE constexpr unsigned long long descriptor_field(unsigned bytes) {
  return static_cast<unsigned long long>((bytes & 0x3FFFFu) >> 4);
}

ATTNJIT_HOST_DEVICE constexpr unsigned long long matrix_descriptor(unsigned start, unsigned leading_bytes,
                                                                   unsigned stride_bytes,
                                                                   DescriptorSwizzle swizzle) {
  return descriptor_field(start) | (descriptor_field(leading_bytes) << 16) |
         (descriptor_field(stride_bytes) << 32) | (static_cast<unsigned long long>(swizzle) << 62);
}

// The two operand layouts of the attention kernel, both as the 128-byte-swizzled copies
// leave them (rows of 64 16-bit elements, 8-row atoms 1024 bytes apart):
//  - K-major (Q as A, K as B of S = Q K^T: the contraction index runs along a row).
//    Canonical layout Swizzle<3,4,3> o ((8,m),(T,2k)):((8T,SBO),(1,T)): the stride
//    byte offset is the atom pitch; the leading offset is unused with swizzling and
//    set to 1 (16 bytes) as the ISA assumes. A k-step of 16 elements starts 32 bytes
//    further along the row.
//  - MN-major (V as B of O += P V: the contraction index, the key, runs down the rows;
//    n, the head dim, along them). Canonical layout ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)):
//    SBO steps 8 keys (the atom pitch), LBO steps 64 head dims (from one 64-column block
//    of the tile to the next).
ATTNJIT_HOST_DEVICE constexpr unsigned long long kmajor_sw128_descriptor(unsigned start) {
  return matrix_descriptor(start, kChunkBytes, kSwizzleAtomBytes, kSwizzle128B);
}
ATTNJIT_HOST_DEVICE constexpr unsigned long long mnmajor_sw128_descriptor(unsigned start,
                                                                          unsigned column_block_bytes) {
  return matrix_descriptor(start, column_block_bytes, kSwizzleAtomBytes, kSwizzle128B);
}

// A [rows, head_dim] tile of 16-bit elements is stored as head_dim / 64 column blocks,
// each `rows` swizzled rows of 128 bytes (one copy box each).
inline constexpr int kBlockColumns = kSwizzleRowBytes / 2;  // 16-bit elements per swizzled row
ATTNJIT_HOST_DEVICE constexpr unsigned column_block_bytes(int rows) { return rows * kSwizzleRowBytes; }
// Where the K-major operand of k-step `step` (columns [16 step, 16 step + 16)) starts
// for the tile's rows from `row0` on (a multiple of 8).
ATTNJIT_HOST_DEVICE constexpr unsigned kmajor_step_address(unsigned tile, int rows, int row0, int step) {
  return tile + (step / 4) * column_block_bytes(rows) + row0 * kSwizzleRowBytes + (step % 4) * 32;
}
// Where the MN-major operand of k-step `step` (rows [16 step, 16 step + 16)) starts.
ATTNJIT_HOST_DEVICE constexpr unsigned mnmajor_step_address(unsigned tile, int step) {
  return tile + step * 16 * kSwizzleRowBytes;
}

// ---- wgmma register fragments (m64nNk16, 16-bit inputs, f32 accumulators) ---------------
// A warpgroup is 128 threads, 4 warps; warp w of it owns rows [16 w, 16 w + 16). Within a
// warp the layout is mma.sync's m16n8 one repeated along n:
//  - accumulator value i (of N / 2) of thread t: row 16 w + lane / 4 + 8 ((i / 2) % 2),
//    column 8 (i / 4) + 2 (lane % 4) + i % 2;
//  - A operand element e (of 8, two per 32-bit register, low half first) of thread t:
//    row 16 w + lane / 4 + 8 ((e / 2) % 2), column 8 (e / 4) + 2 (lane % 4) + e % 2.
// So the accumulators of columns [16 s, 16 s + 16) (values 8 s ... 8 s + 7), packed in
// pairs, are exactly the A operand of k-step s: P stays in registers for O += P V.
// Each row is held by the four lanes of one quad (lane / 4 equal).
inline constexpr int kWarpgroupThreads = 128;
inline constexpr int kWarpgroupRows = 64;

ATTNJIT_HOST_DEVICE constexpr int accumulator_row(int thread, int i) {
  return 16 * ((thread % kWarpgroupThreads) / 32) + (thread % 32) / 4 + 8 * ((i / 2) % 2);
}
ATTNJIT_HOST_DEVICE constexpr int accumulator_col(int thread, int i) {
  return 8 * (i / 4) + 2 * (thread % 4) + i % 2;
}
ATTNJIT_HOST_DEVICE constexpr int a_fragment_row(int thread, int e) {
  return 16 * ((thread % kWarpgroupThreads) / 32) + (thread % 32) / 4 + 8 * ((e / 2) % 2);
}
ATTNJIT_HOST_DEVICE constexpr int a_fragment_col(int thread, int e) {
  return 8 * (e / 4) + 2 * (thread % 4) + e % 2;
}
// The accumulator value that is element e of the A operand of k-step `step`.
ATTNJIT_HOST_DEVICE constexpr int accumulator_of_a_element(int step, int e) { return 8 * step + e; }

}  // namespace hopper
}  // namespace attnjit

#endif
