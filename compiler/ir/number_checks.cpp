#include "compiler/ir/number_checks.h"

#include <cmath>
#include <limits>

#include "compiler/ir/print.h"

namespace attnjit::ir {

namespace {

constexpr const char* kInt64Limits = "[-9223372036854775808, 9223372036854775807]";
constexpr const char* kF32Max = "3.4028235e38";
constexpr const char* kF32MinSubnormal = "1.4e-45";

// Messages quote at most this much of an expression (a generated chain can be huge).
constexpr size_t kQuoteLimit = 80;

std::string quoted(const Expr& e) {
  // print_expr takes a reference-counted node: lend it `e` without owning it.
  std::string text = print_expr(ExprRef(ExprRef(), &e));
  if (text.size() > kQuoteLimit) text = text.substr(0, kQuoteLimit - 3) + "...";
  return "'" + text + "'";
}

bool is_arithmetic(Op op) {
  return op == Op::add || op == Op::sub || op == Op::mul || op == Op::mod;
}

bool is_comparison(Op op) {
  return op == Op::lt || op == Op::le || op == Op::gt || op == Op::ge || op == Op::eq || op == Op::ne;
}

std::string range_bound_text(WideInt v) {
  // The analysis saturates far beyond 64 bits; past that point only "huge" is known.
  if (v >= (WideInt(1) << 100) || v <= -(WideInt(1) << 100)) return v > 0 ? "beyond 2^100" : "below -2^100";
  return wide_text(v);
}

}  // namespace

std::string number_text(double v) {
  std::string text = format_number(v);
  if (auto plus = text.find("e+"); plus != std::string::npos) text.erase(plus + 1, 1);
  return text;
}

bool NumberChecker::check(const ExprRef& e) {
  if (!e) return true;
  facts_.add(e);
  // Keep the node (and so its address) alive with the facts: NumericFacts holds it.
  return visit(*e);
}

bool NumberChecker::visit(const Expr& e) {
  if (auto it = checked_.find(&e); it != checked_.end()) return it->second;
  bool operands_ok = true;
  for (const ExprRef& a : e.args) operands_ok = visit(*a) && operands_ok;
  // A node over a reported problem is not checked: it would repeat the problem.
  const bool ok = operands_ok && check_node(e);
  checked_.emplace(&e, ok);
  return ok;
}

bool NumberChecker::check_node(const Expr& e) {
  if (e.op == Op::constant && e.type == ValueType::number) return check_real_constant_leaf(e);
  bool ok = check_whole_operands(e);
  if (ok && facts_.is_integer(e)) ok = check_integer_range(e);
  if (ok && (e.op == Op::div || e.op == Op::mod)) ok = check_divisor(e);
  if (ok && e.type == ValueType::number && !facts_.is_integer(e)) ok = check_folded_real(e);
  return ok;
}

bool NumberChecker::check_real_constant_leaf(const Expr& e) {
  if (is_integer_value(e.value)) return true;
  const double rounded = round_f32(e.value);
  if (std::isinf(rounded)) {
    error(e, "number " + number_text(e.value) + " is out of range for f32 (finite f32 values are at most " +
                 kF32Max + " in magnitude)");
    return false;
  }
  if (rounded == 0 && e.value != 0) {
    error(e, "number " + number_text(e.value) + " is too small for f32: it would round to 0 (the smallest positive f32 is " +
                 kF32MinSubnormal + ")");
    return false;
  }
  return true;
}

// A whole number beyond 64 bits is a real; next to an integer it is almost certainly
// meant as one (window(1e19)), and silently comparing in f32 would surprise.
bool NumberChecker::check_whole_operands(const Expr& e) {
  size_t first = 0;
  if (e.op == Op::select) first = 1;
  else if (!(is_arithmetic(e.op) || is_comparison(e.op) || (e.op == Op::call && (e.name == "min" || e.name == "max"))))
    return true;
  const Expr* integer_operand = nullptr;
  for (size_t k = first; k < e.args.size(); ++k)
    if (facts_.is_integer(*e.args[k])) integer_operand = e.args[k].get();
  if (!integer_operand) return true;
  bool ok = true;
  for (size_t k = first; k < e.args.size(); ++k) {
    const NodeFacts& f = facts_.of(*e.args[k]);
    if (!f.constant || f.constant->integer) continue;
    const double v = f.unrounded;
    if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) < 0x1p63) continue;
    const std::string text = e.args[k]->op == Op::constant ? "number " + number_text(v)
                                                           : "whole number " + quoted(*e.args[k]);
    std::string other;
    for (const ExprRef& a : e.args)
      if (a.get() == integer_operand) other = quoted(*a);
    error(*e.args[k], text + " does not fit in a 64-bit integer, the type of " + other +
                          " (integers lie within " + kInt64Limits + ")");
    ok = false;
  }
  return ok;
}

bool NumberChecker::check_integer_range(const Expr& e) {
  const NodeFacts& f = facts_.of(e);
  if (e.op == Op::mod) {
    // x % -1 divides the most negative x into a quotient one past the largest integer.
    const IntRange& a = facts_.of(*e.args[0]).range;
    const IntRange& b = facts_.of(*e.args[1]).range;
    if (a.lo <= std::numeric_limits<int64_t>::min() && b.contains(-1)) {
      error(e, "integer expression " + quoted(e) + " can exceed 64 bits: its quotient can reach 9223372036854775808");
      return false;
    }
  }
  if (f.range.fits_int64()) return true;
  const WideInt reach = f.range.hi > std::numeric_limits<int64_t>::max() ? f.range.hi : f.range.lo;
  const std::string what = "integer expression " + quoted(e);
  if (f.range.lo == f.range.hi)
    error(e, what + " is " + range_bound_text(reach) + ", beyond 64 bits (integers are exact and must stay within " +
                 kInt64Limits + ")");
  else
    error(e, what + " can exceed 64 bits: its values reach " + range_bound_text(reach) +
                 " (integers are exact and must stay within " + kInt64Limits + ")");
  return false;
}

bool NumberChecker::check_divisor(const Expr& e) {
  const Expr& divisor = *e.args[1];
  const NodeFacts& f = facts_.of(divisor);
  if (f.constant && f.constant->real() == 0) {
    error(divisor, e.op == Op::div ? "division by zero" : "remainder (%) by zero");
    return false;
  }
  if (f.integer && f.range.contains(0)) {
    error(divisor, "divisor " + quoted(divisor) + " can be zero: its values span [" +
                       range_bound_text(f.range.lo) + ", " + range_bound_text(f.range.hi) + "]");
    return false;
  }
  return true;
}

bool NumberChecker::check_folded_real(const Expr& e) {
  const NodeFacts& f = facts_.of(e);
  if (!f.constant || f.constant->integer || e.op == Op::param || e.op == Op::select) return true;
  const double v = f.constant->r;
  const std::string what = "constant expression " + quoted(e);
  if (std::isnan(v)) {
    error(e, what + " is NaN (not a number)");
    return false;
  }
  if (std::isinf(f.unrounded)) {
    error(e, what + " is " + (f.unrounded > 0 ? "inf" : "-inf") + ", not a finite number");
    return false;
  }
  if (std::isinf(v)) {
    error(e, what + " overflows f32: its value " + number_text(f.unrounded) + " is beyond " + kF32Max);
    return false;
  }
  if (v == 0 && f.unrounded != 0) {
    error(e, what + " underflows f32: its value " + number_text(f.unrounded) + " rounds to 0");
    return false;
  }
  return true;
}

}  // namespace attnjit::ir
