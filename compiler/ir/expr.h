#pragma once
// Expression IR for `score = ...` and `mask = ...`. Nodes are plain immutable structs
// shared by pointer; build them with the make_* functions, which check arity and types.
#include <memory>
#include <string>
#include <vector>

#include "compiler/support/source_location.h"

namespace attnjit::ir {

enum class ValueType { number, boolean };

// Names every variant expression may read. Positions are absolute within the
// sequence (a query chunk after cached context has q_pos = context + i).
enum class Builtin { score, q_pos, kv_pos, q_head, kv_head, seq, q_len, kv_len };

enum class Op {
  constant,    // value
  builtin,     // builtin
  param,       // name: runtime scalar argument (f32), index into Variant::params
  input,       // name, args[0] = index expression: per-head / per-sequence array
  neg, logical_not,
  add, sub, mul, div, mod,
  lt, le, gt, ge, eq, ne,
  logical_and, logical_or,
  call,        // name in {tanh, exp, exp2, log, sqrt, abs, min, max}
  select,      // args: condition, if_true, if_false
};

struct Expr;
using ExprRef = std::shared_ptr<const Expr>;

struct Expr {
  Op op = Op::constant;
  ValueType type = ValueType::number;
  double value = 0.0;           // Op::constant (booleans are 0/1)
  Builtin builtin = Builtin::score;  // Op::builtin
  std::string name;             // Op::param, Op::input, Op::call
  std::vector<ExprRef> args;
  SourceLocation location;
};

ExprRef make_constant(double value, SourceLocation at = {});
ExprRef make_bool(bool value, SourceLocation at = {});
ExprRef make_builtin(Builtin b, SourceLocation at = {});
ExprRef make_param(std::string name, SourceLocation at = {});
ExprRef make_input(std::string name, ExprRef index, SourceLocation at = {});
ExprRef make_unary(Op op, ExprRef operand, SourceLocation at = {});
ExprRef make_binary(Op op, ExprRef lhs, ExprRef rhs, SourceLocation at = {});
ExprRef make_call(std::string function, std::vector<ExprRef> args, SourceLocation at = {});
ExprRef make_select(ExprRef cond, ExprRef if_true, ExprRef if_false, SourceLocation at = {});

const char* builtin_name(Builtin b);
bool parse_builtin(const std::string& name, Builtin* out);
// Operator spelling as in the DSL ("+", "<=", "&&", ...); empty for non-operators.
const char* op_spelling(Op op);

// Structural equality ignoring source locations (used by the round-trip tests).
bool same_expr(const ExprRef& a, const ExprRef& b);

// Number of arguments of a math function usable with Op::call (tanh: 1, max: 2);
// -1 when `name` is not one. The functions are listed once, in compiler/ir/numeric.h.
int function_arity(const std::string& name);
// Decimal spelling that reads back to exactly `value`: whole numbers up to 2^53 in
// plain digits (128, 3000000000), others in their shortest form (0.5, 1e-06, 1e+20).
// Used wherever IR constants become text (printers, generated source).
std::string format_number(double value);
// True (and the value in *out) for an Op::constant node.
bool is_constant(const ExprRef& e, double* out = nullptr);

}  // namespace attnjit::ir
