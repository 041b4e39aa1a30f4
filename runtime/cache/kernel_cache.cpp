// Kernel cache: memory LRU, then the ahead-of-time directory, then the disk cache,
// then the compiler.
//
// Disk entry: one file per key, `<dir>/<key>.entry` (the key already hashes the
// compile options, so the binary format is part of it). All integers little-endian:
//
//   offset  size  field
//   0       8     magic "ATTNJITK"
//   8       4     entry format version (kEntryVersion)
//   12      4     binary format (0 cubin, 1 ptx, 2 hsaco)
//   16      4     E = entry-name length, then E bytes of entry name
//   ..      4     L = compiler-log length, then L bytes of log (warnings)
//   ..      8     P = payload size
//   ..      32    SHA-256 over every byte above plus the payload
//   ..      P     payload (the binary)
//
// The file must end exactly after the payload. The checksum covers the header too,
// so a flipped bit in the entry name or a size is caught, not only in the binary.
//
// Concurrency: entries are written to `<key>.tmp.<pid>.<random>` in the same
// directory, fsync'd and renamed, so a reader sees either no entry or a whole one.
// A miss takes an exclusive flock on `<dir>/<key>.lock` and looks again before
// compiling, so of several processes (or threads) missing the same key one compiles
// and the rest load its entry. Lock files are left in place: unlinking one while
// another process waits on it would let a third lock a fresh inode and compile too.
#include "runtime/cache/kernel_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "compiler/support/sha256.h"

namespace attnjit {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'A', 'T', 'T', 'N', 'J', 'I', 'T', 'K'};
constexpr uint32_t kEntryVersion = 1;
constexpr size_t kDigestBytes = 32;
constexpr const char* kEntrySuffix = ".entry";

// ---- little-endian encoding -------------------------------------------------------

template <typename Int>
void put(std::string& out, Int value) {
  for (size_t i = 0; i < sizeof(Int); ++i) out.push_back(char(uint8_t(value >> (8 * i))));
}

// Reads fields front to back; every read is bounds-checked so a truncated file
// reports which field it ends in.
class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}

  template <typename Int>
  bool get(Int* value, const char* field, std::string* why) {
    if (remaining() < sizeof(Int)) return truncated(field, sizeof(Int), why);
    Int v = 0;
    for (size_t i = 0; i < sizeof(Int); ++i) v |= Int(uint8_t(bytes_[at_ + i])) << (8 * i);
    at_ += sizeof(Int);
    *value = v;
    return true;
  }
  bool get_bytes(size_t n, std::string* out, const char* field, std::string* why) {
    if (remaining() < n) return truncated(field, n, why);
    out->assign(bytes_, at_, n);
    at_ += n;
    return true;
  }
  size_t position() const { return at_; }
  size_t remaining() const { return bytes_.size() - at_; }

 private:
  bool truncated(const char* field, size_t wanted, std::string* why) const {
    *why = fmt::format("truncated: {} needs {} bytes at offset {}, file has {} bytes", field,
                       wanted, at_, bytes_.size());
    return false;
  }
  const std::string& bytes_;
  size_t at_ = 0;
};

std::string hex(const std::array<uint8_t, kDigestBytes>& digest) {
  std::string text;
  for (uint8_t byte : digest) text += fmt::format("{:02x}", byte);
  return text;
}

std::array<uint8_t, kDigestBytes> checksum(std::string_view header, std::string_view payload) {
  Sha256 hasher;
  hasher.update(header);
  hasher.update(payload);
  return hasher.finish();
}

// ---- files ------------------------------------------------------------------------

enum class ReadStatus { absent, ok, corrupt };

// Reads a whole file; `absent` only when it does not exist (any other error is
// reported as corrupt with the reason, so it is never silently ignored).
ReadStatus read_file(const fs::path& path, std::string* bytes, std::string* why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return ReadStatus::absent;
    *why = fmt::format("cannot open: {}", std::strerror(errno));
    return ReadStatus::corrupt;
  }
  bytes->clear();
  char chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *why = fmt::format("cannot read: {}", std::strerror(errno));
      ::close(fd);
      return ReadStatus::corrupt;
    }
    if (n == 0) break;
    bytes->append(chunk, size_t(n));
  }
  ::close(fd);
  return ReadStatus::ok;
}

std::string errno_text(const char* what, const fs::path& path) {
  return fmt::format("{} {}: {}", what, path.string(), std::strerror(errno));
}

// Writes `bytes` to a unique temp file beside `target`, syncs it, and renames it
// into place. Throws std::runtime_error with the reason; the temp file never stays.
void write_atomically(const fs::path& target, const std::string& bytes) {
  static std::atomic<uint64_t> counter{0};
  std::random_device entropy;
  fs::path temp = target.parent_path() /
                  fmt::format("{}.tmp.{}.{:08x}{:x}", target.stem().string(), getpid(),
                              entropy(), counter.fetch_add(1));
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(errno_text("cannot create", temp));
  auto abandon = [&](const char* what) {
    std::string why = errno_text(what, temp);
    ::close(fd);
    ::unlink(temp.c_str());
    throw std::runtime_error(why);
  };
  for (size_t written = 0; written < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abandon("cannot write");
    written += size_t(n);
  }
  // fsync before rename: otherwise a crash can leave the new name on a file whose
  // data never reached the disk, which the checksum would catch but only later.
  if (::fsync(fd) != 0) abandon("cannot sync");
  if (::close(fd) != 0) {
    std::string why = errno_text("cannot close", temp);
    ::unlink(temp.c_str());
    throw std::runtime_error(why);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    std::string why = errno_text("cannot rename into place", temp);
    ::unlink(temp.c_str());
    throw std::runtime_error(why);
  }
  // Make the rename itself durable; failure here only weakens crash safety.
  if (int dir = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

// An exclusive advisory lock on a file, released when this object goes away (also
// when the compile callback throws). flock locks belong to the open file
// description, so two threads of one process opening the file exclude each other too.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      error_ = errno_text("cannot open lock file", path);
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      error_ = errno_text("cannot lock", path);
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  bool locked() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

void add_warning(CacheLookup* lookup, const std::string& warning) {
  if (!lookup->warning.empty()) lookup->warning += "\n";
  lookup->warning += warning;
}

// Keys become file names; anything that could leave the directory is a caller bug.
bool is_file_name_safe(const std::string& key) {
  if (key.empty() || key == "." || key == "..") return false;
  for (char c : key)
    if (c == '/' || c == '\0') return false;
  return true;
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

const char* cache_source_name(CacheSource s) {
  switch (s) {
    case CacheSource::memory: return "hit (memory)";
    case CacheSource::aot: return "hit (aot)";
    case CacheSource::disk: return "hit (disk)";
    case CacheSource::compiled: return "miss";
  }
  return "unknown";
}

fs::path default_cache_dir() {
  if (std::string dir = env("ATTNJIT_CACHE_DIR"); !dir.empty()) return dir;
  if (std::string dir = env("XDG_CACHE_HOME"); !dir.empty()) return fs::path(dir) / "attnjit";
  if (std::string home = env("HOME"); !home.empty())
    return fs::path(home) / ".cache" / "attnjit";
  // No home at all (some service accounts): a per-machine temp location still works.
  return fs::temp_directory_path() / "attnjit-cache";
}

KernelCache::KernelCache(CacheOptions options) : options_(std::move(options)) {
  if (options_.directory.empty()) options_.directory = default_cache_dir();
}

fs::path KernelCache::entry_path(const std::string& key) const {
  return options_.directory / (key + kEntrySuffix);
}

void KernelCache::clear_memory() {
  std::lock_guard<std::mutex> lock(mutex_);
  lru_.clear();
  index_.clear();
}

// ---- entry encoding ---------------------------------------------------------------

std::string KernelCache::encode(const Artifact& a) {
  std::string bytes(kMagic, sizeof(kMagic));
  put<uint32_t>(bytes, kEntryVersion);
  put<uint32_t>(bytes, static_cast<uint32_t>(a.format));
  put<uint32_t>(bytes, static_cast<uint32_t>(a.entry.size()));
  bytes += a.entry;
  put<uint32_t>(bytes, static_cast<uint32_t>(a.log.size()));
  bytes += a.log;
  put<uint64_t>(bytes, a.binary.size());
  auto digest = checksum(bytes, a.binary);
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  bytes += a.binary;
  return bytes;
}

bool KernelCache::decode(const std::string& bytes, Artifact* out, std::string* why) {
  Reader in(bytes);
  std::string magic;
  if (!in.get_bytes(sizeof(kMagic), &magic, "magic", why)) return false;
  if (magic != std::string(kMagic, sizeof(kMagic))) {
    *why = "not an attnjit cache entry (bad magic)";
    return false;
  }
  uint32_t version = 0, format = 0, entry_size = 0, log_size = 0;
  if (!in.get(&version, "format version", why)) return false;
  if (version != kEntryVersion) {
    *why = fmt::format("entry format version {}, this build reads version {}", version,
                       kEntryVersion);
    return false;
  }
  if (!in.get(&format, "binary format", why)) return false;
  if (format > static_cast<uint32_t>(BinaryFormat::hsaco)) {
    *why = fmt::format("unknown binary format {}", format);
    return false;
  }
  Artifact artifact;
  artifact.format = static_cast<BinaryFormat>(format);
  if (!in.get(&entry_size, "entry name length", why) ||
      !in.get_bytes(entry_size, &artifact.entry, "entry name", why) ||
      !in.get(&log_size, "log length", why) ||
      !in.get_bytes(log_size, &artifact.log, "log", why))
    return false;
  uint64_t payload_size = 0;
  if (!in.get(&payload_size, "payload size", why)) return false;
  const size_t header_size = in.position();
  std::string stored_digest;
  if (!in.get_bytes(kDigestBytes, &stored_digest, "checksum", why)) return false;
  if (payload_size != in.remaining()) {
    *why = payload_size > in.remaining()
               ? fmt::format("truncated: payload declares {} bytes, file has {}",
                             payload_size, in.remaining())
               : fmt::format("{} unexpected bytes after the {}-byte payload",
                             in.remaining() - payload_size, payload_size);
    return false;
  }
  artifact.binary.assign(bytes, in.position(), payload_size);
  auto digest = checksum(std::string_view(bytes).substr(0, header_size), artifact.binary);
  if (std::memcmp(digest.data(), stored_digest.data(), kDigestBytes) != 0) {
    std::array<uint8_t, kDigestBytes> stored{};
    std::memcpy(stored.data(), stored_digest.data(), kDigestBytes);
    *why = fmt::format("checksum mismatch (stored {}, computed {})", hex(stored), hex(digest));
    return false;
  }
  *out = std::move(artifact);
  return true;
}

// ---- lookup -----------------------------------------------------------------------

// False with `why` empty: no entry. False with `why` set: an entry that is not valid.
bool KernelCache::read_entry(const fs::path& p, Artifact* out, std::string* why) const {
  why->clear();
  std::string bytes;
  switch (read_file(p, &bytes, why)) {
    case ReadStatus::absent: return false;
    case ReadStatus::corrupt: return false;
    case ReadStatus::ok: break;
  }
  return decode(bytes, out, why);
}

void KernelCache::write_entry(const fs::path& p, const Artifact& a) const {
  write_atomically(p, encode(a));
}

void KernelCache::remember(const std::string& key, const Artifact& a) {
  if (options_.memory_entries == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto found = index_.find(key); found != index_.end()) {
    found->second->second = a;
    lru_.splice(lru_.begin(), lru_, found->second);
    return;
  }
  lru_.emplace_front(key, a);
  index_[key] = lru_.begin();
  while (lru_.size() > options_.memory_entries) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

Result<CacheLookup, CompileError> KernelCache::get(const std::string& key,
                                                   const Compile& compile) {
  ATTNJIT_ASSERT(is_file_name_safe(key), "kernel cache key is not a file name: '" + key + "'");
  const auto started = std::chrono::steady_clock::now();
  CacheLookup lookup;
  auto finish = [&](CacheSource source, Artifact artifact) {
    lookup.source = source;
    lookup.artifact = std::move(artifact);
    lookup.milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    return lookup;
  };

  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto found = index_.find(key); found != index_.end()) {
      lru_.splice(lru_.begin(), lru_, found->second);
      return finish(CacheSource::memory, found->second->second);
    }
  }

  Artifact artifact;
  std::string why;
  // The AOT directory belongs to the deployment: a bad entry there is reported and
  // skipped, never deleted, and the regular cache takes over.
  if (!options_.aot_directory.empty()) {
    fs::path aot_entry = options_.aot_directory / (key + kEntrySuffix);
    if (read_entry(aot_entry, &artifact, &why)) {
      remember(key, artifact);
      return finish(CacheSource::aot, std::move(artifact));
    }
    if (!why.empty())
      add_warning(&lookup, fmt::format("corrupt AOT cache entry {}: {}; skipped",
                                       aot_entry.string(), why));
  }

  const fs::path entry = entry_path(key);
  // Fast path without the lock: entries are renamed into place whole, so a valid read
  // here is final. A corrupt one is dealt with below, under the lock.
  if (options_.use_disk && read_entry(entry, &artifact, &why)) {
    remember(key, artifact);
    return finish(CacheSource::disk, std::move(artifact));
  }

  std::unique_ptr<FileLock> lock;
  if (options_.use_disk) {
    std::error_code ec;
    fs::create_directories(options_.directory, ec);
    if (ec)
      add_warning(&lookup, fmt::format("cannot create cache directory {}: {}; not caching",
                                       options_.directory.string(), ec.message()));
    else
      lock = std::make_unique<FileLock>(options_.directory / (key + ".lock"));
    if (lock && !lock->locked()) {
      add_warning(&lookup, lock->error() + "; compiling without the cache lock");
    }
    // Another process may have finished the same kernel while we waited for the lock.
    if (read_entry(entry, &artifact, &why)) {
      remember(key, artifact);
      return finish(CacheSource::disk, std::move(artifact));
    }
    if (!why.empty()) {
      add_warning(&lookup,
                  fmt::format("corrupt cache entry {}: {}; rebuilding", entry.string(), why));
      fs::remove(entry, ec);
    }
  }

  auto compiled = compile();
  if (!compiled) return fail(compiled.error());  // nothing is written for a failure

  if (options_.use_disk && lock) {
    try {
      write_entry(entry, compiled.value());
    } catch (const std::exception& e) {
      // The kernel is usable; only the next process pays for the compile again.
      add_warning(&lookup, fmt::format("cannot write cache entry {}: {}", entry.string(),
                                       e.what()));
    }
  }
  lock.reset();
  remember(key, compiled.value());
  return finish(CacheSource::compiled, std::move(compiled.value()));
}

}  // namespace attnjit
