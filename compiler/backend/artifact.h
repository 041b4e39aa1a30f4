#pragma once
// What a backend produces and what the cache stores: a binary and how to enter it.
#include <string>
#include <vector>

#include "compiler/target/target.h"

namespace attnjit {

struct Artifact {
  BinaryFormat format = BinaryFormat::cubin;
  std::string entry;    // kernel symbol to look up after loading
  std::string binary;   // raw bytes (PTX is text, NUL-terminated on load)
  std::string log;      // compiler messages of a successful compile (kept in cache entries)

  // The warnings in `log`, one entry per diagnostic with its continuation lines (the
  // offending source line and caret). Derived from the log rather than stored beside
  // it, so an entry served from the cache reports the same warnings as the compile
  // that wrote it. Generated source should compile without any: each is a bug.
  std::vector<std::string> warnings() const { return log_warnings(log); }
  static std::vector<std::string> log_warnings(const std::string& log);
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
