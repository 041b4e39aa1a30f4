#pragma once
// The attnjit tool's commands. Each lives in its own cmd_*.cpp and is described by a
// Command value; main.cpp only dispatches and turns errors into exit statuses:
//   0 success, 1 the work failed (bad variant file, compile error, wrong result),
//   2 the command line was wrong (unknown flag, missing value, bad number).
#include <stdexcept>
#include <vector>

#include "tools/attnjit/args.h"

namespace attnjit::cli {

// The work failed for a reason already explained in the message; exit status 1.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Command {
  const char* name;
  const char* summary;  // one line for `attnjit --help`
  const char* usage;    // the full text for `attnjit NAME --help`
  std::vector<FlagSpec> flags;
  int (*run)(const Args& args);  // returns the exit status
};

const Command& defaults_command();
const Command& check_command();
const Command& emit_command();
const Command& compile_command();
const Command& run_command();
const Command& cache_command();
const Command& tune_command();
const Command& aot_command();

}  // namespace attnjit::cli
