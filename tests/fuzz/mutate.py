"""Random edits of a real input file: a few byte or line edits each, from one seeded
random generator so that a seed names the same inputs on every machine."""
import random
import re

# Bytes that mean something to a lexer or to a terminal.
INTERESTING_BYTES = b"\x00\x07\x08\t\n\x0b\x0c\r\x1b\x7f\x80\x9b\xc2\xff" + b"(){}[];:,=+-*/%<>!&|#._0159eE\"'\\ "

NUMBER = re.compile(rb"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")


def _line_spans(data: bytes) -> list:
    spans, start = [], 0
    for i, b in enumerate(data):
        if b == 0x0A:
            spans.append((start, i + 1))
            start = i + 1
    if start < len(data):
        spans.append((start, len(data)))
    return spans


def mutate(rng: random.Random, data: bytes, tokens: list, numbers: list) -> bytes:
    """Applies one to four edits; `tokens` are inserted whole, `numbers` replace a
    number of the input (so edits reach the positions numbers take in real files)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["flip", "replace", "insert", "delete", "dup_line", "drop_line",
                         "swap_lines", "token", "number", "truncate"])
        pos = rng.randrange(len(out) + 1)
        if op == "flip" and out:
            i = min(pos, len(out) - 1)
            out[i] ^= 1 << rng.randrange(8)
        elif op == "replace" and out:
            i = min(pos, len(out) - 1)
            out[i] = rng.choice(INTERESTING_BYTES) if rng.random() < 0.7 else rng.randrange(256)
        elif op == "insert":
            n = rng.randint(1, 4)
            out[pos:pos] = bytes(rng.choice(INTERESTING_BYTES) if rng.random() < 0.7
                                 else rng.randrange(256) for _ in range(n))
        elif op == "delete":
            del out[pos:pos + rng.randint(1, 16)]
        elif op in ("dup_line", "drop_line", "swap_lines"):
            spans = _line_spans(bytes(out))
            if not spans:
                continue
            a, b = rng.choice(spans)
            if op == "dup_line":
                out[b:b] = out[a:b]
            elif op == "drop_line":
                del out[a:b]
            else:
                c, d = rng.choice(spans)
                if (a, b) != (c, d):
                    (a, b), (c, d) = sorted([(a, b), (c, d)])
                    out[a:d] = out[c:d] + out[b:c] + out[a:b]
        elif op == "token":
            out[pos:pos] = rng.choice(tokens)
        elif op == "number":
            found = list(NUMBER.finditer(bytes(out)))
            if found:
                m = rng.choice(found)
                out[m.start():m.end()] = rng.choice(numbers).encode()
        elif op == "truncate":
            del out[pos:]
    return bytes(out)
