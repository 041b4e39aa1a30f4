#include "compiler/front/lexer.h"

#include <charconv>
#include <string_view>
#include <system_error>

namespace attnjit::front {

const char* token_kind_description(TokenKind kind) {
  switch (kind) {
    case TokenKind::identifier: return "a name";
    case TokenKind::number: return "a number";
    case TokenKind::l_brace: return "'{'";
    case TokenKind::r_brace: return "'}'";
    case TokenKind::l_paren: return "'('";
    case TokenKind::r_paren: return "')'";
    case TokenKind::l_bracket: return "'['";
    case TokenKind::r_bracket: return "']'";
    case TokenKind::semicolon: return "';'";
    case TokenKind::colon: return "':'";
    case TokenKind::comma: return "','";
    case TokenKind::assign: return "'='";
    case TokenKind::plus: return "'+'";
    case TokenKind::minus: return "'-'";
    case TokenKind::star: return "'*'";
    case TokenKind::slash: return "'/'";
    case TokenKind::percent: return "'%'";
    case TokenKind::less: return "'<'";
    case TokenKind::less_equal: return "'<='";
    case TokenKind::greater: return "'>'";
    case TokenKind::greater_equal: return "'>='";
    case TokenKind::equal_equal: return "'=='";
    case TokenKind::bang_equal: return "'!='";
    case TokenKind::amp_amp: return "'&&'";
    case TokenKind::pipe_pipe: return "'||'";
    case TokenKind::bang: return "'!'";
    case TokenKind::invalid: return "invalid text";
    case TokenKind::end_of_file: return "end of file";
  }
  return "?";
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// Walks the text once, tracking line and column (both from 1; a tab is one column,
// the renderer keeps tabs so carets still line up; line ends as in source_location.h).
class Lexer {
 public:
  explicit Lexer(const SourceFile& file) : text_(file.text) {}

  LexedFile run() {
    for (;;) {
      skip_space_and_comments();
      if (at_end()) break;
      lex_one();
    }
    out_.tokens.push_back({TokenKind::end_of_file, "", here(), 0.0});
    return std::move(out_);
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  SourceLocation here() const { return {line_, column_}; }

  // One character, or one whole line end ("\n", "\r\n" or a lone "\r").
  void advance() {
    if (size_t line_end = line_end_length(text_, pos_)) {
      pos_ += line_end;
      ++line_;
      column_ = 1;
      return;
    }
    ++column_;
    ++pos_;
  }

  void skip_space_and_comments() {
    while (!at_end()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
        advance();
      } else if (c == '#' || (c == '/' && peek(1) == '/')) {
        while (!at_end() && line_end_length(text_, pos_) == 0) advance();
      } else {
        return;
      }
    }
  }

  void emit(TokenKind kind, SourceLocation at, size_t start, double number = 0.0) {
    out_.tokens.push_back({kind, std::string(text_.substr(start, pos_ - start)), at, number});
  }

  void lex_one() {
    SourceLocation at = here();
    size_t start = pos_;
    char c = peek();
    if (is_name_start(c)) {
      while (!at_end() && is_name_char(peek())) advance();
      emit(TokenKind::identifier, at, start);
      return;
    }
    if (is_digit(c) || (c == '.' && is_digit(peek(1)))) {
      lex_number(at, start);
      return;
    }
    if (TokenKind kind; lex_punctuation(&kind)) {
      emit(kind, at, start);
      return;
    }
    lex_unexpected(at, start);
  }

  // number := digits ['.' digits] [('e'|'E') ['+'|'-'] digits]  |  '.' digits [...]
  void lex_number(SourceLocation at, size_t start) {
    while (is_digit(peek())) advance();
    std::string problem;
    if (peek() == '.') {
      advance();
      if (!is_digit(peek())) problem = "expected a digit after '.'";
      while (is_digit(peek())) advance();
    }
    if (problem.empty() && (peek() == 'e' || peek() == 'E')) {
      advance();
      if (peek() == '+' || peek() == '-') advance();
      if (!is_digit(peek())) problem = "expected digits in the exponent";
      while (is_digit(peek())) advance();
    }
    if (!problem.empty()) {
      out_.diagnostics.error(at, "unterminated number '" +
                                     std::string(text_.substr(start, pos_ - start)) + "': " +
                                     problem);
      emit(TokenKind::invalid, at, start);
      return;
    }
    // `12abc` or `1.5.2`: one malformed number, not a number followed by a name.
    if (is_name_char(peek()) || peek() == '.') {
      while (is_name_char(peek()) || peek() == '.') advance();
      out_.diagnostics.error(
          at, "invalid number '" + std::string(text_.substr(start, pos_ - start)) + "'");
      emit(TokenKind::invalid, at, start);
      return;
    }
    std::string_view spelling = text_.substr(start, pos_ - start);
    double value = 0.0;
    auto [end, ec] = std::from_chars(spelling.data(), spelling.data() + spelling.size(), value);
    if (ec != std::errc() || end != spelling.data() + spelling.size()) {
      out_.diagnostics.error(at, "number '" + std::string(spelling) +
                                     "' is out of range for a 64-bit float");
      emit(TokenKind::invalid, at, start);
      return;
    }
    emit(TokenKind::number, at, start, value);
  }

  bool lex_punctuation(TokenKind* kind) {
    char c = peek();
    char next = peek(1);
    auto two = [&](TokenKind k) { advance(); advance(); *kind = k; return true; };
    auto one = [&](TokenKind k) { advance(); *kind = k; return true; };
    switch (c) {
      case '{': return one(TokenKind::l_brace);
      case '}': return one(TokenKind::r_brace);
      case '(': return one(TokenKind::l_paren);
      case ')': return one(TokenKind::r_paren);
      case '[': return one(TokenKind::l_bracket);
      case ']': return one(TokenKind::r_bracket);
      case ';': return one(TokenKind::semicolon);
      case ':': return one(TokenKind::colon);
      case ',': return one(TokenKind::comma);
      case '+': return one(TokenKind::plus);
      case '-': return one(TokenKind::minus);
      case '*': return one(TokenKind::star);
      case '/': return one(TokenKind::slash);
      case '%': return one(TokenKind::percent);
      case '<': return next == '=' ? two(TokenKind::less_equal) : one(TokenKind::less);
      case '>': return next == '=' ? two(TokenKind::greater_equal) : one(TokenKind::greater);
      case '=': return next == '=' ? two(TokenKind::equal_equal) : one(TokenKind::assign);
      case '!': return next == '=' ? two(TokenKind::bang_equal) : one(TokenKind::bang);
      case '&': return next == '&' ? two(TokenKind::amp_amp) : false;
      case '|': return next == '|' ? two(TokenKind::pipe_pipe) : false;
      default: return false;
    }
  }

  // A character no token starts with. A run of them (`...`, `$$`, a UTF-8 sequence)
  // is one mistake and gets one message.
  void lex_unexpected(SourceLocation at, size_t start) {
    advance();
    while (!at_end() && starts_nothing(pos_)) advance();
    std::string shown(text_.substr(start, pos_ - start));
    size_t characters = 0;  // UTF-8 code points: bytes that are not continuation bytes
    for (char byte : shown) characters += (static_cast<unsigned char>(byte) & 0xC0) != 0x80;
    bool single = characters == 1;
    std::string message = std::string(single ? "unexpected character '" : "unexpected characters '") +
                          shown + "'";
    if (shown == "&") message += "; did you mean '&&'?";
    if (shown == "|") message += "; did you mean '||'?";
    out_.diagnostics.error(at, message);
    emit(TokenKind::invalid, at, start);
  }

  // True if no token, comment or white space can start at `pos`.
  bool starts_nothing(size_t pos) const {
    char c = text_[pos];
    char next = pos + 1 < text_.size() ? text_[pos + 1] : '\0';
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v' || c == '#') return false;
    if (is_name_start(c) || is_digit(c) || (c == '.' && is_digit(next))) return false;
    if (c == '&') return next != '&';
    if (c == '|') return next != '|';
    return std::string_view("{}()[];:,+-*/%<>=!").find(c) == std::string_view::npos;
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
  LexedFile out_;
};

}  // namespace

LexedFile lex(const SourceFile& file) { return Lexer(file).run(); }

}  // namespace attnjit::front
