#!/usr/bin/env bash
# Variant features beside plain attention and the torch peers, in one run on one GPU:
# soft-capping and ALiBi against plain causal (bf16 d128, seqlen 4096, 16k tokens), and
# a 1024-key sliding window at seqlen 16384 against a bidirectional problem of seqlen
# 1024 with the same number of query tokens (both visit about 1024 keys per query).
#   tools/bench/run_feature_bench.sh BUILD_DIR PEERS_SCRIPT
set -euo pipefail
build=${1:?usage: run_feature_bench.sh BUILD_DIR PEERS_SCRIPT}
peers=${2:?usage: run_feature_bench.sh BUILD_DIR PEERS_SCRIPT}
bench="$build/bin/attnjit-bench"
export ATTNJIT_CACHE_DIR=${ATTNJIT_CACHE_DIR:-$(mktemp -d)}
common=(--hdim 128 --heads 32 --tokens 16384)

"$bench" prefill "${common[@]}" --seqlen 4096 --causal
"$bench" prefill "${common[@]}" --seqlen 4096 --causal --softcap 50
"$bench" prefill "${common[@]}" --seqlen 4096 --causal --alibi
"$bench" prefill "${common[@]}" --seqlen 16384 --causal --window 1024
"$bench" prefill "${common[@]}" --seqlen 1024
python3 "$peers" prefill --hdim 128 --heads 32 --seqlen 4096 --tokens 16384 --causal --flex
python3 "$peers" prefill --hdim 128 --heads 32 --seqlen 1024 --tokens 16384
