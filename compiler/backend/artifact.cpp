#include "compiler/backend/artifact.h"

#include <string_view>

namespace attnjit {

// NVRTC writes each diagnostic as a paragraph: "name.cu(LINE): warning #N-D: text", the
// source line and a caret, then a blank line; after the first warning it adds a
// paragraph starting "Remark: The warnings can be suppressed ...", which is advice,
// not a diagnostic. Every other paragraph counts, including ones in a shape not seen
// before: a successful compile of generated source is expected to say nothing.
std::vector<std::string> Artifact::log_warnings(const std::string& log) {
  std::vector<std::string> warnings;
  std::string paragraph;
  auto finish = [&] {
    while (!paragraph.empty() && (paragraph.back() == '\n' || paragraph.back() == '\r'))
      paragraph.pop_back();
    if (!paragraph.empty() && paragraph.rfind("Remark:", 0) != 0) warnings.push_back(paragraph);
    paragraph.clear();
  };
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    std::string_view line(log.data() + start, end - start);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
      finish();
    } else {
      paragraph.append(line);
      paragraph += '\n';
    }
    start = end + 1;
  }
  finish();
  return warnings;
}

// Laid out so a user can copy the options and the source path into a command line
// and reproduce the failure by hand.
std::string CompileError::describe() const {
  std::string text = message + "\n";
  if (!options.empty()) {
    text += "options:\n";
    for (const std::string& option : options) text += "  " + option + "\n";
  }
  if (!source_path.empty()) text += "source: " + source_path + "\n";
  if (!log.empty()) {
    text += "log:\n" + log;
    if (log.back() != '\n') text += "\n";
  }
  return text;
}

}  // namespace attnjit
