#pragma once
// A float64 interpreter for variant expressions (score and mask), the reference's
// definition of what every ir::Op means. Booleans are 0.0 / 1.0.
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/expr.h"

namespace attnjit {

// Everything an expression may read at one (query, key) pair.
struct ExprEnv {
  // Indexed by ir::Builtin: score, q_pos, kv_pos, q_head, kv_head, seq, q_len, kv_len.
  double builtins[8] = {};
  // Runtime scalars by name (the caller merges the variant's defaults in).
  const std::map<std::string, double>* params = nullptr;
  // Per-head / per-sequence arrays by name, indexed by the input's index expression.
  const std::map<std::string, std::vector<double>>* arrays = nullptr;

  double& operator[](ir::Builtin b) { return builtins[static_cast<int>(b)]; }
  double operator[](ir::Builtin b) const { return builtins[static_cast<int>(b)]; }
};

// Evaluates `e` in `env`. Throws std::invalid_argument for an unknown param, input or
// function, or an input index outside its array (all caller errors, never silent).
double evaluate(const ir::Expr& e, const ExprEnv& env);

// Whether `e` reads builtin `b` anywhere (e.g. does a mask depend on the score).
bool reads_builtin(const ir::ExprRef& e, ir::Builtin b);

}  // namespace attnjit
