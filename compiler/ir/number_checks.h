#pragma once
// The located errors of the DSL's numeric rules (docs/dsl.md, "Numbers: integers and
// reals"), found on IR whose nodes carry the locations of the source they came from:
//  - an integer node whose range can leave 64 bits;
//  - a divisor (of / or %) that is constant zero, or an integer that can be zero;
//  - a real constant that is not a finite f32 or that rounds to 0 from a nonzero value;
//  - a constant subexpression that folds to NaN, +-inf, or underflows to 0 in f32;
//  - a whole number beyond 64 bits (1e19) meeting an integer: it cannot be one.
// Only the innermost offending node of a subtree is reported: its parents inherit the
// problem and would repeat it.
#include <unordered_map>

#include "compiler/ir/numeric.h"
#include "compiler/support/diagnostics.h"

namespace attnjit::ir {

class NumberChecker {
 public:
  NumberChecker(NumericEnv env, DiagnosticList& diagnostics)
      : facts_(env), diagnostics_(diagnostics) {}

  // Checks `e` and every node under it not checked before (each is reported once, so
  // a caller may check subexpressions as it builds them). False if `e` or a node under
  // it breaks a rule.
  bool check(const ExprRef& e);
  const NumericFacts& facts() const { return facts_; }

 private:
  bool visit(const Expr& e);
  bool check_node(const Expr& e);
  bool check_real_constant_leaf(const Expr& e);
  bool check_folded_real(const Expr& e);
  bool check_integer_range(const Expr& e);
  bool check_divisor(const Expr& e);
  bool check_whole_operands(const Expr& e);
  void error(const Expr& at, std::string message) { diagnostics_.error(at.location, std::move(message)); }

  NumericFacts facts_;
  DiagnosticList& diagnostics_;
  std::unordered_map<const Expr*, bool> checked_;
};

// A real value's spelling in messages: 1e300, 0.5, -3.4028235e+38 without the '+'.
std::string number_text(double v);

}  // namespace attnjit::ir
