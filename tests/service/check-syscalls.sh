#!/usr/bin/env bash
# Would tshmd.service's seccomp filter let tshmd work? Without systemd as PID
# 1 the filter can't be applied here, so trace the daemon instead: run it
# under strace through its life (adopt segments at start, create, open, list,
# chmod, gc, unlink, stats, SIGHUP with --config, SIGTERM) and require that
# every system call it made is allowed by the unit's SystemCallFilter= lines
# (allow lists, then "~" deny lists, as systemd applies them).
#
# Usage: check-syscalls.sh UNIT TSHMD TSHM_CLI
# Exit 77: no strace, no systemd-analyze, or ptrace is not allowed here.
set -euo pipefail
unit=$1
tshmd=$2
cli=$3

for tool in strace systemd-analyze; do
        if ! command -v "$tool" >/dev/null; then
                echo "SKIP: $tool not found"
                exit 77
        fi
done

# All system calls of a list of names and @groups, groups expanded.
expand() {
        local item
        for item in "$@"; do
                if [[ $item == @* ]]; then
                        # shellcheck disable=SC2046
                        expand $(systemd-analyze syscall-filter "$item" | sed -e 's/^ *//' -e '/^#/d' -e '/^$/d' |
                                grep -vx -- "$item")
                else
                        echo "$item"
                fi
        done
}
allow=$(expand $(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$unit") | sort -u)
deny=$(expand $(sed -n 's/^SystemCallFilter=~\(.*\)/\1/p' "$unit") | sort -u)
# An allow line after a deny line takes its calls back out of the denied set
# (systemd applies the lines in order).
reallow=$(awk '/^SystemCallFilter=~/ { d = 1; next }
               d && /^SystemCallFilter=/ { sub(/^SystemCallFilter=/, ""); print }' "$unit")
if [ -n "$reallow" ]; then
        # shellcheck disable=SC2086
        deny=$(comm -23 <(echo "$deny") <(expand $reallow | sort -u))
fi
[ -n "$allow" ] || {
        echo "FAIL: no SystemCallFilter= allow list in $unit" >&2
        exit 1
}

tmp=$(mktemp -d /tmp/tshm-sys-XXXXXX)
prefix=tshmsys$$
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        rm -f /dev/shm/"$prefix".* /dev/shm/"$prefix"..*
        rm -rf "$tmp"
}
trap cleanup EXIT
env=(env -i PATH=/usr/bin:/bin)
tshm() { "${env[@]}" "$cli" --socket "$tmp/s" "$@"; }
wait_up() {
        for _ in $(seq 200); do
                tshm stats >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        echo "FAIL: tshmd did not come up: $(cat "$tmp/err")" >&2
        exit 1
}
# The daemon's own pid: under strace, $pid is strace's, which does not pass
# signals on.
daemon_pid() {
        tshm stats --json | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p'
}
stop() {
        kill -TERM "$(daemon_pid)"
        wait "$pid" || {
                echo "FAIL: tshmd exited $? after SIGTERM: $(cat "$tmp/err")" >&2
                exit 1
        }
        pid=
}

# A first daemon leaves segments behind for the traced one to adopt.
printf 'log-level = info\n' >"$tmp/conf"
"${env[@]}" "$tshmd" --foreground --socket "$tmp/s" --shm-prefix "$prefix" \
        --state-dir "$tmp/state" 2>"$tmp/err" &
pid=$!
wait_up
tshm create kept float32 64x64 >/dev/null
tshm create gone int8 8 >/dev/null
stop

if ! strace -f -qq -o "$tmp/trace" true 2>/dev/null; then
        echo "SKIP: strace cannot trace here (ptrace not permitted)"
        exit 77
fi
"${env[@]}" strace -f -qq -o "$tmp/trace" "$tshmd" --foreground --socket "$tmp/s" \
        --socket-mode 0660 --shm-prefix "$prefix" --state-dir "$tmp/state" --config "$tmp/conf" \
        2>"$tmp/err" &
pid=$!
wait_up
tshm create big float32 1024x1024 >/dev/null # created off the loop (thread pool)
tshm create small float64 3 >/dev/null
tshm ls >/dev/null
tshm info kept >/dev/null
tshm cat small >/dev/null
tshm chmod 0640 kept
tshm gc >/dev/null || true # only root or the daemon's user may: either answer will do
tshm rm big gone
tshm stats >/dev/null
kill -HUP "$(daemon_pid)"
for _ in $(seq 100); do grep -q SIGHUP "$tmp/err" && break; sleep 0.05; done
stop

used=$(awk '/execve\(/ && /tshmd/ {f = 1} f' "$tmp/trace" |
        sed -n 's/^[0-9][0-9]* *\([a-z_0-9]*\)(.*/\1/p' | sort -u)
status=0
for call in $used; do
        if ! grep -qx "$call" <<<"$allow"; then
                echo "FAIL: tshmd calls $call, which $(basename "$unit")'s SystemCallFilter= does not allow" >&2
                status=1
        elif grep -qx "$call" <<<"$deny"; then
                echo "FAIL: tshmd calls $call, which $(basename "$unit") denies (SystemCallFilter=~)" >&2
                status=1
        fi
done
[ $status -eq 0 ] && echo "ok: all $(wc -w <<<"$used") system calls tshmd made are allowed: $(echo $used)"
exit $status
