// `attnjit cache path|ls|verify|prune|clear`: look after the kernel caches on disk. The
// work is runtime/cache/cache_inventory.h; this file picks the directories, parses
// the flags and prints (text, or one JSON document with --json).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/support/diagnostics.h"
#include "runtime/cache/cache_inventory.h"
#include "runtime/cache/cache_locations.h"
#include "tools/attnjit/commands.h"
#include "tools/attnjit/session.h"

namespace attnjit::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // keys in the order written

const FlagSpec kAotDirFlag{"--aot-dir", true};
const FlagSpec kJsonFlag{"--json", false};
const FlagSpec kMaxSizeFlag{"--max-size", true};
const FlagSpec kOlderThanFlag{"--older-than", true};

// Far beyond any cache, and small enough that sizes and durations stay exact.
constexpr double kMaxSizeBytes = 9.0e18;
constexpr double kMaxDays = 100000;

struct Directory {
  fs::path path;
  CacheOrigin origin;
  std::string source;  // what named it: "--cache-dir", "$ATTNJIT_AOT_DIR", ...
};

// The JIT cache first, then the AOT directories: --aot-dir in command-line order, then
// $ATTNJIT_AOT_DIR. A directory named twice is listed once.
std::vector<Directory> directories(const Args& args) {
  std::vector<Directory> dirs;
  auto add = [&](const fs::path& path, CacheOrigin origin, const std::string& source) {
    for (const Directory& d : dirs)
      if (d.path.lexically_normal() == path.lexically_normal()) return;
    dirs.push_back({path, origin, source});
  };
  if (std::optional<std::string> dir = args.value(kCacheDirFlag.name)) {
    if (dir->empty()) throw UsageError("--cache-dir: empty directory name");
    add(*dir, CacheOrigin::jit, kCacheDirFlag.name);
  } else {
    const CacheLocation location = default_cache_location();
    add(location.path, CacheOrigin::jit, location.source);
  }
  for (const std::string& dir : args.values(kAotDirFlag.name)) {
    if (dir.empty()) throw UsageError("--aot-dir: empty directory name");
    add(dir, CacheOrigin::aot, kAotDirFlag.name);
  }
  for (const fs::path& dir : aot_directories_from_env())
    add(dir, CacheOrigin::aot, "$ATTNJIT_AOT_DIR");
  return dirs;
}

bool is_present(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// A number with an optional fraction: digits, at most one '.', nothing else.
std::optional<double> parse_decimal(std::string_view text) {
  if (text.empty() || std::count(text.begin(), text.end(), '.') > 1 ||
      !std::all_of(text.begin(), text.end(),
                   [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))
    return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

// "500M", "2G", "1.5GiB", "1048576": bytes; K, M, G, T are powers of 1024.
uint64_t parse_size(const std::string& text) {
  size_t unit_at = 0;
  while (unit_at < text.size() && ((text[unit_at] >= '0' && text[unit_at] <= '9') ||
                                   text[unit_at] == '.'))
    ++unit_at;
  std::string unit = text.substr(unit_at);
  for (char& c : unit) c = char(std::tolower(static_cast<unsigned char>(c)));
  const std::vector<std::pair<std::vector<std::string>, double>> units = {
      {{"", "b"}, 1},
      {{"k", "kb", "kib"}, 1024.0},
      {{"m", "mb", "mib"}, 1024.0 * 1024},
      {{"g", "gb", "gib"}, 1024.0 * 1024 * 1024},
      {{"t", "tb", "tib"}, 1024.0 * 1024 * 1024 * 1024}};
  std::optional<double> number = parse_decimal(std::string_view(text).substr(0, unit_at));
  for (const auto& [spellings, scale] : units) {
    if (std::find(spellings.begin(), spellings.end(), unit) == spellings.end()) continue;
    if (!number) break;
    const double bytes = std::floor(*number * scale);
    if (bytes > kMaxSizeBytes) break;
    return uint64_t(bytes);
  }
  throw UsageError(fmt::format("--max-size: '{}' is not a size (bytes, or a number with K, M, "
                               "G or T for powers of 1024, e.g. 500M)",
                               printable(text, 100)));
}

CacheClock::duration parse_days(const std::string& text) {
  std::optional<double> days = parse_decimal(text);
  if (!days || *days > kMaxDays)
    throw UsageError(fmt::format("--older-than: '{}' is not a number of days from 0 to {}",
                                 printable(text, 100), kMaxDays));
  return std::chrono::duration_cast<CacheClock::duration>(
      std::chrono::duration<double>(*days * 86400.0));
}

std::string size_text(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = double(bytes) / 1024;
  size_t unit = 0;
  for (; value >= 1024 && unit + 1 < std::size(units); ++unit) value /= 1024;
  return fmt::format("{:.1f} {}", value, units[unit]);
}

// "45s", "12m", "3h", "5d": the largest whole unit.
std::string age_text(CacheClock::duration age) {
  const long long s = std::max<long long>(
      0, std::chrono::duration_cast<std::chrono::seconds>(age).count());
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::string utc_text(CacheClock::time_point t) {
  const std::time_t seconds = CacheClock::to_time_t(t);
  std::tm tm{};
  char text[32] = "";
  if (gmtime_r(&seconds, &tm)) std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

long long seconds_since(CacheClock::time_point t, CacheClock::time_point now) {
  return std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(now - t).count());
}

// File names and keys come from the disk: escaped for the terminal.
std::string shown(const fs::path& path) { return printable(path.string()); }
std::string shown(const std::string& text) { return printable(text); }

// One JSON document on stdout. Text from the disk need not be UTF-8: invalid bytes
// become U+FFFD rather than making the document unprintable.
void print_json(const json& document) {
  std::puts(document.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

json directory_json(const Directory& dir, bool present) {
  return {{"path", dir.path.string()},
          {"origin", cache_origin_name(dir.origin)},
          {"source", dir.source},
          {"exists", present}};
}

json entry_json(const InventoryEntry& e, CacheClock::time_point now) {
  return {{"key", e.key},
          {"key_from_file_name", e.key_from_file_name},
          {"kind", e.kind},
          {"target", e.target},
          {"format", e.format},
          {"symbol", e.symbol},
          {"compiler_version", e.compiler_version},
          {"size", e.size},
          {"written", utc_text(e.written)},
          {"last_used", utc_text(e.last_used)},
          {"age_seconds", seconds_since(e.last_used, now)},
          {"origin", cache_origin_name(e.origin)},
          {"path", e.path.string()},
          {"status", entry_status_name(e.status)},
          {"problem", e.problem}};
}

// ---- path --------------------------------------------------------------------------

int run_path(const Args& args, const std::vector<Directory>& dirs) {
  if (args.has(kJsonFlag.name)) {
    json aot = json::array();
    for (const Directory& d : dirs)
      if (d.origin == CacheOrigin::aot) aot.push_back(directory_json(d, is_present(d.path)));
    print_json({{"jit", directory_json(dirs.front(), is_present(dirs.front().path))},
                {"aot", aot}});
    return 0;
  }
  for (const Directory& d : dirs)
    std::printf("%s  %s  (%s%s)\n", cache_origin_name(d.origin), shown(d.path).c_str(),
                d.source.c_str(), is_present(d.path) ? "" : "; does not exist");
  return 0;
}

// ---- ls and verify -----------------------------------------------------------------

struct Listing {
  std::vector<std::pair<Directory, CacheInventory>> read;
  std::vector<std::string> errors;  // directories that could not be read
};

// Every directory's inventory. A JIT cache that does not exist yet is empty; an AOT
// directory that does not exist is a mistake in the deployment, reported as an error.
Listing read_all(const std::vector<Directory>& dirs) {
  Listing listing;
  for (const Directory& d : dirs) {
    auto inventory = read_cache_inventory(d.path, d.origin);
    if (!inventory) {
      listing.errors.push_back(inventory.error());
      continue;
    }
    if (!inventory->exists && d.origin == CacheOrigin::aot)
      listing.errors.push_back(
          fmt::format("AOT directory {} (from {}) does not exist", d.path.string(), d.source));
    listing.read.emplace_back(d, std::move(*inventory));
  }
  return listing;
}

json listing_json(const Listing& listing, CacheClock::time_point now) {
  json dirs = json::array(), entries = json::array();
  for (const auto& [dir, inventory] : listing.read) {
    json d = directory_json(dir, inventory.exists);
    d["entries"] = inventory.entries.size();
    d["bytes"] = inventory.entry_bytes();
    for (EntryStatus s : {EntryStatus::ok, EntryStatus::stale, EntryStatus::corrupt})
      d[entry_status_name(s)] = inventory.count(s);
    for (SideFileKind k : {SideFileKind::lock, SideFileKind::temp, SideFileKind::other})
      d[std::string(side_file_kind_name(k)) + "_files"] = inventory.count(k);
    dirs.push_back(std::move(d));
    for (const InventoryEntry& e : inventory.entries) entries.push_back(entry_json(e, now));
  }
  return {{"directories", dirs}, {"entries", entries}, {"errors", listing.errors}};
}

// "1 entry", "2 entries"; "1 lock file", "2 lock files".
std::string plural(size_t n, const char* word) {
  const std::string_view w = word;
  if (n == 1) return fmt::format("1 {}", w);
  if (w.size() > 1 && w.back() == 'y') return fmt::format("{} {}ies", n, w.substr(0, w.size() - 1));
  return fmt::format("{} {}s", n, w);
}

void print_summary(const Directory& dir, const CacheInventory& inventory) {
  if (!inventory.exists) {
    std::printf("%s %s: does not exist\n", cache_origin_name(dir.origin), shown(dir.path).c_str());
    return;
  }
  std::printf("%s %s: %s (%zu ok, %zu stale, %zu corrupt), %s; %s, %s, %s\n",
              cache_origin_name(dir.origin), shown(dir.path).c_str(),
              plural(inventory.entries.size(), "entry").c_str(),
              inventory.count(EntryStatus::ok), inventory.count(EntryStatus::stale),
              inventory.count(EntryStatus::corrupt), size_text(inventory.entry_bytes()).c_str(),
              plural(inventory.count(SideFileKind::lock), "lock file").c_str(),
              plural(inventory.count(SideFileKind::temp), "temp file").c_str(),
              plural(inventory.count(SideFileKind::other), "other file").c_str());
}

void print_errors(const std::vector<std::string>& errors) {
  for (const std::string& e : errors)
    std::fprintf(stderr, "attnjit cache: error: %s\n", printable(e).c_str());
}

int run_ls(const Args& args, const std::vector<Directory>& dirs) {
  const CacheClock::time_point now = CacheClock::now();
  const Listing listing = read_all(dirs);
  if (args.has(kJsonFlag.name)) {
    print_json(listing_json(listing, now));
  } else {
    std::printf("%-8s %-12s %-7s %-6s %10s %5s %-4s %s\n", "STATUS", "KIND", "TARGET", "FORMAT",
                "SIZE", "AGE", "FROM", "KEY");
    for (const auto& [dir, inventory] : listing.read)
      for (const InventoryEntry& e : inventory.entries)
        std::printf("%-8s %-12s %-7s %-6s %10s %5s %-4s %s%s\n", entry_status_name(e.status),
                    e.kind.empty() ? "?" : e.kind.c_str(),
                    e.target.empty() ? "?" : shown(e.target).c_str(),
                    e.format.empty() ? "?" : e.format.c_str(), size_text(e.size).c_str(),
                    age_text(now - e.last_used).c_str(), cache_origin_name(e.origin),
                    shown(e.key).c_str(), e.key_from_file_name ? " (file name)" : "");
    for (const auto& [dir, inventory] : listing.read) print_summary(dir, inventory);
  }
  print_errors(listing.errors);
  return listing.errors.empty() ? 0 : 1;
}

int run_verify(const Args& args, const std::vector<Directory>& dirs) {
  const Listing listing = read_all(dirs);
  size_t checked = 0, bad = 0;
  for (const auto& [dir, inventory] : listing.read) {
    checked += inventory.entries.size();
    bad += inventory.entries.size() - inventory.count(EntryStatus::ok);
  }
  const bool ok = bad == 0 && listing.errors.empty();
  if (args.has(kJsonFlag.name)) {
    json document = listing_json(listing, CacheClock::now());
    document["ok"] = ok;
    document["checked"] = checked;
    document["bad"] = bad;
    print_json(document);
  } else {
    for (const auto& [dir, inventory] : listing.read)
      for (const InventoryEntry& e : inventory.entries)
        if (e.status != EntryStatus::ok)
          std::printf("%s  %s: %s\n", entry_status_name(e.status), shown(e.path).c_str(),
                      shown(e.problem).c_str());
    for (const auto& [dir, inventory] : listing.read) print_summary(dir, inventory);
    std::printf("%s: %zu of %s bad\n", ok ? "ok" : "FAILED", bad, plural(checked, "entry").c_str());
  }
  print_errors(listing.errors);
  return ok ? 0 : 1;
}

// ---- prune and clear ---------------------------------------------------------------

int run_prune(const Args& args, const Directory& jit, const PruneOptions& options,
              const char* verb) {
  auto report = prune_cache(jit.path, options);
  if (!report) throw CommandError(report.error());
  if (args.has(kJsonFlag.name)) {
    json removed = json::array();
    for (const PrunedFile& f : report->removed)
      removed.push_back({{"path", f.path.string()}, {"key", f.key}, {"what", f.what},
                         {"reason", f.reason}, {"size", f.size}});
    print_json({{"directory", directory_json(jit, is_present(jit.path))},
                {"removed", removed},
                {"errors", report->errors},
                {"entries_before", report->entries_before},
                {"entries_after", report->entries_after},
                {"bytes_before", report->bytes_before},
                {"bytes_after", report->bytes_after}});
  } else {
    for (const PrunedFile& f : report->removed)
      std::printf("removed %s %s (%s)\n", f.what.c_str(),
                  f.key.empty() ? shown(f.path).c_str() : shown(f.key).c_str(),
                  shown(f.reason).c_str());
    const size_t entries = report->entries_before - report->entries_after;
    std::printf("%s %s: removed %s (%s) and %s; %s (%s) left\n", verb, shown(jit.path).c_str(),
                plural(entries, "entry").c_str(),
                size_text(report->bytes_before - report->bytes_after).c_str(),
                plural(report->removed.size() - entries, "lock or temp file").c_str(),
                plural(report->entries_after, "entry").c_str(),
                size_text(report->bytes_after).c_str());
  }
  print_errors(report->errors);
  return report->errors.empty() ? 0 : 1;
}

int run_cache(const Args& args) {
  if (args.positional().empty())
    throw UsageError("missing subcommand: path, ls, verify, prune or clear");
  if (args.positional().size() > 1)
    throw UsageError(fmt::format("unexpected argument '{}'", printable(args.positional()[1], 100)));
  const std::string& sub = args.positional().front();
  const bool prune = sub == "prune";
  for (const FlagSpec& flag : {kMaxSizeFlag, kOlderThanFlag})
    if (!prune && args.has(flag.name))
      throw UsageError(fmt::format("{} is an option of 'cache prune'", flag.name));
  if ((prune || sub == "clear") && args.has(kAotDirFlag.name))
    throw UsageError(fmt::format("--aot-dir: '{}' never changes AOT directories", sub));
  const std::vector<Directory> dirs = directories(args);

  if (sub == "path") return run_path(args, dirs);
  if (sub == "ls") return run_ls(args, dirs);
  if (sub == "verify") return run_verify(args, dirs);
  PruneOptions options;
  if (prune) {
    if (std::optional<std::string> size = args.value(kMaxSizeFlag.name))
      options.max_bytes = parse_size(*size);
    if (std::optional<std::string> days = args.value(kOlderThanFlag.name))
      options.older_than = parse_days(*days);
    return run_prune(args, dirs.front(), options, "pruned");
  }
  if (sub == "clear") {
    options.remove_all = true;
    return run_prune(args, dirs.front(), options, "cleared");
  }
  throw UsageError(fmt::format("unknown subcommand '{}' (known: path, ls, verify, prune, clear)",
                               printable(sub, 100)));
}

}  // namespace

const Command& cache_command() {
  // The grace period for temp and lock files is the library's default.
  static const std::string usage = fmt::format(
      "usage: attnjit cache path   [--cache-dir DIR] [--aot-dir DIR]... [--json]\n"
      "       attnjit cache ls     [--cache-dir DIR] [--aot-dir DIR]... [--json]\n"
      "       attnjit cache verify [--cache-dir DIR] [--aot-dir DIR]... [--json]\n"
      "       attnjit cache prune  [--max-size SIZE] [--older-than DAYS] [--cache-dir DIR]\n"
      "                            [--json]\n"
      "       attnjit cache clear  [--cache-dir DIR] [--json]\n"
      "\n"
      "The JIT cache is where compiled kernels are kept: --cache-dir, else\n"
      "$ATTNJIT_CACHE_DIR, else $XDG_CACHE_HOME/attnjit or ~/.cache/attnjit. AOT\n"
      "directories hold kernels built ahead of time: each --aot-dir, then the\n"
      "colon-separated $ATTNJIT_AOT_DIR. AOT directories are read, never changed.\n"
      "\n"
      "  path     print the JIT cache and AOT directories and what named each\n"
      "  ls       list every entry: status, kind, target, format, size, age (time since\n"
      "           it was last written or loaded), where it is from (jit or aot) and its\n"
      "           key; an entry that does not decode shows its file name as key. Status:\n"
      "           ok, stale (an older entry format: rebuilt on use) or corrupt\n"
      "  verify   check every entry as a lookup does (checksum, format, key, the binary's\n"
      "           ELF or PTX target and symbol) and name each one that fails; exit 1\n"
      "           when any is stale or corrupt or an AOT directory does not exist\n"
      "  prune    remove from the JIT cache: stale and corrupt entries, entries unused for\n"
      "           more than --older-than DAYS (fractions allowed), least recently used\n"
      "           entries until the rest fit in --max-size SIZE (bytes, or with K, M, G,\n"
      "           T for powers of 1024: 500M), temp files of writes abandoned over {0}\n"
      "           minutes ago, and lock files over {0} minutes old that no process holds\n"
      "  clear    remove every entry of the JIT cache (and old temp and lock files, as\n"
      "           prune does)\n"
      "  --json   print one JSON document instead of text\n"
      "\n"
      "Exit status: 0 done; 1 a stale or corrupt entry (verify), an AOT directory that\n"
      "does not exist, a directory that cannot be read or a file that cannot be\n"
      "removed; 2 bad command line.\n",
      std::chrono::duration_cast<std::chrono::minutes>(PruneOptions{}.side_file_grace).count());
  static const Command command{
      "cache",
      "list, verify, prune or clear the kernel caches on disk",
      usage.c_str(),
      {kCacheDirFlag, kAotDirFlag, kJsonFlag, kMaxSizeFlag, kOlderThanFlag},
      run_cache,
  };
  return command;
}

}  // namespace attnjit::cli
