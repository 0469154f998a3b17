#!/usr/bin/env bash
# Check the daemon's layering around libtshm's public API (tshm_ with one
# underscore): the daemon's own code calls proto/'s tshm__ functions, never
# the client library, except the peer thread (peer*.c, mirror_*.c), which
# reads sources and writes copies as a client of the daemon itself and links
# libtshm in for that. And tshmd exports none of it: nothing in its dynamic
# symbol table says tshm_.
# Usage: check-daemon-exports.sh NM TSHMD DAEMON_OBJECT...
set -euo pipefail
nm=$1
exe=$2
shift 2
syms=$("$nm" --defined-only "$exe" | awk 'NF == 3 { print $3 }')
if ! grep -qx 'main' <<<"$syms" || ! grep -q '^tshm__' <<<"$syms"; then
        echo "check-daemon-exports: no main or tshm__ symbol in $exe: stripped or wrong file?" >&2
        exit 2
fi
if pub=$("$nm" -D --defined-only "$exe" | awk 'NF == 3 { print $3 }' | grep -E '^tshm_'); then
        echo "check-daemon-exports: $exe exports public symbols:" >&2
        echo "$pub" >&2
        exit 1
fi
status=0
n=0
for obj in "$@"; do
        base=$(basename "$obj" .o)
        case "$base" in
        peer*.c | mirror_*.c) continue ;;
        esac
        n=$((n + 1))
        if calls=$("$nm" --undefined-only "$obj" | awk '{ print $NF }' | grep -E '^tshm_[^_]'); then
                echo "check-daemon-exports: daemon/$base calls libtshm:" $calls >&2
                status=1
        fi
done
if [ "$n" -lt 10 ]; then
        echo "check-daemon-exports: only $n daemon objects given: wrong arguments?" >&2
        exit 2
fi
[ "$status" -eq 0 ] && echo "check-daemon-exports: no tshm_* export; $n daemon files call no libtshm"
exit "$status"
