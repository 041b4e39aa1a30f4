#!/bin/bash
# Hostile input files at the command line: special files, unreadable and huge files,
# deep expressions, floods of errors, control characters. Every command must end by
# itself (no hang), with exit status 0, 1 or 2 (never a signal), and print a bounded
# amount of text with no control characters from the input.
# Usage: run_input_tests.sh PATH/TO/attnjit
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 PATH/TO/attnjit" >&2
  exit 2
fi
ATTNJIT=$1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/attnjit-input-tests.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export ATTNJIT_CACHE_DIR="$TMP/cache"
ESC=$'\033'

RUN_TIME_LIMIT=60  # a command that hangs fails its check instead of the suite
source "$(dirname "$0")/checks.sh"

# expect NAME STATUS REGEX: the last command ended by itself with STATUS, its stderr
# matches REGEX (grep -E), and neither stream holds an ESC or NUL byte.
expect() {
  if [ "$status" -eq 124 ]; then fail "$1" "timed out (a hang)"; return; fi
  if [ "$status" -gt 128 ]; then fail "$1" "killed by signal $((status - 128))"; return; fi
  if [ "$status" -ne "$2" ]; then fail "$1" "exit status $status, expected $2"; return; fi
  if ! grep -Eq -- "$3" "$TMP/stderr"; then fail "$1" "stderr does not match /$3/"; return; fi
  if grep -q "$ESC" "$TMP/stdout" "$TMP/stderr" || grep -Pq '\x00' "$TMP/stdout" "$TMP/stderr"; then
    fail "$1" "a control character reached the output"
    return
  fi
  pass "$1"
}

# expect_small NAME BYTES: the last command's stderr is at most BYTES long.
expect_small() {
  local size
  size=$(wc -c <"$TMP/stderr")
  if [ "$size" -le "$2" ]; then pass "$1"; else fail "$1" "stderr has $size bytes, more than $2"; fi
}

HEAD='variant v {
  heads = 8 / 8; head_dim = 64; q = bf16; kv = bf16; out = bf16;'
printf '%s\n}\n' "$HEAD" >"$TMP/good.attn"

# --- files that are not regular, or cannot be read -----------------------------------
mkfifo "$TMP/fifo.attn"
run "$ATTNJIT" check "$TMP/fifo.attn"
expect "check FIFO: refused at once" 1 "fifo.attn: error: cannot open variant file: it is a named pipe \(FIFO\), not a regular file"
run "$ATTNJIT" emit --stage ast "$TMP/fifo.attn"
expect "emit --stage ast FIFO: refused at once" 1 "it is a named pipe"
run "$ATTNJIT" check /dev/zero
expect "check /dev/zero: refused, not read" 1 "/dev/zero: error: cannot open variant file: it is a character device"
run "$ATTNJIT" check /proc/self/mem
expect "check /proc/self/mem: the failed read is an error" 1 "cannot open variant file: a read failed: "
run "$ATTNJIT" check "$TMP"
expect "check DIR: a directory" 1 "cannot open variant file: it is a directory"
run "$ATTNJIT" emit --stage src "$TMP/good.attn" --config "$TMP"
expect "--config DIR: a directory" 1 "attnjit emit: error: .*: cannot read file: it is a directory"
run "$ATTNJIT" emit --stage src "$TMP/good.attn" --config "$TMP/fifo.attn"
expect "--config FIFO: refused at once" 1 "cannot read file: it is a named pipe"
head -c $((2 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$TMP/big.attn"
run "$ATTNJIT" check "$TMP/big.attn"
expect "check a file over the limit" 1 "cannot open variant file: it is larger than the 2 MiB limit"

# --- standard input and empty files ----------------------------------------------------
last_command="check - < good.attn"
timeout 60 "$ATTNJIT" check - <"$TMP/good.attn" >"$TMP/stdout" 2>"$TMP/stderr"
status=$?
if [ "$status" -eq 0 ] && grep -q "ok: 1 variant" "$TMP/stdout"; then pass "check - reads standard input"
else fail "check - reads standard input" "expected ok: 1 variant"; fi
: >"$TMP/empty.attn"
run "$ATTNJIT" check "$TMP/empty.attn"
expect "check an empty file" 1 "empty.attn: error: no variant in file"
run "$ATTNJIT" check -
expect "check - with nothing on standard input" 1 "<stdin>: error: no variant in file"

# --- deep, huge and flooding input -----------------------------------------------------
{ printf '%s\n  score = score' "$HEAD"; for _ in $(seq 10000); do printf ' + 1'; done; printf ';\n}\n'; } >"$TMP/chain.attn"
run "$ATTNJIT" check "$TMP/chain.attn"
expect "check a chain of 10,000 operators" 1 "chain.attn:3:1041: error: expression is nested too deeply \(more than 256 levels\)"
run "$ATTNJIT" emit --stage src "$TMP/chain.attn"
expect "emit a chain of 10,000 operators" 1 "nested too deeply"
{ printf '%s\n  score = ' "$HEAD"; head -c 1000000 /dev/zero | tr '\0' '('; printf 'score;\n}\n'; } >"$TMP/parens.attn"
run "$ATTNJIT" check "$TMP/parens.attn"
expect "check a million nested parentheses" 1 "nested too deeply"
expect_small "... and the output stays short" 2000
{ printf '%s\n' "$HEAD"; for _ in $(seq 20000); do printf '  mask = causal;\n'; done; printf '}\n'; } >"$TMP/dups.attn"
run "$ATTNJIT" check "$TMP/dups.attn"
expect "check 20,000 repeated keys" 1 "note: 19949 more errors not shown"
expect_small "... and prints at most 50 of them" 32768
if grep -q "dups.attn: 19999 errors" "$TMP/stderr"; then pass "... and counts them all"
else fail "... and counts them all" "no 'dups.attn: 19999 errors'"; fi
{ printf 'variant v { '; for _ in $(seq 200000); do printf '@ x '; done; printf '}\n'; } >"$TMP/wide.attn"
run "$ATTNJIT" check "$TMP/wide.attn"
expect "check a megabyte line of errors" 1 "more errors not shown"
expect_small "... and prints a bounded amount" 32768

# --- control characters ------------------------------------------------------------------
printf 'variant v%s]0;title\a {\n  head\0dim = 64;\n}\n' "$ESC" >"$TMP/control.attn"
run "$ATTNJIT" check "$TMP/control.attn"
expect "control characters in the file are escaped" 1 "unexpected character '\\\\x1b'"
cp "$TMP/good.attn" "$TMP/name${ESC}[2J.attn"
run "$ATTNJIT" emit --stage ir "$TMP/name${ESC}[2J.attn" --variant "x${ESC}[2J"
expect "control characters in arguments are escaped" 2 "no variant 'x\\\\x1b\[2J' in .*name\\\\x1b\[2J.attn"
run "$ATTNJIT" "bogus${ESC}[2J"
expect "an unknown command is escaped" 2 "unknown command 'bogus\\\\x1b\[2J'"

finish_checks
