// index.json: reading, checking and writing (the format is in docs/aot.md).
#include "runtime/cache/aot_index.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/support/diagnostics.h"
#include "compiler/support/json_nesting.h"

namespace attnjit {
namespace {

using ordered_json = nlohmann::ordered_json;

// An index is flat: the document, its entries, an entry's options.
constexpr int kMaxIndexDepth = 4;
// Longest text quoted from a bad index in a message.
constexpr size_t kMaxShown = 80;

const BinaryFormat kFormats[] = {BinaryFormat::cubin, BinaryFormat::ptx, BinaryFormat::hsaco};

bool parse_format(std::string_view name, BinaryFormat* out) {
  for (BinaryFormat f : kFormats)
    if (name == binary_format_name(f)) return *out = f, true;
  return false;
}

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Field-by-field reading of one entry object; the first problem is kept.
class EntryReader {
 public:
  EntryReader(const ordered_json& object, size_t index) : object_(object), index_(index) {}

  std::string text(const char* field) {
    const ordered_json* value = find(field);
    if (!value) return "";
    if (!value->is_string()) return problem(field, "must be a string"), "";
    return value->get<std::string>();
  }
  long long integer(const char* field, long long max) {
    const ordered_json* value = find(field);
    if (!value) return 0;
    if (!value->is_number_integer() || value->get<long long>() < 0 || value->get<long long>() > max)
      return problem(field, fmt::format("must be a whole number from 0 to {}", max)), 0;
    return value->get<long long>();
  }
  std::vector<std::string> texts(const char* field) {
    const ordered_json* value = find(field);
    std::vector<std::string> out;
    if (!value) return out;
    if (!value->is_array()) return problem(field, "must be an array of strings"), out;
    for (const ordered_json& item : *value) {
      if (!item.is_string()) return problem(field, "must be an array of strings"), out;
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  void problem(const char* field, const std::string& what) {
    if (error_.empty()) error_ = fmt::format("entry {}: \"{}\" {}", index_, field, what);
  }
  const std::string& error() const { return error_; }

 private:
  const ordered_json* find(const char* field) {
    auto it = object_.find(field);
    if (it == object_.end()) {
      problem(field, "is missing");
      return nullptr;
    }
    return &*it;
  }
  const ordered_json& object_;
  size_t index_;
  std::string error_;
};

Result<AotIndexEntry, std::string> decode_entry(const ordered_json& object, size_t index) {
  if (!object.is_object()) return fail(fmt::format("entry {} is not an object", index));
  EntryReader read(object, index);
  AotIndexEntry e;
  e.key = read.text("key");
  e.name = read.text("name");
  e.variant = read.text("variant");
  e.kind = read.text("kind");
  e.target = read.text("target");
  const std::string format = read.text("format");
  e.file = read.text("file");
  e.size = static_cast<uint64_t>(read.integer("size", std::numeric_limits<int64_t>::max()));
  e.sha256 = read.text("sha256");
  e.symbol = read.text("symbol");
  e.threads = static_cast<int>(read.integer("threads", 1024));
  e.shared_bytes = read.integer("shared_bytes", std::numeric_limits<int32_t>::max());
  e.compiler = read.text("compiler");
  e.compiler_version = read.text("compiler_version");
  e.options = read.texts("options");
  e.log = read.text("log");
  if (!read.error().empty()) return fail(read.error());

  auto bad = [&](const char* field, const std::string& what) {
    return fail(fmt::format("entry {} ({}): \"{}\" {}", index, printable(e.key, kMaxShown), field,
                            what));
  };
  if (e.key.empty()) return bad("key", "is empty");
  if (e.symbol.empty()) return bad("symbol", "is empty");
  if (!find_target(e.target))
    return bad("target", fmt::format("names no target: '{}' (known: {})",
                                     printable(e.target, kMaxShown), target_names()));
  if (!parse_format(format, &e.format))
    return bad("format", fmt::format("is not cubin, ptx or hsaco: '{}'", printable(format, kMaxShown)));
  if (!find_target(e.target)->binary(e.format))
    return bad("format", fmt::format("{} is not a binary of {}", format, e.target));
  if (e.sha256.size() != 64 || !is_lower_hex(e.sha256))
    return bad("sha256", "is not 64 lowercase hex digits");
  // The name follows from the content, so a file name can never point outside the
  // directory or at another kernel's binary.
  if (e.file != aot_binary_file_name(e.sha256, e.format))
    return bad("file", fmt::format("is '{}', not '{}' as its sha256 and format give",
                                   printable(e.file, kMaxShown),
                                   aot_binary_file_name(e.sha256, e.format)));
  return e;
}

// Compact JSON; bytes that are not UTF-8 (never in what attnjit writes, but a log is
// the compiler's text) become U+FFFD instead of an exception.
std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

ordered_json encode_entry(const AotIndexEntry& e) {
  ordered_json j;
  j["key"] = e.key;
  j["name"] = e.name;
  j["variant"] = e.variant;
  j["kind"] = e.kind;
  j["target"] = e.target;
  j["format"] = binary_format_name(e.format);
  j["file"] = e.file;
  j["size"] = e.size;
  j["sha256"] = e.sha256;
  j["symbol"] = e.symbol;
  j["threads"] = e.threads;
  j["shared_bytes"] = e.shared_bytes;
  j["compiler"] = e.compiler;
  j["compiler_version"] = e.compiler_version;
  j["options"] = e.options;
  j["log"] = e.log;
  return j;
}

}  // namespace

std::string aot_binary_file_name(std::string_view sha256_hex, BinaryFormat format) {
  return fmt::format("{}.{}", sha256_hex, binary_format_name(format));
}

bool is_aot_binary_file_name(std::string_view name) {
  if (name.size() <= 65 || name[64] != '.' || !is_lower_hex(name.substr(0, 64))) return false;
  BinaryFormat format;
  return parse_format(name.substr(65), &format);
}

Result<AotIndex, std::string> normalized_aot_index(AotIndex index) {
  std::stable_sort(index.entries.begin(), index.entries.end(),
                   [](const AotIndexEntry& a, const AotIndexEntry& b) { return a.key < b.key; });
  std::vector<AotIndexEntry> unique;
  for (AotIndexEntry& e : index.entries) {
    if (!unique.empty() && unique.back().key == e.key) {
      if (unique.back() == e) continue;
      return fail(fmt::format("two different kernels for key {}: {} and {}", e.key,
                              unique.back().file, e.file));
    }
    unique.push_back(std::move(e));
  }
  index.entries = std::move(unique);
  return index;
}

std::string encode_aot_index(const AotIndex& index) {
  // One entry per line, so two indexes diff entry by entry.
  std::string out = "{\n";
  out += fmt::format("  \"format\": {},\n", dump(kAotIndexFormat));
  out += fmt::format("  \"attnjit_version\": {},\n", dump(index.attnjit_version));
  out += "  \"entries\": [";
  for (size_t i = 0; i < index.entries.size(); ++i)
    out += (i ? ",\n    " : "\n    ") + dump(encode_entry(index.entries[i]));
  out += index.entries.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

Result<AotIndex, std::string> decode_aot_index(std::string_view text) {
  if (std::string where = json_too_deep_at(text, kMaxIndexDepth); !where.empty())
    return fail(fmt::format("invalid index: nested deeper than an index is, at {}", where));
  const ordered_json doc = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail(std::string("invalid index: not JSON"));
  if (!doc.is_object()) return fail(std::string("invalid index: not a JSON object"));
  auto format = doc.find("format");
  if (format == doc.end() || !format->is_string() || *format != kAotIndexFormat)
    return fail(fmt::format("not an attnjit AOT index of format {} (\"format\" is {})",
                            kAotIndexFormat,
                            format == doc.end() ? "missing"
                                                : printable(dump(*format), kMaxShown)));
  AotIndex index;
  auto version = doc.find("attnjit_version");
  if (version == doc.end() || !version->is_string())
    return fail(std::string("invalid index: \"attnjit_version\" must be a string"));
  index.attnjit_version = version->get<std::string>();
  auto entries = doc.find("entries");
  if (entries == doc.end() || !entries->is_array())
    return fail(std::string("invalid index: \"entries\" must be an array"));
  for (size_t i = 0; i < entries->size(); ++i) {
    auto entry = decode_entry((*entries)[i], i);
    if (!entry) return fail("invalid index: " + entry.error());
    if (!index.entries.empty() && !(index.entries.back().key < entry->key))
      return fail(fmt::format("invalid index: entry {} ({}) is out of key order or repeats a key",
                              i, printable(entry->key, kMaxShown)));
    index.entries.push_back(std::move(*entry));
  }
  return index;
}

}  // namespace attnjit
