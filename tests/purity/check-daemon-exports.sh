#!/usr/bin/env bash
# Check that tshmd defines no public symbol (tshm_ with one underscore): the
# public API is libtshm's, and the daemon calls proto/'s tshm__ functions.
# Usage: check-daemon-exports.sh NM TSHMD
set -euo pipefail
nm=$1
exe=$2
syms=$("$nm" --defined-only "$exe" | awk 'NF == 3 { print $3 }')
if ! grep -qx 'main' <<<"$syms" || ! grep -q '^tshm__' <<<"$syms"; then
        echo "check-daemon-exports: no main or tshm__ symbol in $exe: stripped or wrong file?" >&2
        exit 2
fi
if pub=$(grep -E '^tshm_[^_]' <<<"$syms"); then
        echo "check-daemon-exports: $exe defines public symbols:" >&2
        echo "$pub" >&2
        exit 1
fi
echo "check-daemon-exports: no tshm_* symbol in $(basename "$exe")"
