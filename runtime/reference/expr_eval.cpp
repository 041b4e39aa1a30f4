#include "runtime/reference/expr_eval.h"

#include <cmath>
#include <stdexcept>

#include "compiler/support/diagnostics.h"

namespace attnjit {

namespace {

double truth(bool b) { return b ? 1.0 : 0.0; }

double lookup_param(const std::string& name, const ExprEnv& env) {
  if (env.params) {
    auto it = env.params->find(name);
    if (it != env.params->end()) return it->second;
  }
  throw std::invalid_argument("expression reads param '" + name + "', which has no value");
}

double lookup_input(const std::string& name, double index, const ExprEnv& env) {
  const std::vector<double>* values = nullptr;
  if (env.arrays) {
    auto it = env.arrays->find(name);
    if (it != env.arrays->end()) values = &it->second;
  }
  if (!values)
    throw std::invalid_argument("expression reads input '" + name + "', which has no values");
  if (index != std::floor(index) || index < 0 || index >= static_cast<double>(values->size()))
    throw std::invalid_argument("input '" + name + "' indexed at " + std::to_string(index) +
                                ", outside [0, " + std::to_string(values->size()) + ")");
  return (*values)[static_cast<size_t>(index)];
}

double call(const ir::Expr& e, const ExprEnv& env) {
  const std::string& f = e.name;
  auto arg = [&](size_t i) { return evaluate(*e.args.at(i), env); };
  if (f == "tanh") return std::tanh(arg(0));
  if (f == "exp") return std::exp(arg(0));
  if (f == "exp2") return std::exp2(arg(0));
  if (f == "log") return std::log(arg(0));
  if (f == "sqrt") return std::sqrt(arg(0));
  if (f == "abs") return std::fabs(arg(0));
  if (f == "min") return std::fmin(arg(0), arg(1));
  if (f == "max") return std::fmax(arg(0), arg(1));
  throw std::invalid_argument("expression calls unknown function '" + f + "'");
}

}  // namespace

double evaluate(const ir::Expr& e, const ExprEnv& env) {
  using ir::Op;
  // Operands are read lazily so && || and select short-circuit like C.
  auto a = [&] { return evaluate(*e.args[0], env); };
  auto b = [&] { return evaluate(*e.args[1], env); };
  switch (e.op) {
    case Op::constant: return e.value;
    case Op::builtin: return env[e.builtin];
    case Op::param: return lookup_param(e.name, env);
    case Op::input: return lookup_input(e.name, a(), env);
    case Op::neg: return -a();
    case Op::logical_not: return truth(a() == 0.0);
    case Op::add: return a() + b();
    case Op::sub: return a() - b();
    case Op::mul: return a() * b();
    case Op::div: return a() / b();
    // C's % on integers truncates toward zero, so the result takes the dividend's sign;
    // fmod agrees on integers and extends it to fractions.
    case Op::mod: return std::fmod(a(), b());
    case Op::lt: return truth(a() < b());
    case Op::le: return truth(a() <= b());
    case Op::gt: return truth(a() > b());
    case Op::ge: return truth(a() >= b());
    case Op::eq: return truth(a() == b());
    case Op::ne: return truth(a() != b());
    case Op::logical_and: return truth(a() != 0.0 && b() != 0.0);
    case Op::logical_or: return truth(a() != 0.0 || b() != 0.0);
    case Op::call: return call(e, env);
    case Op::select:
      return evaluate(*e.args[0], env) != 0.0 ? evaluate(*e.args[1], env)
                                              : evaluate(*e.args[2], env);
  }
  internal_error(__FILE__, __LINE__, "evaluate: unknown expression op");
}

bool reads_builtin(const ir::ExprRef& e, ir::Builtin b) {
  if (!e) return false;
  if (e->op == ir::Op::builtin && e->builtin == b) return true;
  for (const ir::ExprRef& arg : e->args)
    if (reads_builtin(arg, b)) return true;
  return false;
}

}  // namespace attnjit
