#!/usr/bin/env bash
# The man pages cover what they document and render cleanly: every call
# tshm.h declares has a page (its own or a .so link to its group's), every
# command of 'tshm --help' is in tshm(1), every flag of 'tshmd --help' in
# tshmd(8), and man(1) reads each page without a warning (as lintian does).
#
# Usage: check-man.sh MAN_DIR TSHM_H TSHM_CLI TSHMD
set -euo pipefail
mandir=$1
header=$2
cli=$3
tshmd=$4
status=0
bad() {
        echo "FAIL: $*" >&2
        status=1
}

calls=$(sed -n 's/^TSHM_API[^(]*[ *]\(tshm_[a-z0-9_]*\)(.*/\1/p' "$header" | sort -u)
[ -n "$calls" ] || bad "no TSHM_API calls found in $header"
for f in $calls; do
        [ -f "$mandir/man3/$f.3" ] || bad "$f (in $(basename "$header")) has no man page:" \
                "name it on the NAME line of a docs/man/*.3.scd page"
done

commands=$("$cli" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p')
[ -n "$commands" ] || bad "no commands found in 'tshm --help'"
for c in $commands; do
        grep -q "^\\\\fB$c\\\\fR" "$mandir/man1/tshm.1" || bad "tshm(1) does not describe '$c'"
done

flags=$("$tshmd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
for f in $flags; do
        grep -q "\\\\fB$f\\\\fR" "$mandir/man8/tshmd.8" || bad "tshmd(8) does not describe '$f'"
done

if command -v man >/dev/null; then
        for page in "$mandir"/man*/*.[0-9]; do
                # lintian's check: warnings from man/groff at 80 columns.
                out=$(cd "$mandir" && LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
                        man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null) || true
                [ -z "$out" ] || bad "man warns about $page: $out"
        done
else
        echo "note: man not installed, pages not rendered"
fi
[ $status -eq 0 ] && echo "ok: $(echo "$calls" | wc -w) calls, $(echo "$commands" | wc -w) commands," \
        "$(echo "$flags" | wc -w) flags documented; pages render cleanly"
exit $status
