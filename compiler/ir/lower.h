#pragma once
// AST -> checked Variant IR. Gives meaning to keys, dtypes, declarations and sugar
// (`causal`, `window`, `softcap`, `alibi` become the IR of their spelled-out form),
// and reports every semantic error of the file at once, each at the offending token.
#include "compiler/front/ast.h"
#include "compiler/ir/variant.h"
#include "compiler/support/result.h"

namespace attnjit::ir {

// The module's variants in source order. Not yet canonical: const references and
// constant subexpressions are still there, and every band is the default
// (compiler/passes does both).
Result<Module, DiagnosticList> lower(const front::ast::File& file);

}  // namespace attnjit::ir
