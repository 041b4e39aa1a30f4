// cache_write kind: one warp per (token, KV head) writes that token's K and V rows
// into its cache slot (slot < 0: padding, skipped), converting to the cache type: a
// copy for 16-bit caches, FP8 or INT8 with a per-tensor scale, or with a
// per-token-head scale computed from the row's largest magnitude. Codegen defines
// SourceDecoder (the new tokens' storage), CacheStorage, the encoder `Encode`
// (Copy16, EncodeE4m3, EncodeE5m2, EncodeInt8), kPageSize, kHeadDim,
// kPerTokenHeadScales, kWarps and kWarpLanes (the host's geometry: warps per block,
// lanes per warp: 32 on NVIDIA, a 64-lane wavefront on AMD) and ATTNJIT_ENTRY.

namespace attnjit {

constexpr int kPerLane = (kHeadDim + kWarpLanes - 1) / kWarpLanes;

// Reads one row (this lane's elements d = lane + kWarpLanes i) as floats.
__device__ __forceinline__ void read_row(float x[kPerLane], const typename SourceDecoder::Storage* row,
                                         int lane) {
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + kWarpLanes * i;
    x[i] = d < kHeadDim ? SourceDecoder::to_float(row[d]) : 0.f;
  }
}

// Writes one row; returns nothing. `scale` divides before encoding.
__device__ __forceinline__ void write_row(CacheStorage* row, const float x[kPerLane], float scale,
                                          int lane) {
  const float inv = 1.f / scale;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + kWarpLanes * i;
    if (d < kHeadDim) row[d] = Encode::encode(x[i] * inv);
  }
}

}  // namespace attnjit

extern "C" __global__ void __launch_bounds__(kWarps * kWarpLanes)
    ATTNJIT_ENTRY(const AttnjitCacheWriteParams p) {
  using namespace attnjit;
  const int item = blockIdx.x * kWarps + threadIdx.x / kWarpLanes;  // (token, kv head)
  const int lane = threadIdx.x % kWarpLanes;
  if (item >= p.num_tokens * p.kv_heads) return;
  const int token = item / p.kv_heads;
  const int head = item % p.kv_heads;
  const long long slot = p.slot_is_64bit ? static_cast<const long long*>(p.slot_mapping)[token]
                                         : static_cast<const int*>(p.slot_mapping)[token];
  if (slot < 0) return;
  const long long block = slot / kPageSize;
  const int offset = static_cast<int>(slot % kPageSize);

  for (int which = 0; which < 2; ++which) {  // K, then V
    const bool is_k = which == 0;
    const auto* src = static_cast<const typename SourceDecoder::Storage*>(is_k ? p.k : p.v) +
                      token * (is_k ? p.k_row_stride : p.v_row_stride) +
                      head * (is_k ? p.k_head_stride : p.v_head_stride);
    CacheStorage* dst = static_cast<CacheStorage*>(is_k ? p.k_cache : p.v_cache) +
                        block * (is_k ? p.k_block_stride : p.v_block_stride) +
                        offset * (is_k ? p.k_slot_stride : p.v_slot_stride) +
                        head * (is_k ? p.k_head_stride_cache : p.v_head_stride_cache);
    float x[kPerLane];
    read_row(x, src, lane);
    float scale = is_k ? p.k_scale : p.v_scale;
    if constexpr (kPerTokenHeadScales) {
      float amax = 0.f;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) amax = fmaxf(amax, fabsf(x[i]));
      // The row's largest magnitude maps to the format's largest value; an all-zero
      // row keeps a tiny positive scale so decoding stays finite.
      scale = fmaxf(warp_max(amax) / Encode::kMaxValue, Encode::kMinScale);
      if (lane == 0) {
        float* scales = is_k ? p.k_scales : p.v_scales;
        scales[block * (is_k ? p.ks_block_stride : p.vs_block_stride) +
               offset * (is_k ? p.ks_slot_stride : p.vs_slot_stride) +
               head * (is_k ? p.ks_head_stride : p.vs_head_stride)] = scale;
      }
    }
    write_row(dst, x, scale, lane);
  }
}
