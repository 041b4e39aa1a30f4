// Kernel cache: memory LRU, then the ahead-of-time directory, then the disk cache,
// then the compiler. The entry format is in cache_entry.cpp, the file handling in
// cache_files.cpp.
//
// Disk entry: one file per key, `<dir>/<stem>.entry`, where the stem is the key itself
// or, for a long key, a readable prefix plus a hash of it (cache_file_stem()). A lookup
// serves an entry only after all of these hold:
//   - the path holds a regular file (not a symlink, FIFO, directory or device) of at
//     most kMaxCacheEntryBytes, checked on the open descriptor before reading;
//   - it decodes: magic, current format version, sizes, SHA-256 over all of it;
//   - its key, arch, binary format, entry symbol and compiler version equal the
//     request's (an entry copied over another key's file names its own key);
//   - its binary is code for the requested arch: a CUBIN's ELF header (64-bit, EM_CUDA,
//     the SM in e_flags) or a PTX module's .target line, and it defines the symbol.
// A disk entry that fails is reported, removed (a non-empty directory is renamed
// aside instead) and rebuilt; an entry of an older format version is rebuilt without
// a warning. A failing AOT entry is reported and skipped, never touched.
//
// Concurrency: entries are written to a temp file in the same directory, fsync'd and
// renamed, so a reader sees either no entry or a whole one. A miss takes an exclusive
// flock on `<dir>/<stem>.lock` and looks again before compiling, so of several
// processes (or threads) missing the same key one compiles and the rest load its
// entry. Lock files are left in place: unlinking one while another process waits on
// it would let a third lock a fresh inode and compile too.
//
// A disk hit sets the entry's access time (mark_used()), so the cache tool
// (cache_inventory.h) can prune least recently used entries first.
#include "runtime/cache/kernel_cache.h"

#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "compiler/support/diagnostics.h"
#include "runtime/cache/cache_files.h"

namespace attnjit {
namespace fs = std::filesystem;

namespace {

constexpr const char* kEntrySuffix = ".entry";
constexpr const char* kLockSuffix = ".lock";

enum class Found { absent, valid, stale, invalid };

// Reads, decodes and checks the entry at `path` against `request`. `why` says what is
// wrong for stale and invalid.
Found load_entry(const fs::path& path, const CacheRequest& request, CacheEntry* out,
                 std::string* why) {
  std::string bytes;
  switch (read_regular_file(path, kMaxCacheEntryBytes, &bytes, why)) {
    case FileRead::absent: return Found::absent;
    case FileRead::refused: return Found::invalid;
    case FileRead::ok: break;
  }
  CacheEntry entry;
  switch (decode_cache_entry(bytes, &entry, why)) {
    case EntryDecode::stale: return Found::stale;
    case EntryDecode::invalid: return Found::invalid;
    case EntryDecode::valid: break;
  }
  if (std::string mismatch = cache_entry_mismatch(entry, request); !mismatch.empty()) {
    *why = mismatch;
    return Found::invalid;
  }
  *out = std::move(entry);
  return Found::valid;
}

// `lookup` completed: where the artifact came from and how long get() took.
CacheLookup finished(CacheLookup lookup, CacheSource source, Artifact artifact,
                     std::chrono::steady_clock::time_point started) {
  lookup.source = source;
  lookup.artifact = std::move(artifact);
  lookup.milliseconds =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return lookup;
}

// Each warning is one printable line: whatever it quotes from files or paths cannot
// break the line, move the cursor or run on for megabytes.
void add_warning(CacheLookup* lookup, std::string_view warning) {
  if (!lookup->warning.empty()) lookup->warning += "\n";
  lookup->warning += printable(warning, 2000);
}

}  // namespace

std::string CacheLookup::warning_lines(std::string_view prefix) const {
  std::string text;
  for (size_t at = 0; at < warning.size();) {
    size_t end = warning.find('\n', at);
    if (end == std::string::npos) end = warning.size();
    text.append(prefix);
    text.append(warning, at, end - at);
    text.push_back('\n');
    at = end + 1;
  }
  return text;
}

const char* cache_source_name(CacheSource s) {
  switch (s) {
    case CacheSource::memory: return "hit (memory)";
    case CacheSource::aot: return "hit (aot)";
    case CacheSource::disk: return "hit (disk)";
    case CacheSource::compiled: return "miss";
  }
  return "unknown";
}

KernelCache::KernelCache(CacheOptions options) : options_(std::move(options)) {
  if (options_.directory.empty()) options_.directory = default_cache_dir();
  for (const fs::path& dir : options_.aot_directories)
    aot_.push_back(std::make_unique<AotDirectory>(dir));
}

fs::path KernelCache::entry_path(const std::string& key) const {
  return options_.directory / (cache_file_stem(key) + kEntrySuffix);
}

void KernelCache::clear_memory() {
  std::lock_guard<std::mutex> lock(mutex_);
  lru_.clear();
  index_.clear();
}

// ---- lookup -----------------------------------------------------------------------

void KernelCache::remember(const CacheEntry& entry) {
  if (options_.memory_entries == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto found = index_.find(entry.key); found != index_.end()) {
    *found->second = entry;
    lru_.splice(lru_.begin(), lru_, found->second);
    return;
  }
  lru_.push_front(entry);
  index_[entry.key] = lru_.begin();
  while (lru_.size() > options_.memory_entries) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

// Memory holds only entries that were checked (or compiled) for their request, so the
// binary is not inspected again; the request's other fields still have to match.
bool KernelCache::recall(const CacheRequest& request, Artifact* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = index_.find(request.key);
  if (found == index_.end()) return false;
  const CacheEntry& entry = *found->second;
  if (entry.arch != request.arch || entry.compiler_version != request.compiler_version ||
      entry.artifact.format != request.format || entry.artifact.entry != request.entry)
    return false;
  lru_.splice(lru_.begin(), lru_, found->second);
  *out = entry.artifact;
  return true;
}

std::optional<CacheLookup> KernelCache::find_ahead_of_time(const CacheRequest& request,
                                                           std::string* warning) {
  ATTNJIT_ASSERT(!request.key.empty(), "AOT lookup without a key");
  const auto started = std::chrono::steady_clock::now();
  CacheLookup lookup;
  auto finish = [&](CacheSource source, Artifact artifact) {
    return finished(std::move(lookup), source, std::move(artifact), started);
  };
  // Not kept in memory: the engine loads each kernel once and keeps it, and a tool
  // that asks again reads a few hundred KiB.
  for (const std::unique_ptr<AotDirectory>& dir : aot_) {
    std::optional<AotDirectory::Found> found = dir->find(request, warning);
    if (!found) continue;
    lookup.built_by = fmt::format("{} {} (AOT directory {})", found->entry.compiler,
                                  found->entry.compiler_version, printable(dir->path().string()));
    return finish(CacheSource::aot, std::move(found->artifact));
  }
  return std::nullopt;
}

Result<CacheLookup, CompileError> KernelCache::get(const CacheRequest& request,
                                                   const Compile& compile) {
  ATTNJIT_ASSERT(!request.key.empty(), "kernel cache lookup without a key");
  const auto started = std::chrono::steady_clock::now();
  CacheLookup lookup;
  auto finish = [&](CacheSource source, Artifact artifact) {
    return finished(std::move(lookup), source, std::move(artifact), started);
  };

  Artifact remembered;
  if (recall(request, &remembered)) return finish(CacheSource::memory, std::move(remembered));

  const std::string stem = cache_file_stem(request.key);
  CacheEntry entry;
  std::string why;
  const fs::path entry_file = options_.directory / (stem + kEntrySuffix);
  // Fast path without the lock: entries are renamed into place whole, so a valid read
  // here is final. Anything else is dealt with below, under the lock.
  if (options_.use_disk && load_entry(entry_file, request, &entry, &why) == Found::valid) {
    mark_used(entry_file);
    remember(entry);
    return finish(CacheSource::disk, std::move(entry.artifact));
  }

  std::unique_ptr<FileLock> lock;
  if (options_.use_disk) {
    std::error_code ec;
    fs::create_directories(options_.directory, ec);
    if (ec)
      add_warning(&lookup, fmt::format("cannot create cache directory {}: {}; not caching",
                                       options_.directory.string(), ec.message()));
    else
      lock = std::make_unique<FileLock>(options_.directory / (stem + kLockSuffix));
    if (lock && !lock->note().empty()) add_warning(&lookup, lock->note());
    if (lock && !lock->locked())
      add_warning(&lookup, lock->error() + "; compiling without the cache lock");
    // Another process may have finished the same kernel while we waited for the lock.
    const Found found = lock ? load_entry(entry_file, request, &entry, &why) : Found::absent;
    if (found == Found::valid) {
      mark_used(entry_file);
      remember(entry);
      return finish(CacheSource::disk, std::move(entry.artifact));
    }
    if (found == Found::invalid)
      add_warning(&lookup, fmt::format("cache entry {} rejected: {}; rebuilding",
                                       entry_file.string(), why));
    if (found == Found::invalid || found == Found::stale) {
      std::string note;
      const bool cleared = clear_path(entry_file, &note);
      if (!note.empty())
        add_warning(&lookup, cleared ? note : note + "; the new entry cannot be stored");
    }
  }

  auto compiled = compile();
  if (!compiled) return fail(compiled.error());  // nothing is written for a failure

  CacheEntry made = make_cache_entry(request, std::move(compiled.value()));
  // A compile that does not pass the checks a later lookup makes would be rejected on
  // every load; it is used once and not stored.
  if (std::string mismatch = cache_entry_mismatch(made, request); !mismatch.empty()) {
    add_warning(&lookup, fmt::format("the kernel compiled for {} fails the cache's check: "
                                     "{}; not cached",
                                     request.key, mismatch));
    return finish(CacheSource::compiled, std::move(made.artifact));
  }
  if (lock) {
    try {
      write_atomically(entry_file, encode_cache_entry(made));
    } catch (const std::exception& e) {
      // The kernel is usable; only the next process pays for the compile again.
      add_warning(&lookup, fmt::format("cannot write cache entry {}: {}", entry_file.string(),
                                       e.what()));
    }
  }
  lock.reset();
  remember(made);
  return finish(CacheSource::compiled, std::move(made.artifact));
}

}  // namespace attnjit
