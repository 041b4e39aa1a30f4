// Listing, checking and pruning a kernel cache directory. Every file is looked at with
// lstat first and entries are read with read_regular_file(), so listing a directory
// never follows a symlink, opens a device or blocks on a FIFO.
#include "runtime/cache/cache_inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "compiler/spec/kernel_spec.h"
#include "runtime/cache/aot_directory.h"
#include "runtime/cache/binary_target.h"
#include "runtime/cache/cache_entry.h"
#include "runtime/cache/cache_files.h"

namespace attnjit {
namespace fs = std::filesystem;

namespace {

// The suffixes kernel_cache.cpp gives entries and locks, and the infix of the temp
// files write_atomically() makes (`<stem>.tmp.<pid>.<hex>`).
constexpr std::string_view kEntrySuffix = ".entry";
constexpr std::string_view kLockSuffix = ".lock";
constexpr std::string_view kTempInfix = ".tmp.";

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() > suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool all_of(std::string_view text, bool (*pred)(char)) {
  return !text.empty() && std::all_of(text.begin(), text.end(), pred);
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

// `<stem>.tmp.<pid>.<hex>`: the last two dot-separated parts are a decimal pid and hex.
bool is_temp_name(std::string_view name) {
  const size_t infix = name.rfind(kTempInfix);
  if (infix == std::string_view::npos || infix == 0) return false;
  const std::string_view rest = name.substr(infix + kTempInfix.size());
  const size_t dot = rest.find('.');
  return dot != std::string_view::npos && all_of(rest.substr(0, dot), is_digit) &&
         all_of(rest.substr(dot + 1), is_hex);
}

CacheClock::time_point to_time_point(const struct timespec& ts) {
  return CacheClock::time_point(std::chrono::duration_cast<CacheClock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

// The kind a key names: a kernel URI starts with the kind (KernelSpec::uri()).
std::string kind_of(std::string_view key) {
  KernelKind kind;
  const std::string first(key.substr(0, key.find('.')));
  return parse_kernel_kind(first, &kind) ? first : "";
}

// The first dot-separated part of a file stem that spells a target ("sm_90a"), for
// entries that do not decode. The last part may carry the key's "-<hash>".
std::string target_in_name(std::string_view stem) {
  for (size_t at = 0; at < stem.size();) {
    size_t end = stem.find('.', at);
    if (end == std::string_view::npos) end = stem.size();
    std::string_view part = stem.substr(at, end - at);
    part = part.substr(0, part.find('-'));
    if (part.substr(0, 3) == "sm_") {
      std::string_view rest = part.substr(3);
      if (!rest.empty() && (rest.back() == 'a' || rest.back() == 'f'))
        rest.remove_suffix(1);
      if (all_of(rest, is_digit)) return std::string(part);
    }
    at = end + 1;
  }
  return "";
}

// What the file name tells about an entry that proves nothing itself.
void describe_by_name(InventoryEntry* e) {
  std::string name = e->path.filename().string();
  name.resize(name.size() - std::min(name.size(), kEntrySuffix.size()));
  e->key = name;
  e->key_from_file_name = true;
  e->kind = kind_of(name);
  e->target = target_in_name(name);
}

std::string errno_text(const char* what, const fs::path& path) {
  return fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(errno));
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

std::string days_text(CacheClock::duration d) {
  return fmt::format("{:.1f} days", std::chrono::duration<double>(d).count() / 86400.0);
}

std::string minutes_text(CacheClock::duration d) {
  return fmt::format("{} minutes",
                     std::chrono::duration_cast<std::chrono::minutes>(d).count());
}

// Unlinks `path` when it is still the file with `inode` and modification time
// `written`. False (with `error` set only for a real failure) when it was not removed.
bool remove_if_unchanged(const fs::path& path, uint64_t inode, CacheClock::time_point written,
                         std::string* error) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) *error = errno_text("stat", path);
    return false;  // gone already: someone else removed it
  }
  // Replaced since it was inspected (a compile renamed a new entry into place): the
  // decision was about the old file, so the new one stays.
  if (uint64_t(st.st_ino) != inode || to_time_point(st.st_mtim) != written) return false;
  if (::unlink(path.c_str()) != 0) {
    if (errno != ENOENT) *error = errno_text("remove", path);
    return false;
  }
  return true;
}

// Removes a lock file that no process holds: it is locked here first (never waiting)
// and unlinked while held, so a compile that holds it keeps it. A process that opened
// the file and has not locked it yet ends up locking the unlinked file: at worst it
// compiles at the same time as another, each writing a whole entry.
bool remove_idle_lock(const fs::path& path, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT && errno != ELOOP) *error = errno_text("open", path);
    return false;
  }
  struct stat st {};
  bool removed = false;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    removed = ::unlink(path.c_str()) == 0;
    if (!removed && errno != ENOENT) *error = errno_text("remove", path);
  }
  ::close(fd);  // releases the lock
  return removed;
}

}  // namespace

const char* cache_origin_name(CacheOrigin origin) {
  return origin == CacheOrigin::aot ? "aot" : "jit";
}

const char* entry_status_name(EntryStatus status) {
  switch (status) {
    case EntryStatus::ok: return "ok";
    case EntryStatus::stale: return "stale";
    case EntryStatus::corrupt: return "corrupt";
  }
  return "?";
}

const char* side_file_kind_name(SideFileKind kind) {
  switch (kind) {
    case SideFileKind::lock: return "lock";
    case SideFileKind::temp: return "temp";
    case SideFileKind::other: return "other";
  }
  return "?";
}

uint64_t CacheInventory::entry_bytes() const {
  uint64_t total = 0;
  for (const InventoryEntry& e : entries) total += e.size;
  return total;
}

size_t CacheInventory::count(EntryStatus status) const {
  return size_t(std::count_if(entries.begin(), entries.end(),
                              [&](const InventoryEntry& e) { return e.status == status; }));
}

size_t CacheInventory::count(SideFileKind kind) const {
  return size_t(std::count_if(side_files.begin(), side_files.end(),
                              [&](const SideFile& f) { return f.kind == kind; }));
}

InventoryEntry inspect_cache_entry(const fs::path& path, CacheOrigin origin) {
  InventoryEntry e;
  e.path = path;
  e.origin = origin;
  auto bad = [&](EntryStatus status, std::string problem) {
    e.status = status;
    e.problem = std::move(problem);
    describe_by_name(&e);
    return e;
  };
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return bad(EntryStatus::corrupt, errno_text("stat", path));
  e.size = uint64_t(st.st_size);
  e.inode = uint64_t(st.st_ino);
  e.written = to_time_point(st.st_mtim);
  e.last_used = std::max(e.written, to_time_point(st.st_atim));

  std::string bytes, why;
  switch (read_regular_file(path, kMaxCacheEntryBytes, &bytes, &why, /*keep_access_time=*/true)) {
    case FileRead::absent: return bad(EntryStatus::corrupt, "removed while being listed");
    case FileRead::refused: return bad(EntryStatus::corrupt, why);
    case FileRead::ok: break;
  }
  CacheEntry entry;
  switch (decode_cache_entry(bytes, &entry, &why)) {
    case EntryDecode::stale: return bad(EntryStatus::stale, why);
    case EntryDecode::invalid: return bad(EntryStatus::corrupt, why);
    case EntryDecode::valid: break;
  }
  // A lookup reads only the file its key names, so an entry under another name is
  // never served: a copy or a substitution, listed by its file name.
  const std::string expected = cache_file_stem(entry.key) + std::string(kEntrySuffix);
  if (path.filename().string() != expected)
    return bad(EntryStatus::corrupt,
               fmt::format("holds the entry of key {}, whose file name is {}", entry.key,
                           expected));
  e.key = entry.key;
  e.kind = kind_of(entry.key);
  e.target = entry.arch;
  e.format = binary_format_name(entry.artifact.format);
  e.symbol = entry.artifact.entry;
  e.compiler_version = entry.compiler_version;
  if (std::string mismatch = binary_target_mismatch(entry.artifact.format, entry.artifact.binary,
                                                    entry.arch, entry.artifact.entry);
      !mismatch.empty()) {
    e.status = EntryStatus::corrupt;
    e.problem = fmt::format("written for {}, but {}", entry.arch, mismatch);
  }
  return e;
}

namespace {

// A JIT cache's inventory: every `*.entry` file inspected, everything else a side file.
Result<CacheInventory, std::string> read_jit_entries(CacheInventory inventory) {
  const fs::path& directory = inventory.directory;
  std::unique_ptr<DIR, DirCloser> dir(::opendir(directory.c_str()));
  if (!dir) return fail(errno_text("read the cache directory", directory));
  for (errno = 0; const struct dirent* item = ::readdir(dir.get()); errno = 0) {
    const std::string_view name = item->d_name;
    if (name == "." || name == "..") continue;
    const fs::path path = directory / std::string(name);
    struct stat file {};
    if (::lstat(path.c_str(), &file) != 0) continue;  // removed since readdir saw it
    if (ends_with(name, kEntrySuffix) && !S_ISDIR(file.st_mode)) {
      inventory.entries.push_back(inspect_cache_entry(path, CacheOrigin::jit));
      continue;
    }
    SideFile side;
    side.path = path;
    side.regular = S_ISREG(file.st_mode);
    side.size = uint64_t(file.st_size);
    side.modified = to_time_point(file.st_mtim);
    if (side.regular && ends_with(name, kLockSuffix)) side.kind = SideFileKind::lock;
    else if (side.regular && is_temp_name(name)) side.kind = SideFileKind::temp;
    inventory.side_files.push_back(std::move(side));
  }
  if (errno != 0) return fail(errno_text("read the cache directory", directory));
  return inventory;
}

// An AOT directory's inventory comes from its index: each listed binary is an entry,
// checked as a lookup checks it; anything else but the index is a side file.
Result<CacheInventory, std::string> read_aot_inventory(CacheInventory inventory) {
  const fs::path& directory = inventory.directory;
  auto index = read_aot_index(directory);
  if (!index) return fail(index.error());
  std::set<std::string> listed;
  for (const AotIndexEntry& listed_entry : index->entries) {
    InventoryEntry e;
    e.path = directory / listed_entry.file;
    e.origin = CacheOrigin::aot;
    e.key = listed_entry.key;
    e.kind = listed_entry.kind;
    e.target = listed_entry.target;
    e.format = binary_format_name(listed_entry.format);
    e.symbol = listed_entry.symbol;
    e.compiler_version = listed_entry.compiler_version;
    struct stat st {};
    if (::lstat(e.path.c_str(), &st) == 0) {
      e.size = uint64_t(st.st_size);
      e.inode = uint64_t(st.st_ino);
      e.written = to_time_point(st.st_mtim);
      e.last_used = std::max(e.written, to_time_point(st.st_atim));
    }
    std::string binary;
    if (std::string problem = read_aot_binary(directory, listed_entry, &binary); !problem.empty()) {
      e.status = EntryStatus::corrupt;
      e.problem = problem;
    }
    listed.insert(listed_entry.file);
    inventory.entries.push_back(std::move(e));
  }
  std::error_code ec;
  for (const fs::directory_entry& item : fs::directory_iterator(directory, ec)) {
    const std::string name = item.path().filename().string();
    if (name == kAotIndexFileName || listed.count(name)) continue;
    struct stat file {};
    if (::lstat(item.path().c_str(), &file) != 0) continue;
    SideFile side;
    side.path = item.path();
    side.regular = S_ISREG(file.st_mode);
    side.size = uint64_t(file.st_size);
    side.modified = to_time_point(file.st_mtim);
    inventory.side_files.push_back(std::move(side));
  }
  if (ec) return fail(errno_text("read the AOT directory", directory));
  return inventory;
}

}  // namespace

Result<CacheInventory, std::string> read_cache_inventory(const fs::path& directory,
                                                         CacheOrigin origin) {
  CacheInventory inventory;
  inventory.directory = directory;
  inventory.origin = origin;
  // The directory itself may be a symlink (a cache moved to a larger disk).
  struct stat st {};
  if (::stat(directory.c_str(), &st) != 0) {
    if (errno == ENOENT) return inventory;
    return fail(errno_text("read the cache directory", directory));
  }
  if (!S_ISDIR(st.st_mode))
    return fail(fmt::format("{} is not a directory", directory.string()));
  inventory.exists = true;
  if (origin == CacheOrigin::aot) {
    auto aot = read_aot_inventory(std::move(inventory));
    if (!aot) return fail(aot.error());
    inventory = std::move(*aot);
  } else {
    auto jit = read_jit_entries(std::move(inventory));
    if (!jit) return fail(jit.error());
    inventory = std::move(*jit);
  }


  std::sort(inventory.entries.begin(), inventory.entries.end(),
            [](const InventoryEntry& a, const InventoryEntry& b) {
              return a.key != b.key ? a.key < b.key : a.path < b.path;
            });
  std::sort(inventory.side_files.begin(), inventory.side_files.end(),
            [](const SideFile& a, const SideFile& b) { return a.path < b.path; });
  return inventory;
}

Result<PruneReport, std::string> prune_cache(const fs::path& directory,
                                             const PruneOptions& options) {
  auto inventory = read_cache_inventory(directory, CacheOrigin::jit);
  if (!inventory) return fail(inventory.error());
  PruneReport report;
  report.directory = directory;
  report.entries_before = report.entries_after = inventory->entries.size();
  report.bytes_before = report.bytes_after = inventory->entry_bytes();

  auto remove_entry = [&](const InventoryEntry& e, std::string reason) {
    std::string error;
    if (remove_if_unchanged(e.path, e.inode, e.written, &error)) {
      report.removed.push_back({e.path, e.key, "entry", std::move(reason), e.size});
      report.entries_after -= 1;
      report.bytes_after -= e.size;
      return true;
    }
    if (!error.empty()) report.errors.push_back(error);
    return false;
  };

  std::vector<const InventoryEntry*> kept;
  for (const InventoryEntry& e : inventory->entries) {
    std::string reason;
    if (options.remove_all) reason = "cleared";
    else if (e.status != EntryStatus::ok)
      reason = fmt::format("{}: {}", entry_status_name(e.status), e.problem);
    else if (options.older_than && options.now - e.last_used > *options.older_than)
      reason = "unused for " + days_text(options.now - e.last_used);
    if (reason.empty() || !remove_entry(e, std::move(reason))) kept.push_back(&e);
  }

  if (options.max_bytes && report.bytes_after > *options.max_bytes) {
    std::sort(kept.begin(), kept.end(), [](const InventoryEntry* a, const InventoryEntry* b) {
      return a->last_used != b->last_used ? a->last_used < b->last_used : a->key < b->key;
    });
    const std::string reason = fmt::format("least recently used over the size limit of {} bytes",
                                           *options.max_bytes);
    for (const InventoryEntry* e : kept) {
      if (report.bytes_after <= *options.max_bytes) break;
      remove_entry(*e, reason);
    }
  }

  for (const SideFile& side : inventory->side_files) {
    const CacheClock::duration age = options.now - side.modified;
    if (side.kind == SideFileKind::other || age <= options.side_file_grace) continue;
    std::string error;
    bool removed = false;
    if (side.kind == SideFileKind::temp) {
      removed = ::unlink(side.path.c_str()) == 0;
      if (!removed && errno != ENOENT) error = errno_text("remove", side.path);
    } else {
      removed = remove_idle_lock(side.path, &error);
    }
    if (removed)
      report.removed.push_back(
          {side.path, "", side_file_kind_name(side.kind),
           fmt::format("{} {} old", side.kind == SideFileKind::temp ? "abandoned write,"
                                                                      : "no process holds it,",
                       minutes_text(age)),
           side.size});
    if (!error.empty()) report.errors.push_back(error);
  }
  return report;
}

}  // namespace attnjit
