// Canonicalization: folding, const substitution, identities, comparison direction.
#include "catch.h"
#include "compiler/front/parser.h"
#include "compiler/ir/lower.h"
#include "compiler/ir/print.h"
#include "compiler/passes/canonicalize.h"
#include "compiler/passes/pipeline.h"

using namespace attnjit;

namespace {

ir::Variant compile_one(const std::string& body) {
  std::string text = "variant t { heads = 1 / 1; head_dim = 64; q = bf16; kv = bf16; out = bf16; " +
                     body + " }";
  SourceFile file{"<canon>", text};
  auto module = compile_variants(file);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  return module->variants.at(0);
}

std::string canonical_score(const std::string& score, const std::string& declarations = "") {
  ir::Variant v = compile_one(declarations + " score = " + score + ";");
  return v.score ? ir::print_expr(v.score) : "identity";
}

std::string canonical_mask(const std::string& mask, const std::string& declarations = "") {
  ir::Variant v = compile_one(declarations + " mask = " + mask + ";");
  return v.mask ? ir::print_expr(v.mask) : "none";
}

}  // namespace

TEST_CASE("canonicalize folds constants and drops identities", "[front]") {
  CHECK(canonical_score("score * (2 * 0.5)") == "identity");
  CHECK(canonical_score("score + 0") == "identity");
  CHECK(canonical_score("(score - 0) / 1") == "identity");
  CHECK(canonical_score("1 * score") == "identity");
  CHECK(canonical_score("-(-score)") == "identity");
  CHECK(canonical_score("score * (1 + 2) - 4 / 8") == "score * 3 - 0.5");
  CHECK(canonical_score("max(score, min(2, 3) * sqrt(16))") == "max(score, 8)");
  CHECK(canonical_score("select(2 > 1, score * 2, score)") == "score * 2");
  CHECK(canonical_score("select(q_pos < 4, score, score)") == "identity");
  CHECK(canonical_score("score + 7 % 4") == "score + 3");
  CHECK(canonical_score("score - -3") == "score - -3");
}

TEST_CASE("canonicalize substitutes consts and keeps params", "[front]") {
  ir::Variant v = compile_one("const cap : f32 = 30; param t : f32 = 2; score = cap * tanh(score / cap) / t;");
  CHECK(ir::print_expr(v.score) == "30 * tanh(score / 30) / t");
  REQUIRE(v.params.size() == 1);  // consts never reach the kernel
  CHECK(v.params[0].name == "t");
  CHECK_FALSE(v.params[0].is_const);
  CHECK(canonical_score("softcap(c)", "const c : f32 = 50;") == "50 * tanh(score / 50)");
}

TEST_CASE("canonicalize simplifies masks", "[front]") {
  CHECK(canonical_mask("1 < 2") == "none");
  CHECK(canonical_mask("causal && 1 < 2") == "kv_pos <= q_pos");
  CHECK(canonical_mask("true && causal") == "kv_pos <= q_pos");
  CHECK(canonical_mask("causal || false") == "kv_pos <= q_pos");
  CHECK(canonical_mask("causal && false") == "false");
  CHECK(canonical_mask("!!causal") == "kv_pos <= q_pos");
  // Comparisons face one way: > and >= become < and <= with the operands swapped.
  CHECK(canonical_mask("q_pos >= kv_pos") == "kv_pos <= q_pos");
  CHECK(canonical_mask("q_pos > kv_pos") == "kv_pos < q_pos");
  CHECK(canonical_mask("q_pos - kv_pos < w", "const w : f32 = 8;") == "q_pos - kv_pos < 8");
}

TEST_CASE("canonicalize folds by the numeric rules and keeps integers and reals apart", "[front]") {
  // Integers fold exactly (a double would lose the 1), reals round to f32.
  CHECK(canonical_mask("kv_pos < 4503599627370496 * 2 + 1 - 9007199254740992") == "kv_pos < 1");
  CHECK(canonical_score("score * (1 / 3)") == "score * 0.3333333432674408");
  CHECK(canonical_score("score + 3000000000 * 3") == "score + 9000000000");
  // q_pos < 4 / 2 compares in f32 (`/` is real): folding to the integer 2 would make it
  // an exact comparison, so the division stays; where the class cannot change, it folds.
  CHECK(canonical_mask("q_pos < 4 / 2") == "q_pos < 4 / 2");
  CHECK(canonical_mask("kv_pos < q_pos / 1") == "kv_pos < q_pos / 1");
  CHECK(canonical_mask("q_pos + 0.5 - 0.5 < kv_pos") == "q_pos + 0.5 - 0.5 < kv_pos");
  CHECK(canonical_score("score * (4 / 2)") == "score * 2");
  CHECK(canonical_mask("select(1 < 2, q_pos, 0.5) < kv_pos") == "select(true, q_pos, 0.5) < kv_pos");
  CHECK(canonical_mask("4 / 2 < 3") == "none");
  CHECK(canonical_mask("16777217 / 1 <= 16777216") == "none");  // f32(16777217) == 16777216
}

TEST_CASE("canonicalize keeps the default scale implicit", "[front]") {
  CHECK_FALSE(compile_one("scale = 0.125;").scale.has_value());  // 1/sqrt(64)
  CHECK_FALSE(compile_one("scale = 1 / sqrt(64);").scale.has_value());
  REQUIRE(compile_one("scale = 0.5;").scale.has_value());
  CHECK(*compile_one("scale = 0.5;").scale == 0.5);
}

TEST_CASE("canonicalize never folds into inf, NaN or a division by zero", "[front]") {
  using namespace ir;
  ExprRef s = make_builtin(Builtin::score);
  ExprRef by_zero = make_binary(Op::div, make_constant(1), make_constant(0));
  CHECK(print_expr(passes::canonicalize_expr(by_zero, {})) == "1 / 0");
  ExprRef rem_zero = make_binary(Op::mod, make_constant(1), make_constant(0));
  CHECK(print_expr(passes::canonicalize_expr(rem_zero, {})) == "1 % 0");
  ExprRef nan = make_call("sqrt", {make_constant(-1)});
  CHECK(print_expr(passes::canonicalize_expr(nan, {})) == "sqrt(-1)");
  ExprRef huge = make_call("exp", {make_constant(1000)});
  CHECK(print_expr(passes::canonicalize_expr(huge, {})) == "exp(1000)");
  ExprRef overflow = make_binary(Op::mul, make_constant(1e300), make_constant(1e300));
  CHECK(print_expr(passes::canonicalize_expr(overflow, {})) == "1e+300 * 1e+300");
  CHECK(print_expr(passes::canonicalize_expr(make_binary(Op::add, s, make_constant(1)), {})) == "score + 1");
}
