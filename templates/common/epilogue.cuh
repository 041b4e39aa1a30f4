// Epilogues: where finished output rows go, for every main loop. A main loop hands
// over a row as `pairs`, a callable that calls fn(dim, a, b) for each pair of adjacent
// head dims (dim, dim + 1) of the row that the calling thread holds (accumulated
// values), and the row's out_scale (RowNormalization, online_softmax.cuh).

namespace attnjit {

// Straight to the output row: each pair encoded as stored (f32, or fp8 quantized with
// saturation by OutElem).
template <typename Pairs>
__device__ __forceinline__ void write_output_row(OutputStorage* out, float out_scale, Pairs pairs) {
  pairs([&](int dim, float a, float b) { OutElem::store_pair(out + dim, a * out_scale, b * out_scale); });
}

// A piece of a split KV range: f32, normalized by the piece's own sum (a merge
// completes the row with the pieces' LSEs).
template <typename Pairs>
__device__ __forceinline__ void write_partial_row(float* out, float out_scale, Pairs pairs) {
  pairs([&](int dim, float a, float b) {
    *reinterpret_cast<float2*>(out + dim) = make_float2(a * out_scale, b * out_scale);
  });
}

// 16-bit output through shared memory, so global stores are 16 bytes wide: first every
// thread stages its pairs into a row of `kRowBytes`-byte staging rows (Writer packs
// two floats into the 16-bit output type), then, after the threads that share the
// staging rows have synchronized, copy_staged_rows() copies the valid rows out.
template <typename Writer, typename Pairs>
__device__ __forceinline__ void stage_output_row(unsigned char* row, float out_scale, Pairs pairs) {
  pairs([&](int dim, float a, float b) {
    *reinterpret_cast<u32*>(row + dim * 2) = Writer::pack2(a * out_scale, b * out_scale);
  });
}

// Copies staged rows [0, kRows) to block rows first_row + r (those below
// rows.rows_valid) in 16-byte chunks; `kThreads` threads share the copies, `thread`
// being the caller's index among them.
template <int kRows, int kRowBytes, int kThreads, typename Rows>
__device__ __forceinline__ void copy_staged_rows(const unsigned char* staging, const Rows& rows,
                                                 int first_row, int thread) {
  constexpr int kChunksPerRow = kHeadDim / 8;  // 16-byte chunks of a 16-bit row
#pragma unroll
  for (int chunk = thread; chunk < kRows * kChunksPerRow; chunk += kThreads) {
    const int row = chunk / kChunksPerRow;
    const int col = chunk % kChunksPerRow;
    if (first_row + row < rows.rows_valid)
      store16(rows.out_row(first_row + row) + col * 8, staging + row * kRowBytes + col * 16);
  }
}

}  // namespace attnjit
