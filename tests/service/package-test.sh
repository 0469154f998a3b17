#!/usr/bin/env bash
# Build the Debian packages, install them, run the installed daemon as its
# units would, use it, and purge the packages.
#
#  1. copy the tree (what git tracks, plus untracked files it does not
#     ignore) to WORK/src, so that dpkg-buildpackage leaves the checkout alone
#  2. dpkg-buildpackage -us -uc -b; lintian (errors fail, the rest is shown)
#  3. dpkg -i all five; the user tshm, /run/tshm, the enabled socket, and
#     systemd-analyze verify of the installed units
#  4. tshmd as the service would run it: ExecStart= from the installed unit,
#     TSHMD_OPTS from /etc/default/tshmd, as user tshm, NOTIFY_SOCKET and
#     JOURNAL_STREAM set, first behind systemd-socket-activate with the
#     socket unit's path, mode and group, then binding its own socket; tshm ls,
#     a Python round trip, an outsider refused, segments kept over a restart
#  5. dpkg --purge, also when a step fails
#
# Usage: tests/service/package-test.sh WORK   (as root or with sudo, Debian 12)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/service
work=$1
packages=(libtshm0 libtshm-dev tshmd tshm-tools python3-tshm)
sock=/run/tshm/tshm.sock
# The daemon under test is found at its default path, nowhere else.
unset TSHM_SOCKET XDG_RUNTIME_DIR
SUDO=
if [ "$(id -u)" -ne 0 ]; then
        SUDO=sudo
fi
step() { echo "-- package: $*"; }
die() {
        echo "FAIL: package: $*" >&2
        exit 1
}

rm -rf "$work"
mkdir -p "$work/src"

step "copy the tree to $work/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$top" && git ls-files -co --exclude-standard -z |
                while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
                tar --null -T - -cf -) | tar -C "$work/src" -xf -
else
        tar -C "$top" --exclude='./build*' --exclude='./_build*' -cf - . | tar -C "$work/src" -xf -
fi

step "dpkg-buildpackage -us -uc -b"
if ! (cd "$work/src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$work/build.log" 2>&1; then
        tail -n 60 "$work/build.log" >&2
        die "dpkg-buildpackage failed (full log: $work/build.log)"
fi
changes=$(ls "$work"/tshm_*.changes)
debs=()
for p in "${packages[@]}"; do
        debs+=("$(ls "$work"/"${p}"_*.deb)")
done

step "lintian (errors fail)"
lintian_rc=0
lintian --fail-on error --display-info --tag-display-limit 0 "$changes" >"$work/lintian.log" 2>&1 ||
        lintian_rc=$?
sed 's/^/   /' "$work/lintian.log"
[ "$lintian_rc" -eq 0 ] || die "lintian reports errors"

# From here on the packages are on the machine: purge them on every exit.
daemon_pid=
notify_pid=
prefix=tshmpkg$$
cleanup() {
        local rc=$?
        [ -n "$daemon_pid" ] && $SUDO kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        [ -n "$notify_pid" ] && kill "$notify_pid" 2>/dev/null && wait "$notify_pid" 2>/dev/null
        step "dpkg --purge ${packages[*]}"
        $SUDO dpkg --purge "${packages[@]}" >"$work/purge.log" 2>&1 || {
                cat "$work/purge.log" >&2
                rc=1
        }
        for f in /usr/sbin/tshmd /usr/bin/tshm /usr/include/tshm.h /etc/default/tshmd \
                /lib/systemd/system/tshmd.socket /etc/systemd/system/sockets.target.wants/tshmd.socket \
                /usr/lib/python3/dist-packages/tshm /var/lib/tshm; do
                if [ -e "$f" ] || [ -L "$f" ]; then
                        echo "FAIL: package: $f is left after dpkg --purge" >&2
                        rc=1
                fi
        done
        $SUDO rm -f /dev/shm/"$prefix".* /dev/shm/"$prefix"..* "$sock"
        if [ -n "${huge_mounted-}" ]; then
                $SUDO umount "$huge_mounted" || rc=1
        fi
        [ -n "${notify_dir-}" ] && rm -rf "$notify_dir"
        exit $rc
}

# Never disturb a tshmd that serves this machine.
if [ -S "$sock" ] && python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])" \
        "$sock" 2>/dev/null; then
        die "a tshmd already listens on $sock; stop it before the package test"
fi

step "dpkg -i ${debs[*]##*/}"
trap cleanup EXIT
$SUDO dpkg -i "${debs[@]}" >"$work/install.log" 2>&1 || {
        cat "$work/install.log" >&2
        die "dpkg -i failed"
}

step "installed: user, /run/tshm, enabled socket, units"
getent passwd tshm >/dev/null || die "postinst did not create the user tshm"
getent group tshm >/dev/null || die "postinst did not create the group tshm"
[ "$(stat -c %U:%G /run/tshm)" = tshm:tshm ] || die "/run/tshm is $(stat -c %U:%G /run/tshm)"
[ -L /etc/systemd/system/sockets.target.wants/tshmd.socket ] ||
        die "postinst did not enable tshmd.socket"
[ ! -e /etc/systemd/system/multi-user.target.wants/tshmd.service ] ||
        die "tshmd.service is enabled by itself; only the socket should be"
man_opt=--man=no
command -v man >/dev/null && man_opt=--man=yes
mkdir -p "$work/xdg"
for scope in system user; do
        if [ $scope = system ]; then
                out=$(systemd-analyze verify $man_opt /lib/systemd/system/tshmd.socket \
                        /lib/systemd/system/tshmd.service 2>&1) || true
        else
                out=$(XDG_RUNTIME_DIR=$work/xdg systemd-analyze --user verify $man_opt \
                        /usr/lib/systemd/user/tshmd.socket /usr/lib/systemd/user/tshmd.service 2>&1) ||
                        true
        fi
        [ -z "$out" ] || die "systemd-analyze verify of the installed $scope units: $out"
done
systemd-analyze security --offline=yes /lib/systemd/system/tshmd.service | tail -n 1
tshm --version | grep -q "^tshm " || die "tshm --version"
/usr/sbin/tshmd --version | grep -q "^tshmd " || die "tshmd --version"
man -w tshmd.8 tshm.1 libtshm.3 tshm_open.3 >/dev/null 2>&1 || ! command -v man >/dev/null ||
        die "man pages not installed"
[ -f /usr/share/bash-completion/completions/tshm ] || die "no bash completion"

# ExecStart= of the installed unit, with TSHMD_OPTS from /etc/default/tshmd
# (and a prefix of our own, so that nothing else in /dev/shm is touched).
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/tshmd.service)
opts=$(TSHMD_OPTS="" && . /etc/default/tshmd && printf '%s' "$TSHMD_OPTS")
opts="$opts --shm-prefix $prefix --log-level info"
# shellcheck disable=SC2206
argv=(${exec_start//\$TSHMD_OPTS/$opts})
user=$(sed -n 's/^User=//p' /lib/systemd/system/tshmd.service)
[ "$user" = tshm ] || die "the unit runs as '$user'"
as_service=(setpriv --reuid=tshm --regid=tshm --init-groups --)
# StateDirectory= as systemd applies it: the directory, its mode and owner,
# and $STATE_DIRECTORY (tshmd's default state directory).
state=$(sed -n 's/^StateDirectory=//p' /lib/systemd/system/tshmd.service)
state_mode=$(sed -n 's/^StateDirectoryMode=//p' /lib/systemd/system/tshmd.service)
[ "$state" = tshm ] && [ "$state_mode" = 0700 ] ||
        die "the unit's state directory is '$state', mode '$state_mode'"
$SUDO install -d -m "$state_mode" -o tshm -g tshm "/var/lib/$state"
svc_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin JOURNAL_STREAM=0:0
        STATE_DIRECTORY="/var/lib/$state")

# A NOTIFY_SOCKET listener: prints READY/STOPPING as they come. In a
# directory of its own that the daemon's user can reach.
notify_dir=$(mktemp -d /tmp/tshm-pkg-notify-XXXXXX)
chmod 0755 "$notify_dir"
notify=$notify_dir/notify.sock
start_notify() {
        rm -f "$notify" "$work/notify.out"
        python3 - "$notify" >"$work/notify.out" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)  # the daemon runs as tshm
s.settimeout(60)
while True:
    try:
        msg = s.recv(4096).decode()
    except socket.timeout:
        break
    print(msg.replace("\n", " "), flush=True)
    if "STOPPING=1" in msg:
        break
PY
        notify_pid=$!
        for _ in $(seq 100); do [ -S "$notify" ] && return; sleep 0.05; done
        die "notify listener did not start"
}
wait_for() { # wait_for PATTERN FILE
        for _ in $(seq 200); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
        return 1
}
stop_daemon() {
        $SUDO kill -TERM "$daemon_pid"
        local rc=0
        wait "$daemon_pid" || rc=$?
        daemon_pid=
        [ $rc -eq 0 ] || die "tshmd exited $rc after SIGTERM (log: $work/daemon.log)"
        wait_for STOPPING=1 "$work/notify.out" || die "no STOPPING=1"
        wait "$notify_pid" || true
        notify_pid=
}

use_daemon() { # the checks against a running daemon
        local first=$1
        tshm ls >"$work/ls.out" || die "tshm ls"
        cat "$work/ls.out"
        if [ "$first" = yes ]; then
                tshm create pkgcli float64 3 >/dev/null || die "tshm create"
                # The Python round trip, with the installed module.
                (cd / && env -u PYTHONPATH /usr/bin/python3 - <<'PY') || die "Python round trip"
import subprocess
import numpy as np
import tshm
assert tshm.__file__.startswith("/usr/lib/python3/dist-packages/"), tshm.__file__
with tshm.connect("/run/tshm/tshm.sock") as c:
    w = c.create("pkgpy", (2, 3), "float32")
    w.numpy()[...] = np.arange(6, dtype=np.float32).reshape(2, 3)
    r = c.open("pkgpy")
    assert r.writable is False
    assert (r.numpy() == np.arange(6).reshape(2, 3)).all()
    names = [s["name"] for s in c.list()]
    assert "pkgpy" in names and "pkgcli" in names, names
out = subprocess.run(["tshm", "cat", "pkgpy"], check=True, capture_output=True, text=True).stdout
assert "5." in out, out
print("python3-tshm: round trip ok,", tshm.__version__)
PY
        fi
        tshm ls | grep -q "^pkgpy " || die "pkgpy not listed"
        tshm cat pkgpy | grep -q "5\." || die "pkgpy lost its data"
        # The objects belong to the service's user.
        [ "$(stat -c %U:%a /dev/shm/"$prefix".pkgpy)" = tshm:600 ] ||
                die "/dev/shm/$prefix.pkgpy is $(stat -c %U:%a /dev/shm/"$prefix".pkgpy)"
        # Group tshm may connect, others may not (SocketMode=0660, SocketGroup=tshm).
        $SUDO setpriv --reuid=4242 --regid=tshm --clear-groups -- tshm ls >/dev/null ||
                die "a member of group tshm cannot connect"
        if $SUDO setpriv --reuid=4243 --regid=4243 --clear-groups -- tshm ls >/dev/null 2>&1; then
                die "a uid outside group tshm could connect"
        fi
}

step "start tshmd as tshmd.socket + tshmd.service would: ${argv[*]}"
$SUDO rm -f "$sock"
start_notify
# systemd-socket-activate binds as root like systemd; SocketMode= and
# SocketGroup= are applied before anything connects.
# (It passes its child only the variables named with -E.)
$SUDO "${svc_env[@]}" systemd-socket-activate -l "$sock" -E NOTIFY_SOCKET="$notify" \
        -E JOURNAL_STREAM=0:0 -E STATE_DIRECTORY="/var/lib/$state" \
        "${as_service[@]}" "${argv[@]}" 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || die "systemd-socket-activate did not bind $sock"
$SUDO chgrp tshm "$sock"
$SUDO chmod 0660 "$sock"
use_daemon yes
wait_for READY=1 "$work/notify.out" || die "no READY=1"
grep -q "<5>tshmd .* listening on $sock" "$work/daemon.log" || die "no start line at <5>"
grep -q "<6>created 'pkgpy'" "$work/daemon.log" || die "no create line at <6>"
stop_daemon
[ -S "$sock" ] || die "tshmd removed the socket it inherited"
cat "$work/notify.out"

step "restart, binding its own socket (no socket unit): segments kept"
$SUDO rm -f "$sock"
start_notify
$SUDO "${svc_env[@]}" NOTIFY_SOCKET="$notify" "${as_service[@]}" "${argv[@]}" \
        2>>"$work/daemon.log" &
daemon_pid=$!
wait_for READY=1 "$work/notify.out" || die "no READY=1 (log: $work/daemon.log)"
[ "$(stat -c %U:%G:%a "$sock")" = tshm:tshm:660 ] ||
        die "$sock is $(stat -c %U:%G:%a "$sock"), not tshm:tshm:660"
use_daemon no
# The seal key and the lock are in the state directory, not in /dev/shm.
[ "$($SUDO stat -c %U:%a "/var/lib/$state/$prefix.key")" = tshm:600 ] ||
        die "no seal key tshm:600 in /var/lib/$state"
[ ! -e /dev/shm/"$prefix"..key ] || die "a seal key in /dev/shm"
tshm rm pkgpy pkgcli || die "tshm rm"
stop_daemon
[ ! -e "$sock" ] || die "tshmd left the socket it bound"

# The huge-page tmpfs that the installed run-tshm-huge.mount describes,
# mounted with its own Where=, Type= and Options= (no systemd as PID 1 to
# start the unit), and tshmd as the service's user with --shm-dir on it:
# the unprivileged daemon accepts the root-owned sticky mount, its segments
# are the service user's objects there, and they get huge pages.
unit=/lib/systemd/system/run-tshm-huge.mount
step "--shm-dir on the tmpfs of $unit"
[ -f "$unit" ] || die "$unit not installed"
where=$(sed -n 's/^Where=//p' "$unit")
mtype=$(sed -n 's/^Type=//p' "$unit")
mopts=$(sed -n 's/^Options=//p' "$unit")
grep -qx "ReadWritePaths=-$where" /lib/systemd/system/tshmd.service ||
        die "tshmd.service does not make $where writable"
$SUDO mkdir -p "$where"
$SUDO mount -t "$mtype" -o "$mopts" tshm-huge "$where" || die "mount $mtype -o $mopts"
huge_mounted=$where
start_notify
$SUDO "${svc_env[@]}" NOTIFY_SOCKET="$notify" "${as_service[@]}" "${argv[@]}" --shm-dir "$where" \
        2>>"$work/daemon.log" &
daemon_pid=$!
wait_for READY=1 "$work/notify.out" || die "no READY=1 with --shm-dir (log: $work/daemon.log)"
(cd / && env -u PYTHONPATH /usr/bin/python3 - "$where" <<'PY') || die "--shm-dir round trip"
import sys
import tshm
shm_dir = sys.argv[1]
huge = "[deny]" not in open("/sys/kernel/mm/transparent_hugepage/shmem_enabled").read()
with tshm.connect("/run/tshm/tshm.sock") as c:
    s = c.create("pkghuge", (4, 1024, 1024), "uint8")
    s.numpy()[...] = 7
    info = c.stat("pkghuge")
    assert info["backing"] == ("tmpfs-huge" if huge else "tmpfs"), info
    assert info["page_size"] >= (2 << 20 if huge else 4096), info
    assert (c.open("pkghuge").numpy() == 7).all()
    s.close()
    c.unlink("pkghuge")
print("--shm-dir:", info["backing"], info["page_size"])
PY
stop_daemon
$SUDO umount "$where"
huge_mounted=
echo "-- daemon log:"
sed 's/^/   /' "$work/daemon.log"
trap - EXIT
cleanup
