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
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNJIT_SANITIZE="$sanitizers"
cmake --build "$build" -j2 --target attnjit
ctest --test-dir "$build" -R '^fuzz$' --output-on-failure
