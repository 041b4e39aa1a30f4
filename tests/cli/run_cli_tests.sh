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
PAGED_SET="$SRC/configs/variants/paged.attn"
VARIANT=llama3_gqa_causal

TMP=$(mktemp -d "${TMPDIR:-/tmp}/attnjit-cli-tests.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# A fresh cache, so the first compile is a miss and the second a hit.
export ATTNJIT_CACHE_DIR="$TMP/cache"

source "$(dirname "$0")/checks.sh"

# expect_elf NAME DIR: DIR holds exactly one FILE.cubin and it starts with \x7fELF.
expect_elf() {
  local files
  files=("$2"/*.cubin)
  if [ ${#files[@]} -eq 1 ] && [ -f "${files[0]}" ] &&
     [ "$(head -c 4 "${files[0]}" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]; then
    pass "$1"
  else
    fail "$1" "no single $2/*.cubin starting with \\x7fELF"
  fi
}

# The kernels' runs need a GPU the driver can use; nvidia-smi -L lists one.
have_gpu=0
nvidia-smi -L >/dev/null 2>&1 && have_gpu=1

# --- help ---------------------------------------------------------------------------
run "$ATTNJIT" --help
expect_status "--help exits 0" 0
expect_out "--help prints the tool's usage line" stdout "^usage: attnjit \[COMMAND\] \[OPTIONS\]$"
for command in defaults check emit compile run; do
  expect_out "--help lists $command with its summary" stdout "^  $command +[a-z]"
done
for command in defaults check emit compile run; do
  run "$ATTNJIT" "$command" --help
  expect_status "$command --help exits 0" 0
  expect_out "$command --help prints that command's usage" stdout "^usage: attnjit \[?$command\b"
  cp "$TMP/stdout" "$TMP/help"
  run "$ATTNJIT" "$command" -h
  expect_status "$command -h exits 0" 0
  if cmp -s "$TMP/stdout" "$TMP/help"; then
    pass "$command -h prints what --help prints"
  else
    fail "$command -h prints what --help prints" "the outputs differ"
  fi
done

# --- command-line mistakes: exit 2 with a hint --------------------------------------
run "$ATTNJIT" check --bogus "$DEFAULT_SET"
expect_status "unknown flag exits 2" 2
expect_out "unknown flag is named" stderr "unknown option '--bogus'"
expect_out "unknown flag hints at --help" stderr "^Run 'attnjit check --help' for usage\.$"

run "$ATTNJIT" frobnicate
expect_status "unknown command exits 2" 2
expect_out "unknown command is named" stderr "unknown command 'frobnicate'"
expect_out "unknown command hints at --help" stderr "^Run 'attnjit --help' for the commands\.$"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch
expect_status "missing value exits 2" 2
expect_out "missing value is explained" stderr "'--arch' needs a value"

run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --batch two --seqlen-q 8 --seqlen-k 8
expect_status "bad number exits 2" 2
expect_out "bad number is explained" stderr "--batch: expected an integer, got 'two'"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_10
expect_status "unsupported arch exits 2" 2
expect_out "unsupported arch is named" stderr "--arch: unsupported target 'sm_10'"
expect_out "unsupported arch lists the supported ones" stderr "\(supported: sm_80, sm_86, sm_89, sm_90, sm_90a, gfx90a, gfx942\)"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --tile 128,64
expect_status "malformed --tile exits 2" 2
expect_out "malformed --tile shows the expected form" stderr "--tile: expected BLOCK_M,BLOCK_N,WARPS,STAGES .*got \"128,64\""

# The override is checked against the chosen target's shared memory, not sm_90's:
# 174080 bytes fit sm_90's 232448 and not sm_86's 101376.
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_86 --tile 128,64,8,4
expect_status "--tile over sm_86's shared memory exits 2" 2
expect_out "--tile is checked at the target's limit" stderr "--tile 128,64,8,4 for head_dim 128: shared memory of 174080 bytes .*101376-byte limit"

run "$ATTNJIT" emit --stage src "$DEFAULT_SET"
expect_status "several variants without --variant exits 2" 2
expect_out "several variants: the names are listed" stderr "defines 3 variants; choose one with --variant NAME \(llama3_gqa_causal, mha_d64_bidir, d256_causal\)"

run "$ATTNJIT" emit --stage ir "$DEFAULT_SET" --variant no_such_variant
expect_status "unknown --variant exits 2" 2
expect_out "unknown --variant is named, with the file's variants" stderr "--variant: no variant 'no_such_variant' in .*default\.attn \(it has: llama3_gqa_causal, mha_d64_bidir, d256_causal\)"

run "$ATTNJIT" emit --stage bytecode "$DEFAULT_SET"
expect_status "unknown stage exits 2" 2
expect_out "unknown stage is named, with the stages" stderr "--stage: unknown stage 'bytecode' \(one of ast, ir, dsl, src\)"

# --- check ----------------------------------------------------------------------------
run "$ATTNJIT" check "$DEFAULT_SET"
expect_status "check on the default set exits 0" 0
expect_out "check counts the variants" stdout "^ok: 3 variants$"

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
expect_out "the missing ';' is reported where it belongs" stderr "bad\.attn:2:34: error: expected ';' after the value of 'head_dim'$"
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
expect_out "a missing file is named, with the reason" stderr "does-not-exist\.attn: error: cannot open variant file: No such file or directory"

# --- emit -----------------------------------------------------------------------------
run "$ATTNJIT" emit --stage ast "$DEFAULT_SET" --variant "$VARIANT"
expect_status "emit ast exits 0" 0
expect_out "emit ast shows the variant's node" stdout "^  variant $VARIANT @[0-9]+:[0-9]+$"
expect_out "emit ast shows settings with locations" stdout "^    setting head_dim @[0-9]+:[0-9]+$"
expect_no_out "emit ast --variant shows only that variant" stdout "mha_d64_bidir"

run "$ATTNJIT" emit --stage ir "$DEFAULT_SET" --variant "$VARIANT"
expect_status "emit ir exits 0" 0
expect_out "emit ir shows the variant" stdout "^variant $VARIANT$"
expect_out "emit ir shows the GQA grouping" stdout "^  q_heads: 32$"
expect_out "emit ir shows the derived KV band" stdout "^  band: lower=unbounded upper=0 exact=true$"

run "$ATTNJIT" emit --stage dsl "$DEFAULT_SET" --variant "$VARIANT"
expect_status "emit dsl exits 0" 0
expect_out "emit dsl prints a variant declaration" stdout "^variant $VARIANT \{"
cp "$TMP/stdout" "$TMP/round_trip.attn"
run "$ATTNJIT" check "$TMP/round_trip.attn"
expect_status "emitted DSL checks again (round trip)" 0
expect_out "emitted DSL holds one variant" stdout "^ok: 1 variant$"
run "$ATTNJIT" emit --stage dsl "$TMP/round_trip.attn"
if cmp -s "$TMP/stdout" "$TMP/round_trip.attn"; then
  pass "emitted DSL prints back the same (round trip)"
else
  fail "emitted DSL prints back the same (round trip)" "emit --stage dsl of its own output differs"
fi

run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant "$VARIANT" --arch sm_80
expect_status "emit src exits 0" 0
expect_out "emit src names the kernel entry" stdout "^#define ATTNJIT_ENTRY attnjit_prefill_$VARIANT$"
expect_out "emit src is for the --arch given" stdout "^// attnjit generated kernel: variant $VARIANT, kind prefill, arch sm_80 "

run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant "$VARIANT" --tile 64,64,4,2
expect_status "emit src with --tile exits 0" 0
expect_out "emit src with --tile names the tile in the uri" stdout "^// uri: prefill\.$VARIANT\..*\.m64n64w4s2$"
expect_out "emit src with --tile uses BLOCK_M" stdout "^constexpr int kBlockM = 64;$"

# --tile is checked by the rules of the main loop the target runs: AMD's MFMA loop takes
# one K/V stage (head_dim 256 fits its 64 KiB of LDS only so), the mma.sync loop does not.
run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant d256_causal --arch gfx942 --tile 128,32,4,1
expect_status "emit src for gfx942 with a one-stage --tile exits 0" 0
expect_out "the one-stage tile is the kernel's" stdout "^// uri: prefill\.d256_causal\..*\.gfx942\.m128n32w4s1$"
expect_out "the one-stage tile reaches the MFMA loop" stdout "^constexpr int kStages = 1;$"
run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant d256_causal --arch sm_90 --tile 128,32,4,1
expect_status "a one-stage --tile for sm_90 exits 2" 2
expect_out "sm_90's --tile check is the mma.sync loop's" stderr "--tile: num_stages must be 2, 3 or 4, got 1"
run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant "$VARIANT" --arch gfx942 --tile 64,64,4,2
expect_status "an mma.sync-only --tile for gfx942 exits 2" 2
expect_out "gfx942's --tile check is the MFMA loop's" stderr "--tile: BLOCK_M must be 32 \* num_warps = 128 on the MFMA main loop"
run "$ATTNJIT" aot build --variants "$DEFAULT_SET" --arch gfx942,sm_90 --tile 128,32,4,1 --out "$TMP/aot-tile"
expect_status "aot build with a --tile one of its targets refuses exits 2" 2
expect_out "aot build names the target whose main loop refuses the --tile" stderr "--tile for sm_90: num_stages must be 2, 3 or 4, got 1"

# --- compile --------------------------------------------------------------------------
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90
expect_status "first compile exits 0" 0
expect_out "first compile is a miss" stdout "^cache +miss$"
expect_out "compile prints the key" stdout "^key +prefill\.$VARIANT\.bf16\.h32x8\.d128\.causal\.sm_90\.m[0-9]+n[0-9]+w[0-9]+s[0-9]+-[0-9a-f]{16}$"
expect_out "compile prints the size" stdout "^binary +cubin, [1-9][0-9]* bytes$"
expect_out "compile names the NVRTC it used" stdout "^compiler +NVRTC [0-9]+\.[0-9]+ from /.*/libnvrtc\.so[.0-9]* \(builtins /.*/libnvrtc-builtins\.so\.[0-9]+\.[0-9]+\)$"
expect_no_out "the default variant compiles without NVRTC warnings" stderr "warning"
grep -E '^key ' "$TMP/stdout" >"$TMP/first-key"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90
expect_status "second compile exits 0" 0
expect_out "second compile is a hit from disk" stdout "^cache +hit \(disk\)$"
if grep -E '^key ' "$TMP/stdout" | cmp -s - "$TMP/first-key"; then
  pass "second compile has the first one's key"
else
  fail "second compile has the first one's key" "keys differ"
fi

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_80 --out "$TMP/out"
expect_status "compile --out exits 0" 0
expect_out "compile --out builds for the --arch given" stdout "^key +prefill\.$VARIANT\..*\.sm_80\."
expect_elf "compile --out writes an ELF cubin" "$TMP/out"
expect_text "compile --out prints the file it wrote" stdout "written  $TMP/out/prefill.$VARIANT."

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90 --ptx --out "$TMP/ptx"
expect_status "compile --ptx exits 0" 0
expect_out "compile --ptx reports a PTX binary" stdout "^binary +ptx, [1-9][0-9]* bytes$"
ptx=$(ls "$TMP"/ptx/*.ptx 2>/dev/null | head -1)
if [ -n "$ptx" ] && grep -q "^\.target sm_90$" "$ptx" && grep -q "\.entry attnjit_prefill_$VARIANT" "$ptx"; then
  pass "compile --ptx writes PTX for the arch"
else
  fail "compile --ptx writes PTX for the arch" "no DIR/*.ptx with '.target sm_90' and the entry"
fi

# Prefill for sm_90a is the wgmma kernel a 9.0 device runs; --mainloop picks either.
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90a --out "$TMP/wgmma"
expect_status "compile --arch sm_90a exits 0" 0
expect_out "prefill for sm_90a is the wgmma kernel" stdout "^mainloop +wgmma$"
expect_out "the wgmma kernel's key names its main loop" stdout "^key +prefill\.$VARIANT\..*\.wgmma\.sm_90a\.m128n[0-9]+w12s[0-9](\.[a-z]+)*-"
expect_elf "the wgmma kernel is an ELF cubin" "$TMP/wgmma"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90a --mainloop mma_sync
expect_status "compile --arch sm_90a --mainloop mma_sync exits 0" 0
expect_out "--mainloop mma_sync builds the mma.sync kernel for sm_90a" stdout "^mainloop +mma_sync$"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90
expect_out "prefill for sm_90 stays the mma.sync kernel" stdout "^mainloop +mma_sync$"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90 --mainloop wgmma
expect_status "compile --arch sm_90 --mainloop wgmma exits 0" 0
expect_out "--mainloop wgmma on sm_90 builds the sm_90a kernel" stdout "^arch +sm_90a$"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90a --mainloop wgmma --tile 128,64,12,3,pingpong
expect_status "--mainloop wgmma takes a wgmma --tile with switches" 0
expect_out "the tile and its switch are the kernel's" stdout "^key +prefill\.$VARIANT\..*\.wgmma\.sm_90a\.m128n64w12s3\.pingpong-"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_90a --mainloop wgmma --tile 128,256,12,2
expect_status "a wgmma --tile its rules refuse exits 2" 2
expect_out "the wgmma rule is named" stderr "--tile 128,256,12,2 for head_dim 128: .*register"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch sm_80 --mainloop wgmma
expect_status "--mainloop wgmma for sm_80 exits 1" 1
expect_out "--mainloop wgmma for sm_80 says where it builds" stderr "wgmma main loop builds prefill and paged kernels for sm_90 and sm_90a only"
# The paged kind: the mma.sync kernel by default (every call's decode tokens), the
# prefill chunks' wgmma kernel on request.
run "$ATTNJIT" compile "$PAGED_SET" --variant llama3_paged --kind paged --arch sm_90a
expect_status "compile --kind paged --arch sm_90a exits 0" 0
expect_out "the paged kind for sm_90a is the mma.sync kernel by default" stdout "^mainloop +mma_sync$"
run "$ATTNJIT" compile "$PAGED_SET" --variant llama3_paged --kind paged --arch sm_90a --mainloop wgmma
expect_status "compile --kind paged --mainloop wgmma exits 0" 0
expect_out "--mainloop wgmma builds the paged kind's chunk kernel" stdout "^key +paged\..*\.wgmma\."
run "$ATTNJIT" compile "$PAGED_SET" --variant gpt_oss_fp8_paged --kind paged --arch sm_90a --mainloop wgmma
expect_status "--mainloop wgmma refuses an 8-bit cache" 1
expect_out "--mainloop wgmma says why it refuses an 8-bit cache" stderr "needs q and kv of one 16-bit type, not bf16 and fp8_e4m3"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --mainloop fast
expect_status "an unknown --mainloop exits 2" 2
expect_out "an unknown --mainloop is named" stderr "--mainloop must be wgmma or mma_sync, not 'fast'"

run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --cache-dir "$TMP/other-cache"
expect_status "compile --cache-dir exits 0" 0
expect_out "--cache-dir is a fresh cache" stdout "^cache +miss$"
if ls "$TMP"/other-cache/prefill."$VARIANT".*sm_90* >/dev/null 2>&1; then
  pass "--cache-dir holds the new entry"
else
  fail "--cache-dir holds the new entry" "no prefill.$VARIANT.*sm_90* entry in $TMP/other-cache"
fi

echo '{ "arch": "sm_90", "prefill": { "default": { "BLOCK_M": "big" } } }' >"$TMP/bad-config.json"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --config "$TMP/bad-config.json"
expect_status "an invalid --config exits 1" 1
expect_out "an invalid --config is named, with the bad key" stderr "bad-config\.json: prefill\.default\.BLOCK_M: expected an integer, got string \"big\""

# --- run ------------------------------------------------------------------------------
if [ "$have_gpu" -eq 0 ]; then
  run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --batch 1 --seqlen-q 16 --seqlen-k 16
  expect_status "run without a GPU exits 1" 1
  expect_out "run without a GPU says so" stderr "\`run\` needs a CUDA GPU and none is usable: "
else
  run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --batch 2 --seqlen-q 100 --seqlen-k 130 \
      --dump "$TMP/dump"
  expect_status "run on the GPU passes" 0
  expect_out "run prints the problem it ran" stdout "^problem +batch 2, seqlen_q 100, seqlen_k 130, seed [0-9]+$"
  expect_out "run prints PASS" stdout "^PASS rel_l2 [0-9.e-]+ \(bound [0-9.e-]+, low precision [0-9.e-]+\), worst element [0-9.e-]+ of its bound, .* values checked$"
  expect_no_out "run on the GPU has no NVRTC warnings" stderr "warning"
  if [ -f "$TMP/dump/meta.json" ] && [ -f "$TMP/dump/ref_out.npy" ]; then
    pass "run --dump writes meta.json and .npy files"
  else
    fail "run --dump writes meta.json and .npy files" "missing files in $TMP/dump"
  fi
  run "$ATTNJIT" run "$DEFAULT_SET" --variant d256_causal --ragged --seqlens-q 5,17,130 \
      --seqlens-k 9,40,130
  expect_status "ragged run with LSE passes" 0
  expect_out "ragged run is ragged" stdout "^problem +ragged batch 3, seqlens_q 5,17,130, seqlens_k 9,40,130"
  expect_out "ragged run checks the LSE" stdout "^lse +worst [0-9.e-]+ of its bound; max abs error "
  expect_out "ragged run prints PASS" stdout "^PASS rel_l2 [0-9.e-]+ \(bound [0-9.e-]+, low precision [0-9.e-]+\), worst element [0-9.e-]+ of its bound, .* values checked$"
fi
run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --ragged --seqlens-q 5,17 --seqlens-k 9
expect_status "ragged lists of different lengths exit 2" 2
expect_out "ragged lists of different lengths are explained" stderr "--seqlens-q has 2 lengths but --seqlens-k has 1"

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
if [ "$have_gpu" -eq 1 ]; then
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
expect_out "check on a paged variant file counts its variants" stdout "^ok: 2 variants$"

run "$ATTNJIT" emit --stage src "$TMP/paged.attn" --variant paged_gqa --kind paged
expect_status "emit src --kind paged exits 0" 0
expect_out "emit src --kind paged names the paged entry" stdout "^#define ATTNJIT_ENTRY attnjit_paged_paged_gqa$"

run "$ATTNJIT" emit --stage src "$TMP/paged.attn" --variant paged_fp8 --kind cache_write
expect_status "emit src --kind cache_write exits 0" 0
expect_out "emit src --kind cache_write names the cache_write entry" stdout "^#define ATTNJIT_ENTRY attnjit_cache_write_paged_fp8$"

run "$ATTNJIT" emit --stage src "$TMP/paged.attn" --variant paged_gqa --kind merge
expect_status "emit src --kind merge exits 0" 0
expect_out "emit src --kind merge names the merge entry" stdout "^#define ATTNJIT_ENTRY attnjit_merge_paged_gqa$"

run "$ATTNJIT" emit --stage src "$TMP/paged.attn" --variant paged_gqa --kind decode
expect_status "an unknown --kind exits 2" 2
expect_out "an unknown --kind lists the kinds" stderr "--kind: unknown kernel kind 'decode' \(known: prefill, paged, merge, cache_write\)"

run "$ATTNJIT" compile "$TMP/paged.attn" --variant paged_gqa --kind paged --arch sm_90 \
    --out "$TMP/paged-out"
expect_status "compile --kind paged exits 0" 0
expect_out "compile --kind paged prints a paged key" stdout "^key +paged\.paged_gqa\.bf16\.h8x2\.d128\.causal\.lse\.p16nhd\.sm_90\."
expect_elf "compile --kind paged --out writes an ELF cubin" "$TMP/paged-out"

run "$ATTNJIT" compile "$TMP/paged.attn" --variant paged_fp8 --kind cache_write --arch sm_80
expect_status "compile --kind cache_write exits 0" 0
expect_out "compile --kind cache_write prints a cache_write key" stdout "^key +cache_write\.paged_fp8\.bf16-fp8_e4m3\.d64\.p32\..*sm_80-[0-9a-f]{16}$"

run "$ATTNJIT" compile "$TMP/paged.attn" --variant paged_gqa --kind merge --arch sm_90
expect_status "compile --kind merge exits 0" 0
expect_out "compile --kind merge prints a merge key" stdout "^key +merge\.paged_gqa\..*\.sm_90\.w[0-9]+-[0-9a-f]{16}$"
expect_out "compile --kind merge builds a binary" stdout "^binary +cubin, [1-9][0-9]* bytes$"
expect_no_out "compile --kind merge has no NVRTC warnings" stderr "warning"

# A paged kind on a contiguous variant and the reverse: the codegen refuses, exit 1.
run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant "$VARIANT" --kind paged
expect_status "emit --kind paged on a contiguous variant exits 1" 1
expect_out "emit --kind paged on a contiguous variant says why" stderr "variant $VARIANT: the paged kernel kind needs kv_cache = paged\(\.\.\.\)"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --kind paged --arch sm_90
expect_status "compile --kind paged on a contiguous variant exits 1" 1
expect_out "compile --kind paged on a contiguous variant says why" stderr "variant $VARIANT: the paged kernel kind needs kv_cache = paged\(\.\.\.\)"
run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --kind cache_write --arch sm_90
expect_status "compile --kind cache_write on a contiguous variant exits 1" 1
expect_out "compile --kind cache_write on a contiguous variant says why" stderr "variant $VARIANT: cache_write needs kv_cache = paged\(\.\.\.\)"
run "$ATTNJIT" compile "$TMP/paged.attn" --variant paged_gqa --arch sm_90
expect_status "compile (prefill) on a paged variant exits 1" 1
expect_out "compile (prefill) on a paged variant says why" stderr "variant paged_gqa: a paged KV cache needs the paged kernel kind, not prefill"

# run --kind paged: the command line and the variant are checked before the GPU.
run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --kind paged --context 32
expect_status "run --kind paged on a contiguous variant exits 1" 1
expect_out "run --kind paged on a contiguous variant says why" stderr "variant $VARIANT has kv_cache = contiguous; --kind paged needs a variant with kv_cache = paged"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --seqlen-q 8 --seqlen-k 8
expect_status "run (prefill) on a paged variant exits 1" 1
expect_out "run (prefill) on a paged variant suggests --kind paged" stderr "variant paged_gqa has a paged KV cache, which the prefill kind does not read; run it with --kind paged"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --context 32
expect_status "a paged flag without --kind paged exits 2" 2
expect_out "a paged flag without --kind paged says it needs --kind paged" stderr "--context is for --kind paged"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --context 32 --page-size 32
expect_status "run --kind paged with a different --page-size exits 2" 2
expect_out "a --page-size mismatch names both sizes" stderr "--page-size 32 disagrees .*page_size = 16"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --contexts 0,17,300 \
    --query-lens 1,37
expect_status "paged lists of different lengths exit 2" 2
expect_out "paged lists of different lengths are explained" stderr "--contexts has 3 lengths but --query-lens has 2"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --contexts 0,17 --batch 3
expect_status "--batch disagreeing with --contexts exits 2" 2
expect_out "--batch disagreeing with --contexts is explained" stderr "--batch 3 but 2 per-sequence lengths given"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --query-len 4
expect_status "run --kind paged without --context exits 2" 2
expect_out "run --kind paged without --context asks for it" stderr "--kind paged needs --context C .* or --contexts LIST"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --context 8 --seqlen-q 4
expect_status "a prefill flag with --kind paged exits 2" 2
expect_out "a prefill flag with --kind paged is named" stderr "--seqlen-q is for the prefill kind; --kind paged takes --context"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --context 8 --splits 65
expect_status "--splits above 64 exits 2" 2
expect_out "--splits above 64 names the limit" stderr "--splits: at most 64 segments, got 65"
run "$ATTNJIT" run "$DEFAULT_SET" --variant "$VARIANT" --seqlen-q 8 --seqlen-k 8 --splits 2
expect_status "--splits without --kind paged exits 2" 2
expect_out "--splits without --kind paged says it needs --kind paged" stderr "--splits is for --kind paged \(this run is the prefill kind\)"
run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind cache_write --context 8
expect_status "run --kind cache_write exits 2" 2
expect_out "run --kind cache_write says how to check that kind" stderr "--kind cache_write: run checks the prefill and paged kinds \(cache_write runs with --kind paged --write-cache"
if [ "$have_gpu" -eq 0 ]; then
  run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --batch 2 --context 40 \
      --query-len 3 --page-size 16
  expect_status "run --kind paged without a GPU exits 1" 1
  expect_out "run --kind paged without a GPU says so" stderr "\`run\` needs a CUDA GPU and none is usable: "
else
  run "$ATTNJIT" run "$TMP/paged.attn" --variant paged_gqa --kind paged --contexts 0,17,300 \
      --query-lens 1,1,37 --dump "$TMP/paged-dump"
  expect_status "run --kind paged on a mixed batch passes" 0
  expect_out "run --kind paged runs the mixed batch" stdout "^problem +paged batch 3, contexts 0,17,300, query_lens 1,1,37, seed [0-9]+$"
  expect_out "run --kind paged prints PASS" stdout "^PASS rel_l2 [0-9.e-]+ \(bound [0-9.e-]+, low precision [0-9.e-]+\), worst element [0-9.e-]+ of its bound, .* values checked$"
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
  expect_out "run --kind paged fp8 checks the cache it wrote" stdout "^cache write +[0-9]+ of [1-9][0-9]* cache bytes and [0-9]+ of [1-9][0-9]* scales differ from the reference write$"
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
expect_out "the default job names its variants, targets and NVRTC" stdout "^compiling 3 default variants for sm_90, sm_80 with NVRTC [0-9.]+ from /"
expect_count "the default job compiles 3 kernels for sm_90" stdout "^sm_90 +[a-z0-9_]+ +prefill\.[a-z0-9_]+\..*\.sm_90\..* [1-9][0-9]* bytes " 3
expect_count "the default job compiles 3 kernels for sm_80" stdout "^sm_80 +[a-z0-9_]+ +prefill\.[a-z0-9_]+\..*\.sm_80\..* [1-9][0-9]* bytes " 3
expect_out "the default job compiles d256_causal for sm_80" stdout "^sm_80 +d256_causal +prefill\.d256_causal\."
expect_no_out "the default job has no NVRTC warnings" stderr "warning"
expect_out "the default job ends with all ok" stdout "^all ok$"
if [ "$have_gpu" -eq 1 ]; then
  expect_count "the default job checks each variant on the GPU" stdout "^gpu +[a-z0-9_]+ +batch 2, seqlen_q 200, seqlen_k 300: PASS " 3
  expect_no_out "no GPU check fails" stdout "FAIL"
else
  expect_out "the default job says why GPU checks were skipped" stdout "^GPU checks skipped: .*libcuda"
fi

run "$ATTNJIT" defaults --arch sm_80
expect_status "defaults --arch sm_80 exits 0" 0
expect_out "defaults --arch sm_80 names only sm_80" stdout "^compiling 3 default variants for sm_80 with "
expect_count "defaults --arch sm_80 builds the 3 sm_80 kernels" stdout "^sm_80 " 3
expect_no_out "defaults --arch sm_80 builds only sm_80" stdout "^sm_90 "

# --- NVRTC warnings ---------------------------------------------------------------------
# Generated source must compile without warnings; to see that one is reported, the
# merge template gets a constant NVRTC truncates (ATTNJIT_TEMPLATE_DIR replaces it).
mkdir -p "$TMP/warn-templates/templates/kernels"
cp "$SRC/templates/kernels/merge.cuh" "$TMP/warn-templates/templates/kernels/merge.cuh"
echo "inline constexpr int kCliTestTruncated = 4294967296;" \
  >>"$TMP/warn-templates/templates/kernels/merge.cuh"
warning_line="^warning from NVRTC compiling merge\.paged_gqa\.[^ ]*-[0-9a-f]{16}: merge\.paged_gqa\.[^ ]*\.cu\([0-9]+\): warning #69-D: integer conversion resulted in truncation$"
merge_with_warning=("$ATTNJIT" compile "$TMP/paged.attn" --variant paged_gqa --kind merge --arch sm_90)
run env ATTNJIT_WERROR=0 ATTNJIT_TEMPLATE_DIR="$TMP/warn-templates" "${merge_with_warning[@]}" \
    --cache-dir "$TMP/warn-cache"
expect_status "a compile with an NVRTC warning exits 0 without ATTNJIT_WERROR" 0
expect_count "the NVRTC warning is printed once, on stderr" stderr "$warning_line" 1
expect_out "the NVRTC warning shows the source line" stderr "^ +inline constexpr int kCliTestTruncated = 4294967296;$"
expect_out "the NVRTC warning is called a bug in attnjit" stderr "should compile without warnings: this is a bug in attnjit"
expect_no_out "the NVRTC warning is not on stdout" stdout "warning"
run env ATTNJIT_WERROR=0 ATTNJIT_TEMPLATE_DIR="$TMP/warn-templates" "${merge_with_warning[@]}" \
    --cache-dir "$TMP/warn-cache"
expect_out "a cached kernel with a warning is a hit" stdout "^cache +hit \(disk\)$"
expect_count "a cached kernel reports its NVRTC warning again" stderr "$warning_line" 1
run env ATTNJIT_WERROR=1 ATTNJIT_TEMPLATE_DIR="$TMP/warn-templates" "${merge_with_warning[@]}" \
    --cache-dir "$TMP/warn-cache"
expect_status "ATTNJIT_WERROR=1 refuses a cached kernel with a warning (exit 1)" 1
expect_out "ATTNJIT_WERROR=1 says why it refuses the cached kernel" stderr "merge\.paged_gqa\.[^ ]* has NVRTC warnings and ATTNJIT_WERROR is set"
run env ATTNJIT_WERROR=1 ATTNJIT_TEMPLATE_DIR="$TMP/warn-templates" TMPDIR="$TMP" \
    "${merge_with_warning[@]}" --cache-dir "$TMP/werror-cache"
expect_status "ATTNJIT_WERROR=1 makes an NVRTC warning a compile error (exit 1)" 1
expect_text "the warning-as-error saves the source" stderr "source: $TMP/attnjit-failed-merge.paged_gqa."
expect_out "the warning-as-error names the kernel and the count" stderr "compiled merge\.paged_gqa\.[^ ]* for sm_90 with 1 warning \(warnings are errors: ATTNJIT_WERROR is set\)"
expect_out "the warning-as-error shows NVRTC's log" stderr "\.cu\([0-9]+\): warning #69-D: integer conversion resulted in truncation$"
if ls "$TMP"/werror-cache/merge.* 2>/dev/null | grep -qv '\.lock$'; then
  fail "a warning-as-error leaves no cache entry" "found $(ls "$TMP"/werror-cache/merge.*)"
else
  pass "a warning-as-error leaves no cache entry"
fi

# The main job reports every kernel's warnings and, with ATTNJIT_WERROR, fails those.
mkdir -p "$TMP/warn-templates/templates/cuda"
cp "$SRC/templates/cuda/tile_ops.cuh" "$TMP/warn-templates/templates/cuda/tile_ops.cuh"
echo "inline constexpr int kCliTestTruncated = 4294967296;" \
  >>"$TMP/warn-templates/templates/cuda/tile_ops.cuh"
run env ATTNJIT_WERROR=0 ATTNJIT_TEMPLATE_DIR="$TMP/warn-templates" "$ATTNJIT" defaults --arch sm_80 \
    --cache-dir "$TMP/warn-cache"
expect_status "the default job with NVRTC warnings exits 0 without ATTNJIT_WERROR" 0
expect_count "the default job prints each kernel's NVRTC warning" stderr "^warning from NVRTC compiling prefill\.[a-z0-9_]+\.[^ ]*: prefill\.[^ ]*\.cu\([0-9]+\): warning #69-D: " 3
run env ATTNJIT_WERROR=1 ATTNJIT_TEMPLATE_DIR="$TMP/warn-templates" "$ATTNJIT" defaults --arch sm_80 \
    --cache-dir "$TMP/warn-cache"
expect_status "the default job with NVRTC warnings and ATTNJIT_WERROR=1 exits 1" 1
expect_count "the default job fails each kernel with warnings" stdout "^sm_80 +[a-z0-9_]+ +FAILED: NVRTC warnings and ATTNJIT_WERROR is set$" 3
expect_out "the default job ends with FAILED" stdout "^FAILED$"

# --- without NVRTC -----------------------------------------------------------------------
# An explicit ATTNJIT_NVRTC_PATH is the only library tried, so a wrong one stands in for
# a machine without NVRTC.
run env ATTNJIT_NVRTC_PATH="$TMP/no-nvrtc/libnvrtc.so.13" "$ATTNJIT" defaults --cache-dir "$TMP/no-nvrtc-cache"
expect_status "the default job without NVRTC exits 1" 1
expect_count "the default job without NVRTC says so once" stderr "libnvrtc not found" 1
expect_out "the default job without NVRTC says how to install it" stderr "tools/install-deps\.sh installs it from PyPI"
expect_text "the default job without NVRTC lists what it tried" stderr "  $TMP/no-nvrtc/libnvrtc.so.13: "
expect_count "an explicit ATTNJIT_NVRTC_PATH is the only library tried" stderr "^  " 1
expect_no_out "the default job without NVRTC prints no per-kernel failures" stdout "FAILED"
run env ATTNJIT_NVRTC_PATH="$TMP/no-nvrtc/libnvrtc.so.13" "$ATTNJIT" compile "$DEFAULT_SET" \
    --variant "$VARIANT" --cache-dir "$TMP/no-nvrtc-cache"
expect_status "compile without NVRTC exits 1" 1
expect_count "compile without NVRTC says so once" stderr "libnvrtc not found" 1

# --- NVRTC from PyPI ---------------------------------------------------------------------
# tools/install-deps.sh installs it where the loader looks last; on a machine with the
# toolkit the loader finds the toolkit first, so the test points the loader at the PyPI
# copy. The builtins must be the copy's own, not the toolkit's found through ld.so.
pip_lib="$("$SRC/tools/install-deps.sh" --print-pip-prefix)/nvidia/cu13/lib"
if [ -f "$pip_lib/libnvrtc.so.13" ]; then
  run env ATTNJIT_NVRTC_PATH="$pip_lib/libnvrtc.so.13" "$ATTNJIT" compile "$DEFAULT_SET" \
      --variant "$VARIANT" --arch sm_80 --cache-dir "$TMP/pip-cache"
  expect_status "compile with the PyPI NVRTC exits 0" 0
  expect_out "compile with the PyPI NVRTC compiles" stdout "^cache +miss$"
  expect_out "compile with the PyPI NVRTC builds a binary" stdout "^binary +cubin, [1-9][0-9]* bytes$"
  expect_text "compile with the PyPI NVRTC uses that copy and its builtins" stdout \
    "compiler NVRTC 13.0 from $pip_lib/libnvrtc.so.13 (builtins $pip_lib/libnvrtc-builtins.so.13.0)"
  expect_no_out "compile with the PyPI NVRTC has no warnings" stderr "warning"
elif [ "${ATTNJIT_REQUIRE_PIP_NVRTC:-0}" = 1 ]; then
  run true
  fail "the PyPI NVRTC is installed" "no $pip_lib/libnvrtc.so.13 (run tools/install-deps.sh --pip-nvrtc)"
else
  echo "skip  NVRTC from PyPI: not installed (tools/install-deps.sh --pip-nvrtc installs it)"
fi

finish_checks
