#include "compiler/ir/numeric.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "compiler/support/diagnostics.h"

namespace attnjit::ir {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Halfway between FLT_MAX and 2^128: from here on a value rounds to infinity (the tie
// goes to the even neighbour, which is 2^128).
constexpr double kF32Overflow = 0x1.ffffffp127;
// Bounds beyond any value the checks accept: the analysis saturates here, so its own
// arithmetic never overflows.
constexpr WideInt kSaturation = WideInt(1) << 100;

WideInt saturate(WideInt v) { return std::clamp(v, -kSaturation, kSaturation); }
WideInt wide_add(WideInt a, WideInt b) { return saturate(a + b); }
WideInt wide_mul(WideInt a, WideInt b) {
  WideInt r;
  if (__builtin_mul_overflow(a, b, &r)) return (a < 0) != (b < 0) ? -kSaturation : kSaturation;
  return saturate(r);
}
WideInt wide_abs(WideInt v) { return v < 0 ? -v : v; }

// --- the function table ----------------------------------------------------------------
double real_tanh(const double* x) { return std::tanh(x[0]); }
double real_exp(const double* x) { return std::exp(x[0]); }
double real_exp2(const double* x) { return std::exp2(x[0]); }
double real_log(const double* x) { return std::log(x[0]); }
double real_sqrt(const double* x) { return std::sqrt(x[0]); }
double real_abs(const double* x) { return std::fabs(x[0]); }
double real_min(const double* x) { return std::fmin(x[0], x[1]); }
double real_max(const double* x) { return std::fmax(x[0], x[1]); }

std::optional<int64_t> integer_abs(const int64_t* x) {
  if (x[0] == std::numeric_limits<int64_t>::min()) return std::nullopt;
  return x[0] < 0 ? -x[0] : x[0];
}
std::optional<int64_t> integer_min(const int64_t* x) { return std::min(x[0], x[1]); }
std::optional<int64_t> integer_max(const int64_t* x) { return std::max(x[0], x[1]); }


// --- ranges ------------------------------------------------------------------------------
IntRange point(WideInt v) { return {v, v}; }

IntRange builtin_range(Builtin b, const NumericEnv& env) {
  const int q_heads = env.q_heads > 0 ? env.q_heads : kMaxHeads;
  const int kv_heads = env.kv_heads > 0 ? env.kv_heads : kMaxHeads;
  switch (b) {
    case Builtin::q_pos: return {-kMaxPosition, kMaxPosition};
    case Builtin::kv_pos: return {0, kMaxPosition};
    case Builtin::q_head: return {0, q_heads - 1};
    case Builtin::kv_head: return {0, kv_heads - 1};
    case Builtin::seq: return {0, kMaxBatch - 1};
    case Builtin::q_len:
    case Builtin::kv_len: return {1, kMaxSequenceLength};
    case Builtin::score: break;
  }
  return {};
}

IntRange range_of_product(const IntRange& a, const IntRange& b) {
  const WideInt p[] = {wide_mul(a.lo, b.lo), wide_mul(a.lo, b.hi), wide_mul(a.hi, b.lo),
                       wide_mul(a.hi, b.hi)};
  return {*std::min_element(std::begin(p), std::end(p)), *std::max_element(std::begin(p), std::end(p))};
}

// a % b truncating: |result| < |b| and |result| <= |a|, with the sign of a.
IntRange range_of_remainder(const IntRange& a, const IntRange& b) {
  const WideInt largest_divisor = std::max(wide_abs(b.lo), wide_abs(b.hi));
  if (largest_divisor == 0) return point(0);
  const WideInt m = largest_divisor - 1;
  return {a.lo >= 0 ? 0 : std::max(a.lo, -m), a.hi <= 0 ? 0 : std::min(a.hi, m)};
}

IntRange range_of_abs(const IntRange& a) {
  if (a.lo >= 0) return a;
  if (a.hi <= 0) return {-a.hi, -a.lo};
  return {0, std::max(-a.lo, a.hi)};
}

// The range of a linear form in the positions. With opposite coefficients it is a
// multiple of kv_pos - q_pos, whose range is tighter than the positions' own.
IntRange range_of_linear(const PositionLinear& f, const NumericEnv& env) {
  if (f.q == -f.kv) {
    const WideInt spread = wide_mul(wide_abs(f.kv), kMaxPosition);
    return {wide_add(f.c, -spread), wide_add(f.c, spread)};
  }
  const IntRange q = range_of_product(point(f.q), builtin_range(Builtin::q_pos, env));
  const IntRange kv = range_of_product(point(f.kv), builtin_range(Builtin::kv_pos, env));
  return {wide_add(wide_add(q.lo, kv.lo), f.c), wide_add(wide_add(q.hi, kv.hi), f.c)};
}

// Coefficients past this are kept out of linear forms (nothing useful is that steep).
constexpr WideInt kLinearLimit = WideInt(1) << 62;

std::optional<PositionLinear> checked(PositionLinear f) {
  if (wide_abs(f.q) > kLinearLimit || wide_abs(f.kv) > kLinearLimit || wide_abs(f.c) > kLinearLimit)
    return std::nullopt;
  return f;
}

}  // namespace

// --- values ------------------------------------------------------------------------------

double round_f32(double v) {
  if (std::isnan(v)) return v;
  if (std::fabs(v) >= kF32Overflow) return std::copysign(kInf, v);
  return static_cast<double>(static_cast<float>(v));
}

double integer_to_f32(int64_t v) { return static_cast<double>(static_cast<float>(v)); }

bool is_integer_value(double v) {
  return std::isfinite(v) && v == std::floor(v) && v >= -0x1p63 && v < 0x1p63;
}

Number Number::of_integer(int64_t v) {
  Number n;
  n.integer = true;
  n.i = v;
  return n;
}

Number Number::of_real(double v) {
  Number n;
  n.r = v;
  return n;
}

Number Number::of_constant(double v) {
  return is_integer_value(v) ? of_integer(static_cast<int64_t>(v)) : of_real(v);
}

double Number::real() const { return integer ? integer_to_f32(i) : round_f32(r); }

double real_arithmetic_unrounded(Op op, double a, double b) {
  switch (op) {
    case Op::neg: return -a;
    case Op::add: return a + b;
    case Op::sub: return a - b;
    case Op::mul: return a * b;
    case Op::div: return a / b;
    case Op::mod: return std::fmod(a, b);
    default: break;
  }
  ATTNJIT_ASSERT(false, "real_arithmetic_unrounded: not an arithmetic operator");
  return 0.0;
}

std::optional<Number> arithmetic(Op op, const Number& a, const Number& b) {
  const bool integers = a.integer && (op == Op::neg || b.integer) && op != Op::div;
  if (!integers)
    return Number::of_real(round_f32(real_arithmetic_unrounded(op, a.real(), b.real())));
  int64_t r = 0;
  switch (op) {
    case Op::neg:
      if (__builtin_sub_overflow(int64_t{0}, a.i, &r)) return std::nullopt;
      break;
    case Op::add:
      if (__builtin_add_overflow(a.i, b.i, &r)) return std::nullopt;
      break;
    case Op::sub:
      if (__builtin_sub_overflow(a.i, b.i, &r)) return std::nullopt;
      break;
    case Op::mul:
      if (__builtin_mul_overflow(a.i, b.i, &r)) return std::nullopt;
      break;
    case Op::mod:
      if (b.i == 0) return std::nullopt;
      // x % -1 is 0; computing it would trap for the most negative x.
      r = b.i == -1 ? 0 : a.i % b.i;
      break;
    default: ATTNJIT_ASSERT(false, "arithmetic: not an arithmetic operator");
  }
  return Number::of_integer(r);
}

bool compare(Op op, const Number& a, const Number& b) {
  auto decide = [op](auto x, auto y) {
    switch (op) {
      case Op::lt: return x < y;
      case Op::le: return x <= y;
      case Op::gt: return x > y;
      case Op::ge: return x >= y;
      case Op::eq: return x == y;
      case Op::ne: return x != y;
      default: break;
    }
    ATTNJIT_ASSERT(false, "compare: not a comparison");
    return false;
  };
  if (a.integer && b.integer) return decide(a.i, b.i);
  return decide(a.real(), b.real());
}

const std::vector<MathFunction>& math_functions() {
  // Built on first use: other files' static tables (lowering's list of names) read it
  // during their own static initialization.
  static const std::vector<MathFunction> functions = {
      {"tanh", 1, real_tanh, nullptr}, {"exp", 1, real_exp, nullptr},
      {"exp2", 1, real_exp2, nullptr}, {"log", 1, real_log, nullptr},
      {"sqrt", 1, real_sqrt, nullptr}, {"abs", 1, real_abs, integer_abs},
      {"min", 2, real_min, integer_min}, {"max", 2, real_max, integer_max},
  };
  return functions;
}

const MathFunction* find_function(std::string_view name) {
  for (const MathFunction& f : math_functions())
    if (name == f.name) return &f;
  return nullptr;
}

double call_function_unrounded(const MathFunction& f, const std::vector<Number>& args) {
  ATTNJIT_ASSERT(static_cast<int>(args.size()) == f.arity, "call_function: wrong arity");
  double x[2] = {0.0, 0.0};
  for (size_t k = 0; k < args.size(); ++k) x[k] = args[k].real();
  return f.on_reals(x);
}

std::optional<Number> call_function(const MathFunction& f, const std::vector<Number>& args) {
  ATTNJIT_ASSERT(static_cast<int>(args.size()) == f.arity, "call_function: wrong arity");
  const bool integers =
      f.keeps_integers() && std::all_of(args.begin(), args.end(), [](const Number& n) { return n.integer; });
  if (!integers) return Number::of_real(round_f32(call_function_unrounded(f, args)));
  int64_t x[2] = {0, 0};
  for (size_t k = 0; k < args.size(); ++k) x[k] = args[k].i;
  std::optional<int64_t> r = f.on_integers(x);
  if (!r) return std::nullopt;
  return Number::of_integer(*r);
}

// --- facts -------------------------------------------------------------------------------

bool IntRange::fits_int64() const {
  return lo >= std::numeric_limits<int64_t>::min() && hi <= std::numeric_limits<int64_t>::max();
}

bool IntRange::fits_int32() const {
  return lo >= std::numeric_limits<int32_t>::min() && hi <= std::numeric_limits<int32_t>::max();
}

void NumericFacts::add(const ExprRef& e) {
  if (!e || facts_.count(e.get())) return;
  held_.push_back(e);
  visit(*e);
}

const NodeFacts& NumericFacts::of(const Expr& e) const {
  auto it = facts_.find(&e);
  ATTNJIT_ASSERT(it != facts_.end(), "NumericFacts::of: a node outside the analysed expression");
  return it->second;
}

const NodeFacts& NumericFacts::visit(const Expr& e) {
  if (auto it = facts_.find(&e); it != facts_.end()) return it->second;
  for (const ExprRef& a : e.args) visit(*a);
  return facts_.emplace(&e, compute(e)).first->second;
}

NodeFacts NumericFacts::compute(const Expr& e) {
  auto arg = [&](size_t k) -> const NodeFacts& { return facts_.at(e.args[k].get()); };
  auto const_value = [&](const std::string& name) -> std::optional<double> {
    if (!env_.consts) return std::nullopt;
    auto it = env_.consts->find(name);
    if (it == env_.consts->end()) return std::nullopt;
    return it->second;
  };
  auto all_constant = [&](size_t first) {
    for (size_t k = first; k < e.args.size(); ++k)
      if (!arg(k).constant) return false;
    return true;
  };

  NodeFacts f;
  f.integer = is_integer_node(e, [&](const Expr& x) { return facts_.at(&x).integer; }, const_value);

  // Folded values of constant subexpressions.
  switch (e.op) {
    case Op::constant:
      if (e.type == ValueType::boolean) f.truth = e.value != 0;
      else f.constant = Number::of_constant(e.value);
      break;
    case Op::param:
      if (std::optional<double> v = const_value(e.name)) f.constant = Number::of_constant(*v);
      break;
    case Op::neg:
    case Op::add:
    case Op::sub:
    case Op::mul:
    case Op::div:
    case Op::mod:
      if (all_constant(0)) {
        const Number a = *arg(0).constant;
        const Number b = e.op == Op::neg ? Number{} : *arg(1).constant;
        f.constant = arithmetic(e.op, a, b);
        if (f.constant && !f.constant->integer)
          f.unrounded = real_arithmetic_unrounded(e.op, a.real(), b.real());
      }
      break;
    case Op::call:
      if (const MathFunction* fn = find_function(e.name); fn && all_constant(0)) {
        std::vector<Number> values;
        for (size_t k = 0; k < e.args.size(); ++k) values.push_back(*arg(k).constant);
        f.constant = call_function(*fn, values);
        if (f.constant && !f.constant->integer) f.unrounded = call_function_unrounded(*fn, values);
      }
      break;
    case Op::lt: case Op::le: case Op::gt: case Op::ge: case Op::eq: case Op::ne:
      if (all_constant(0)) f.truth = compare(e.op, *arg(0).constant, *arg(1).constant);
      break;
    case Op::logical_not:
      if (arg(0).truth) f.truth = !*arg(0).truth;
      break;
    case Op::logical_and:
    case Op::logical_or:
      if (arg(0).truth && arg(1).truth)
        f.truth = e.op == Op::logical_and ? *arg(0).truth && *arg(1).truth
                                          : *arg(0).truth || *arg(1).truth;
      break;
    case Op::select:
      if (arg(0).truth) {
        const NodeFacts& chosen = arg(*arg(0).truth ? 1 : 2);
        f.truth = chosen.truth;
        if (chosen.constant) {
          // A real select of an integer branch turns it into a real.
          f.constant = f.integer || !chosen.constant->integer ? *chosen.constant
                                                              : Number::of_real(chosen.constant->real());
          f.unrounded = chosen.constant->integer ? f.constant->r : chosen.unrounded;
        }
      }
      break;
    case Op::builtin:
    case Op::input: break;
  }
  if (f.constant && !f.constant->integer && e.op == Op::constant) f.unrounded = e.value;
  if (f.constant && !f.constant->integer && e.op == Op::param) f.unrounded = f.constant->r;
  if (!f.integer) return f;

  // Linear forms in the positions.
  switch (e.op) {
    case Op::constant:
    case Op::param: f.linear = PositionLinear{0, 0, f.constant->i}; break;
    case Op::builtin:
      if (e.builtin == Builtin::q_pos) f.linear = PositionLinear{1, 0, 0};
      if (e.builtin == Builtin::kv_pos) f.linear = PositionLinear{0, 1, 0};
      break;
    case Op::neg:
      if (arg(0).linear) f.linear = checked({-arg(0).linear->q, -arg(0).linear->kv, -arg(0).linear->c});
      break;
    case Op::add:
    case Op::sub:
      if (arg(0).linear && arg(1).linear) {
        const WideInt s = e.op == Op::add ? 1 : -1;
        const PositionLinear& a = *arg(0).linear;
        const PositionLinear& b = *arg(1).linear;
        f.linear = checked({a.q + s * b.q, a.kv + s * b.kv, a.c + s * b.c});
      }
      break;
    case Op::mul:
      for (int side = 0; side < 2 && !f.linear; ++side) {
        const NodeFacts& k = arg(side);
        const NodeFacts& x = arg(1 - side);
        if (k.constant && x.linear)
          f.linear = checked({wide_mul(k.constant->i, x.linear->q), wide_mul(k.constant->i, x.linear->kv),
                              wide_mul(k.constant->i, x.linear->c)});
      }
      break;
    default: break;
  }

  // Ranges.
  switch (e.op) {
    case Op::constant:
    case Op::param: f.range = point(f.constant->i); break;
    case Op::builtin: f.range = builtin_range(e.builtin, env_); break;
    case Op::neg: f.range = {-arg(0).range.hi, -arg(0).range.lo}; break;
    case Op::add: f.range = {wide_add(arg(0).range.lo, arg(1).range.lo), wide_add(arg(0).range.hi, arg(1).range.hi)}; break;
    case Op::sub: f.range = {wide_add(arg(0).range.lo, -arg(1).range.hi), wide_add(arg(0).range.hi, -arg(1).range.lo)}; break;
    case Op::mul: f.range = range_of_product(arg(0).range, arg(1).range); break;
    case Op::mod: f.range = range_of_remainder(arg(0).range, arg(1).range); break;
    case Op::call:
      if (e.name == "abs") {
        f.range = range_of_abs(arg(0).range);
      } else {
        const IntRange& a = arg(0).range;
        const IntRange& b = arg(1).range;
        f.range = e.name == "min" ? IntRange{std::min(a.lo, b.lo), std::min(a.hi, b.hi)}
                                  : IntRange{std::max(a.lo, b.lo), std::max(a.hi, b.hi)};
      }
      break;
    case Op::select:
      f.range = {std::min(arg(1).range.lo, arg(2).range.lo), std::max(arg(1).range.hi, arg(2).range.hi)};
      break;
    default: break;
  }
  if (f.linear) {
    const IntRange l = range_of_linear(*f.linear, env_);
    f.range = {std::max(f.range.lo, l.lo), std::min(f.range.hi, l.hi)};
  }
  return f;
}

bool is_integer(const ExprRef& e, const ConstValues* consts) {
  if (!e) return false;
  return NumericFacts(e, {0, 0, consts}).is_integer(*e);
}

std::string wide_text(WideInt v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  std::string digits;
  for (WideInt x = negative ? -v : v; x > 0; x /= 10) digits.insert(digits.begin(), char('0' + int(x % 10)));
  return negative ? "-" + digits : digits;
}

}  // namespace attnjit::ir
