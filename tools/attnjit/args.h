#pragma once
// Command-line parsing for the attnjit tool: each command declares the flags it
// knows, and anything else is a usage error (exit status 2) rather than being
// silently ignored.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace attnjit::cli {

// A mistake on the command line. main prints it with a hint to use --help and
// exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FlagSpec {
  const char* name;  // "--arch"
  bool takes_value;  // "--arch sm_90" / "--arch=sm_90"; false for switches ("--ptx")
};

class Args {
 public:
  // `argv` are the words after the command name. `-h` / `--help` anywhere asks for
  // help; `--` ends the flags. Throws UsageError for an unknown flag or a missing value.
  static Args parse(const std::vector<std::string>& argv, const std::vector<FlagSpec>& known);

  bool help() const { return help_; }
  bool has(std::string_view flag) const;
  // The flag's value (the last one when repeated), if given.
  std::optional<std::string> value(std::string_view flag) const;
  std::string value_or(std::string_view flag, const std::string& fallback) const;
  // Every value of a repeatable flag, in command-line order.
  std::vector<std::string> values(std::string_view flag) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // The command's one positional argument (e.g. "FILE"); UsageError when there is
  // none or more than one.
  const std::string& single_positional(const char* what) const;

  // Numbers, checked completely ("12x" and "" are errors) and against a minimum.
  int int_value(std::string_view flag, int fallback, int minimum) const;
  uint64_t u64_value(std::string_view flag, uint64_t fallback) const;
  // "5,17,300" -> {5, 17, 300}; each value >= minimum.
  std::vector<int> int_list(std::string_view flag, int minimum) const;

 private:
  bool help_ = false;
  std::vector<std::pair<std::string, std::string>> values_;  // flag, value ("" for switches)
  std::vector<std::string> positional_;
};

// Parses one integer for `what` (a flag name, for the message).
int parse_int(std::string_view text, std::string_view what, int minimum);
// Splits "a,b,c" at commas (no empty items).
std::vector<std::string> split_list(std::string_view text, std::string_view what);

}  // namespace attnjit::cli
