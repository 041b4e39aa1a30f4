#pragma once
// Renders a variant expression (score or mask) as a C++ expression over the hook's
// locals: `score` (float), the integer builtins q_pos, kv_pos, q_head, kv_head, seq,
// q_len, kv_len, `args` (AttnjitVariantArgs: params[i]) and `bound`
// (AttnjitBoundInputs: the block's element of each input array).
// Integer-valued subexpressions stay in int arithmetic so position comparisons are
// exact at any sequence length.
#include <string>

#include "compiler/codegen/dialect.h"
#include "compiler/ir/expr.h"
#include "compiler/ir/variant.h"
#include "compiler/support/result.h"

namespace attnjit {

// `params` and `inputs` give each name its slot in AttnjitVariantArgs.
Result<std::string, std::string> render_expr(const ir::ExprRef& e, const Dialect& dialect,
                                             const std::vector<ir::ScalarParam>& params,
                                             const std::vector<ir::InputArray>& inputs);

}  // namespace attnjit
