#include "compiler/backend/artifact.h"

namespace attnjit {

const char* binary_format_name(BinaryFormat f) {
  switch (f) {
    case BinaryFormat::cubin: return "cubin";
    case BinaryFormat::ptx: return "ptx";
    case BinaryFormat::hsaco: return "hsaco";
  }
  return "unknown";
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
