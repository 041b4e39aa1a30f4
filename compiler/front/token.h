#pragma once
// The tokens of the variant DSL. A token keeps its exact spelling and where it starts,
// so every later diagnostic can point at the character the user wrote.
#include <string>

#include "compiler/support/source_location.h"

namespace attnjit::front {

enum class TokenKind {
  identifier,  // names, keys, dtypes, keywords (keywords are identifiers by spelling)
  number,      // 12, 0.5, 1e-3, .25
  l_brace, r_brace, l_paren, r_paren, l_bracket, r_bracket,
  semicolon, colon, comma,
  assign,                          // =
  plus, minus, star, slash, percent,
  less, less_equal, greater, greater_equal, equal_equal, bang_equal,
  amp_amp, pipe_pipe, bang,
  // Text the lexer already reported as an error (a stray character, a malformed
  // number). The parser recovers past it silently so one mistake gives one message.
  invalid,
  end_of_file,
};

struct Token {
  TokenKind kind = TokenKind::end_of_file;
  std::string text;         // exact spelling
  SourceLocation location;  // first character
  double number = 0.0;      // TokenKind::number only

  bool is(TokenKind k) const { return kind == k; }
  bool is_word(const char* word) const { return kind == TokenKind::identifier && text == word; }
  // Column just past the last character (tokens never span lines).
  SourceLocation end() const {
    return {location.line, location.column + static_cast<int>(text.size())};
  }
};

// How a token kind is written, for messages: "';'", "identifier", "end of file".
const char* token_kind_description(TokenKind kind);

}  // namespace attnjit::front
