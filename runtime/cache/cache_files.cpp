// File operations of the kernel cache. Every path is first looked at with lstat, so
// nothing but a regular file is ever opened (opening a device can have effects of its
// own), and then opened with O_NOFOLLOW | O_NONBLOCK and checked again with fstat on
// the descriptor, which closes the window in which the path could be swapped.
#include "runtime/cache/cache_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/support/sha256.h"

namespace attnjit {
namespace fs = std::filesystem;

namespace {

// A long key keeps this much of itself, readable, in front of its hash.
constexpr size_t kReadablePrefixBytes = 120;
constexpr size_t kStemHashHexDigits = 32;  // 128 bits of SHA-256

bool is_plain_name_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

const char* file_type_name(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// "" when `st` describes a regular file of at most `limit` bytes.
std::string refusal(const struct stat& st, uint64_t limit) {
  if (!S_ISREG(st.st_mode))
    return fmt::format("is {}, not a regular file", file_type_name(st.st_mode));
  if (uint64_t(st.st_size) > limit)
    return fmt::format("is {} bytes, over the limit of {} bytes ({} MiB) on cache entries",
                       uint64_t(st.st_size), limit, limit >> 20);
  return "";
}

std::string errno_text(const char* what, const fs::path& path) {
  return fmt::format("{} {}: {}", what, path.string(), std::strerror(errno));
}

// A name beside `path` that no other process or thread picks.
fs::path unique_sibling(const fs::path& path, const char* kind) {
  static std::atomic<uint64_t> counter{0};
  std::random_device entropy;
  return path.parent_path() / fmt::format("{}.{}.{}.{:08x}{:x}", path.filename().string(),
                                          kind, getpid(), entropy(), counter.fetch_add(1));
}

}  // namespace

std::string cache_file_stem(const std::string& key) {
  bool plain = !key.empty() && key.size() <= kMaxCacheStemBytes && key[0] != '.';
  for (char c : key) plain = plain && is_plain_name_byte(c);
  if (plain) return key;
  std::string stem = key.substr(0, kReadablePrefixBytes);
  for (char& c : stem)
    if (!is_plain_name_byte(c)) c = '_';
  if (!stem.empty() && stem[0] == '.') stem[0] = '_';
  return stem + "-" + sha256_hex(key).substr(0, kStemHashHexDigits);
}

FileRead read_regular_file(const fs::path& path, uint64_t limit, std::string* bytes,
                           std::string* why, bool keep_access_time) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return FileRead::absent;
    *why = fmt::format("cannot stat: {}", std::strerror(errno));
    return FileRead::refused;
  }
  if (std::string no = refusal(st, limit); !no.empty()) {
    *why = no;
    return FileRead::refused;
  }
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  int fd = ::open(path.c_str(), flags | (keep_access_time ? O_NOATIME : 0));
  // O_NOATIME is refused (EPERM) on files of other users: read those plainly.
  if (fd < 0 && keep_access_time && errno == EPERM) fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    if (errno == ENOENT) return FileRead::absent;
    *why = errno == ELOOP ? "is a symbolic link, not a regular file"
                          : fmt::format("cannot open: {}", std::strerror(errno));
    return FileRead::refused;
  }
  auto refuse = [&](std::string reason) {
    ::close(fd);
    *why = std::move(reason);
    return FileRead::refused;
  };
  if (::fstat(fd, &st) != 0) return refuse(fmt::format("cannot stat: {}", std::strerror(errno)));
  if (std::string no = refusal(st, limit); !no.empty()) return refuse(no);

  bytes->clear();
  bytes->reserve(size_t(st.st_size));
  char chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return refuse(fmt::format("cannot read: {}", std::strerror(errno)));
    if (n == 0) break;
    bytes->append(chunk, size_t(n));
    // Entries are renamed into place whole and never grow; one that does is not ours.
    if (bytes->size() > limit)
      return refuse(fmt::format("grew past the limit of {} bytes while being read", limit));
  }
  ::close(fd);
  return FileRead::ok;
}

void write_atomically(const fs::path& target, const std::string& bytes) {
  const fs::path temp = unique_sibling(target.parent_path() / target.stem(), "tmp");
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
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
  // rename() replaces a file or a symlink at `target` (the link itself, never what it
  // points to); a directory there makes it fail, which clear_path() prevents.
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

bool clear_path(const fs::path& path, std::string* note) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    *note = errno_text("cannot stat", path);
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) == 0 || errno == ENOENT) return true;
    *note = errno_text("cannot remove", path);
    return false;
  }
  if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return true;
  // Not empty (or not removable): someone's files, so they are kept, out of the way.
  const fs::path aside = unique_sibling(path, "aside");
  if (::rename(path.c_str(), aside.c_str()) == 0) {
    *note = fmt::format("moved the directory {} aside to {}", path.string(), aside.string());
    return true;
  }
  *note = errno_text("cannot move aside the directory", path);
  return false;
}

void mark_used(const fs::path& path) {
  const struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};  // access, modification
  ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

FileLock::FileLock(const fs::path& path) {
  std::string odd;  // what was at the path when it was not a regular file
  if (try_open(path, &odd) || odd.empty()) return;
  // Something odd at the lock path (a FIFO, a directory, a symlink) is no lock of
  // anyone's: clear it and try once more. If another process does the same at the
  // same moment, the worst outcome is that both compile, each writing a whole entry.
  std::string cleared;
  if (!clear_path(path, &cleared)) {
    error_ += "; " + cleared;
    return;
  }
  note_ = fmt::format("lock file {} was {}; replaced it", path.string(), odd);
  if (!cleared.empty()) note_ += " (" + cleared + ")";
  try_open(path, &odd);
}

bool FileLock::try_open(const fs::path& path, std::string* odd) {
  error_.clear();
  odd->clear();
  auto refuse = [&](const char* type) {
    *odd = type;
    error_ = fmt::format("lock file {} is {}, not a regular file", path.string(), type);
    return false;
  };
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return refuse(file_type_name(st.st_mode));
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    if (errno == ELOOP) return refuse("a symbolic link");
    if (errno == EISDIR) return refuse("a directory");
    error_ = errno_text("cannot open lock file", path);
    return false;
  }
  if (::fstat(fd_, &st) != 0) {
    error_ = errno_text("cannot stat lock file", path);
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    return refuse(file_type_name(st.st_mode));
  }
  // Waiting here is waiting for another compile of the same kernel to finish.
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    error_ = errno_text("cannot lock", path);
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  return true;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace attnjit
