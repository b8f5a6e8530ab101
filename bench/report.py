"""Merges what the benchmark programs printed (bench/results/raw/) into
bench/results/latest.json, latest.md and latency_vs_n.png.

    bench/venv/bin/python bench/report.py [--raw bench/results/raw] [--out bench/results]
                                          [--readme README.md]

Inputs in --raw: *.jsonl (one JSON object per measured cell and round, from bench/c/build/bench,
bench/c/build/sqlite_floor and bench/py/diskcache_bench.py), machine.json (written by
scripts/bench.sh), criterion.txt, go.txt and node.txt (the text those benches print).
Each cell is summarised by the median over its rounds of the round's median, p99, mean and
ops/s. With --readme, the text between the `<!-- bench:start -->` and `<!-- bench:end -->`
markers of that file is replaced by the compact table.
"""

import argparse
import glob
import json
import os
import re
import statistics
import sys

LIBS = ["cacheness", "diskcache", "sqlite"]
LIB_TITLE = {"cacheness": "cacheness (C ABI)", "diskcache": "DiskCache (Python)", "sqlite": "raw SQLite (C)"}
OPS = ["put", "get_hit", "get_hit_key", "get_miss", "get_metadata", "touch", "put_new", "delete",
       "get_batch_100", "get_x100", "get_batch_1000", "put_batch_100", "put_batch_1000", "list_all", "delete_where"]
OP_TITLE = {
    "put": "put (replace an existing entry)",
    "get_hit": "get, hit (params selector)",
    "get_hit_key": "get, hit (64-hex key selector; DiskCache and SQLite: their get hit)",
    "get_miss": "get, miss",
    "get_metadata": "get_metadata",
    "touch": "touch (ttl 3600 s)",
    "put_new": "put, new entry (insert)",
    "delete": "delete (of the entries put_new inserted)",
    "get_batch_100": "get_batch of 100 (time per batch)",
    "get_x100": "100 gets of the same entries as a get_batch of 100 (time for the 100)",
    "get_batch_1000": "get_batch of 1000 (time per batch)",
    "put_batch_100": "put_batch of 100 (time per batch)",
    "put_batch_1000": "put_batch of 1000 (time per batch)",
    "list_all": "list all entries (time for the whole listing)",
    "delete_where": "delete_where removing 10% of N (time per call)",
}
MODE_TITLE = {"1t": "1 thread", "4t": "4 threads", "4p": "4 processes"}


def fmt_ns(ns):
    if ns is None:
        return "–"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.3g} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.3g} ms"
    return f"{ns / 1e9:.3g} s"


def fmt_rate(r):
    if r is None:
        return "–"
    if r >= 1e6:
        return f"{r / 1e6:.3g}M"
    if r >= 1e3:
        return f"{r / 1e3:.3g}k"
    return f"{r:.3g}"


def fmt_n(n):
    return f"{n // 1000000}M" if n >= 1000000 and n % 1000000 == 0 else (
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))


def fmt_size(b):
    return f"{b // 1048576} MiB" if b >= 1048576 else f"{b // 1024} KiB"


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}x"


def load_records(raw):
    recs = []
    for path in sorted(glob.glob(os.path.join(raw, "*.jsonl"))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        recs.append(json.loads(line))
                    except json.JSONDecodeError:
                        print(f"report: bad line in {path}: {line[:80]}", file=sys.stderr)
    return recs


def summarise(recs):
    cells = {}
    for r in recs:
        if r.get("op") in ("fill", "rss") or not r.get("count"):
            continue
        k = (r["lib"], r["op"], r["value_bytes"], r["n"], r["mode"])
        cells.setdefault(k, []).append(r)
    out = {}
    for k, rs in cells.items():
        med = lambda f: statistics.median(x[f] for x in rs if f in x)  # noqa: E731
        out[k] = {"lib": k[0], "op": k[1], "value_bytes": k[2], "n": k[3], "mode": k[4],
                  "workers": rs[0]["workers"], "items": rs[0]["items"], "rounds": len(rs),
                  "count": sum(x["count"] for x in rs), "errors": sum(x.get("errors", 0) for x in rs),
                  "median_ns": med("median_ns"), "p99_ns": med("p99_ns"), "mean_ns": med("mean_ns"),
                  "ops_per_s": med("ops_per_s"), "load1_max": max(x.get("load1", -1) for x in rs),
                  "partial": any(x.get("partial") for x in rs),
                  "entries": min((x["entries"] for x in rs if "entries" in x), default=None)}
    return out


def parse_criterion(path):
    out = []
    if not os.path.exists(path):
        return out
    unit = {"ps": 1e-3, "ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
    name = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.split("\r")[-1].rstrip("\n")
            m = re.match(r"^(\S+/\S+)\s*(time:.*)?$", line)
            if m and not line.startswith("Benchmarking"):
                name = m.group(1)
                line = m.group(2) or ""
            m = re.search(r"time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]", line)
            if m and name:
                out.append({"name": name, "low_ns": float(m.group(1)) * unit[m.group(2)],
                            "estimate_ns": float(m.group(3)) * unit[m.group(4)],
                            "high_ns": float(m.group(5)) * unit[m.group(6)]})
                name = None
    return out


def parse_go(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            m = re.match(r"^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+([\d.]+) ns/op", line)
            if m:
                out.append({"name": m.group(1), "iterations": int(m.group(3)), "ns_per_op": float(m.group(4))})
    return out


def parse_node(path):
    out = {}
    if not os.path.exists(path):
        return out
    num = lambda s: float(s.replace(",", ""))  # noqa: E731
    with open(path) as f:
        for line in f:
            m = re.match(r"^sync get \((key|params) selector\):\s+([\d,.]+) ns/op", line)
            if m:
                out[f"sync_get_{m.group(1)}_ns"] = num(m.group(2))
            m = re.match(r"^async get,\s+(\d+) in flight:\s+([\d,.]+) ops/s", line)
            if m:
                out[f"async_get_{m.group(1)}_in_flight_ops_per_s"] = num(m.group(2))
            m = re.search(r"UV_THREADPOOL_SIZE=(\d+)", line)
            if m:
                out["uv_threadpool_size"] = int(m.group(1))
    return out


class Report:
    def __init__(self, raw):
        self.recs = load_records(raw)
        self.cells = summarise(self.recs)
        mpath = os.path.join(raw, "machine.json")
        self.machine = json.load(open(mpath)) if os.path.exists(mpath) else {}
        self.criterion = parse_criterion(os.path.join(raw, "criterion.txt"))
        self.go = parse_go(os.path.join(raw, "go.txt"))
        self.node = parse_node(os.path.join(raw, "node.txt"))
        self.rss = [r for r in self.recs if r.get("op") == "rss"]
        self.fill = [r for r in self.recs if r.get("op") == "fill"]
        self.ns = sorted({k[3] for k in self.cells})
        self.sizes = sorted({k[2] for k in self.cells})

    def cell(self, lib, op, vb, n, mode="1t"):
        return self.cells.get((lib, op, vb, n, mode))

    def med(self, lib, op, vb, n, mode="1t", field="median_ns"):
        c = self.cell(lib, op, vb, n, mode)
        return c[field] if c else None

    def n_small(self):
        return self.ns[0] if self.ns else None

    def n_big(self):
        ns4 = sorted({k[3] for k in self.cells if k[2] == 4096})
        return ns4[-1] if ns4 else None

    # ---- targets and figures -----------------------------------------------------------
    def targets(self):
        t = []
        nb, n1 = self.n_big(), 1000
        for n in sorted({k[3] for k in self.cells if k[2] == 4096}):
            cn, sq = self.med("cacheness", "get_hit", 4096, n), self.med("sqlite", "get_hit", 4096, n)
            cnk = self.med("cacheness", "get_hit_key", 4096, n)
            if cn and sq:
                t.append({"target": f"get hit within 1.5x of raw SQLite's point select (4 KiB, N={fmt_n(n)}, 1 thread)",
                          "value": cn / sq, "limit": 1.5, "met": cn / sq <= 1.5,
                          "detail": f"cacheness {fmt_ns(cn)} (key selector {fmt_ns(cnk)}: {cnk / sq:.2f}x) vs SQLite {fmt_ns(sq)}"
                          if cnk else f"cacheness {fmt_ns(cn)} vs SQLite {fmt_ns(sq)}"})
        for vb in self.sizes:
            for n in sorted({k[3] for k in self.cells if k[2] == vb}):
                cn, dc = self.med("cacheness", "put", vb, n), self.med("diskcache", "put", vb, n)
                if cn and dc:
                    t.append({"target": f"put at least 3x faster than DiskCache's set ({fmt_size(vb)}, N={fmt_n(n)}, 1 thread)",
                              "value": dc / cn, "limit": 3.0, "met": dc / cn >= 3.0,
                              "detail": f"cacheness {fmt_ns(cn)} vs DiskCache {fmt_ns(dc)}"})
        g1, gb = self.med("cacheness", "get_hit", 4096, n1), self.med("cacheness", "get_hit", 4096, nb)
        if g1 and gb and nb != n1:
            m1 = self.med("cacheness", "get_hit", 4096, n1, field="mean_ns")
            mb = self.med("cacheness", "get_hit", 4096, nb, field="mean_ns")
            o1 = self.med("cacheness", "get_hit", 4096, n1, field="ops_per_s")
            ob = self.med("cacheness", "get_hit", 4096, nb, field="ops_per_s")
            t.append({"target": f"get at N={fmt_n(nb)} within 1.5x of get at N=1k (4 KiB, 1 thread, medians)"
                                + ("" if nb >= 1000000 else " (quick run: 1M not measured)"),
                      "value": gb / g1, "limit": 1.5, "met": gb / g1 <= 1.5,
                      "detail": f"median {fmt_ns(gb)} at {fmt_n(nb)} vs {fmt_ns(g1)} at 1k; mean {fmt_ns(mb)} vs {fmt_ns(m1)} "
                                f"({mb / m1:.2f}x); throughput {fmt_rate(ob)} vs {fmt_rate(o1)} gets/s"})
        rs = [r for r in self.rss if r["lib"] == "cacheness" and r["n"] == nb]
        if rs:
            r = rs[0]
            mb = r["vmhwm_kb"] / 1024
            t.append({"target": f"RSS with {fmt_n(nb)} entries open under 50 MB (C bench process, VmHWM after open + {r['gets']:,} gets)"
                                + ("" if nb >= 1000000 else " (quick run: 1M not measured)"),
                      "value": mb, "limit": 50, "met": mb < 50,
                      "detail": f"VmHWM {mb:.1f} MiB, VmRSS {r['vmrss_kb'] / 1024:.1f} MiB (after open {r['vmrss_open_kb'] / 1024:.1f} MiB, at start {r['vmrss_start_kb'] / 1024:.1f} MiB)"})
        return t

    def figures(self):
        f = []
        go = {g["name"]: g["ns_per_op"] for g in self.go}
        c_get = self.med("cacheness", "get_hit", 4096, 1000, field="mean_ns")
        c_key = self.med("cacheness", "get_hit_key", 4096, 1000, field="mean_ns")
        if "BenchmarkGet4K" in go and c_get:
            r = go["BenchmarkGet4K"] / c_get
            f.append({"figure": "Go Get within 1.3x of the C API's get", "value": r, "limit": 1.3, "met": r <= 1.3,
                      "detail": f"Go BenchmarkGet4K {fmt_ns(go['BenchmarkGet4K'])}/op (params map, 100 entries) vs C get "
                                f"(params JSON, N=1k) mean {fmt_ns(c_get)}"})
        if "sync_get_key_ns" in self.node and c_key:
            r = self.node["sync_get_key_ns"] / c_key
            f.append({"figure": "Node sync get within 1.5x of the C API's get", "value": r, "limit": 1.5, "met": r <= 1.5,
                      "detail": f"Node getSync(key) {fmt_ns(self.node['sync_get_key_ns'])}/op vs C get(key) mean {fmt_ns(c_key)} (N=1k)"})
        a = [k for k in self.node if k.startswith("async_get_") and not k.startswith("async_get_1_")]
        if a:
            k = a[0]
            inflight = k.split("_")[2]
            c4 = self.med("cacheness", "get_hit_key", 4096, 1000, "4t", "ops_per_s")
            f.append({"figure": f"async Node get throughput, {self.node.get('uv_threadpool_size', 4)} threads ({inflight} in flight)",
                      "value": self.node[k], "unit": "ops/s",
                      "detail": f"{fmt_rate(self.node[k])} ops/s; C, 4 threads, key selector: {fmt_rate(c4)} ops/s;"
                                f" Node 1 in flight: {fmt_rate(self.node.get('async_get_1_in_flight_ops_per_s'))} ops/s"})
        for n in sorted({k[3] for k in self.cells if k[2] == 4096}):
            b = self.med("cacheness", "get_batch_100", 4096, n)
            g = self.med("cacheness", "get_x100", 4096, n)
            if b and g:
                sb, sg = self.med("sqlite", "get_batch_100", 4096, n), self.med("sqlite", "get_x100", 4096, n)
                f.append({"figure": f"get_batch of 100 vs 100 gets of the same entries, per entry (4 KiB, N={fmt_n(n)})",
                          "value": b / g,
                          "detail": f"batch {fmt_ns(b / 100)}/entry vs gets {fmt_ns(g / 100)}/entry: the batch takes "
                                    f"{b / g:.2f}x the time of the gets (raw SQLite, one read transaction vs 100: "
                                    f"{fmt_ns(sb / 100) if sb else '–'} vs {fmt_ns(sg / 100) if sg else '–'})"})
        crit = {c["name"]: c["estimate_ns"] for c in self.criterion}
        if "batch_4KiB/get_batch_100" in crit and "batch_4KiB/get_x100" in crit:
            b, g = crit["batch_4KiB/get_batch_100"], crit["batch_4KiB/get_x100"]
            f.append({"figure": f"get_batch of 100 vs 100 gets, Rust core (criterion, N={self.machine.get('criterion_n', 10000)})",
                      "value": b / g, "detail": f"batch {fmt_ns(b / 100)}/entry vs gets {fmt_ns(g / 100)}/entry ({b / g:.2f}x)"})
        for n in sorted({k[3] for k in self.cells if k[2] == 4096}):
            b = self.med("cacheness", "put_batch_1000", 4096, n)
            if b:
                d = self.med("diskcache", "put_batch_1000", 4096, n)
                s = self.med("sqlite", "put_batch_1000", 4096, n)
                f.append({"figure": f"put_batch of 1000, entries/s (4 KiB, N={fmt_n(n)})", "value": 1000 * 1e9 / b, "unit": "entries/s",
                          "detail": f"{fmt_rate(1000 * 1e9 / b)} entries/s; DiskCache (set x1000 in transact) "
                                    f"{fmt_rate(1000 * 1e9 / d) if d else '–'}/s; raw SQLite {fmt_rate(1000 * 1e9 / s) if s else '–'}/s"})
        nb = self.n_big()
        if nb:
            b = self.med("cacheness", "delete_where", 4096, nb)
            if b:
                d = self.med("diskcache", "delete_where", 4096, nb)
                s = self.med("sqlite", "delete_where", 4096, nb)
                f.append({"figure": f"delete_where removing {fmt_n(nb // 10)} of {fmt_n(nb)} entries (4 KiB)", "value": b, "unit": "ns",
                          "detail": f"{fmt_ns(b)} ({fmt_rate(nb / 10 * 1e9 / b)} entries/s); DiskCache evict(tag) {fmt_ns(d)}; raw SQLite {fmt_ns(s)}"})
        return f

    # ---- output ---------------------------------------------------------------------------
    def summary_rows(self):
        """(label, cacheness, diskcache, sqlite) median ns for the compact table."""
        rows = []
        nb = self.n_big()
        if not nb:
            return rows

        def row(label, op, vb, n, mode="1t", div=1):
            v = [self.med(lib, op, vb, n, mode) for lib in LIBS]
            for j, lib in enumerate(LIBS):
                c = self.cell(lib, op, vb, n, mode)
                if c and c.get("partial"):
                    label += f" ({LIB_TITLE[lib].split(' ')[0]}: stopped at the time limit, > the figure)"
            if v[0] is not None:
                rows.append((label, *[x / div if x is not None else None for x in v]))

        N = fmt_n(nb)
        row(f"get hit, 4 KiB, N={N}", "get_hit", 4096, nb)
        row(f"get hit, 4 KiB, N={N}: mean (includes access-bookkeeping flushes)", "get_hit", 4096, nb)
        if rows and rows[-1][0].endswith("flushes)"):
            rows[-1] = (rows[-1][0], *[self.med(lib, "get_hit", 4096, nb, field="mean_ns") for lib in LIBS])
        row("get hit, 4 KiB, N=1k", "get_hit", 4096, 1000)
        row(f"get miss, 4 KiB, N={N}", "get_miss", 4096, nb)
        row(f"put, 4 KiB, N={N}", "put", 4096, nb)
        row(f"get_metadata, N={N}", "get_metadata", 4096, nb)
        row(f"touch, N={N}", "touch", 4096, nb)
        row(f"delete, N={N}", "delete", 4096, nb)
        row(f"get_batch 100, per entry, N={N}", "get_batch_100", 4096, nb, div=100)
        row(f"100 gets of the same entries, per entry, N={N}", "get_x100", 4096, nb, div=100)
        row(f"put_batch 1000, per entry, N={N}", "put_batch_1000", 4096, nb, div=1000)
        row(f"delete_where 10% of {N} (whole call)", "delete_where", 4096, nb)
        row(f"list all {N} (whole listing)", "list_all", 4096, nb)
        row("get hit, 1 MiB, N=1k", "get_hit", 1048576, 1000)
        row("put, 1 MiB, N=1k", "put", 1048576, 1000)
        return rows

    def compact_table(self):
        lines = ["| workload (median latency, 1 thread) | cacheness | DiskCache | raw SQLite | DiskCache ÷ cacheness | cacheness ÷ SQLite |",
                 "|---|---:|---:|---:|---:|---:|"]
        for label, cn, dc, sq in self.summary_rows():
            lines.append(f"| {label} | {fmt_ns(cn)} | {fmt_ns(dc)} | {fmt_ns(sq)} | "
                         f"{fmt_ratio(dc / cn if dc and cn else None)} | {fmt_ratio(cn / sq if sq and cn else None)} |")
        nb = self.n_big()
        for mode in ("4t", "4p"):
            v = [self.med(lib, "get_hit", 4096, nb, mode, "ops_per_s") for lib in LIBS]
            if v[0]:
                lines.append(f"| get hit, 4 KiB, N={fmt_n(nb)}, {MODE_TITLE[mode]}: ops/s | {fmt_rate(v[0])} | {fmt_rate(v[1])} | "
                             f"{fmt_rate(v[2])} | {fmt_ratio(v[0] / v[1] if v[1] else None)} | {fmt_ratio(v[2] / v[0] if v[2] else None)} |")
        return "\n".join(lines)

    def machine_line(self):
        m = self.machine
        return (f"{m.get('cores', '?')} cores, {m.get('cpu', '?')}, {m.get('ram_gib', '?')} GiB RAM, "
                f"{m.get('os', '')}; SQLite {m.get('sqlite_system', '?')} (floor, system) / "
                f"{m.get('sqlite_bundled', '?')} (bundled in cacheness); Python {m.get('python', '?')}, "
                f"DiskCache {m.get('diskcache', '?')}")

    def load_line(self):
        m = self.machine
        loads = [r.get("load1", -1) for r in self.recs if r.get("load1", -1) >= 0]
        s = f"load average at start {m.get('load_start', '?')}"
        if m.get("load_end"):
            s += f", at end {m['load_end']}"
        if loads:
            s += f"; 1-min load during the comparison cells: median {statistics.median(loads):.2f}, max {max(loads):.2f}"
        return s

    def markdown(self, targets, figures):
        m = self.machine
        L = []
        L.append("# cacheness benchmarks: latest run\n")
        L.append(f"- date: {m.get('date', '?')}; commit {m.get('commit', '?')}{' (working tree had changes)' if m.get('dirty') else ''}")
        L.append(f"- command: `{m.get('command', 'make bench')}`; wall time {m.get('wall_s', '?')} s"
                 + (f" (comparison programs {m['compare_wall_s']} s)" if m.get("compare_wall_s") else ""))
        L.append(f"- machine: {self.machine_line()}")
        L.append(f"- load: {self.load_line()} (2 cores shared with other work: figures move by up to 2x)")
        if m.get("note"):
            L.append(f"- note: {m['note']}")
        L.append(f"- settings: data sets {m.get('datasets', '?')}; {m.get('rounds', '?')} round(s) per cell, "
                 f"{m.get('dur', '?')} s per time-based cell, put_new/delete {m.get('new_count', '?')} entries per worker "
                 f"(a tenth of that for 1 MiB); each figure is the median over rounds of the round's median / p99 / ops/s\n")
        L.append("## Targets\n")
        L.append("| target | measured | limit | met |\n|---|---:|---:|:---:|")
        for t in targets:
            unit = " MiB" if "RSS" in t["target"] else "x"
            L.append(f"| {t['target']} — {t['detail']} | {t['value']:.2f}{unit} | {t['limit']}{unit} | {'yes' if t['met'] else '**no**'} |")
        L.append("\n## Figures asked for by the other issues\n")
        L.append("| figure | value | limit | met |\n|---|---|---:|:---:|")
        for f in figures:
            if "limit" in f:
                L.append(f"| {f['figure']} — {f['detail']} | {f['value']:.2f}x | {f['limit']}x | {'yes' if f['met'] else '**no**'} |")
            else:
                L.append(f"| {f['figure']} | {f['detail']} | | |")
        L.append("\n## Summary\n")
        L.append(self.compact_table())
        L.append("\nDiskCache ÷ cacheness > 1: cacheness is faster. cacheness ÷ SQLite: the cost over the floor (1 = at the floor).\n")
        L.append("## All workloads\n")
        L.append("Median and p99 latency of one call, and calls per second (all workers together), "
                 "cacheness through its C ABI, DiskCache from Python, raw SQLite from C. Ratios are of medians.\n")
        for op in OPS:
            rows = sorted({(k[2], k[3], k[4]) for k in self.cells if k[1] == op},
                          key=lambda x: (x[0], x[1], ["1t", "4t", "4p"].index(x[2]) if x[2] in ("1t", "4t", "4p") else 9))
            if not rows:
                continue
            L.append(f"### {OP_TITLE.get(op, op)}\n")
            L.append("| value | N | mode | cacheness median | p99 | ops/s | DiskCache median | p99 | ops/s | "
                     "SQLite median | p99 | ops/s | DiskCache ÷ cacheness | cacheness ÷ SQLite |")
            L.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for vb, n, mode in rows:
                other_op = "get_hit" if op == "get_hit_key" else op
                cs = [self.cell("cacheness", op, vb, n, mode), self.cell("diskcache", other_op, vb, n, mode),
                      self.cell("sqlite", other_op, vb, n, mode)]
                parts = []
                for c in cs:
                    if c and c.get("partial"):
                        parts += [f"> {fmt_ns(c['median_ns'])} (stopped after {c['entries']:,} entries)", "–", "–"]
                        continue
                    parts += [fmt_ns(c["median_ns"]), fmt_ns(c["p99_ns"]), fmt_rate(c["ops_per_s"])] if c else ["–"] * 3
                cn = cs[0]["median_ns"] if cs[0] else None
                dc = cs[1]["median_ns"] if cs[1] else None
                sq = cs[2]["median_ns"] if cs[2] else None
                L.append(f"| {fmt_size(vb)} | {fmt_n(n)} | {MODE_TITLE.get(mode, mode)} | " + " | ".join(parts)
                         + f" | {fmt_ratio(dc / cn if dc and cn else None)} | {fmt_ratio(cn / sq if sq and cn else None)} |")
            L.append("")
        if self.rss:
            L.append("## Memory (a fresh process opens the cache and does random gets)\n")
            L.append("| library | value | N | gets | VmRSS at start | after open | after gets | VmHWM |\n|---|---|---:|---:|---:|---:|---:|---:|")
            for r in sorted(self.rss, key=lambda r: (r["n"], LIBS.index(r["lib"]) if r["lib"] in LIBS else 9)):
                L.append(f"| {r['lib']} | {fmt_size(r['value_bytes'])} | {fmt_n(r['n'])} | {r['gets']:,} | "
                         f"{r['vmrss_start_kb'] / 1024:.1f} MiB | {r['vmrss_open_kb'] / 1024:.1f} MiB | "
                         f"{r['vmrss_kb'] / 1024:.1f} MiB | {r['vmhwm_kb'] / 1024:.1f} MiB |")
            L.append("")
        if self.fill:
            L.append("## Filling the data sets (untimed set-up; batches of 1000, or 64 MiB for 1 MiB values)\n")
            L.append("| library | value | N | wall | entries/s |\n|---|---|---:|---:|---:|")
            for r in sorted(self.fill, key=lambda r: (r["value_bytes"], r["n"], LIBS.index(r["lib"]) if r["lib"] in LIBS else 9)):
                L.append(f"| {r['lib']} | {fmt_size(r['value_bytes'])} | {fmt_n(r['n'])} | {r['wall_s']:.2f} s | {fmt_rate(r['entries_per_s'])} |")
            L.append("")
        if self.criterion:
            L.append(f"## Rust core (criterion, `cargo bench --bench core`, N = {m.get('criterion_n', 10000)})\n")
            L.append("| bench | low | estimate | high |\n|---|---:|---:|---:|")
            for c in self.criterion:
                L.append(f"| {c['name']} | {fmt_ns(c['low_ns'])} | {fmt_ns(c['estimate_ns'])} | {fmt_ns(c['high_ns'])} |")
            L.append("")
        if self.go:
            L.append("## Go binding (`make -C bindings/go bench`)\n")
            L.append("| bench | ns/op |\n|---|---:|")
            for g in self.go:
                L.append(f"| {g['name']} | {fmt_ns(g['ns_per_op'])} |")
            L.append("")
        if self.node:
            L.append("## Node binding (`make -C bindings/node bench`, 1000 keys of 4 KiB)\n")
            L.append("| figure | value |\n|---|---:|")
            for k, v in self.node.items():
                L.append(f"| {k} | {fmt_ns(v) if k.endswith('_ns') else (fmt_rate(v) if 'ops' in k else v)} |")
            L.append("")
        L.append("## How it is measured\n")
        L.append("""- Programs: `bench/c/bench.c` (cacheness C ABI, default backends: SQLite + files, no options),
  `bench/c/sqlite_floor.c` (raw SQLite, system library, prepared statements, same pragmas as cacheness:
  WAL, synchronous=NORMAL, 8 MiB page cache; key = the params JSON text; value in the row; no access
  bookkeeping), `bench/py/diskcache_bench.py` (DiskCache defaults but size_limit raised and
  tag_index on). The C programs share `bench/c/driver.c`; the Python one mirrors it.
- Entry i: params `{"bench":"kv","g":i%10,"i":i}`; value byte j = j % 251; random entries
  (xorshift). cacheness gets the params JSON (it canonicalises and hashes it on every call);
  DiskCache gets the same text as its key, built before the timer starts.
- Time-based cells run for the set duration; put_new / delete insert and then delete a fixed
  number of new entries, so N stays the same. 4 threads share one handle (cacheness) or use
  one connection each (SQLite, DiskCache); 4 processes are started by fork + exec (C) or
  multiprocessing spawn (Python), each opening the directory itself, and start together.
- get_batch on DiskCache: a loop of get (it has no batch read); on SQLite: point selects in
  one read transaction. put_batch: DiskCache sets inside `transact()`, SQLite inserts in one
  transaction. delete_where: cacheness `{"params":{"g":3}}`, DiskCache `evict(tag=3)`,
  SQLite `DELETE ... WHERE json_extract(key,'$.g') = 3`. list all: cacheness pages of 1000
  (metadata JSON), DiskCache `iterkeys()` (keys only), SQLite one select of the metadata
  columns. get_metadata on DiskCache: `get(read=True, expire_time=True, tag=True)`.
- Values of 1 MiB use N = 1k only (N = 100k would be 100 GB per library); batches of 1000
  are skipped for them.
""")
        return "\n".join(L) + "\n"

    def chart(self, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
        colors = {"cacheness": "#1f77b4", "diskcache": "#ff7f0e", "sqlite": "#2ca02c"}
        for ax, op, title in ((axes[0], "get_hit", "get, hit"), (axes[1], "put", "put (replace)")):
            for lib in LIBS:
                pts = sorted((k[3], c) for k, c in self.cells.items()
                             if k[0] == lib and k[1] == op and k[2] == 4096 and k[4] == "1t")
                if not pts:
                    continue
                xs = [p[0] for p in pts]
                ax.plot(xs, [p[1]["median_ns"] / 1e3 for p in pts], "o-", color=colors[lib], label=f"{LIB_TITLE[lib]} median")
                ax.plot(xs, [p[1]["p99_ns"] / 1e3 for p in pts], "x:", color=colors[lib], alpha=0.6, label=f"{LIB_TITLE[lib]} p99")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("entries in the cache (N)")
            ax.set_ylabel("latency per call (µs)")
            ax.set_title(f"{title}, 4 KiB values, 1 thread")
            ax.grid(True, which="both", alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
        m = self.machine
        fig.suptitle(f"cacheness vs DiskCache vs raw SQLite — {m.get('cores', '?')} cores, {m.get('date', '')}", fontsize=10)
        fig.tight_layout(rect=(0, 0.12, 1, 0.95))
        fig.savefig(path, dpi=110)
        plt.close(fig)


def update_readme(path, rep):
    m = rep.machine
    block = "\n".join([
        "<!-- bench:start (written by bench/report.py --readme; edit there) -->",
        f"Machine: {m.get('cores', '?')} cores ({m.get('cpu', '?')}), {m.get('ram_gib', '?')} GiB RAM; "
        f"{m.get('date', '?')}; `{m.get('command', 'make bench')}` ({m.get('wall_s', '?')} s); "
        f"{rep.load_line()}. Median latency of one call from C (cacheness C ABI, raw SQLite) or "
        "Python (DiskCache), same keys and 4 KiB / 1 MiB values. All workloads, p99, ops/s, threads "
        "and processes, targets and the binding figures: [bench/results/latest.md](bench/results/latest.md) "
        "(chart: [latency_vs_n.png](bench/results/latency_vs_n.png)). `make bench` runs all of it "
        "(scripts/bench.sh: criterion, then the C ABI / DiskCache / raw SQLite comparison, then the Go and Node "
        "benches; ~30 min); `BENCH_QUICK=1 make bench` uses N = 1k and 100k and finishes in under 5 minutes "
        "once built; `BENCH_README=1` rewrites this table.",
        "",
        rep.compact_table(),
        "<!-- bench:end -->",
    ])
    text = open(path).read()
    if "<!-- bench:start" in text:
        text = re.sub(r"<!-- bench:start.*?<!-- bench:end -->", lambda _: block, text, flags=re.S)
    elif "\nBENCH_TABLE\n" in text:
        text = text.replace("\nBENCH_TABLE\n", "\n" + block + "\n", 1)
    else:
        print("report: no BENCH_TABLE line or bench markers in the README; not changed", file=sys.stderr)
        return
    open(path, "w").write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", default="bench/results/raw")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--readme", default=None)
    a = ap.parse_args()
    rep = Report(a.raw)
    if not rep.cells and not (rep.criterion or rep.go or rep.node):
        print("report: no results", file=sys.stderr)
        return 1
    targets, figures = rep.targets(), rep.figures()
    os.makedirs(a.out, exist_ok=True)
    doc = {"machine": rep.machine, "targets": targets, "figures": figures,
           "summary": [dict(zip(["workload"] + LIBS, r)) for r in rep.summary_rows()],
           "cells": sorted(rep.cells.values(), key=lambda c: (OPS.index(c["op"]) if c["op"] in OPS else 99,
                                                               c["value_bytes"], c["n"], c["mode"], c["lib"])),
           "rss": rep.rss, "fill": rep.fill, "criterion": rep.criterion, "go": rep.go, "node": rep.node}
    with open(os.path.join(a.out, "latest.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write(rep.markdown(targets, figures))
    if rep.cells:
        rep.chart(os.path.join(a.out, "latency_vs_n.png"))
    if a.readme:
        update_readme(a.readme, rep)
    for t in targets + figures:
        name = t.get("target") or t.get("figure")
        ok = "" if "met" not in t else (" [met]" if t["met"] else " [NOT met]")
        print(f"  {name}: {t['detail'] if 'detail' in t else t['value']}{ok}")
    errs = sum(c["errors"] for c in rep.cells.values())
    if errs:
        print(f"report: {errs} failed calls in the cells", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
