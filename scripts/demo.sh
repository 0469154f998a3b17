#!/usr/bin/env bash
# The main job, end to end: install, build, start tshmd, and share an array
# between three processes: the CLI creates it, a consumer maps it read-only
# and watches, a producer writes into it; then the CLI prints it.
# Usage: scripts/demo.sh   (as root, or a user with sudo, on Debian 12)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${TSHM_BUILD_DIR:-$top/build}

"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo

run=$(mktemp -d /tmp/tshm-demo-XXXXXX)
export TSHM_SOCKET=$run/tshm.sock
prefix=tshmdemo$$
daemon_pid=
cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        rm -f /dev/shm/"$prefix".* 2>/dev/null
        rm -rf "$run"
}
trap cleanup EXIT

tshm=$build/client/cli/tshm
echo "== starting tshmd on $TSHM_SOCKET"
"$build/daemon/tshmd" --foreground --shm-prefix "$prefix" --state-dir "$run/state" \
        --log-level notice &
daemon_pid=$!
for _ in $(seq 100); do
        "$tshm" stats >/dev/null 2>&1 && break
        sleep 0.05
done

echo "== process 1 (tshm create): a 4x4 float32 segment 'demo'"
"$tshm" create demo float32 4x4
"$tshm" ls

echo "== process 2 (consumer) maps it read-only; process 3 (producer) writes into it"
"$build/examples/consumer" demo 5 10 &
consumer_pid=$!
sleep 0.2
"$build/examples/producer" demo 5 200
wait "$consumer_pid"

echo "== process 4 (tshm cat) reads what the producer left"
"$tshm" cat demo
"$tshm" rm demo

echo "== Python: process 5 (consumer.py) sees through numpy what process 6 (producer.py) writes through torch"
PYTHONPATH="$build/client/python" /usr/bin/python3 "$top/examples/consumer.py" pydemo &
py_consumer=$!
PYTHONPATH="$build/client/python" /usr/bin/python3 "$top/examples/producer.py" pydemo 5
wait "$py_consumer"
echo "== done: every write crossed a process boundary through one shared mapping, no copy"
