// Launch-time values of a variant, shared verbatim by the host (runtime/) and the
// generated device source of every kernel kind: `param` scalars, `input` arrays,
// per-head sinks and per-sequence bidirectional ranges. Plain C types only.
#ifndef ATTNJIT_VARIANT_ARGS_H
#define ATTNJIT_VARIANT_ARGS_H

#define ATTNJIT_MAX_PARAMS 16
#define ATTNJIT_MAX_INPUTS 8

struct AttnjitVariantArgs {
  float params[ATTNJIT_MAX_PARAMS];            // in declaration order of the variant's params
  const float* inputs[ATTNJIT_MAX_INPUTS];     // in declaration order of its inputs
  const float* sinks;                          // [q_heads] sink logits, or null
  const int* ranges;                           // [batch, max_ranges, 2] [start, end), or null
  int max_ranges;
};

// Each `input` array element a thread block needs, read once per block: every input
// is indexed by q_head, kv_head or seq, which are fixed for a block.
struct AttnjitBoundInputs {
  float values[ATTNJIT_MAX_INPUTS];
};

#endif
