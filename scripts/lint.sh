#!/usr/bin/env bash
# Check the C sources: clang-format (.clang-format) must change nothing, and
# clang-tidy (.clang-tidy: braces, function size, bugprone-*) must report
# nothing. Any finding fails. clang-tidy reads the compile_commands.json of a
# configured build directory (CMAKE_EXPORT_COMPILE_COMMANDS is on), so build
# or at least configure first; scripts/test.sh runs this after its gcc build.
# Usage: scripts/lint.sh [BUILD_DIR]   (default: _build; needs clang-format
#        and clang-tidy, which scripts/deps.sh installs)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/_build}
cd "$top"

if [ ! -f "$dir/compile_commands.json" ]; then
        echo "lint: no $dir/compile_commands.json; configure a build there first" >&2
        exit 2
fi

# The tracked sources; outside a git checkout (or where git refuses the
# tree's owner), every C file not under a build directory. The fuzz corpus
# holds inputs, not code.
if files=$(git ls-files -- '*.c' '*.h' 2>/dev/null) && [ -n "$files" ]; then
        :
else
        files=$(find . -path './_build*' -prune -o -path './build' -prune -o \
                -path ./debian -prune -o -path ./.git -prune -o \
                -type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | sort)
fi
files=$(printf '%s\n' "$files" | grep -v '^tests/fuzz/corpus/')
csrc=$(printf '%s\n' "$files" | grep '\.c$')

echo "lint: clang-format, $(printf '%s\n' "$files" | wc -l) files"
fmt=0
printf '%s\n' "$files" | xargs -d '\n' clang-format --dry-run --Werror || fmt=1
if [ "$fmt" -ne 0 ]; then
        echo "lint: FAILED: clang-format would change the files above (run clang-format -i)" >&2
fi

echo "lint: clang-tidy, $(printf '%s\n' "$csrc" | wc -l) files"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# clang-tidy exits non-zero only on errors (a file that does not compile),
# so its findings are also read from its output: any "warning:" or "error:"
# line fails. Its "N warnings generated" lines count what HeaderFilterRegex
# hides (system headers) and are dropped.
rc=0
printf '%s\n' "$csrc" |
        xargs -d '\n' -n 4 -P "$(nproc)" clang-tidy -p "$dir" --quiet >"$log" 2>&1 || rc=$?
tidy=$(grep -cE ': (warning|error): ' "$log" || true)
if [ "$tidy" -ne 0 ] || [ "$rc" -ne 0 ]; then
        grep -vE '^[0-9]+ warnings? generated\.$' "$log" || true
        echo "lint: FAILED: $tidy clang-tidy findings (exit status $rc)" >&2
        tidy=$((tidy + 1))
fi

if [ "$fmt" -ne 0 ] || [ "$tidy" -ne 0 ]; then
        exit 1
fi
echo "lint: clean"
