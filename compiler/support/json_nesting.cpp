#include "compiler/support/json_nesting.h"

#include <fmt/format.h>

namespace attnjit {

std::string json_too_deep_at(std::string_view text, int max_depth) {
  int depth = 0, line = 1, column = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    ++column;
    if (c == '\n') line += 1, column = 0;
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return fmt::format("line {}, column {}", line, column);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return "";
}

}  // namespace attnjit
