#pragma once
// What a backend produces and what the cache stores: a binary and how to enter it.
#include <string>
#include <vector>

namespace attnjit {

enum class BinaryFormat { cubin, ptx, hsaco };
const char* binary_format_name(BinaryFormat f);

struct Artifact {
  BinaryFormat format = BinaryFormat::cubin;
  std::string entry;    // kernel symbol to look up after loading
  std::string binary;   // raw bytes (PTX is text, NUL-terminated on load)
  std::string log;      // compiler messages (warnings) of a successful compile
};

// A failed compile, as a value: everything needed to reproduce it by hand.
struct CompileError {
  std::string message;               // one line: what failed
  std::string log;                   // the compiler's log
  std::vector<std::string> options;  // the exact options passed
  std::string source_path;           // where the generated source was saved ("" if not)
  std::string describe() const;      // all of the above, for printing
};

}  // namespace attnjit
