#!/usr/bin/env bash
# The systemd units as systemd 252 reads them, without systemd as PID 1:
# `systemd-analyze verify` of the system and user units must print nothing at
# all (it only warns on unknown keys, so any output fails), and the
# hardening score of tshmd.service (`systemd-analyze security --offline=yes`)
# must be the one docs/service.md states, so that the two never drift apart.
#
# Usage: check-units.sh UNIT_DIR TSHMD SERVICE_DOC [MAN_DIR]
#   UNIT_DIR: the configured units (the build's systemd/, with user/ in it),
#     or an installed tree's lib/systemd, whose system/ and user/ are used
#   TSHMD: the tshmd that ExecStart= should name (verify checks that it runs)
#   MAN_DIR: a MANPATH holding tshmd.8 and tshm.1, to check Documentation=;
#     without it (or without man) the man pages are not looked up
# Exit 77: systemd-analyze is missing (skipped).
set -euo pipefail
units=$1
tshmd=$2
doc=$3
mandir=${4-}

if ! command -v systemd-analyze >/dev/null; then
        echo "SKIP: systemd-analyze not found (Debian: apt install systemd)"
        exit 77
fi
if [ -d "$units/system" ]; then
        sysdir=$units/system
else
        sysdir=$units
fi
userdir=$units/user

tmp=$(mktemp -d /tmp/tshm-units-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/system" "$tmp/user" "$tmp/run"
# The units name the installed tshmd; point them at the one under test.
for u in tshmd.service tshmd.socket; do
        sed "s|^ExecStart=[^ ]*|ExecStart=$tshmd|" "$sysdir/$u" >"$tmp/system/$u"
        sed "s|^ExecStart=[^ ]*|ExecStart=$tshmd|" "$userdir/$u" >"$tmp/user/$u"
done

man_opt=--man=no
if [ -n "$mandir" ] && command -v man >/dev/null; then
        man_opt=--man=yes
        export MANPATH=$mandir
fi

status=0
verify() {
        local what=$1 out
        shift
        if ! out=$("$@" 2>&1) || [ -n "$out" ]; then
                echo "FAIL: systemd-analyze verify of the $what units:" >&2
                printf '%s\n' "$out" >&2
                status=1
        else
                echo "ok: systemd-analyze verify $what units ($man_opt): no output"
        fi
}
cp "$sysdir/run-tshm-huge.mount" "$tmp/system/"
(cd "$tmp/system" && verify system systemd-analyze verify "$man_opt" ./tshmd.socket ./tshmd.service ./run-tshm-huge.mount)
# A user manager needs a runtime directory (%t) even offline.
(cd "$tmp/user" && XDG_RUNTIME_DIR=$tmp/run verify user \
        systemd-analyze --user verify "$man_opt" ./tshmd.socket ./tshmd.service)

# Without peers the daemon stays off the network: the unit allows AF_UNIX
# alone. The drop-in for peers (docs/remote.md) opens the families that UCX
# and TCP need (AF_INET, AF_INET6, and AF_NETLINK, with which UCX lists the
# interfaces) and the network namespace, and verifies with the unit.
if [ "$(sed -n 's/^RestrictAddressFamilies=//p' "$tmp/system/tshmd.service")" != AF_UNIX ] ||
        ! grep -qx 'PrivateNetwork=yes' "$tmp/system/tshmd.service"; then
        echo "FAIL: tshmd.service must keep AF_UNIX only and PrivateNetwork=yes" >&2
        status=1
fi
peers=$sysdir/tshmd-peers.conf
if [ ! -f "$peers" ]; then
        echo "FAIL: no $peers (the drop-in for peers)" >&2
        status=1
else
        fams=$(sed -n 's/^RestrictAddressFamilies=//p' "$peers" | tr '\n' ' ')
        for fam in AF_UNIX AF_INET AF_INET6 AF_NETLINK; do
                case " $fams " in
                *" $fam "*) ;;
                *)
                        echo "FAIL: $peers does not allow $fam" >&2
                        status=1
                        ;;
                esac
        done
        mkdir -p "$tmp/peers/tshmd.service.d"
        cp "$tmp/system/tshmd.service" "$tmp/system/tshmd.socket" "$tmp/peers/"
        cp "$peers" "$tmp/peers/tshmd.service.d/peers.conf"
        (cd "$tmp/peers" && verify "system (with tshmd-peers.conf)" systemd-analyze verify \
                "$man_opt" ./tshmd.socket ./tshmd.service)
fi

# The score, and the line of docs/service.md that records it.
line=$(systemd-analyze security --offline=yes "$tmp/system/tshmd.service" 2>&1 |
        grep 'Overall exposure level' || true)
score=$(printf '%s\n' "$line" | sed -n 's/.*tshmd.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
if [ -z "$score" ]; then
        echo "FAIL: no score from systemd-analyze security --offline=yes" >&2
        status=1
elif ! grep -q "Overall exposure level for tshmd.service: $score" "$doc"; then
        echo "FAIL: tshmd.service scores '$score', but $doc does not say" \
                "'Overall exposure level for tshmd.service: $score'" >&2
        status=1
else
        echo "ok: systemd-analyze security --offline=yes: $score, as $doc says"
fi
exit $status
