#!/usr/bin/env bash
# dev.sh: the two README commands. `deploy/dev.sh run` starts casegate on its embedded defaults;
# `deploy/dev.sh test` runs the whole test suite. Both install what is missing first.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
shift || true

build() { # build DIR [cmake args...]
	local dir=$1
	shift
	cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
	cmake --build "$dir" -j"$(nproc)"
}

case "$cmd" in
run)
	"$root/deploy/install-deps.sh" build
	build "$root/build" -DCG_TESTS=OFF
	config=${CASEGATE_CONFIG:-$root/conf/casegate.yaml}
	args=(run -c "$config")
	if [ -z "${DEMO_TOKEN:-}" ]; then
		# The example config holds no secret: its demo source's token comes from here.
		export DEMO_TOKEN=demo
		echo "dev.sh: DEMO_TOKEN not set: the demo source takes 'Authorization: Bearer demo'" >&2
	fi
	if [ -z "${DD_API_KEY:-}" ] || [ -z "${DD_APP_KEY:-}" ]; then
		# No Datadog keys: run against the local Case API simulator instead.
		sim_port=${CASEGATE_SIM_PORT:-8126}
		# The simulator keeps its cases next to casegate's state (conf/var, the example config's
		# state_dir): casegate remembers cases across a restart, so must the simulator, or the
		# next update of a remembered case gets 404. Deleting conf/var resets both.
		sim_state=${CASEGATE_SIM_STATE:-$root/conf/var/sim-state.json}
		(umask 077 && mkdir -p "$(dirname "$sim_state")")
		"$root/build/casegate-sim" --listen "127.0.0.1:$sim_port" --state "$sim_state" &
		sim_pid=$!
		trap 'kill $sim_pid 2>/dev/null || true' EXIT
		echo "dev.sh: no DD_API_KEY/DD_APP_KEY set: using casegate-sim on 127.0.0.1:$sim_port" \
			"(cases: curl http://127.0.0.1:$sim_port/_sim/cases; kept in $sim_state)" >&2
		export DD_API_KEY=sim DD_APP_KEY=sim
		args+=(--datadog-url "http://127.0.0.1:$sim_port")
	fi
	"$root/build/casegate" "${args[@]}" "$@"
	;;
test)
	"$root/deploy/install-deps.sh" test
	# Skips are shown, never silent: every test that skips prints a CASEGATE-SKIP line (see
	# tests/harness/harness.h); they are gathered from each ctest run's log and listed at the end,
	# however the run ends. Under CI=true a skip for a tool deploy/install-deps.sh installs (its
	# skip-tools table) fails the run: there the tool should have been there.
	skips=$(mktemp)
	skipped() { # skipped TOOL WHAT REASON: a part of this script that did not run
		echo "dev.sh $2: tool=$1 $3" >>"$skips"
	}
	collect_skips() { # collect_skips BUILD_DIR RUN: the skip lines of the ctest run just done
		local log=$1/Testing/Temporary/LastTest.log
		[ -f "$log" ] || return 0
		# "N/M Test: name" opens each test's part of the log; a line from a child process
		# (check_deploy.py, validate.py) is thus put under the test that ran it.
		awk -v run="$2" '
			/^[0-9]+\/[0-9]+ Test: / { name = $3 }
			/CASEGATE-SKIP / { sub(/.*CASEGATE-SKIP /, ""); print run " " name ": " $0 }
		' "$log" >>"$skips"
	}
	skip_summary() {
		local rc=$? line tool required=() bad=()
		if [ -s "$skips" ]; then
			echo "dev.sh: skipped (run test: tool=... test=...: why):" >&2
			sort -u "$skips" | sed 's/^/  /' >&2
			mapfile -t required < <("$root/deploy/install-deps.sh" skip-tools | cut -d' ' -f1)
			while IFS= read -r line; do
				tool=${line#*tool=}
				tool=${tool%% *}
				if printf '%s\n' "${required[@]}" | grep -qxF -- "$tool"; then
					bad+=("$line")
				fi
			done < <(sort -u "$skips")
			if [ "${CI:-}" = true ] && [ ${#bad[@]} -gt 0 ]; then
				echo "dev.sh: CI=true: ${#bad[@]} skip(s) for tools deploy/install-deps.sh installs" \
					"(deploy/install-deps.sh skip-tools); failing" >&2
				[ "$rc" != 0 ] || rc=1
			fi
		else
			echo "dev.sh: nothing skipped" >&2
		fi
		rm -f "$skips"
		exit "$rc"
	}
	trap skip_summary EXIT
	build "$root/build"
	rc=0
	(cd "$root/build" && ctest --output-on-failure -j2 --timeout 900 "$@") || rc=$?
	collect_skips "$root/build" plain
	[ "$rc" = 0 ] || exit "$rc"
	if [ "${CG_SKIP_SANITIZE:-0}" != 1 ]; then
		# The same suite under ASan + UBSan.
		build "$root/build-asan" -DCG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
		(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			ctest --output-on-failure -j2 --timeout 900 "$@") || rc=$?
		collect_skips "$root/build-asan" asan
		[ "$rc" = 0 ] || exit "$rc"
	else
		skipped none asan "CG_SKIP_SANITIZE=1: no ASan/UBSan run"
	fi
	if [ "${CG_SKIP_VALGRIND:-0}" = 1 ]; then
		skipped none valgrind "CG_SKIP_VALGRIND=1: no valgrind run"
	elif ! command -v valgrind >/dev/null; then
		skipped valgrind valgrind "valgrind missing: no valgrind run"
	else
		# Short integration tests with the daemon under valgrind (CG_VALGRIND=1: itest.h wraps
		# it; any error or definite leak fails the test).
		(cd "$root/build" && CG_VALGRIND=1 ctest --output-on-failure --timeout 600 \
			-R "${CG_VALGRIND_TESTS:-^(test_app_reliability|test_lifecycle_daemon)\$}") || rc=$?
		collect_skips "$root/build" valgrind
		[ "$rc" = 0 ] || exit "$rc"
	fi
	if [ "${CG_SKIP_FUZZ:-0}" = 1 ]; then
		skipped none fuzz "CG_SKIP_FUZZ=1: no fuzzing"
	elif ! command -v clang >/dev/null; then
		skipped clang fuzz "clang missing: no fuzzing"
	fi
	if [ "${CG_SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null; then
		# Every libFuzzer target for a bounded time from its committed corpus; a crash fails.
		build "$root/build-fuzz" -DCMAKE_C_COMPILER=clang -DCG_FUZZ=ON -DCG_TESTS=OFF
		# Mapper targets (fuzz_mappers runs them all; fuzz_mapper_<name> one each) get the
		# short budget so one target per mapper does not multiply the step's time, and
		# CG_FUZZ_JOBS targets run at once: ~2 min of fuzzing on 2 cores.
		gen_secs=${CG_FUZZ_SECONDS:-20}
		map_secs=${CG_FUZZ_MAPPER_SECONDS:-5}
		max_jobs=${CG_FUZZ_JOBS:-2}
		declare -A running=() # pid -> target name
		failed=0
		reap() { # waits for one target, prints the end of its log, records a failure
			local pid rc=0 name
			wait -n -p pid || rc=$?
			name=${running[$pid]}
			unset "running[$pid]"
			tail -n 12 "$root/build-fuzz/$name.log"
			if [ "$rc" != 0 ]; then
				echo "dev.sh: $name failed (exit $rc); the input is in $root/build-fuzz/$name-*" \
					"(log: $root/build-fuzz/$name.log)" >&2
				failed=1
			fi
		}
		for bin in "$root"/build-fuzz/fuzz_*; do
			[ -x "$bin" ] && [ -f "$bin" ] || continue
			name=$(basename "$bin")
			case $name in *.log | *-crash-* | *-leak-* | *-timeout-* | *-oom-* | *-slow-unit-*) continue ;; esac
			corpus="$root/tests/fuzz/corpus/${name#fuzz_}"
			dict="$root/tests/fuzz/${name#fuzz_}.dict"
			secs=$gen_secs
			case $name in
			fuzz_mappers | fuzz_mapper_*)
				secs=$map_secs
				[ -f "$dict" ] || dict="$root/tests/fuzz/mappers.dict"
				;;
			esac
			# New inputs go to a scratch directory: the committed corpus stays as it is.
			args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
				-artifact_prefix="$root/build-fuzz/$name-")
			[ -f "$dict" ] && args+=(-dict="$dict")
			dirs=()
			[ -d "$corpus" ] && dirs+=("$corpus")
			echo "dev.sh: fuzzing $name for ${secs}s" >&2
			(
				scratch=$(mktemp -d)
				rc=0
				"$bin" "${args[@]}" "$scratch" "${dirs[@]}" >"$root/build-fuzz/$name.log" 2>&1 || rc=$?
				rm -rf "$scratch"
				exit "$rc"
			) &
			running[$!]=$name
			while [ "${#running[@]}" -ge "$max_jobs" ]; do reap; done
		done
		while [ "${#running[@]}" -gt 0 ]; do reap; done
		[ "$failed" = 0 ] || exit 1
	fi
	;;
*)
	echo "usage: deploy/dev.sh run [casegate args...] | test [ctest args...]" >&2
	exit 2
	;;
esac
