#include "compiler/passes/canonicalize.h"

#include <cmath>
#include <map>

#include "compiler/ir/numeric.h"
#include "compiler/support/diagnostics.h"

namespace attnjit::passes {

namespace {

using ir::ExprRef;
using ir::Number;
using ir::Op;

bool is_value(const ExprRef& e, double v) {
  double x;
  return ir::is_constant(e, &x) && e->type == ir::ValueType::number && x == v;
}

bool is_bool(const ExprRef& e, bool v) {
  double x;
  return ir::is_constant(e, &x) && e->type == ir::ValueType::boolean && (x != 0) == v;
}

std::optional<Number> constant_number(const ExprRef& e) {
  double x;
  if (!ir::is_constant(e, &x) || e->type != ir::ValueType::number) return std::nullopt;
  return Number::of_constant(x);
}

// The constant node for a folded value, where one exists: a finite real, or an integer
// a double holds exactly (IR constants are doubles; a larger integer stays unfolded).
ExprRef constant_node(const std::optional<Number>& n, SourceLocation at) {
  if (!n) return nullptr;
  if (!n->integer) return std::isfinite(n->r) ? ir::make_constant(n->r, at) : nullptr;
  const double d = static_cast<double>(n->i);
  if (d >= 0x1p63 || static_cast<int64_t>(d) != n->i) return nullptr;
  return ir::make_constant(d, at);
}

// Whether an operator's operands decide, by their classes, how it computes (exact
// integer or f32 real): arithmetic, comparisons, min/max/abs and select's branches.
bool is_comparison(Op op) {
  return op == Op::lt || op == Op::le || op == Op::gt || op == Op::ge || op == Op::eq || op == Op::ne;
}

bool class_sensitive(const ir::Expr& e) {
  switch (e.op) {
    case Op::neg: case Op::add: case Op::sub: case Op::mul: case Op::mod:
    case Op::lt: case Op::le: case Op::gt: case Op::ge: case Op::eq: case Op::ne:
    case Op::select: return true;
    case Op::call: {
      const ir::MathFunction* f = ir::find_function(e.name);
      return f && f->keeps_integers();
    }
    default: return false;
  }
}

// A canonical subexpression. Folding may turn a real subexpression into a whole
// constant (4 / 2 -> 2), which reads as an integer; where that would change how the
// parent computes (q_pos < 4 / 2 compares in f32, q_pos < 2 exactly), the parent uses
// `unfolded`, the same subexpression before its final fold.
struct Canon {
  ExprRef value;
  ExprRef unfolded;              // set only when `value` is such a whole constant
  std::optional<Number> number;  // a constant's value, in the class of the original node
};

class Canonicalizer {
 public:
  Canonicalizer(const ExprRef& root, const std::vector<ir::ScalarParam>& params)
      : consts_(const_values(params)), original_(root, {0, 0, &consts_}), rewritten_(ir::NumericEnv{}) {}

  ExprRef run(const ExprRef& e) { return e ? visit(e).value : nullptr; }

 private:
  Canon visit(const ExprRef& e) {
    switch (e->op) {
      case Op::constant:
        if (e->type == ir::ValueType::number) return {e, nullptr, Number::of_constant(e->value)};
        return {e, nullptr, std::nullopt};
      case Op::builtin:
      case Op::input: return {e, nullptr, std::nullopt};
      case Op::param: {
        auto it = consts_.find(e->name);
        if (it == consts_.end()) return {e, nullptr, std::nullopt};
        return {ir::make_constant(it->second, e->location), nullptr, Number::of_constant(it->second)};
      }
      default: break;
    }
    std::vector<Canon> operands;
    for (const ExprRef& a : e->args) operands.push_back(visit(a));
    std::vector<ExprRef> args;
    for (const Canon& c : operands) args.push_back(c.value);
    if (class_sensitive(*e) && integer_mode(*e, args) != original_mode(*e)) {
      for (size_t k = 0; k < args.size(); ++k)
        if (operands[k].unfolded) args[k] = operands[k].unfolded;
    }
    if (is_comparison(e->op) && operands[0].number && operands[1].number)
      return {ir::make_bool(ir::compare(e->op, *operands[0].number, *operands[1].number), e->location),
              nullptr, std::nullopt};
    std::optional<Number> folded = fold(*e, operands);
    ExprRef simplified = nullptr;
    if (folded) simplified = constant_node(folded, e->location);
    if (!simplified) simplified = simplify(e, args);
    // `folded` travels up even where no constant node can hold it (an integer beyond
    // 2^53), so an enclosing fold stays exact: 2^53 + 1 - 2^53 is 1.
    if (e->type != ir::ValueType::number || is_integer(simplified) == original_.is_integer(*e))
      return {simplified, nullptr, folded};
    ExprRef rebuilt = rebuild(e, args);
    if (simplified->op == Op::constant) return {simplified, rebuilt, folded};
    return {rebuilt, nullptr, std::nullopt};  // an identity that would change the class: keep the node
  }

  // The value of a number node whose operands are constants, under the numeric rules
  // and the operands' original classes. Never inf or NaN, never a division or
  // remainder by zero (the checks reject those in variant files; IR built in code
  // keeps them unfolded).
  std::optional<Number> fold(const ir::Expr& e, const std::vector<Canon>& operands) const {
    if (e.type != ir::ValueType::number) return std::nullopt;
    if (e.op == Op::select) {
      double c;
      if (!ir::is_constant(operands[0].value, &c)) return std::nullopt;
      const std::optional<Number>& chosen = operands[c != 0 ? 1 : 2].number;
      // A real select of an integer branch is that integer as a real.
      if (chosen && chosen->integer && !original_.is_integer(e)) return Number::of_real(chosen->real());
      return chosen;
    }
    for (const Canon& c : operands)
      if (!c.number) return std::nullopt;
    std::optional<Number> n;
    switch (e.op) {
      case Op::neg: n = ir::arithmetic(Op::neg, *operands[0].number); break;
      case Op::add: case Op::sub: case Op::mul: case Op::div: case Op::mod:
        if (operands[1].number->real() == 0) return std::nullopt;
        n = ir::arithmetic(e.op, *operands[0].number, *operands[1].number);
        break;
      case Op::call: {
        const ir::MathFunction* f = ir::find_function(e.name);
        if (!f) return std::nullopt;
        std::vector<Number> values;
        for (const Canon& c : operands) values.push_back(*c.number);
        n = ir::call_function(*f, values);
        break;
      }
      default: return std::nullopt;
    }
    if (n && !n->integer && !std::isfinite(n->r)) return std::nullopt;
    return n;
  }

  bool is_integer(const ExprRef& e) {
    rewritten_.add(e);
    return rewritten_.is_integer(*e);
  }

  // Whether the node computes on integers, given these operands.
  bool integer_mode(const ir::Expr& e, const std::vector<ExprRef>& args) {
    for (size_t k = e.op == Op::select ? 1 : 0; k < args.size(); ++k)
      if (args[k]->type == ir::ValueType::number && !is_integer(args[k])) return false;
    return true;
  }
  bool original_mode(const ir::Expr& e) const {
    for (size_t k = e.op == Op::select ? 1 : 0; k < e.args.size(); ++k)
      if (e.args[k]->type == ir::ValueType::number && !original_.is_integer(*e.args[k])) return false;
    return true;
  }

  static ExprRef rebuild(const ExprRef& e, const std::vector<ExprRef>& args) {
    switch (e->op) {
      case Op::neg:
      case Op::logical_not: return ir::make_unary(e->op, args[0], e->location);
      case Op::call: return ir::make_call(e->name, args, e->location);
      case Op::select: return ir::make_select(args[0], args[1], args[2], e->location);
      default: return ir::make_binary(e->op, args[0], args[1], e->location);
    }
  }

  ExprRef simplify(const ExprRef& e, const std::vector<ExprRef>& args) {
    switch (e->op) {
      case Op::neg:
      case Op::logical_not: return unary(e, args[0]);
      case Op::call: return ir::make_call(e->name, args, e->location);
      case Op::select: return select(e, args[0], args[1], args[2]);
      default: return binary(e, args[0], args[1]);
    }
  }

  static ExprRef unary(const ExprRef& e, const ExprRef& x) {
    if (e->op == Op::neg) {
      if (x->op == Op::neg) return x->args[0];
    } else {
      double v;
      if (ir::is_constant(x, &v)) return ir::make_bool(v == 0, e->location);
      if (x->op == Op::logical_not) return x->args[0];
    }
    return ir::make_unary(e->op, x, e->location);
  }

  static ExprRef binary(const ExprRef& e, const ExprRef& a, const ExprRef& b) {
    switch (e->op) {
      case Op::add:
      case Op::sub:
      case Op::mul:
      case Op::div:
      case Op::mod:
        if ((e->op == Op::add || e->op == Op::sub) && is_value(b, 0)) return a;
        if (e->op == Op::add && is_value(a, 0)) return b;
        if ((e->op == Op::mul || e->op == Op::div) && is_value(b, 1)) return a;
        if (e->op == Op::mul && is_value(a, 1)) return b;
        return ir::make_binary(e->op, a, b, e->location);
      case Op::gt:  // a > b  ==  b < a
        return binary_or_fold(Op::lt, b, a, e->location);
      case Op::ge:  // a >= b  ==  b <= a
        return binary_or_fold(Op::le, b, a, e->location);
      case Op::lt:
      case Op::le:
      case Op::eq:
      case Op::ne: return binary_or_fold(e->op, a, b, e->location);
      case Op::logical_and:
        if (is_bool(a, true)) return b;
        if (is_bool(b, true)) return a;
        if (is_bool(a, false) || is_bool(b, false)) return ir::make_bool(false, e->location);
        return ir::make_binary(e->op, a, b, e->location);
      case Op::logical_or:
        if (is_bool(a, false)) return b;
        if (is_bool(b, false)) return a;
        if (is_bool(a, true) || is_bool(b, true)) return ir::make_bool(true, e->location);
        return ir::make_binary(e->op, a, b, e->location);
      default: break;
    }
    ATTNJIT_ASSERT(false, "canonicalize: unexpected operator");
    return nullptr;
  }

  // Comparisons fold on the constants' values; the operands here already compute as
  // the original ones did (visit() restored any that would not).
  static ExprRef binary_or_fold(Op op, const ExprRef& a, const ExprRef& b, SourceLocation at) {
    const std::optional<Number> x = constant_number(a), y = constant_number(b);
    if (x && y) return ir::make_bool(ir::compare(op, *x, *y), at);
    return ir::make_binary(op, a, b, at);
  }

  static ExprRef select(const ExprRef& e, const ExprRef& c, const ExprRef& t, const ExprRef& f) {
    double v;
    if (ir::is_constant(c, &v)) return v != 0 ? t : f;
    if (ir::same_expr(t, f)) return t;
    return ir::make_select(c, t, f, e->location);
  }

  static ir::ConstValues const_values(const std::vector<ir::ScalarParam>& params) {
    ir::ConstValues values;
    for (const ir::ScalarParam& p : params)
      if (p.is_const) values[p.name] = p.default_value;
    return values;
  }

  ir::ConstValues consts_;
  ir::NumericFacts original_;   // classes of the input's nodes (consts by their values)
  ir::NumericFacts rewritten_;  // classes of the nodes built here
};

}  // namespace

ir::ExprRef canonicalize_expr(const ir::ExprRef& e, const std::vector<ir::ScalarParam>& params) {
  return Canonicalizer(e, params).run(e);
}

ir::Variant canonicalize(const ir::Variant& variant) {
  ir::Variant out = variant;
  out.score = canonicalize_expr(variant.score, variant.params);
  if (out.score && out.score->op == Op::builtin && out.score->builtin == ir::Builtin::score)
    out.score = nullptr;
  out.mask = canonicalize_expr(variant.mask, variant.params);
  if (is_bool(out.mask, true)) out.mask = nullptr;
  std::erase_if(out.params, [](const ir::ScalarParam& p) { return p.is_const; });
  // Kernels compute with the f32 scale: one equal to the default there is the default.
  if (out.scale && out.head_dim > 0 &&
      ir::round_f32(*out.scale) == ir::round_f32(1.0 / std::sqrt(static_cast<double>(out.head_dim))))
    out.scale.reset();
  return out;
}

}  // namespace attnjit::passes
