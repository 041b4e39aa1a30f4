#pragma once
// User-facing errors in DSL text. A Diagnostic is a value: where, what. Rendering
// follows the compiler convention `path:line:col: error: message`, the source line,
// and a caret under the column. Internal invariants use ATTNJIT_ASSERT instead.
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/support/source_location.h"

namespace attnjit {

enum class Severity { error, warning, note };

struct Diagnostic {
  Severity severity = Severity::error;
  SourceLocation location;
  std::string message;
};

// Collects every diagnostic of one pass so all of them are reported at once.
class DiagnosticList {
 public:
  void error(SourceLocation at, std::string message);
  void warning(SourceLocation at, std::string message);
  void note(SourceLocation at, std::string message);
  void append(const DiagnosticList& other);

  bool has_errors() const;
  const std::vector<Diagnostic>& all() const { return items_; }
  bool empty() const { return items_.empty(); }

 private:
  std::vector<Diagnostic> items_;
};

// `path:line:col: error: message\n<source line>\n<spaces>^\n` for one diagnostic.
std::string render(const Diagnostic& d, const SourceFile& file);
// All diagnostics in order, each rendered as above.
std::string render(const DiagnosticList& list, const SourceFile& file);

// Thrown for broken internal invariants (a bug in attnjit, never a user error).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] void internal_error(const char* file, int line, const std::string& what);

}  // namespace attnjit

#define ATTNJIT_ASSERT(cond, what)                                  \
  do {                                                              \
    if (!(cond)) ::attnjit::internal_error(__FILE__, __LINE__, what); \
  } while (0)
