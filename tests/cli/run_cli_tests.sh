#!/bin/bash
# End-to-end checks of the attnjit command line: exit statuses, diagnostics and the
# files it writes. Usage: run_cli_tests.sh PATH/TO/attnjit SOURCE_DIR
# Each check prints "ok" or "FAIL" with the command's output; the last line is
# "N passed, M failed" and the exit status is non-zero when anything failed.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 PATH/TO/attnjit SOURCE_DIR" >&2
  exit 2
fi
ATTNJIT=$1
SRC=$2
DEFAULT_SET="$SRC/configs/variants/default.attn"
VARIANT=llama3_gqa_causal

TMP=$(mktemp -d "${TMPDIR:-/tmp}/attnjit-cli-tests.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# A fresh cache, so the first compile is a miss and the second a hit.
export ATTNJIT_CACHE_DIR="$TMP/cache"

passed=0
failed=0
last_command=""
status=0

# run CMD...: runs a command, keeping its exit status and output for the checks below.
run() {
  last_command="$*"
  "$@" >"$TMP/stdout" 2>"$TMP/stderr"
  status=$?
}

pass() {
  passed=$((passed + 1))
  echo "ok    $1"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL  $1: $2"
  echo "      command: $last_command (exit $status)"
  sed -e 's/^/      stdout: /' "$TMP/stdout" | head -20
  sed -e 's/^/      stderr: /' "$TMP/stderr" | head -20
}

# expect_status NAME WANT: the last command exited with WANT.
expect_status() {
  if [ "$status" -eq "$2" ]; then pass "$1"; else fail "$1" "exit status $status, expected $2"; fi
}

# expect_out NAME stdout|stderr REGEX: the last command's stream matches REGEX (grep -E).
expect_out() {
  if grep -Eq -- "$3" "$TMP/$2"; then pass "$1"; else fail "$1" "$2 does not match /$3/"; fi
}

# expect_no_out NAME stdout|stderr REGEX: the stream does not match.
expect_no_out() {
  if grep -Eq -- "$3" "$TMP/$2"; then fail "$1" "$2 matches /$3/"; else pass "$1"; fi
}

# --- help ---------------------------------------------------------------------------
run "$ATTNJIT" --help
expect_status "--help exits 0" 0
expect_out "--help lists the commands" stdout "usage: attnjit"
expect_out "--help names every command" stdout "compile"
for command in defaults check emit compile run; do
  run "$ATTNJIT" "$command" --help
  expect_status "$command --help exits 0" 0
  expect_out "$command --help prints usage" stdout "usage: attnjit"
  run "$ATTNJIT" "$command" -h
  expect_status "$command -h exits 0" 0
done

# --- command-line mistakes: exit 2 with a hint --------------------------------------
run "$ATTNJIT" check --bogus "$DEFAULT_SET"
expect_status "unknown flag exits 2" 2
expect_out "unknown flag is named" stderr "unknown option '--bogus'"
expect_out "unknown flag hints at --help" stderr "--help"

run "$ATTNJIT" frobnicate
expect_status "unknown command exits 2" 2

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch
expect_status "missing value exits 2" 2
expect_out "missing value is explained" stderr "'--arch' needs a value"

run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --batch two --seqlen-q 8 --seqlen-k 8
expect_status "bad number exits 2" 2
expect_out "bad number is explained" stderr "--batch: expected an integer, got 'two'"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_10
expect_status "unsupported arch exits 2" 2
expect_out "unsupported arch lists the supported ones" stderr "sm_80"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --tile 128,64
expect_status "malformed --tile exits 2" 2

run "$ATTNJIT" emit --stage src "$DEFAULT_SET"
expect_status "several variants without --variant exits 2" 2
expect_out "several variants: the names are listed" stderr "$VARIANT"

run "$ATTNJIT" emit --stage ir "$DEFAULT_SET" --variant no_such_variant
expect_status "unknown --variant exits 2" 2

run "$ATTNJIT" emit --stage bytecode "$DEFAULT_SET"
expect_status "unknown stage exits 2" 2

# --- check ----------------------------------------------------------------------------
run "$ATTNJIT" check "$DEFAULT_SET"
expect_status "check on the default set exits 0" 0
expect_out "check counts the variants" stdout "ok: 3 variants"

# A missing ';' and an unknown key in one file: exit 1, line:col and a caret.
cat >"$TMP/bad.attn" <<'ATTN'
variant broken {
  heads = 32 / 8;  head_dim = 128
  q = bf16; kv = bf16; out = bf16;
  colour = blue;
}
ATTN
run "$ATTNJIT" check "$TMP/bad.attn"
expect_status "check on a bad file exits 1" 1
expect_out "diagnostics have path:line:col: error:" stderr "bad\.attn:[0-9]+:[0-9]+: error: "
expect_out "the missing ';' is reported" stderr "bad\.attn:2:[0-9]+: error: .*';'"
expect_out "diagnostics draw a caret" stderr "^ *\^$"
expect_no_out "diagnostics go to stderr only" stdout "error:"

# Semantic errors (found after a clean parse) are all reported, each at its column.
cat >"$TMP/bad_keys.attn" <<'ATTN'
variant unknown_key {
  heads = 8 / 8;  head_dim = 64;
  q = fp16; kv = fp16; out = fp16;
  colour = blue;
  mask = causal && q_pos < kv_pos + banana;
}
ATTN
run "$ATTNJIT" check "$TMP/bad_keys.attn"
expect_status "check on a file with an unknown key exits 1" 1
expect_out "the unknown key is reported at its column" stderr "bad_keys\.attn:4:3: error: .*colour"
expect_out "the unknown name is reported too" stderr "bad_keys\.attn:5:37: error: .*banana"

run "$ATTNJIT" check "$TMP/does-not-exist.attn"
expect_status "check on a missing file exits 1" 1
expect_out "a missing file is named" stderr "does-not-exist\.attn"

# --- emit -----------------------------------------------------------------------------
run "$ATTNJIT" emit --stage ast "$DEFAULT_SET" --variant "$VARIANT"
expect_status "emit ast exits 0" 0
expect_out "emit ast shows the variant" stdout "$VARIANT"
expect_no_out "emit ast --variant shows only that variant" stdout "mha_d64_bidir"

run "$ATTNJIT" emit --stage ir "$DEFAULT_SET" --variant "$VARIANT"
expect_status "emit ir exits 0" 0
expect_out "emit ir shows the variant" stdout "$VARIANT"

run "$ATTNJIT" emit --stage dsl "$DEFAULT_SET" --variant "$VARIANT"
expect_status "emit dsl exits 0" 0
expect_out "emit dsl prints a variant declaration" stdout "variant $VARIANT"
cp "$TMP/stdout" "$TMP/round_trip.attn"
run "$ATTNJIT" check "$TMP/round_trip.attn"
expect_status "emitted DSL checks again (round trip)" 0

run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant "$VARIANT" --arch sm_80
expect_status "emit src exits 0" 0
expect_out "emit src names the kernel entry" stdout "attnjit_prefill_$VARIANT"

run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant "$VARIANT" --tile 64,64,4,2
expect_status "emit src with --tile exits 0" 0

# --- compile --------------------------------------------------------------------------
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90
expect_status "first compile exits 0" 0
expect_out "first compile is a miss" stdout "^cache +miss"
expect_out "compile prints the key" stdout "^key +prefill\.$VARIANT\."
expect_out "compile prints the size" stdout "^binary +cubin, [1-9][0-9]* bytes"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90
expect_status "second compile exits 0" 0
expect_out "second compile is a hit" stdout "^cache +hit"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_80 --out "$TMP/out"
expect_status "compile --out exits 0" 0
cubin=$(ls "$TMP"/out/*.cubin 2>/dev/null | head -1)
if [ -n "$cubin" ] && [ "$(head -c 4 "$cubin" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]; then
  pass "compile --out writes an ELF cubin"
else
  fail "compile --out writes an ELF cubin" "no DIR/*.cubin starting with \\x7fELF"
fi

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90 --ptx --out "$TMP/ptx"
expect_status "compile --ptx exits 0" 0
ptx=$(ls "$TMP"/ptx/*.ptx 2>/dev/null | head -1)
if [ -n "$ptx" ] && grep -q "^\.target sm_90" "$ptx"; then
  pass "compile --ptx writes PTX for the arch"
else
  fail "compile --ptx writes PTX for the arch" "no DIR/*.ptx with '.target sm_90'"
fi

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --cache-dir "$TMP/other-cache"
expect_status "compile --cache-dir exits 0" 0
expect_out "--cache-dir is a fresh cache" stdout "^cache +miss"

echo '{ "arch": "sm_90", "prefill": { "default": { "BLOCK_M": "big" } } }' >"$TMP/bad-config.json"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --config "$TMP/bad-config.json"
expect_status "an invalid --config exits 1" 1
expect_out "an invalid --config is named" stderr "bad-config\.json"

# --- run ------------------------------------------------------------------------------
if ! command -v nvidia-smi >/dev/null 2>&1; then
  run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --batch 1 --seqlen-q 16 --seqlen-k 16
  expect_status "run without a GPU exits 1" 1
  expect_out "run without a GPU says so" stderr "GPU"
else
  run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --batch 2 --seqlen-q 100 --seqlen-k 130 \
      --dump "$TMP/dump"
  expect_status "run on the GPU passes" 0
  expect_out "run prints PASS" stdout "^PASS"
  if [ -f "$TMP/dump/meta.json" ] && [ -f "$TMP/dump/ref_out.npy" ]; then
    pass "run --dump writes meta.json and .npy files"
  else
    fail "run --dump writes meta.json and .npy files" "missing files in $TMP/dump"
  fi
  run "$ATTNJIT" run "$DEFAULT_SET" --variant d256_causal --ragged --seqlens-q 5,17,130 \
      --seqlens-k 9,40,130
  expect_status "ragged run with LSE passes" 0
fi
run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --ragged --seqlens-q 5,17 --seqlens-k 9
expect_status "ragged lists of different lengths exit 2" 2

# --param NAME=VALUE: checked against the variant before anything runs.
cat >"$TMP/capped.attn" <<'ATTN'
variant capped {
  heads = 4 / 2;  head_dim = 64;
  q = bf16; kv = bf16; out = bf16;
  param cap : f32 = 30;
  const unused : f32 = 2;
  input slope : f32[q_heads];
  sinks = per_head;
  score = softcap(cap) + slope[q_head] * (kv_pos - q_pos);
  mask = causal;
}
ATTN
run "$ATTNJIT" run "$TMP/capped.attn" --seqlen-q 8 --seqlen-k 8 --param cpa=1
expect_status "an unknown --param name exits 2" 2
expect_out "an unknown --param lists the variant's params" stderr "variant capped has no param 'cpa' \(its params: cap\)"
run "$ATTNJIT" run "$TMP/capped.attn" --seqlen-q 8 --seqlen-k 8 --param cap
expect_status "--param without '=' exits 2" 2
expect_out "--param without '=' is explained" stderr "expected NAME=VALUE, got 'cap'"
run "$ATTNJIT" run "$TMP/capped.attn" --seqlen-q 8 --seqlen-k 8 --param cap=3x
expect_status "--param with a bad number exits 2" 2
expect_out "--param with a bad number is explained" stderr "expected a finite number after '=', got '3x'"
run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --seqlen-q 8 --seqlen-k 8 --param cap=1
expect_status "--param for a variant without params exits 2" 2
expect_out "--param for a variant without params says so" stderr "has no param 'cap' \(it has none\)"
if command -v nvidia-smi >/dev/null 2>&1; then
  run "$ATTNJIT" run "$TMP/capped.attn" --seqlen-q 70 --seqlen-k 90 --param cap=0.5 --param cap=2 \
      --dump "$TMP/capped-dump"
  expect_status "run with params, inputs and sinks passes" 0
  expect_out "run prints the params it used (the last --param wins)" stdout "^params +cap = 2 \(given\)"
  expect_out "run prints the inputs it used" stdout "^input +slope f32\[q_heads\] = .* \(random\)"
  expect_out "run prints the sinks it used" stdout "^sinks +.* \(random\)"
  if [ -f "$TMP/capped-dump/input_slope.npy" ] && [ -f "$TMP/capped-dump/sinks.npy" ] &&
     grep -q '"cap": 2' "$TMP/capped-dump/meta.json"; then
    pass "run --dump writes the runtime values"
  else
    fail "run --dump writes the runtime values" "missing input_slope.npy, sinks.npy or params in meta.json"
  fi
fi

# --- the paged kinds -------------------------------------------------------------------
cat >"$TMP/paged.attn" <<'ATTN'
variant paged_gqa {
  heads = 8 / 2;  head_dim = 128;
  q = bf16; kv = bf16; out = bf16;
  kv_cache = paged(page_size = 16, layout = NHD);
  mask = causal;
  lse = true;
}
variant paged_fp8 {
  heads = 8 / 2;  head_dim = 64;
  q = bf16; kv = fp8_e4m3 per_token_head; out = bf16;
  kv_cache = paged(page_size = 32, layout = HND);
  mask = causal;
}
ATTN
run "$ATTNJIT" check "$TMP/paged.attn"
expect_status "check on a paged variant file exits 0" 0

run "$ATTNJIT" emit --stage src "$TMP/paged.attn" --variant paged_gqa --kind paged
expect_status "emit src --kind paged exits 0" 0
expect_out "emit src --kind paged names the paged entry" stdout "attnjit_paged_paged_gqa"

run "$ATTNJIT" emit --stage src "$TMP/paged.attn" --variant paged_fp8 --kind cache_write
expect_status "emit src --kind cache_write exits 0" 0
expect_out "emit src --kind cache_write names the cache_write entry" stdout "attnjit_cache_write_paged_fp8"

run "$ATTNJIT" emit --stage src "$TMP/paged.attn" --variant paged_gqa --kind merge
expect_status "emit src --kind merge exits 0" 0
expect_out "emit src --kind merge names the merge entry" stdout "attnjit_merge_paged_gqa"

run "$ATTNJIT" emit --stage src "$TMP/paged.attn" --variant paged_gqa --kind decode
expect_status "an unknown --kind exits 2" 2
expect_out "an unknown --kind lists the kinds" stderr "prefill, paged, merge, cache_write"

run "$ATTNJIT" compile "$TMP/paged.attn" --variant paged_gqa --kind paged --arch sm_90 \
    --out "$TMP/paged-out"
expect_status "compile --kind paged exits 0" 0
expect_out "compile --kind paged prints a paged key" stdout "^key +paged\.paged_gqa\."
cubin=$(ls "$TMP"/paged-out/*.cubin 2>/dev/null | head -1)
if [ -n "$cubin" ] && [ "$(head -c 4 "$cubin" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]; then
  pass "compile --kind paged --out writes an ELF cubin"
else
  fail "compile --kind paged --out writes an ELF cubin" "no DIR/*.cubin starting with \\x7fELF"
fi

run "$ATTNJIT" compile "$TMP/paged.attn" --variant paged_fp8 --kind cache_write --arch sm_80
expect_status "compile --kind cache_write exits 0" 0
expect_out "compile --kind cache_write prints a cache_write key" stdout "^key +cache_write\.paged_fp8\."

run "$ATTNJIT" compile "$TMP/paged.attn" --variant paged_gqa --kind merge --arch sm_90
expect_status "compile --kind merge exits 0" 0

# A paged kind on a contiguous variant and the reverse: the codegen refuses, exit 1.
run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant "$VARIANT" --kind paged
expect_status "emit --kind paged on a contiguous variant exits 1" 1
expect_out "emit --kind paged on a contiguous variant says why" stderr "paged"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --kind paged --arch sm_90
expect_status "compile --kind paged on a contiguous variant exits 1" 1
expect_out "compile --kind paged on a contiguous variant says why" stderr "paged"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --kind cache_write --arch sm_90
expect_status "compile --kind cache_write on a contiguous variant exits 1" 1
expect_out "compile --kind cache_write on a contiguous variant says why" stderr "paged"
run "$ATTNJIT" compile "$TMP/paged.attn" --variant paged_gqa --arch sm_90
expect_status "compile (prefill) on a paged variant exits 1" 1
expect_out "compile (prefill) on a paged variant says why" stderr "paged"

# run --kind paged: the command line and the variant are checked before the GPU.
run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --kind paged --context 32
expect_status "run --kind paged on a contiguous variant exits 1" 1
expect_out "run --kind paged on a contiguous variant mentions paged" stderr "kv_cache = paged"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --seqlen-q 8 --seqlen-k 8
expect_status "run (prefill) on a paged variant exits 1" 1
expect_out "run (prefill) on a paged variant suggests --kind paged" stderr "--kind paged"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --context 32
expect_status "a paged flag without --kind paged exits 2" 2
expect_out "a paged flag without --kind paged says it needs --kind paged" stderr "--context is for --kind paged"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --context 32 --page-size 32
expect_status "run --kind paged with a different --page-size exits 2" 2
expect_out "a --page-size mismatch names both sizes" stderr "--page-size 32 disagrees .*page_size = 16"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --contexts 0,17,300 \
    --query-lens 1,37
expect_status "paged lists of different lengths exit 2" 2
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --contexts 0,17 --batch 3
expect_status "--batch disagreeing with --contexts exits 2" 2
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --query-len 4
expect_status "run --kind paged without --context exits 2" 2
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --context 8 --seqlen-q 4
expect_status "a prefill flag with --kind paged exits 2" 2
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --context 8 --splits 65
expect_status "--splits above 64 exits 2" 2
run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --seqlen-q 8 --seqlen-k 8 --splits 2
expect_status "--splits without --kind paged exits 2" 2
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind cache_write --context 8
expect_status "run --kind cache_write exits 2" 2
if ! command -v nvidia-smi >/dev/null 2>&1; then
  run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --batch 2 --context 40 \
      --query-len 3 --page-size 16
  expect_status "run --kind paged without a GPU exits 1" 1
  expect_out "run --kind paged without a GPU says so" stderr "GPU"
else
  run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --contexts 0,17,300 \
      --query-lens 1,1,37 --dump "$TMP/paged-dump"
  expect_status "run --kind paged on a mixed batch passes" 0
  expect_out "run --kind paged prints PASS" stdout "^PASS"
  if [ -f "$TMP/paged-dump/meta.json" ] && [ -f "$TMP/paged-dump/block_table.npy" ] &&
     [ -f "$TMP/paged-dump/k_cache.npy" ] && [ -f "$TMP/paged-dump/ref_lse.npy" ] &&
     grep -q '"page_size": 16' "$TMP/paged-dump/meta.json"; then
    pass "run --kind paged --dump writes the caches, tables and meta.json"
  else
    fail "run --kind paged --dump writes the caches, tables and meta.json" "missing files in $TMP/paged-dump"
  fi
  run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_fp8 --kind paged --batch 2 --context 200 \
      --query-len 1 --splits 4 --write-cache --fused-kv --dump "$TMP/paged-fp8-dump"
  expect_status "run --kind paged fp8 with --splits 4 --write-cache --fused-kv passes" 0
  expect_out "run --kind paged reports the forced splits" stdout "^splits +4 \(forced\)"
  if [ -f "$TMP/paged-fp8-dump/kv_cache.npy" ] && [ -f "$TMP/paged-fp8-dump/kv_scale_cache.npy" ] &&
     [ -f "$TMP/paged-fp8-dump/slot_mapping.npy" ]; then
    pass "run --kind paged --fused-kv --dump writes kv_cache and kv_scale_cache"
  else
    fail "run --kind paged --fused-kv --dump writes kv_cache and kv_scale_cache" "missing files in $TMP/paged-fp8-dump"
  fi
  run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --batch 3 --context 900 \
      --query-len 1 --splits stream
  expect_status "run --kind paged with --splits stream passes" 0
  expect_out "run --kind paged reports the stream split" stdout "^splits +stream \(forced\)"
fi

# --- the default job --------------------------------------------------------------------
run "$ATTNJIT"
expect_status "attnjit with no arguments exits 0" 0
expect_out "the default job compiles for sm_90" stdout "^sm_90 +llama3_gqa_causal +prefill\."
expect_out "the default job compiles for sm_80" stdout "^sm_80 +d256_causal +prefill\."
if command -v nvidia-smi >/dev/null 2>&1; then
  expect_out "the default job checks on the GPU" stdout "PASS"
  expect_no_out "no GPU check fails" stdout "FAIL"
else
  expect_out "the default job says why GPU checks were skipped" stdout "GPU checks skipped: "
fi

run "$ATTNJIT" defaults --arch sm_80
expect_status "defaults --arch sm_80 exits 0" 0
expect_no_out "defaults --arch sm_80 builds only sm_80" stdout "^sm_90 "

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
