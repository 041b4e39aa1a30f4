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
//
// The inequalities are read with the DSL's numeric rules (compiler/ir/numeric.h): two
// integer sides compare exactly; an integer side against a real constant compares in
// f32, which is absorbed only where that is exact (|constant| < 2^24); real arithmetic
// on positions (q_pos + 2.5) is not absorbed. Since |kv_pos - q_pos| <= 2^31 - 2, an
// offset beyond that means "no bound" on its side (or "nothing visible"), so every
// offset fits in 32 bits: window(4294967296) is no window at all.
// Expects a canonical mask (passes::canonicalize), though any mask gives a sound band.
#include "compiler/ir/variant.h"

namespace attnjit::passes {

ir::KvBand analyze_mask(const ir::ExprRef& mask);

// `band` with every offset beyond +-(2^31 - 2) replaced by its exact equivalent (no
// bound, or the nearest offset that hides every key), as analyze_mask produces them;
// codegen applies it to bands built in code, so no offset it renders leaves 32 bits.
ir::KvBand clamp_band(const ir::KvBand& band);

}  // namespace attnjit::passes
