#include "compiler/passes/mask_analysis.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "compiler/ir/numeric.h"

namespace attnjit::passes {

namespace {

using ir::ExprRef;
using ir::Op;
using ir::WideInt;

// Below this magnitude every integer is an exact f32, so comparing an integer with a
// real constant in f32 (the DSL's rule) decides exactly as comparing the two numbers.
constexpr double kExactF32Integers = 16777216.0;  // 2^24

Op mirrored(Op op) {
  switch (op) {
    case Op::lt: return Op::gt;
    case Op::le: return Op::ge;
    case Op::gt: return Op::lt;
    case Op::ge: return Op::le;
    default: return op;
  }
}

// d = kv_pos - q_pos compared with whole + (fraction ? a number in (0, 1) : 0).
struct Threshold {
  WideInt whole = 0;
  bool fraction = false;
};

// `conjunct` as `d (op) threshold`; false if it is not of that form. Integer sides are
// linear forms in the positions (NumericFacts); a real side must be a constant.
bool as_difference_bound(const ir::Expr& conjunct, const ir::NumericFacts& facts, Op* op,
                         Threshold* t) {
  *op = conjunct.op;
  if (*op != Op::lt && *op != Op::le && *op != Op::gt && *op != Op::ge && *op != Op::eq) return false;
  const ir::NodeFacts& a = facts.of(*conjunct.args[0]);
  const ir::NodeFacts& b = facts.of(*conjunct.args[1]);
  ir::PositionLinear form;  // form (op) real, real given below
  std::optional<double> real;
  if (a.integer && b.integer) {
    if (!a.linear || !b.linear) return false;
    form = {a.linear->q - b.linear->q, a.linear->kv - b.linear->kv, a.linear->c - b.linear->c};
    real = 0.0;
  } else {
    // One integer side against a real constant, compared in f32.
    const bool left = a.integer;
    const ir::NodeFacts& integer_side = left ? a : b;
    const ir::NodeFacts& real_side = left ? b : a;
    if (!integer_side.integer || !integer_side.linear || !real_side.constant || real_side.constant->integer)
      return false;
    const double c = real_side.constant->real();
    if (!(std::fabs(c) < kExactF32Integers)) return false;
    form = *integer_side.linear;
    real = c;
    if (!left) *op = mirrored(*op);
  }
  // form = s * d + k with s = +-1; then d (op) (real - k) / s.
  if (form.kv == -1 && form.q == 1) {
    form = {-form.q, -form.kv, -form.c};
    *real = -*real;
    *op = mirrored(*op);
  }
  if (form.kv != 1 || form.q != -1) return false;
  // d (op) real - c, split into a whole part and whether a fraction remains.
  const double floor_part = std::floor(*real);
  t->whole = static_cast<WideInt>(floor_part) - form.c;
  t->fraction = *real != floor_part;
  return true;
}

// Bounds on d implied by one conjunct; false if it is not of the form.
bool absorb(const ir::Expr& conjunct, const ir::NumericFacts& facts, std::optional<WideInt>* lower,
            std::optional<WideInt>* upper) {
  Op op;
  Threshold t;
  if (!as_difference_bound(conjunct, facts, &op, &t)) return false;
  const WideInt ceiling = t.whole + (t.fraction ? 1 : 0);
  switch (op) {
    case Op::le: *upper = t.whole; break;
    case Op::lt: *upper = ceiling - 1; break;
    case Op::ge: *lower = ceiling; break;
    case Op::gt: *lower = t.whole + 1; break;
    default:  // eq: an empty band when the threshold is not a whole number
      *lower = ceiling;
      *upper = t.whole;
      break;
  }
  return true;
}

void conjuncts(const ExprRef& e, std::vector<ExprRef>* out) {
  if (e->op == Op::logical_and) {
    conjuncts(e->args[0], out);
    conjuncts(e->args[1], out);
  } else {
    out->push_back(e);
  }
}

// d = kv_pos - q_pos never leaves [-kMaxPosition, kMaxPosition] (numeric.h), so a bound
// beyond it either always holds (no bound) or never does (the nearest impossible
// offset). Every offset that reaches a kernel therefore fits in 32 bits.
std::optional<long long> clamp_lower(WideInt v) {
  if (v <= -ir::kMaxPosition) return std::nullopt;
  return static_cast<long long>(std::min<WideInt>(v, ir::kMaxPosition + 1));
}
std::optional<long long> clamp_upper(WideInt v) {
  if (v >= ir::kMaxPosition) return std::nullopt;
  return static_cast<long long>(std::max<WideInt>(v, -ir::kMaxPosition - 1));
}

}  // namespace

ir::KvBand analyze_mask(const ir::ExprRef& mask) {
  ir::KvBand band;
  if (!mask) return band;
  const ir::NumericFacts facts(mask, ir::NumericEnv{});
  std::vector<ExprRef> parts;
  conjuncts(mask, &parts);
  std::optional<WideInt> lowest, highest;
  for (const ExprRef& part : parts) {
    std::optional<WideInt> lower, upper;
    if (!absorb(*part, facts, &lower, &upper)) {
      band.exact = false;
      continue;
    }
    if (lower) lowest = lowest ? std::max(*lowest, *lower) : *lower;
    if (upper) highest = highest ? std::min(*highest, *upper) : *upper;
  }
  if (lowest) band.lower_offset = clamp_lower(*lowest);
  if (highest) band.upper_offset = clamp_upper(*highest);
  return band;
}

ir::KvBand clamp_band(const ir::KvBand& band) {
  ir::KvBand out = band;
  out.lower_offset = band.lower_offset ? clamp_lower(*band.lower_offset) : std::nullopt;
  out.upper_offset = band.upper_offset ? clamp_upper(*band.upper_offset) : std::nullopt;
  return out;
}

}  // namespace attnjit::passes
