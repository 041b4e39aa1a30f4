#pragma once
// The reference's interpreter for variant expressions (score and mask). It follows the
// DSL's numeric rules (compiler/ir/numeric.h, docs/dsl.md "Numbers"): integer nodes are
// computed exactly in 64 bits, real nodes in double and rounded to f32 after every
// operation, so its masks agree exactly with the kernels'.
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/expr.h"
#include "compiler/ir/numeric.h"

namespace attnjit {

// Everything an expression may read at one (query, key) pair.
struct ExprEnv {
  // Indexed by ir::Builtin: score, q_pos, kv_pos, q_head, kv_head, seq, q_len, kv_len.
  // All but score hold whole numbers.
  double builtins[8] = {};
  // Runtime scalars by name (the caller merges the variant's defaults in).
  const std::map<std::string, double>* params = nullptr;
  // Per-head / per-sequence arrays by name, indexed by the input's index expression.
  const std::map<std::string, std::vector<double>>* arrays = nullptr;

  double& operator[](ir::Builtin b) { return builtins[static_cast<int>(b)]; }
  double operator[](ir::Builtin b) const { return builtins[static_cast<int>(b)]; }
};

// Evaluates one expression many times: its nodes are classified (integer or real) once.
// Throws std::invalid_argument for an unknown param, input or function, an input index
// outside its array, or an integer leaving 64 bits (all caller errors, never silent;
// lowering rules the last one out for variants read from files).
class ExprEvaluator {
 public:
  explicit ExprEvaluator(const ir::ExprRef& e);
  // A boolean as 0.0 / 1.0; a number as the f32 value a kernel holds (an integer
  // result rounded to the nearest f32).
  double operator()(const ExprEnv& env) const;
  // A number expression's exact value.
  ir::Number number(const ExprEnv& env) const;

 private:
  ir::ExprRef expr_;
  ir::NumericFacts facts_;
};

// One-off evaluations (ExprEvaluator for repeated ones).
double evaluate(const ir::Expr& e, const ExprEnv& env);
ir::Number evaluate_number(const ir::Expr& e, const ExprEnv& env);

// Whether `e` reads builtin `b` anywhere (e.g. does a mask depend on the score).
bool reads_builtin(const ir::ExprRef& e, ir::Builtin b);

}  // namespace attnjit
