#pragma once
// What a kernel cache directory holds, for the people who look after it (the
// `attnjit cache` command): every entry with what it is for and whether a lookup
// would serve it, the lock and temp files the cache leaves beside entries, and
// pruning. The lookup path (kernel_cache.cpp) does not use this; both check entries
// with cache_entry.h and binary_target.h, so they agree on what is valid.
//
// A JIT cache's entries are the `*.entry` files of its directory (kernel_cache.cpp
// names them); an AOT directory's are the binaries its index.json lists (aot_index.h),
// checked as a lookup checks them. An AOT directory is only ever read; prune_cache() is
// for the JIT cache.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "compiler/support/result.h"

namespace attnjit {

using CacheClock = std::chrono::system_clock;

enum class CacheOrigin { jit, aot };
const char* cache_origin_name(CacheOrigin origin);  // "jit", "aot"

enum class EntryStatus {
  ok,       // decodes, checksum holds, named for its key, binary is code for its target
  stale,    // a whole entry of an older format version: never served, rebuilt on use
  corrupt,  // anything else (truncated, flipped bits, another key's entry, wrong arch,
            // not a regular file): `problem` says what
};
const char* entry_status_name(EntryStatus status);  // "ok", "stale", "corrupt"

struct InventoryEntry {
  std::filesystem::path path;
  CacheOrigin origin = CacheOrigin::jit;
  EntryStatus status = EntryStatus::ok;
  std::string problem;  // why stale or corrupt; "" when ok
  // The lookup key the entry holds. An entry that does not decode proves nothing, so
  // then the key is the file's stem (key_from_file_name): a long key's stem is a
  // prefix of it plus a hash.
  std::string key;
  bool key_from_file_name = false;
  std::string kind;    // "prefill", "paged", "merge", "cache_write"; "" when unknown
  std::string target;  // "sm_90a"; from the file name when the entry does not decode
  std::string format;  // "cubin", "ptx", "hsaco"; "" when unknown
  std::string symbol;            // the kernel's entry symbol; "" when unknown
  std::string compiler_version;  // "" when unknown
  uint64_t size = 0;             // bytes on disk
  CacheClock::time_point written;    // modification time
  CacheClock::time_point last_used;  // the later of access and modification time
  // Identity of the file as inspected: prune_cache() removes only this file, not one
  // renamed into its place since.
  uint64_t inode = 0;
};

enum class SideFileKind {
  lock,   // <stem>.lock: a compile's advisory lock (cache_files.h FileLock)
  temp,   // <stem>.tmp.<pid>.<random>: an entry being written, or abandoned by a crash
  other,  // anything else (a directory moved aside, an index, someone's file)
};
const char* side_file_kind_name(SideFileKind kind);  // "lock", "temp", "other"

struct SideFile {
  std::filesystem::path path;
  SideFileKind kind = SideFileKind::other;
  bool regular = true;  // a regular file (locks and temps are; anything odd is other)
  uint64_t size = 0;
  CacheClock::time_point modified;
};

struct CacheInventory {
  std::filesystem::path directory;
  CacheOrigin origin = CacheOrigin::jit;
  bool exists = false;  // a JIT cache before its first compile does not exist yet
  std::vector<InventoryEntry> entries;  // by key, then path
  std::vector<SideFile> side_files;     // by path

  uint64_t entry_bytes() const;
  size_t count(EntryStatus status) const;
  size_t count(SideFileKind kind) const;
};

// Inspects one entry file: reads it (regular files of at most kMaxCacheEntryBytes,
// never through a symlink, never blocking), decodes it, checks its checksum, that its
// file name is the one its key gets, and that its binary is code for the target it
// names and defines its symbol.
InventoryEntry inspect_cache_entry(const std::filesystem::path& path, CacheOrigin origin);

// Every entry and side file of `directory`, each entry inspected. A directory that does
// not exist is an empty inventory (exists = false); one that cannot be read, or a path
// that is not a directory, is an error naming it.
Result<CacheInventory, std::string> read_cache_inventory(const std::filesystem::path& directory,
                                                         CacheOrigin origin);

struct PruneOptions {
  // Remove least recently used entries until the entries' total size is at most this.
  std::optional<uint64_t> max_bytes;
  // Remove entries not used for longer than this.
  std::optional<CacheClock::duration> older_than;
  // Remove every entry (`attnjit cache clear`).
  bool remove_all = false;
  // Temp files older than this are abandoned writes (a write takes well under a
  // second), and lock files older than this that no process holds are removed.
  CacheClock::duration side_file_grace = std::chrono::minutes(10);
  CacheClock::time_point now = CacheClock::now();
};

struct PrunedFile {
  std::filesystem::path path;
  std::string key;     // for entries; "" for lock and temp files
  std::string what;    // "entry", "lock", "temp"
  std::string reason;  // "stale", "corrupt", "unused for 31 days", "over the size limit", ...
  uint64_t size = 0;
};

struct PruneReport {
  std::filesystem::path directory;
  std::vector<PrunedFile> removed;
  std::vector<std::string> errors;  // a file that could not be removed, and why
  size_t entries_before = 0, entries_after = 0;
  uint64_t bytes_before = 0, bytes_after = 0;  // entries' total size
};

// Prunes the JIT cache in `directory`: removes stale and corrupt entries (a lookup
// would only replace them), then entries unused for longer than `older_than`, then
// least recently used entries until the rest fit in `max_bytes` (or every entry with
// `remove_all`); and abandoned temp files and idle lock files (see PruneOptions). A
// lock file is removed only while this process holds it, so a running compile keeps
// its lock. An entry replaced since it was inspected is kept. Never touches
// directories or files it does not recognize. Files that cannot be removed are listed
// in `errors`; the error value is for a directory that cannot be read at all.
Result<PruneReport, std::string> prune_cache(const std::filesystem::path& directory,
                                             const PruneOptions& options);

}  // namespace attnjit
