#pragma once
// A position in DSL source text. Lines and columns count from 1; 0 means "unknown"
// (for IR built in code rather than parsed).
#include <string>

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

}  // namespace attnjit
