#!/usr/bin/env bash
# Kernel templates against each other with one build, on the same GPU in one run: the
# A/B for a template change (the engine reads $ATTNJIT_TEMPLATE_DIR/templates/ in place
# of the embedded templates, so no second build is needed). Each TEMPLATE_DIR is laid
# out like the repository root, e.g. the templates of a revision:
#   mkdir -p old && git archive REV templates | tar -x -C old
# Standard input holds one attnjit-bench command line a row (a shape). Every row runs
# once per directory per round, the directories alternating inside each row, so drift
# in clocks shows as spread between rounds rather than as a difference.
#   printf '%s\n' "prefill --hopper --hdim 128 --seqlen 4096 --causal" |
#       tools/bench/run_template_ab.sh BUILD_DIR ROUNDS TEMPLATE_DIR...
# Prints the benchmark's JSON lines with "templates" (the directory's name) and
# "round" added.
set -euo pipefail
usage="usage: run_template_ab.sh BUILD_DIR ROUNDS TEMPLATE_DIR... < rows"
build=${1:?$usage}
rounds=${2:?$usage}
shift 2
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
bench="$build/bin/attnjit-bench"
for dir in "$@"; do
  [ -d "$dir/templates" ] || { echo "run_template_ab.sh: $dir has no templates/ directory" >&2; exit 2; }
done
export ATTNJIT_CACHE_DIR=${ATTNJIT_CACHE_DIR:-$(mktemp -d)}

mapfile -t rows
for ((round = 1; round <= rounds; ++round)); do
  for row in "${rows[@]}"; do
    [ -n "$row" ] || continue
    for dir in "$@"; do
      name=$(basename "$dir")
      # shellcheck disable=SC2086  # a row is a list of flags
      ATTNJIT_TEMPLATE_DIR=$(cd "$dir" && pwd) "$bench" $row |
        sed "s/^{/{\"templates\": \"$name\", \"round\": $round, /"
    done
  done
done
