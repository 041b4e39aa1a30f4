#include "compiler/codegen/render_expr.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "compiler/ir/numeric.h"

namespace attnjit {

namespace {

using ir::Expr;
using ir::ExprRef;
using ir::Op;

enum class Width { int32, int64 };

// A score may add and subtract the hook's float copies of the positions and constants
// whose magnitudes sum to at most this, instead of converting each result: exact while
// positions stay below 2^24 - 2^20 (every real sequence).
constexpr double kFloatLinearConstants = 1048576.0;  // 2^20

std::string float_literal(double v) {
  // `v` is an f32 value (finite: the checks reject the rest); nine significant digits
  // read back to exactly it.
  std::string text = fmt::format("{:.9g}", v);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";  // "2f" is no float literal
  // Parenthesized when negative, as integer literals are, so a negation before it
  // cannot read as "--".
  return v < 0 ? "(" + text + "f)" : text + "f";
}

std::string integer_literal(int64_t v, Width w) {
  // The most negative value has no literal of its own (the literal would be its
  // negation, one past the type's range).
  if (w == Width::int32) {
    if (v == std::numeric_limits<int32_t>::min()) return "(-2147483647 - 1)";
    return v < 0 ? fmt::format("({})", v) : fmt::format("{}", v);
  }
  if (v == std::numeric_limits<int64_t>::min()) return "(-9223372036854775807LL - 1)";
  return v < 0 ? fmt::format("({}LL)", v) : fmt::format("{}LL", v);
}

const char* type_name(Width w) { return w == Width::int32 ? "int" : "long long"; }

class Renderer {
 public:
  Renderer(const ExprRef& root, ExprRole role, const Dialect& d, const ir::Variant& v)
      : facts_(root, ir::NumericEnv{v.q_heads, v.kv_heads, nullptr}),
        role_(role),
        dialect_(d),
        params_(v.params),
        inputs_(v.inputs) {}
  std::string error;

  std::string top(const Expr& e) {
    if (e.type == ir::ValueType::boolean) return boolean(e);
    return real(e);
  }

 private:
  bool is_integer(const Expr& e) const { return facts_.is_integer(e); }

  // --- integers ----------------------------------------------------------------------
  // 32 bits when the node's value and its integer operands fit (so no operation can
  // overflow an int), else 64. Lowering has checked that 64 bits always suffice.
  Width width(const Expr& e) {
    const ir::NodeFacts& f = facts_.of(e);
    if (!f.range.fits_int64()) {
      error = "integer expression exceeds 64 bits (the numeric checks were skipped)";
      return Width::int64;
    }
    if (!f.range.fits_int32()) return Width::int64;
    for (size_t k = e.op == Op::select ? 1 : 0; k < e.args.size(); ++k)
      if (is_integer(*e.args[k]) && !facts_.of(*e.args[k]).range.fits_int32()) return Width::int64;
    if (e.op == Op::mod) {
      // INT_MIN % -1 overflows in the quotient.
      const ir::IntRange& a = facts_.of(*e.args[0]).range;
      const ir::IntRange& b = facts_.of(*e.args[1]).range;
      if (a.lo <= std::numeric_limits<int32_t>::min() && b.contains(-1)) return Width::int64;
    }
    return Width::int32;
  }

  // An integer node as a value of type `want`.
  std::string integer_as(const Expr& e, Width want) {
    if (e.op == Op::constant) return integer_literal(static_cast<int64_t>(e.value), want);
    const Width own = width(e);
    std::string text = integer(e, own);
    if (own == want) return text;
    // Widening is exact; narrowing too, since the value fits in 32 bits (width()).
    return fmt::format("static_cast<{}>({})", type_name(want), text);
  }

  std::string integer(const Expr& e, Width w) {
    switch (e.op) {
      case Op::constant: return integer_literal(static_cast<int64_t>(e.value), w);
      case Op::builtin: return ir::builtin_name(e.builtin);
      case Op::neg: return "(-" + integer_as(*e.args[0], w) + ")";
      case Op::add: case Op::sub: case Op::mul: case Op::mod:
        return "(" + integer_as(*e.args[0], w) + " " + ir::op_spelling(e.op) + " " +
               integer_as(*e.args[1], w) + ")";
      case Op::select:
        return "(" + boolean(*e.args[0]) + " ? " + integer_as(*e.args[1], w) + " : " +
               integer_as(*e.args[2], w) + ")";
      case Op::call:
        if (e.name == "abs") return (w == Width::int32 ? "abs(" : "llabs(") + integer_as(*e.args[0], w) + ")";
        // CUDA's min and max have an overload per integer type: both operands share w.
        return fmt::format("{}({}, {})", e.name, integer_as(*e.args[0], w), integer_as(*e.args[1], w));
      default: break;
    }
    error = "unexpected integer expression node";
    return "0";
  }

  // --- reals -------------------------------------------------------------------------
  std::string real(const Expr& e) {
    if (is_integer(e)) {
      if (e.op == Op::constant) return float_literal(ir::integer_to_f32(static_cast<int64_t>(e.value)));
      double constants = 0;
      if (role_ == ExprRole::score && is_float_linear(e, &constants) && constants <= kFloatLinearConstants)
        return float_linear(e);
      // int and long long convert to the nearest float (cvt.rn), as the reference rounds.
      return "static_cast<float>(" + integer_as(e, width(e)) + ")";
    }
    const bool exact = role_ == ExprRole::mask;
    switch (e.op) {
      case Op::constant: return float_literal(ir::round_f32(e.value));
      case Op::param:
        for (size_t i = 0; i < params_.size(); ++i)
          if (params_[i].name == e.name) return fmt::format("args.params[{}]", i);
        error = "unknown param '" + e.name + "'";
        return "0";
      case Op::input: return input(e);
      case Op::builtin: return ir::builtin_name(e.builtin);  // score
      case Op::neg: return "(-" + real(*e.args[0]) + ")";
      case Op::mod: return fmt::format("fmodf({}, {})", real(*e.args[0]), real(*e.args[1]));
      case Op::add: case Op::sub: case Op::mul: case Op::div: {
        const std::string a = real(*e.args[0]), b = real(*e.args[1]);
        // Correctly rounded and never fused into an FMA: the reference rounds each
        // operation to f32.
        if (exact) {
          const char* fn = e.op == Op::add ? "__fadd_rn" : e.op == Op::sub ? "__fsub_rn"
                           : e.op == Op::mul ? "__fmul_rn" : "__fdiv_rn";
          return fmt::format("{}({}, {})", fn, a, b);
        }
        // By a param or a literal: a reciprocal the compiler computes once per thread,
        // not an IEEE division per element (within an ulp of it).
        if (e.op == Op::div && (e.args[1]->op == Op::param || e.args[1]->op == Op::constant))
          return "(" + a + " * (1.0f / " + b + "))";
        return "(" + a + " " + ir::op_spelling(e.op) + " " + b + ")";
      }
      case Op::select:
        return "(" + boolean(*e.args[0]) + " ? " + real(*e.args[1]) + " : " + real(*e.args[2]) + ")";
      case Op::call: return call(e, exact);
      default: break;
    }
    error = "unexpected number expression node";
    return "0";
  }

  std::string input(const Expr& e) {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (inputs_[i].name != e.name) continue;
      // Indexed by its own extent's builtin (the type checker's rule): the value was
      // bound once per thread block.
      const Expr& index = *e.args[0];
      if (index.op == Op::builtin && index.builtin == ir::input_index_builtin(inputs_[i].extent))
        return fmt::format("bound.values[{}]", i);
      return fmt::format("args.inputs[{}][{}]", i, integer_as(index, width(index)));
    }
    error = "unknown input '" + e.name + "'";
    return "0";
  }

  std::string call(const Expr& e, bool exact) {
    const char* fn = nullptr;
    if (e.name == "tanh") fn = dialect_.math_tanh;
    else if (e.name == "exp") fn = dialect_.math_exp;
    else if (e.name == "exp2") fn = dialect_.math_exp2;
    else if (e.name == "log") fn = dialect_.math_log;
    else if (e.name == "sqrt") fn = exact ? dialect_.math_sqrt_exact : dialect_.math_sqrt;
    else if (e.name == "abs") fn = dialect_.math_abs;
    else if (e.name == "min") fn = dialect_.math_min;
    else if (e.name == "max") fn = dialect_.math_max;
    if (fn == nullptr) {
      error = "unknown function '" + e.name + "'";
      return "0";
    }
    std::string out = std::string(fn) + "(";
    for (size_t i = 0; i < e.args.size(); ++i) out += (i ? ", " : "") + real(*e.args[i]);
    return out + ")";
  }

  // Sums and differences of positions and integer constants (kv_pos - q_pos), rendered
  // over the hook's float positions so no int-to-float conversion runs per score;
  // adds the constants' magnitudes to *constants. Scores only.
  bool is_float_linear(const Expr& e, double* constants) const {
    switch (e.op) {
      case Op::constant: *constants += std::fabs(e.value); return true;
      case Op::builtin: return e.builtin == ir::Builtin::q_pos || e.builtin == ir::Builtin::kv_pos;
      case Op::neg: return is_float_linear(*e.args[0], constants);
      case Op::add:
      case Op::sub: return is_float_linear(*e.args[0], constants) && is_float_linear(*e.args[1], constants);
      default: return false;
    }
  }
  std::string float_linear(const Expr& e) {
    switch (e.op) {
      case Op::constant: return float_literal(e.value);
      case Op::builtin: return e.builtin == ir::Builtin::q_pos ? "at.q_pos_f" : "at.kv_pos_f";
      case Op::neg: return "(-" + float_linear(*e.args[0]) + ")";
      default:
        return "(" + float_linear(*e.args[0]) + (e.op == Op::add ? " + " : " - ") +
               float_linear(*e.args[1]) + ")";
    }
  }

  // --- booleans ----------------------------------------------------------------------
  std::string boolean(const Expr& e) {
    switch (e.op) {
      case Op::constant: return e.value != 0 ? "true" : "false";
      case Op::logical_not: return "(!" + boolean(*e.args[0]) + ")";
      case Op::logical_and: case Op::logical_or:
        return "(" + boolean(*e.args[0]) + " " + ir::op_spelling(e.op) + " " + boolean(*e.args[1]) + ")";
      case Op::select:
        return "(" + boolean(*e.args[0]) + " ? " + boolean(*e.args[1]) + " : " + boolean(*e.args[2]) + ")";
      case Op::lt: case Op::le: case Op::gt: case Op::ge: case Op::eq: case Op::ne: {
        const Expr& a = *e.args[0];
        const Expr& b = *e.args[1];
        if (is_integer(a) && is_integer(b)) {
          // Exactly, in the wider of the two widths.
          const Width w = width_of_operand(a) == Width::int64 || width_of_operand(b) == Width::int64
                              ? Width::int64 : Width::int32;
          return "(" + integer_as(a, w) + " " + ir::op_spelling(e.op) + " " + integer_as(b, w) + ")";
        }
        return "(" + real(a) + " " + ir::op_spelling(e.op) + " " + real(b) + ")";
      }
      default: break;
    }
    error = "unexpected boolean expression node";
    return "false";
  }

  // A comparison operand's width: a constant takes whatever its value fits.
  Width width_of_operand(const Expr& e) {
    if (e.op == Op::constant)
      return facts_.of(e).range.fits_int32() ? Width::int32 : Width::int64;
    return width(e);
  }

  ir::NumericFacts facts_;
  ExprRole role_;
  const Dialect& dialect_;
  const std::vector<ir::ScalarParam>& params_;
  const std::vector<ir::InputArray>& inputs_;
};

}  // namespace

Result<std::string, std::string> render_expr(const ir::ExprRef& e, ExprRole role, const Dialect& dialect,
                                             const ir::Variant& variant) {
  Renderer r(e, role, dialect, variant);
  std::string text = r.top(*e);
  if (!r.error.empty()) return fail(r.error);
  return text;
}

}  // namespace attnjit
