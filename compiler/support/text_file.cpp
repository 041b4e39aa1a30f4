#include "compiler/support/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace attnjit {

namespace {

// Why a file that is not a regular one is refused.
std::string refusal(mode_t mode) {
  if (S_ISDIR(mode)) return "it is a directory";
  if (S_ISFIFO(mode)) return "it is a named pipe (FIFO), not a regular file";
  if (S_ISCHR(mode)) return "it is a character device, not a regular file";
  if (S_ISBLK(mode)) return "it is a block device, not a regular file";
  if (S_ISSOCK(mode)) return "it is a socket, not a regular file";
  return "it is not a regular file";
}

std::string too_large(size_t max_bytes) {
  return "it is larger than the " + byte_size_text(max_bytes) + " limit";
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Everything `fd` yields up to its end, failing on a read error or past `max_bytes`
// (one byte more is asked for, so a file of exactly `max_bytes` is accepted).
Result<std::string, std::string> read_all(int fd, size_t max_bytes) {
  std::string text;
  char buffer[64 * 1024];
  for (;;) {
    const size_t room = max_bytes - text.size() + 1;
    const ssize_t got = ::read(fd, buffer, room < sizeof buffer ? room : sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail(std::string("a read failed: ") + std::strerror(errno));
    }
    if (got == 0) return text;
    text.append(buffer, static_cast<size_t>(got));
    if (text.size() > max_bytes) return fail(too_large(max_bytes));
  }
}

}  // namespace

std::string byte_size_text(size_t bytes) {
  if (bytes >= (size_t{1} << 20) && bytes % (size_t{1} << 20) == 0)
    return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

Result<std::string, std::string> read_text_file(const std::string& path, size_t max_bytes) {
  // Looked at before it is opened: opening a device can itself do something.
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return fail(std::string(std::strerror(errno)));
  if (!S_ISREG(info.st_mode)) return fail(refusal(info.st_mode));
  // O_NONBLOCK: should the path have become a FIFO since, opening it does not wait
  // for a writer (and the check below refuses it).
  Descriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return fail(std::string(std::strerror(errno)));
  if (::fstat(fd.get(), &info) != 0) return fail(std::string(std::strerror(errno)));
  if (!S_ISREG(info.st_mode)) return fail(refusal(info.st_mode));
  if (info.st_size > 0 && static_cast<unsigned long long>(info.st_size) > max_bytes)
    return fail(too_large(max_bytes));
  return read_all(fd.get(), max_bytes);
}

Result<std::string, std::string> read_standard_input(size_t max_bytes) {
  return read_all(STDIN_FILENO, max_bytes);
}

}  // namespace attnjit
