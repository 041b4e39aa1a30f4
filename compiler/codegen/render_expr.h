#pragma once
// Renders a variant expression (score or mask) as a C++ expression over the hook's
// locals: `score` (float), the integer builtins q_pos, kv_pos, q_head, kv_head, seq,
// q_len, kv_len (int), `args` (AttnjitVariantArgs: params[i]) and `bound`
// (AttnjitBoundInputs: the block's element of each input array).
//
// It implements the DSL's numeric rules (compiler/ir/numeric.h): an integer node is
// computed as `int` when its range and its operands' ranges fit in 32 bits, otherwise
// as `long long` (operands cast, literals with LL); a real node is float. In a mask,
// real arithmetic is correctly rounded and never contracted (__fadd_rn, __fdiv_rn, ...)
// and integers convert to float exactly where they meet a real, so a mask decides as
// the CPU reference does; a score may use faster forms (a reciprocal for division by a
// constant or param, float copies of the positions) since scores are compared with a
// tolerance.
#include <string>

#include "compiler/codegen/dialect.h"
#include "compiler/ir/expr.h"
#include "compiler/ir/variant.h"
#include "compiler/support/result.h"

namespace attnjit {

enum class ExprRole { score, mask };

// `variant` gives each param and input its slot in AttnjitVariantArgs and the head
// counts that bound q_head and kv_head. A score renders as a float expression, a mask
// as a bool one.
Result<std::string, std::string> render_expr(const ir::ExprRef& e, ExprRole role, const Dialect& dialect,
                                             const ir::Variant& variant);

}  // namespace attnjit
