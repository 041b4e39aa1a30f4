#pragma once
// The syntax tree of a variant file: exactly what was written, before any meaning is
// given to it. Keys, dtypes and sugar are still plain names here; compiler/ir/lower
// decides what they mean and reports what is wrong with them.
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "compiler/support/source_location.h"

namespace attnjit::front::ast {

// A name as written, with where it was written.
struct Word {
  std::string text;
  SourceLocation location;
};

enum class ExprKind {
  number,  // 12, 0.5
  name,    // q_pos, causal, bf16, true
  index,   // name[operand]
  unary,   // -x, !x
  binary,  // x + y, x && y, ...
  call,    // name(args)
};

enum class UnaryOp { negate, logical_not };
enum class BinaryOp {
  add, sub, mul, div, mod,
  lt, le, gt, ge, eq, ne,
  logical_and, logical_or,
};

const char* spelling(UnaryOp op);
const char* spelling(BinaryOp op);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// One argument of a call: positional (`name` empty) or named (`page_size = 16`, only
// meaningful in kv_cache = paged(...)).
struct Argument {
  Word name;
  ExprPtr value;
};

struct Expr {
  ExprKind kind = ExprKind::number;
  SourceLocation location;  // first character of the whole expression
  // number: the literal's value and exact spelling
  double number = 0.0;
  std::string spelling;
  // name / index / call: the name; unary / binary: the operator token's position
  Word word;
  UnaryOp unary_op = UnaryOp::negate;
  BinaryOp binary_op = BinaryOp::add;
  std::vector<ExprPtr> operands;  // unary: 1, binary: 2, index: 1 (the subscript)
  std::vector<Argument> args;     // call
  // Levels of nesting as written: 0 for a number or name, one more than the deepest
  // operand for an operator, call or index, and one more for each pair of
  // parentheses (`a + b + c` is 2 deep, `-(x)` too). The parser keeps it within
  // kMaxExpressionDepth (parser.h).
  int depth = 0;
};

// `KEY = VALUE [QUALIFIER];`  e.g. `head_dim = 128;`, `kv = fp8_e4m3 per_tensor;`
struct Setting {
  Word key;
  ExprPtr value;
  std::optional<Word> qualifier;
};

// `param NAME : TYPE = VALUE;` or `const NAME : TYPE = VALUE;` (value may be missing;
// lowering reports that).
struct ScalarDecl {
  bool is_const = false;
  SourceLocation location;  // the `param` / `const` keyword
  Word name;
  Word type;
  ExprPtr value;
};

// `input NAME : TYPE[EXTENT];`
struct InputDecl {
  SourceLocation location;  // the `input` keyword
  Word name;
  Word element_type;
  Word extent;
};

using Statement = std::variant<Setting, ScalarDecl, InputDecl>;

struct VariantDecl {
  SourceLocation location;  // the `variant` keyword
  Word name;
  std::vector<Statement> body;
};

struct File {
  std::vector<VariantDecl> variants;
};

// DSL spelling of an expression with only the parentheses precedence needs, for
// messages ("... but 'q_pos - kv_pos' is a number").
std::string format_expr(const Expr& e);

}  // namespace attnjit::front::ast
