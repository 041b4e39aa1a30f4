#include "tools/attnjit/args.h"

#include <charconv>

namespace attnjit::cli {

namespace {

const FlagSpec* find_flag(const std::vector<FlagSpec>& known, std::string_view name) {
  for (const FlagSpec& f : known)
    if (name == f.name) return &f;
  return nullptr;
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

}  // namespace

Args Args::parse(const std::vector<std::string>& argv, const std::vector<FlagSpec>& known) {
  Args args;
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    // "-" alone is an ordinary argument by convention (stdin), as is anything after "--".
    if (flags_done || word.size() < 2 || word[0] != '-') {
      args.positional_.push_back(word);
      continue;
    }
    if (word == "--") {
      flags_done = true;
      continue;
    }
    if (word == "-h" || word == "--help") {
      args.help_ = true;
      continue;
    }
    size_t eq = word.find('=');
    std::string name = word.substr(0, eq);
    const FlagSpec* flag = find_flag(known, name);
    if (!flag) throw UsageError("unknown option " + quoted(name));
    if (!flag->takes_value) {
      if (eq != std::string::npos) throw UsageError("option " + quoted(name) + " takes no value");
      args.values_.emplace_back(name, "");
      continue;
    }
    if (eq != std::string::npos) {
      args.values_.emplace_back(name, word.substr(eq + 1));
    } else if (i + 1 < argv.size()) {
      args.values_.emplace_back(name, argv[++i]);
    } else {
      throw UsageError("option " + quoted(name) + " needs a value");
    }
  }
  return args;
}

bool Args::has(std::string_view flag) const { return value(flag).has_value(); }

std::optional<std::string> Args::value(std::string_view flag) const {
  for (auto it = values_.rbegin(); it != values_.rend(); ++it)
    if (it->first == flag) return it->second;
  return std::nullopt;
}

std::vector<std::string> Args::values(std::string_view flag) const {
  std::vector<std::string> out;
  for (const auto& [name, value] : values_)
    if (name == flag) out.push_back(value);
  return out;
}

std::string Args::value_or(std::string_view flag, const std::string& fallback) const {
  return value(flag).value_or(fallback);
}

const std::string& Args::single_positional(const char* what) const {
  if (positional_.empty()) throw UsageError(std::string("missing ") + what);
  if (positional_.size() > 1)
    throw UsageError("unexpected argument " + quoted(positional_[1]) + " (only one " + what +
                     " is taken)");
  return positional_[0];
}

int Args::int_value(std::string_view flag, int fallback, int minimum) const {
  std::optional<std::string> text = value(flag);
  return text ? parse_int(*text, flag, minimum) : fallback;
}

uint64_t Args::u64_value(std::string_view flag, uint64_t fallback) const {
  std::optional<std::string> text = value(flag);
  if (!text) return fallback;
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), out);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size())
    throw UsageError(std::string(flag) + ": expected a non-negative integer, got " + quoted(*text));
  return out;
}

std::vector<int> Args::int_list(std::string_view flag, int minimum) const {
  std::vector<int> out;
  std::optional<std::string> text = value(flag);
  if (!text) return out;
  for (const std::string& item : split_list(*text, flag)) out.push_back(parse_int(item, flag, minimum));
  return out;
}

int parse_int(std::string_view text, std::string_view what, int minimum) {
  int out = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size())
    throw UsageError(std::string(what) + ": expected an integer, got " + quoted(text));
  if (ec == std::errc::result_out_of_range)
    throw UsageError(std::string(what) + ": " + quoted(text) + " is out of range");
  if (out < minimum)
    throw UsageError(std::string(what) + ": must be at least " + std::to_string(minimum) +
                     ", got " + std::to_string(out));
  return out;
}

std::vector<std::string> split_list(std::string_view text, std::string_view what) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (item.empty())
      throw UsageError(std::string(what) + ": empty item in list " + quoted(text));
    out.emplace_back(item);
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

}  // namespace attnjit::cli
