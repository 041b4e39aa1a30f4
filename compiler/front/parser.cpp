// Recursive-descent parser for the variant DSL.
//
//   file       := { 'variant' NAME '{' { statement } '}' }
//   statement  := KEY '=' expr [QUALIFIER] ';'
//               | ('param' | 'const') NAME ':' TYPE ['=' expr] ';'
//               | 'input' NAME ':' TYPE '[' EXTENT ']' ';'
//               | ';'
//   expr       := binary expressions with C precedence over unary / postfix / primary
//
// Error recovery: a broken statement is skipped up to its ';' (or the block's '}'),
// and a missing ';' is reported without skipping when the next statement plainly
// starts there, so one slip gives one message and the rest of the file is checked.
#include <algorithm>

#include "compiler/front/lexer.h"
#include "compiler/front/parser.h"

namespace attnjit::front {

namespace {

using ast::ExprPtr;

// C precedence, loosest first; 0 = not a binary operator.
int binary_precedence(TokenKind kind) {
  switch (kind) {
    case TokenKind::pipe_pipe: return 1;
    case TokenKind::amp_amp: return 2;
    case TokenKind::equal_equal: case TokenKind::bang_equal: return 3;
    case TokenKind::less: case TokenKind::less_equal:
    case TokenKind::greater: case TokenKind::greater_equal: return 4;
    case TokenKind::plus: case TokenKind::minus: return 5;
    case TokenKind::star: case TokenKind::slash: case TokenKind::percent: return 6;
    default: return 0;
  }
}

ast::BinaryOp binary_op_of(TokenKind kind) {
  switch (kind) {
    case TokenKind::pipe_pipe: return ast::BinaryOp::logical_or;
    case TokenKind::amp_amp: return ast::BinaryOp::logical_and;
    case TokenKind::equal_equal: return ast::BinaryOp::eq;
    case TokenKind::bang_equal: return ast::BinaryOp::ne;
    case TokenKind::less: return ast::BinaryOp::lt;
    case TokenKind::less_equal: return ast::BinaryOp::le;
    case TokenKind::greater: return ast::BinaryOp::gt;
    case TokenKind::greater_equal: return ast::BinaryOp::ge;
    case TokenKind::plus: return ast::BinaryOp::add;
    case TokenKind::minus: return ast::BinaryOp::sub;
    case TokenKind::star: return ast::BinaryOp::mul;
    case TokenKind::slash: return ast::BinaryOp::div;
    default: return ast::BinaryOp::mod;
  }
}

// Words that start a declaration; never taken as a value's qualifier.
bool is_statement_keyword(const Token& t) {
  return t.is_word("param") || t.is_word("const") || t.is_word("input") || t.is_word("variant");
}

std::string describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::identifier:
    case TokenKind::number: return "'" + t.text + "'";
    default: return token_kind_description(t.kind);
  }
}

std::string location_text(SourceLocation at) {
  return std::to_string(at.line) + ":" + std::to_string(at.column);
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, DiagnosticList& diagnostics)
      : tokens_(tokens), diagnostics_(diagnostics) {}

  ast::File parse_file() {
    ast::File file;
    while (!at(TokenKind::end_of_file)) {
      if (peek().is_word("variant")) {
        parse_variant(file);
        continue;
      }
      error_unless_reported(peek(), "expected 'variant NAME { ... }', found " + describe(peek()));
      advance();
      while (!at(TokenKind::end_of_file) && !peek().is_word("variant")) advance();
    }
    return file;
  }

 private:
  // --- token stream ------------------------------------------------------------------
  const Token& peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  bool at(TokenKind kind) const { return peek().is(kind); }
  const Token& advance() {
    const Token& t = peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  const Token& previous() const { return tokens_[pos_ == 0 ? 0 : pos_ - 1]; }
  static ast::Word word_of(const Token& t) { return {t.text, t.location}; }

  void error(SourceLocation at, std::string message) { diagnostics_.error(at, std::move(message)); }
  // An `invalid` token was already reported by the lexer; saying more would only
  // repeat the same mistake in other words.
  // At the end of the file, the caret goes right after the last token rather than
  // onto an empty last line.
  void error_unless_reported(const Token& t, std::string message) {
    if (t.is(TokenKind::invalid)) return;
    bool at_end = t.is(TokenKind::end_of_file) && pos_ > 0;
    error(at_end ? previous_of_end().end() : t.location, std::move(message));
  }
  const Token& previous_of_end() const { return tokens_[tokens_.size() >= 2 ? tokens_.size() - 2 : 0]; }

  // Skips the rest of a broken statement: past its ';', or up to the '}' or the next
  // `variant` that ends the block.
  void skip_statement() {
    for (;;) {
      const Token& t = peek();
      if (t.is(TokenKind::end_of_file) || t.is(TokenKind::r_brace) || t.is_word("variant")) return;
      advance();
      if (t.is(TokenKind::semicolon)) return;
    }
  }

  // Does a new statement (or the end of the block) visibly start at the cursor?
  bool at_statement_start() const {
    const Token& t = peek();
    if (t.is(TokenKind::r_brace) || t.is(TokenKind::end_of_file)) return true;
    if (is_statement_keyword(t)) return true;
    return t.is(TokenKind::identifier) && peek(1).is(TokenKind::assign);
  }

  void expect_semicolon(const std::string& after) {
    if (at(TokenKind::semicolon)) {
      advance();
      return;
    }
    if (!at(TokenKind::invalid)) error(previous().end(), "expected ';' " + after);
    if (!at_statement_start()) skip_statement();
  }

  // --- declarations ------------------------------------------------------------------
  void parse_variant(ast::File& file) {
    ast::VariantDecl decl;
    decl.location = advance().location;  // `variant`
    if (!at(TokenKind::identifier)) {
      error_unless_reported(peek(), "expected a variant name after 'variant', found " + describe(peek()));
      skip_to_next_variant();
      return;
    }
    decl.name = word_of(advance());
    if (!at(TokenKind::l_brace)) {
      error_unless_reported(peek(), "expected '{' after 'variant " + decl.name.text + "', found " +
                                        describe(peek()));
      skip_to_next_variant();
      return;
    }
    SourceLocation open_brace = advance().location;
    for (;;) {
      if (at(TokenKind::r_brace)) {
        advance();
        break;
      }
      if (at(TokenKind::end_of_file) || peek().is_word("variant")) {
        error(open_brace, "unterminated block: variant '" + decl.name.text +
                              "' has no closing '}' for this '{'");
        break;
      }
      parse_statement(decl.body);
    }
    file.variants.push_back(std::move(decl));
  }

  void skip_to_next_variant() {
    while (!at(TokenKind::end_of_file) && !peek().is_word("variant")) advance();
  }

  void parse_statement(std::vector<ast::Statement>& body) {
    const Token& first = peek();
    if (first.is(TokenKind::semicolon)) {
      advance();  // an empty statement is harmless
      return;
    }
    if (!first.is(TokenKind::identifier)) {
      error_unless_reported(first, "expected a setting such as 'head_dim = 128;', found " +
                                       describe(first));
      advance();
      skip_statement();
      return;
    }
    if (first.is_word("param") || first.is_word("const")) return parse_scalar_decl(body);
    if (first.is_word("input")) return parse_input_decl(body);
    parse_setting(body);
  }

  void parse_setting(std::vector<ast::Statement>& body) {
    ast::Setting setting;
    setting.key = word_of(advance());
    if (!at(TokenKind::assign)) {
      error_unless_reported(peek(), "expected '=' after '" + setting.key.text + "', found " +
                                        describe(peek()));
      skip_statement();
      return;
    }
    advance();
    setting.value = parse_expr();
    if (!setting.value) {
      skip_statement();
      return;
    }
    // `kv = fp8_e4m3 per_tensor;` A following name is a qualifier unless it plainly
    // starts the next statement (then the ';' is what is missing).
    if (at(TokenKind::identifier) && !is_statement_keyword(peek()) &&
        !peek(1).is(TokenKind::assign) && !peek(1).is(TokenKind::colon))
      setting.qualifier = word_of(advance());
    std::string key = setting.key.text;
    body.push_back(std::move(setting));
    expect_semicolon("after the value of '" + key + "'");
  }

  // Expects a name; reports `what` (e.g. "a name after 'param'") when it is missing.
  bool expect_name(ast::Word* out, const std::string& what) {
    if (!at(TokenKind::identifier)) {
      error_unless_reported(peek(), "expected " + what + ", found " + describe(peek()));
      skip_statement();
      return false;
    }
    *out = word_of(advance());
    return true;
  }

  bool expect_token(TokenKind kind, const std::string& what) {
    if (!at(kind)) {
      error_unless_reported(peek(), "expected " + what + ", found " + describe(peek()));
      skip_statement();
      return false;
    }
    advance();
    return true;
  }

  void parse_scalar_decl(std::vector<ast::Statement>& body) {
    ast::ScalarDecl decl;
    const Token& keyword = advance();
    decl.is_const = keyword.is_word("const");
    decl.location = keyword.location;
    std::string kw = keyword.text;
    if (!expect_name(&decl.name, "a name after '" + kw + "'")) return;
    if (!expect_token(TokenKind::colon, "':' and a type after '" + kw + " " + decl.name.text +
                                            "' (e.g. " + kw + " " + decl.name.text +
                                            " : f32 = 1.0;)"))
      return;
    if (!expect_name(&decl.type, "a type after ':' (e.g. f32)")) return;
    if (at(TokenKind::assign)) {
      advance();
      decl.value = parse_expr();
      if (!decl.value) {
        skip_statement();
        return;
      }
    }
    std::string name = decl.name.text;
    body.push_back(std::move(decl));
    expect_semicolon("after the declaration of '" + name + "'");
  }

  void parse_input_decl(std::vector<ast::Statement>& body) {
    ast::InputDecl decl;
    decl.location = advance().location;
    if (!expect_name(&decl.name, "a name after 'input'")) return;
    if (!expect_token(TokenKind::colon, "':' and a type after 'input " + decl.name.text +
                                            "' (e.g. input " + decl.name.text +
                                            " : f32[q_heads];)"))
      return;
    if (!expect_name(&decl.element_type, "an element type after ':' (e.g. f32)")) return;
    if (!expect_token(TokenKind::l_bracket, "'[' and an extent (q_heads, kv_heads or seqs)"))
      return;
    if (!expect_name(&decl.extent, "an extent: q_heads, kv_heads or seqs")) return;
    if (!expect_token(TokenKind::r_bracket, "']' after the extent")) return;
    std::string name = decl.name.text;
    body.push_back(std::move(decl));
    expect_semicolon("after the declaration of '" + name + "'");
  }

  // --- expressions (null after an error, already reported) ---------------------------
  ExprPtr parse_expr() { return parse_binary(1); }

  // Precedence climbing: every operator is left-associative.
  ExprPtr parse_binary(int min_precedence) {
    ExprPtr lhs = parse_unary();
    if (!lhs) return nullptr;
    for (;;) {
      int precedence = binary_precedence(peek().kind);
      if (precedence == 0 || precedence < min_precedence) return lhs;
      const Token& op = advance();
      ExprPtr rhs = parse_binary(precedence + 1);
      if (!rhs) return nullptr;
      auto node = std::make_unique<ast::Expr>();
      node->kind = ast::ExprKind::binary;
      node->location = lhs->location;
      node->word = word_of(op);
      node->binary_op = binary_op_of(op.kind);
      node->operands.push_back(std::move(lhs));
      node->operands.push_back(std::move(rhs));
      lhs = std::move(node);
    }
  }

  // Every level of parentheses or prefix operators passes through here, so this one
  // counter bounds the recursion of the parser and of every later tree walk.
  ExprPtr parse_unary() {
    if (depth_ >= kMaxNesting) {
      error_unless_reported(peek(), "expression is nested too deeply (more than " +
                                        std::to_string(kMaxNesting) + " levels)");
      return nullptr;
    }
    ++depth_;
    ExprPtr e = parse_prefixed();
    --depth_;
    return e;
  }

  ExprPtr parse_prefixed() {
    if (at(TokenKind::minus) || at(TokenKind::bang)) {
      const Token& op = advance();
      ExprPtr operand = parse_unary();
      if (!operand) return nullptr;
      auto node = std::make_unique<ast::Expr>();
      node->kind = ast::ExprKind::unary;
      node->location = op.location;
      node->word = word_of(op);
      node->unary_op = op.is(TokenKind::minus) ? ast::UnaryOp::negate : ast::UnaryOp::logical_not;
      node->operands.push_back(std::move(operand));
      return node;
    }
    return parse_primary();
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    if (t.is(TokenKind::number)) {
      advance();
      auto node = std::make_unique<ast::Expr>();
      node->kind = ast::ExprKind::number;
      node->location = t.location;
      node->number = t.number;
      node->spelling = t.text;
      return node;
    }
    if (t.is(TokenKind::identifier)) return parse_name();
    if (t.is(TokenKind::l_paren)) {
      SourceLocation open = advance().location;
      ExprPtr inner = parse_expr();
      if (!inner) return nullptr;
      if (!at(TokenKind::r_paren)) {
        error_unless_reported(peek(), "expected ')' to match the '(' at " + location_text(open) +
                                          ", found " + describe(peek()));
        return nullptr;
      }
      advance();
      return inner;
    }
    error_unless_reported(t, "expected an expression, found " + describe(t));
    return nullptr;
  }

  // name | name '[' expr ']' | name '(' [arg {',' arg}] ')'
  ExprPtr parse_name() {
    const Token& name = advance();
    auto node = std::make_unique<ast::Expr>();
    node->location = name.location;
    node->word = word_of(name);
    node->kind = ast::ExprKind::name;
    if (at(TokenKind::l_bracket)) {
      advance();
      node->kind = ast::ExprKind::index;
      ExprPtr subscript = parse_expr();
      if (!subscript) return nullptr;
      if (!at(TokenKind::r_bracket)) {
        error_unless_reported(peek(), "expected ']' to close the index of '" + name.text +
                                          "', found " + describe(peek()));
        return nullptr;
      }
      advance();
      node->operands.push_back(std::move(subscript));
    } else if (at(TokenKind::l_paren)) {
      SourceLocation open = advance().location;
      node->kind = ast::ExprKind::call;
      if (!at(TokenKind::r_paren)) {
        for (;;) {
          ast::Argument arg;
          if (at(TokenKind::identifier) && peek(1).is(TokenKind::assign)) {
            arg.name = word_of(advance());
            advance();  // '='
          }
          arg.value = parse_expr();
          if (!arg.value) return nullptr;
          node->args.push_back(std::move(arg));
          if (!at(TokenKind::comma)) break;
          advance();
        }
      }
      if (!at(TokenKind::r_paren)) {
        error_unless_reported(peek(), "expected ',' or ')' in the arguments of '" + name.text +
                                          "(' at " + location_text(open) + ", found " +
                                          describe(peek()));
        return nullptr;
      }
      advance();
    }
    return node;
  }

  static constexpr int kMaxNesting = 200;

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  DiagnosticList& diagnostics_;
};

// Lexer and parser messages in source order (neither emits notes, so order by
// position alone keeps every message next to its neighbours).
DiagnosticList in_source_order(const DiagnosticList& a, const DiagnosticList& b) {
  std::vector<Diagnostic> all = a.all();
  all.insert(all.end(), b.all().begin(), b.all().end());
  std::stable_sort(all.begin(), all.end(), [](const Diagnostic& x, const Diagnostic& y) {
    if (x.location.line != y.location.line) return x.location.line < y.location.line;
    return x.location.column < y.location.column;
  });
  DiagnosticList sorted;
  for (Diagnostic& d : all) {
    switch (d.severity) {
      case Severity::error: sorted.error(d.location, std::move(d.message)); break;
      case Severity::warning: sorted.warning(d.location, std::move(d.message)); break;
      case Severity::note: sorted.note(d.location, std::move(d.message)); break;
    }
  }
  return sorted;
}

// Text that is not DSL at all (a pasted document, a binary file) would otherwise bury
// the terminal; the first screenful says what is wrong.
constexpr size_t kMaxReportedErrors = 50;

DiagnosticList at_most(size_t limit, const DiagnosticList& all) {
  if (all.all().size() <= limit) return all;
  DiagnosticList kept;
  for (size_t i = 0; i < limit; ++i) {
    const Diagnostic& d = all.all()[i];
    if (d.severity == Severity::error) kept.error(d.location, d.message);
    else if (d.severity == Severity::warning) kept.warning(d.location, d.message);
    else kept.note(d.location, d.message);
  }
  kept.error({}, "too many errors; " + std::to_string(all.all().size() - limit) +
                     " more not shown");
  return kept;
}

}  // namespace

Result<ast::File, DiagnosticList> parse(const SourceFile& file) {
  LexedFile lexed = lex(file);
  DiagnosticList parse_errors;
  ast::File tree = Parser(lexed.tokens, parse_errors).parse_file();
  DiagnosticList all = in_source_order(lexed.diagnostics, parse_errors);
  if (all.has_errors()) return fail(at_most(kMaxReportedErrors, all));
  return tree;
}

}  // namespace attnjit::front
