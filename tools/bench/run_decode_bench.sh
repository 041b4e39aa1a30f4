#!/usr/bin/env bash
# Paged decode (32 query / 8 KV heads, d128, page 16, random block tables, NHD and HND
# pages) beside torch SDPA on a contiguous cache, in one run on one GPU; FP8 KV; then a
# batch sweep for cliffs.
#   tools/bench/run_decode_bench.sh BUILD_DIR PEERS_SCRIPT
set -euo pipefail
build=${1:?usage: run_decode_bench.sh BUILD_DIR PEERS_SCRIPT}
peers=${2:?usage: run_decode_bench.sh BUILD_DIR PEERS_SCRIPT}
bench="$build/bin/attnjit-bench"
export ATTNJIT_CACHE_DIR=${ATTNJIT_CACHE_DIR:-$(mktemp -d)}

for shape in "64 8192" "128 4096" "1 32768" "16 4096" "32 16384"; do
  read -r batch ctx <<<"$shape"
  "$bench" decode --batch "$batch" --ctx "$ctx"
  "$bench" decode --batch "$batch" --ctx "$ctx" --layout HND
  python3 "$peers" decode --batch "$batch" --ctx "$ctx" --hq 32 --hk 8 --hdim 128
done
for layout in NHD HND; do
  for kv in fp8_e4m3 fp8_e5m2; do
    "$bench" decode --batch 64 --ctx 8192 --kv "$kv" --layout "$layout"
  done
done
# Batch sweeps across two wave boundaries (264 and 528 sequence x KV-head blocks for
# the bf16 decode tile): the heuristic's time per batch, and the fastest measured.
for ctx in 512 2048 8192; do
  "$bench" decode --ctx "$ctx" --sweep 72 --iters 20 --splits-list stream,1,2,3,4,6,8,16,32
done
"$bench" decode --kv fp8_e4m3 --ctx 8192 --sweep 72 --iters 20 --splits-list stream,1,2,3,4,6,8
