#!/usr/bin/env bash
# run.sh: builds a release casegate and runs the benchmarks (bench/bench.py); results in bench/RESULTS.md.
# Usage: bench/run.sh [--smoke] [--pg | --storm]
#   --smoke: ~30 s, tiny sizes, results to a temp file, no numbers gated
#   --pg (or CG_BENCH_PG=1): the PostgreSQL backend instead (bench/bench_pg.py): starts a private
#        PostgreSQL, measures intake and drain next to a same-session SQLite baseline, and rewrites
#        only the "PostgreSQL backend" section of RESULTS.md. ~5 minutes; needs the postgresql package.
#   --storm: an alert storm (bench/bench_storm.py): 10,000 new alerts into one source against a
#        rate-limited casegate-sim, with and without `storm:`; rewrites only the "Alert storm" section.
#        ~3 minutes.
# Needs wrk and nginx (deploy/install-deps.sh test). Takes ~5-10 minutes without --smoke.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CG_BENCH_BUILD:-$root/build-bench}
script=bench.py
args=()
for a in "$@"; do
	if [ "$a" = --pg ]; then script=bench_pg.py; elif [ "$a" = --storm ]; then script=bench_storm.py; else args+=("$a"); fi
done
if [ "${CG_BENCH_PG:-0}" = 1 ]; then script=bench_pg.py; fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCG_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target casegate casegate-sim >/dev/null
CG_BENCH_BUILD=$build exec /usr/bin/python3 "$root/bench/$script" ${args[@]+"${args[@]}"}
