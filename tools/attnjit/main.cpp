// attnjit: the command-line face of the compiler. With no arguments it runs the
// default job (compile the default variant set, check it on the GPU when there is
// one); otherwise the first word names a command. main only dispatches and maps
// errors to exit statuses (see commands.h).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "compiler/support/diagnostics.h"
#include "tools/attnjit/commands.h"

namespace {

using attnjit::cli::Command;

std::vector<const Command*> all_commands() {
  using namespace attnjit::cli;
  return {&defaults_command(), &check_command(), &emit_command(), &compile_command(),
          &run_command(), &cache_command(), &tune_command(), &aot_command()};
}

void print_tool_help() {
  std::printf(
      "usage: attnjit [COMMAND] [OPTIONS]\n"
      "\n"
      "A JIT compiler for LLM attention kernels. Without a command, runs `defaults`.\n"
      "\n"
      "commands:\n");
  for (const Command* c : all_commands()) std::printf("  %-10s %s\n", c->name, c->summary);
  std::printf(
      "\n"
      "Run 'attnjit COMMAND --help' for the options of one command.\n"
      "Exit status: 0 success, 1 failure (bad variant, compile error, wrong result),\n"
      "2 bad command line.\n"
      "Kernels are cached in --cache-dir, else $ATTNJIT_CACHE_DIR, else\n"
      "$XDG_CACHE_HOME/attnjit or ~/.cache/attnjit.\n");
}

// An error's text quotes file names, flag values and file contents: escaped, so
// none of them can send control sequences to the terminal.
std::string shown(const char* what) { return attnjit::printable_lines(what); }

int run_command(const Command& command, const std::vector<std::string>& words) {
  using namespace attnjit::cli;
  try {
    Args args = Args::parse(words, command.flags);
    if (args.help()) {
      std::fputs(command.usage, stdout);
      return 0;
    }
    return command.run(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "attnjit %s: error: %s\nRun 'attnjit %s --help' for usage.\n",
                 command.name, shown(e.what()).c_str(), command.name);
    return 2;
  } catch (const CommandError& e) {
    std::fprintf(stderr, "attnjit %s: error: %s\n", command.name, shown(e.what()).c_str());
    return 1;
  } catch (const attnjit::InternalError& e) {
    std::fprintf(stderr, "attnjit %s: %s\n(this is a bug in attnjit; please report it)\n",
                 command.name, shown(e.what()).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnjit %s: error: %s\n", command.name, shown(e.what()).c_str());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty()) return run_command(attnjit::cli::defaults_command(), words);

  const std::string& first = words.front();
  if (first == "-h" || first == "--help" || first == "help") {
    print_tool_help();
    return 0;
  }
  if (first == "--version") {
    std::printf("attnjit %s\n", ATTNJIT_VERSION);
    return 0;
  }
  for (const Command* c : all_commands())
    if (first == c->name) return run_command(*c, {words.begin() + 1, words.end()});

  // Flags without a command go to the default job (`attnjit --arch sm_80`).
  if (first.rfind("-", 0) == 0) return run_command(attnjit::cli::defaults_command(), words);
  std::fprintf(stderr,
               "attnjit: error: unknown command '%s'\nRun 'attnjit --help' for the commands.\n",
               attnjit::printable(first, 100).c_str());
  return 2;
}
