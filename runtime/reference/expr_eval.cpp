#include "runtime/reference/expr_eval.h"

#include <cmath>
#include <stdexcept>

#include "compiler/ir/print.h"
#include "compiler/support/diagnostics.h"

namespace attnjit {

namespace {

using ir::Number;
using ir::Op;

// A non-owning reference to a node the caller keeps alive.
ir::ExprRef borrow(const ir::Expr& e) { return ir::ExprRef(ir::ExprRef(), &e); }

class Interpreter {
 public:
  Interpreter(const ir::NumericFacts& facts, const ExprEnv& env) : facts_(facts), env_(env) {}

  bool truth(const ir::Expr& e) const {
    switch (e.op) {
      case Op::constant: return e.value != 0.0;
      case Op::logical_not: return !truth(*e.args[0]);
      // Short-circuit like C.
      case Op::logical_and: return truth(*e.args[0]) && truth(*e.args[1]);
      case Op::logical_or: return truth(*e.args[0]) || truth(*e.args[1]);
      case Op::lt: case Op::le: case Op::gt: case Op::ge: case Op::eq: case Op::ne:
        return ir::compare(e.op, number(*e.args[0]), number(*e.args[1]));
      case Op::select: return truth(*e.args[0]) ? truth(*e.args[1]) : truth(*e.args[2]);
      default: break;
    }
    internal_error(__FILE__, __LINE__, "evaluate: a number where a boolean belongs");
  }

  Number number(const ir::Expr& e) const {
    const Number n = value(e);
    // A real node's operands may be integers (select's branches): make it real.
    if (n.integer && !facts_.is_integer(e)) return Number::of_real(n.real());
    return n;
  }

 private:
  Number value(const ir::Expr& e) const {
    switch (e.op) {
      case Op::constant: return Number::of_constant(e.value);
      case Op::builtin:
        if (e.builtin == ir::Builtin::score) return Number::of_real(env_[e.builtin]);
        return Number::of_integer(static_cast<int64_t>(env_[e.builtin]));
      case Op::param: return Number::of_real(lookup_param(e.name));
      case Op::input: return Number::of_real(lookup_input(e.name, number(*e.args[0])));
      case Op::neg:
        return checked(e, ir::arithmetic(Op::neg, number(*e.args[0])));
      case Op::add: case Op::sub: case Op::mul: case Op::div: case Op::mod:
        return checked(e, ir::arithmetic(e.op, number(*e.args[0]), number(*e.args[1])));
      case Op::call: {
        const ir::MathFunction* f = ir::find_function(e.name);
        if (!f) throw std::invalid_argument("expression calls unknown function '" + e.name + "'");
        std::vector<Number> args;
        for (const ir::ExprRef& a : e.args) args.push_back(number(*a));
        return checked(e, ir::call_function(*f, args));
      }
      case Op::select: return truth(*e.args[0]) ? number(*e.args[1]) : number(*e.args[2]);
      default: break;
    }
    internal_error(__FILE__, __LINE__, "evaluate: a boolean where a number belongs");
  }

  static Number checked(const ir::Expr& e, const std::optional<Number>& n) {
    if (!n)
      throw std::invalid_argument("integer expression '" + ir::print_expr(borrow(e)) +
                                  "' left 64 bits (or took % 0)");
    return *n;
  }

  double lookup_param(const std::string& name) const {
    if (env_.params) {
      auto it = env_.params->find(name);
      if (it != env_.params->end()) return it->second;
    }
    throw std::invalid_argument("expression reads param '" + name + "', which has no value");
  }

  double lookup_input(const std::string& name, const Number& index) const {
    const std::vector<double>* values = nullptr;
    if (env_.arrays) {
      auto it = env_.arrays->find(name);
      if (it != env_.arrays->end()) values = &it->second;
    }
    if (!values)
      throw std::invalid_argument("expression reads input '" + name + "', which has no values");
    if (!index.integer || index.i < 0 || index.i >= static_cast<int64_t>(values->size()))
      throw std::invalid_argument("input '" + name + "' indexed at " +
                                  (index.integer ? std::to_string(index.i) : std::to_string(index.r)) +
                                  ", outside [0, " + std::to_string(values->size()) + ")");
    return (*values)[static_cast<size_t>(index.i)];
  }

  const ir::NumericFacts& facts_;
  const ExprEnv& env_;
};

double as_result(const ir::Expr& e, const Interpreter& in) {
  if (e.type == ir::ValueType::boolean) return in.truth(e) ? 1.0 : 0.0;
  return in.number(e).real();
}

}  // namespace

ExprEvaluator::ExprEvaluator(const ir::ExprRef& e) : expr_(e), facts_(e, ir::NumericEnv{}) {
  ATTNJIT_ASSERT(e != nullptr, "ExprEvaluator: no expression");
}

double ExprEvaluator::operator()(const ExprEnv& env) const {
  return as_result(*expr_, Interpreter(facts_, env));
}

Number ExprEvaluator::number(const ExprEnv& env) const {
  return Interpreter(facts_, env).number(*expr_);
}

double evaluate(const ir::Expr& e, const ExprEnv& env) { return ExprEvaluator(borrow(e))(env); }

Number evaluate_number(const ir::Expr& e, const ExprEnv& env) {
  return ExprEvaluator(borrow(e)).number(env);
}

bool reads_builtin(const ir::ExprRef& e, ir::Builtin b) {
  if (!e) return false;
  if (e->op == ir::Op::builtin && e->builtin == b) return true;
  for (const ir::ExprRef& arg : e->args)
    if (reads_builtin(arg, b)) return true;
  return false;
}

}  // namespace attnjit
