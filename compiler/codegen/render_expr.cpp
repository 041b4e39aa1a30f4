#include "compiler/codegen/render_expr.h"

#include <cmath>

#include <fmt/format.h>

namespace attnjit {

namespace {

using ir::Expr;
using ir::ExprRef;
using ir::Op;

// True when the expression is an integer in every evaluation: integer literals and
// the integer builtins combined by + - * % and min/max/abs/select.
bool is_integral(const Expr& e) {
  switch (e.op) {
    case Op::constant:
      return e.type == ir::ValueType::number && std::nearbyint(e.value) == e.value &&
             std::fabs(e.value) < 2147483647.0;
    case Op::builtin:
      return e.builtin != ir::Builtin::score;
    case Op::neg:
    case Op::add:
    case Op::sub:
    case Op::mul:
    case Op::mod:
      for (const ExprRef& a : e.args)
        if (!is_integral(*a)) return false;
      return true;
    case Op::call:
      if (e.name == "min" || e.name == "max" || e.name == "abs") {
        for (const ExprRef& a : e.args)
          if (!is_integral(*a)) return false;
        return true;
      }
      return false;
    case Op::select:
      return is_integral(*e.args[1]) && is_integral(*e.args[2]);
    default:
      return false;
  }
}

std::string float_literal(double v) {
  if (std::isinf(v)) return v > 0 ? "__int_as_float(0x7f800000u)" : "__int_as_float(0xff800000u)";
  std::string text = fmt::format("{:.9g}", v);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";  // "2f" is no float literal
  return text + "f";
}

class Renderer {
 public:
  Renderer(const Dialect& d, const std::vector<ir::ScalarParam>& params,
           const std::vector<ir::InputArray>& inputs)
      : dialect_(d), params_(params), inputs_(inputs) {}
  std::string error;

  std::string render(const Expr& e) {
    const bool integral = is_integral(e);
    switch (e.op) {
      case Op::constant:
        if (e.type == ir::ValueType::boolean) return e.value != 0 ? "true" : "false";
        if (integral) return fmt::format("{}", static_cast<long long>(e.value));
        return float_literal(e.value);
      case Op::builtin:
        return ir::builtin_name(e.builtin);
      case Op::param:
        for (size_t i = 0; i < params_.size(); ++i)
          if (params_[i].name == e.name) return fmt::format("args.params[{}]", i);
        error = "unknown param '" + e.name + "'";
        return "0";
      case Op::input:
        for (size_t i = 0; i < inputs_.size(); ++i) {
          if (inputs_[i].name != e.name) continue;
          // Indexed by its own extent's builtin (the type checker's rule): the value was
          // bound once per thread block.
          const ir::Expr& index = *e.args[0];
          if (index.op == Op::builtin && index.builtin == ir::input_index_builtin(inputs_[i].extent))
            return fmt::format("bound.values[{}]", i);
          return fmt::format("args.inputs[{}][{}]", i, render(index));
        }
        error = "unknown input '" + e.name + "'";
        return "0";
      case Op::neg:
        return "(-" + render(*e.args[0]) + ")";
      case Op::logical_not:
        return "(!" + render(*e.args[0]) + ")";
      case Op::mod:
        if (integral) return binary(e, "%");
        return fmt::format("fmodf({}, {})", as_float(*e.args[0]), as_float(*e.args[1]));
      case Op::div:
        // By a param or a literal: a reciprocal the compiler computes once per thread,
        // not an IEEE division per element (within an ulp of it).
        if (e.args[1]->op == Op::param || e.args[1]->op == Op::constant)
          return "(" + as_float(*e.args[0]) + " * (1.0f / " + as_float(*e.args[1]) + "))";
        return "(" + as_float(*e.args[0]) + " / " + as_float(*e.args[1]) + ")";
      case Op::add: case Op::sub: case Op::mul:
      case Op::lt: case Op::le: case Op::gt: case Op::ge: case Op::eq: case Op::ne:
      case Op::logical_and: case Op::logical_or:
        return binary(e, ir::op_spelling(e.op));
      case Op::select:
        return "(" + render(*e.args[0]) + " ? " + operand(e, *e.args[1]) + " : " +
               operand(e, *e.args[2]) + ")";
      case Op::call:
        return call(e, integral);
    }
    error = "unknown expression node";
    return "0";
  }

 private:
  // Mixed int/float arithmetic: promote the integral side explicitly. (Comparisons
  // are boolean-valued; binary() promotes their operands when the sides differ.)
  std::string operand(const Expr& parent, const Expr& child) {
    if (parent.type == ir::ValueType::number && child.type == ir::ValueType::number &&
        !is_integral(parent) && is_integral(child))
      return as_float(child);
    return render(child);
  }
  std::string as_float(const Expr& e) {
    if (e.op == Op::constant) return float_literal(e.value);
    if (is_float_linear(e)) return render_float_linear(e);
    if (is_integral(e)) return "static_cast<float>(" + render(e) + ")";
    return render(e);
  }
  // Sums and differences of positions and integer constants (kv_pos - q_pos): rendered
  // over the float positions of the hook's Position, so no int-to-float conversion
  // runs per element.
  static bool is_float_linear(const Expr& e) {
    switch (e.op) {
      case Op::constant: return is_integral(e);
      case Op::builtin: return e.builtin == ir::Builtin::q_pos || e.builtin == ir::Builtin::kv_pos;
      case Op::neg: return is_float_linear(*e.args[0]);
      case Op::add:
      case Op::sub: return is_float_linear(*e.args[0]) && is_float_linear(*e.args[1]);
      default: return false;
    }
  }
  std::string render_float_linear(const Expr& e) {
    switch (e.op) {
      case Op::constant: return float_literal(e.value);
      case Op::builtin:
        return e.builtin == ir::Builtin::q_pos ? "at.q_pos_f" : "at.kv_pos_f";
      case Op::neg: return "(-" + render_float_linear(*e.args[0]) + ")";
      default:
        return "(" + render_float_linear(*e.args[0]) + (e.op == Op::add ? " + " : " - ") +
               render_float_linear(*e.args[1]) + ")";
    }
  }
  std::string binary(const Expr& e, const char* op) {
    const bool compare_mixed = e.args[0]->type == ir::ValueType::number &&
                               (is_integral(*e.args[0]) != is_integral(*e.args[1]));
    std::string lhs = compare_mixed ? as_float(*e.args[0]) : operand(e, *e.args[0]);
    std::string rhs = compare_mixed ? as_float(*e.args[1]) : operand(e, *e.args[1]);
    return "(" + lhs + " " + op + " " + rhs + ")";
  }
  std::string call(const Expr& e, bool integral) {
    if (integral) {
      if (e.name == "abs") return "abs(" + render(*e.args[0]) + ")";
      return fmt::format("{}({}, {})", e.name, render(*e.args[0]), render(*e.args[1]));
    }
    const char* fn = nullptr;
    if (e.name == "tanh") fn = dialect_.math_tanh;
    else if (e.name == "exp") fn = dialect_.math_exp;
    else if (e.name == "exp2") fn = dialect_.math_exp2;
    else if (e.name == "log") fn = dialect_.math_log;
    else if (e.name == "sqrt") fn = dialect_.math_sqrt;
    else if (e.name == "abs") fn = dialect_.math_abs;
    else if (e.name == "min") fn = dialect_.math_min;
    else if (e.name == "max") fn = dialect_.math_max;
    if (fn == nullptr) {
      error = "unknown function '" + e.name + "'";
      return "0";
    }
    std::string out = std::string(fn) + "(";
    for (size_t i = 0; i < e.args.size(); ++i) out += (i ? ", " : "") + as_float(*e.args[i]);
    return out + ")";
  }

  const Dialect& dialect_;
  const std::vector<ir::ScalarParam>& params_;
  const std::vector<ir::InputArray>& inputs_;
};

}  // namespace

Result<std::string, std::string> render_expr(const ir::ExprRef& e, const Dialect& dialect,
                                             const std::vector<ir::ScalarParam>& params,
                                             const std::vector<ir::InputArray>& inputs) {
  Renderer r(dialect, params, inputs);
  std::string text = r.render(*e);
  if (!r.error.empty()) return fail(r.error);
  return text;
}

}  // namespace attnjit
