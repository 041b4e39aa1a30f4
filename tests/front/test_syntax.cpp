// Lexer, parser, AST dump and the validating IR constructors.
#include <limits>

#include "catch.h"
#include "compiler/front/lexer.h"
#include "compiler/front/parser.h"
#include "compiler/ir/expr.h"
#include "compiler/ir/print.h"

using namespace attnjit;

TEST_CASE("lexer: tokens, spellings and positions", "[front]") {
  auto lexed = front::lex({"<t>", "a <= 1.5e3 # comment\n\t&& b != .25 // more\n!x%2"});
  REQUIRE(lexed.diagnostics.empty());
  std::vector<std::string> texts;
  for (const front::Token& t : lexed.tokens) texts.push_back(t.text);
  CHECK(texts == std::vector<std::string>{"a", "<=", "1.5e3", "&&", "b", "!=", ".25", "!", "x", "%",
                                          "2", ""});
  CHECK(lexed.tokens[2].number == 1500.0);
  CHECK(lexed.tokens[6].number == 0.25);
  CHECK(lexed.tokens[3].location.line == 2);
  CHECK(lexed.tokens[3].location.column == 2);  // after one tab
  CHECK(lexed.tokens[7].location.line == 3);
  CHECK(lexed.tokens.back().is(front::TokenKind::end_of_file));
}

TEST_CASE("lexer: every malformed token is reported and replaced", "[front]") {
  auto lexed = front::lex({"<t>", "1e+ 2. 3x @ & | 9"});
  REQUIRE(lexed.diagnostics.all().size() == 6);
  CHECK(lexed.diagnostics.all()[0].message == "unterminated number '1e+': expected digits in the exponent");
  CHECK(lexed.diagnostics.all()[3].message == "unexpected character '@'");
  CHECK(lexed.diagnostics.all()[5].message == "unexpected character '|'; did you mean '||'?");
  // The lexer carried on: the last number is still there.
  CHECK(lexed.tokens[lexed.tokens.size() - 2].text == "9");
}

TEST_CASE("lexer: a run of stray characters is one mistake", "[front]") {
  auto lexed = front::lex({"<t>", "a ... b $$ c \xc3\xa9 d ` e"});
  REQUIRE(lexed.diagnostics.all().size() == 4);
  CHECK(lexed.diagnostics.all()[0].message == "unexpected characters '...'");
  CHECK(lexed.diagnostics.all()[1].message == "unexpected characters '$$'");
  CHECK(lexed.diagnostics.all()[2].message == "unexpected character '\xc3\xa9'");
  CHECK(lexed.diagnostics.all()[3].message == "unexpected character '`'");
  CHECK(lexed.diagnostics.all()[3].location.column == 19);
}

TEST_CASE("parser: a file that is not DSL at all reports a bounded number of errors", "[front]") {
  std::string garbage;
  for (int i = 0; i < 200; ++i) garbage += "@ variant " + std::to_string(i) + "\n";
  auto tree = front::parse({"<t>", garbage});
  REQUIRE_FALSE(tree.ok());
  // The first ones in source order are kept, the rest counted.
  REQUIRE(tree.error().all().size() == DiagnosticList::kMaxKept);
  CHECK(tree.error().all().front().location.line == 1);
  CHECK(tree.error().all().back().location.line == 25);
  CHECK(tree.error().error_count() == 400);
  CHECK(tree.error().omitted_errors() == 350);
  std::string shown = render(tree.error(), {"<t>", garbage});
  CHECK(shown.ends_with("\n<t>: note: 350 more errors not shown\n"));
}

TEST_CASE("parser: C precedence and left associativity", "[front]") {
  auto tree = front::parse({"<t>", "variant v { mask = a || b && c == d < e + f * -g % h - i / j; "
                                   "score = 1 - 2 - 3; }"});
  REQUIRE(tree.ok());
  const auto& body = tree->variants.at(0).body;
  const auto& mask = std::get<front::ast::Setting>(body.at(0));
  CHECK(front::ast::format_expr(*mask.value) == "a || b && c == d < e + f * -g % h - i / j");
  // format_expr adds only needed parentheses, so the tree shape shows in the root:
  CHECK(mask.value->binary_op == front::ast::BinaryOp::logical_or);
  const auto& score = std::get<front::ast::Setting>(body.at(1));
  CHECK(score.value->binary_op == front::ast::BinaryOp::sub);
  CHECK(front::ast::format_expr(*score.value->operands[0]) == "1 - 2");
}

TEST_CASE("parser: the AST dump shows every statement with its position", "[front]") {
  auto tree = front::parse({"<t>",
                            "variant v {\n"
                            "  kv = fp8_e4m3 per_tensor;\n"
                            "  kv_cache = paged(page_size = 16);\n"
                            "  param cap : f32 = -2;\n"
                            "  input s : f32[q_heads];\n"
                            "  score = s[q_head] * score;\n"
                            "}\n"});
  REQUIRE(tree.ok());
  CHECK(front::dump_ast(*tree) ==
        "file\n"
        "  variant v @1:9\n"
        "    setting kv @2:3\n"
        "      name fp8_e4m3 @2:8\n"
        "      qualifier per_tensor @2:17\n"
        "    setting kv_cache @3:3\n"
        "      call paged @3:14\n"
        "        named page_size @3:20\n"
        "          number 16 @3:32\n"
        "    param cap : f32 @4:9\n"
        "      unary - @4:21\n"
        "        number 2 @4:22\n"
        "    input s : f32[q_heads] @5:9\n"
        "    setting score @6:3\n"
        "      binary * @6:21\n"
        "        index s @6:11\n"
        "          name q_head @6:13\n"
        "        name score @6:23\n");
}

TEST_CASE("parser: an empty file is an empty module", "[front]") {
  auto tree = front::parse({"<t>", "# nothing here\n"});
  REQUIRE(tree.ok());
  CHECK(tree->variants.empty());
}

TEST_CASE("make_* reject malformed nodes as internal errors", "[front]") {
  using namespace ir;
  ExprRef number = make_builtin(Builtin::q_pos);
  ExprRef boolean = make_bool(true);
  CHECK_THROWS_AS(make_binary(Op::add, number, boolean), InternalError);
  CHECK_THROWS_AS(make_binary(Op::logical_and, number, boolean), InternalError);
  CHECK_THROWS_AS(make_binary(Op::neg, number, number), InternalError);
  CHECK_THROWS_AS(make_unary(Op::logical_not, number), InternalError);
  CHECK_THROWS_AS(make_unary(Op::neg, boolean), InternalError);
  CHECK_THROWS_AS(make_call("tanh", {number, number}), InternalError);
  CHECK_THROWS_AS(make_call("tan", {number}), InternalError);
  CHECK_THROWS_AS(make_select(number, number, number), InternalError);
  CHECK_THROWS_AS(make_select(boolean, number, boolean), InternalError);
  CHECK_THROWS_AS(make_input("s", boolean), InternalError);
  CHECK_THROWS_AS(make_constant(std::numeric_limits<double>::infinity()), InternalError);
  CHECK(make_binary(Op::lt, number, number)->type == ValueType::boolean);
  CHECK(make_select(boolean, number, number)->type == ValueType::number);
}

TEST_CASE("same_expr compares structure, not source locations", "[front]") {
  using namespace ir;
  ExprRef a = make_binary(Op::le, make_builtin(Builtin::kv_pos, {1, 1}), make_builtin(Builtin::q_pos, {1, 9}));
  ExprRef b = make_binary(Op::le, make_builtin(Builtin::kv_pos), make_builtin(Builtin::q_pos));
  ExprRef c = make_binary(Op::lt, make_builtin(Builtin::kv_pos), make_builtin(Builtin::q_pos));
  CHECK(same_expr(a, b));
  CHECK_FALSE(same_expr(a, c));
  CHECK(same_expr(nullptr, nullptr));
  CHECK_FALSE(same_expr(a, nullptr));
  CHECK(print_expr(a) == "kv_pos <= q_pos");
}

TEST_CASE("parser: absurd nesting is an error, not a stack overflow", "[front]") {
  auto nested = [](int depth) {
    return "variant v { score = " + std::string(depth, '(') + "score" + std::string(depth, ')') +
           " + " + std::string(depth, '-') + "1; }";
  };
  CHECK(front::parse({"<t>", nested(100)}).ok());
  auto deep = front::parse({"<t>", nested(100000)});
  REQUIRE_FALSE(deep.ok());
  REQUIRE(deep.error().all().size() == 1);
  CHECK(deep.error().all()[0].message == "expression is nested too deeply (more than 256 levels)");
}
