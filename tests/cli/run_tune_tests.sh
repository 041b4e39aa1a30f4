#!/bin/bash
# End-to-end checks of `attnjit tune` that need no GPU: the dry run (candidates after
# the static rules), its command-line errors, and the refusal to measure without a
# GPU. Usage: run_tune_tests.sh PATH/TO/attnjit SOURCE_DIR
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

TMP=$(mktemp -d "${TMPDIR:-/tmp}/attnjit-tune-tests.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

source "$(dirname "$0")/checks.sh"

have_gpu=0
nvidia-smi -L >/dev/null 2>&1 && have_gpu=1

# --- help -----------------------------------------------------------------------------
run "$ATTNJIT" --help
expect_out "the tool's help lists tune" stdout "^  tune +measure tile configs"
run "$ATTNJIT" tune --help
expect_status "tune --help exits 0" 0
expect_out "tune --help shows the usage" stdout "^usage: attnjit tune \\[--variants FILE\\]"
expect_text "tune --help documents --dry-run" stdout "--dry-run"

# --- the dry run ------------------------------------------------------------------------
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --dry-run --arch sm_90
expect_status "dry run for sm_90 exits 0" 0
expect_text "dry run names the target and the base config" stdout \
  "attnjit tune --dry-run: sm_90, 3 variants from $DEFAULT_SET, config <embedded sm_90.json>"
expect_text "d64 falls in sm_90's head_dim <= 64 bucket" stdout \
  "prefill bucket 2 (head_dim <= 64): mha_d64_bidir"
expect_text "d128 causal gets a new bucket" stdout \
  "prefill new bucket (head_dim 128, causal): llama3_gqa_causal"
expect_text "d256 falls in the 129..256 bucket" stdout \
  "prefill bucket 3 (head_dim 129..256): d256_causal"
expect_count "every task shows its baseline" stdout "^  baseline " 3
expect_count "the baseline is listed first among the candidates" stdout " baseline$" 3
expect_text "the default shapes are shown" stdout "  shapes   16x1024, 4x4096, 1x16384"
expect_text "d64 keeps all 72 candidates" stdout "  72 of 72 candidates kept"
expect_out "d128 prunes by shared memory" stdout "  [0-9]+ of 72 candidates kept \(pruned: [0-9]+ shared memory\)"
expect_out "d256 prunes 32-row warps and shared memory" stdout "pruned: [0-9]+ shared memory, [0-9]+ tile rules"
expect_out "a summary line ends it" stdout "^total: 3 config entries, [0-9]+ candidates, [0-9]+ kernels to compile$"
# The 256x128 w8 s3 tile fits d64 but not d128 / d256 on sm_90: listed exactly once.
expect_count "256x128 w8 s3 is kept only for d64" stdout "^    256x128 w8 s3$" 1
# Nothing compiled, nothing written.
if [ -z "$(ls -A "$TMP" | grep -v -e stdout -e stderr)" ]; then pass "dry run writes no files"; else
  fail "dry run writes no files" "found $(ls "$TMP")"; fi

# Without --variants: the built-in default set, the same plan.
cp "$TMP/stdout" "$TMP/with_file"
run "$ATTNJIT" tune --dry-run --arch sm_90
expect_status "attnjit tune --dry-run --arch sm_90 exits 0" 0
expect_text "it tunes the embedded default set" stdout \
  "attnjit tune --dry-run: sm_90, 3 variants from <embedded configs/variants/default.attn>"
if diff <(tail -n +2 "$TMP/stdout") <(tail -n +2 "$TMP/with_file") >/dev/null; then
  pass "the embedded set plans as the file does"
else
  fail "the embedded set plans as the file does" "outputs differ"
fi
rm -f "$TMP/with_file"

# sm_86's smaller shared memory prunes more.
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --variant mha_d64_bidir --dry-run --arch sm_86
expect_status "dry run for sm_86 exits 0" 0
expect_out "sm_86 prunes some d64 tiles" stdout "  [0-9]+ of 72 candidates kept \(pruned: [0-9]+ shared memory\)"
expect_out "one variant, one entry" stdout "^total: 1 config entry,"

# Paged kinds, with shapes of one kind.
run "$ATTNJIT" tune --variants "$PAGED_SET" --variant llama3_paged --kind paged_decode \
  --shapes 8x1024,2x3x500 --dry-run --arch sm_90
expect_status "paged_decode dry run exits 0" 0
expect_text "the decode entry" stdout "paged_decode new bucket (head_dim 128, causal): llama3_paged"
expect_text "the given shapes" stdout "  shapes   8x1024, 2x3x500"
expect_text "split counts come after the tiles" stdout "  then num_splits 1,2,4,8,16 on the fastest tile"
expect_out "decode tiles are 16 rows" stdout "^    16x(16|32|64) w[1248] s[234]"
run "$ATTNJIT" tune --variants "$PAGED_SET" --dry-run --arch sm_90
expect_status "all paged kinds dry run exits 0" 0
expect_count "both paged kinds of three variants" stdout "^paged(_decode)? " 6
expect_text "the fp8 decode bucket keeps its register cap as the baseline" stdout \
  "paged_decode bucket 1 (head_dim <= 128, kv_8bit): gpt_oss_fp8_paged"
expect_text "its baseline" stdout "  baseline 16x16 w4 s2 b3"
# The kv_8bit bucket's tiles are checked with 8-bit K/V rows (and their scales), not
# 16-bit ones: 124 of the 144 fit at head_dim 128 (96 would with 16-bit rows).
if grep -A3 -F "paged_decode bucket 1 (head_dim <= 128, kv_8bit)" "$TMP/stdout" |
   grep -Fq "  124 of 144 candidates kept (pruned: 20 shared memory)"; then
  pass "the 8-bit decode bucket keeps the tiles that fit 8-bit K/V"
else
  fail "the 8-bit decode bucket keeps the tiles that fit 8-bit K/V" "$(grep -A3 -F 'kv_8bit)' "$TMP/stdout")"
fi
expect_count "each decode entry refits the split costs after its tile" stdout \
  "every split of every shape on the chosen tile to refit split_cost$" 3

# A shape that does not use the decode tile for the variant.
run "$ATTNJIT" tune --variants "$PAGED_SET" --variant llama3_paged --kind paged_decode \
  --shapes 8x5x1000 --dry-run --arch sm_90
expect_status "a decode shape too long for the decode tile exits 1" 1
expect_text "it says why" stderr "shape 8x5x1000 does not use the decode tile for variant llama3_paged"

# sm_90a's config tiles the Hopper (wgmma) prefill kernel: BLOCK_M 128 in 12 warps or 192
# in 16 (three consumer warpgroups, the shipped d64 tile).
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --dry-run --arch sm_90a
expect_status "attnjit tune --dry-run --arch sm_90a exits 0" 0
expect_text "it plans sm_90a's own config" stdout "attnjit tune --dry-run: sm_90a, 3 variants from $DEFAULT_SET, config <embedded sm_90a.json>"
expect_text "the d64 bucket's baseline is the shipped wgmma tile" stdout "  baseline 192x128 w16 s3 overlap pingpong persistent"
expect_count "its candidates are the wgmma tiles the rules keep" stdout "^    (128x(64|80|128|256) w12|192x(64|80|128|256) w16) s[234]( +baseline)?$" 34
expect_no_out "no mma.sync tile is a candidate" stdout "^    [0-9]+x[0-9]+ w[48] "
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --dry-run --arch sm_90a --compile --cache-dir "$TMP/cache90a" \
  --variant mha_d64_bidir
expect_status "the wgmma candidates compile" 0
expect_count "each shows its registers" stdout "^    (128x[0-9]+ w12|192x[0-9]+ w16) s[0-9] +[0-9]+ registers +[0-9]+ stack bytes" 18
run "$ATTNJIT" tune --variants "$PAGED_SET" --dry-run --arch sm_90a --kind paged
expect_status "the paged kind for sm_90a exits 1" 1
expect_text "sm_90a's config holds prefill only" stderr "sm_90a's config tiles the wgmma prefill kernel only, not paged"

# --out names the config the plan starts from; one with _meta loads.
cat >"$TMP/mine.json" <<'JSON'
{
  "arch": "sm_90",
  "_meta": {"device": "NVIDIA H200", "sm_count": 132},
  "prefill": {
    "default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2},
    "buckets": [
      {"head_dim_min": 128, "head_dim_max": 128, "causal": true,
       "config": {"BLOCK_M": 128, "BLOCK_N": 32, "num_warps": 4, "num_stages": 3}}
    ]
  }
}
JSON
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --variant llama3_gqa_causal --dry-run --arch sm_90 \
  --out "$TMP/mine.json"
expect_status "dry run against a tuned config exits 0" 0
expect_text "it starts from that file" stdout "config $TMP/mine.json"
expect_text "its bucket serves the variant" stdout "prefill bucket 0 (head_dim 128, causal): llama3_gqa_causal"
expect_text "its tile is the baseline" stdout "  baseline 128x32 w4 s3"
echo '{"arch": "sm_90", "prefil": {}}' >"$TMP/bad.json"
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --dry-run --arch sm_90 --out "$TMP/bad.json"
expect_status "a broken --out config exits 1" 1
expect_text "the loader's error names the key" stderr "unknown key \"prefil\" (did you mean \"prefill\"?)"

# --- command-line errors (exit 2) -------------------------------------------------------
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --dry-run --arch sm_70
expect_status "an unsupported --arch exits 2" 2
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --shapes 4x4096 --dry-run --arch sm_90
expect_status "--shapes without one --kind exits 2" 2
expect_text "--shapes needs a kind" stderr "--shapes needs one --kind"
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --kind prefill --shapes 4x --dry-run --arch sm_90
expect_status "a bad shape exits 2" 2
expect_text "the shape's form is shown" stderr "expected BxS or BxSQxSK"
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --kind decode --dry-run --arch sm_90
expect_status "an unknown kind exits 2" 2
expect_text "the kinds are listed" stderr "known: prefill, paged, paged_decode"
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --budget 0 --dry-run --arch sm_90
expect_status "--budget 0 exits 2" 2
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --variant nope --dry-run --arch sm_90
expect_status "an unknown --variant exits 2" 2
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --compile
expect_status "--compile without --dry-run exits 2" 2
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --compare "$TMP/mine.json" --out x.json
expect_status "--compare with --out exits 2" 2
run "$ATTNJIT" tune --variants "$DEFAULT_SET" --kind paged_decode --dry-run --arch sm_90
expect_status "a file with no variant of the kind exits 1" 1
run "$ATTNJIT" tune --variants "$TMP/missing.attn" --dry-run --arch sm_90
expect_status "a missing variant file exits 1" 1

# --- measuring needs a GPU ------------------------------------------------------------------
if [ "$have_gpu" -eq 0 ]; then
  run "$ATTNJIT" tune --variants "$DEFAULT_SET" --out "$TMP/never.json"
  expect_status "tune without a GPU exits 1" 1
  expect_text "it says what is missing and what works" stderr "--dry-run --arch sm_90"
  if [ ! -e "$TMP/never.json" ]; then pass "nothing is written without a GPU"; else
    fail "nothing is written without a GPU" "$TMP/never.json exists"; fi
  run "$ATTNJIT" tune --variants "$DEFAULT_SET" --arch sm_90a --out "$TMP/never.json"
  expect_status "tune --arch sm_90a without a GPU exits 1" 1
  run "$ATTNJIT" tune --variants "$DEFAULT_SET" --dry-run
  expect_status "a dry run without a GPU or --arch exits 1" 1
  expect_text "it asks for --arch" stderr "--dry-run without a GPU needs --arch"
fi

finish_checks
