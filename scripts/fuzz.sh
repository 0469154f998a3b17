#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) and run
# each for a bounded time, starting from a copy of its seed corpus so that the
# repository is never written. Fails if any target finds a crash, a leak, a
# timeout (-timeout=5) or runs out of memory (-rss_limit_mb=2048); the input
# that did it is kept under BUILD_DIR/artifacts/<target>/. Prints, per
# target, the executions, executions per second, corpus size and coverage
# (cov: edges, ft: features) from libFuzzer's final statistics.
#
# Usage: scripts/fuzz.sh [BUILD_DIR [TARGET...]]
#   BUILD_DIR  default: ${TSHM_TEST_DIR:-_build-test}/fuzz; an existing build
#              is reused, only the fuzzers rebuilt
#   TARGET     proto_decode, frame_stream, seg_header, seg_reader, parse_spec, adopt,
#              safetensors, group_toc, peer_decode
#              (default: all)
# Environment: TSHM_FUZZ_SECONDS, seconds per target (default 60);
# TSHM_FUZZ_COVERAGE=1 also reports the line and branch coverage of proto/
# that each target's final corpus reaches (clang source-based coverage of the
# replay binaries, built in BUILD_DIR/coverage; needs llvm-cov, llvm-profdata).
# Each tests/fuzz/<target>.options ([libfuzzer] key = value, as OSS-Fuzz
# reads it) adds -key=value; a dict there is relative to tests/fuzz.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fuzz_src=$top/tests/fuzz
dir=${1:-${TSHM_TEST_DIR:-$top/_build-test}/fuzz}
shift || true
seconds=${TSHM_FUZZ_SECONDS:-60}
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
        targets=(proto_decode frame_stream seg_header seg_reader parse_spec adopt safetensors group_toc
                        peer_decode)
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
echo "fuzz: building into $dir"
if ! { cmake -S "$top" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DTSHM_FUZZ=ON -DTSHM_BUILD_PYTHON=OFF -DTSHM_BUILD_BENCH=OFF \
        -DTSHM_BUILD_EXAMPLES=OFF -DPython3_EXECUTABLE=/usr/bin/python3 &&
        cmake --build "$dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"; } \
        >"$dir/build.log" 2>&1; then
        tail -n 60 "$dir/build.log" >&2
        echo "fuzz: build FAILED (full log: $dir/build.log)" >&2
        exit 1
fi

# libFuzzer flags from the [libfuzzer] section of tests/fuzz/<target>.options.
options() {
        local file=$fuzz_src/$1.options
        [ -f "$file" ] || return 0
        awk -v src="$fuzz_src" '
                /^[[:space:]]*(#|$)/ { next }
                /^[[:space:]]*\[/ { section = $0; gsub(/[][[:space:]]/, "", section); next }
                section == "libfuzzer" && index($0, "=") > 0 {
                        key = substr($0, 1, index($0, "=") - 1)
                        value = substr($0, index($0, "=") + 1)
                        gsub(/^[[:space:]]+|[[:space:]]+$/, "", key)
                        gsub(/^[[:space:]]+|[[:space:]]+$/, "", value)
                        if (key == "dict") { value = src "/" value }
                        print "-" key "=" value
                }' "$file"
}

# A field of the last libFuzzer status line ("#N DONE cov: C ft: F corp: U/Sb
# ... exec/s: E"), or of its final statistics ("stat::name: V").
field() {
        local log=$1 name=$2
        case $name in
        stat::*) sed -n "s/^$name: *//p" "$log" | tail -n 1 ;;
        *) grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n "s/.* $name: \([^ ]*\).*/\1/p" ;;
        esac
}

# The sources each target is for (relative to proto/).
sources() {
        case $1 in
        proto_decode) echo mpcheck.c mpobj.c request.c reply.c ;;
        frame_stream) echo frame.c ;;
        seg_header) echo header.c ;;
        parse_spec) echo spec.c ;;
        adopt) echo ../daemon/adopt.c ../daemon/seal.c header.c ;;
        safetensors) echo ../client/cli/safetensors.c ../client/cli/safetensors_write.c ;;
        group_toc) echo group.c ;;
        peer_decode) echo peer_proto.c ;;
        esac
}

# Replay each final corpus through a coverage build and report on proto/.
coverage() {
        local cov=$dir/coverage t files f total
        if ! { cmake -S "$top" -B "$cov" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
                -DCMAKE_C_FLAGS="-fprofile-instr-generate -fcoverage-mapping" \
                -DTSHM_BUILD_PYTHON=OFF -DTSHM_BUILD_BENCH=OFF -DTSHM_BUILD_EXAMPLES=OFF \
                -DPython3_EXECUTABLE=/usr/bin/python3 &&
                cmake --build "$cov" -j "$(nproc)" --target "${targets[@]/#/fuzz_replay_}"; } \
                >"$cov.log" 2>&1; then
                tail -n 30 "$cov.log" >&2
                echo "fuzz: coverage build FAILED (full log: $cov.log)" >&2
                failed+=(coverage)
                return
        fi
        echo
        printf '%-14s %-36s %18s %18s\n' target "proto/ sources" "lines" "branches"
        for t in "${targets[@]}"; do
                files=()
                for f in $(sources "$t"); do
                        files+=("$top/proto/$f")
                done
                rm -f "$cov/$t.profraw"
                LLVM_PROFILE_FILE=$cov/$t.profraw "$cov/tests/fuzz/fuzz_replay_$t" \
                        "$dir/corpus-run/$t" >/dev/null
                llvm-profdata merge -sparse -o "$cov/$t.profdata" "$cov/$t.profraw"
                # TOTAL regions missed % functions missed % lines missed % branches missed %
                total=$(llvm-cov report "$cov/tests/fuzz/fuzz_replay_$t" \
                        -instr-profile="$cov/$t.profdata" "${files[@]}" | awk '$1 == "TOTAL"')
                printf '%-14s %-36s %18s %18s\n' "$t" "$(sources "$t")" \
                        "$(echo "$total" | awk '{ printf "%s (%d/%d)", $10, $8 - $9, $8 }')" \
                        "$(echo "$total" | awk '{ printf "%s (%d/%d)", $13, $11 - $12, $11 }')"
        done
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
rows=()
for t in "${targets[@]}"; do
        bin=$dir/tests/fuzz/fuzz_$t
        seeds=$fuzz_src/corpus/$t
        work=$dir/corpus-run/$t
        artifacts=$dir/artifacts/$t
        log=$dir/fuzz_$t.log
        rm -rf "$work"
        mkdir -p "$work" "$artifacts"
        cp -R "$seeds/." "$work/"
        mapfile -t opts < <(options "$t")
        echo "fuzz: $t for ${seconds}s (log: $log)"
        rc=0
        "$bin" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$artifacts/" "${opts[@]}" "$work" >"$log" 2>&1 || rc=$?
        if [ "$rc" -eq 0 ]; then
                result=ok
        else
                result="FAILED (exit $rc)"
                failed+=("$t")
                echo "fuzz: $t FAILED; the end of its log:" >&2
                tail -n 40 "$log" >&2
                ls "$artifacts" >&2 || true
        fi
        rows+=("$(printf '%-14s %12s %9s %6s %7s %14s  %s' "$t" \
                "$(field "$log" stat::number_of_executed_units)" \
                "$(field "$log" stat::average_exec_per_sec)" "$(field "$log" cov)" \
                "$(field "$log" ft)" "$(field "$log" corp)" "$result")")
done

echo
printf '%-14s %12s %9s %6s %7s %14s  %s\n' target execs exec/s cov ft corpus result
for row in "${rows[@]}"; do
        echo "$row"
done
if [ "${TSHM_FUZZ_COVERAGE:-0}" = 1 ]; then
        coverage
fi
if [ "${#failed[@]}" -gt 0 ]; then
        echo "fuzz: FAILED: ${failed[*]} (inputs under $dir/artifacts/)" >&2
        exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a finding"
