#!/usr/bin/env bash
# Check that proto/ is pure (STYLE.md section 1): its objects define no
# writable data (globals, statics, thread-locals; constant tables are fine,
# also those the linker makes read-only after relocation, .data.rel.ro),
# and they call nothing outside proto/ but msgpack-c and an allow-list of
# pure C library functions: no system call, no environment, no clock.
# Usage: check-proto-pure.sh NM OBJDUMP OBJECT...
set -euo pipefail
nm=$1
objdump=$2
shift 2
[ $# -gt 0 ] || { echo "check-proto-pure: no objects given" >&2; exit 2; }

# Functions proto/ may call outside itself. Anything else (getenv, open,
# read, syscall, clock_gettime, mmap, kill, pthread_*, strerror, which
# reads the locale through gettext, ...) fails the check. tshm__malloc and
# its kin are alloc/'s wrapper of malloc (whose failure hook the
# out-of-memory tests use): proto/ allocates through them, as through malloc.
allowed='^(msgpack_[a-z0-9_]+|tshm__(malloc|calloc|realloc|free|strdup)|memcpy|memmove|memset|memcmp|memchr|strlen|strnlen|strcmp|strncmp|strchr|strrchr|snprintf|vsnprintf|strerrordesc_np|malloc|calloc|realloc|free|ntohl|ntohs|htonl|htons)$'
# What the compiler and msgpack-c's inline functions call: the stack
# protector, assert() in msgpack-c's headers, libgcc helpers, the
# _FORTIFY_SOURCE variants of allowed calls, and sanitizer runtimes.
allowed_rt='^(__stack_chk_fail|__assert_fail|__popcount[a-z]i2|_GLOBAL_OFFSET_TABLE_|__(memcpy|memmove|memset|snprintf|vsnprintf)_chk|__(asan|ubsan|sanitizer|sancov|tsan|msan)_[A-Za-z0-9_]+)$'

defined=$("$nm" --defined-only "$@" | awk 'NF == 3 { print $3 }' | sort -u)
if ! grep -qx 'tshm__req_decode' <<<"$defined"; then
        echo "check-proto-pure: tshm__req_decode is not among the objects: wrong input?" >&2
        exit 2
fi
bad=0
while read -r sym; do
        if grep -qxF "$sym" <<<"$defined"; then
                continue # defined in proto/ itself
        fi
        if [[ $sym =~ $allowed || $sym =~ $allowed_rt ]]; then
                continue
        fi
        echo "proto/ calls '$sym', which is not on the list of pure functions" >&2
        bad=1
done < <("$nm" --undefined-only "$@" | awk 'NF >= 2 && $1 == "U" { print $2 }' | sort -u)

# objdump -t: "ADDR FLAGS SECTION<TAB>SIZE NAME"; FLAGS holds O for objects.
for o in "$@"; do
        while IFS=$'\t' read -r left right; do
                sec=${left##* }
                name=${right#* }
                # What sanitizers and coverage add (clang names UBSan's
                # source locations __unnamed_N), not proto/'s own data.
                case $name in
                __asan* | ___asan* | __odr_asan* | __sancov* | __unnamed_[0-9]* | .L*) continue ;;
                esac
                case $sec in
                .data.rel.ro | .data.rel.ro.*) ;;
                .data | .data.* | .bss | .bss.* | .tdata | .tdata.* | .tbss | .tbss.* | '*COM*')
                        echo "$(basename "$o"): '$name' is writable data in $sec (proto/ keeps no globals)" >&2
                        bad=1
                        ;;
                esac
        done < <("$objdump" -t "$o" | awk -F'\t' 'NF == 2 && $1 ~ / O / { print }')
done
if [ "$bad" -ne 0 ]; then
        echo "check-proto-pure: FAILED; impure code belongs in segsync/ or the client library" >&2
        exit 1
fi
echo "check-proto-pure: $# objects, no writable data, only pure calls"
