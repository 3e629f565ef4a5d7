#!/usr/bin/env bash
# Runs every parser fuzz target (Sources/ParserFuzzing) under libFuzzer for a bounded time.
#
#   Tests/Fuzz/run.sh [SECONDS] [TARGET...]     each target for SECONDS (default 60)
#   Tests/Fuzz/run.sh --runs N [TARGET...]      each target for N executions (at most
#                                               FUZZ_MAX_SECONDS, default 600, each)
#
# Builds the driver (Tests/Fuzz/Driver) in .build-fuzz with libFuzzer and AddressSanitizer (the
# fuzzer alone where ASan does not build), writes the seed corpora from the fixtures into
# Tests/Fuzz/corpus/<target>/ (git-ignored; inputs libFuzzer finds are kept there between runs),
# and runs each target with bounds that make an allocation beyond 2 GiB, a resident set beyond
# 2 GiB or an input taking more than 10 s a finding. Findings are written to
# Tests/Fuzz/artifacts/<target>-crash-… (or -oom-, -timeout-). Prints per target: executions,
# executions per second, findings and peak RSS; exits 1 when any target has a finding.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=60
runs=""
if [[ "${1:-}" == "--runs" ]]; then
    runs="${2:?--runs needs a count}"
    shift 2
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    seconds="$1"
    shift
fi
selected=("$@")

scratch=.build-fuzz
# The coverage options are spelled out: swiftc 6.3 with -sanitize=fuzzer and -sanitize=address
# together, under multi-threaded whole-module optimization (SwiftPM's release build), leaves Swift
# code uninstrumented, and libFuzzer would mutate blind (only C code counted).
flags=(-c release --scratch-path "$scratch" --product parser-fuzz -Xswiftc -DFUZZING
       -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp)
echo "== building the fuzz driver (libFuzzer + AddressSanitizer) in $scratch"
if ! swift build "${flags[@]}" --sanitize=fuzzer --sanitize=address 2>&1 | grep -v "ld.gold: warning" | tail -3; then
    echo "== AddressSanitizer did not build; fuzzing without it"
    swift build "${flags[@]}" --sanitize=fuzzer 2>&1 | grep -v "ld.gold: warning" | tail -3
fi
driver="$(swift build "${flags[@]}" --show-bin-path)/parser-fuzz"
[[ -x "$driver" ]] || { echo "run.sh: no driver at $driver" >&2; exit 1; }
counters_hex=$(objdump -h "$driver" | awk '$2 == "__sancov_cntrs" { print $3 }')
counters=$(( 16#${counters_hex:-0} ))
if (( ${counters:-0} < 20000 )); then
    echo "run.sh: the driver has ${counters:-no} coverage counters; the Swift code is not instrumented" >&2
    exit 1
fi

corpus=Tests/Fuzz/corpus
artifacts=Tests/Fuzz/artifacts
logs="$scratch/fuzz-logs"
mkdir -p "$corpus" "$artifacts" "$logs"
# The Swift runtime's backtracer would stand between a trap and libFuzzer's signal handler.
export SWIFT_BACKTRACE=enable=no
# Leaks are not findings here (the Swift runtime keeps caches for the process's life); memory
# errors, traps, allocations beyond the bound, RSS and hangs are.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=0:handle_abort=1:handle_sigill=1:handle_sigtrap=1"
seed_list="$logs/seeds.txt"
CALIBRATE_FUZZ_SEEDS="$corpus" "$driver" > "$seed_list" 2> "$logs/seeds.stderr" || { cat "$logs/seeds.stderr" >&2; exit 1; }

# --runs stops a target at N executions or after FUZZ_MAX_SECONDS (default 600), whichever comes first.
if [[ -n "$runs" ]]; then bound=(-runs="$runs" -max_total_time="${FUZZ_MAX_SECONDS:-600}"); else bound=(-max_total_time="$seconds"); fi
printf '%-20s %12s %10s %9s %9s %9s\n' target executions exec/s findings rss_mb seconds
failed=0
while read -r target max_length seed_count; do
    if (( ${#selected[@]} )) && [[ ! " ${selected[*]} " == *" $target "* ]]; then continue; fi
    log="$logs/$target.log"
    before=$(ls "$artifacts" | grep -c "^$target-" || true)
    start=$(date +%s)
    status=0
    CALIBRATE_FUZZ_TARGET="$target" "$driver" "${bound[@]}" -max_len="$max_length" \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$target-" "$corpus/$target" > "$log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    after=$(ls "$artifacts" | grep -c "^$target-" || true)
    findings=$(( after - before ))
    if (( status != 0 && findings == 0 )); then findings=1; fi
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    printf '%-20s %12s %10s %9s %9s %9s\n' "$target" "${executions:-?}" "${rate:-?}" "$findings" "${rss:-?}" "$elapsed"
    if (( findings )); then
        failed=1
        echo "-- $target: exit status $status; the end of $log:"
        grep -E "ERROR|Fatal error|Precondition|SUMMARY|deadly|out-of-memory|malloc\(|Test unit written" "$log" | head -12 | sed 's/^/   /'
    fi
done < "$seed_list"
exit "$failed"
