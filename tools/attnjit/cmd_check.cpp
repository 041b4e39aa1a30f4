// `attnjit check FILE`: parse and verify a variant file, the quick loop while
// writing one. Every diagnostic of every stage is printed at once.
#include <cstdio>

#include "tools/attnjit/commands.h"
#include "tools/attnjit/session.h"

namespace attnjit::cli {

namespace {

int run_check(const Args& args) {
  const std::string& path = args.single_positional("FILE");
  ir::Module module = load_module(path);  // prints diagnostics and throws on errors
  std::printf("ok: %zu variant%s\n", module.variants.size(), module.variants.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace

const Command& check_command() {
  static const Command command{
      "check",
      "parse and verify a variant file; print diagnostics",
      "usage: attnjit check FILE\n"
      "\n"
      "Parses FILE, lowers and verifies every variant in it. Prints 'ok: N variants'\n"
      "and exits 0, or prints every diagnostic as FILE:LINE:COL: error: ... with the\n"
      "source line and a caret to stderr and exits 1 (also for a file without any\n"
      "variant). FILE is a regular file of at most 2 MiB, or - for standard input.\n",
      {},
      run_check,
  };
  return command;
}

}  // namespace attnjit::cli
