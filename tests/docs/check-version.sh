#!/usr/bin/env bash
# One version story: the release in CMakeLists.txt's project(VERSION), the
# TSHM_VERSION_* macros of tshm.h, the built library's file name and SONAME
# (libtshm.so.MAJOR: the SOVERSION is the major number while tshm is 0.x),
# debian/changelog's top entry and the pkg-config file all agree, and no
# "Since X.Y" tag in tshm.h or the man pages names a release after it.
# Usage: check-version.sh SOURCE_DIR LIBTSHM_FILE TSHM_PC
set -euo pipefail
src=$1 lib=$2 pc=$3
fail=0
bad() {
        echo "check-version: $*" >&2
        fail=1
}

ver=$(sed -nE 's/^project\(tshm VERSION ([0-9]+\.[0-9]+\.[0-9]+)[ )].*/\1/p' "$src/CMakeLists.txt")
[[ -n $ver ]] || { echo "check-version: no project(tshm VERSION x.y.z) in CMakeLists.txt" >&2; exit 1; }
IFS=. read -r major minor patch <<<"$ver"

macro() { sed -nE "s/^#define TSHM_VERSION_$1 ([0-9]+)$/\1/p" "$src/include/tshm.h"; }
hdr="$(macro MAJOR).$(macro MINOR).$(macro PATCH)"
[[ $hdr == "$ver" ]] || bad "tshm.h says $hdr, CMakeLists.txt $ver"

soname=$(readelf -d "$lib" | sed -nE 's/.*\(SONAME\).*\[(.*)\]$/\1/p')
[[ $soname == "libtshm.so.$major" ]] || bad "SONAME is '$soname', expected libtshm.so.$major"
[[ $(basename "$lib") == "libtshm.so.$ver" ]] || bad "the library is $(basename "$lib"), expected libtshm.so.$ver"

deb=$(sed -nE '1s/^tshm \(([^)]*)\) .*/\1/p' "$src/debian/changelog")
[[ ${deb%%-*} == "$ver" ]] || bad "debian/changelog's top entry is '$deb', expected $ver[-N]"
# The runtime package is named for the SONAME.
grep -qx "Package: libtshm$major" "$src/debian/control" ||
        bad "debian/control has no package libtshm$major"

pcver=$(sed -nE 's/^Version: (.*)$/\1/p' "$pc")
[[ $pcver == "$ver" ]] || bad "$(basename "$pc") says Version: '$pcver', expected $ver"

# "Since 0.2" on a 0.1 library: every Since tag names this release or an earlier one.
while IFS= read -r tag; do
        t=$(sed -nE 's/.*[Ss]ince (libtshm )?([0-9]+\.[0-9]+(\.[0-9]+)?).*/\2/p' <<<"$tag")
        [[ -n $t ]] || continue
        IFS=. read -r a b c <<<"$t"
        if ((a * 1000000 + b * 1000 + ${c:-0} > major * 1000000 + minor * 1000 + patch)); then
                bad "a tag names $t, after this release $ver: $tag"
        fi
done < <(grep -HnE '[Ss]ince (libtshm )?[0-9]+\.[0-9]+' "$src/include/tshm.h" "$src"/docs/man/*.scd || true)

if ((fail)); then
        exit 1
fi
echo "check-version: $ver everywhere (SONAME $soname, debian $deb)"
