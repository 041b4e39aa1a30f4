// Kernel parameter block of the cache_write kind: new K/V tokens into a paged cache
// by slot mapping, converted or quantized on the way. Plain C types; strides in
// elements.
#ifndef ATTNJIT_CACHE_WRITE_PARAMS_H
#define ATTNJIT_CACHE_WRITE_PARAMS_H

struct AttnjitCacheWriteParams {
  const void* k;  // [num_tokens, kv_heads, head_dim]
  const void* v;
  long long k_row_stride, k_head_stride, v_row_stride, v_head_stride;
  void* k_cache;
  void* v_cache;
  long long k_block_stride, k_slot_stride, k_head_stride_cache;
  long long v_block_stride, v_slot_stride, v_head_stride_cache;
  const void* slot_mapping;  // int32 or int64 [num_tokens]; slot = block * page_size + offset
  int slot_is_64bit;
  int num_tokens, kv_heads;
  float k_scale, v_scale;    // per-tensor quantization: stored = value / scale
  float* k_scales;           // per-token-head scales written here, [num_blocks, page_size, kv_heads]
  float* v_scales;
  long long ks_block_stride, ks_slot_stride, ks_head_stride;
  long long vs_block_stride, vs_slot_stride, vs_head_stride;
};

#endif
