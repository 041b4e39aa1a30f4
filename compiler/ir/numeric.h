#pragma once
// The DSL's numbers, defined once (docs/dsl.md, "Numbers: integers and reals"):
// which expressions are integers, what every operator and function computes, and which
// values an integer expression can take. Lowering's checks, canonicalization's folding,
// the mask analysis, codegen's integer widths and the CPU reference all use this file,
// so the compiler, the kernels and the reference cannot disagree on what a number is.
//
//  - An integer expression is built only from whole-number constants within 64 bits,
//    the integer builtins (all but `score`), unary -, + - * %, min max abs, and select
//    with integer branches. Its arithmetic is exact; lowering proves that every integer
//    node stays within 64 bits. `%` truncates toward zero (the dividend's sign, as C).
//  - Everything else is real: an f32 value. Every real operation rounds its result to
//    f32 (IEEE: overflow gives +-inf, NaN propagates). An integer used as a real is
//    first rounded to the nearest f32. `/` is always real division.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "compiler/ir/expr.h"

namespace attnjit::ir {

// --- bounds of the builtins ------------------------------------------------------------
// Lengths, positions and sequence indices travel to kernels as 32-bit ints; the
// runtime's argument checks refuse launches outside these bounds, and the range
// analysis below derives every integer expression's range from them.
inline constexpr int64_t kMaxSequenceLength = 2147483647;       // q_len, kv_len: [1, 2^31 - 1]
inline constexpr int64_t kMaxPosition = kMaxSequenceLength - 1;  // kv_pos: [0, 2^31 - 2]
// q_pos lies in [-kMaxPosition, kMaxPosition]: a prefill sequence with more queries
// than keys puts its first queries before position 0. Both positions belong to one
// sequence (kv_len - q_len <= q_pos < kv_len, 0 <= kv_pos < kv_len), so their
// difference kv_pos - q_pos also lies in [-kMaxPosition, kMaxPosition].
inline constexpr int64_t kMaxBatch = 2147483647;  // seq: [0, kMaxBatch - 1]
inline constexpr int kMaxHeads = 65536;           // q_head < Q <= this, kv_head < KV <= this

// --- values ----------------------------------------------------------------------------
// `v` rounded to the nearest f32 (ties to even) and held in a double; +-inf past the
// f32 range, NaN stays NaN. Defined for every double (no undefined cast).
double round_f32(double v);
// The nearest f32 to an exact integer, rounded once (not through a double).
double integer_to_f32(int64_t v);
// True when a constant with this value is an integer: whole and within int64.
bool is_integer_value(double v);

// One value of a number expression.
struct Number {
  bool integer = false;
  int64_t i = 0;   // integer: the exact value
  double r = 0.0;  // real: the value (a literal as written; operation results are f32)

  static Number of_integer(int64_t v);
  static Number of_real(double v);
  // A constant node's value: an integer when is_integer_value(v).
  static Number of_constant(double v);
  // The f32 value this number has where a real is needed.
  double real() const;
};

// The unary and binary arithmetic operators (Op::neg, add, sub, mul, div, mod; `b` is
// ignored for neg). Integer results are exact; nullopt where an integer result leaves
// 64 bits or an integer `%` divides by zero (the checks rule both out for valid
// variants). Real results follow IEEE (x / 0 = +-inf, 0 / 0 = NaN, fmod(x, 0) = NaN).
std::optional<Number> arithmetic(Op op, const Number& a, const Number& b = {});
// A real operation on f32 operands before its result is rounded to f32 (constant
// folding's range checks look at this value too).
double real_arithmetic_unrounded(Op op, double a, double b);
// Op::lt, le, gt, ge, eq, ne: exact for two integers, else on the reals (with NaN,
// every comparison but != is false).
bool compare(Op op, const Number& a, const Number& b);

// --- functions -------------------------------------------------------------------------
// The one table of math functions the DSL knows. The kernel's spellings of each live
// in the dialect table (compiler/codegen/dialect.h).
struct MathFunction {
  const char* name;
  int arity;
  // On f32 arguments held in doubles; the caller rounds the result to f32. min and max
  // return the other operand when one is NaN (C's fmin/fmax, CUDA's fminf/fmaxf).
  double (*on_reals)(const double* args);
  // min, max, abs: integer arguments give this exact integer result (nullopt: beyond
  // 64 bits). Null for functions whose result is always real.
  std::optional<int64_t> (*on_integers)(const int64_t* args);
  bool keeps_integers() const { return on_integers != nullptr; }
};
const std::vector<MathFunction>& math_functions();
const MathFunction* find_function(std::string_view name);
// f applied under the rules above; nullopt only for abs of the most negative integer.
std::optional<Number> call_function(const MathFunction& f, const std::vector<Number>& args);
// The result of a real call before rounding (see real_arithmetic_unrounded).
double call_function_unrounded(const MathFunction& f, const std::vector<Number>& args);

// --- facts about the nodes of one expression ---------------------------------------------
// Consts by name, with their values: before canonicalization a const is still an
// Op::param node, and it counts as the constant it stands for.
using ConstValues = std::map<std::string, double>;

struct NumericEnv {
  int q_heads = 0;   // 0: not known, bounded by kMaxHeads
  int kv_heads = 0;
  const ConstValues* consts = nullptr;
};

// A signed integer wide enough for every bound the analysis computes: products of two
// 64-bit values fit, and wider results saturate.
__extension__ typedef __int128 WideInt;

struct IntRange {
  WideInt lo = 0, hi = 0;
  bool contains(WideInt v) const { return lo <= v && v <= hi; }
  bool fits_int64() const;
  bool fits_int32() const;
};

// c_q * q_pos + c_kv * kv_pos + c: an integer node that is linear in the positions.
struct PositionLinear {
  WideInt q = 0, kv = 0, c = 0;
};

struct NodeFacts {
  bool integer = false;             // number nodes: the class above
  IntRange range;                   // integer nodes: every value the node can take
  std::optional<Number> constant;   // number nodes built from constants (folded value)
  std::optional<bool> truth;        // boolean nodes built from constants
  double unrounded = 0.0;           // real constants: the folded value before rounding
  std::optional<PositionLinear> linear;  // integer nodes linear in q_pos and kv_pos
};

// Classifies every node of an expression once (bottom-up) and derives ranges, constant
// values and linear forms. Holds the expressions it was given, so the nodes it
// describes stay alive (their addresses key the facts).
class NumericFacts {
 public:
  explicit NumericFacts(NumericEnv env) : env_(env) {}
  NumericFacts(const ExprRef& root, NumericEnv env) : env_(env) { add(root); }
  // Analyses the nodes of `e` not seen before (lowering adds expressions as it builds them).
  void add(const ExprRef& e);
  const NodeFacts& of(const Expr& e) const;
  bool is_integer(const Expr& e) const { return of(e).integer; }
  const NumericEnv& env() const { return env_; }

 private:
  const NodeFacts& visit(const Expr& e);
  NodeFacts compute(const Expr& e);

  NumericEnv env_;
  std::vector<ExprRef> held_;
  std::unordered_map<const Expr*, NodeFacts> facts_;
};

// The rule that makes a node an integer, given the classes of its operands: the one
// definition NumericFacts and canonicalization's rewriting share. `const_value` gives
// the value of a const (nullopt: not a const).
template <typename IsInteger, typename ConstValue>
bool is_integer_node(const Expr& e, IsInteger operand_is_integer, ConstValue const_value) {
  if (e.type != ValueType::number) return false;
  auto all = [&](size_t first) {
    for (size_t k = first; k < e.args.size(); ++k)
      if (!operand_is_integer(*e.args[k])) return false;
    return true;
  };
  switch (e.op) {
    case Op::constant: return is_integer_value(e.value);
    case Op::builtin: return e.builtin != Builtin::score;
    case Op::param: {
      std::optional<double> v = const_value(e.name);
      return v && is_integer_value(*v);
    }
    case Op::neg:
    case Op::add:
    case Op::sub:
    case Op::mul:
    case Op::mod: return all(0);
    case Op::call: {
      const MathFunction* f = find_function(e.name);
      return f && f->keeps_integers() && all(0);
    }
    case Op::select: return all(1);
    default: return false;  // input (f32 arrays), div, and every boolean form
  }
}

// One-off classification of a whole expression (NumericFacts for many questions).
bool is_integer(const ExprRef& e, const ConstValues* consts = nullptr);

// Decimal text of a wide integer (messages).
std::string wide_text(WideInt v);

}  // namespace attnjit::ir
