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
//
// Limits (parser.h): an expression deeper than kMaxExpressionDepth or larger than
// kMaxExpressionNodes is reported once, where it crosses the limit, and its statement
// is skipped. The parser's own recursion is bounded by the same depth: it recurses
// only into parentheses, prefix operators, calls and indexes (binary operators are
// climbed in a loop), and each of those adds a level to the tree.
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
        if (file.variants.size() == kMaxVariantsPerFile) {
          error(peek().location, "too many variants in one file (at most " +
                                     std::to_string(kMaxVariantsPerFile) + ")");
          return file;
        }
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
    setting.value = parse_value();
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
      decl.value = parse_value();
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
  // The value of one statement: the unit the expression limits apply to.
  ExprPtr parse_value() {
    nodes_ = 0;
    return parse_expr();
  }

  ExprPtr parse_expr() { return parse_binary(1); }

  // A new node for `token`, counted against kMaxExpressionNodes; null (reported)
  // past the limit.
  ExprPtr new_node(ast::ExprKind kind, const Token& token) {
    if (++nodes_ > kMaxExpressionNodes) {
      error_unless_reported(token, "expression is too large (more than " +
                                       std::to_string(kMaxExpressionNodes) + " terms)");
      return nullptr;
    }
    auto node = std::make_unique<ast::Expr>();
    node->kind = kind;
    node->location = token.location;
    node->word = word_of(token);
    return node;
  }

  // False (reported at `token`) when a node `depth` levels deep would cross the limit.
  bool within_depth(int depth, const Token& token) {
    if (depth <= kMaxExpressionDepth) return true;
    error_unless_reported(token, "expression is nested too deeply (more than " +
                                     std::to_string(kMaxExpressionDepth) + " levels)");
    return false;
  }

  // Precedence climbing: every operator is left-associative. A chain of operators of
  // one precedence is built in this loop, so its length costs no recursion; only a
  // tighter-binding right operand recurses (at most once per precedence level).
  ExprPtr parse_binary(int min_precedence) {
    ExprPtr lhs = parse_unary();
    if (!lhs) return nullptr;
    for (;;) {
      int precedence = binary_precedence(peek().kind);
      if (precedence == 0 || precedence < min_precedence) return lhs;
      const Token& op = advance();
      ExprPtr rhs = parse_binary(precedence + 1);
      if (!rhs) return nullptr;
      const int depth = 1 + std::max(lhs->depth, rhs->depth);
      if (!within_depth(depth, op)) return nullptr;
      ExprPtr node = new_node(ast::ExprKind::binary, op);
      if (!node) return nullptr;
      node->location = lhs->location;
      node->binary_op = binary_op_of(op.kind);
      node->depth = depth;
      node->operands.push_back(std::move(lhs));
      node->operands.push_back(std::move(rhs));
      lhs = std::move(node);
    }
  }

  // Every level of parentheses, prefix operators, calls and indexes passes through
  // here, and each adds a level to the tree: stopping at the depth limit bounds the
  // parser's recursion as well. The token before is the one that opened the level.
  ExprPtr parse_unary() {
    if (!within_depth(nesting_, previous())) return nullptr;
    ++nesting_;
    ExprPtr e = parse_prefixed();
    --nesting_;
    return e;
  }

  ExprPtr parse_prefixed() {
    if (at(TokenKind::minus) || at(TokenKind::bang)) {
      const Token& op = advance();
      ExprPtr operand = parse_unary();
      if (!operand) return nullptr;
      if (!within_depth(operand->depth + 1, op)) return nullptr;
      ExprPtr node = new_node(ast::ExprKind::unary, op);
      if (!node) return nullptr;
      node->unary_op = op.is(TokenKind::minus) ? ast::UnaryOp::negate : ast::UnaryOp::logical_not;
      node->depth = operand->depth + 1;
      node->operands.push_back(std::move(operand));
      return node;
    }
    return parse_primary();
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    if (t.is(TokenKind::number)) {
      ExprPtr node = new_node(ast::ExprKind::number, t);
      if (!node) return nullptr;
      advance();
      node->word = {};
      node->number = t.number;
      node->spelling = t.text;
      return node;
    }
    if (t.is(TokenKind::identifier)) return parse_name();
    if (t.is(TokenKind::l_paren)) {
      const Token& open = advance();
      ExprPtr inner = parse_expr();
      if (!inner) return nullptr;
      if (!at(TokenKind::r_paren)) {
        error_unless_reported(peek(), "expected ')' to match the '(' at " +
                                          location_text(open.location) + ", found " +
                                          describe(peek()));
        return nullptr;
      }
      advance();
      if (!within_depth(inner->depth + 1, open)) return nullptr;
      ++inner->depth;  // the parentheses are a level of their own
      return inner;
    }
    error_unless_reported(t, "expected an expression, found " + describe(t));
    return nullptr;
  }

  // name | name '[' expr ']' | name '(' [arg {',' arg}] ')'
  ExprPtr parse_name() {
    const Token& name = peek();
    ExprPtr node = new_node(ast::ExprKind::name, name);
    if (!node) return nullptr;
    advance();
    int deepest = -1;  // of the subscript or arguments; none for a plain name
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
      deepest = subscript->depth;
      node->operands.push_back(std::move(subscript));
    } else if (at(TokenKind::l_paren)) {
      SourceLocation open = advance().location;
      node->kind = ast::ExprKind::call;
      deepest = 0;
      if (!at(TokenKind::r_paren)) {
        for (;;) {
          ast::Argument arg;
          if (at(TokenKind::identifier) && peek(1).is(TokenKind::assign)) {
            arg.name = word_of(advance());
            advance();  // '='
          }
          arg.value = parse_expr();
          if (!arg.value) return nullptr;
          deepest = std::max(deepest, arg.value->depth);
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
    if (!within_depth(deepest + 1, name)) return nullptr;
    node->depth = deepest + 1;
    return node;
  }

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;  // parse_unary calls in progress
  int nodes_ = 0;    // nodes of the statement's expression so far
  DiagnosticList& diagnostics_;
};

// Lexer and parser messages in source order (neither emits notes, so order by
// position alone keeps every message next to its neighbours). Each list kept its
// first messages, so the first ones of both together are among them.
DiagnosticList in_source_order(const DiagnosticList& a, const DiagnosticList& b) {
  std::vector<Diagnostic> all = a.all();
  all.insert(all.end(), b.all().begin(), b.all().end());
  std::stable_sort(all.begin(), all.end(), [](const Diagnostic& x, const Diagnostic& y) {
    if (x.location.line != y.location.line) return x.location.line < y.location.line;
    return x.location.column < y.location.column;
  });
  DiagnosticList sorted;
  for (Diagnostic& d : all) sorted.add(std::move(d));
  sorted.count_omitted(a.omitted_errors() + b.omitted_errors(),
                       a.omitted_warnings() + b.omitted_warnings());
  return sorted;
}

}  // namespace

Result<ast::File, DiagnosticList> parse(const SourceFile& file) {
  if (file.text.size() > kMaxSourceBytes) {
    DiagnosticList too_big;
    too_big.error({}, "the file has " + std::to_string(file.text.size()) +
                          " bytes, more than the limit of " + std::to_string(kMaxSourceBytes) +
                          " bytes for variant files");
    return fail(std::move(too_big));
  }
  LexedFile lexed = lex(file);
  DiagnosticList parse_errors;
  ast::File tree = Parser(lexed.tokens, parse_errors).parse_file();
  DiagnosticList all = in_source_order(lexed.diagnostics, parse_errors);
  if (all.has_errors()) return fail(std::move(all));
  return tree;
}

}  // namespace attnjit::front
