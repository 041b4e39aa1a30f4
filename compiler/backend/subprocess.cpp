#include "compiler/backend/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <fmt/format.h>

namespace attnjit {
namespace {

// A compiler's log is for a person: past 4 MiB the rest is dropped (and said so). The
// result (a code object) is bounded only against a runaway child.
constexpr size_t kOutputCap = size_t(4) << 20;
constexpr size_t kResultCap = size_t(1) << 30;
constexpr size_t kReadChunk = 65536;
constexpr int kChildThrew = 70;        // EX_SOFTWARE
constexpr int kExecFailed = 127;       // as a shell reports a command it cannot run
constexpr useconds_t kReapPollMicroseconds = 2000;

struct Pipe {
  int read = -1;
  int write = -1;
};

void close_fd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

bool open_pipe(Pipe* pipe, std::string* why) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    *why = fmt::format("cannot create a pipe: {}", std::strerror(errno));
    return false;
  }
  pipe->read = fds[0];
  pipe->write = fds[1];
  return true;
}

// Appends what `fd` has to `sink` (up to `cap` bytes kept); false at end of file.
bool drain(int fd, std::string* sink, size_t cap, bool* truncated) {
  char buffer[kReadChunk];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  const size_t keep = std::min(size_t(n), cap - std::min(cap, sink->size()));
  sink->append(buffer, keep);
  if (keep < size_t(n)) *truncated = true;
  return true;
}

// The child's side before its work: its own process group (so a timeout kills what it
// started too), stdin from /dev/null, stdout and stderr into `output`, no signal
// blocked, and the default action for the signals a crash raises: a handler the caller
// installed (a test framework's, a crash reporter's) must not run in a compiler that
// aborts, which is to die quietly and be reported by the parent.
void enter_child(const Pipe& output) {
  ::setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGPIPE, SIGTERM})
    ::signal(sig, SIG_DFL);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
  ::dup2(output.write, STDOUT_FILENO);
  ::dup2(output.write, STDERR_FILENO);
}

// The parent's side: reads the result and output pipes until both close or the time
// limit passes, then reaps the child.
ChildOutcome collect(pid_t pid, Pipe result, Pipe output, std::chrono::seconds limit) {
  ChildOutcome out;
  close_fd(&result.write);
  close_fd(&output.write);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool result_truncated = false, output_truncated = false;
  int open_fds[2] = {result.read, output.read};
  while (open_fds[0] >= 0 || open_fds[1] >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      out.timed_out = true;
      break;
    }
    pollfd fds[2];
    int count = 0;
    for (int fd : open_fds)
      if (fd >= 0) fds[count++] = pollfd{fd, POLLIN, 0};
    const int ready = ::poll(fds, nfds_t(count), int(std::min<long long>(left.count(), INT_MAX)));
    if (ready < 0 && errno != EINTR) {
      out.start_error = fmt::format("cannot wait for the child: {}", std::strerror(errno));
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    for (int i = 0; ready > 0 && i < count; ++i) {
      if (fds[i].revents == 0) continue;
      const bool is_result = fds[i].fd == open_fds[0];
      const bool more = is_result ? drain(fds[i].fd, &out.result, kResultCap, &result_truncated)
                                  : drain(fds[i].fd, &out.output, kOutputCap, &output_truncated);
      if (!more) close_fd(is_result ? &open_fds[0] : &open_fds[1]);
    }
  }
  close_fd(&open_fds[0]);
  close_fd(&open_fds[1]);
  // A child may close its pipes and still not exit: it is reaped within the same limit.
  int status = 0;
  for (;;) {
    const pid_t reaped = ::waitpid(pid, &status, out.timed_out ? 0 : WNOHANG);
    if (reaped == pid || (reaped < 0 && errno != EINTR)) break;
    if (reaped == 0 && std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      out.timed_out = true;
    } else if (reaped == 0) {
      ::usleep(kReapPollMicroseconds);
    }
  }
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  if (output_truncated) out.output += fmt::format("\n[output past {} bytes dropped]\n", kOutputCap);
  if (result_truncated) {
    out.start_error = fmt::format("the child's result exceeded {} bytes", kResultCap);
    out.result.clear();
  }
  return out;
}

}  // namespace

std::string ChildOutcome::how_it_ended() const {
  if (!start_error.empty()) return start_error;
  if (timed_out) return "ran past its time limit and was killed";
  if (signal != 0) return fmt::format("was killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exited with status {}", exit_code);
}

bool write_all(int fd, const void* bytes, size_t size) {
  const char* at = static_cast<const char*>(bytes);
  while (size > 0) {
    const ssize_t n = ::write(fd, at, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    at += n;
    size -= size_t(n);
  }
  return true;
}

ChildOutcome run_in_child(const std::function<void(int result_fd)>& work,
                          std::chrono::seconds limit) {
  ChildOutcome failed;
  Pipe result, output;
  if (!open_pipe(&result, &failed.start_error)) return failed;
  if (!open_pipe(&output, &failed.start_error)) {
    close_fd(&result.read);
    close_fd(&result.write);
    return failed;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    failed.start_error = fmt::format("cannot fork: {}", std::strerror(errno));
    for (int* fd : {&result.read, &result.write, &output.read, &output.write}) close_fd(fd);
    return failed;
  }
  if (pid == 0) {
    enter_child(output);
    try {
      work(result.write);
    } catch (...) {
      ::_exit(kChildThrew);
    }
    ::_exit(0);
  }
  return collect(pid, result, output, limit);
}

ChildOutcome run_program(const std::vector<std::string>& argv, std::chrono::seconds limit) {
  ChildOutcome failed;
  if (argv.empty()) {
    failed.start_error = "no program to run";
    return failed;
  }
  // Built before the fork: the child only calls exec and async-signal-safe functions.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string exec_failed = fmt::format("cannot run {}: ", argv[0]);

  Pipe result, output;
  if (!open_pipe(&result, &failed.start_error)) return failed;
  if (!open_pipe(&output, &failed.start_error)) {
    close_fd(&result.read);
    close_fd(&result.write);
    return failed;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    failed.start_error = fmt::format("cannot fork: {}", std::strerror(errno));
    for (int* fd : {&result.read, &result.write, &output.read, &output.write}) close_fd(fd);
    return failed;
  }
  if (pid == 0) {
    enter_child(output);
    ::execvp(args[0], args.data());
    // Reached only when exec failed; the result pipe (close-on-exec) tells the parent.
    const char* reason = std::strerror(errno);
    write_all(result.write, exec_failed.data(), exec_failed.size());
    write_all(result.write, reason, std::strlen(reason));
    ::_exit(kExecFailed);
  }
  ChildOutcome out = collect(pid, result, output, limit);
  if (out.start_error.empty() && !out.result.empty()) out.start_error = out.result;
  return out;
}

}  // namespace attnjit
