#pragma once
// Running compiler work in a child process, so that a compiler that aborts, crashes or
// hangs costs a value (ChildOutcome), never the caller's process. Two forms: a function
// run in a forked copy of this process (hiprtc, whose comgr aborts on some inputs), and
// a program run with fork/exec and no shell (the offline clang).
//
// A forked child of a multi-threaded process inherits only the calling thread, and any
// lock another thread held stays held in the child: the work given to run_in_child
// must not need locks other threads of the caller may hold (glibc's malloc and stdio
// are made safe across fork; a library's own mutexes are not).
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace attnjit {

// How long a compile may run before its child is killed: far above any kernel's
// compile time, so only a hung compiler meets it.
inline constexpr std::chrono::seconds kCompileTimeLimit{600};

struct ChildOutcome {
  std::string start_error;  // non-empty: no child ran (pipe, fork or exec failed)
  bool timed_out = false;   // killed after the time limit
  int exit_code = -1;       // its exit status, when it exited
  int signal = 0;           // the signal that ended it, when one did
  std::string result;       // what the work wrote to its result descriptor
  std::string output;       // its stdout and stderr, interleaved (capped; see .cpp)

  bool exited_ok() const { return start_error.empty() && !timed_out && signal == 0 && exit_code == 0; }
  // "exited with status 1", "was killed by signal 6 (Aborted)", "ran past the 600 s
  // limit and was killed", or why it never ran.
  std::string how_it_ended() const;
};

// Runs `work(result_fd)` in a forked child whose stdout and stderr are captured; what
// the work writes to `result_fd` comes back as `result`. The child leaves with _exit
// (status 0 after `work` returns, 70 if it throws), running no atexit handlers or
// destructors of the parent's objects.
ChildOutcome run_in_child(const std::function<void(int result_fd)>& work,
                          std::chrono::seconds limit = kCompileTimeLimit);

// Runs `argv[0]` (looked up in $PATH when it has no '/') with `argv`, no shell, stdin
// from /dev/null, stdout and stderr captured. When exec fails, `start_error` says why.
ChildOutcome run_program(const std::vector<std::string>& argv,
                         std::chrono::seconds limit = kCompileTimeLimit);

// Writes all of `bytes` to `fd`, retrying short writes and EINTR. False on an error.
bool write_all(int fd, const void* bytes, size_t size);

}  // namespace attnjit
