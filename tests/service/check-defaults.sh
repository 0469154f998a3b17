#!/usr/bin/env bash
# /etc/default/tshmd mirrors tshmd's flags: every flag of 'tshmd --help' is
# listed there, every example value in it is one tshmd accepts, and the
# command lines of the units (ExecStart= with TSHMD_OPTS from the file) parse.
# tshmd applies each flag as it reads it and answers --help after them, so
# "tshmd FLAGS --help" exits 0 exactly when FLAGS are valid.
#
# Usage: check-defaults.sh TSHMD DEFAULT_FILE UNIT_DIR
set -euo pipefail
tshmd=$1
defaults=$2
units=$3
status=0

flags=$("$tshmd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
for f in $flags; do
        case $f in
        --help | --version) continue ;;
        esac
        if ! grep -q -- "$f\b" "$defaults"; then
                echo "FAIL: $defaults does not mention tshmd's $f" >&2
                status=1
        fi
done

# The listed defaults ("#   --flag value"), except the paths.
while read -r flag value; do
        case $value in
        /*) continue ;;
        esac
        if ! "$tshmd" "$flag" "$value" --help >/dev/null 2>&1; then
                echo "FAIL: tshmd refuses '$flag $value', listed in $defaults" >&2
                status=1
        fi
done < <(sed -n 's/^#[[:space:]]*\(--[a-z-]*\) \([^[:space:]]*\).*/\1 \2/p' "$defaults")

# The example and the value in force, on the units' command lines.
example=$(sed -n 's/^# Example: TSHMD_OPTS="\(.*\)"$/\1/p' "$defaults")
if [ -z "$example" ]; then
        echo "FAIL: $defaults has no '# Example: TSHMD_OPTS=\"...\"' line" >&2
        status=1
fi
# shellcheck disable=SC1090
opts=$(TSHMD_OPTS="" && . "$defaults" && printf '%s' "$TSHMD_OPTS")
for unit in "$units/tshmd.service" "$units/user/tshmd.service"; do
        line=$(sed -n 's/^ExecStart=[^ ]* //p' "$unit")
        # The user unit's specifiers: any directory and uid will do here.
        line=${line//%t/\/run\/user\/1000}
        line=${line//%U/1000}
        for value in "$opts" "$example"; do
                # shellcheck disable=SC2086
                if ! "$tshmd" ${line//\$TSHMD_OPTS/$value} --help >/dev/null 2>&1; then
                        echo "FAIL: $unit's ExecStart= does not parse with TSHMD_OPTS='$value'" >&2
                        status=1
                fi
        done
done
[ $status -eq 0 ] && echo "ok: $defaults lists every flag; its values and the units' command lines parse"
exit $status
