"""Tuning-config inputs (given with --config): numbers at their edges and values of
the wrong type at every key, deep nesting, control characters in keys and strings,
and random edits of the shipped configs."""
import json
import random
from pathlib import Path

from case import Case
from mutate import mutate

# JSON spellings: integers past int32/int64/uint64, floats past the double range,
# integral floats, signed zero, and every other JSON type.
VALUES = [
    "0", "-0", "-1", "1", "64.0", "64.5", "1e-300", "1e300", "-1e300", "1e400",
    "2147483647", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "18446744073709551615", "18446744073709551616", "1" + "0" * 400,
    '"64"', "null", "true", "[]", "{}", "[64]", '{"BLOCK_M": 64}',
]

# Where a value can go, as a path into the shipped sm_90 table.
PATHS = [
    ("prefill", "default", "BLOCK_M"), ("prefill", "default", "BLOCK_N"),
    ("prefill", "default", "num_warps"), ("prefill", "default", "num_stages"),
    ("paged", "default", "num_splits"), ("paged_decode", "buckets", 1, "config", "min_blocks_per_sm"),
    ("prefill", "buckets", 0, "head_dim_min"), ("prefill", "buckets", 0, "head_dim_max"),
    ("prefill", "buckets", 0, "sliding_window"), ("prefill", "buckets", 0, "config"),
    ("prefill", "buckets"), ("prefill", "default"), ("paged",), ("arch",),
]

PLACEHOLDER = "@@value@@"


def with_value(table: dict, path: tuple, raw: str) -> bytes:
    """The table with the value at `path` replaced by the raw JSON text `raw`."""
    copy = json.loads(json.dumps(table))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = PLACEHOLDER
    return json.dumps(copy, indent=1).replace(f'"{PLACEHOLDER}"', raw).encode()


def structure_cases(table: dict) -> list:
    deep = 100_000
    texts = {
        "deep-arrays": "[" * deep + "]" * deep,
        "deep-objects": '{"a":' * deep + "1" + "}" * deep,
        "deep-unclosed": "[" * deep,
        "deep-in-kind": with_value(table, ("prefill",), "[" * deep + "]" * deep).decode(),
        "deep-in-block-m": with_value(table, ("prefill", "default", "BLOCK_M"), "[" * deep + "]" * deep).decode(),
        "deep-in-buckets": with_value(table, ("prefill", "buckets"), "[" * deep + "]" * deep).decode(),
        "deep-in-key": with_value(table, ("prefill", "default", "BLOCK_M"), '{"x":' * deep + "1" + "}" * deep).decode(),
        "many-buckets": with_value(table, ("prefill", "buckets"), json.dumps([table["prefill"]["buckets"][0]] * 10_000)).decode(),
        "long-key": with_value(table, ("prefill", "default", "x" * 2_000_000), "1").decode(),
        "long-string": with_value(table, ("arch",), '"' + "s" * 2_000_000 + '"').decode(),
        "long-unknown-kind": with_value(table, ("k" * 2_000_000,), "{}").decode(),
        "dup-keys": '{"arch": "sm_90", "arch": "sm_80"' + ', "prefill": {}' * 1000 + "}",
        "empty": "", "blank": " \n\t", "bom": "\ufeff" + json.dumps(table), "null": "null",
        "array": "[]", "number": "1e400", "string": '"sm_90"', "object": "{}",
        "arch-only": '{"arch": "sm_90"}', "arch-number": '{"arch": 90}',
        "arch-long": '{"arch": "sm_' + "9" * 100_000 + '"}',
        "truncated": json.dumps(table)[:200],
    }
    cases = [Case(f"cfg-{name}", text.encode("utf-8"), kind="config", group="cfg-structure")
             for name, text in texts.items()]
    controls = {"esc": "\\u001b]0;owned\\u0007", "clear": "\\u001b[2J", "nul": "\\u0000",
                "csi8": "\\u009b", "del": "\\u007f", "cr": "\\r"}
    for name, seq in controls.items():
        for where, text in {
            "key": with_value(table, ("prefill", "default", PLACEHOLDER + "k"), "1").decode()
            .replace(PLACEHOLDER, seq),
            "kind": with_value(table, (PLACEHOLDER + "kind",), "{}").decode().replace(PLACEHOLDER, seq),
            "arch": with_value(table, ("arch",), f'"sm_90{seq}"').decode(),
            "value": with_value(table, ("prefill", "default", "BLOCK_M"), f'"{seq}"').decode(),
        }.items():
            cases.append(Case(f"cfg-ctl-{where}-{name}", text.encode(), kind="config", group="cfg-control"))
    # Raw control bytes are invalid JSON; the parser's message quotes what it read.
    for name, raw in {"esc": "\x1b]0;owned\x07", "nul": "\x00", "csi8": "\x9b"}.items():
        text = json.dumps(table).replace('"sm_90"', f'"sm_90{raw}"').encode("utf-8")
        cases.append(Case(f"cfg-raw-{name}", text, kind="config", group="cfg-control"))
    return cases


def all_cases(rng: random.Random, source_dir: Path, mutations: int) -> list:
    real = source_dir / "configs" / "sm_90.json"
    table = json.loads(real.read_text())
    cases = [Case("cfg-real-sm-90", real.read_bytes(), kind="config", group="cfg-real", expect_ok=True)]
    for p, path in enumerate(PATHS):
        label = "-".join(str(k) for k in path).replace("_", "-")
        for v, raw in enumerate(VALUES):
            cases.append(Case(f"cfg-{label}-{v:02d}", with_value(table, path, raw), kind="config",
                              group=f"cfg-{label}"))
    cases += structure_cases(table)
    numbers = [v for v in VALUES if not v.startswith(("[", "{"))]
    tokens = [t.encode() for t in ["[", "]", "{", "}", ",", ":", '"', "\\", "\\u0000", "null",
                                   "1e400", "-", "[[[[[[[[", '"BLOCK_M": 1,', "\n"]]
    for path in sorted((source_dir / "configs").glob("sm_*.json")):
        data = path.read_bytes()
        for i in range(mutations):
            cases.append(Case(f"cfg-mut-{path.stem.replace('_', '-')}-{i:03d}",
                              mutate(rng, data, tokens, numbers), kind="config", group="cfg-mut"))
    return cases
