#!/usr/bin/env python3
"""Robustness suite: runs the attnjit CLI on generated hostile inputs.

Every input, whatever it is, must end `attnjit check` (or, for tuning configs,
`attnjit emit --stage src --config`) with exit status 0, 1 or 2, within the time
limit, never by a signal, printing less than the output cap and no raw control
characters (anything below 0x20 but newline and tab, DEL, and the C1 range, which
8-bit terminals read as escape sequences). Every variant file `check` accepts must
also print back as DSL that reads back to the same IR, and emit kernel source; a
bounded sample of those compiles with NVRTC for sm_90 without a warning.

Inputs come from one seeded generator (--seed, default 1, or $ATTNJIT_FUZZ_SEED),
so a failure reproduces with the same seed. Each failure names its input file
(kept under --work-dir), the command, how it ended and how long it took; the exit
status is 1 when anything failed.

usage: fuzz.py --attnjit PATH --source-dir DIR --work-dir DIR [--seed N] [--jobs N]
               [--only SUBSTRING] [--compile-limit N] [--time-scale X]
"""
import argparse
import itertools
import os
import random
import re
import resource
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import config_cases  # noqa: E402 (after the line above)
import dsl_cases
import process
from case import Case

# Limits per command. NVRTC compiles take about a second; the rest tens of ms.
TIME_LIMIT_S = 10.0
COMPILE_TIME_LIMIT_S = 60.0
OUTPUT_CAP = 1 << 20  # stdout + stderr of one command, bytes
# Emitted source grows with the input's expressions: the cap grows with the input.
SOURCE_BYTES_PER_INPUT_BYTE = 16
# Variants of one accepted file that go on to emit (first, last, one between).
VARIANTS_PER_FILE = 3
MAX_ARGUMENT = 100_000  # Linux refuses single arguments over 128 KiB

# C0 controls but tab and newline, DEL, C1 controls (as UTF-8 or as raw bytes, which
# surrogateescape decodes to U+DC80..U+DC9F).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\udc80-\udc9f]")
# An allocation that failed under the memory limit (the process may still exit 1).
OUT_OF_MEMORY = re.compile(rb"bad_alloc|out of memory|[Cc]annot allocate memory")
SANITIZER_REPORT = re.compile(rb"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error: ")
WARNING = re.compile(rb"warning", re.IGNORECASE)
PROGRESS = re.compile(rb"^compiling .*\.\.\.$", re.MULTILINE)  # names the variant, not a warning

# Failure classes, in the order the summary lists them.
CLASSES = {
    "crash": "ended by a signal or a sanitizer report",
    "timeout": "ran past the time limit",
    "output": "printed more than the output cap",
    "control": "printed a raw control character",
    "memory": "ran out of memory under the limit",
    "status": "exit status other than 0, 1 or 2 (or not the expected one)",
    "location": "first diagnostic names the wrong line",
    "round-trip": "accepted, but its DSL print does not read back to the same IR",
    "empty": "accepted a file that defines no variant",
    "emit": "accepted, but emit --stage src fails",
    "compile": "accepted, but NVRTC compile fails",
    "warning": "compile printed a warning",
}


@dataclass
class Failure:
    cls: str
    case: Case
    what: str
    outcome: process.Outcome


@dataclass
class Target:
    """One kernel of an accepted input: the flags that select it."""
    case: Case
    flags: list


@dataclass
class Probe:
    failures: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    accepted: bool = False


class Suite:
    def __init__(self, attnjit: str, source_dir: Path, work: Path, env: dict, time_scale: float):
        self.attnjit = attnjit
        self.source_dir = source_dir
        self.work = work
        self.env = env
        self.time_scale = time_scale

    def path(self, case: Case, suffix: str = "") -> Path:
        return self.work / "cases" / (case.name + suffix + case.suffix)

    def run(self, args: list, limit: float = TIME_LIMIT_S, cap: int = OUTPUT_CAP) -> process.Outcome:
        return process.run([self.attnjit] + [str(a) for a in args], self.env, limit * self.time_scale, cap)

    def judge(self, probe: Probe, case: Case, what: str, out: process.Outcome,
              want_status: int | None = None, mismatch: str = "status") -> bool:
        """The rules every command meets; records failures (an unexpected exit status
        as class `mismatch`) and returns true when there were none."""
        problems = []
        if out.timed_out:
            problems.append(("timeout", "ran past the time limit"))
        elif out.overflowed:
            problems.append(("output", "printed more than the cap"))
        elif out.signal is not None or SANITIZER_REPORT.search(out.stderr):
            problems.append(("crash", "crashed"))
        elif OUT_OF_MEMORY.search(out.stderr):
            problems.append(("memory", "ran out of memory"))
        elif out.status not in (0, 1, 2):
            problems.append(("status", f"exit status {out.status}"))
        elif want_status is not None and out.status != want_status:
            problems.append((mismatch, f"exit status {out.status}, expected {want_status}"))
        for stream, data in (("stdout", out.stdout), ("stderr", out.stderr)):
            text = data.decode("utf-8", "surrogateescape")
            m = CONTROL.search(text)
            if m:
                code = ord(m.group())
                code = code - 0xDC00 if code >= 0xDC00 else code  # a raw byte
                problems.append(("control", f"{stream} character {m.start()} is U+{code:04X}"))
        for cls, detail in problems:
            probe.failures.append(Failure(cls, case, f"{what}: {detail}", out))
        return not problems

    def probe_variant_file(self, case: Case) -> Probe:
        probe = Probe()
        path = self.path(case)
        out = self.run(["check", path])
        if not self.judge(probe, case, "check", out, 0 if case.expect_ok else None):
            return probe
        if case.line is not None:
            m = re.search(rb":(\d+):\d+: error", out.stderr)
            if not m or int(m.group(1)) != case.line:
                got = m.group(1).decode() if m else "none"
                probe.failures.append(Failure("location", case, f"check: first error on line {got}, "
                                                                f"expected line {case.line}", out))
        if out.status != 0:
            return probe
        probe.accepted = True
        ir = self.run(["emit", "--stage", "ir", path], cap=OUTPUT_CAP + 64 * len(case.data))
        if not self.judge(probe, case, "emit --stage ir", ir, 0, "emit"):
            return probe
        self.round_trip(probe, case, ir.stdout)
        variants = re.findall(rb"^variant (\S+)\n(?:  .*\n)*?  kv_cache: (\w+)", ir.stdout, re.MULTILINE)
        if not variants:
            probe.failures.append(Failure("empty", case, "check: exit 0, but emit --stage ir lists no variant", out))
            return probe
        picked = sorted({0, len(variants) // 2, len(variants) - 1})[:VARIANTS_PER_FILE]
        for i in picked:
            name, cache = variants[i][0].decode(), variants[i][1].decode()
            kinds = ["paged", "cache_write"] if cache == "paged" else ["prefill"]
            # A file's only variant needs no --variant (nor an argument past the
            # kernel's limit on one argument's length, for a name of a megabyte).
            select = ["--variant", name] if len(variants) > 1 else []
            if len(name) > MAX_ARGUMENT:
                continue
            for kind in kinds:
                flags = select + ["--kind", kind]
                src = self.run(["emit", "--stage", "src", path] + flags,
                               cap=OUTPUT_CAP + SOURCE_BYTES_PER_INPUT_BYTE * len(case.data))
                if not self.judge(probe, case, f"emit --stage src --kind {kind}", src, 0, "emit"):
                    continue
                if kind != "cache_write":  # its kernel does not depend on the variant's expressions
                    probe.targets.append(Target(case, flags))
        return probe

    def round_trip(self, probe: Probe, case: Case, ir_text: bytes) -> None:
        dsl = self.run(["emit", "--stage", "dsl", self.path(case)], cap=OUTPUT_CAP + 64 * len(case.data))
        if not self.judge(probe, case, "emit --stage dsl", dsl, 0, "round-trip"):
            return
        printed = self.path(case, ".printed")
        printed.write_bytes(dsl.stdout)
        again = self.run(["emit", "--stage", "ir", printed], cap=OUTPUT_CAP + 64 * len(case.data))
        if not self.judge(probe, case, "emit --stage ir of the printed DSL", again, 0, "round-trip"):
            return
        if again.stdout != ir_text:
            probe.failures.append(Failure("round-trip", case,
                                          f"the IR of {printed.name} differs from the input's", again))
        else:
            printed.unlink()

    def probe_config(self, case: Case) -> Probe:
        probe = Probe()
        variants = self.source_dir / "configs" / "variants"
        for file, variant, kind in [("default.attn", "llama3_gqa_causal", "prefill"),
                                    ("paged.attn", "gpt_oss_fp8_paged", "paged")]:
            out = self.run(["emit", "--stage", "src", variants / file, "--variant", variant,
                            "--kind", kind, "--config", self.path(case)])
            self.judge(probe, case, f"emit --stage src --kind {kind} --config", out,
                       0 if case.expect_ok else None)
        return probe

    def probe(self, case: Case) -> Probe:
        self.path(case).write_bytes(case.data)
        return self.probe_variant_file(case) if case.kind == "variant" else self.probe_config(case)

    def compile(self, target: Target) -> list:
        probe = Probe()
        out = self.run(["compile", self.path(target.case), "--arch", "sm_90"] + target.flags,
                       limit=COMPILE_TIME_LIMIT_S)
        if self.judge(probe, target.case, "compile", out, None):
            if out.status != 0:
                probe.failures.append(Failure("compile", target.case, f"compile: exit {out.status}", out))
            elif WARNING.search(PROGRESS.sub(b"", out.stderr)):
                probe.failures.append(Failure("warning", target.case, "compile: stderr has a warning", out))
        return probe.failures


def pick_compiles(targets: list, limit: int, rng: random.Random) -> list:
    """Preferred targets first, one per group in turn (so every position of a number
    gets its turn before any gets a second), each group alternating between its ranks
    from the highest; then the rest at random."""
    rng.shuffle(targets)
    by_group = {}
    for t in targets:
        if t.case.compile_rank:
            by_group.setdefault(t.case.group, {}).setdefault(t.case.compile_rank, []).append(t)
    queues = {}
    for group, ranks in by_group.items():
        lists = [ranks[r] for r in sorted(ranks, reverse=True)]
        queues[group] = [t for turn in itertools.zip_longest(*lists) for t in turn if t]
    groups = sorted(queues)
    rng.shuffle(groups)
    ordered = []
    while any(queues.values()):
        for group in groups:
            if queues[group]:
                ordered.append(queues[group].pop(0))
    return (ordered + [t for t in targets if not t.case.compile_rank])[:limit]


def excerpt(data: bytes, head: int = 200, tail: int = 500) -> str:
    """The start (what failed) and the end (a compiler's log ends there) of an output."""
    if len(data) <= head + tail:
        return repr(data)[2:-1]
    return repr(data[:head])[2:-1] + " ... " + repr(data[-tail:])[2:-1]


def report(failures: list, work: Path) -> str:
    lines = []
    for f in failures:
        lines.append(f"FAIL [{f.cls}] {f.case.name}: {f.what}")
        lines.append(f"     input:   {work / 'cases' / (f.case.name + f.case.suffix)}")
        lines.append(f"     command: {shlex.join(f.outcome.argv)}")
        lines.append(f"     result:  {f.outcome.describe()}")
        if f.outcome.stderr:
            lines.append(f"     stderr:  {excerpt(f.outcome.stderr)}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attnjit", required=True)
    parser.add_argument("--source-dir", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("ATTNJIT_FUZZ_SEED", "1")))
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument("--mutations", type=int, default=120, help="edits of each shipped variant file")
    parser.add_argument("--config-mutations", type=int, default=25, help="edits of each shipped config")
    parser.add_argument("--compile-limit", type=int, default=60)
    parser.add_argument("--memory-limit-mb", type=int, default=4096,
                        help="address space of each command; 0: none (sanitizers need more)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiplies every time limit (sanitizer builds run slower)")
    args = parser.parse_args()

    if args.memory_limit_mb:
        # Set on this process and inherited by every command it starts: an input that
        # makes attnjit allocate without bound fails alone instead of taking the machine.
        limit = args.memory_limit_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = random.Random(args.seed)
    cases = dsl_cases.all_cases(rng, args.source_dir, args.mutations)
    cases += config_cases.all_cases(rng, args.source_dir, args.config_mutations)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    cases = [c for c in cases if args.only in c.name]

    work = args.work_dir
    shutil.rmtree(work / "cases", ignore_errors=True)
    (work / "cases").mkdir(parents=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="attnjit-fuzz-cache-") as cache:
        env = dict(os.environ, ATTNJIT_CACHE_DIR=cache)
        # Sanitizer findings end the process by a signal, so they cannot pass for exit 1.
        env.setdefault("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=0")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:abort_on_error=1:print_stacktrace=1")
        suite = Suite(args.attnjit, args.source_dir, work, env, args.time_scale)
        print(f"fuzz: seed {args.seed}, {len(cases)} inputs, {args.jobs} jobs", flush=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            probes = list(pool.map(suite.probe, cases))
        checked = time.monotonic() - start
        targets = [t for p in probes for t in p.targets]
        sample = pick_compiles(targets, args.compile_limit, random.Random(args.seed))
        print(f"fuzz: {sum(p.accepted for p in probes)} accepted, {len(targets)} kernels emitted "
              f"in {checked:.1f} s; compiling {len(sample)} for sm_90:", flush=True)
        print("  " + " ".join(t.case.name for t in sample), flush=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            compiled = list(pool.map(suite.compile, sample))

    failures = [f for p in probes for f in p.failures] + [f for fs in compiled for f in fs]
    failed_cases = {f.case.name for f in failures}
    for c in cases:  # keep only the inputs a failure names
        if c.name not in failed_cases:
            suite.path(c).unlink(missing_ok=True)
    text = report(failures, work)
    (work / "failures.txt").write_text(text + "\n")
    if text:
        print(text)
    print(f"fuzz: {len(cases)} inputs, {len(sample)} compiles, {time.monotonic() - start:.1f} s; "
          f"{len(failures)} failures in {len(failed_cases)} inputs (seed {args.seed})")
    for cls, meaning in CLASSES.items():
        count = sum(f.cls == cls for f in failures)
        if count:
            print(f"  {cls:10} {count:5}  {meaning}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
