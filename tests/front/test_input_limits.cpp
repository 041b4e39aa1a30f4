// Inputs at and past the front end's limits (compiler/front/parser.h): deep and huge
// expressions, many variants, big files. Each ends in one located error or compiles;
// none may crash or take long.
#include <string>

#include "catch.h"
#include "compiler/front/parser.h"
#include "compiler/passes/pipeline.h"

using namespace attnjit;

namespace {

// A complete variant whose score is `expr` (on line 3, after "  score = ").
std::string variant_with_score(const std::string& expr, const std::string& name = "v") {
  return "variant " + name + " {\n  heads = 8 / 8; head_dim = 64; q = bf16; kv = bf16; out = bf16;\n" +
         "  score = " + expr + ";\n}\n";
}

// `score + 1 + 1 ...` with `operators` operators: a left-leaning tree that deep.
std::string chain(int operators) {
  std::string expr = "score";
  for (int i = 0; i < operators; ++i) expr += " + 1";
  return expr;
}

// The location of the `n`-th (from 1) occurrence of `c` in `text`.
SourceLocation nth(const std::string& text, char c, int n) {
  int line = 1, column = 1;
  for (char t : text) {
    if (t == c && --n == 0) return {line, column};
    if (t == '\n') ++line, column = 1;
    else ++column;
  }
  return {};
}

Diagnostic only_error(const Result<front::ast::File, DiagnosticList>& tree) {
  REQUIRE_FALSE(tree.ok());
  REQUIRE(tree.error().all().size() == 1);
  return tree.error().all()[0];
}

std::string too_deep() {
  return "expression is nested too deeply (more than " + std::to_string(front::kMaxExpressionDepth) +
         " levels)";
}

}  // namespace

TEST_CASE("limits: a chain of operators as deep as the limit compiles", "[front][limits]") {
  const std::string text = variant_with_score(chain(front::kMaxExpressionDepth));
  auto module = compile_variants({"<t>", text});
  INFO((module.ok() ? std::string() : render(module.error(), {"<t>", text})));
  CHECK(module.ok());
}

TEST_CASE("limits: a chain of 10,000 operators is one error at the operator past the limit",
          "[front][limits]") {
  const std::string text = variant_with_score(chain(10000));
  const Diagnostic d = only_error(front::parse({"<t>", text}));
  CHECK(d.message == too_deep());
  const SourceLocation crossing = nth(text, '+', front::kMaxExpressionDepth + 1);
  CHECK(d.location.line == crossing.line);
  CHECK(d.location.column == crossing.column);
  // The whole pipeline stops there too (nothing after the parser sees the tree).
  auto module = compile_variants({"<t>", text});
  REQUIRE_FALSE(module.ok());
  CHECK(module.error().error_count() == 1);
}

TEST_CASE("limits: a million nested parentheses or prefix operators is one located error",
          "[front][limits]") {
  const int n = 1000000;
  struct Case {
    std::string expr;
    char opener;
  };
  for (const Case& c : {Case{std::string(n, '(') + "score" + std::string(n, ')'), '('},
                        Case{std::string(n, '-') + "score", '-'},
                        Case{std::string(n, '!') + "true", '!'},
                        Case{std::string(n, '-') + std::string(n, '('), '-'}}) {
    INFO(c.expr.substr(0, 20));
    const std::string text = variant_with_score(c.expr);
    const Diagnostic d = only_error(front::parse({"<t>", text}));
    CHECK(d.message == too_deep());
    // At the opener that starts level kMaxExpressionDepth + 1.
    const SourceLocation crossing = nth(text, c.opener, front::kMaxExpressionDepth + 1);
    CHECK(d.location.line == crossing.line);
    CHECK(d.location.column == crossing.column);
  }
}

TEST_CASE("limits: calls, indexes and parentheses count as levels", "[front][limits]") {
  // Each `abs(` is one level: as many as the limit allow, one more does not.
  auto calls = [](int levels) {
    std::string expr;
    for (int i = 0; i < levels; ++i) expr += "abs(";
    return expr + "score" + std::string(levels, ')');
  };
  CHECK(front::parse({"<t>", variant_with_score(calls(front::kMaxExpressionDepth))}).ok());
  CHECK(only_error(front::parse({"<t>", variant_with_score(calls(front::kMaxExpressionDepth + 1))}))
            .message == too_deep());
  // A chain of kMaxExpressionDepth operators in one more pair of parentheses.
  const std::string wrapped = variant_with_score(std::string("(") + chain(front::kMaxExpressionDepth) + ")");
  CHECK(only_error(front::parse({"<t>", wrapped})).message == too_deep());
  // An index adds a level to its subscript.
  const std::string indexed = "variant v { input s : f32[q_heads]; score = s[" +
                              chain(front::kMaxExpressionDepth) + "]; }";
  CHECK(only_error(front::parse({"<t>", indexed})).message == too_deep());
}

TEST_CASE("limits: a wide expression past the node limit is one error where it crosses it",
          "[front][limits]") {
  // Groups of 100 terms in parentheses: shallow, but 50 of them are ~10,000 nodes.
  std::string group = "(1";
  for (int i = 1; i < 100; ++i) group += " + 1";
  group += ")";
  std::string expr = "score";
  for (int i = 0; i < 50; ++i) expr += " * " + group;
  const std::string text = variant_with_score(expr);
  const Diagnostic d = only_error(front::parse({"<t>", text}));
  CHECK(d.message ==
        "expression is too large (more than " + std::to_string(front::kMaxExpressionNodes) + " terms)");
  // Node kMaxExpressionNodes + 1: `score`, then 200 per group (its 100 numbers and 99
  // '+', then the '*' joining it), so the crossing one is inside the next group.
  CHECK(d.location.line == 3);
  const int full_groups = front::kMaxExpressionNodes / 200;
  CHECK(d.location.column > nth(text, '(', full_groups + 1).column);
  CHECK(d.location.column < nth(text, '(', full_groups + 2).column);

  // A call with thousands of arguments is as large.
  std::string args = "1";
  for (int i = 0; i < 10000; ++i) args += ", 1";
  CHECK(only_error(front::parse({"<t>", variant_with_score("max(" + args + ")")})).message.find(
            "expression is too large") == 0);
}

TEST_CASE("limits: each expression is counted on its own", "[front][limits]") {
  // Two statements just under the node limit each: neither is too large.
  std::string big = "score";
  for (int i = 0; i < 20; ++i) {
    std::string group = "(1";
    for (int j = 1; j < 100; ++j) group += " + 1";
    big += " * " + group + ")";
  }
  const std::string text = "variant v { score = " + big + "; mask = causal; }\n" +
                           "variant w { score = " + big + "; mask = causal; }\n";
  CHECK(front::parse({"<t>", text}).ok());
}

TEST_CASE("limits: too many variants in one file is one error", "[front][limits]") {
  std::string text;
  for (size_t i = 0; i <= front::kMaxVariantsPerFile; ++i)
    text += "variant v" + std::to_string(i) + " { }\n";
  const Diagnostic d = only_error(front::parse({"<t>", text}));
  CHECK(d.message ==
        "too many variants in one file (at most " + std::to_string(front::kMaxVariantsPerFile) + ")");
  CHECK(d.location.line == static_cast<int>(front::kMaxVariantsPerFile) + 1);
  CHECK(d.location.column == 1);
}

TEST_CASE("limits: a megabyte of valid statements is checked", "[front][limits]") {
  // Variants with a long score each, about 1 MB in all: compiled (in well under a
  // second; a quadratic step anywhere would take minutes).
  std::string expr = "score";
  for (int i = 0; i < 200; ++i) expr += " * 0.5 + q_pos % 3";
  std::string text;
  for (int i = 0; text.size() < 1000000; ++i) text += variant_with_score(expr, std::string("v") + std::to_string(i));
  auto module = compile_variants({"<t>", text});
  INFO((module.ok() ? std::string() : render(module.error(), {"<t>", text})));
  REQUIRE(module.ok());
  CHECK(module->variants.size() > 200);
}

TEST_CASE("limits: text larger than a variant file may be is refused", "[front][limits]") {
  const std::string text(front::kMaxSourceBytes + 1, ' ');
  const Diagnostic d = only_error(front::parse({"<t>", text}));
  CHECK_FALSE(d.location.known());
  CHECK(d.message.find("more than the limit of " + std::to_string(front::kMaxSourceBytes)) !=
        std::string::npos);
}
