#!/usr/bin/env python3
"""The tensor-core loops of a kernel's SASS, to see what a template change did to them.

Reads `cuobjdump -sass` output (a file, or - for standard input). For each kernel
function it prints every loop (a backward branch) that holds tensor-core instructions
(HGMMA, HMMA), innermost first: its address range, its instructions, its MMAs and its
local-memory operations (STL/LDL: spills). Then the function's totals. With --compare
OTHER, it also prints how the opcode counts of the innermost such loop differ between
OTHER and this file. Each file's first function is the one compared.

cuobjdump comes with the CUDA toolkit, or from the PyPI wheel nvidia-cuda-cuobjdump;
the project itself does not need it. Typical use:
  attnjit compile FILE --variant V --arch sm_90a --mainloop wgmma --out DIR
  cuobjdump -sass DIR/KEY.cubin > after.sass
  tools/sass/sass_loops.py after.sass --compare before.sass
"""
import argparse
import collections
import re
import sys

INSTRUCTION = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
FUNCTION = re.compile(r"^\s*Function\s*:\s*(\S+)")
BRANCH_TARGET = re.compile(r"\bBRA\b.*?0x([0-9a-f]+)")
PREDICATE = re.compile(r"^@!?U?P(?:T|\d+)\s+")
MMA_OPCODES = ("HGMMA", "HMMA")
LOCAL_MEMORY_OPCODES = ("STL", "LDL")


def opcode(text):
    """The instruction's opcode with its modifiers (HGMMA.64x128x16.F32), no predicate."""
    return PREDICATE.sub("", text).split()[0]


def functions(lines):
    """[(name, [(address, text)])] in the order of the listing."""
    out = []
    for line in lines:
        m = FUNCTION.match(line)
        if m:
            out.append((m.group(1), []))
            continue
        m = INSTRUCTION.match(line)
        if m and out:
            out[-1][1].append((int(m.group(1), 16), m.group(2)))
    return out


def is_mma(op):
    return op.split(".")[0] in MMA_OPCODES


def is_local_memory(op):
    return op.split(".")[0] in LOCAL_MEMORY_OPCODES


def code_end(instructions):
    """The address of the last unconditional EXIT. ptxas places the retry loops of
    waits (mbarrier try_wait) after it, each jumping back into the code: those backward
    branches close no loop of the program and are left out."""
    exits = [address for address, text in instructions if text.split()[0] == "EXIT"]
    return exits[-1] if exits else None


def mma_loops(instructions):
    """Loops that hold an MMA, innermost (fewest instructions) first: (start, end, body)."""
    index = {address: i for i, (address, _) in enumerate(instructions)}
    end_of_code = code_end(instructions)
    loops = []
    for i, (address, text) in enumerate(instructions):
        m = BRANCH_TARGET.search(text)
        if not m or opcode(text).split(".")[0] != "BRA":
            continue
        if end_of_code is not None and address > end_of_code:
            continue
        target = int(m.group(1), 16)
        if target >= address or target not in index:
            continue
        body = [opcode(t) for _, t in instructions[index[target]:i + 1]]
        if any(is_mma(op) for op in body):
            loops.append((target, address, body))
    loops.sort(key=lambda loop: len(loop[2]))
    return loops


def describe(body):
    return (f"{len(body)} instructions, {sum(is_mma(op) for op in body)} MMA, "
            f"{sum(is_local_memory(op) for op in body)} local-memory")


def report(name, instructions, out):
    ops = [opcode(t) for _, t in instructions]
    out.write(f"{name}\n")
    for start, end, body in mma_loops(instructions):
        out.write(f"  loop {start:#06x}-{end:#06x}: {describe(body)}\n")
    out.write(f"  function: {describe(ops)}\n")


def innermost_histogram(instructions):
    loops = mma_loops(instructions)
    return collections.Counter(loops[0][2]) if loops else collections.Counter()


def compare(before, after, out):
    """Opcodes whose counts differ, largest change first: before, after, difference."""
    rows = [(op, before[op], after[op]) for op in set(before) | set(after) if before[op] != after[op]]
    rows.sort(key=lambda row: (-abs(row[2] - row[1]), row[0]))
    out.write(f"innermost MMA loop: {sum(before.values())} -> {sum(after.values())} instructions\n")
    for op, b, a in rows:
        out.write(f"  {op:32s} {b:5d} {a:5d} {a - b:+d}\n")


def read(path):
    with (sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")) as f:
        return f.read().splitlines()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sass", help="cuobjdump -sass output, or - for standard input")
    parser.add_argument("--compare", metavar="OTHER", help="the SASS to compare against (before)")
    args = parser.parse_args(argv)
    found = functions(read(args.sass))
    if not found:
        sys.stderr.write(f"sass_loops.py: no function in {args.sass} (expected cuobjdump -sass output)\n")
        return 2
    for name, instructions in found:
        report(name, instructions, sys.stdout)
    if args.compare:
        other = functions(read(args.compare))
        if not other:
            sys.stderr.write(f"sass_loops.py: no function in {args.compare}\n")
            return 2
        compare(innermost_histogram(other[0][1]), innermost_histogram(found[0][1]), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
