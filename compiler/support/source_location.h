#pragma once
// A position in DSL source text. Lines and columns count from 1; 0 means "unknown"
// (for IR built in code rather than parsed). A column counts bytes from the start of
// the line (a tab is one column, as is each byte of a UTF-8 sequence).
#include <cstddef>
#include <string>
#include <string_view>

namespace attnjit {

struct SourceLocation {
  int line = 0;
  int column = 0;
  bool known() const { return line > 0; }
};

// The text a diagnostic points into: the path printed in `path:line:col:` and the
// source lines used to draw the caret.
struct SourceFile {
  std::string path;
  std::string text;
};

// Line ends: "\n" (Unix), "\r\n" (Windows) and a lone "\r" (classic Mac OS) each end
// one line. The lexer and the diagnostic renderer both split lines with this, so a
// location always names the line the renderer shows. Returns the length of the line
// end starting at `pos` (0 when there is none).
inline size_t line_end_length(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 0;
  if (text[pos] == '\n') return 1;
  if (text[pos] != '\r') return 0;
  return pos + 1 < text.size() && text[pos + 1] == '\n' ? 2 : 1;
}

// Line `line` (from 1) of `text` without its line end; empty past the last line.
inline std::string_view source_line(std::string_view text, int line) {
  size_t start = 0;
  for (int current = 1; current < line; ++current) {
    size_t end = text.find_first_of("\r\n", start);
    if (end == std::string_view::npos) return {};
    start = end + line_end_length(text, end);
  }
  size_t end = text.find_first_of("\r\n", start);
  return text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

}  // namespace attnjit
