#!/usr/bin/env bash
# Build a small outside program against an installed tshm, with pkg-config
# and with find_package(tshm) (shared and static), and run each.
# Usage: tests/install/check-consumer.sh PREFIX WORKDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(cd "$1" && pwd)
work=$2
rm -rf "$work" && mkdir -p "$work"
libdir=$(dirname "$(find "$prefix" -name tshm.pc -print -quit)")/..

export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046
cc -o "$work/consumer_pc" "$here/consumer/main.c" $(pkg-config --cflags --libs tshm) \
        -Wl,-rpath,"$libdir"
"$work/consumer_pc"

cmake -S "$here/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer_shared"
"$work/cmake/consumer_static"
# The static one must not need libtshm.so at run time.
if grep -q libtshm <<<"$(ldd "$work/cmake/consumer_static")"; then
        echo "consumer_static depends on libtshm.so" >&2
        exit 1
fi
echo "install check: pkg-config, CMake shared and CMake static consumers built and ran"
