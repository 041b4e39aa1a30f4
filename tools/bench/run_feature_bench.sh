#!/usr/bin/env bash
# Variant features beside plain attention and the torch peers, in one run on one GPU:
# soft-capping, ALiBi and sinks against plain causal (bf16 d128, seqlen 4096, 16k
# tokens), and a 1024-key sliding window at seqlen 16384 against a bidirectional problem
# of seqlen 1024 with the same number of query tokens (both visit about 1024 keys per
# query). attnjit runs with the engine's default main loop; ATTNJIT_BENCH_FLAGS adds
# flags to every attnjit row.
#   tools/bench/run_feature_bench.sh BUILD_DIR PEERS_SCRIPT
set -euo pipefail
build=${1:?usage: run_feature_bench.sh BUILD_DIR PEERS_SCRIPT}
peers=${2:?usage: run_feature_bench.sh BUILD_DIR PEERS_SCRIPT}
here=$(cd "$(dirname "$0")" && pwd)
bench="$build/bin/attnjit-bench"
export ATTNJIT_CACHE_DIR=${ATTNJIT_CACHE_DIR:-$(mktemp -d)}
common=(--hdim 128 --heads 32 --tokens 16384)
# shellcheck disable=SC2206  # a list of flags
extra=(--hopper ${ATTNJIT_BENCH_FLAGS:-})

"$bench" prefill "${common[@]}" --seqlen 4096 --causal "${extra[@]}"
"$bench" prefill "${common[@]}" --seqlen 4096 --causal --softcap 50 "${extra[@]}"
"$bench" prefill "${common[@]}" --seqlen 4096 --causal --alibi "${extra[@]}"
"$bench" prefill "${common[@]}" --seqlen 4096 --causal --sinks "${extra[@]}"
"$bench" prefill "${common[@]}" --seqlen 16384 --causal --window 1024 "${extra[@]}"
"$bench" prefill "${common[@]}" --seqlen 1024 "${extra[@]}"
printf '%s\n' "prefill --hdim 128 --heads 32 --seqlen 4096 --tokens 16384 --causal --flex" \
  "prefill --hdim 128 --heads 32 --seqlen 1024 --tokens 16384 --flex" |
  python3 "$here/run_peers.py" "$peers"
