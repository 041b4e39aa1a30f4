// Merge kind: out = sum_i e^{lse_i - M} o_i / (sum_i e^{lse_i - M} [+ e^{sink - M}]),
// lse = M + log(that denominator). One warp per (row, head); each lane holds pairs of
// the head dimension. Codegen defines kHeadDim, PartStorage / PartElem / kPartIsF32,
// OutputStorage / OutElem (its store_pair writes two values), kHasSinks, kWarps and ATTNJIT_ENTRY.

namespace attnjit {

__device__ __forceinline__ float2 load_pair(const PartStorage* p) {
  if constexpr (kPartIsF32) {
    return *reinterpret_cast<const float2*>(p);
  } else {
    const u32 bits = *reinterpret_cast<const u32*>(p);
    return make_float2(PartElem::to_float(static_cast<u16>(bits & 0xFFFFu)),
                       PartElem::to_float(static_cast<u16>(bits >> 16)));
  }
}


}  // namespace attnjit

extern "C" __global__ void __launch_bounds__(kWarps * 32) ATTNJIT_ENTRY(const AttnjitMergeParams p) {
  using namespace attnjit;
  const int item = blockIdx.x * kWarps + threadIdx.x / 32;  // (row, head) pair
  const int lane = threadIdx.x % 32;
  if (item >= p.rows * p.heads) return;
  const int row = item / p.heads;
  const int head = item % p.heads;

  float top = neg_inf();
  for (int i = 0; i < p.num_parts; ++i)
    top = fmaxf(top, p.lse_parts[i][row * p.part_lse_row_stride + head * p.part_lse_head_stride]);
  const float sink = kHasSinks ? p.sinks[head] : neg_inf();
  top = fmaxf(top, sink);
  const float shift = top == neg_inf() ? 0.f : top;  // every part empty: weights all 0

  float acc[(kHeadDim + 63) / 64][2] = {};
  float total = kHasSinks ? expf(sink - shift) : 0.f;
  for (int i = 0; i < p.num_parts; ++i) {
    const float lse = p.lse_parts[i][row * p.part_lse_row_stride + head * p.part_lse_head_stride];
    const float w = expf(lse - shift);
    total += w;
    if (w == 0.f) continue;
    const PartStorage* o = static_cast<const PartStorage*>(p.o_parts[i]) +
                           row * p.part_row_stride + head * p.part_head_stride;
#pragma unroll
    for (int c = 0; c < (kHeadDim + 63) / 64; ++c) {
      const int d = c * 64 + lane * 2;
      if (d < kHeadDim) {
        const float2 v = load_pair(o + d);
        acc[c][0] += w * v.x;
        acc[c][1] += w * v.y;
      }
    }
  }
  const float scale = total > 0.f ? p.out_multiplier / total : 0.f;
  OutputStorage* out = static_cast<OutputStorage*>(p.out) + row * p.o_row_stride + head * p.o_head_stride;
#pragma unroll
  for (int c = 0; c < (kHeadDim + 63) / 64; ++c) {
    const int d = c * 64 + lane * 2;
    if (d < kHeadDim) OutElem::store_pair(out + d, acc[c][0] * scale, acc[c][1] * scale);
  }
  if (p.lse != nullptr && lane == 0)
    p.lse[row * p.lse_row_stride + head * p.lse_head_stride] =
        total > 0.f ? shift + logf(total) : neg_inf();
}
