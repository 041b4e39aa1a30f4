#include "compiler/passes/mask_analysis.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace attnjit::passes {

namespace {

using ir::ExprRef;
using ir::Op;

// a*q_pos + b*kv_pos + c
struct Linear {
  long long q = 0;
  long long kv = 0;
  double c = 0;
};

// Coefficients beyond this are certainly not +-1 and are not worth tracking.
constexpr long long kCoefficientLimit = 1 << 20;
// Offsets that convert to long long exactly and leave room for +-1 adjustments.
constexpr double kOffsetLimit = 4.0e18;

std::optional<Linear> linearize(const ExprRef& e) {
  switch (e->op) {
    case Op::constant: return Linear{0, 0, e->value};
    case Op::builtin:
      if (e->builtin == ir::Builtin::q_pos) return Linear{1, 0, 0};
      if (e->builtin == ir::Builtin::kv_pos) return Linear{0, 1, 0};
      return std::nullopt;
    case Op::neg: {
      auto x = linearize(e->args[0]);
      if (!x) return std::nullopt;
      return Linear{-x->q, -x->kv, -x->c};
    }
    case Op::add:
    case Op::sub: {
      auto a = linearize(e->args[0]);
      auto b = linearize(e->args[1]);
      if (!a || !b) return std::nullopt;
      long long s = e->op == Op::add ? 1 : -1;
      return Linear{a->q + s * b->q, a->kv + s * b->kv, a->c + s * b->c};
    }
    case Op::mul: {
      // Only a whole-number constant times a linear form stays linear with integer
      // coefficients.
      double k;
      const ExprRef* other = nullptr;
      if (ir::is_constant(e->args[0], &k)) other = &e->args[1];
      else if (ir::is_constant(e->args[1], &k)) other = &e->args[0];
      if (!other || k != std::floor(k) || std::fabs(k) > kCoefficientLimit) return std::nullopt;
      auto x = linearize(*other);
      if (!x || std::llabs(x->q) > kCoefficientLimit || std::llabs(x->kv) > kCoefficientLimit)
        return std::nullopt;
      long long n = static_cast<long long>(k);
      return Linear{n * x->q, n * x->kv, k * x->c};
    }
    default: return std::nullopt;
  }
}

Op mirrored(Op op) {
  switch (op) {
    case Op::lt: return Op::gt;
    case Op::le: return Op::ge;
    case Op::gt: return Op::lt;
    case Op::ge: return Op::le;
    default: return op;
  }
}

// Bounds on d = kv_pos - q_pos implied by one conjunct; false if it is not of the form.
bool absorb(const ExprRef& conjunct, std::optional<long long>* lower, std::optional<long long>* upper) {
  Op op = conjunct->op;
  if (op != Op::lt && op != Op::le && op != Op::gt && op != Op::ge && op != Op::eq) return false;
  auto a = linearize(conjunct->args[0]);
  auto b = linearize(conjunct->args[1]);
  if (!a || !b) return false;
  // lhs - rhs = q*q_pos + kv*kv_pos + c  (op)  0
  Linear diff{a->q - b->q, a->kv - b->kv, a->c - b->c};
  if (diff.kv == -1 && diff.q == 1) {
    diff = Linear{-diff.q, -diff.kv, -diff.c};
    op = mirrored(op);
  }
  if (diff.kv != 1 || diff.q != -1) return false;
  // Now d + c (op) 0, i.e. d (op) x with d an integer.
  double x = -diff.c;
  if (!std::isfinite(x) || std::fabs(x) > kOffsetLimit) return false;
  auto whole = [](double v) { return static_cast<long long>(v); };
  switch (op) {
    case Op::le: *upper = whole(std::floor(x)); break;
    case Op::lt: *upper = whole(std::ceil(x)) - 1; break;
    case Op::ge: *lower = whole(std::ceil(x)); break;
    case Op::gt: *lower = whole(std::floor(x)) + 1; break;
    default:  // eq: an empty band when x is not a whole number
      *lower = whole(std::ceil(x));
      *upper = whole(std::floor(x));
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

}  // namespace

ir::KvBand analyze_mask(const ir::ExprRef& mask) {
  ir::KvBand band;
  if (!mask) return band;
  std::vector<ExprRef> parts;
  conjuncts(mask, &parts);
  for (const ExprRef& part : parts) {
    std::optional<long long> lower, upper;
    if (!absorb(part, &lower, &upper)) {
      band.exact = false;
      continue;
    }
    if (lower) band.lower_offset = band.lower_offset ? std::max(*band.lower_offset, *lower) : *lower;
    if (upper) band.upper_offset = band.upper_offset ? std::min(*band.upper_offset, *upper) : *upper;
  }
  return band;
}

}  // namespace attnjit::passes
