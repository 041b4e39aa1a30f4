#pragma once
// User-facing errors in DSL text. A Diagnostic is a value: where, what. Rendering
// follows the compiler convention `path:line:col: error: message`, the source line,
// and a caret under the column. Internal invariants use ATTNJIT_ASSERT instead.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/support/source_location.h"

namespace attnjit {

// Text from input (file names, names and values quoted in messages, source lines),
// made safe to print on a terminal: control characters, bytes that are not UTF-8,
// C1 controls and bidirectional overrides are written as escapes (`\x1b`, `\t`,
// `\u202e`); everything else, valid UTF-8 included, is kept. Text that is already
// printable comes back unchanged, so escaping twice does no harm. Past `max_length`
// characters the text is cut (between characters) and ends in "...".
std::string printable(std::string_view text, size_t max_length = std::string_view::npos);
// printable() for text with several lines: each '\n' is kept, the rest escaped.
std::string printable_lines(std::string_view text);

enum class Severity { error, warning, note };

struct Diagnostic {
  Severity severity = Severity::error;
  SourceLocation location;
  std::string message;
};

// Collects every diagnostic of one pass so all of them are reported at once.
// Text that is not DSL at all (a pasted document, a binary file, thousands of
// repeated lines) would bury the terminal and fill memory: past kMaxKept errors and
// warnings, further ones are only counted (with the notes that belong to them).
class DiagnosticList {
 public:
  static constexpr size_t kMaxKept = 50;

  void error(SourceLocation at, std::string message);
  void warning(SourceLocation at, std::string message);
  void note(SourceLocation at, std::string message);
  void add(Diagnostic d);
  // Keeps other's diagnostics within this list's limit and counts the rest.
  void append(const DiagnosticList& other);
  // Counts errors and warnings that were reported elsewhere but not kept.
  void count_omitted(size_t errors, size_t warnings = 0);

  bool has_errors() const;
  // Errors reported, kept or not.
  size_t error_count() const;
  // Errors and warnings reported but not kept.
  size_t omitted_errors() const { return omitted_errors_; }
  size_t omitted_warnings() const { return omitted_warnings_; }
  const std::vector<Diagnostic>& all() const { return items_; }
  bool empty() const { return items_.empty() && omitted_errors_ + omitted_warnings_ == 0; }

 private:
  std::vector<Diagnostic> items_;
  size_t kept_ = 0;  // errors and warnings in items_
  size_t omitted_errors_ = 0;
  size_t omitted_warnings_ = 0;
  bool omitting_ = false;  // the last error or warning was not kept: nor are its notes
};

// `path:line:col: error: message\n<source line>\n<spaces>^\n` for one diagnostic.
// Input text is escaped with printable(); a long message is cut, and a long source
// line is shown as a window around the caret (with "..." where it was cut).
std::string render(const Diagnostic& d, const SourceFile& file);
// All diagnostics in order, each rendered as above, within a total size; ends with
// `path: note: N more errors not shown` when some were left out.
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
