// Merge kind: out = sum_i e^{lse_i - M} o_i / (sum_i e^{lse_i - M} [+ e^{sink - M}]),
// lse = M + log(that denominator). One warp per (row, head); each lane holds pairs of
// the head dimension. Codegen defines kHeadDim, PartStorage / PartElem / kPartIsF32,
// OutputStorage / OutElem (its store_pair writes two values), kHasSinks, kWarps,
// kWarpLanes (32 on NVIDIA, a 64-lane wavefront on AMD) and ATTNJIT_ENTRY.

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

extern "C" __global__ void __launch_bounds__(kWarps * kWarpLanes) ATTNJIT_ENTRY(const AttnjitMergeParams p) {
  using namespace attnjit;
  const int item = blockIdx.x * kWarps + threadIdx.x / kWarpLanes;  // (row, head) pair
  const int lane = threadIdx.x % kWarpLanes;
  if (item >= p.rows * p.heads) return;
  const int row = item / p.heads;
  const int head = item % p.heads;

  // The parts' LSEs load in parallel, lane i taking parts i, i + kWarpLanes, ..., and are reduced
  // across the warp: a loop over parts would wait one memory latency per part (tens of
  // microseconds at 64 parts, as long as the decode kernel it follows).
  constexpr int kPartsPerLane = (ATTNJIT_MAX_MERGE_PARTS + kWarpLanes - 1) / kWarpLanes;
  float lse[kPartsPerLane];
  float top = kHasSinks ? p.sinks[head] : neg_inf();
#pragma unroll
  for (int j = 0; j < kPartsPerLane; ++j) {
    const int i = lane + kWarpLanes * j;
    lse[j] = i < p.num_parts
                 ? p.lse_parts[i][row * p.part_lse_row_stride + head * p.part_lse_head_stride]
                 : neg_inf();
    top = fmaxf(top, lse[j]);
  }
  top = warp_max(top);
  const float shift = top == neg_inf() ? 0.f : top;  // every part empty: weights all 0
  float weight[kPartsPerLane];  // this lane's parts' weights (0 for an empty part)
  float total = 0.f;
#pragma unroll
  for (int j = 0; j < kPartsPerLane; ++j) total += weight[j] = expf(lse[j] - shift);
  total = warp_sum(total) + (kHasSinks ? expf(p.sinks[head] - shift) : 0.f);

  // Weighted sum of the parts' rows, four parts' loads in flight at a time.
  constexpr int kChunks = (kHeadDim + 2 * kWarpLanes - 1) / (2 * kWarpLanes);  // pairs per lane
  float acc[kChunks][2] = {};
  for (int i0 = 0; i0 < p.num_parts; i0 += 4) {
    float2 v[4][kChunks];
    float w[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int i = min(i0 + u, p.num_parts - 1);
      float mine = weight[0];  // the owner's register, chosen by selects (no local memory)
#pragma unroll
      for (int j = 1; j < kPartsPerLane; ++j)
        if ((i0 + u) / kWarpLanes == j) mine = weight[j];
      w[u] = shuffle_from(mine, (i0 + u) % kWarpLanes);
      if (i0 + u >= p.num_parts) w[u] = 0.f;
      const PartStorage* o = static_cast<const PartStorage*>(p.o_parts[i]) +
                             row * p.part_row_stride + head * p.part_head_stride;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int d = c * 2 * kWarpLanes + lane * 2;
        v[u][c] = d < kHeadDim ? load_pair(o + d) : make_float2(0.f, 0.f);
      }
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      if (w[u] == 0.f) continue;  // an empty part (its row may hold anything)
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        acc[c][0] += w[u] * v[u][c].x;
        acc[c][1] += w[u] * v[u][c].y;
      }
    }
  }
  const float scale = total > 0.f ? p.out_multiplier / total : 0.f;
  OutputStorage* out = static_cast<OutputStorage*>(p.out) + row * p.o_row_stride + head * p.o_head_stride;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int d = c * 2 * kWarpLanes + lane * 2;
    if (d < kHeadDim) OutElem::store_pair(out + d, acc[c][0] * scale, acc[c][1] * scale);
  }
  if (p.lse != nullptr && lane == 0)
    p.lse[row * p.lse_row_stride + head * p.lse_head_stride] =
        total > 0.f ? shift + logf(total) : neg_inf();
}
