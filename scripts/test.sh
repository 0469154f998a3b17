#!/usr/bin/env bash
# Install, build and run every test: a gcc Debug build with -Werror, then
# clang-format and clang-tidy over the sources (scripts/lint.sh), and a
# clang build under AddressSanitizer and UndefinedBehaviorSanitizer; then
# each libFuzzer target for 60 s (scripts/fuzz.sh); then install into a
# staging prefix from a RelWithDebInfo build (tests compiled there too, at
# -O2, not run) and build an outside project against it; then build the
# Debian packages, install them, run the installed daemon as its systemd
# units would, and purge them (tests/service/package-test.sh).
# Usage: scripts/test.sh   (as root, or a user with sudo, on Debian 12)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${TSHM_TEST_DIR:-$top/_build-test}

"$top/scripts/deps.sh"

echo "== gcc, Debug, -Werror"
"$top/scripts/build.sh" "$out/gcc" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug

echo "== clang-format and clang-tidy (any finding fails)"
"$top/scripts/lint.sh" "$out/gcc"

echo "== ctest (gcc build)"
(cd "$out/gcc" && ctest --output-on-failure -j2)

echo "== the daemon under valgrind memcheck (integration tests; any error fails)"
(cd "$out/gcc" && TSHM_TEST_VALGRIND=1 ctest -L integration --output-on-failure)

echo "== clang, ASan + UBSan"
"$top/scripts/build.sh" "$out/asan" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
        -DTSHM_SANITIZER=address,undefined -DTSHM_BUILD_BENCH=OFF
(cd "$out/asan" &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
                ctest --output-on-failure -j2)

# Timed libFuzzer runs: each target for TSHM_FUZZ_SECONDS (20 s here, so
# that eight targets plus the build stay under 5 minutes and the whole run
# under 25; fuzz.sh alone defaults to 60 s). fuzz.sh fails on a
# crash, leak, timeout or out-of-memory and keeps the input under
# $out/fuzz/artifacts/. Skipped where clang has no libFuzzer runtime.
if command -v clang >/dev/null &&
        echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
        clang -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; then
        echo "== libFuzzer, ${TSHM_FUZZ_SECONDS:-20} s per target"
        TSHM_FUZZ_SECONDS=${TSHM_FUZZ_SECONDS:-20} "$top/scripts/fuzz.sh" "$out/fuzz"
else
        echo "== libFuzzer: skipped (no clang with -fsanitize=fuzzer)"
fi

# The optimised build compiles the tests too (about a minute more): only
# at -O2 does gcc see some warnings (warn_unused_result on ftruncate and
# pwrite, -Wformat-truncation), and -Werror makes them fail here rather
# than in a packager's build. It installs from the same build; its tests
# are compiled, not run (the Debug and sanitizer builds ran them).
echo "== RelWithDebInfo with the tests (compile only), install, then build an outside project with pkg-config and with CMake"
"$top/scripts/build.sh" "$out/rel" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc \
        -DCMAKE_INSTALL_PREFIX="$out/prefix"
cmake --install "$out/rel" >/dev/null
"$top/tests/install/check-consumer.sh" "$out/prefix" "$out/consumer"

echo "== Debian packages: build, lintian, dpkg -i, run as the units would, purge"
"$top/tests/service/package-test.sh" "$out/pkg"
echo "== all tests passed"
