#pragma once
// DSL text -> AST. Reports every syntax error it can recover from in one pass.
#include <string>

#include "compiler/front/ast.h"
#include "compiler/support/result.h"

namespace attnjit::front {

Result<ast::File, DiagnosticList> parse(const SourceFile& file);
// Indented tree dump for `attnjit emit --stage ast`.
std::string dump_ast(const ast::File& file);

}  // namespace attnjit::front
