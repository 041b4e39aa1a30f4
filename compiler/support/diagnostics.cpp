#include "compiler/support/diagnostics.h"

#include <sstream>

namespace attnjit {

void DiagnosticList::error(SourceLocation at, std::string message) {
  items_.push_back({Severity::error, at, std::move(message)});
}
void DiagnosticList::warning(SourceLocation at, std::string message) {
  items_.push_back({Severity::warning, at, std::move(message)});
}
void DiagnosticList::note(SourceLocation at, std::string message) {
  items_.push_back({Severity::note, at, std::move(message)});
}
void DiagnosticList::append(const DiagnosticList& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}
bool DiagnosticList::has_errors() const {
  for (const Diagnostic& d : items_)
    if (d.severity == Severity::error) return true;
  return false;
}

static const char* severity_name(Severity s) {
  switch (s) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::note: return "note";
  }
  return "error";
}

static std::string source_line(const std::string& text, int line) {
  int current = 1;
  size_t start = 0;
  while (current < line) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) return {};
    start = nl + 1;
    ++current;
  }
  size_t end = text.find('\n', start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string render(const Diagnostic& d, const SourceFile& file) {
  std::ostringstream out;
  out << file.path;
  if (d.location.known()) out << ':' << d.location.line << ':' << d.location.column;
  out << ": " << severity_name(d.severity) << ": " << d.message << '\n';
  if (!d.location.known()) return out.str();
  std::string line = source_line(file.text, d.location.line);
  out << line << '\n';
  // Keep tabs in the caret line so the caret lines up under tab-indented source.
  std::string pad;
  for (int i = 0; i + 1 < d.location.column && i < static_cast<int>(line.size()); ++i)
    pad += line[i] == '\t' ? '\t' : ' ';
  out << pad << "^\n";
  return out.str();
}

std::string render(const DiagnosticList& list, const SourceFile& file) {
  std::string out;
  for (const Diagnostic& d : list.all()) out += render(d, file);
  return out;
}

void internal_error(const char* file, int line, const std::string& what) {
  throw InternalError(std::string("attnjit internal error at ") + file + ":" +
                      std::to_string(line) + ": " + what);
}

}  // namespace attnjit
