#!/usr/bin/env bash
# The prefill benchmark beside the torch peers, in one run on one GPU, for the shapes
# of docs/BENCHMARKS.md: bf16, 16k tokens per batch, heads 32 (16 for d256).
#   tools/bench/run_prefill_bench.sh BUILD_DIR PEERS_SCRIPT [--flex]
# Prints one JSON line per measurement (impl "attnjit" from attnjit-bench; the peers'
# lines from their script), then the compile-cost lines.
set -euo pipefail
build=${1:?usage: run_prefill_bench.sh BUILD_DIR PEERS_SCRIPT [--flex]}
peers=${2:?usage: run_prefill_bench.sh BUILD_DIR PEERS_SCRIPT [--flex]}
flex=${3:-}
bench="$build/bin/attnjit-bench"
export ATTNJIT_CACHE_DIR=${ATTNJIT_CACHE_DIR:-$(mktemp -d)}

shapes=(
  "64 32 4096 0" "64 32 4096 1"
  "128 32 1024 0" "128 32 4096 0" "128 32 4096 1" "128 32 16384 0" "128 32 16384 1"
  "256 16 4096 0" "256 16 16384 1"
)
for shape in "${shapes[@]}"; do
  read -r hdim heads seqlen causal <<<"$shape"
  causal_flag=""
  [ "$causal" = 1 ] && causal_flag="--causal"
  "$bench" prefill --hdim "$hdim" --heads "$heads" --seqlen "$seqlen" --tokens 16384 $causal_flag
  python3 "$peers" prefill --hdim "$hdim" --heads "$heads" --seqlen "$seqlen" --tokens 16384 \
    $causal_flag $flex
done
"$bench" compile-cost
