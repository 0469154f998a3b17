#!/usr/bin/env bash
# The tshm CLI against a real tshmd: judged by exit codes, stdout and stderr.
# Usage: test_cli.sh TSHMD TSHM PYTHON PUBLISH PRODUCER CONSUMER
# (PYTHON must have numpy; PUBLISH is tests/cli/publish.c's producer;
# PRODUCER and CONSUMER are the C examples of the README's main job)
set -uo pipefail
TSHMD=$1
TSHM=$2
PY=$3
PUBLISH=$4
PRODUCER=${5:-}
CONSUMER=${6:-}

work=$(mktemp -d /tmp/tshm-cli-XXXXXX)
prefix=tshmcli$$
export TSHM_SOCKET=$work/tshm.sock
pass=0
fail=0
daemon=
cleanup() {
        if [ -n "$daemon" ]; then
                kill "$daemon" 2>/dev/null
                wait "$daemon"
                rc=$?
                [ "$rc" -eq 0 ] || { echo "FAIL: tshmd exited $rc on SIGTERM"; fail=$((fail + 1)); }
        fi
        rm -f /dev/shm/"$prefix".* /dev/shm/"$prefix"f.* /dev/shm/"$prefix"o.*
        rm -rf "$work"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# expect STATUS CMD...: run, and check the exit status.
expect() {
        local want=$1
        shift
        "$@" >"$work/out" 2>"$work/err"
        local got=$?
        if [ "$got" -eq "$want" ]; then ok; else
                bad "'$*' exited $got, wanted $want; stderr: $(cat "$work/err")"
        fi
}

start_daemon() {
        "$TSHMD" --foreground --shm-prefix "$prefix" --state-dir "$work/state" 2>>"$work/tshmd.log" &
        daemon=$!
        for _ in $(seq 200); do
                "$TSHM" stats >/dev/null 2>&1 && break
                sleep 0.02
        done
}
start_daemon

# --- create, ls, info, rm ---
expect 0 "$TSHM" create img float32 3x4 --mode 0640
expect 0 "$TSHM" create vec '<i8' 5
expect 0 "$TSHM" create zero complex128 scalar
expect 0 "$TSHM" create empty uint8 0,7
expect 0 "$TSHM" ls
grep -q '^img ' "$work/out" && grep -q '3x4' "$work/out" && grep -q '0640' "$work/out" && ok ||
        bad "ls table lacks img 3x4 0640: $(cat "$work/out")"
expect 0 "$TSHM" ls --json
"$PY" - "$work/out" <<'PY' && ok || bad "ls --json content"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))}
assert set(rows) == {"img", "vec", "zero", "empty"}, rows
img = rows["img"]
for k in ("name", "dtype", "shape", "nbytes", "owner", "mode", "opens", "created"):
    assert k in img, k
assert img["dtype"] == "float32" and img["shape"] == [3, 4] and img["nbytes"] == 48, img
assert img["mode"] == "0640" and img["opens"] == 0, img
assert rows["vec"]["dtype"] == "int64" and rows["zero"]["shape"] == [], rows
assert rows["empty"]["shape"] == [0, 7] and rows["empty"]["nbytes"] == 0
PY
expect 0 "$TSHM" info img --json
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["name"]=="img" and d["shape"]==[3,4], d' \
        "$work/out" && ok || bad "info --json"
expect 0 "$TSHM" info img
expect 0 "$TSHM" stats --json
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["segments"]==4 and d["clients"]>=1, d' \
        "$work/out" && ok || bad "stats --json"

# --- ls lists oldest first, also after a restart that adopts the segments ---
# (a restarted tshmd finds them in /dev/shm's directory order, newest first)
ls_names() { "$TSHM" ls | awk 'NR > 1 { printf "%s ", $1 }'; }
[ "$(ls_names)" = "img vec zero empty " ] && ok || bad "ls order before a restart: $(ls_names)"
kill "$daemon"
wait "$daemon" || bad "tshmd exited $? on SIGTERM before the restart"
start_daemon
[ "$(ls_names)" = "img vec zero empty " ] && ok || bad "ls order after a restart: $(ls_names)"
"$TSHM" ls --json | "$PY" -c 'import json, sys; n = [r["name"] for r in json.load(sys.stdin)]; assert n == ["img", "vec", "zero", "empty"], n' &&
        ok || bad "ls --json order after a restart"

# --- mirrors, against a daemon without --peer-secret: off, and ls unchanged ---
"$TSHM" ls >"$work/ls-before"
expect 1 "$TSHM" mirror img gpu-box:7070
[ "$(wc -l <"$work/err")" -eq 1 ] && grep -q -- 'no --peer-secret: mirrors are off' "$work/err" &&
        ok || bad "mirror without peers: $(cat "$work/err")"
expect 1 "$TSHM" mirror img gpu-box:7070 --as copy
expect 1 "$TSHM" mirror nosuch gpu-box:7070
grep -q "nosuch" "$work/err" && ok || bad "mirror nosuch does not name it: $(cat "$work/err")"
expect 1 "$TSHM" mirror --stop img
grep -q -- 'mirrors are off' "$work/err" && ok || bad "mirror --stop: $(cat "$work/err")"
expect 2 "$TSHM" mirror img 'gpu box:7070'
expect 2 "$TSHM" mirror img gpu-box
expect 2 "$TSHM" mirror img gpu-box:7070 --as .bad
expect 2 "$TSHM" mirror --stop
expect 2 "$TSHM" mirror --list img
expect 2 "$TSHM" mirror img
expect 0 "$TSHM" mirror --list
[ "$(cat "$work/out")" = "$(printf 'NAME  DIR  PEER  REMOTE  %-10s  %10s  %10s  %8s' STATE SENT DROPPED LAG)" ] &&
        ok || bad "mirror --list without mirrors: $(cat "$work/out")"
expect 0 "$TSHM" mirror --list --json
[ "$(cat "$work/out")" = "[]" ] && ok || bad "mirror --list --json: $(cat "$work/out")"
expect 0 "$TSHM" ls
diff -q "$work/ls-before" "$work/out" >/dev/null && ok || bad "ls changed with mirrors off: $(cat "$work/out")"
"$TSHM" ls --json | "$PY" -c 'import json, sys; r = json.load(sys.stdin); assert r and not any("mirrors" in x for x in r), r' &&
        ok || bad "ls --json has mirrors with mirrors off"

# --- errors: one line on stderr, exit 1 for a failed operation, 2 for usage ---
expect 1 "$TSHM" create img float32 3
[ "$(wc -l <"$work/err")" -eq 1 ] && grep -q "exists" "$work/err" && ok || bad "duplicate create message: $(cat "$work/err")"
expect 1 "$TSHM" info nosuch
grep -q "nosuch" "$work/err" && ok || bad "info nosuch does not name it: $(cat "$work/err")"
# A bad name is a usage error (2), like a bad dtype or shape.
expect 2 "$TSHM" create .bad float32 3
head -n 1 "$work/err" | grep -q "A-Za-z0-9.*'.bad'" && ok || bad "bad name message does not name the rule: $(cat "$work/err")"
expect 2 "$TSHM" info .bad
# --policy makes sense only for a stream: without --slots it is refused, not dropped.
expect 2 "$TSHM" create pol int32 2 --policy overwrite
head -n 1 "$work/err" | grep -q -- "--policy.*--slots" && ok || bad "--policy without --slots: $(cat "$work/err")"
expect 1 "$TSHM" info pol
expect 2 "$TSHM" create x float32
expect 2 "$TSHM" frobnicate
# Another command's option is named as given, not by its argument.
expect 2 "$TSHM" ls --mode 0644
head -n 1 "$work/err" | grep -q "tshm: ls: unknown option '--mode'" && ok || bad "ls --mode: $(cat "$work/err")"
expect 2 "$TSHM" rm -w img
head -n 1 "$work/err" | grep -q "tshm: rm: unknown option '-w'" && ok || bad "rm -w: $(cat "$work/err")"
# A dtype or shape that does not parse is a usage error, named on the first line.
expect 2 "$TSHM" create x float128 3
head -n 1 "$work/err" | grep -q "tshm: create: unknown dtype 'float128'" && ok || bad "float128: $(cat "$work/err")"
expect 2 "$TSHM" create x float32 3xx4
head -n 1 "$work/err" | grep -q "3xx4" && ok || bad "3xx4: $(cat "$work/err")"
# A shape too large is shown, not the name (libtshm's detail would be the name).
expect 2 "$TSHM" create big float32 1099511627776x1099511627776
head -n 1 "$work/err" | grep -q "bad shape '1099511627776x1099511627776': too large for float32" && ok ||
        bad "a shape too large: $(cat "$work/err")"
expect 1 "$TSHM" --socket "$work/none.sock" ls
grep -q "tshmd" "$work/err" && ok || bad "no-daemon message does not say how to start tshmd: $(cat "$work/err")"
expect 0 "$TSHM" --help
expect 0 "$TSHM" ls --help
expect 0 "$TSHM" --version

# --- load / save round trips, byte for byte, and cat ---
"$PY" - "$work" <<'PY' || bad "making .npy files"
import numpy as np, sys
w = sys.argv[1]
np.save(f"{w}/f32.npy", (np.arange(12, dtype=np.float32) / 4).reshape(3, 4))
np.save(f"{w}/i16.npy", np.arange(-5, 5, dtype=np.int16))
np.save(f"{w}/b.npy", np.array([True, False, True]))
np.save(f"{w}/c64.npy", np.array([[1 + 2j, 3 - 4j]], dtype=np.complex64))
np.save(f"{w}/f16.npy", np.linspace(0, 1, 7, dtype=np.float16))
np.save(f"{w}/u64.npy", np.array(2**64 - 1, dtype=np.uint64))
np.save(f"{w}/empty.npy", np.zeros((0, 3), dtype=np.float64))
np.save(f"{w}/big.npy", np.arange(2000, dtype=np.int32).reshape(40, 50))
fo = np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4))
np.save(f"{w}/fort.npy", fo)
np.save(f"{w}/fort_c.npy", np.ascontiguousarray(fo))
PY
for f in f32 i16 b c64 f16 u64 empty big; do
        expect 0 "$TSHM" load "np_$f" "$work/$f.npy"
        expect 0 "$TSHM" save "np_$f" "$work/$f.out.npy"
        cmp -s "$work/$f.npy" "$work/$f.out.npy" && ok || bad "$f.npy did not round-trip byte for byte"
done
# --no-populate leaves the pages to fault in: the same bytes either way; a
# command that does not populate refuses it.
expect 0 "$TSHM" load np_nopop "$work/big.npy" --no-populate
expect 0 "$TSHM" save np_nopop "$work/nopop.out.npy" --no-populate
cmp -s "$work/big.npy" "$work/nopop.out.npy" && ok || bad "load/save --no-populate did not round-trip"
expect 2 "$TSHM" cat np_nopop --no-populate
expect 2 "$TSHM" create np_nopop2 uint8 4 --no-populate
# A Fortran-order file is loaded in C order: saving it gives NumPy's C-order file.
expect 0 "$TSHM" load np_fort "$work/fort.npy"
expect 0 "$TSHM" save np_fort "$work/fort.out.npy"
cmp -s "$work/fort_c.npy" "$work/fort.out.npy" && ok || bad "Fortran-order load"
# A truncated file is refused and leaves no segment behind.
head -c 150 "$work/big.npy" >"$work/trunc.npy"
expect 1 "$TSHM" load np_trunc "$work/trunc.npy"
expect 1 "$TSHM" info np_trunc
# cat prints what NumPy prints for small integer arrays.
expect 0 "$TSHM" cat np_i16
want=$("$PY" -c 'import numpy as np; print(np.arange(-5, 5, dtype=np.int16))')
[ "$(cat "$work/out")" = "$want" ] && ok || bad "cat np_i16: got '$(cat "$work/out")', numpy says '$want'"
expect 0 "$TSHM" cat np_b
want=$("$PY" -c 'import numpy as np; print(np.array([True, False, True]))')
[ "$(cat "$work/out")" = "$want" ] && ok || bad "cat np_b: got '$(cat "$work/out")', numpy says '$want'"
expect 0 "$TSHM" cat np_big
grep -q '\.\.\.' "$work/out" && [ "$(wc -l <"$work/out")" -lt 20 ] && ok || bad "cat of 2000 elements is not abbreviated"

# --- chmod, chown, create --group ---
expect 0 "$TSHM" chmod 0604 img
expect 0 "$TSHM" chown :1234 img
expect 0 "$TSHM" create grouped uint8 4 --mode 0660 --group 4321
expect 0 "$TSHM" create closed uint8 4 --mode 0
expect 0 "$TSHM" ls --json
"$PY" - "$work/out" <<'PY' && ok || bad "chmod/chown/--group not reflected in ls --json"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))}
assert rows["img"]["mode"] == "0604" and rows["img"]["group"] == 1234, rows["img"]
assert rows["grouped"]["mode"] == "0660" and rows["grouped"]["group"] == 4321, rows["grouped"]
assert rows["closed"]["mode"] == "0000", rows["closed"]
PY
expect 2 "$TSHM" chmod 0999 img
expect 1 "$TSHM" chmod 0600 nosuch
expect 2 "$TSHM" chown : img
expect 0 "$TSHM" rm grouped closed

# --- gc: a dry run reports, --remove removes ---
expect 0 "$TSHM" gc
[ "$(cat "$work/out")" = "nothing to collect: no stale objects" ] && ok || bad "gc in a clean daemon: '$(cat "$work/out")'"
expect 0 "$TSHM" gc --json
[ "$(cat "$work/out")" = "[]" ] && ok || bad "gc --json in a clean daemon: '$(cat "$work/out")'"
"$PY" -c "import _posixshmem as p, os; fd = p.shm_open('/$prefix.junk', os.O_CREAT | os.O_RDWR, 0o600); os.write(fd, b'junk'); os.close(fd)" &&
        ok || bad "making a junk object"
expect 0 "$TSHM" gc --json
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==1 and d[0]["object"].endswith(".junk") and not d[0]["removed"], d' \
        "$work/out" && ok || bad "gc --json: $(cat "$work/out")"
[ -e "/dev/shm/$prefix.junk" ] && ok || bad "the dry run removed the junk"
expect 0 "$TSHM" gc --remove
grep -q '^removed ' "$work/out" && [ ! -e "/dev/shm/$prefix.junk" ] && ok || bad "gc --remove: $(cat "$work/out")"

# --- watch: one line per published version; streams in ls and info ---
expect 0 "$TSHM" create small int32 3
"$TSHM" watch small >"$work/watch" 2>"$work/watch.err" &
watcher=$!
sleep 0.3
expect 0 "$PUBLISH" small 3 100
sleep 0.3
kill -TERM "$watcher"
wait "$watcher"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "watch exited $rc on SIGTERM, wanted 0"
printf '2\t[1 1 1]\n4\t[2 2 2]\n6\t[3 3 3]\n' >"$work/watch.want"
cut -f1,3 "$work/watch" | cmp -s - "$work/watch.want" && ok ||
        bad "watch printed: $(cat "$work/watch" "$work/watch.err")"
grep -qE '^2	[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z	' "$work/watch" && ok || bad "watch's time column: $(cat "$work/watch")"
# Ctrl-C ends watch with status 0 (a background job ignores SIGINT unless
# told otherwise). Under fast writes, each line's values are the version its
# number says (publish writes the value N as version 2N).
expect 0 "$TSHM" create fast int32 4
env --default-signal=INT "$TSHM" watch fast >"$work/watch" 2>"$work/watch.err" &
watcher=$!
sleep 0.3
expect 0 "$PUBLISH" fast 20000 0
sleep 0.2
kill -INT "$watcher"
wait "$watcher"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "watch exited $rc on SIGINT, wanted 0: $(cat "$work/watch.err")"
awk -F'\t' '{ v = $3; gsub(/[][]/, "", v); split(v, a, " "); n++
        if ($1 != 2 * a[1] || a[1] != a[4]) { bad++; if (bad < 4) print "line " NR ": " $0 } }
        END { if (n < 10 || bad > 0) { print n " lines, " bad " inconsistent"; exit 1 } }' \
        "$work/watch" >"$work/watch.bad" && ok || bad "watch's values are not its versions': $(cat "$work/watch.bad")"
expect 0 "$TSHM" rm fast
expect 0 "$TSHM" create frames int32 2x2 --slots 4 --policy overwrite
expect 2 "$TSHM" create bad int32 2 --slots 1
expect 2 "$TSHM" create bad int32 2 --slots 4 --policy sometimes
"$TSHM" watch frames >"$work/watch" 2>&1 &
watcher=$!
sleep 0.3
expect 0 "$PUBLISH" frames 5 20
sleep 0.3
kill -TERM "$watcher"
wait "$watcher" && ok || bad "watch of a stream exited $? on SIGTERM"
[ "$(cut -f1 "$work/watch" | tr '\n' ' ')" = "1 2 3 4 5 " ] && ok || bad "watch of a stream: $(cat "$work/watch")"
expect 0 "$TSHM" ls
grep -E '^frames .*4 slots overwrite, 0 subscribers, 5 frames$' "$work/out" >/dev/null && ok ||
        bad "ls does not show the stream: $(cat "$work/out")"
grep -E '^small .* -$' "$work/out" >/dev/null && ok || bad "ls shows an array as a stream: $(cat "$work/out")"
expect 0 "$TSHM" ls --json
"$PY" -c 'import json,sys; d={r["name"]: r for r in json.load(open(sys.argv[1]))}; assert d["frames"]["stream"] == {"slots": 4, "policy": "overwrite", "subscribers": 0, "frames": 5}, d; assert d["frames"]["kind"] == "stream" and d["small"]["kind"] == "array", d; assert "stream" not in d["small"]; assert d["frames"]["nbytes"] == 16' \
        "$work/out" && ok || bad "ls --json stream: $(cat "$work/out")"
expect 0 "$TSHM" info frames
grep -q '^stream: 4 slots, policy overwrite$' "$work/out" && grep -q '^frames: 5$' "$work/out" && ok ||
        bad "info of a stream: $(cat "$work/out")"
"$TSHM" watch small >"$work/watch" 2>"$work/watch.err" &
watcher=$!
sleep 0.3
expect 0 "$TSHM" rm small frames
wait "$watcher"
rc=$?
[ "$rc" -eq 1 ] && grep -q "unlinked" "$work/watch.err" && ok || bad "watch of an unlinked segment: exit $rc, $(cat "$work/watch.err")"

# --- ls on a terminal fits its width; piped, --wide and --json stay whole ---
long=$(printf 'long%.0s' $(seq 50))        # 200 characters, the longest name
expect 0 "$TSHM" create "$long" uint8 1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x1x2
expect 0 "$TSHM" create short uint8 3
expect 0 "$TSHM" ls
grep -Eq "^$long +uint8 +1x1x1x[1x]*x2 " "$work/out" && ok || bad "piped ls cut the long name or shape: $(cat "$work/out")"
on_tty() { COLUMNS=$1 script -qec "$2" /dev/null </dev/null | tr -d '\r'; }
# The long name and shape give up room, then (at 80 columns, as ps does)
# the row is cut at the terminal's edge.
on_tty 80 "'$TSHM' ls" >"$work/out"
awk 'length($0) > 80 { exit 1 }' "$work/out" && grep -Eq '^longlonglong[a-z]*\.\.\. +uint8 ' "$work/out" &&
        grep -q '^short ' "$work/out" && ok || bad "ls on an 80-column terminal: $(cat "$work/out")"
on_tty 300 "'$TSHM' ls" >"$work/out"
awk 'length($0) > 300 { exit 1 }' "$work/out" && grep -Eq '^long[a-z]*\.\.\. +uint8 +1x1x1x[1x]*x2 .* -$' "$work/out" &&
        ok || bad "ls on a 300-column terminal: $(cat "$work/out")"
on_tty 80 "'$TSHM' ls -w" >"$work/out"
grep -Eq "^$long +uint8 +1x1x1x[1x]*x2 " "$work/out" && ok || bad "ls -w on a terminal: $(cat "$work/out")"
on_tty 80 "'$TSHM' ls --json" >"$work/out"
grep -q "\"name\": \"$long\"" "$work/out" && ok || bad "ls --json on a terminal: $(cat "$work/out")"
expect 0 "$TSHM" rm "$long" short

# --- the C examples: the consumer sees every round the producer publishes ---
if [ -n "$PRODUCER" ]; then
        expect 0 "$TSHM" create demo float32 4x4
        "$CONSUMER" demo 5 10 >"$work/consumer" 2>&1 &
        consumer=$!
        sleep 0.2
        expect 0 "$PRODUCER" demo 5 50
        wait "$consumer" && ok || bad "consumer exited $?: $(cat "$work/consumer")"
        for k in 1 2 3 4 5; do
                grep -q "sees round $k, last element $k.15 (version $((2 * k)))" "$work/consumer" &&
                        ok || bad "consumer did not see round $k: $(cat "$work/consumer")"
        done
        expect 0 "$TSHM" rm demo
else
        echo "SKIP: the C examples (not built: TSHM_BUILD_EXAMPLES=OFF)"
fi

expect 0 "$TSHM" rm img vec zero empty
expect 1 "$TSHM" rm img

# --- another user sees only what it may read ---
if [ "$(id -u)" -eq 0 ]; then
        shared=$(mktemp -d /tmp/tshm-cli-shared-XXXXXX)
        chmod 0755 "$shared"
        "$TSHMD" --foreground --socket "$shared/s.sock" --socket-mode 0666 \
                --shm-prefix "${prefix}o" 2>"$work/other.log" &
        other=$!
        for _ in $(seq 200); do
                [ -S "$shared/s.sock" ] && break
                sleep 0.02
        done
        as_other() { setpriv --reuid 60041 --regid 60041 --clear-groups "$@"; }
        expect 0 "$TSHM" --socket "$shared/s.sock" create secret int32 2 --mode 0600
        expect 0 "$TSHM" --socket "$shared/s.sock" create open int32 2 --mode 0644
        expect 0 as_other "$TSHM" --socket "$shared/s.sock" ls
        grep -q '^open ' "$work/out" && ! grep -q '^secret ' "$work/out" && ok ||
                bad "another user's ls: $(cat "$work/out")"
        expect 1 as_other "$TSHM" --socket "$shared/s.sock" info secret
        grep -qi 'permission denied' "$work/err" && ! grep -q '0600' "$work/err" && ok ||
                bad "another user's info of a private segment: $(cat "$work/out" "$work/err")"
        expect 0 "$TSHM" --socket "$shared/s.sock" ls
        grep -q '^secret ' "$work/out" && ok || bad "root's ls lacks secret: $(cat "$work/out")"
        kill "$other"
        wait "$other" && ok || bad "the other tshmd did not exit 0: $(cat "$work/other.log")"
        rm -f /dev/shm/"${prefix}o".*
        rm -rf "$shared"
fi

# --- a daemon at --max-clients: a clear refusal within the timeout ---
"$TSHMD" --foreground --socket "$work/full.sock" --shm-prefix "${prefix}f" --max-clients 1 \
        2>"$work/full.log" &
full=$!
for _ in $(seq 200); do
        [ -S "$work/full.sock" ] && break
        sleep 0.02
done
"$PY" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); open(sys.argv[2], "w").close()
time.sleep(60)' "$work/full.sock" "$work/held" &
holder=$!
for _ in $(seq 500); do
        [ -e "$work/held" ] && break
        sleep 0.02
done
sleep 0.1 # the daemon accepts it
t0=$(date +%s%N)
TSHM_TIMEOUT_MS=2000 timeout 20 "$TSHM" --socket "$work/full.sock" ls >"$work/out" 2>"$work/err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -eq 1 ] && grep -q -- '--max-clients' "$work/err" && ok ||
        bad "ls at --max-clients exited $rc: $(cat "$work/err")"
[ "$ms" -lt 5000 ] && ok || bad "ls at --max-clients took $ms ms"
kill "$holder"
wait "$holder" 2>/dev/null
kill "$full"
wait "$full" && ok || bad "the full tshmd did not exit 0: $(cat "$work/full.log")"
[ "$(grep -c 'client limit' "$work/full.log")" -le 3 ] && ok ||
        bad "one refused ls logged: $(cat "$work/full.log")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
