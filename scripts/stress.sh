#!/usr/bin/env bash
# Build tshmd and the load generator, then load a daemon with many concurrent
# clients (tests/stress/tshm-load.c) and, with --faults, run the fault-injection
# tests too. ctest runs a small load (label "load") and the fault tests (label
# "fault") on every build; this script is for the big runs by hand.
#
# Usage: scripts/stress.sh [options] [-- more tshm-load options]
#   --build-dir DIR   build there (default: $TSHM_STRESS_BUILD or _build-stress);
#                     an existing build is reused, only the needed targets rebuilt
#   --clients N       concurrent clients (default 1000)
#   --seconds S       length of the run (default 60)
#   --warmup S        run the load S seconds before taking the baseline (default 0)
#   --socket PATH     load the tshmd listening there instead of starting one
#   --faults          also run the fault tests (ctest -L fault)
#   --repeat K        run everything K times (default 1)
# Exits non-zero if any run fails. Runs as any user; the full-/dev/shm fault
# test needs root and says "skipped" otherwise.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${TSHM_STRESS_BUILD:-$top/_build-stress}
clients=1000
seconds=60
warmup=0
socket=
faults=0
repeat=1
extra=()

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --socket) socket=$2; shift 2 ;;
    --faults) faults=1; shift ;;
    --repeat) repeat=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "stress.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

targets=(tshmd tshm-load)
if [ "$faults" = 1 ]; then
    targets+=(test_fault_clients test_fault_daemon test_fault_shm test_fault_resize)
fi
mkdir -p "$build"
echo "stress: building ${targets[*]} in $build"
if ! { { [ -f "$build/CMakeCache.txt" ] ||
    cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPython3_EXECUTABLE=/usr/bin/python3; } &&
    cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"; } >"$build/stress-build.log" 2>&1; then
    tail -n 60 "$build/stress-build.log" >&2
    echo "stress: build FAILED (full log: $build/stress-build.log)" >&2
    exit 1
fi

# tshmd needs a descriptor per client, and so do the workers.
want=$((clients + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
        echo "stress: warning: ulimit -n is $(ulimit -n); $clients clients need about $want" >&2
    fi
fi

load=("$build/tests/stress/tshm-load" --clients "$clients" --seconds "$seconds" --warmup "$warmup")
if [ -n "$socket" ]; then
    load+=(--socket "$socket")
else
    load+=(--tshmd "$build/daemon/tshmd")
fi
load+=("${extra[@]+"${extra[@]}"}")

failed=0
for i in $(seq 1 "$repeat"); do
    echo "== stress run $i of $repeat: ${load[*]}"
    "${load[@]}" || failed=$((failed + 1))
    if [ "$faults" = 1 ]; then
        echo "== fault tests, run $i of $repeat"
        (cd "$build" && ctest -L fault --output-on-failure -V) || failed=$((failed + 1))
    fi
done
if [ "$failed" -gt 0 ]; then
    echo "stress: $failed of the runs FAILED"
    exit 1
fi
echo "stress: all runs passed"
