#!/usr/bin/env bash
# The prefill benchmark beside the torch peers, in one run on one GPU, for the table of
# docs/BENCHMARKS.md: bf16 and fp16, 16k tokens per batch, heads 32 (16 for d256), head
# dims 64, 128 and 256, seqlen 1024, 4096 and 16384, causal and not, plus the Llama-3.1
# GQA shape (64 query / 8 KV heads, d128, seqlen 16384).
#   tools/bench/run_prefill_bench.sh BUILD_DIR PEERS_SCRIPT [--quick]
# --quick: bf16 seqlen 4096 only. attnjit runs as the engine does by default (the
# Hopper one on an sm_90 device where it takes the call); ATTNJIT_BENCH_FLAGS adds flags
# to every attnjit row (e.g. "--tile ..."). Prints one JSON line per measurement (impl
# "attnjit" from attnjit-bench, the peers' lines from their script), then compile cost.
set -euo pipefail
build=${1:?usage: run_prefill_bench.sh BUILD_DIR PEERS_SCRIPT [--quick]}
peers=${2:?usage: run_prefill_bench.sh BUILD_DIR PEERS_SCRIPT [--quick]}
quick=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
bench="$build/bin/attnjit-bench"
export ATTNJIT_CACHE_DIR=${ATTNJIT_CACHE_DIR:-$(mktemp -d)}

dtypes=(bf16 fp16)
seqlens=(1024 4096 16384)
if [ "$quick" = --quick ]; then dtypes=(bf16); seqlens=(4096); fi

rows=()
for dtype in "${dtypes[@]}"; do
  for hdim in 64 128 256; do
    heads=32
    [ "$hdim" = 256 ] && heads=16
    for seqlen in "${seqlens[@]}"; do
      for causal in "" "--causal"; do
        rows+=("--dtype $dtype --hdim $hdim --heads $heads --seqlen $seqlen --tokens 16384 $causal")
      done
    done
  done
  for causal in "" "--causal"; do
    rows+=("--dtype $dtype --hdim 128 --heads 64 --kv-heads 8 --seqlen 16384 --tokens 16384 $causal")
  done
done

for row in "${rows[@]}"; do
  # shellcheck disable=SC2086  # a row is a list of flags
  "$bench" prefill $row --hopper ${ATTNJIT_BENCH_FLAGS:-}
done
# The peers spell the dtypes as torch does.
printf 'prefill %s\n' "${rows[@]}" | sed -e 's/--dtype bf16/--dtype bfloat16/' -e 's/--dtype fp16/--dtype float16/' |
  python3 "$here/run_peers.py" "$peers"
"$bench" compile-cost
