#!/usr/bin/env bash
# Run the README's examples of "Using it" in order, as a newcomer would paste
# them, against one daemon: the `tshm` CLI block, then the Python blocks (one
# interpreter, as they build on each other), then the C example (hello.c,
# which check-readme-example.sh keeps equal to the README's). Each must work,
# so the examples never collide on names or depend on files they do not make.
# Not run: the blocks that install packages or start tshmd on the system's
# paths (this starts its own, as the README's second tshmd line does).
# Usage: run-readme-examples.sh TOP TSHMD TSHM PYTHON PYTHONPATH [HELLO]
set -uo pipefail
top=$1
TSHMD=$2
TSHM=$3
PY=$4
export PYTHONPATH=$5
HELLO=${6:-}

work=$(mktemp -d /tmp/tshm-readme-XXXXXX)
prefix=tshmreadme$$
export TSHM_SOCKET=$work/tshm.sock
daemon=
fail=0
cleanup() {
        if [ -n "$daemon" ]; then
                kill "$daemon" 2>/dev/null
                wait "$daemon"
        fi
        rm -f /dev/shm/"$prefix".*
        rm -rf "$work"
}
trap cleanup EXIT
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# The fenced blocks of LANG in the section from the heading HEAD to the next
# heading of the same or a higher level, each followed by a line "#--".
blocks() {
        "$PY" - "$top/README.md" "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read().split("\n")
lang, head = sys.argv[2], sys.argv[3]
level = len(head) - len(head.lstrip("#"))
inside = block = False
for line in text:
    m = re.match(r"^(#+) ", line)
    if m and not block:
        if line.strip() == head:
            inside = True
        elif inside and len(m.group(1)) <= level:
            break
        continue
    if not inside:
        continue
    if not block and line == "```" + lang:
        block = True
    elif block and line == "```":
        block = False
        print("#--")
    elif block:
        print(line)
PY
}

"$TSHMD" --foreground --shm-prefix "$prefix" --state-dir "$work/state" 2>"$work/tshmd.log" &
daemon=$!
for _ in $(seq 200); do
        "$TSHM" stats >/dev/null 2>&1 && break
        sleep 0.02
done
cd "$work" || exit 1

# The CLI block, line by line under set -e. 'tshm watch' runs until Ctrl-C:
# here a SIGINT after a second, and it must then exit 0 as documented.
blocks sh '### The `tshm` CLI' >cli.sh
[ "$(grep -c '^#--$' cli.sh)" -eq 1 ] && [ "$(grep -c '^tshm ' cli.sh)" -ge 10 ] ||
        bad "found not one CLI block in README.md: $(cat cli.sh)"
{
        echo "set -e"
        echo "tshm() { if [ \"\$1\" = watch ]; then timeout -s INT --preserve-status 1 '$TSHM' \"\$@\"; else '$TSHM' \"\$@\"; fi; }"
        echo "python3() { '$PY' \"\$@\"; }"
        cat cli.sh
} >run-cli.sh
if ! bash -x run-cli.sh >cli.out 2>&1; then
        bad "the README's CLI block stopped: $(tail -n 5 cli.out)"
fi

# The Python blocks, in one interpreter.
blocks python '### Python' >examples.py
[ "$(grep -c '^#--$' examples.py)" -ge 3 ] || bad "found no Python blocks in README.md: $(cat examples.py)"
if ! "$PY" examples.py >py.out 2>&1; then
        bad "the README's Python blocks failed: $(tail -n 8 py.out)"
fi

# The C example (its text is checked against examples/hello.c elsewhere).
if [ -n "$HELLO" ]; then
        "$HELLO" >c.out 2>&1 || bad "the README's C example failed: $(cat c.out)"
        grep -q '^hello: float32 2-d, element \[1\]\[2\] = 2.5$' c.out || bad "hello printed: $(cat c.out)"
else
        echo "the C example is not built (TSHM_BUILD_EXAMPLES=OFF): not run"
fi

[ "$fail" -eq 0 ] && echo "the README's examples ran in order against one daemon"
[ "$fail" -eq 0 ]
