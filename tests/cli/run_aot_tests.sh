#!/bin/bash
# End-to-end checks of `attnjit aot build|merge|verify` and of finding kernels ahead of
# time: the default and paged variant sets built for sm_80 and sm_90 with NVRTC; two
# builds byte-identical; shards merged equal to the whole; verify catching a flipped
# byte, a truncated file, a substituted binary, a wrong-arch binary and a stray file;
# with JIT off and NVRTC hidden, every kernel the planner lists found and loaded up to
# the point a GPU is needed; a changed template or another target never served.
# Usage: run_aot_tests.sh PATH/TO/attnjit SOURCE_DIR
# Each check prints "ok" or "FAIL" with the command's output; the last line is
# "N passed, M failed" and the exit status is non-zero when anything failed.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 PATH/TO/attnjit SOURCE_DIR" >&2
  exit 2
fi
ATTNJIT=$1
SRC=$(cd "$2" && pwd)  # absolute: the manifest names files relative to itself

TMP=$(mktemp -d "${TMPDIR:-/tmp}/attnjit-aot-tests.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
unset ATTNJIT_AOT_DIR ATTNJIT_JIT ATTNJIT_AOT_RECORD ATTNJIT_TEMPLATE_DIR

RUN_TIME_LIMIT=600  # a whole build; a command that hangs fails its check
source "$(dirname "$0")/checks.sh"

SETS="$SRC/configs/variants/default.attn,$SRC/configs/variants/paged.attn"
ARCHS=sm_80,sm_90
# No compiler: NVRTC is looked for only where ATTNJIT_NVRTC_PATH says, and not there.
NO_NVRTC=(env ATTNJIT_NVRTC_PATH="$TMP/no-nvrtc/libnvrtc.so" ATTNJIT_JIT=0)

same_tree() {  # NAME DIR1 DIR2: identical file names and bytes
  if diff -r "$2" "$3" >"$TMP/diff" 2>&1; then pass "$1"; else fail "$1" "$(head -c 400 "$TMP/diff")"; fi
}

# --- build ---------------------------------------------------------------------------
run "$ATTNJIT" aot build --variants "$SETS" --arch "$ARCHS" --out "$TMP/a" --cache-dir "$TMP/c1" --jobs 2
expect_status "aot build of the default and paged sets exits 0" 0
expect_out "aot build prints one line per kernel when not on a terminal" stdout \
  "^\[1/[0-9]+\] compiled +[0-9]+ ms  [a-z_]+\."
expect_out "aot build sums up" stdout "^built ([0-9]+) of \1 kernels \(\1 compiled, 0 from the JIT cache\), 0 failed, in [0-9.]+ s$"
KERNELS=$(sed -n 's/^built \([0-9]*\) of .*/\1/p' "$TMP/stdout")
expect_file() { if [ -e "$2" ]; then pass "$1"; else fail "$1" "$2 does not exist"; fi; }
expect_file "aot build writes index.json" "$TMP/a/index.json"
BINARIES=$(ls "$TMP/a" | grep -cE '^[0-9a-f]{64}\.cubin$')
if [ "$BINARIES" = "$KERNELS" ] && [ "$KERNELS" -gt 40 ]; then
  pass "aot build writes one content-named binary per kernel ($KERNELS)"
else fail "aot build writes one content-named binary per kernel" "$BINARIES files for $KERNELS kernels"; fi
python3 - "$TMP/a/index.json" >"$TMP/index-check" 2>&1 <<'EOF'
import hashlib, json, os, sys
index = json.load(open(sys.argv[1]))
dir = os.path.dirname(sys.argv[1])
keys = [e["key"] for e in index["entries"]]
assert keys == sorted(keys), "entries not sorted by key"
kinds = set()
for e in index["entries"]:
    data = open(os.path.join(dir, e["file"]), "rb").read()
    assert hashlib.sha256(data).hexdigest() == e["sha256"] == e["file"].split(".")[0], e["name"]
    assert len(data) == e["size"], e["name"]
    assert e["compiler"] == "nvrtc" and e["compiler_version"] and e["options"], e["name"]
    assert e["threads"] > 0 and e["symbol"].startswith("attnjit_"), e["name"]
    # An sm_90 build holds sm_90a's wgmma prefill and paged-chunk kernels (a 9.0 device's default).
    assert e["target"] in ("sm_80", "sm_90") or (e["target"] == "sm_90a" and ".wgmma." in e["name"]), e["name"]
    kinds.add(e["kind"])
    if e["kind"] in ("prefill", "paged"):
        assert e["shared_bytes"] > 0, e["name"]
assert kinds == {"prefill", "paged", "merge", "cache_write"}, kinds
splits = {n for n in (e["name"] for e in index["entries"]) if ".split." in n or ".stream." in n}
assert splits, "no split-KV kernels listed"
wgmma = [e for e in index["entries"] if e["target"] == "sm_90a"]
# Two consumer warpgroups (384 threads), or three for the d64 prefill tile (512).
assert wgmma and all(e["kind"] in ("prefill", "paged") and e["threads"] in (384, 512) for e in wgmma), "no wgmma kernels"
assert any(e["threads"] == 512 and ".m192n" in e["name"] for e in wgmma), "no three-consumer wgmma kernel"
# llama3_paged (bf16, d128) runs its prefill chunks on the wgmma paged kernel.
assert any(e["kind"] == "paged" and "llama3_paged" in e["name"] for e in wgmma), "no wgmma paged kernel"
print("index ok")
EOF
expect_out "each index entry matches its binary (SHA-256, size, compiler, kinds, splits, sm_90a wgmma kernels)" index-check "^index ok$"

# Determinism: a second build with its own cache (so every kernel compiles again), one
# thread instead of two.
run "$ATTNJIT" aot build --variants "$SETS" --arch "$ARCHS" --out "$TMP/b" --cache-dir "$TMP/c2" --jobs 1
expect_status "a second build exits 0" 0
same_tree "two builds are byte-identical" "$TMP/a" "$TMP/b"

for i in 0 1; do
  run "$ATTNJIT" aot build --variants "$SETS" --arch "$ARCHS" --out "$TMP/s$i" --cache-dir "$TMP/c1" \
    --shard "$i/2" --json
  expect_status "shard $i/2 exits 0" 0
  expect_out "shard $i/2 ends with a JSON summary" stdout '^\{"event":"summary","kernels":[0-9]+,.*"failed":0,'
done
run "$ATTNJIT" aot merge "$TMP/merged" "$TMP/s1" "$TMP/s0"
expect_status "aot merge exits 0" 0
expect_out "aot merge says how many kernels" stdout "^merged 2 directories into .*: $KERNELS kernels$"
same_tree "shards 0/2 and 1/2 merged equal the whole build" "$TMP/a" "$TMP/merged"

run "$ATTNJIT" aot build --variants "$SETS" --arch "$ARCHS" --out "$TMP/a" --cache-dir "$TMP/c1" --shard 2/2
expect_status "--shard 2/2 is a usage error" 2
mkdir -p "$TMP/mine" && echo notes >"$TMP/mine/notes.txt"
run "$ATTNJIT" aot build --variants "$SETS" --arch sm_80 --out "$TMP/mine" --cache-dir "$TMP/c1"
expect_status "aot build into a directory of other files exits 1" 1
expect_out "aot build says it is not an AOT directory" stderr "not an AOT directory"

# --- verify --------------------------------------------------------------------------
run "$ATTNJIT" aot verify "$TMP/a"
expect_status "aot verify of a good directory exits 0" 0
expect_out "aot verify says ok" stdout "^ok    .*/a: $KERNELS entries, 0 problems$"

entry_file() {  # DIR KIND TARGET: the binary of the first entry of that kind and target
  python3 -c "import json,sys; print([e['file'] for e in json.load(open(sys.argv[1]+'/index.json'))['entries'] if e['kind']==sys.argv[2] and e['target']==sys.argv[3]][0])" "$@"
}
bad_copy() { rm -rf "$TMP/bad"; cp -r "$TMP/a" "$TMP/bad"; }
P90=$(entry_file "$TMP/a" prefill sm_90)
P80=$(entry_file "$TMP/a" prefill sm_80)

bad_copy
printf '\x55' | dd of="$TMP/bad/$P90" bs=1 seek=3000 conv=notrunc status=none
run "$ATTNJIT" aot verify "$TMP/bad"
expect_status "aot verify of a flipped byte exits 1" 1
expect_text "aot verify names the flipped binary" stdout "$P90's SHA-256 is not the index's"

bad_copy
head -c 5000 "$TMP/a/$P90" >"$TMP/bad/$P90"
run "$ATTNJIT" aot verify "$TMP/bad"
expect_status "aot verify of a truncated binary exits 1" 1
expect_out "aot verify names the truncated binary" stdout "$P90 has 5000 bytes, the index says [0-9]+$"

bad_copy
cp "$TMP/a/$P80" "$TMP/bad/$P90"
run "$ATTNJIT" aot verify "$TMP/bad"
expect_status "aot verify of a substituted binary exits 1" 1
expect_text "aot verify names the substituted binary" stdout "$P90"

# A wrong-arch binary whose index entry was rewritten to match it (size, SHA-256,
# file name): only the ELF header tells.
bad_copy
python3 - "$TMP/bad" "$P90" "$P80" <<'EOF'
import hashlib, json, os, sys
dir, p90, p80 = sys.argv[1:]
path = os.path.join(dir, "index.json")
index = json.load(open(path))
data = open(os.path.join(dir, p80), "rb").read()
for e in index["entries"]:
    if e["file"] == p90:
        os.remove(os.path.join(dir, p90))
        e["sha256"] = hashlib.sha256(data).hexdigest()
        e["size"] = len(data)
        e["file"] = e["sha256"] + ".cubin"
        # Keep the kernel name the sm_80 binary defines, so only the arch differs.
        e["symbol"] = next(x["symbol"] for x in index["entries"] if x["file"] == p80)
json.dump(index, open(path, "w"))
EOF
run "$ATTNJIT" aot verify "$TMP/bad"
expect_status "aot verify of a wrong-arch binary exits 1" 1
expect_out "aot verify says the ELF header names sm_80" stdout "is listed for sm_90, but the CUBIN's ELF header says sm_80, not sm_90"

bad_copy
cp "$TMP/a/$P90" "$TMP/bad/$(printf 'e%.0s' $(seq 1 64)).cubin"
run "$ATTNJIT" aot verify "$TMP/bad" --json
expect_status "aot verify of a stray binary exits 1" 1
expect_out "aot verify --json names the stray binary" stdout '"problems":\["e{64}\.cubin is not listed in the index"\]'

# --- lookup with no compiler -----------------------------------------------------------
run "${NO_NVRTC[@]}" "$ATTNJIT" aot verify "$TMP/a" --variants "$SETS" --arch "$ARCHS"
expect_status "every kernel the planner lists is found with JIT off and no NVRTC" 0
expect_out "aot verify --variants says every kernel is found" stdout "^ok    $KERNELS of $KERNELS kernels the inputs list are found$"

run "${NO_NVRTC[@]}" "$ATTNJIT" aot verify "$TMP/a" --variants "$SETS" --arch sm_90a
expect_status "sm_90a kernels are not found in an sm_90 directory" 1
expect_out "aot verify names a missing sm_90a kernel" stdout "^missing paged\.llama3_paged\.[^ ]*\.sm_90a\."

for kind in paged merge cache_write; do  # the paged variant's kinds; prefill: the main job
  ATTNJIT_AOT_DIR="$TMP/missing:$TMP/a" ATTNJIT_CACHE_DIR="$TMP/empty-cache" run "${NO_NVRTC[@]}" \
    "$ATTNJIT" compile "$SRC/configs/variants/paged.attn" --variant llama3_paged --kind "$kind" --arch sm_90
  expect_status "compile ($kind) with JIT off and no NVRTC exits 0" 0
  expect_out "compile ($kind) says hit (aot)" stdout "^cache    hit \(aot\)$"
  expect_out "compile ($kind) names the compiler the index records" stdout "^compiler nvrtc [0-9.]+ \(AOT directory .*/a\)$"
done

ATTNJIT_AOT_DIR="$TMP/a" ATTNJIT_CACHE_DIR="$TMP/empty-cache" run "${NO_NVRTC[@]}" "$ATTNJIT"
expect_status "the main job runs from the AOT directory without a compiler" 0
expect_count "the main job finds each default kernel ahead of time" stdout " hit \(aot\)$" 6

ATTNJIT_AOT_DIR="$TMP/a" ATTNJIT_CACHE_DIR="$TMP/empty-cache" run "${NO_NVRTC[@]}" \
  "$ATTNJIT" compile "$SRC/configs/variants/paged.attn" --variant llama3_paged --kind paged --arch sm_90a
expect_status "an sm_90a kernel is not served from sm_90 binaries" 1
expect_out "the missing kernel's error says how to build it" stderr \
  "is in no AOT directory \(searched .*/a\) and JIT compilation is off; build it with: attnjit aot build --variants .* --arch sm_90a --kinds paged"

# A changed template changes the source, so its kernel is not the one built.
mkdir -p "$TMP/tpl/templates/kernels"
cp "$SRC/templates/kernels/merge.cuh" "$TMP/tpl/templates/kernels/merge.cuh"
printf '\n// a local change\n' >>"$TMP/tpl/templates/kernels/merge.cuh"
ATTNJIT_TEMPLATE_DIR="$TMP/tpl" ATTNJIT_AOT_DIR="$TMP/a" ATTNJIT_CACHE_DIR="$TMP/empty-cache" \
  run "${NO_NVRTC[@]}" "$ATTNJIT" compile "$SRC/configs/variants/paged.attn" --variant llama3_paged \
  --kind merge --arch sm_90
expect_status "a kernel of a changed template is not served from AOT" 1
expect_out "the changed template's kernel is missing" stderr "kernel merge\.llama3_paged\.[^ ]* .* is in no AOT directory"

# A bad binary in the first directory is skipped with a warning; the second serves.
bad_copy
printf '\x55' | dd of="$TMP/bad/$P90" bs=1 seek=3000 conv=notrunc status=none
VARIANT90=$(python3 -c "import json,sys; print([e['variant'] for e in json.load(open(sys.argv[1]+'/index.json'))['entries'] if e['file']==sys.argv[2]][0])" "$TMP/a" "$P90")
ATTNJIT_AOT_DIR="$TMP/bad:$TMP/a" ATTNJIT_CACHE_DIR="$TMP/empty-cache" run "${NO_NVRTC[@]}" \
  "$ATTNJIT" compile "$SRC/configs/variants/default.attn" --variant "$VARIANT90" --arch sm_90
expect_status "a corrupt AOT binary is skipped for the next directory's" 0
expect_out "the corrupt binary is reported" stderr "^warning: AOT entry prefill\..* in .*/bad rejected: $P90's SHA-256 is not the index's \(the file was changed or replaced\); skipped$"
expect_out "the next directory serves it" stdout "^compiler nvrtc [0-9.]+ \(AOT directory .*/a\)$"

# --- recorded kernels and manifests ---------------------------------------------------------
ATTNJIT_AOT_RECORD="$TMP/rec.jsonl" run "$ATTNJIT" compile "$SRC/configs/variants/default.attn" \
  --variant mha_d64_bidir --arch sm_80 --tile 64,64,4,2 --cache-dir "$TMP/c1"
expect_status "a compile with a tile records its kernel" 0
run "$ATTNJIT" aot build --kernels "$TMP/rec.jsonl" --out "$TMP/rec" --cache-dir "$TMP/c1"
expect_status "aot build --kernels exits 0" 0
ATTNJIT_AOT_DIR="$TMP/rec" run "${NO_NVRTC[@]}" "$ATTNJIT" compile "$SRC/configs/variants/default.attn" \
  --variant mha_d64_bidir --arch sm_80 --tile 64,64,4,2 --cache-dir "$TMP/empty-cache"
expect_out "the recorded kernel (with its tile) is found" stdout "^cache    hit \(aot\)$"

cat >"$TMP/manifest.json" <<EOF
{"variants": ["$SRC/configs/variants/default.attn"], "arch": ["sm_80"], "kinds": ["prefill"],
 "tiles": [{"variants": ["mha_d64_bidir"], "tile": "64,64,4,2"}]}
EOF
run "$ATTNJIT" aot build --manifest "$TMP/manifest.json" --out "$TMP/m" --cache-dir "$TMP/c1"
expect_status "aot build --manifest exits 0" 0
expect_out "the manifest's kinds and tile override are built" stdout "^built 4 of 4 kernels"
echo '{"variants": [], "kernal": []}' >"$TMP/bad-manifest.json"
run "$ATTNJIT" aot build --manifest "$TMP/bad-manifest.json" --out "$TMP/m2"
expect_status "a manifest with an unknown field exits 1" 1
expect_out "the manifest error names the field" stderr "unknown field \"kernal\""

finish_checks
