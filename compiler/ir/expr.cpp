// Validating constructors for expression nodes. A failed check here is a bug in the
// caller (lowering and the passes check user input first), hence ATTNJIT_ASSERT.
#include "compiler/ir/expr.h"

#include <charconv>
#include <cmath>

#include "compiler/ir/numeric.h"
#include "compiler/support/diagnostics.h"

namespace attnjit::ir {

namespace {

constexpr const char* kBuiltinNames[] = {"score", "q_pos",   "kv_pos", "q_head",
                                         "kv_head", "seq",   "q_len",  "kv_len"};

bool is_arithmetic(Op op) {
  return op == Op::add || op == Op::sub || op == Op::mul || op == Op::div || op == Op::mod;
}
bool is_comparison(Op op) {
  return op == Op::lt || op == Op::le || op == Op::gt || op == Op::ge || op == Op::eq ||
         op == Op::ne;
}
bool is_logical(Op op) { return op == Op::logical_and || op == Op::logical_or; }

std::shared_ptr<Expr> node(Op op, ValueType type, SourceLocation at) {
  auto e = std::make_shared<Expr>();
  e->op = op;
  e->type = type;
  e->location = at;
  return e;
}

bool is_number(const ExprRef& e) { return e && e->type == ValueType::number; }
bool is_boolean(const ExprRef& e) { return e && e->type == ValueType::boolean; }

}  // namespace

ExprRef make_constant(double value, SourceLocation at) {
  ATTNJIT_ASSERT(std::isfinite(value), "make_constant: constants must be finite");
  auto e = node(Op::constant, ValueType::number, at);
  e->value = value;
  return e;
}

ExprRef make_bool(bool value, SourceLocation at) {
  auto e = node(Op::constant, ValueType::boolean, at);
  e->value = value ? 1.0 : 0.0;
  return e;
}

ExprRef make_builtin(Builtin b, SourceLocation at) {
  auto e = node(Op::builtin, ValueType::number, at);
  e->builtin = b;
  return e;
}

ExprRef make_param(std::string name, SourceLocation at) {
  ATTNJIT_ASSERT(!name.empty(), "make_param: empty name");
  auto e = node(Op::param, ValueType::number, at);
  e->name = std::move(name);
  return e;
}

ExprRef make_input(std::string name, ExprRef index, SourceLocation at) {
  ATTNJIT_ASSERT(!name.empty(), "make_input: empty name");
  ATTNJIT_ASSERT(is_number(index), "make_input: index must be a number expression");
  auto e = node(Op::input, ValueType::number, at);
  e->name = std::move(name);
  e->args.push_back(std::move(index));
  return e;
}

ExprRef make_unary(Op op, ExprRef operand, SourceLocation at) {
  if (op == Op::neg) {
    ATTNJIT_ASSERT(is_number(operand), "make_unary: '-' needs a number operand");
  } else {
    ATTNJIT_ASSERT(op == Op::logical_not, "make_unary: not a unary operator");
    ATTNJIT_ASSERT(is_boolean(operand), "make_unary: '!' needs a boolean operand");
  }
  auto e = node(op, operand->type, at);
  e->args.push_back(std::move(operand));
  return e;
}

ExprRef make_binary(Op op, ExprRef lhs, ExprRef rhs, SourceLocation at) {
  ValueType result = ValueType::number;
  if (is_arithmetic(op) || is_comparison(op)) {
    ATTNJIT_ASSERT(is_number(lhs) && is_number(rhs),
                   std::string("make_binary: '") + op_spelling(op) + "' needs number operands");
    result = is_comparison(op) ? ValueType::boolean : ValueType::number;
  } else {
    ATTNJIT_ASSERT(is_logical(op), "make_binary: not a binary operator");
    ATTNJIT_ASSERT(is_boolean(lhs) && is_boolean(rhs),
                   std::string("make_binary: '") + op_spelling(op) + "' needs boolean operands");
    result = ValueType::boolean;
  }
  auto e = node(op, result, at);
  e->args.push_back(std::move(lhs));
  e->args.push_back(std::move(rhs));
  return e;
}

ExprRef make_call(std::string function, std::vector<ExprRef> args, SourceLocation at) {
  int arity = function_arity(function);
  ATTNJIT_ASSERT(arity >= 0, "make_call: unknown function '" + function + "'");
  ATTNJIT_ASSERT(static_cast<int>(args.size()) == arity,
                 "make_call: wrong number of arguments to '" + function + "'");
  for (const ExprRef& a : args)
    ATTNJIT_ASSERT(is_number(a), "make_call: arguments of '" + function + "' must be numbers");
  auto e = node(Op::call, ValueType::number, at);
  e->name = std::move(function);
  e->args = std::move(args);
  return e;
}

ExprRef make_select(ExprRef cond, ExprRef if_true, ExprRef if_false, SourceLocation at) {
  ATTNJIT_ASSERT(is_boolean(cond), "make_select: condition must be boolean");
  ATTNJIT_ASSERT(if_true && if_false && if_true->type == if_false->type,
                 "make_select: both branches must have the same type");
  auto e = node(Op::select, if_true->type, at);
  e->args = {std::move(cond), std::move(if_true), std::move(if_false)};
  return e;
}

const char* builtin_name(Builtin b) { return kBuiltinNames[static_cast<int>(b)]; }

bool parse_builtin(const std::string& name, Builtin* out) {
  for (int i = 0; i < static_cast<int>(std::size(kBuiltinNames)); ++i) {
    if (name == kBuiltinNames[i]) {
      if (out) *out = static_cast<Builtin>(i);
      return true;
    }
  }
  return false;
}

const char* op_spelling(Op op) {
  switch (op) {
    case Op::neg: return "-";
    case Op::logical_not: return "!";
    case Op::add: return "+";
    case Op::sub: return "-";
    case Op::mul: return "*";
    case Op::div: return "/";
    case Op::mod: return "%";
    case Op::lt: return "<";
    case Op::le: return "<=";
    case Op::gt: return ">";
    case Op::ge: return ">=";
    case Op::eq: return "==";
    case Op::ne: return "!=";
    case Op::logical_and: return "&&";
    case Op::logical_or: return "||";
    default: return "";
  }
}

bool same_expr(const ExprRef& a, const ExprRef& b) {
  if (!a || !b) return !a && !b;
  if (a->op != b->op || a->type != b->type || a->args.size() != b->args.size()) return false;
  switch (a->op) {
    case Op::constant:
      if (a->value != b->value) return false;
      break;
    case Op::builtin:
      if (a->builtin != b->builtin) return false;
      break;
    case Op::param:
    case Op::input:
    case Op::call:
      if (a->name != b->name) return false;
      break;
    default: break;
  }
  for (size_t i = 0; i < a->args.size(); ++i)
    if (!same_expr(a->args[i], b->args[i])) return false;
  return true;
}

int function_arity(const std::string& name) {
  const MathFunction* f = find_function(name);
  return f ? f->arity : -1;
}

std::string format_number(double value) {
  // Whole numbers a double holds exactly print as plain digits (3000000000, not 3e+09).
  if (value != 0 && value == std::floor(value) && std::fabs(value) <= 0x1p53)
    return std::to_string(static_cast<long long>(value));
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  ATTNJIT_ASSERT(ec == std::errc(), "format_number: to_chars failed");
  return std::string(buffer, end);
}

bool is_constant(const ExprRef& e, double* out) {
  if (!e || e->op != Op::constant) return false;
  if (out) *out = e->value;
  return true;
}

}  // namespace attnjit::ir
