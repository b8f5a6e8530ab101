#!/usr/bin/env python3
"""One cache directory, three runtimes, many processes (issue 10).

Starts C, Go and Node stress workers (at least 2 of each) on one fresh cache directory for a
bounded time; with --kill it SIGKILLs random workers at random moments and restarts them. Then
it opens the cache with the CLI (and the C example) and checks:

  - every worker that was not killed ran to its end and exited 0;
  - no worker (killed or not) reported a failed check (torn/foreign value, lost private write,
    stale expected_version accepted, unexpected error...);
  - deep verify finds no corrupt entry (only orphaned_file leftovers, and only after kills);
  - repair succeeds and verify is then ok;
  - stats entries equals the number of entries listed;
  - every entry listed holds a whole, self-consistent value (header, CRC-32, size, sha256);
  - the C example works on the stressed directory and verify stays ok.

It prints a summary (processes, operations, kills, duration) and ends with the line
"N passed, 0 failed", or exits non-zero. Python standard library only; it builds nothing
(`make -C stress build` does). Workers run in their own process groups, die with this
process (PR_SET_PDEATHSIG), and are killed on any exit, including Ctrl-C.
"""

import argparse
import ctypes
import hashlib
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "target", "release", "cacheness")
EXAMPLE = os.path.join(ROOT, "bindings", "c", "build", "example")
WORKERS = {
    "c": [os.path.join(ROOT, "bindings", "c", "build", "stress_worker")],
    "go": [os.path.join(ROOT, "stress", "build", "stressworker-go")],
    "node": ["node", os.path.join(ROOT, "bindings", "node", "stress", "worker.js")],
}
HEADER = struct.Struct("<8sIIQQIIII")  # magic, writer, incarnation, seq, length, crc, rt, 0, hcrc
MAGIC = b"CNSTRESS"
FINISH_GRACE = 75  # seconds a worker may run past its end (an op may wait 30 s for a lock)


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


_libc = None


def _die_with_parent(parent):
    """preexec_fn: SIGKILL this child when the orchestrator dies; own process group."""
    try:
        if _libc is not None:
            _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; the process group kill still applies
        pass
    if os.getppid() != parent:
        os._exit(1)


class Incarnation:
    """One process of one worker slot."""

    def __init__(self, slot, n, seed, seconds, cache_dir, log_dir):
        self.slot, self.n, self.seed = slot, n, seed
        self.runtime, self.worker_id = slot
        base = os.path.join(log_dir, f"{self.runtime}-{self.worker_id}-{n}")
        self.out_path, self.err_path = base + ".out", base + ".err"
        cmd = WORKERS[self.runtime] + [cache_dir, str(self.worker_id), f"{seconds:.2f}", str(seed)]
        env = dict(os.environ, CACHENESS_STRESS_PROGRESS="1")
        parent = os.getpid()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, preexec_fn=lambda: _die_with_parent(parent))
        self.started = time.monotonic()
        self.killed = False
        self.rc = None

    def poll(self):
        if self.rc is None:
            self.rc = self.proc.poll()
        return self.rc

    def kill(self):
        """SIGKILL the process group (the worker and anything it started)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def results(self):
        """(summary or None, ops done, FAIL lines, NOTE lines, other stderr lines)."""
        summary, progress = None, None
        with open(self.out_path, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and "runtime" in doc:
                    summary = doc
                elif isinstance(doc, dict) and "progress" in doc:
                    progress = doc["progress"]
        with open(self.err_path, "rb") as f:
            err = f.read().decode("utf-8", "replace").splitlines()
        fails = [x for x in err if x.startswith("FAIL")]
        notes = [x for x in err if x.startswith("NOTE")]
        other = [x for x in err if x and not x.startswith(("FAIL", "NOTE"))]
        done = summary or progress or {}
        try:
            ops = int(done.get("total_ops") or 0)
        except (TypeError, ValueError):
            ops = 0
        return summary, ops, fails, notes, other


def cli(cache_dir, *args, check_json=True):
    p = subprocess.run([CLI, "--dir", cache_dir, *args], capture_output=True, timeout=300)
    doc = None
    if check_json:
        try:
            doc = json.loads(p.stdout.decode())
        except ValueError:
            doc = None
    return p, doc


def check_value(data):
    """'' if data is a whole, self-consistent stress value, else what is wrong."""
    if len(data) < HEADER.size:
        return "shorter than a header"
    magic, _w, _i, _s, length, crc, _rt, _z, hcrc = HEADER.unpack_from(data)
    if magic != MAGIC:
        return "bad magic"
    if hcrc != zlib.crc32(data[:44]):
        return "header checksum mismatch"
    if length != len(data):
        return "length differs from the header (torn or truncated)"
    if crc != zlib.crc32(data[HEADER.size:]):
        return "payload checksum mismatch"
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=45, help="how long the workers run (default 45)")
    ap.add_argument("--kill", action="store_true", help="SIGKILL random workers at random moments, restart them")
    ap.add_argument("--per-runtime", type=int, default=2, help="workers of each runtime (default 2, at least 2)")
    ap.add_argument("--kill-interval", type=float, nargs=2, default=(0.2, 2.0), metavar=("MIN", "MAX"),
                    help="seconds between kills, uniform (default 0.2 2.0)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the orchestrator's choices")
    ap.add_argument("--dir", default=None, help="parent directory for the run (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory even when everything passed")
    args = ap.parse_args()
    if args.per_runtime < 2:
        ap.error("--per-runtime must be at least 2")

    global _libc
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        _libc = None
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    missing = [p for p in [CLI, EXAMPLE] + [w[-1] for w in WORKERS.values()] if not os.path.exists(p)]
    if shutil.which("node") is None:
        missing.append("node (on PATH)")
    if missing:
        print("stress: missing " + ", ".join(missing) + ": run `make -C stress build` "
              "(after `cargo build --release`)", file=sys.stderr)
        return 2

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    run_dir = tempfile.mkdtemp(prefix="cacheness-stress-", dir=args.dir)
    cache_dir = os.path.join(run_dir, "cache")
    log_dir = os.path.join(run_dir, "logs")
    os.makedirs(log_dir)
    slots = [(rt, 1 + i * 3 + j) for i in range(args.per_runtime) for j, rt in enumerate(("c", "go", "node"))]
    print(f"stress: {len(slots)} workers ({args.per_runtime} each of C, Go, Node) on {cache_dir} for "
          f"{args.seconds:g} s{', with SIGKILLs' if args.kill else ''} (seed {seed})", flush=True)

    incarnations, running = [], {}
    used_seeds = set()

    def new_seed():
        while True:
            s = rng.randrange(1, 1 << 32)
            if s not in used_seeds:
                used_seeds.add(s)
                return s

    def start(slot, seconds):
        inc = Incarnation(slot, sum(1 for x in incarnations if x.slot == slot), new_seed(), seconds,
                          cache_dir, log_dir)
        incarnations.append(inc)
        running[slot] = inc

    results = []  # (name, ok, detail)

    def check(name, ok, detail=""):
        results.append((name, bool(ok), detail))
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail and not ok else ''}", flush=True)

    kills = 0
    t0 = time.monotonic()
    ok_exit = False  # the run directory is removed only when every check passed
    try:
        deadline = t0 + args.seconds
        for slot in slots:
            start(slot, args.seconds)
        next_kill = t0 + rng.uniform(*args.kill_interval)
        while time.monotonic() < deadline:
            now = time.monotonic()
            if args.kill and now >= next_kill:
                live = [inc for inc in running.values() if inc.poll() is None]
                if live:
                    victim = rng.choice(live)
                    victim.killed = True
                    victim.kill()
                    kills += 1
                    left = deadline - time.monotonic()
                    if left > 1.0:
                        start(victim.slot, left)
                    else:
                        running.pop(victim.slot, None)
                next_kill = time.monotonic() + rng.uniform(*args.kill_interval)
            time.sleep(0.02)
        # Wait for every worker to finish its run.
        end_by = time.monotonic() + FINISH_GRACE
        while any(inc.poll() is None for inc in incarnations) and time.monotonic() < end_by:
            time.sleep(0.05)
        stuck = [inc for inc in incarnations if inc.poll() is None]
        for inc in stuck:
            inc.kill()
        duration = time.monotonic() - t0

        print("checks:", flush=True)
        total_ops, by_runtime, fails, notes, other = 0, {}, [], [], []
        unclean = []
        for inc in incarnations:
            summary, done, f, n, o = inc.results()
            total_ops += done
            by_runtime[inc.runtime] = by_runtime.get(inc.runtime, 0) + done
            fails += f
            notes += n
            other += [f"{inc.runtime}-{inc.worker_id}: {x}" for x in o]
            if inc.killed:
                continue
            if inc in stuck:
                unclean.append(f"{inc.runtime}-{inc.worker_id} still running {FINISH_GRACE} s after its end")
            elif inc.rc != 0 or summary is None:
                unclean.append(f"{inc.runtime}-{inc.worker_id} exited {inc.rc}"
                               f"{'' if summary else ' without a summary'}")
            elif summary.get("failures", 0) and not f:
                fails.append(f"{inc.runtime}-{inc.worker_id}: summary reports {summary['failures']} failures")
        check("every worker that was not killed ran to its end and exited 0", not unclean, "; ".join(unclean))
        check("no worker reported a failed check", not fails,
              f"{len(fails)} failures, first: " + " | ".join(fails[:5]))
        check("every runtime did operations", all(by_runtime.get(rt, 0) > 0 for rt in WORKERS), str(by_runtime))
        if args.kill and args.seconds >= 10:
            check("workers were killed and restarted", kills > 0, "no kill happened")

        p, report = cli(cache_dir, "verify", "--deep", "--json")
        issues = (report or {}).get("issues", [])
        kinds = sorted({i.get("issue") for i in issues})
        allowed = {"orphaned_file"} if kills else set()
        bad = [i for i in issues if i.get("issue") not in allowed]
        check("deep verify finds no corrupt entry" + (" (only orphaned_file leftovers)" if kills else ""),
              report is not None and not bad,
              f"exit {p.returncode}, issues {kinds}: {json.dumps(bad[:5])} {p.stderr.decode()[-300:]}")
        leftovers = len(issues) - len(bad)

        p, rep = cli(cache_dir, "repair", "--json")
        check("repair succeeds", p.returncode == 0 and rep is not None,
              f"exit {p.returncode}: {p.stdout.decode()[-300:]} {p.stderr.decode()[-300:]}")
        p, report = cli(cache_dir, "verify", "--deep", "--json")
        check("deep verify after repair is ok", p.returncode == 0 and report and report.get("ok") is True,
              f"exit {p.returncode}: {p.stdout.decode()[-500:]}")

        p, stats = cli(cache_dir, "stats", "--json")
        p2, listing = cli(cache_dir, "list", "--json")
        entries = (listing or {}).get("entries", [])
        n_stats = (stats or {}).get("entries")
        check("stats entries equals the number of entries listed",
              stats is not None and listing is not None and n_stats == len(entries)
              and not (listing or {}).get("next_cursor"),
              f"stats {n_stats}, list {len(entries)} (exit {p.returncode}/{p2.returncode})")
        size_sum = sum(e.get("size", 0) for e in entries)
        check("stats total_size equals the sum of the sizes listed",
              stats is not None and stats.get("total_size") == size_sum,
              f"stats {(stats or {}).get('total_size')}, list {size_sum}")

        bad_values = []
        for e in entries:
            g = subprocess.run([CLI, "--dir", cache_dir, "get", e["cache_key"]], capture_output=True, timeout=60)
            if g.returncode != 0:
                bad_values.append(f"{e['params']}: get exit {g.returncode} {g.stderr.decode()[-200:]}")
                continue
            why = check_value(g.stdout)
            if not why and len(g.stdout) != e["size"]:
                why = f"{len(g.stdout)} bytes, listed size {e['size']}"
            if not why and e["content_hash"] != "sha256:" + hashlib.sha256(g.stdout).hexdigest():
                why = "content_hash differs from the data"
            if why:
                bad_values.append(f"{e['params']}: {why}")
        check(f"every entry listed ({len(entries)}) holds a whole, self-consistent value", not bad_values,
              "; ".join(bad_values[:5]))

        ex = subprocess.run([EXAMPLE, cache_dir], capture_output=True, timeout=120)
        check("the C example works on the stressed directory", ex.returncode == 0,
              f"exit {ex.returncode}: {ex.stderr.decode()[-400:]}")
        p, report = cli(cache_dir, "verify", "--deep", "--json")
        check("deep verify after the C example is ok", p.returncode == 0 and report and report.get("ok") is True,
              f"exit {p.returncode}: {p.stdout.decode()[-500:]}")

        procs = len(incarnations)
        rate = total_ops / duration if duration else 0
        print(f"stress: processes {procs} ({len(slots)} workers + {procs - len(slots)} restarts), "
              f"operations {total_ops} ({', '.join(f'{k} {v}' for k, v in sorted(by_runtime.items()))}; "
              f"{rate:.0f}/s), kills {kills}, duration {duration:.1f} s, entries at end {len(entries)}, "
              f"leftover files repaired {leftovers}, seed {seed}")
        aba = [x for x in notes if "stale expected_version" in x]
        if notes:
            print(f"stress: notes (not failures): {len(aba)} stale expected_version accepted after a delete and "
                  f"re-create (ABA), {len(notes) - len(aba)} concurrent verify/repair reports with issues")
        for line in other[:10]:
            print(f"stress: worker stderr: {line}")
        failed = [r for r in results if not r[1]]
        ok_exit = not failed
        if failed:
            print(f"stress: logs and cache kept in {run_dir}")
            for inc in incarnations:
                _, _, f, _, o = inc.results()
                if f or o:
                    print(f"--- {inc.err_path}")
                    for line in (f + o)[:10]:
                        print("   " + line)
        print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
        return 0 if ok_exit else 1
    except Interrupted as e:
        print(f"\nstress: interrupted ({e}); killing the workers; run dir {run_dir}", file=sys.stderr)
        return 130
    finally:
        for inc in incarnations:
            if inc.poll() is None:
                inc.kill()
        if ok_exit and not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
