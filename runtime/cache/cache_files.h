#pragma once
// The kernel cache's file operations: bounded file names, reads that accept only
// regular files of bounded size and never block, atomic writes, advisory locks, and
// clearing whatever occupies an entry's path. Nothing here knows the entry format.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace attnjit {

// The largest cache entry read. Real kernels are a few MiB at most; anything larger is
// refused unread (checked on the open descriptor before reading) and rebuilt.
constexpr uint64_t kMaxCacheEntryBytes = uint64_t(64) << 20;  // 64 MiB

// Longest file-name stem the cache makes. The longest name derived from a stem is a
// temp file (stem + ".tmp.<pid>.<random>", under 45 more bytes), far below NAME_MAX.
constexpr size_t kMaxCacheStemBytes = 160;

// The file-name stem for `key`: the key itself when it is short and made only of
// [A-Za-z0-9._-]; otherwise a readable prefix of it (other bytes as '_') plus a hash of
// the whole key. The entry inside still holds the complete key, so two keys that
// share a stem can never be served for each other.
std::string cache_file_stem(const std::string& key);

enum class FileRead {
  absent,   // nothing at the path
  ok,       // `bytes` holds the whole file
  refused,  // not a regular file, too large, or unreadable: `why` says which
};

// Reads the regular file at `path` (at most `limit` bytes). A symlink, FIFO,
// directory, device or socket at `path` is refused without reading it, and never
// blocks: the path is opened with O_NOFOLLOW | O_NONBLOCK and checked with fstat.
// With `keep_access_time`, the read leaves the file's access time as it was where the
// file system allows (O_NOATIME: files this user owns), so inspecting a cache does not
// make its entries look recently used.
FileRead read_regular_file(const std::filesystem::path& path, uint64_t limit,
                           std::string* bytes, std::string* why,
                           bool keep_access_time = false);

// Writes `bytes` to a unique temp file beside `target`, syncs it, and renames it into
// place. Throws std::runtime_error with the reason; the temp file never stays.
void write_atomically(const std::filesystem::path& target, const std::string& bytes);

// Frees `path` for a new file: anything but a directory is unlinked (a symlink itself,
// never its target); an empty directory is removed; a non-empty directory is renamed
// aside to `<path>.aside.<pid>.<random>` (never deleted: it is not ours). True when
// the path is free; `note` tells where a directory went, or why the path is not free.
bool clear_path(const std::filesystem::path& path, std::string* note);

// Records that the entry at `path` was just used: its access time becomes now, its
// modification time (when it was written) stays. The cache tool prunes least recently
// used entries first by this time, which then holds whatever the file system's atime
// policy (noatime, relatime). Best effort: a failure only makes pruning less exact.
void mark_used(const std::filesystem::path& path);

// An exclusive advisory lock (flock) on a regular file, held until this object goes
// away. Something other than a regular file at the path (a FIFO, a directory, a
// symlink) is cleared with clear_path() and the open retried once; it is never opened
// for reading or waited on. flock locks belong to the open file description, so two
// threads of one process exclude each other too.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  bool locked() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }  // why not locked
  const std::string& note() const { return note_; }    // what was cleared on the way

 private:
  bool try_open(const std::filesystem::path& path, std::string* odd);
  int fd_ = -1;
  std::string error_;
  std::string note_;
};


}  // namespace attnjit
