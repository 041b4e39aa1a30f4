#pragma once
// DSL text -> tokens. Comments (`# ...` and `// ...`) and white space are dropped.
// The lexer never stops at an error: it reports it, emits an `invalid` token in its
// place and carries on, so the parser can still report the rest of the file.
#include <vector>

#include "compiler/front/token.h"
#include "compiler/support/diagnostics.h"

namespace attnjit::front {

struct LexedFile {
  std::vector<Token> tokens;  // always ends with one end_of_file token
  DiagnosticList diagnostics;
};

LexedFile lex(const SourceFile& file);

}  // namespace attnjit::front
