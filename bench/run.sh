#!/usr/bin/env bash
# run.sh: builds a release casegate and runs the benchmarks (bench/bench.py); results in bench/RESULTS.md.
# Usage: bench/run.sh [--smoke]   (--smoke: ~30 s, tiny sizes, results to a temp file, no numbers gated)
# Needs wrk and nginx (deploy/install-deps.sh test). Takes ~5-10 minutes without --smoke.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CG_BENCH_BUILD:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCG_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target casegate casegate-sim >/dev/null
CG_BENCH_BUILD=$build exec /usr/bin/python3 "$root/bench/bench.py" "$@"
