#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and prints executions per target.
#
#   fuzz/run.sh                      # each target for $FUZZ_SECONDS (default 60) seconds
#   FUZZ_SECONDS=600 fuzz/run.sh     # longer
#   FUZZ_TARGETS="keys ffi" fuzz/run.sh
#
# Needs cargo-fuzz (installed here from crates.io when missing) and nightly compiler features:
# on a stable toolchain RUSTC_BOOTSTRAP=1 enables them (set below; no nightly download).
# Targets are built with AddressSanitizer (cargo-fuzz's default) and debug assertions (-a:
# integer overflow is a crash). Seeds: fuzz/corpus/<target>/ (checked in, read only); what a run
# discovers goes to fuzz/target/corpus/<target>/ (kept between runs, not checked in). A crash
# writes fuzz/artifacts/<target>/crash-*; turn each into a test in tests/hostile.rs.
# Exits non-zero if any target found a crash.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"keys filter config import ffi ops"}
FLAGS=(-O -a)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==== installing cargo-fuzz (crates.io)"
    cargo install cargo-fuzz --locked
fi

echo "==== building fuzz targets (ASan, debug assertions)"
cargo fuzz build "${FLAGS[@]}"

mkdir -p target/logs
summary=()
failed=()
for t in $TARGETS; do
    work=target/corpus/$t
    mkdir -p "$work" "artifacts/$t"
    max_len=4096
    [ "$t" = import ] && max_len=16384
    log=target/logs/$t.log
    echo "==== fuzzing $t for ${SECONDS_EACH}s (log: fuzz/$log)"
    set +e
    cargo fuzz run "${FLAGS[@]}" "$t" "$work" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=30 -rss_limit_mb=4096 -max_len=$max_len \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [ -z "$runs" ]; then
        runs=$(sed -n 's/^#\([0-9]*\).*exec\/s: \([0-9]*\).*/\1/p' "$log" | tail -1)
        rate=$(sed -n 's/^#\([0-9]*\).*exec\/s: \([0-9]*\).*/\2/p' "$log" | tail -1)
    fi
    corpus=$(find "$work" -type f | wc -l)
    if [ $rc -ne 0 ]; then
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        reason=$(grep -m1 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer" -A2 "$log" | tr '\n' ' ' | cut -c1-300)
        failed+=("$t: ${artifact:-no artifact} :: $reason")
        summary+=("$(printf '%-8s %12s %10s %8s  CRASH' "$t" "${runs:-?}" "${rate:-?}" "$corpus")")
    else
        summary+=("$(printf '%-8s %12s %10s %8s  ok' "$t" "${runs:-?}" "${rate:-?}" "$corpus")")
    fi
done

echo
echo "==== fuzz summary (${SECONDS_EACH}s per target)"
printf '%-8s %12s %10s %8s  %s\n' target executions exec/s corpus result
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "==== crashes (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a TARGET ARTIFACT)"
    printf '%s\n' "${failed[@]}"
    exit 1
fi
