"""Runs one command with a time limit and a cap on what it prints.

The child gets its own process group so that a timeout or an overflow kills it and
anything it started. Its output is read as it comes, so a child that prints without
end is stopped at the cap instead of filling memory or disk.
"""
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Outcome:
    argv: list
    status: int | None  # exit status; None when a signal ended the child
    signal: int | None  # the signal the child died of (not our own kill)
    timed_out: bool
    overflowed: bool  # printed more than the cap and was killed
    elapsed: float
    stdout: bytes
    stderr: bytes

    def describe(self) -> str:
        if self.timed_out:
            how = "killed after the time limit"
        elif self.overflowed:
            how = "killed after printing more than the cap"
        elif self.signal is not None:
            how = f"died of signal {self.signal} ({signal_name(self.signal)})"
        else:
            how = f"exit {self.status}"
        return f"{how}, {self.elapsed:.2f} s, {len(self.stdout)} B stdout, {len(self.stderr)} B stderr"


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown"


def run(argv: list, env: dict, timeout: float, cap: int) -> Outcome:
    start = time.monotonic()
    deadline = start + timeout
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, start_new_session=True)
    out, err = bytearray(), bytearray()
    streams = {child.stdout.fileno(): out, child.stderr.fileno(): err}
    selector = selectors.DefaultSelector()
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    total = 0
    timed_out = overflowed = False
    while selector.get_map() and not overflowed:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        for key, _ in selector.select(left):
            chunk = os.read(key.fd, 1 << 16)
            if not chunk:
                selector.unregister(key.fd)
                continue
            streams[key.fd] += chunk
            total += len(chunk)
            if total > cap:
                overflowed = True
                break
    selector.close()
    if not timed_out and not overflowed:
        # Both streams are closed; the child may still be exiting.
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    killed = timed_out or overflowed
    if killed:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child.wait()
    elapsed = time.monotonic() - start
    child.stdout.close()
    child.stderr.close()
    code = child.returncode
    return Outcome(
        argv=list(argv),
        status=code if code >= 0 else None,
        signal=-code if code < 0 and not killed else None,
        timed_out=timed_out,
        overflowed=overflowed,
        elapsed=elapsed,
        stdout=bytes(out),
        stderr=bytes(err),
    )
