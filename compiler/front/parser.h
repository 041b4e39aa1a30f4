#pragma once
// DSL text -> AST. Reports every syntax error it can recover from in one pass.
#include <cstddef>
#include <string>

#include "compiler/front/ast.h"
#include "compiler/support/result.h"

namespace attnjit::front {

// Limits that keep every later stage safe and quick on any input; docs/dsl.md states
// them for users.
//
// Nesting of one expression (ast::Expr::depth): every stage after the parser walks
// expression trees recursively (lowering, canonicalizer, printers, analyses, codegen,
// the reference's evaluator), so the depth bounds their stack use. Real variants nest
// a dozen levels; 256 is far beyond any of them and a few hundred stack frames deep.
inline constexpr int kMaxExpressionDepth = 256;
// Nodes (numbers, names, operators, calls, indexes) of one expression: bounds the work
// on one expression, including passes that look at subtrees again. Real variants
// have at most a few dozen.
inline constexpr int kMaxExpressionNodes = 4096;
// Variants per file: the default set has a dozen.
inline constexpr size_t kMaxVariantsPerFile = 1024;
// Size of a variant file's text, in bytes. Real files are a few kilobytes; the limit
// bounds the memory the lexer and parser use (a token per one or two bytes at worst).
inline constexpr size_t kMaxSourceBytes = 2 * 1024 * 1024;

Result<ast::File, DiagnosticList> parse(const SourceFile& file);
// Indented tree dump for `attnjit emit --stage ast`.
std::string dump_ast(const ast::File& file);

}  // namespace attnjit::front
