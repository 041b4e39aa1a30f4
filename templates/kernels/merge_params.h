// Kernel parameter block of the merge kind: combines partial attention results over
// disjoint key sets by their LSEs (split-KV reduce, cascade attention). Plain C types;
// strides in elements.
#ifndef ATTNJIT_MERGE_PARAMS_H
#define ATTNJIT_MERGE_PARAMS_H

#define ATTNJIT_MAX_MERGE_PARTS 64

struct AttnjitMergeParams {
  const void* o_parts[ATTNJIT_MAX_MERGE_PARTS];     // each [rows, heads, head_dim]
  const float* lse_parts[ATTNJIT_MAX_MERGE_PARTS];  // each [heads, rows]
  int num_parts;
  int rows, heads;
  long long part_row_stride, part_head_stride;
  long long part_lse_row_stride, part_lse_head_stride;
  void* out;                                        // [rows, heads, head_dim]
  long long o_row_stride, o_head_stride;
  float* lse;                                       // [heads, rows], may be null
  long long lse_row_stride, lse_head_stride;
  const float* sinks;                               // [heads] sink logits, or null
  float out_multiplier;
};

#endif
