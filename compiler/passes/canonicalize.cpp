#include "compiler/passes/canonicalize.h"

#include <cmath>
#include <map>

#include "compiler/support/diagnostics.h"

namespace attnjit::passes {

namespace {

using ir::ExprRef;
using ir::Op;

double evaluate_call(const std::string& f, const std::vector<double>& x) {
  if (f == "tanh") return std::tanh(x[0]);
  if (f == "exp") return std::exp(x[0]);
  if (f == "exp2") return std::exp2(x[0]);
  if (f == "log") return std::log(x[0]);
  if (f == "sqrt") return std::sqrt(x[0]);
  if (f == "abs") return std::fabs(x[0]);
  if (f == "min") return std::fmin(x[0], x[1]);
  return std::fmax(x[0], x[1]);
}

// Arithmetic on two constants; nullopt where folding would change behaviour
// (division or remainder by zero) or leave the finite numbers.
std::optional<double> fold_arithmetic(Op op, double a, double b) {
  double r = 0;
  switch (op) {
    case Op::add: r = a + b; break;
    case Op::sub: r = a - b; break;
    case Op::mul: r = a * b; break;
    case Op::div:
      if (b == 0) return std::nullopt;
      r = a / b;
      break;
    case Op::mod:  // C fmod: the result has the sign of the left operand
      if (b == 0) return std::nullopt;
      r = std::fmod(a, b);
      break;
    default: return std::nullopt;
  }
  if (!std::isfinite(r)) return std::nullopt;
  return r;
}

bool fold_comparison(Op op, double a, double b) {
  switch (op) {
    case Op::lt: return a < b;
    case Op::le: return a <= b;
    case Op::gt: return a > b;
    case Op::ge: return a >= b;
    case Op::eq: return a == b;
    default: return a != b;
  }
}

bool is_value(const ExprRef& e, double v) {
  double x;
  return ir::is_constant(e, &x) && e->type == ir::ValueType::number && x == v;
}

bool is_bool(const ExprRef& e, bool v) {
  double x;
  return ir::is_constant(e, &x) && e->type == ir::ValueType::boolean && (x != 0) == v;
}

class Canonicalizer {
 public:
  explicit Canonicalizer(const std::vector<ir::ScalarParam>& params) {
    for (const ir::ScalarParam& p : params)
      if (p.is_const) consts_[p.name] = p.default_value;
  }

  ExprRef run(const ExprRef& e) {
    if (!e) return nullptr;
    switch (e->op) {
      case Op::constant:
      case Op::builtin:
      case Op::input: return e;
      case Op::param: {
        auto it = consts_.find(e->name);
        return it == consts_.end() ? e : ir::make_constant(it->second, e->location);
      }
      case Op::neg:
      case Op::logical_not: return unary(e, run(e->args[0]));
      case Op::call: return call(e);
      case Op::select: return select(e, run(e->args[0]), run(e->args[1]), run(e->args[2]));
      default: return binary(e, run(e->args[0]), run(e->args[1]));
    }
  }

 private:
  ExprRef unary(const ExprRef& e, const ExprRef& x) {
    double v;
    if (e->op == Op::neg) {
      if (ir::is_constant(x, &v)) return ir::make_constant(-v, e->location);
      if (x->op == Op::neg) return x->args[0];
    } else {
      if (ir::is_constant(x, &v)) return ir::make_bool(v == 0, e->location);
      if (x->op == Op::logical_not) return x->args[0];
    }
    return ir::make_unary(e->op, x, e->location);
  }

  ExprRef binary(const ExprRef& e, const ExprRef& a, const ExprRef& b) {
    double x, y;
    bool constants = ir::is_constant(a, &x) && ir::is_constant(b, &y);
    switch (e->op) {
      case Op::add:
      case Op::sub:
      case Op::mul:
      case Op::div:
      case Op::mod:
        if (constants)
          if (auto r = fold_arithmetic(e->op, x, y)) return ir::make_constant(*r, e->location);
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

  static ExprRef binary_or_fold(Op op, const ExprRef& a, const ExprRef& b, SourceLocation at) {
    double x, y;
    if (ir::is_constant(a, &x) && ir::is_constant(b, &y))
      return ir::make_bool(fold_comparison(op, x, y), at);
    return ir::make_binary(op, a, b, at);
  }

  ExprRef call(const ExprRef& e) {
    std::vector<ExprRef> args;
    std::vector<double> values;
    for (const ExprRef& a : e->args) {
      args.push_back(run(a));
      double v;
      if (ir::is_constant(args.back(), &v)) values.push_back(v);
    }
    if (values.size() == args.size()) {
      double r = evaluate_call(e->name, values);
      if (std::isfinite(r)) return ir::make_constant(r, e->location);
    }
    return ir::make_call(e->name, std::move(args), e->location);
  }

  static ExprRef select(const ExprRef& e, const ExprRef& c, const ExprRef& t, const ExprRef& f) {
    double v;
    if (ir::is_constant(c, &v)) return v != 0 ? t : f;
    if (ir::same_expr(t, f)) return t;
    return ir::make_select(c, t, f, e->location);
  }

  std::map<std::string, double> consts_;
};

}  // namespace

ir::ExprRef canonicalize_expr(const ir::ExprRef& e, const std::vector<ir::ScalarParam>& params) {
  return Canonicalizer(params).run(e);
}

ir::Variant canonicalize(const ir::Variant& variant) {
  ir::Variant out = variant;
  out.score = canonicalize_expr(variant.score, variant.params);
  if (out.score && out.score->op == Op::builtin && out.score->builtin == ir::Builtin::score)
    out.score = nullptr;
  out.mask = canonicalize_expr(variant.mask, variant.params);
  if (is_bool(out.mask, true)) out.mask = nullptr;
  std::erase_if(out.params, [](const ir::ScalarParam& p) { return p.is_const; });
  if (out.scale && out.head_dim > 0 && *out.scale == 1.0 / std::sqrt(static_cast<double>(out.head_dim)))
    out.scale.reset();
  return out;
}

}  // namespace attnjit::passes
