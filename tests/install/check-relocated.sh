#!/usr/bin/env bash
# Install a configured build into a prefix other than the one it was
# configured with ('cmake --install BUILD --prefix P'), as a newcomer does,
# and check that everything follows P: no installed file names the
# configured prefix, the units and tshm.pc name P, /etc/default/tshmd is
# under P, and the installed tshm runs from P with no LD_LIBRARY_PATH.
# Usage: tests/install/check-relocated.sh BUILD_DIR WORKDIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$2
rm -rf "$work" && mkdir -p "$work"
p=$(cd "$work" && pwd)/prefix
status=0
fail() {
        echo "FAIL: $*" >&2
        status=1
}

configured=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
[ -n "$configured" ] || { echo "no CMAKE_INSTALL_PREFIX in $build/CMakeCache.txt" >&2; exit 1; }
[ "$configured" != "$p" ] || { echo "the scratch prefix is the configured one" >&2; exit 1; }
cmake --install "$build" --prefix "$p" >"$work/install.log"

# Nothing lands outside P (the install log lists every path).
if grep -- '-- \(Installing\|Up-to-date\): ' "$work/install.log" | grep -v -- ": $p/"; then
        fail "files installed outside $p"
fi
# No installed file names the configured prefix.
if hits=$(grep -rlF -- "$configured/" "$p"); then
        fail "installed files name the configured prefix $configured: $hits"
fi

unit=$(find "$p" -path '*/system/tshmd.service' -print -quit)
[ -n "$unit" ] || fail "no system tshmd.service under $p"
for u in "$unit" "$(find "$p" -path '*/user/tshmd.service' -print -quit)"; do
        grep -q "^ExecStart=$p/sbin/tshmd " "$u" || fail "$u: ExecStart= does not name $p/sbin/tshmd"
done
grep -q "^EnvironmentFile=-$p/etc/default/tshmd\$" "$unit" ||
        fail "$unit: EnvironmentFile= does not name $p/etc/default/tshmd"
[ -f "$p/etc/default/tshmd" ] || fail "no $p/etc/default/tshmd"
pc=$(find "$p" -name tshm.pc -print -quit)
grep -qx "prefix=$p" "$pc" || fail "$pc: prefix is not $p"
PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --libs tshm | grep -qF -- "-L$p/" ||
        fail "pkg-config --libs tshm does not point under $p"

# The installed programs run from P, found by RUNPATH, not by luck.
if ! out=$(env -u LD_LIBRARY_PATH LD_LIBRARY_PATH= "$p/bin/tshm" --version 2>&1); then
        fail "$p/bin/tshm --version with an empty LD_LIBRARY_PATH: $out"
fi
# ldd's output is kept first: `ldd | grep -q` under pipefail fails whenever
# grep exits before ldd has written everything (SIGPIPE).
libs=$(env LD_LIBRARY_PATH= ldd "$p/bin/tshm")
if grep -q 'libtshm.*not found' <<<"$libs"; then
        fail "$p/bin/tshm: libtshm not found"
elif ! grep -qF "$p/" <<<"$libs"; then
        fail "$p/bin/tshm does not load libtshm from $p"
fi
"$p/sbin/tshmd" --version >/dev/null || fail "$p/sbin/tshmd --version"

[ "$status" = 0 ] && echo "relocated install: everything under $p names $p, tshm runs from it"
exit "$status"
