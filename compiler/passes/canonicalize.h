#pragma once
// Canonical form of a variant: equal meaning should give equal IR, so equivalent
// spellings share one kernel and one cache entry.
//  - const params are substituted by their values and dropped from `params`;
//  - constant subexpressions are folded by the DSL's numeric rules (compiler/ir/numeric.h:
//    integers exactly, reals rounded to f32), never into inf or NaN, never x/0, and
//    never so that a subexpression changes between integer and real arithmetic
//    (q_pos < 4 / 2 compares in f32 and stays that way);
//  - identities go: x + 0, x - 0, x * 1, x / 1, --x, !!x, true && x, false || x, and
//    select with a constant condition or equal branches;
//  - `a > b` becomes `b < a` and `a >= b` becomes `b <= a`;
//  - a mask that folds to true becomes null (no mask), a score that is just `score`
//    becomes null (identity), and a scale equal to the default 1/sqrt(head_dim)
//    becomes unset.
// The KV band is not touched here; run passes::analyze_mask afterwards.
#include <vector>

#include "compiler/ir/variant.h"

namespace attnjit::passes {

ir::Variant canonicalize(const ir::Variant& variant);

// One expression under the same rules; `params` supplies the values of consts.
ir::ExprRef canonicalize_expr(const ir::ExprRef& e, const std::vector<ir::ScalarParam>& params);

}  // namespace attnjit::passes
