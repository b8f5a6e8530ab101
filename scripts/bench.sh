#!/usr/bin/env bash
# `make bench`: every benchmark, then one report.
#   1. the Rust core (criterion, with a raw SQLite point select as the floor);
#   2. the C ABI (bench/c/bench.c) and 3. Python DiskCache (bench/py/diskcache_bench.py) and raw
#      SQLite from C (bench/c/sqlite_floor.c) on the same workloads, data set by data set;
#   4. the Go and Node bindings (their own bench targets);
#   5. the batch targets of issue #4 (benches/targets.rs: delete_where 100k of 1M, get_batch
#      vs gets, put_batch, each beside raw SQLite) -> bench/results/targets.{txt,json}.
# Writes bench/results/latest.{md,json} and latency_vs_n.png (bench/report.py), raw output in
# bench/results/raw/.
# Environment:
#   BENCH_QUICK=1     N = 1k and 100k, one round, short cells (under 5 minutes once built)
#   BENCH_ROUNDS, BENCH_DUR, BENCH_DATASETS, BENCH_NEW_COUNT   override the comparison settings
#   BENCH_STAGES      subset of "criterion compare go node targets" (default: all); report always runs
#   BENCH_TMP         where the data sets are made (default /tmp; the full run needs ~12 GB)
#   BENCH_README=1    also rewrite the benchmark table in README.md
#   BENCH_KEEP_RAW=1  add to bench/results/raw/ instead of starting afresh (resume a run;
#                     BENCH_PREV_WALL=seconds it had run, if it stopped before writing machine.json)
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
RES=bench/results
RAW=$RES/raw
STAGES=${BENCH_STAGES:-criterion compare go node targets}
has_stage() { [[ " $STAGES " == *" $1 "* ]]; }
stage_t=$(date +%s)
stage_done() { echo "   ($1: $(( $(date +%s) - stage_t )) s, load $(cut -d' ' -f1-3 /proc/loadavg))"; stage_t=$(date +%s); }

if [ -n "${BENCH_QUICK:-}" ]; then
    DATASETS=${BENCH_DATASETS:-4096:1000,4096:100000,1048576:1000}
    ROUNDS=${BENCH_ROUNDS:-1}
    DUR=${BENCH_DUR:-0.15}
    NEW_COUNT=${BENCH_NEW_COUNT:-500}
    RSS_GETS=20000
    criterion_args=(-- --warm-up-time 0.1 --measurement-time 0.3 --sample-size 10)
    LIST_CAP=20
    GO_BENCHTIME=0.3s
    node_env=(BENCH_SYNC_OPS=50000 BENCH_ASYNC_OPS=50000)
    targets_env=(CACHENESS_TARGETS_N=100000 CACHENESS_TARGETS_ROUNDS=3)
else
    DATASETS=${BENCH_DATASETS:-4096:1000,4096:100000,4096:1000000,1048576:1000}
    ROUNDS=${BENCH_ROUNDS:-3}
    DUR=${BENCH_DUR:-0.5}
    NEW_COUNT=${BENCH_NEW_COUNT:-2000}
    RSS_GETS=100000
    criterion_args=()
    LIST_CAP=120
    GO_BENCHTIME=2s
    node_env=()
    targets_env=()
fi
CRITERION_N=${CACHENESS_BENCH_N:-10000}

echo "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; load $load_start"

# What the comparison needs: the SQLite headers for the floor, and a venv with DiskCache and
# matplotlib (bench/venv, not committed).
if [ ! -f /usr/include/sqlite3.h ]; then
    echo "bench: installing libsqlite3-dev"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends libsqlite3-dev >/dev/null 2>&1 || {
        apt-get update >/dev/null && apt-get install -y --no-install-recommends libsqlite3-dev >/dev/null; }
fi
PY=bench/venv/bin/python
if ! "$PY" -c 'import diskcache, matplotlib' 2>/dev/null; then
    echo "bench: creating bench/venv (diskcache, matplotlib)"
    python3 -m venv bench/venv
    "$PY" -m pip install -q --disable-pip-version-check diskcache matplotlib
fi

build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
run_quiet() { "$@" >"$build_log" 2>&1 || { tail -30 "$build_log" >&2; echo "bench: '$*' failed" >&2; exit 1; }; }
if [ -z "${BENCH_NO_BUILD:-}" ]; then  # BENCH_NO_BUILD=1: measure the library as built
    run_quiet cargo build --release
    if has_stage criterion; then run_quiet cargo bench --bench core --no-run; fi
fi
test -f target/release/libcacheness.so -a -f include/cacheness.h
make -s -C bench/c
stage_done "set-up and build"
prev_wall=${BENCH_PREV_WALL:-0}
if [ -n "${BENCH_KEEP_RAW:-}" ]; then
    # resume: keep what an earlier (interrupted) run measured and add to it
    if [ -f "$RAW/machine.json" ]; then
        prev_wall=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("wall_s", 0))' "$RAW/machine.json")
    fi
else
    rm -rf "$RAW"
fi
mkdir -p "$RAW"

if has_stage criterion; then
    echo "== 1. Rust core (criterion, N=$CRITERION_N)"
    CACHENESS_BENCH_N=$CRITERION_N cargo bench --bench core "${criterion_args[@]}" >"$RAW/criterion.txt" 2>&1 || {
        tail -20 "$RAW/criterion.txt"; exit 1; }
    tr '\r' '\n' <"$RAW/criterion.txt" | grep -E '^[0-9A-Za-z_]+/|time:' | grep -v '^Benchmarking' | grep -v '%' || true
    stage_done criterion
fi

if has_stage compare; then
    echo "== 2-3. C ABI vs DiskCache vs raw SQLite: data sets $DATASETS, $ROUNDS round(s), ${DUR}s cells"
    t_cmp=$(date +%s)
    common=(--rounds "$ROUNDS" --dur "$DUR" --new-count "$NEW_COUNT" --rss-gets "$RSS_GETS" --tmp "${BENCH_TMP:-/tmp}")
    IFS=, read -ra sets <<<"$DATASETS"
    for ds in "${sets[@]}"; do
        for lib in cacheness sqlite diskcache; do
            t0=$(date +%s)
            case $lib in
                cacheness) cmd=(bench/c/build/bench) ;;
                sqlite) cmd=(bench/c/build/sqlite_floor) ;;
                diskcache) cmd=("$PY" bench/py/diskcache_bench.py --list-cap "$LIST_CAP") ;;
            esac
            "${cmd[@]}" --datasets "$ds" "${common[@]}" >>"$RAW/$lib.jsonl" 2>>"$RAW/$lib.log" || {
                echo "bench: $lib failed on $ds; see $RAW/$lib.log" >&2; tail -5 "$RAW/$lib.log" >&2; exit 1; }
            echo "   $ds $lib: $(( $(date +%s) - t0 )) s (load $(cut -d' ' -f1 /proc/loadavg))"
        done
    done
    compare_wall=$(( $(date +%s) - t_cmp ))
    stage_done compare
fi

if has_stage go; then
    echo "== 4a. Go binding"
    make -s -C bindings/go bench BENCHTIME="$GO_BENCHTIME" 2>&1 | tee "$RAW/go.txt" | grep -E '^Benchmark' || true
    stage_done go
fi
if has_stage node; then
    echo "== 4b. Node binding"
    env "${node_env[@]}" make -s -C bindings/node bench 2>&1 | tee "$RAW/node.txt" | grep -E 'get' || true
    stage_done node
fi

if has_stage targets; then
    echo "== 5. batch targets (benches/targets.rs)"
    env "${targets_env[@]}" cargo bench --bench targets >"$RAW/targets.txt" 2>&1 || {
        tail -20 "$RAW/targets.txt"; exit 1; }
    grep -vE '^ *(Compiling|Finished|Running)' "$RAW/targets.txt" | tee "$RES/targets.txt"
    cp target/targets.json "$RES/targets.json"
    stage_done targets
fi

wall=$(( $(date +%s) - t_start + prev_wall ))
cmd="make bench"
[ -n "${BENCH_QUICK:-}" ] && cmd="BENCH_QUICK=1 make bench"
BENCH_CMD=$cmd BENCH_WALL=$wall BENCH_LOAD_START=$load_start BENCH_COMPARE_WALL=${compare_wall:-${BENCH_PREV_COMPARE_WALL:-}} \
BENCH_DS=$DATASETS BENCH_R=$ROUNDS BENCH_D=$DUR BENCH_NC=$NEW_COUNT BENCH_CN=$CRITERION_N "$PY" - <<'EOF' >"$RAW/machine.json"
import json, os, platform, subprocess, sqlite3, re, glob
import diskcache
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
mem_kb = int(sh("awk '/MemTotal/{print $2}' /proc/meminfo") or 0)
bundled = sh("grep -h -m1 '#define SQLITE_VERSION ' $(ls -d ~/.cargo/registry/src/*/libsqlite3-sys-*/sqlite3/sqlite3.h 2>/dev/null | tail -1) 2>/dev/null")
m = re.search(r'"([\d.]+)"', bundled)
e = os.environ
print(json.dumps({
    "date": sh("date -u +%Y-%m-%dT%H:%MZ"), "command": e["BENCH_CMD"], "wall_s": int(e["BENCH_WALL"]),
    "compare_wall_s": int(e["BENCH_COMPARE_WALL"]) if e.get("BENCH_COMPARE_WALL") else None,
    "cores": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kb / 1048576, 1),
    "os": sh(". /etc/os-release && echo $PRETTY_NAME") + ", Linux " + platform.release(),
    "load_start": e["BENCH_LOAD_START"], "load_end": " ".join(open("/proc/loadavg").read().split()[:3]),
    "commit": sh("git rev-parse --short HEAD"), "dirty": bool(sh("git status --porcelain -- src benches include")),
    "python": platform.python_version(), "diskcache": diskcache.__version__,
    "sqlite_system": sh("pkg-config --modversion sqlite3") or sqlite3.sqlite_version,
    "sqlite_bundled": m.group(1) if m else "?",
    "datasets": e["BENCH_DS"], "rounds": int(e["BENCH_R"]), "dur": float(e["BENCH_D"]),
    "new_count": int(e["BENCH_NC"]), "criterion_n": int(e["BENCH_CN"]),
    "quick": bool(e.get("BENCH_QUICK")),
}, indent=1))
EOF
echo "== report"
readme=()
[ -n "${BENCH_README:-}" ] && readme=(--readme README.md)
"$PY" bench/report.py --raw "$RAW" --out "$RES" "${readme[@]}"
echo "bench: done in ${wall} s; $RES/latest.md, $RES/latest.json, $RES/latency_vs_n.png"
