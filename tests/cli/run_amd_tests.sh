#!/bin/bash
# The AMD targets on a machine without an AMD GPU: the CLI builds every kind for them
# (prefill, paged, merge, cache_write) and refuses unknown processors with a clear error
# (never a crash), and the code objects
# the backend and kernel tests build (hiprtc for gfx90a, clang for gfx942) are read back
# with LLVM's own tools: the amdhsa.target note names the target, the kernel and its
# descriptor are there, no scratch, LDS within 64 KiB, and the disassembly holds MFMAs.
# Usage: run_amd_tests.sh PATH/TO/attnjit PATH/TO/attnjit-tests SOURCE_DIR
# With ATTNJIT_REQUIRE_AMD_COMPILERS=1 (CI), missing compilers or LLVM tools fail the
# run instead of skipping their checks.
set -u

if [ $# -ne 3 ]; then
  echo "usage: $0 PATH/TO/attnjit PATH/TO/attnjit-tests SOURCE_DIR" >&2
  exit 2
fi
ATTNJIT=$1
TESTS=$2
SRC=$3
DEFAULT_SET="$SRC/configs/variants/default.attn"
PAGED_SET="$SRC/configs/variants/paged.attn"
VARIANT=llama3_gqa_causal
require=${ATTNJIT_REQUIRE_AMD_COMPILERS:-0}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/attnjit-amd-tests.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export ATTNJIT_CACHE_DIR="$TMP/cache"

source "$(dirname "$0")/checks.sh"

# expect_no_crash NAME: the last command ended by exit(), not by a signal.
expect_no_crash() {
  if [ "$status" -lt 128 ]; then pass "$1"; else fail "$1" "ended by a signal (exit $status)"; fi
}

# skip_or_fail NAME WHY: a check that cannot run here; a failure where CI requires it.
skip_or_fail() {
  if [ "$require" = 1 ]; then
    run true
    fail "$1" "$2 (ATTNJIT_REQUIRE_AMD_COMPILERS=1)"
  else
    echo "skip  $1: $2"
  fi
}

# --- the CLI on AMD targets --------------------------------------------------------------
have_hip_compiler=0
if command -v clang-19 >/dev/null; then have_hip_compiler=1; fi
for arch in gfx90a gfx942; do
  # emit prints the HIP source of the MFMA prefill and paged kernels.
  run "$ATTNJIT" emit --stage src "$DEFAULT_SET" --variant "$VARIANT" --arch "$arch"
  expect_status "emit --stage src --arch $arch exits 0" 0
  expect_out "emit --arch $arch names the HIP dialect" stdout "kind prefill, arch $arch \(HIP\)$"
  expect_out "emit --arch $arch renders the MFMA main loop" stdout \
    "^// ---- templates/kernels/attention_core_mfma\.cuh ----$"
  run "$ATTNJIT" emit --stage src "$PAGED_SET" --variant llama3_paged --kind paged --arch "$arch"
  expect_status "emit --kind paged --arch $arch exits 0" 0
  expect_out "emit --kind paged --arch $arch renders the MFMA main loop" stdout \
    "^// Rendered from templates/kernels/attention_core_mfma\.cuh and templates/kernels/paged_blocks\.cuh;"
done
# Every kind has HIP kernels: the CLI builds them (hiprtc for gfx90a, clang for gfx942;
# clang builds both) when a compiler is there.
for arch in gfx90a gfx942; do
  for kind in prefill paged merge cache_write; do
    set_file=$PAGED_SET
    variant=llama3_paged
    if [ "$kind" = prefill ]; then set_file=$DEFAULT_SET; variant=$VARIANT; fi
    run "$ATTNJIT" compile "$set_file" --variant "$variant" --kind "$kind" --arch "$arch"
    expect_no_crash "compile --kind $kind --arch $arch does not crash"
    if [ "$have_hip_compiler" = 0 ]; then
      skip_or_fail "compile --kind $kind --arch $arch" "no clang-19 (tools/install-deps.sh installs it)"
      continue
    fi
    expect_status "compile --kind $kind --arch $arch exits 0" 0
    expect_out "compile --kind $kind --arch $arch builds HSACO" stdout "^binary +hsaco, [0-9]+ bytes$"
  done
done
for arch in gfx908 gfx1100 gfx999; do
  run "$ATTNJIT" compile "$DEFAULT_SET" --variant "$VARIANT" --arch "$arch"
  expect_status "compile --arch $arch exits 2" 2
  expect_out "compile --arch $arch names the targets there are" stderr \
    "--arch: unsupported target '$arch' \(supported: .*gfx90a, gfx942\)"
  expect_no_crash "compile --arch $arch does not crash"
done

# --- ahead of time: HSACO directories ----------------------------------------------------
# A build for both AMD targets holds every kernel the planner lists for the variants, as
# on CUDA targets: prefill, paged (each tile and split), merge and cache_write.
if [ "$have_hip_compiler" = 0 ]; then
  skip_or_fail "aot build --arch gfx90a,gfx942" "no clang-19 (tools/install-deps.sh installs it)"
else
  AOT="$TMP/aot-amd"
  run "$ATTNJIT" aot build --variants "$DEFAULT_SET,$PAGED_SET" --arch gfx90a,gfx942 --out "$AOT" --jobs 2
  expect_status "aot build --arch gfx90a,gfx942 exits 0" 0
  expect_no_crash "aot build --arch gfx90a,gfx942 does not crash"
  expect_out "aot build builds every listed kernel" stdout "^built ([0-9]+) of \1 kernels .*, 0 failed"
  # The index: HSACO for both targets, each kind, the paged kernels in every split.
  cat >"$TMP/index_kinds.py" <<'EOF2'
import json, sys
entries = json.load(open(sys.argv[1]))["entries"]
kinds = {(e["target"], e["kind"]) for e in entries}
problems = [f"{e['name']}: format {e['format']}" for e in entries if e["format"] != "hsaco"]
problems += [f"no {k} kernel for {t}" for t in ("gfx90a", "gfx942")
             for k in ("prefill", "paged", "merge", "cache_write") if (t, k) not in kinds]
# Each paged variant: the general and the decode tile, whole and in segments, and the
# decode tile's stream split; gemma2_int8_paged's two tiles (head_dim 256) are one.
paged = [e for e in entries if e["kind"] == "paged"]
for t in ("gfx90a", "gfx942"):
    n = sum(1 for e in paged if e["target"] == t)
    if n != 13: problems.append(f"{t}: {n} paged kernels, not 13")
print("\n".join(problems) if problems else f"ok {len(entries)}")
EOF2
  run python3 "$TMP/index_kinds.py" "$AOT/index.json"
  expect_out "the AOT index holds HSACO of every kind for both targets, 13 paged kernels each" \
    stdout "^ok [0-9]+$"

  # verify reads every HSACO entry (ELF, target note and flags, kernel descriptor) and
  # finds every kernel of the inputs through the engine's lookup, JIT off.
  run "$ATTNJIT" aot verify "$AOT" --variants "$DEFAULT_SET,$PAGED_SET" --arch gfx90a,gfx942
  expect_status "aot verify of the HSACO directory exits 0" 0
  expect_out "aot verify checks each entry" stdout "^ok +.*aot-amd: [0-9]+ entries, 0 problems$"
  expect_out "aot verify finds every kernel the inputs list" stdout "^ok +([0-9]+) of \1 kernels the inputs list are found$"
  # A gfx942 entry whose file is a gfx90a code object (size and checksum made to match):
  # the HSACO check, not the checksum, refuses it.
  cp -r "$AOT" "$TMP/aot-amd-bad"
  cat >"$TMP/swap_entry.py" <<'EOF2'
import json, sys
path = sys.argv[1]
doc = json.load(open(path))
entries = doc["entries"]
src = next(e for e in entries if e["target"] == "gfx90a" and e["kind"] == "merge")
dst = next(e for e in entries if e["target"] == "gfx942" and e["kind"] == "merge")
for field in ("file", "size", "sha256"):
    dst[field] = src[field]
json.dump(doc, open(path, "w"), indent=1)
print(dst["file"])
EOF2
  run python3 "$TMP/swap_entry.py" "$TMP/aot-amd-bad/index.json"
  expect_status "the index is patched" 0
  run "$ATTNJIT" aot verify "$TMP/aot-amd-bad"
  expect_status "aot verify of a gfx90a object listed for gfx942 exits 1" 1
  expect_out "aot verify names the target mismatch" stdout "^bad +.*\.hsaco is listed for gfx942, but .*gfx90a"
fi

# --- code objects from the backend tests, read with LLVM's tools ----------------------
objects="$TMP/hsaco"
run env ATTNJIT_HSACO_OUT="$objects" "$TESTS" "[hip]"
expect_status "the HIP backend tests pass" 0

readelf="" objdump=""
for v in -19 -18 -17 ""; do
  if [ -z "$readelf" ] && command -v "llvm-readelf$v" >/dev/null; then readelf="llvm-readelf$v"; fi
  if [ -z "$objdump" ] && command -v "llvm-objdump$v" >/dev/null; then objdump="llvm-objdump$v"; fi
done

# Each object the tests keep, with the MFMA instruction its kernel uses.
declare -A mfma=(
  [test.mfma32x32x8bf16.gfx90a.hiprtc]="v_mfma_f32_32x32x8bf16_1k"
  [test.mfma16x16x16bf16.gfx90a.hiprtc]="v_mfma_f32_16x16x16bf16_1k"
  [test.mfma16x16x16bf16.gfx942.clang]="v_mfma_f32_16x16x16_bf16"
)
for name in "${!mfma[@]}"; do
  file="$objects/$name.hsaco"
  arch=$(echo "$name" | cut -d. -f3)
  if [ ! -f "$file" ]; then
    skip_or_fail "$name" "not built (its compiler is not installed; tools/install-deps.sh installs it)"
    continue
  fi
  if [ -z "$readelf" ] || [ -z "$objdump" ]; then
    skip_or_fail "$name" "no llvm-readelf / llvm-objdump (tools/install-deps.sh installs llvm-19)"
    continue
  fi
  run "$readelf" --notes "$file"
  expect_status "$name: $readelf --notes reads it" 0
  expect_out "$name: the amdhsa.target note names $arch" stdout "amdhsa\.target: +amdgcn-amd-amdhsa--$arch(:|$)"
  expect_out "$name: the metadata names the kernel" stdout "\.name: +attnjit_mfma_test$"
  expect_out "$name: the metadata names its descriptor" stdout "\.symbol: +attnjit_mfma_test\.kd$"
  expect_out "$name: wave64" stdout "\.wavefront_size: +64$"
  expect_out "$name: no VGPR spills" stdout "\.vgpr_spill_count: +0$"
  run "$readelf" --file-header "$file"
  expect_out "$name: the ELF header's flags name $arch" stdout "Flags: .*\b$arch\b"
  run "$objdump" -d "--mcpu=$arch" "$file"
  expect_status "$name: $objdump disassembles it" 0
  expect_out "$name: the disassembly holds ${mfma[$name]}" stdout "\b${mfma[$name]}\b"
done

# The HIP kernels of [hip_kernels]: each code object names its target and its kernel,
# runs wave64, uses no scratch (no VGPR spills, no private segment), keeps its LDS within
# the 64 KiB of a CDNA workgroup, and the attention kinds' hold MFMAs. The shipped
# variants' prefill and row kernels spill no SGPRs either; paged kernels (their rows,
# keys and block-table pages are many 64-bit scalars) and the feature variants'
# ("feature." objects) may spill SGPRs into VGPR lanes (no memory), which is reported.
kernels=0
for file in "$objects"/attnjit_*.hsaco "$objects"/feature.attnjit_*.hsaco; do
  [ -f "$file" ] || continue
  if [ -z "$readelf" ] || [ -z "$objdump" ]; then
    skip_or_fail "kernel code objects" "no llvm-readelf / llvm-objdump (tools/install-deps.sh installs llvm-19)"
    break
  fi
  kernels=$((kernels + 1))
  name=$(basename "$file" .hsaco)
  base=${name#feature.}
  entry=${base%%.*}
  arch=$(echo "$name" | awk -F. '{print $(NF-1)}')
  run "$readelf" --notes "$file"
  expect_out "$name: the amdhsa.target note names $arch" stdout "amdhsa\.target: +amdgcn-amd-amdhsa--$arch(:|$)"
  expect_out "$name: the metadata names the kernel" stdout "\.name: +$entry$"
  expect_out "$name: the metadata names its descriptor" stdout "\.symbol: +$entry\.kd$"
  expect_out "$name: wave64" stdout "\.wavefront_size: +64$"
  expect_out "$name: no VGPR spills" stdout "\.vgpr_spill_count: +0$"
  if [ "$base" = "$name" ] && [ "${entry#attnjit_paged_}" = "$entry" ]; then
    expect_out "$name: no SGPR spills" stdout "\.sgpr_spill_count: +0$"
  else
    sgpr_spills=$(grep -oE "\.sgpr_spill_count: +[0-9]+" "$TMP/stdout" | grep -oE "[0-9]+$")
    if [ "${sgpr_spills:-0}" != 0 ]; then echo "note  $name: $sgpr_spills SGPRs spilled into VGPR lanes"; fi
  fi
  expect_out "$name: no scratch" stdout "\.private_segment_fixed_size: +0$"
  lds=$(grep -oE "\.group_segment_fixed_size: +[0-9]+" "$TMP/stdout" | grep -oE "[0-9]+$")
  if [ -n "$lds" ] && [ "$lds" -le 65536 ]; then pass "$name: static LDS $lds <= 64 KiB"
  else fail "$name: static LDS within 64 KiB" "got '${lds}'"; fi
  case "$entry" in
    attnjit_prefill_*|attnjit_paged_*)
      run "$objdump" -d "--mcpu=$arch" "$file"
      expect_out "$name: the disassembly holds MFMAs" stdout "\bv_mfma_f32_(32x32x8|16x16x16)" ;;
  esac
done
if [ "$kernels" = 0 ]; then
  skip_or_fail "kernel code objects" "none built (no HIP compiler installed)"
fi

finish_checks
