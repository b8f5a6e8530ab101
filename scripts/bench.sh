#!/usr/bin/env bash
# Benchmarks: the Rust core (criterion, with a raw SQLite point select as the floor), then the
# Go and Node bindings on the same machine. BENCH_QUICK=1 shortens the criterion runs.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
extra=()
if [ -n "${BENCH_QUICK:-}" ]; then extra=(-- --warm-up-time 0.2 --measurement-time 0.5); fi
cargo bench --bench core "${extra[@]}" 2>&1 | grep -E '^[0-9A-Za-z_]+/|time:|thrpt:' | grep -v change
make -C bindings/go bench
make -C bindings/node bench
