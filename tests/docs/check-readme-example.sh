#!/usr/bin/env bash
# The README's C example must be examples/hello.c (minus its opening comment),
# which the build compiles: so the README's code always compiles.
set -euo pipefail
top=$1
readme_block=$(awk '/^### The C API/{f=1} f&&/^```c$/{p=1;next} p&&/^```$/{exit} p' "$top/README.md")
example=$(sed '1,2d' "$top/examples/hello.c")
if [ "$readme_block" != "$example" ]; then
        diff <(echo "$readme_block") <(echo "$example") || true
        echo "README.md's C example differs from examples/hello.c" >&2
        exit 1
fi
echo "README example matches examples/hello.c"
