#include "compiler/support/diagnostics.h"

#include <algorithm>
#include <vector>

namespace attnjit {

// --- printable text --------------------------------------------------------------------

namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Unicode's explicit bidirectional embeddings, overrides and isolates: they reorder
// how the rest of a line is displayed, so a line could show something else than it is.
bool is_bidi_control(unsigned code_point) {
  return (code_point >= 0x202A && code_point <= 0x202E) ||
         (code_point >= 0x2066 && code_point <= 0x2069);
}

// One printed character: `text` is what is written for it, `cells` how many columns
// it takes (a tab counts one: a caret line copies it, so it lines up anyway).
struct Unit {
  size_t bytes = 1;  // input bytes it stands for
  std::string text;
  int cells = 1;
};

std::string hex_escape(char prefix, unsigned value, int digits) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = {'\\', prefix};
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
  return out;
}

// Length of the well-formed UTF-8 sequence at `pos` and its code point; 0 if the
// bytes there are not one (a stray continuation byte, an overlong form, a surrogate).
size_t utf8_sequence(std::string_view text, size_t pos, unsigned* code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned value = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, value = lead & 0x0F;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, value = lead & 0x07;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  if (byte(1) < second_min || byte(1) > second_max) return 0;
  for (size_t i = 1; i < length; ++i) {
    if (!is_continuation(byte(i))) return 0;
    value = (value << 6) | (byte(i) & 0x3F);
  }
  *code_point = value;
  return length;
}

Unit next_unit(std::string_view text, size_t pos, bool keep_tab) {
  const unsigned char c = static_cast<unsigned char>(text[pos]);
  if (c == '\t') return keep_tab ? Unit{1, "\t", 1} : Unit{1, "\\t", 2};
  if (c == '\n') return {1, "\\n", 2};
  if (c == '\r') return {1, "\\r", 2};
  if (c < 0x20 || c == 0x7F) return {1, hex_escape('x', c, 2), 4};
  if (c < 0x80) return {1, std::string(1, static_cast<char>(c)), 1};
  unsigned code_point = 0;
  const size_t length = utf8_sequence(text, pos, &code_point);
  if (length == 0 || code_point < 0xA0) return {1, hex_escape('x', c, 2), 4};  // C1 controls too
  if (is_bidi_control(code_point)) return {length, hex_escape('u', code_point, 4), 6};
  return {length, std::string(text.substr(pos, length)), 1};
}

}  // namespace

std::string printable(std::string_view text, size_t max_length) {
  std::string out;
  size_t pos = 0;
  // Characters written so far; `cut` remembers where "..." would go.
  size_t written = 0, cut_bytes = 0;
  const std::string_view ellipsis = "...";
  while (pos < text.size()) {
    Unit unit = next_unit(text, pos, false);
    const size_t characters = unit.cells;
    if (max_length != std::string_view::npos) {
      if (written + characters <= max_length - std::min(max_length, ellipsis.size()))
        cut_bytes = out.size() + unit.text.size();
      if (written + characters > max_length) {
        out.resize(std::min(out.size(), cut_bytes));
        return out + std::string(ellipsis.substr(0, std::min(max_length, ellipsis.size())));
      }
    }
    out += unit.text;
    written += characters;
    pos += unit.bytes;
  }
  return out;
}

std::string printable_lines(std::string_view text) {
  std::string out;
  size_t start = 0;
  for (;;) {
    const size_t newline = text.find('\n', start);
    out += printable(text.substr(start, newline == std::string_view::npos ? newline : newline - start));
    if (newline == std::string_view::npos) return out;
    out += '\n';
    start = newline + 1;
  }
}

// --- the list --------------------------------------------------------------------------

void DiagnosticList::error(SourceLocation at, std::string message) {
  add({Severity::error, at, std::move(message)});
}
void DiagnosticList::warning(SourceLocation at, std::string message) {
  add({Severity::warning, at, std::move(message)});
}
void DiagnosticList::note(SourceLocation at, std::string message) {
  add({Severity::note, at, std::move(message)});
}

void DiagnosticList::add(Diagnostic d) {
  if (d.severity == Severity::note) {
    if (!omitting_) items_.push_back(std::move(d));
    return;
  }
  omitting_ = kept_ >= kMaxKept;
  if (omitting_) {
    count_omitted(d.severity == Severity::error ? 1 : 0, d.severity == Severity::warning ? 1 : 0);
    return;
  }
  ++kept_;
  items_.push_back(std::move(d));
}

void DiagnosticList::append(const DiagnosticList& other) {
  for (const Diagnostic& d : other.items_) add(d);
  count_omitted(other.omitted_errors_, other.omitted_warnings_);
}

void DiagnosticList::count_omitted(size_t errors, size_t warnings) {
  omitted_errors_ += errors;
  omitted_warnings_ += warnings;
}

bool DiagnosticList::has_errors() const { return error_count() > 0; }

size_t DiagnosticList::error_count() const {
  size_t count = omitted_errors_;
  for (const Diagnostic& d : items_) count += d.severity == Severity::error;
  return count;
}

// --- rendering -------------------------------------------------------------------------

namespace {

// Long enough for any message attnjit writes itself; what is longer quotes long input.
constexpr size_t kMaxMessageLength = 400;
// Columns of a source line shown around the caret: a wide terminal line.
constexpr int kSourceWindow = 120;
// Rendered diagnostics of one list stop at about this size (a few screens), even when
// each of the kept ones is as long as it may be.
constexpr size_t kMaxRenderedBytes = 32 * 1024;

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::note: return "note";
  }
  return "error";
}

// The source line and the caret line under it, within kSourceWindow columns around
// the caret. Only bytes near the caret are looked at, so a line of megabytes costs
// no more than a short one.
std::string source_and_caret(std::string_view line, int column) {
  const size_t caret = std::min(static_cast<size_t>(column - 1), line.size());
  // Each shown character is at least one byte and at most four: this many bytes on
  // either side hold the whole window.
  const size_t reach = 4 * kSourceWindow;
  size_t lo = caret > reach ? caret - reach : 0;
  while (lo > 0 && lo < caret && is_continuation(static_cast<unsigned char>(line[lo]))) ++lo;
  const size_t hi = std::min(line.size(), caret + reach);

  std::vector<Unit> units;
  size_t caret_unit = 0;  // the unit holding the caret's byte (units.size(): line end)
  for (size_t pos = lo; pos < hi;) {
    if (pos <= caret) caret_unit = units.size();
    Unit unit = next_unit(line.substr(0, hi), pos, true);
    pos += unit.bytes;
    units.push_back(std::move(unit));
  }
  if (caret >= hi) caret_unit = units.size();

  // Grow the window from the caret: up to half of it to the left, then right, then
  // whatever is left over to the left again.
  size_t first = caret_unit, last = caret_unit;  // [first, last)
  int width = 0;
  if (last < units.size()) width += units[last++].cells;
  while (first > 0 && width + units[first - 1].cells <= kSourceWindow / 2) width += units[--first].cells;
  while (last < units.size() && width + units[last].cells <= kSourceWindow) width += units[last++].cells;
  while (first > 0 && width + units[first - 1].cells <= kSourceWindow) width += units[--first].cells;

  const bool cut_left = first > 0 || lo > 0;
  const bool cut_right = last < units.size() || hi < line.size();
  std::string shown = cut_left ? "..." : "";
  std::string pad = cut_left ? "   " : "";
  for (size_t i = first; i < last; ++i) {
    shown += units[i].text;
    if (i < caret_unit) pad += units[i].text == "\t" ? std::string("\t") : std::string(units[i].cells, ' ');
  }
  if (cut_right) shown += "...";
  return shown + "\n" + pad + "^\n";
}

std::string more_not_shown(size_t errors, size_t warnings) {
  auto count = [](size_t n, const char* what) {
    return std::to_string(n) + " more " + what + (n == 1 ? "" : "s");
  };
  if (warnings == 0) return count(errors, "error") + " not shown";
  if (errors == 0) return count(warnings, "warning") + " not shown";
  return count(errors, "error") + " and " + count(warnings, "warning") + " not shown";
}

}  // namespace

std::string render(const Diagnostic& d, const SourceFile& file) {
  std::string out = printable(file.path);
  if (d.location.known())
    out += ':' + std::to_string(d.location.line) + ':' + std::to_string(d.location.column);
  out += std::string(": ") + severity_name(d.severity) + ": " +
         printable(d.message, kMaxMessageLength) + '\n';
  if (!d.location.known()) return out;
  return out + source_and_caret(source_line(file.text, d.location.line), std::max(d.location.column, 1));
}

std::string render(const DiagnosticList& list, const SourceFile& file) {
  std::string out;
  size_t errors_left = list.omitted_errors(), warnings_left = list.omitted_warnings();
  bool stopped = false;
  for (const Diagnostic& d : list.all()) {
    // A note goes with the error before it, shown or not.
    if (!stopped && d.severity != Severity::note && out.size() >= kMaxRenderedBytes) stopped = true;
    if (stopped) {
      errors_left += d.severity == Severity::error;
      warnings_left += d.severity == Severity::warning;
      continue;
    }
    out += render(d, file);
  }
  if (errors_left + warnings_left > 0)
    out += printable(file.path) + ": note: " + more_not_shown(errors_left, warnings_left) + '\n';
  return out;
}

void internal_error(const char* file, int line, const std::string& what) {
  throw InternalError(std::string("attnjit internal error at ") + file + ":" +
                      std::to_string(line) + ": " + what);
}

}  // namespace attnjit
