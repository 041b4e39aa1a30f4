#!/usr/bin/env bash
# The fuzz suite against attnjit built with AddressSanitizer and UndefinedBehavior-
# Sanitizer, in a build directory of its own; only the CLI is built.
# usage: tests/fuzz/run_sanitized.sh [BUILD_DIR]     (default: build-sanitize)
# ATTNJIT_SANITIZE picks other sanitizers, ATTNJIT_FUZZ_SEED other inputs.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-sanitize}
# float-cast-overflow is not part of "undefined" in GCC, and a float too large for an
# int is what hostile numbers in a variant reach first.
sanitizers=${ATTNJIT_SANITIZE:-address,undefined,float-cast-overflow}
# -O1 -g1 builds in half the time of -O2 -g; line tables are all the sanitizers' stack
# traces need. Assertions stay on.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
      -DATTNJIT_SANITIZE="$sanitizers"
cmake --build "$build" -j2 --target attnjit
ctest --test-dir "$build" -R '^fuzz$' --output-on-failure
