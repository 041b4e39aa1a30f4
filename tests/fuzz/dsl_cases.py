"""Variant-file inputs: numbers at their edges in every position a number can take,
deep and long expressions, control characters and odd line endings, many
statements, and random edits of the real variant files."""
import random
from pathlib import Path

from case import Case
from mutate import mutate

# Written as the DSL reads them: float edges, integer widths (2^24 + 1 is the first
# integer f32 cannot hold; 2^31, 2^32, 2^63, 2^64 are where int32/int64 wrap), signed
# zero and values past the float range.
NUMBERS = [
    "0", "-0", "1", "-1", "0.5", "0.1",
    "1e-300", "-1e-300", "4.9e-324", "1e-45", "1e-38",
    "3.4028234663852886e38", "3.5e38", "1e300", "-1e300", "1.7976931348623157e308", "1e999",
    "65535", "65536", "16777217", "9007199254740993",
    "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
    "1e18", "1e19", "9223372036854775807", "9223372036854775808", "18446744073709551616",
]
# Values that have reached generated source as truncated integers (rank 2: the
# kernel computes something else) or as floats out of range (rank 1); the NVRTC
# sample takes them in that order.
COMPILE_RANK = {
    **dict.fromkeys(["16777217", "2147483648", "-2147483649", "4294967296", "1e18", "1e19",
                     "9223372036854775808", "18446744073709551616"], 2),
    **dict.fromkeys(["1e-300", "4.9e-324", "3.5e38", "1e300", "-1e300", "1.7976931348623157e308"], 1),
}


def variant(name="v", heads="32 / 8", head_dim="128", kv_cache="contiguous", decls=(),
            scale=None, score=None, mask="causal", nl="\n") -> str:
    lines = [f"variant {name} {{", f"  heads = {heads};", f"  head_dim = {head_dim};",
             "  q = bf16; kv = bf16; out = bf16;", f"  kv_cache = {kv_cache};"]
    lines += [f"  {d}" for d in decls]
    if scale is not None:
        lines.append(f"  scale = {scale};")
    if score is not None:
        lines.append(f"  score = {score};")
    if mask is not None:
        lines.append(f"  mask = {mask};")
    return nl.join(lines + ["}", ""])


# Every place a number can appear, as a function of the number's spelling.
NUMBER_POSITIONS = {
    "heads_q": lambda x: variant(heads=f"{x} / 8"),
    "heads_kv": lambda x: variant(heads=f"32 / {x}"),
    "head_dim": lambda x: variant(head_dim=x),
    "page_size": lambda x: variant(kv_cache=f"paged(page_size = {x})"),
    "scale": lambda x: variant(scale=x),
    "window_left": lambda x: variant(mask=f"causal && window({x})"),
    "window_right": lambda x: variant(mask=f"window(16, {x})"),
    "window_both": lambda x: variant(mask=f"window({x}, {x})"),
    "window_paged": lambda x: variant(kv_cache="paged(page_size = 16)", mask=f"causal && window({x})"),
    "softcap": lambda x: variant(score=f"softcap({x})"),
    "param_score": lambda x: variant(decls=[f"param p : f32 = {x};"], score="score * p"),
    "param_mask": lambda x: variant(decls=[f"param p : f32 = {x};"], mask="causal && q_pos - kv_pos < p"),
    "const_score": lambda x: variant(decls=[f"const c : f32 = {x};"], score="score + c"),
    "const_mask": lambda x: variant(decls=[f"const c : f32 = {x};"], mask="causal && q_pos - kv_pos < c"),
    "score_mul": lambda x: variant(score=f"score * {x}"),
    "score_positions": lambda x: variant(score=f"score + (q_pos - kv_pos) * {x}"),
    "score_exp": lambda x: variant(score=f"score + exp({x})"),
    "score_log_sqrt": lambda x: variant(score=f"score + log({x}) + sqrt({x})"),
    "score_div": lambda x: variant(score=f"score + q_pos / {x} + kv_pos % {x}"),
    "mask_band": lambda x: variant(mask=f"q_pos - kv_pos < {x}"),
    "mask_prefix": lambda x: variant(mask=f"causal || kv_pos < {x}"),
    "mask_product": lambda x: variant(mask=f"causal && (q_pos * {x} + kv_pos) % 7 != 0"),
    "mask_modulo": lambda x: variant(mask=f"causal && kv_pos % {x} != 1"),
    "mask_divide": lambda x: variant(mask=f"causal && kv_pos / {x} <= q_pos"),
    # Where a number is the wrong kind of value.
    "lse": lambda x: variant(decls=[f"lse = {x};"]),
    "dtype": lambda x: variant().replace("kv = bf16", f"kv = {x}"),
    "layout": lambda x: variant(kv_cache=f"paged(layout = {x})"),
    "index": lambda x: variant(decls=["input s : f32[q_heads];"], score=f"score + s[{x}]"),
}


def number_cases() -> list:
    cases = []
    for group, make in NUMBER_POSITIONS.items():
        for i, x in enumerate(NUMBERS):
            cases.append(Case(f"num-{group}-{i:02d}", make(x).encode(), group=f"num-{group}",
                              compile_rank=COMPILE_RANK.get(x, 0)))
    return cases


def _chain(head: str, op: str, term: str, n: int) -> str:
    return head + f" {op} {term}" * n


def deep_cases() -> list:
    n, deep = 10_000, 100_000
    chains = {
        "chain-add": variant(score=_chain("score", "+", "1", n)),
        "chain-sub": variant(score=_chain("score", "-", "q_pos", n)),
        "chain-mul": variant(score=_chain("score", "*", "1.0001", n)),
        "chain-div": variant(score=_chain("score", "/", "1.0001", n)),
        "chain-mod": variant(score=_chain("score", "%", "7", n)),
        "chain-and": variant(mask=_chain("causal", "&&", "kv_pos >= 0", n)),
        "chain-or": variant(mask=_chain("causal", "||", "kv_pos == 3", n)),
        "chain-band": variant(mask=_chain("q_pos - kv_pos", "-", "1", n) + " < 5"),
        "chain-const": variant(decls=[f"const c : f32 = {_chain('1', '+', '1', n)};"], score="score + c"),
        "chain-param": variant(decls=[f"param p : f32 = {_chain('1', '*', '1', n)};"], score="score * p"),
        "chain-scale": variant(scale=_chain("0.125", "*", "1", n)),
        "chain-window": variant(mask=f"causal && window({_chain('1', '+', '1', n)})"),
        "chain-25x": variant(score=_chain("score", "+", "1", 250_000)),
        "chain-cmp": variant(mask=_chain("q_pos", "<", "kv_pos", n)),
        "chain-eq": variant(mask=_chain("causal", "==", "causal", n)),
    }
    nests = {
        "parens": variant(score="(" * deep + "score" + ")" * deep),
        "parens-unclosed": variant(score="(" * deep + "score"),
        "parens-closing": variant(score="score" + ")" * deep),
        "parens-right": variant(score="score + (1" * deep + ")" * deep),
        "neg-spaced": variant(score="- " * deep + "score"),
        "neg-packed": variant(score="-" * deep + "score"),
        "not": variant(mask="!" * deep + "causal"),
        "neg-parens": variant(score="-(" * deep + "score" + ")" * deep),
        "tanh": variant(score="tanh(" * deep + "score" + ")" * deep),
        "min": variant(score="min(score, " * deep + "score" + ")" * deep),
        "select": variant(score="select(causal, score, " * deep + "score" + ")" * deep),
        "index": variant(decls=["input s : f32[q_heads];"], score="score + " + "s[" * deep + "q_head" + "]" * deep),
        "braces": "variant v " + "{" * deep,
        "brackets": variant(score="score[" * deep + "1"),
    }
    # Accepted chains also go through NVRTC: compile time must stay reasonable too.
    cases = [Case(name, text.encode(), group="deep", compile_rank=int(name in chains))
             for name, text in {**chains, **nests}.items()]
    # Around the documented nesting limit (200 levels) and well inside it; what is
    # accepted also goes through NVRTC.
    for levels in (50, 199, 200, 201):
        at_limit = {
            f"limit-parens-{levels}": variant(score="(" * levels + "score" + ")" * levels),
            f"limit-neg-{levels}": variant(score="-" * levels + "score"),
            f"limit-not-{levels}": variant(mask="!" * levels + "causal"),
            f"limit-tanh-{levels}": variant(score="tanh(" * levels + "score" + ")" * levels),
        }
        cases += [Case(name, text.encode(), group="limit", compile_rank=int(levels < 200))
                  for name, text in at_limit.items()]
    # A balanced tree: shallow (depth 14) but 16384 leaves.
    tree = "score"
    for _ in range(14):
        tree = f"({tree} + {tree})"
    cases.append(Case("tree-16384", variant(score=tree).encode(), group="deep"))
    return cases


def long_cases() -> list:
    n = 20_000
    body = "  heads = 32 / 8; head_dim = 128; q = bf16; kv = bf16; out = bf16;\n"
    texts = {
        "dup-keys": "variant v {\n" + body + "  mask = causal;\n" * n + "}\n",
        "unknown-keys": "variant v {\n" + body + "".join(f"  key{i} = 1;\n" for i in range(n)) + "}\n",
        "syntax-errors": "variant v {\n" + body + "  q = ;\n" * n + "}\n",
        "params": "variant v {\n" + body + "".join(f"  param p{i} : f32 = {i};\n" for i in range(n)) + "}\n",
        "inputs": "variant v {\n" + body + "".join(f"  input i{i} : f32[seqs];\n" for i in range(n)) + "}\n",
        "unknown-names": variant(score="score" + "".join(f" + u{i}" for i in range(n))),
        "dup-variants": "".join(variant(name="v") for _ in range(2_000)),
        "many-variants": "".join(variant(name=f"v{i}") for i in range(5_000)),
        "long-line-error": variant(score="score" + " + 1" * 250_000 + " $"),
        "long-line-errors": variant(score="score" + " + $" * 250_000),
        "long-comment": "#" + "x" * 1_000_000 + "\n" + variant(),
        "name-10000": variant(name="n" * 10_000),
        "name-1000000": variant(name="n" * 1_000_000),
        "digits-int": variant(head_dim="1" + "0" * 100_000),
        "digits-frac": variant(scale="0." + "0" * 100_000 + "1"),
        "digits-exp": variant(scale="1e" + "9" * 10_000),
        "digits-mask": variant(mask="q_pos - kv_pos < " + "9" * 400),
        "empty": "",
        "blank": " \n\t\n" * 1000,
        "comments-only": "# nothing\n// here\n" * 100,
    }
    cases = [Case(name, text.encode(), group="long") for name, text in texts.items()]
    # Names long enough for a cache file name to pass the usual 255-byte limit.
    for length in (200, 255, 300):
        cases.append(Case(f"name-{length}", variant(name="n" * length).encode(), group="long-name",
                          compile_rank=1))
    return cases


CONTROL_SEQUENCES = {
    "nul": "\x00", "esc": "\x1b", "title": "\x1b]0;owned\x07", "clear": "\x1b[2J\x1b[H",
    "color": "\x1b[31m", "bel": "\x07", "bs": "\x08", "vt": "\x0b", "ff": "\x0c", "cr": "\r",
    "del": "\x7f", "csi8": "\x9b", "csi8-utf8": "\u009b", "rlo": "\u202e", "bom": "\ufeff",
}
# Where a control sequence `{C}` can sit; most are errors that echo their source line.
CONTROL_POSITIONS = {
    "name": lambda c: variant(name=f"v{c}x"),
    "key": lambda c: variant().replace("head_dim", f"head{c}_dim"),
    "value": lambda c: variant(kv_cache=f"cont{c}iguous"),
    "number": lambda c: variant(head_dim=f"1{c}28"),
    "expression": lambda c: variant(mask=f"causal && {c}kv_pos < 3"),
    "comment": lambda c: f"# note {c} here\n" + variant(),
    "comment-after-error": lambda c: variant(head_dim=f"12x; # {c}"),
    "line-of-error": lambda c: variant(head_dim=f"1000; # {c}"),
    "file-start": lambda c: c + variant(),
    "between-variants": lambda c: variant(name="a") + c + variant(name="b"),
}


def control_cases() -> list:
    cases = []
    for pos, make in CONTROL_POSITIONS.items():
        for seq_name, seq in CONTROL_SEQUENCES.items():
            data = make(seq).encode("utf-8")
            if seq_name == "csi8":  # a raw 0x9b byte, not its UTF-8 encoding
                data = make("\udc9b").encode("utf-8", "surrogateescape")
            cases.append(Case(f"ctl-{pos}-{seq_name}", data, group="control"))
    cases.append(Case("ctl-invalid-utf8", variant(name="v\udcff\udcfe").encode("utf-8", "surrogateescape"),
                      group="control"))
    return cases


def line_ending_cases() -> list:
    """Each file has its first error on line 5 (head_dim 1000), after a comment; the
    diagnostic must say line 5 whatever the line endings."""
    text = "# a comment\n// another\n" + variant(head_dim="1000")
    assert text.split("\n")[4].strip() == "head_dim = 1000;"
    valid = "# a comment\n// another\n" + variant()
    cases = []
    # (LF CR is left out: whether its CR is a second line break is a choice.)
    for name, nl in {"cr": "\r", "crlf": "\r\n"}.items():
        cases.append(Case(f"eol-{name}-error", text.replace("\n", nl).encode(), group="eol", line=5))
        cases.append(Case(f"eol-{name}-valid", valid.replace("\n", nl).encode(), group="eol",
                          expect_ok=True))
    mixed = text.split("\n")
    mixed_text = "".join(line + ("\r", "\r\n", "\n")[i % 3] for i, line in enumerate(mixed[:-1]))
    cases.append(Case("eol-mixed-error", mixed_text.encode(), group="eol", line=5))
    return cases


# Tokens the mutator inserts whole.
TOKENS = [t.encode() for t in [
    "(", ")", "{", "}", "[", "]", ";", ",", "=", "-", "!", "&&", "||", "%", "/", "#", "//", "\n",
    "variant", "score", "q_pos", "kv_pos", "select(", "window(4294967296)", "causal", "param",
    "const", "input", "1e308", "0", "-0", "((((((((", "))))))))", "paged(page_size = 4294967296)",
    " && window(1e18)", " * 1e300", " % 0", " / q_pos", "softcap(1e-300)",
]]


def mutation_cases(rng: random.Random, source_dir: Path, per_real: int, per_case: int) -> list:
    """Seeds: the shipped variant files (the real ones) and the accepted test cases
    (every feature of the language)."""
    real = sorted((source_dir / "configs" / "variants").glob("*.attn"))
    extra = sorted((source_dir / "tests" / "front" / "cases").glob("ok_*.attn"))
    cases = []
    for path, count in [(p, per_real) for p in real] + [(p, per_case) for p in extra]:
        data = path.read_bytes()
        stem = path.stem.replace("_", "-")
        if path in real:
            cases.append(Case(f"real-{stem}", data, group="real", expect_ok=True))
        for i in range(count):
            cases.append(Case(f"mut-{stem}-{i:03d}", mutate(rng, data, TOKENS, NUMBERS),
                              group=f"mut-{stem}"))
    return cases


def all_cases(rng: random.Random, source_dir: Path, mutations: int) -> list:
    return (number_cases() + deep_cases() + long_cases() + control_cases() + line_ending_cases()
            + mutation_cases(rng, source_dir, mutations, max(1, mutations // 6)))
