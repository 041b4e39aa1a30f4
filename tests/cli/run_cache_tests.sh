#!/bin/bash
# End-to-end checks of `attnjit cache path|ls|verify|prune|clear` on a cache holding
# good entries (compiled with NVRTC), corrupt ones (a flipped byte, a truncated file,
# another key's entry), an old-format entry, an entry with a long (hashed) name, temp
# and lock files old and new, files of someone else, and AOT directories.
# Usage: run_cache_tests.sh PATH/TO/attnjit SOURCE_DIR
# Each check prints "ok" or "FAIL" with the command's output; the last line is
# "N passed, M failed" and the exit status is non-zero when anything failed.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 PATH/TO/attnjit SOURCE_DIR" >&2
  exit 2
fi
ATTNJIT=$1
SRC=$2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/attnjit-cache-tests.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
CACHE="$TMP/cache"
AOT="$TMP/aot"
export ATTNJIT_CACHE_DIR="$CACHE"
unset ATTNJIT_AOT_DIR

RUN_TIME_LIMIT=120  # a command that hangs fails its check instead of the suite
source "$(dirname "$0")/checks.sh"

# expect_json NAME: stdout is one JSON document.
expect_json() {
  if python3 -m json.tool "$TMP/stdout" >/dev/null 2>"$TMP/json-error"; then
    pass "$1"
  else
    fail "$1" "stdout is not JSON: $(head -c 300 "$TMP/json-error")"
  fi
}

# expect_json_value NAME EXPR WANT: the Python expression EXPR over the JSON document
# `d` on stdout prints WANT.
expect_json_value() {
  local got
  got=$(python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" \
        "$TMP/stdout" 2>&1)
  if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "$2 is '$got', expected '$3'"; fi
}

# expect_file NAME PATH / expect_no_file NAME PATH: PATH exists (or not).
expect_file() {
  if [ -e "$2" ]; then pass "$1"; else fail "$1" "$2 does not exist"; fi
}
expect_no_file() {
  if [ -e "$2" ] || [ -L "$2" ]; then fail "$1" "$2 still exists"; else pass "$1"; fi
}

# The one entry file of the cache whose name matches the glob PATTERN.
entry_like() {
  local files=("$CACHE"/$1)
  echo "${files[0]}"
}

# --- an empty cache -----------------------------------------------------------------
run "$ATTNJIT" cache path
expect_status "cache path exits 0" 0
expect_out "cache path names the JIT cache and what chose it" stdout \
  "^jit  .*/cache  \(\\\$ATTNJIT_CACHE_DIR; does not exist\)$"
expect_text "cache path prints the directory" stdout "$CACHE"

run "$ATTNJIT" cache path --cache-dir "$TMP/other"
expect_out "cache path --cache-dir wins over \$ATTNJIT_CACHE_DIR" stdout "^jit  .*/other  \(--cache-dir; does not exist\)$"

ATTNJIT_AOT_DIR="$TMP/a1::$TMP/a2" run "$ATTNJIT" cache path --aot-dir "$TMP/a0"
expect_count "cache path lists --aot-dir and each item of \$ATTNJIT_AOT_DIR" stdout "^aot  " 3
expect_out "cache path lists --aot-dir first" stdout "^aot  .*/a0  \(--aot-dir; does not exist\)$"
expect_out "cache path lists \$ATTNJIT_AOT_DIR items" stdout "^aot  .*/a2  \(\\\$ATTNJIT_AOT_DIR; does not exist\)$"

run "$ATTNJIT" cache path --json
expect_json "cache path --json is JSON"
expect_json_value "cache path --json names the JIT cache" "d['jit']['path'], d['jit']['exists']" \
  "$CACHE False"

run "$ATTNJIT" cache ls
expect_status "cache ls of a cache not made yet exits 0" 0
expect_out "cache ls says the cache does not exist" stdout "^jit .*/cache: does not exist$"

run "$ATTNJIT" cache verify
expect_status "cache verify of a cache not made yet exits 0" 0

run "$ATTNJIT" cache clear
expect_status "cache clear of a cache not made yet exits 0" 0

# --- fill the cache ------------------------------------------------------------------
DEFAULT_SET="$SRC/configs/variants/default.attn"
LONG_NAME=$(printf 'v%.0s' $(seq 1 170))
printf 'variant %s {\n  heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;\n  kv_cache = contiguous; mask = causal;\n}\n' \
  "$LONG_NAME" >"$TMP/long.attn"
for arch in sm_80 sm_90; do
  run "$ATTNJIT" compile "$DEFAULT_SET" --variant llama3_gqa_causal --arch "$arch"
  expect_status "compile llama3_gqa_causal for $arch fills the cache" 0
done
run "$ATTNJIT" compile "$TMP/long.attn" --arch sm_80
expect_status "compile a variant with a 170-character name" 0
LONG_KEY=$(sed -n 's/^key *//p' "$TMP/stdout")

GOOD80=$(entry_like 'prefill.llama3_gqa_causal.*sm_80*.entry')
GOOD90=$(entry_like 'prefill.llama3_gqa_causal.*sm_90*.entry')
LONG=$(entry_like "prefill.vvvv*.entry")
if [ ! -f "$GOOD80" ] || [ ! -f "$GOOD90" ] || [ ! -f "$LONG" ] || [ -z "$LONG_KEY" ]; then
  echo "FAIL  the compiles did not leave the expected entries; ls $CACHE:"
  ls "$CACHE"
  exit 1
fi
expect_out "the long key's entry has a hashed name, not the key" stdout "^key +prefill\.v{170}\."
if [ "$(basename "$LONG" .entry)" != "$LONG_KEY" ]; then pass "the long key is not its file name"
else fail "the long key is not its file name" "$LONG"; fi

# Corrupt entries: a flipped byte in a copy under a name of its own, a truncated copy,
# and a good entry under another key's name.
FLIPPED="$CACHE/prefill.flipped.bf16.h8x8.d64.causal.sm_80.m64n64w4s2-00000000000000aa.entry"
cp "$GOOD80" "$FLIPPED"
printf '\x55' | dd of="$FLIPPED" bs=1 seek=2000 conv=notrunc status=none
TRUNCATED="$CACHE/paged.truncated.bf16.h8x8.d64.causal.p16nhd.sm_90.m64n64w4s2-00000000000000bb.entry"
head -c 3000 "$GOOD90" >"$TRUNCATED"
SUBSTITUTED="$CACHE/prefill.substituted.bf16.h8x8.d64.causal.sm_90.m64n64w4s2-00000000000000cc.entry"
cp "$GOOD90" "$SUBSTITUTED"
# An entry of format version 1, as an older attnjit wrote them.
STALE="$CACHE/merge.old.bf16.d64.sm_90.w4-00000000000000dd.entry"
printf 'ATTNJITK\x01\x00\x00\x00\x00\x00\x00\x00' >"$STALE"
# Temp files: one abandoned an hour ago, one being written now. Lock files: an old idle
# one, an old one a process holds (below), and those the compiles left (new).
touch "$CACHE/k.tmp.4242.0a1b2c3d0" "$CACHE/k.tmp.4243.0a1b2c3d1" "$CACHE/old.lock" \
      "$CACHE/held.lock"
touch -d '1 hour ago' "$CACHE/k.tmp.4242.0a1b2c3d0" "$CACHE/old.lock" "$CACHE/held.lock"
# Someone else's files: a directory moved aside by the cache, and notes.
mkdir "$CACHE/x.entry.aside.1.ff"
echo keep >"$CACHE/x.entry.aside.1.ff/inside.entry"
echo keep >"$CACHE/notes.txt"
# An AOT directory with one good entry: the kernel one compile built, recorded and
# built ahead of time.
ATTNJIT_AOT_RECORD="$TMP/recorded.jsonl" run "$ATTNJIT" compile "$DEFAULT_SET" \
  --variant llama3_gqa_causal --arch sm_80
expect_status "a compile with \$ATTNJIT_AOT_RECORD set exits 0" 0
run "$ATTNJIT" aot build --kernels "$TMP/recorded.jsonl" --out "$AOT"
expect_status "aot build of the recorded kernel exits 0" 0
AOT_BINARY=$(ls "$AOT"/*.cubin)

# --- ls --------------------------------------------------------------------------------
run "$ATTNJIT" cache ls --aot-dir "$AOT"
expect_status "cache ls exits 0 on a cache with bad entries" 0
expect_out "cache ls has a header" stdout "^STATUS +KIND +TARGET +FORMAT +SIZE +AGE +FROM +KEY$"
expect_out "cache ls shows a good sm_80 entry" stdout \
  "^ok +prefill +sm_80 +cubin +[0-9.]+ KiB +[0-9]+s +jit +prefill\.llama3_gqa_causal\.[^ ]*\.sm_80\.[^ ]*-[0-9a-f]{16}$"
expect_out "cache ls shows a good sm_90 entry" stdout "^ok +prefill +sm_90 +cubin .* jit +prefill\.llama3_gqa_causal\."
expect_text "cache ls shows the long key whole" stdout " jit  $LONG_KEY"
expect_out "cache ls shows the stale entry by its file name" stdout \
  "^stale +merge +sm_90 +\? +[0-9]+ B .* jit +merge\.old\.bf16\.d64\.sm_90\.w4-00000000000000dd \(file name\)$"
expect_count "cache ls shows the three corrupt entries" stdout "^corrupt " 3
expect_out "cache ls shows a corrupt entry by its file name" stdout \
  "^corrupt +paged +sm_90 +\? .* jit +paged\.truncated\.[^ ]* \(file name\)$"
expect_out "cache ls shows the AOT entry" stdout "^ok +prefill +sm_80 +cubin .* aot +prefill\.llama3_gqa_causal\."
expect_out "cache ls sums up the JIT cache" stdout \
  "^jit .*/cache: 7 entries \(3 ok, 1 stale, 3 corrupt\), [0-9.]+ KiB; 5 lock files, 2 temp files, 2 other files$"
expect_out "cache ls sums up the AOT directory" stdout "^aot .*/aot: 1 entry \(1 ok, 0 stale, 0 corrupt\)"

run "$ATTNJIT" cache ls --json --aot-dir "$AOT"
expect_status "cache ls --json exits 0" 0
expect_json "cache ls --json is JSON"
expect_json_value "cache ls --json lists every entry" "len(d['entries'])" 8
expect_json_value "cache ls --json gives each status" \
  "sorted((e['origin'], e['status']) for e in d['entries'])" \
  "[('aot', 'ok'), ('jit', 'corrupt'), ('jit', 'corrupt'), ('jit', 'corrupt'), ('jit', 'ok'), ('jit', 'ok'), ('jit', 'ok'), ('jit', 'stale')]"
expect_json_value "cache ls --json has the long key whole" \
  "[e['key'] for e in d['entries'] if e['key'].startswith('prefill.vvv')] == ['$LONG_KEY']" True
expect_json_value "cache ls --json gives kind, target, size and age" \
  "[(e['kind'], e['target'], e['size'] > 1000, e['age_seconds'] >= 0) for e in d['entries'] if e['path'] == '$GOOD90']" \
  "[('prefill', 'sm_90', True, True)]"
expect_json_value "cache ls --json counts the side files" \
  "[(x['lock_files'], x['temp_files'], x['other_files']) for x in d['directories']]" "[(5, 2, 2), (0, 0, 0)]"

ATTNJIT_AOT_DIR="$AOT:$TMP/missing-aot" run "$ATTNJIT" cache ls
expect_status "cache ls with a missing AOT directory exits 1" 1
expect_out "cache ls names the missing AOT directory" stderr \
  "^attnjit cache: error: AOT directory .*/missing-aot \(from \\\$ATTNJIT_AOT_DIR\) does not exist$"
expect_out "cache ls still lists the AOT directory from \$ATTNJIT_AOT_DIR" stdout " aot +prefill\."

echo plain >"$TMP/a-file"
run "$ATTNJIT" cache ls --cache-dir "$TMP/a-file"
expect_status "cache ls of a file instead of a directory exits 1" 1
expect_out "cache ls says it is not a directory" stderr "a-file is not a directory"

# --- verify ------------------------------------------------------------------------------
run "$ATTNJIT" cache verify --aot-dir "$AOT"
expect_status "cache verify exits 1 when an entry is bad" 1
expect_text "cache verify names the flipped entry" stdout "corrupt  $FLIPPED: checksum mismatch"
expect_text "cache verify names the truncated entry" stdout "corrupt  $TRUNCATED: truncated"
expect_text "cache verify names the substituted entry" stdout \
  "corrupt  $SUBSTITUTED: holds the entry of key prefill.llama3_gqa_causal."
expect_text "cache verify names the stale entry" stdout "stale  $STALE: entry format version 1"
expect_out "cache verify sums up" stdout "^FAILED: 4 of 8 entries bad$"
expect_no_out "cache verify does not name good entries" stdout "$(basename "$GOOD80")"

run "$ATTNJIT" cache verify --json --aot-dir "$AOT"
expect_status "cache verify --json exits 1 when an entry is bad" 1
expect_json "cache verify --json is JSON"
expect_json_value "cache verify --json says not ok" "d['ok'], d['checked'], d['bad']" "False 8 4"
expect_json_value "cache verify --json gives each problem" \
  "sorted(e['problem'].split(' ')[0] for e in d['entries'] if e['status'] != 'ok')" \
  "['checksum', 'entry', 'holds', 'truncated:']"

# An AOT directory alone, good then with a wrong-arch entry (an sm_80 entry under
# the sm_90 key's name) and a flipped byte.
run "$ATTNJIT" cache verify --cache-dir "$TMP/no-jit" --aot-dir "$AOT"
expect_status "cache verify of a good AOT directory exits 0" 0
expect_out "cache verify says ok" stdout "^ok: 0 of 1 entry bad$"
cp -r "$AOT" "$TMP/aot-bad"
printf '\x55' | dd of="$TMP/aot-bad/$(basename "$AOT_BINARY")" bs=1 seek=2000 conv=notrunc status=none
run "$ATTNJIT" cache verify --cache-dir "$TMP/no-jit" --aot-dir "$TMP/aot-bad"
expect_status "cache verify of an AOT directory with a changed binary exits 1" 1
expect_out "cache verify names the changed binary" stdout \
  "^corrupt  .*/aot-bad/[0-9a-f]{64}\.cubin: [0-9a-f]{64}\.cubin's SHA-256 is not the index's"
ATTNJIT_AOT_DIR="$TMP/missing-aot" run "$ATTNJIT" cache verify --cache-dir "$TMP/no-jit"
expect_status "cache verify with a missing AOT directory exits 1" 1

# --- prune --------------------------------------------------------------------------------
aot_before=$(ls -l --time-style=full-iso "$AOT" | md5sum)
exec 9<"$CACHE/held.lock"
if flock -n 9; then
  run "$ATTNJIT" cache prune
  exec 9<&-
  expect_status "cache prune exits 0" 0
  expect_file "cache prune keeps a lock a process holds" "$CACHE/held.lock"
else
  exec 9<&-
  fail "cache prune keeps a lock a process holds" "flock could not lock $CACHE/held.lock"
fi
expect_out "cache prune says what it removed and why" stdout \
  "^removed entry merge\.old\.bf16\.d64\.sm_90\.w4-00000000000000dd \(stale: entry format version 1"
expect_out "cache prune removes a corrupt entry" stdout "^removed entry prefill\.flipped\.[^ ]* \(corrupt: checksum mismatch"
expect_out "cache prune removes an abandoned temp file" stdout "^removed temp .*/k\.tmp\.4242\.0a1b2c3d0 \(abandoned write, 6[0-9] minutes old\)$"
expect_out "cache prune removes an idle old lock" stdout "^removed lock .*/old\.lock \(no process holds it"
expect_out "cache prune sums up" stdout "^pruned .*/cache: removed 4 entries \([0-9.]+ KiB\) and 2 lock or temp files; 3 entries \([0-9.]+ KiB\) left$"
for f in "$FLIPPED" "$TRUNCATED" "$SUBSTITUTED" "$STALE" "$CACHE/k.tmp.4242.0a1b2c3d0" "$CACHE/old.lock"; do
  expect_no_file "cache prune removed $(basename "$f" | cut -c1-40)" "$f"
done
for f in "$GOOD80" "$GOOD90" "$LONG" "$CACHE/k.tmp.4243.0a1b2c3d1" "$CACHE/notes.txt" \
         "$CACHE/x.entry.aside.1.ff/inside.entry" "$AOT_BINARY"; do
  expect_file "cache prune kept $(basename "$f" | cut -c1-40)" "$f"
done

run "$ATTNJIT" cache verify
expect_status "after prune, cache verify exits 0" 0

# Unused for 40 days (loaded long ago): --older-than 30 removes it, keeps the others.
touch -d '40 days ago' "$GOOD90"
run "$ATTNJIT" cache prune --older-than 30 --json
expect_status "cache prune --older-than exits 0" 0
expect_json "cache prune --json is JSON"
expect_json_value "cache prune --older-than 30 removes the entry unused for 40 days" \
  "[(r['what'], r['reason']) for r in d['removed'] if r['what'] == 'entry']" \
  "[('entry', 'unused for 40.0 days')]"
expect_no_file "a lock no longer held goes with the next prune" "$CACHE/held.lock"
expect_no_file "cache prune --older-than removed the old entry" "$GOOD90"
expect_file "cache prune --older-than kept a recent entry" "$GOOD80"

# Least recently used first: the long-name entry was used longest ago.
touch -d '3 days ago' "$LONG"
touch -d '1 day ago' "$GOOD80"
keep=$(stat -c %s "$GOOD80")
run "$ATTNJIT" cache prune --max-size "$keep"
expect_status "cache prune --max-size exits 0" 0
expect_out "cache prune --max-size removes the least recently used entry" stdout \
  "^removed entry prefill\.v{170}\.[^ ]* \(least recently used over the size limit of $keep bytes\)$"
expect_no_file "cache prune --max-size removed the least recently used entry" "$LONG"
expect_file "cache prune --max-size kept the entry that fits" "$GOOD80"

run "$ATTNJIT" cache prune --max-size 1K --json
expect_json_value "cache prune --max-size 1K leaves nothing" "d['entries_after'], d['bytes_after']" "0 0"

aot_after=$(ls -l --time-style=full-iso "$AOT" | md5sum)
if [ "$aot_before" = "$aot_after" ]; then pass "prune never touches the AOT directory"
else fail "prune never touches the AOT directory" "$AOT changed"; fi

# --- clear ----------------------------------------------------------------------------------
for arch in sm_80 sm_90; do
  run "$ATTNJIT" compile "$DEFAULT_SET" --variant mha_d64_bidir --arch "$arch"
done
ATTNJIT_AOT_DIR="$AOT" run "$ATTNJIT" cache clear
expect_status "cache clear exits 0" 0
expect_out "cache clear sums up" stdout "^cleared .*/cache: removed 2 entries \([0-9.]+ KiB\) and 0 lock or temp files; 0 entries \(0 B\) left$"
expect_file "cache clear never touches an AOT directory" "$AOT_BINARY"
expect_file "cache clear keeps files it does not know" "$CACHE/notes.txt"
run "$ATTNJIT" cache ls --json
expect_json_value "after cache clear, ls lists no entries" "len(d['entries'])" 0
run "$ATTNJIT" cache clear --json
expect_status "cache clear --json exits 0" 0
expect_json "cache clear --json is JSON"

# --- the command line ------------------------------------------------------------------------
run "$ATTNJIT" cache
expect_status "cache without a subcommand exits 2" 2
expect_out "cache without a subcommand lists them" stderr "missing subcommand: path, ls, verify, prune or clear"
run "$ATTNJIT" cache list
expect_status "an unknown subcommand exits 2" 2
run "$ATTNJIT" cache ls verify
expect_status "two subcommands exit 2" 2
run "$ATTNJIT" cache ls --max-size 1M
expect_status "--max-size outside prune exits 2" 2
run "$ATTNJIT" cache prune --max-size 12Q
expect_status "a bad --max-size exits 2" 2
expect_out "a bad --max-size says what a size is" stderr "--max-size: '12Q' is not a size"
run "$ATTNJIT" cache prune --older-than -3
expect_status "a negative --older-than exits 2" 2
run "$ATTNJIT" cache clear --aot-dir "$AOT"
expect_status "clear --aot-dir exits 2 (AOT directories are never changed)" 2
run "$ATTNJIT" cache --help
expect_status "cache --help exits 0" 0
expect_out "cache --help names every subcommand" stdout "^usage: attnjit cache path"
run "$ATTNJIT" --help
expect_out "attnjit --help lists cache" stdout "^  cache +list, verify, prune or clear"

finish_checks
