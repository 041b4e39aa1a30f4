#pragma once
// Which keys can a query see? From a mask that is a conjunction (&&) of linear
// inequalities between q_pos and kv_pos with coefficients +-1 and constant offsets
// (causal, sliding windows, `q_pos - 127 <= kv_pos`, ...), derive the band
//   q_pos + lower_offset <= kv_pos <= q_pos + upper_offset
// so the kernel can skip KV tiles outside it and drop the per-element mask inside it.
//
// `exact` is true when every conjunct was absorbed into the band; otherwise the band is
// still a valid bound for skipping tiles but the mask must be evaluated per element.
// No mask: unbounded and exact. A mask with nothing to absorb: unbounded, not exact.
// Expects a canonical mask (passes::canonicalize), though any mask gives a sound band.
#include "compiler/ir/variant.h"

namespace attnjit::passes {

ir::KvBand analyze_mask(const ir::ExprRef& mask);

}  // namespace attnjit::passes
