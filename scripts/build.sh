#!/usr/bin/env bash
# Configure and build tshm into a build directory; the compiler's output goes
# to BUILD_DIR/build.log and is shown only when the build fails.
# Usage: scripts/build.sh BUILD_DIR [cmake options...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
mkdir -p "$dir"
echo "build: $dir"
if ! { cmake -S "$top" -B "$dir" -DPython3_EXECUTABLE=/usr/bin/python3 "$@" &&
        cmake --build "$dir" -j "$(nproc)"; } >"$dir/build.log" 2>&1; then
        tail -n 60 "$dir/build.log" >&2
        echo "build: FAILED (full log: $dir/build.log)" >&2
        exit 1
fi
