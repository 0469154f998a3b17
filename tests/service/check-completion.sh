#!/usr/bin/env bash
# The bash completion of tshm, in a plain bash (no bash-completion package):
# it offers every command and every option that 'tshm --help' lists, and
# segment names from a real tshmd (the --socket on the line being completed).
#
# Usage: check-completion.sh COMPLETION_FILE TSHM_CLI TSHMD
set -euo pipefail
completion=$1
cli=$2
tshmd=$3
status=0
bad() {
        echo "FAIL: $*" >&2
        status=1
}

# shellcheck disable=SC1090
. "$completion"

# complete WORDS...: what _tshm offers for the last word.
complete_line() {
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMPREPLY=()
        _tshm
        printf '%s\n' "${COMPREPLY[@]}" | sort
}

help=$("$cli" --help)
commands=$(printf '%s\n' "$help" | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p')
offered=$(complete_line "$cli" "")
for c in $commands; do
        grep -qx "$c" <<<"$offered" || bad "'tshm <TAB>' does not offer '$c'"
done
# Each command's options, from its usage line in 'tshm --help'.
for c in $commands; do
        want=$(printf '%s\n' "$help" | sed -n "s/^  $c \(.*\)/\1/p" | grep -o -- '--[a-z-]*' || true)
        got=$(complete_line "$cli" "$c" "--")
        for o in $want --help; do
                grep -qx -- "$o" <<<"$got" || bad "'tshm $c --<TAB>' does not offer '$o'"
        done
done
for o in --socket --version --help; do
        grep -qx -- "$o" <<<"$(complete_line "$cli" --)" || bad "'tshm --<TAB>' does not offer '$o'"
done
got=$(complete_line "$cli" create x fl)
[ "$got" = "$(printf 'float16\nfloat32\nfloat64')" ] || bad "'tshm create x fl<TAB>' offers '$got'"

# Segment names, from a daemon of our own.
tmp=$(mktemp -d /tmp/tshm-compl-XXXXXX)
prefix=tshmcompl$$
"$tshmd" --foreground --socket "$tmp/s" --shm-prefix "$prefix" --state-dir "$tmp/state" \
        2>"$tmp/err" &
pid=$!
cleanup() {
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        rm -f /dev/shm/"$prefix".* /dev/shm/"$prefix"..* 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 200); do
        "$cli" --socket "$tmp/s" stats >/dev/null 2>&1 && break
        sleep 0.05
done
"$cli" --socket "$tmp/s" create alpha float32 2 >/dev/null
"$cli" --socket "$tmp/s" create alps int8 3 >/dev/null
"$cli" --socket "$tmp/s" create beta int8 3 >/dev/null
got=$(complete_line "$cli" --socket "$tmp/s" info al)
[ "$got" = "$(printf 'alpha\nalps')" ] || bad "'tshm --socket S info al<TAB>' offers '$got'"
got=$(complete_line "$cli" --socket "$tmp/s" rm alpha "")
[ "$got" = "$(printf 'alpha\nalps\nbeta')" ] || bad "'tshm --socket S rm alpha <TAB>' offers '$got'"
got=$(TSHM_SOCKET=$tmp/s complete_line "$cli" cat b)
[ "$got" = "beta" ] || bad "'TSHM_SOCKET=S tshm cat b<TAB>' offers '$got'"
got=$(complete_line "$cli" --socket "$tmp/s" info alpha "")
[ -z "$got" ] || bad "'tshm info alpha <TAB>' offers '$got' (info takes one name)"
got=$(complete_line "$cli" --socket "$tmp/nowhere" info "")
[ -z "$got" ] || bad "no daemon, yet 'tshm info <TAB>' offers '$got'"

[ $status -eq 0 ] && echo "ok: $(echo "$commands" | wc -w) commands, their options, dtypes and segment names complete"
exit $status
