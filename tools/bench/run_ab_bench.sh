#!/usr/bin/env bash
# Two builds of attnjit on the same GPU in one run, interleaved shape by shape, for
# changes that must not make kernels slower (a refactor of the mainloop, a new
# template): prefill at the BENCHMARKS.md shapes, the variant features, and decode.
#   tools/bench/run_ab_bench.sh BEFORE_BIN_DIR AFTER_BIN_DIR
# Prints the benchmark's JSON lines with "build": "before" or "after" added.
set -euo pipefail
before=${1:?usage: run_ab_bench.sh BEFORE_BIN_DIR AFTER_BIN_DIR}
after=${2:?usage: run_ab_bench.sh BEFORE_BIN_DIR AFTER_BIN_DIR}
export ATTNJIT_CACHE_DIR=${ATTNJIT_CACHE_DIR:-$(mktemp -d)}

# Each case runs before, after, before, after: drift in clocks shows as a spread.
run() {
  for round in 1 2; do
    for build in before after; do
      local dir=$before
      [ "$build" = after ] && dir=$after
      "$dir/attnjit-bench" "$@" | sed "s/^{/{\"build\": \"$build\", \"round\": $round, /"
    done
  done
}

prefill=(--tokens 16384)
run prefill --hdim 64 --heads 32 --seqlen 4096 "${prefill[@]}"
run prefill --hdim 128 --heads 32 --seqlen 4096 "${prefill[@]}"
run prefill --hdim 128 --heads 32 --seqlen 4096 --causal "${prefill[@]}"
run prefill --hdim 256 --heads 16 --seqlen 4096 "${prefill[@]}"
run prefill --hdim 128 --heads 32 --seqlen 4096 --causal --softcap 50 "${prefill[@]}"
run prefill --hdim 128 --heads 32 --seqlen 4096 --causal --alibi "${prefill[@]}"
run prefill --hdim 128 --heads 32 --seqlen 16384 --causal --window 1024 "${prefill[@]}"
run decode --batch 64 --ctx 8192
run decode --batch 1 --ctx 32768
run decode --batch 64 --ctx 8192 --kv fp8_e4m3
