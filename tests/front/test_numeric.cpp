// The DSL's numbers (compiler/ir/numeric.h): which expressions are integers, what the
// operators compute, the ranges integer expressions can take, and canonicalization
// keeping every subexpression integer or real as written.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>

#include "catch.h"
#include "compiler/ir/numeric.h"
#include "compiler/ir/print.h"
#include "compiler/passes/pipeline.h"

using namespace attnjit;
using ir::Builtin;
using ir::Number;
using ir::Op;

namespace {

constexpr int64_t kM = ir::kMaxPosition;

ir::Variant compile_one(const std::string& body) {
  std::string text = "variant t { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16; " +
                     body + " }";
  SourceFile file{"<numeric>", text};
  auto module = compile_variants(file);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  return module->variants.at(0);
}

// The score expression of a variant (canonical), with the variant's heads.
struct Scored {
  ir::Variant v;
  ir::NumericFacts facts;
  explicit Scored(const std::string& score, const std::string& declarations = "")
      : v(compile_one(declarations + " score = " + score + ";")),
        facts(v.score, ir::NumericEnv{v.q_heads, v.kv_heads, nullptr}) {}
  const ir::NodeFacts& root() const { return facts.of(*v.score); }
};

// An integer subexpression's range, read through a score that converts it to a real.
ir::IntRange range_of(const std::string& integer_expr) {
  Scored s("score + (" + integer_expr + ")");
  const ir::Expr& sum = *s.v.score;
  REQUIRE(sum.op == Op::add);
  REQUIRE(s.facts.is_integer(*sum.args[1]));
  return s.facts.of(*sum.args[1]).range;
}

bool range_is(const ir::IntRange& r, int64_t lo, int64_t hi) { return r.lo == lo && r.hi == hi; }

ir::ExprRef c(double v) { return ir::make_constant(v); }
ir::ExprRef b(Builtin x) { return ir::make_builtin(x); }

}  // namespace

TEST_CASE("numbers: integer expressions are built from integers only", "[front][numeric]") {
  auto integer = [](const ir::ExprRef& e) { return ir::is_integer(e); };
  CHECK(integer(c(3)));
  CHECK(integer(c(-2.0)));             // whole: an integer however it is spelled
  CHECK(integer(c(1e18)));
  CHECK_FALSE(integer(c(0.5)));
  CHECK_FALSE(integer(c(1e19)));       // whole but beyond 64 bits: a real
  CHECK(integer(b(Builtin::q_pos)));
  CHECK(integer(b(Builtin::kv_len)));
  CHECK_FALSE(integer(b(Builtin::score)));
  CHECK(integer(ir::make_binary(Op::mul, b(Builtin::q_pos), c(65536))));
  CHECK(integer(ir::make_binary(Op::mod, b(Builtin::q_pos), c(7))));
  CHECK_FALSE(integer(ir::make_binary(Op::div, b(Builtin::q_pos), c(1))));  // `/` is real
  CHECK_FALSE(integer(ir::make_binary(Op::add, b(Builtin::q_pos), c(0.5))));
  CHECK(integer(ir::make_call("min", {b(Builtin::q_pos), c(4)})));
  CHECK(integer(ir::make_call("abs", {b(Builtin::q_pos)})));
  CHECK_FALSE(integer(ir::make_call("sqrt", {c(16)})));
  const ir::ExprRef cond = ir::make_binary(Op::lt, b(Builtin::q_pos), c(3));
  CHECK(integer(ir::make_select(cond, b(Builtin::q_pos), c(1))));
  CHECK_FALSE(integer(ir::make_select(cond, b(Builtin::q_pos), c(0.5))));
  CHECK_FALSE(integer(ir::make_input("slope", b(Builtin::q_head))));  // f32 arrays
  // Params are runtime f32s; a const counts as its value.
  const ir::ExprRef p = ir::make_param("w");
  CHECK_FALSE(integer(p));
  const ir::ConstValues whole{{"w", 8.0}}, half{{"w", 0.5}};
  CHECK(ir::is_integer(p, &whole));
  CHECK_FALSE(ir::is_integer(p, &half));
}

TEST_CASE("numbers: integer arithmetic is exact, % truncates toward zero", "[front][numeric]") {
  auto i = [](int64_t v) { return Number::of_integer(v); };
  CHECK(ir::arithmetic(Op::mod, i(-7), i(3))->i == -1);
  CHECK(ir::arithmetic(Op::mod, i(7), i(-3))->i == 1);
  CHECK(ir::arithmetic(Op::mod, i(std::numeric_limits<int64_t>::min()), i(-1))->i == 0);
  CHECK_FALSE(ir::arithmetic(Op::mod, i(7), i(0)).has_value());
  CHECK(ir::arithmetic(Op::mul, i(40000LL * 65536), i(65536))->i == 40000LL * 65536 * 65536);
  CHECK_FALSE(ir::arithmetic(Op::mul, i(1LL << 32), i(1LL << 31)).has_value());  // 2^63
  CHECK_FALSE(ir::arithmetic(Op::neg, i(std::numeric_limits<int64_t>::min())).has_value());
  // `/` is real division even of two integers.
  const Number half = *ir::arithmetic(Op::div, i(7), i(2));
  CHECK_FALSE(half.integer);
  CHECK(half.r == 3.5);
  CHECK(ir::compare(Op::lt, i((1LL << 53) + 1), i(1LL << 53)) == false);
  CHECK(ir::compare(Op::lt, i(1LL << 53), i((1LL << 53) + 1)));  // exact, not through doubles
}

TEST_CASE("numbers: reals are f32, rounded after every operation", "[front][numeric]") {
  CHECK(ir::round_f32(FLT_MAX) == FLT_MAX);
  CHECK(ir::round_f32(3.4028235e38) == FLT_MAX);  // the usual spelling of FLT_MAX
  CHECK(std::isinf(ir::round_f32(0x1.ffffffp127)));  // halfway to 2^128 rounds up
  CHECK(ir::round_f32(0x1.fffffefffffffp127) == FLT_MAX);
  CHECK(ir::round_f32(1e-46) == 0.0);
  CHECK(ir::round_f32(1e-45) > 0.0);  // the smallest subnormal survives
  CHECK(ir::round_f32(0.1) == static_cast<double>(0.1f));
  CHECK(std::isnan(ir::round_f32(NAN)));
  // An integer becomes the nearest f32 in one rounding, not through a double:
  // 2^60 + 2^36 + 1 is just above halfway between two f32s (a double would drop the 1
  // and then round the tie to even, down).
  const int64_t v = (1LL << 60) + (1LL << 36) + 1;
  CHECK(ir::integer_to_f32(v) == std::ldexp(1.0, 60) + std::ldexp(1.0, 37));
  CHECK(ir::integer_to_f32(16777217) == 16777216.0);

  const Number big = Number::of_real(1e30);
  const Number product = *ir::arithmetic(Op::mul, big, big);
  CHECK(std::isinf(product.r));  // 1e60 overflows f32, as on the GPU
  const Number third = *ir::arithmetic(Op::div, Number::of_integer(1), Number::of_integer(3));
  CHECK(third.r == static_cast<double>(1.0f / 3.0f));
  CHECK(std::isinf(ir::arithmetic(Op::div, Number::of_real(1), Number::of_integer(0))->r));
  CHECK(std::isnan(ir::arithmetic(Op::div, Number::of_real(0), Number::of_real(0))->r));
  // NaN: comparisons are false (but !=); min and max return the other operand.
  const Number nan = Number::of_real(NAN), one = Number::of_integer(1);
  CHECK_FALSE(ir::compare(Op::lt, nan, one));
  CHECK_FALSE(ir::compare(Op::eq, nan, nan));
  CHECK(ir::compare(Op::ne, nan, nan));
  CHECK(ir::call_function(*ir::find_function("max"), {nan, one})->real() == 1.0);
  CHECK(ir::call_function(*ir::find_function("min"), {one, nan})->real() == 1.0);
  CHECK(ir::call_function(*ir::find_function("max"), {one, Number::of_integer(5)})->i == 5);
  CHECK_FALSE(ir::call_function(*ir::find_function("abs"),
                                {Number::of_integer(std::numeric_limits<int64_t>::min())}).has_value());
}

TEST_CASE("numbers: one function table serves every stage", "[front][numeric]") {
  int count = 0;
  for (const ir::MathFunction& f : ir::math_functions()) {
    ++count;
    CHECK(ir::function_arity(f.name) == f.arity);
    CHECK(ir::find_function(f.name) == &f);
  }
  CHECK(count == 8);
  CHECK(ir::find_function("tan") == nullptr);
  CHECK(ir::find_function("abs")->keeps_integers());
  CHECK_FALSE(ir::find_function("exp2")->keeps_integers());
}

TEST_CASE("numbers: ranges of integer expressions", "[front][numeric]") {
  CHECK(range_is(range_of("kv_pos"), 0, kM));
  CHECK(range_is(range_of("q_pos"), -kM, kM));  // more queries than keys: q_pos < 0
  CHECK(range_is(range_of("kv_len"), 1, ir::kMaxSequenceLength));
  CHECK(range_is(range_of("seq"), 0, ir::kMaxBatch - 1));
  CHECK(range_is(range_of("q_head"), 0, 7));  // heads = 8 / 2
  CHECK(range_is(range_of("kv_head"), 0, 1));
  // One sequence's positions: their difference stays within one sequence's length.
  CHECK(range_is(range_of("kv_pos - q_pos"), -kM, kM));
  CHECK(range_is(range_of("q_pos - kv_pos + 4096"), -kM + 4096, kM + 4096));
  CHECK(range_is(range_of("2 * (q_pos - kv_pos)"), -2 * kM, 2 * kM));
  CHECK(range_is(range_of("q_pos + kv_pos"), -kM, 2 * kM));
  CHECK(range_is(range_of("q_pos * 65536 + kv_pos"), -kM * 65536, kM * 65536 + kM));
  CHECK(range_is(range_of("(q_pos * 65536 + kv_pos) % 7"), -6, 6));
  CHECK(range_is(range_of("kv_pos % 7"), 0, 6));
  CHECK(range_is(range_of("q_pos % (kv_head + 1)"), -1, 1));
  CHECK(range_is(range_of("abs(q_pos - 10)"), 0, kM + 10));
  CHECK(range_is(range_of("min(kv_pos, 100)"), 0, 100));
  CHECK(range_is(range_of("max(q_pos, -5)"), -5, kM));
  CHECK(range_is(range_of("-kv_pos"), -kM, 0));
  CHECK(range_is(range_of("select(q_pos < 3, kv_head, 3000000000)"), 0, 3000000000LL));
}
