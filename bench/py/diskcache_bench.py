"""The comparison workloads on Python DiskCache, mirroring bench/c/driver.c: same options,
same key shapes and value bytes, same JSON lines on stdout.

Entry i is the params dict {"bench": "kv", "g": i % 10, "i": i}; its DiskCache key is that dict
serialized as JSON (sorted keys, no spaces), which is the same text cacheness canonicalises.
The key string is made before the timer starts (cacheness's timed calls include parsing,
canonicalising and hashing the params). Cache settings: DiskCache defaults (SQLite WAL,
synchronous=NORMAL, eviction policy least-recently-stored, so reads write nothing) except
size_limit (raised so the cache never culls during the benchmark) and tag_index=True (the tag
holds the group g, and delete_where is `evict(tag)`, which needs that index). Values of 32 KiB
or more go to files, as in cacheness (16 KiB or more there).
"""

import argparse
import io
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from array import array
from concurrent.futures import ThreadPoolExecutor

import diskcache

OPS = ["put", "get_hit", "get_miss", "get_metadata", "touch", "put_new", "delete",
       "get_batch_100", "get_x100", "get_batch_1000", "put_batch_100", "put_batch_1000"]
CONCURRENT = set(OPS[:7])
MISS_BASE = 1000000000000
NEW_BASE = 10000000000
STRIDE = 7919
MAX_SAMPLES = 4 << 20
LIB = "diskcache"


def key(i):
    # == json.dumps({"bench": "kv", "g": i % 10, "i": i}, separators=(",", ":"), sort_keys=True)
    return f'{{"bench":"kv","g":{i % 10},"i":{i}}}'


assert key(123) == json.dumps({"bench": "kv", "g": 3, "i": 123}, separators=(",", ":"), sort_keys=True)


def make_value(n):
    return bytes(bytearray(range(251)) * (n // 251) + bytearray(range(n % 251)))  # byte j = j % 251


def open_cache(directory):
    return diskcache.Cache(directory, size_limit=2**40, tag_index=True)


def load1():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return -1.0


def items(op):
    return 1000 if op.endswith("_1000") else 100 if op.endswith("100") else 1


class Rng:
    """xorshift64, as in driver.c."""

    def __init__(self, seed, wi):
        self.s = (seed * 0x9E3779B97F4A7C15 + wi * 7919 + 1) & 0xFFFFFFFFFFFFFFFF

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        self.s = x
        return x


def run_loop(cache, cell, wi):
    op, vlen, value, n, dur_ns, count, new_base, seed = cell
    rng = Rng(seed, wi)
    k = items(op)
    counted = op in ("put_new", "delete")
    total = count if counted else MAX_SAMPLES
    lat = array("Q")
    err = 0
    pc = time.perf_counter_ns
    start = pc()
    deadline, hard_stop = start + dur_ns, start + 20 * dur_ns
    for j in range(total):
        i = rng.next() % n
        if op == "get_miss":
            i = MISS_BASE + rng.next() % 1000000000
        elif counted:
            i = new_base + wi * count + j
        if k > 1:
            keys = [key((i + m * STRIDE) % n) for m in range(k)]
            tags = [((i + m * STRIDE) % n) % 10 for m in range(k)]
        else:
            kk = key(i)
        t0 = pc()
        if op == "put" or op == "put_new":
            ok = cache.set(kk, value, tag=i % 10)
        elif op == "get_hit":
            v = cache.get(kk)
            ok = v is not None and len(v) == vlen
        elif op == "get_miss":
            ok = cache.get(kk) is None
        elif op == "get_metadata":
            # no metadata-only read in DiskCache: the closest is a get returning the expiry
            # and the tag, with read=True (files are opened, not read)
            v, _exp, _tag = cache.get(kk, read=True, expire_time=True, tag=True)
            ok = v is not None
            if isinstance(v, io.IOBase):
                v.close()
        elif op == "touch":
            ok = cache.touch(kk, expire=3600)
        elif op == "delete":
            ok = cache.delete(kk)
        elif op.startswith("get_batch") or op == "get_x100":  # DiskCache has no batch read
            vs = [cache.get(x) for x in keys]
            ok = all(v is not None and len(v) == vlen for v in vs)
        elif op.startswith("put_batch"):
            with cache.transact():
                for x, g in zip(keys, tags):
                    cache.set(x, value, tag=g)
            ok = True
        else:
            ok = False
        t1 = pc()
        if not ok:
            err += 1
            if err <= 3:
                print(f"[diskcache] {op} failed (i={i})", file=sys.stderr)
            if err > 100:
                break
            continue
        lat.append(t1 - t0)
        # as driver.c: at least a few calls per cell, at most 20 durations
        if not counted and t1 >= deadline and (len(lat) >= (5 if k > 1 else 30) or t1 >= hard_stop):
            break
    return start, pc(), lat, err


def proc_worker(directory, cell, wi, barrier, queue):
    cache = open_cache(directory)
    barrier.wait()
    start, end, lat, err = run_loop(cache, cell, wi)
    queue.put((wi, start, end, lat.tobytes(), err))
    cache.close()


def emit(op, vlen, n, mode, workers, k, rnd, results):
    lat = array("Q")
    errs = 0
    for r in results:
        lat.extend(r[2])
        errs += r[3]
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    rec = {"lib": LIB, "op": op, "value_bytes": vlen, "n": n, "mode": mode, "workers": workers,
           "items": k, "round": rnd, "count": len(lat), "errors": errs}
    if lat:
        s = sorted(lat)
        wall = (end - start) / 1e9
        rec.update(median_ns=s[len(s) // 2], p99_ns=s[min(len(s) - 1, len(s) * 99 // 100)],
                   mean_ns=round(sum(s) / len(s), 1), ops_per_s=round(len(s) / wall, 1),
                   wall_s=round(wall, 4))
    rec["load1"] = load1()
    print(json.dumps(rec), flush=True)
    return errs


def emit_single(op, vlen, n, k, rnd, ns, done, partial=False):
    rec = {"lib": LIB, "op": op, "value_bytes": vlen, "n": n, "mode": "1t", "workers": 1,
           "items": k, "round": rnd, "count": 1, "errors": 0, "median_ns": ns, "p99_ns": ns,
           "mean_ns": ns, "ops_per_s": round(1e9 / ns, 3), "entries": done,
           "wall_s": round(ns / 1e9, 4), "load1": load1()}
    if partial:
        rec["partial"] = True  # stopped at the deadline: the whole call takes longer
    print(json.dumps(rec), flush=True)


def fill(cache, lo, hi, group, value):
    per = 1000 if len(value) <= 65536 else max(1, 64 * 1048576 // len(value))
    idx = [i for i in range(lo, hi) if group < 0 or i % 10 == group]
    for c in range(0, len(idx), per):
        with cache.transact():
            for i in idx[c:c + per]:
                cache.set(key(i), value, tag=i % 10)


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def rss_probe(directory, n, vlen, gets):
    before = status_kb("VmRSS")
    cache = open_cache(directory)
    after_open = status_kb("VmRSS")
    rng = Rng(12345, 0)
    hits = 0
    t0 = time.perf_counter_ns()
    for _ in range(gets):
        v = cache.get(key(rng.next() % n))
        hits += v is not None and len(v) == vlen
    ns = time.perf_counter_ns() - t0
    print(json.dumps({"lib": LIB, "op": "rss", "value_bytes": vlen, "n": n, "mode": "1t", "workers": 1,
                      "items": 1, "round": 0, "gets": gets, "hits": hits,
                      "get_mean_ns": round(ns / max(gets, 1), 1), "vmrss_start_kb": before,
                      "vmrss_open_kb": after_open, "vmrss_kb": status_kb("VmRSS"),
                      "vmhwm_kb": status_kb("VmHWM"), "load1": load1()}), flush=True)
    cache.close()
    return 0 if hits == gets else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="4096:1000,4096:100000,1048576:1000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dur", type=float, default=0.5)
    ap.add_argument("--new-count", type=int, default=2000)
    ap.add_argument("--modes", default="1t,4t,4p")
    ap.add_argument("--ops", default=None)
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rss-gets", type=int, default=100000)
    ap.add_argument("--list-cap", type=float, default=120.0, help="seconds before list_all stops")
    ap.add_argument("--rss-probe", nargs=4, metavar=("DIR", "N", "VALUE", "GETS"))
    a = ap.parse_args()
    if a.rss_probe:
        d, n, v, g = a.rss_probe
        return rss_probe(d, int(n), int(v), int(g))
    ops = set(a.ops.split(",")) if a.ops else None
    want = lambda name: ops is None or name in ops  # noqa: E731
    modes = a.modes.split(",")
    failures = 0
    spawn = mp.get_context("spawn")
    pool = ThreadPoolExecutor(max_workers=16)  # threads live as long as the run (DiskCache
    # keeps one SQLite connection per thread, like the C drivers' per-thread contexts)
    for ds in a.datasets.split(","):
        vlen, n = (int(x) for x in ds.split(":"))
        value = make_value(vlen)
        assert value[:3] == b"\x00\x01\x02" and len(value) == vlen and value[251] == 0
        directory = tempfile.mkdtemp(prefix=f"cacheness-bench-{LIB}-", dir=a.tmp)
        cache = open_cache(directory)
        print(f"[{LIB}] value {vlen} B, N {n}: filling {directory}", file=sys.stderr)
        t0 = time.perf_counter_ns()
        fill(cache, 0, n, -1, value)
        fill_ns = time.perf_counter_ns() - t0
        print(json.dumps({"lib": LIB, "op": "fill", "value_bytes": vlen, "n": n, "mode": "1t",
                          "workers": 1, "items": n, "round": 0, "wall_s": round(fill_ns / 1e9, 3),
                          "entries_per_s": round(n * 1e9 / fill_ns, 1), "load1": load1()}), flush=True)
        run_loop(cache, ("get_hit", vlen, value, n, 300_000_000, 0, 0, 99), 0)  # warm-up
        count = max(a.new_count // 10, 20) if vlen > 65536 else a.new_count
        for rnd in range(a.rounds):
            for mi, mode in enumerate(modes):
                nw = int(mode[:-1])
                procs = mode.endswith("p")
                for oi, op in enumerate(OPS):
                    if not want(op) or (nw != 1 and op not in CONCURRENT):
                        continue
                    k = items(op)
                    if k == 1000 and vlen > 65536:
                        continue
                    cell = (op, vlen, value, n, int(a.dur * 1e9), count,
                            NEW_BASE + (rnd * 16 + mi) * 100000000, a.seed + rnd * 1000 + mi * 100 + oi)
                    print(f"[{LIB}] {vlen} B N={n} round {rnd} {mode} {op}", file=sys.stderr)
                    if procs:
                        barrier = spawn.Barrier(nw)
                        queue = spawn.Queue()
                        ps = [spawn.Process(target=proc_worker, args=(directory, cell, w, barrier, queue))
                              for w in range(nw)]
                        for p in ps:
                            p.start()
                        results = []
                        for _ in ps:
                            wi, s, e, raw, err = queue.get()
                            lat = array("Q")
                            lat.frombytes(raw)
                            results.append((s, e, lat, err))
                        for p in ps:
                            p.join()
                            failures += p.exitcode != 0
                    elif nw == 1:
                        results = [run_loop(cache, cell, 0)]
                    else:
                        barrier = threading.Barrier(nw)

                        def task(w, cell=cell, barrier=barrier):
                            barrier.wait()
                            return run_loop(cache, cell, w)
                        results = [f.result() for f in [pool.submit(task, w) for w in range(nw)]]
                    failures += emit(op, vlen, n, mode, nw, k, rnd, results) != 0
        if vlen <= 65536 and want("rss"):
            import subprocess
            rc = subprocess.call([sys.executable, os.path.abspath(__file__), "--rss-probe", directory,
                                  str(n), str(vlen), str(a.rss_gets)])
            failures += rc != 0
        big = n >= 1000000
        for rnd in range(1 if big else a.rounds):
            if not want("list_all"):
                break
            print(f"[{LIB}] {vlen} B N={n} list_all round {rnd}", file=sys.stderr)
            # iterkeys pages with `WHERE key = ? AND raw > ? OR key > ?`, which gets slow
            # faster than linearly (100k keys: ~2.5 s; 1M: over 10 min), so stop at a deadline
            # and report the listing as partial
            t0 = time.perf_counter_ns()
            deadline = t0 + int(a.list_cap * 1e9)
            got, stopped = 0, False
            for _ in cache.iterkeys():
                got += 1
                if got % 1000 == 0 and got < n and time.perf_counter_ns() > deadline:
                    stopped = True
                    break
            ns = time.perf_counter_ns() - t0
            if got != n and not stopped:
                print(f"[{LIB}] list_all: {got}, expected {n}", file=sys.stderr)
                failures += 1
            emit_single("list_all", vlen, n, got, rnd, ns, got, partial=stopped)
            if stopped:
                print(f"[{LIB}] list_all stopped after {ns / 1e9:.0f} s: {got} of {n} keys", file=sys.stderr)
                break
        for rnd in range(1 if big else a.rounds):
            if not want("delete_where"):
                break
            print(f"[{LIB}] {vlen} B N={n} delete_where round {rnd}", file=sys.stderr)
            t0 = time.perf_counter_ns()
            got = cache.evict(3)
            ns = time.perf_counter_ns() - t0
            if got != n // 10:
                print(f"[{LIB}] delete_where: {got}, expected {n // 10}", file=sys.stderr)
                failures += 1
            emit_single("delete_where", vlen, n, n // 10, rnd, ns, got)
            if rnd + 1 < (1 if big else a.rounds):
                fill(cache, 0, n, 3, value)
        cache.close()
        shutil.rmtree(directory, ignore_errors=True)
    pool.shutdown()
    if failures:
        print(f"[{LIB}] {failures} failures", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
