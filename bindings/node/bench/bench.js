'use strict';
// Benchmark of the Node binding: sync get latency and async get throughput for 4 KiB values,
// and the sync get of the binding against the C API's cacheness_cache_get on the same cache.
// Run with `make bench` (sets UV_THREADPOOL_SIZE=4, builds build/c_get). Options through the
// environment:
//   BENCH_KEYS (default 1000), BENCH_SYNC_OPS (default 200000), BENCH_ASYNC_OPS (default 200000),
//   BENCH_CONCURRENCY (default 64), BENCH_DIR (default: a fresh temporary directory),
//   BENCH_ROUNDS (default 15): the sync get by key runs in this many rounds of
//   BENCH_SYNC_OPS / BENCH_ROUNDS gets each, alternating with as many gets of the same keys by
//   build/c_get (bench/c_get.c, a separate process on the same directory); the figures are
//   medians over rounds. BENCH_C=0 skips the C side.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '4'; // before any pool use

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { Cache, version } = require('..');

const KEYS = Number(process.env.BENCH_KEYS || 1000);
const SYNC_OPS = Number(process.env.BENCH_SYNC_OPS || 200000);
const ASYNC_OPS = Number(process.env.BENCH_ASYNC_OPS || 200000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || 64);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS || 15));
const WITH_C = process.env.BENCH_C !== '0';
const C_GET = path.join(__dirname, '..', 'build', 'c_get');
const VALUE_SIZE = 4096;

function fmt(n, digits = 0) {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Start build/c_get on the cache `config` with `keys`; resolves to { get(n), close() } (null if
 * it was not built). */
async function startCGet(config, keys) {
  if (!fs.existsSync(C_GET)) {
    console.log(`(no ${C_GET}: \`make bench\` builds it; Node figures only)`);
    return null;
  }
  const child = spawn(C_GET, [JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => {
    child.on('exit', (code, sig) => resolve(code ?? sig));
    child.on('error', (e) => resolve(e.message));
  });
  const next = async (what) => {
    const r = await lines.next();
    if (r.done) throw new Error(`c_get exited (${await exited}) while waiting for ${what}`);
    return r.value;
  };
  child.stdin.write(`${keys.join('\n')}\n\n`);
  const ready = await next('ready');
  if (ready !== `ready ${keys.length}`) throw new Error(`c_get: unexpected "${ready}"`);
  return {
    /** n gets; resolves to { ns, cpu } per get (wall clock; process CPU time, user + system). */
    async get(n) {
      child.stdin.write(`get ${n}\n`);
      const m = /^ns (\d+) cpu (\d+) bytes (\d+)$/.exec(await next('a result'));
      if (!m || Number(m[3]) !== n * VALUE_SIZE) throw new Error('c_get: bad result');
      return { ns: Number(m[1]) / n, cpu: Number(m[2]) / n };
    },
    async close() {
      child.stdin.end('quit\n');
      await exited;
    },
  };
}

async function main() {
  const ownDir = !process.env.BENCH_DIR;
  const dir = process.env.BENCH_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'cacheness-bench-'));
  const config = { dir };
  const cache = Cache.open(config);
  try {
    const value = Buffer.alloc(VALUE_SIZE);
    const selectors = [];
    for (let i = 0; i < KEYS; i++) {
      value.fill(i & 0xff);
      selectors.push(cache.putSync({ bench: i }, value)); // selectors are the 64-hex keys
    }
    console.log(`cacheness ${version()} node ${process.version} UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}`);
    console.log(`dir ${dir}; ${KEYS} keys of ${VALUE_SIZE} B (SQLite metadata, default backends)`);

    // The same selectors and order on both sides: selectors[i % KEYS], i = 0..n-1. Per get:
    // wall-clock ns and process CPU ns (user + system, all threads: GC helpers included).
    const nodeGets = (n) => {
      let bytes = 0;
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) bytes += cache.getSync(selectors[i % KEYS]).length;
      const ns = Number(process.hrtime.bigint() - t0);
      const cpu = process.cpuUsage(c0);
      if (bytes !== n * VALUE_SIZE) throw new Error('short read');
      return { ns: ns / n, cpu: ((cpu.user + cpu.system) * 1000) / n };
    };
    const c = WITH_C ? await startCGet(config, selectors) : null;
    try {
      // Warm-up.
      const warm = Math.min(SYNC_OPS, 10000);
      nodeGets(warm);
      if (c) await c.get(warm);

      // Sync get by key: rounds alternating Node and C (who goes first alternates too).
      const perRound = Math.max(1, Math.floor(SYNC_OPS / ROUNDS));
      const nodeR = [];
      const cR = [];
      for (let r = 0; r < ROUNDS; r++) {
        if (c && r % 2 === 1) cR.push(await c.get(perRound));
        nodeR.push(nodeGets(perRound));
        if (c && r % 2 === 0) cR.push(await c.get(perRound));
      }
      const nodeMed = median(nodeR.map((x) => x.ns));
      console.log(`sync get (key selector):    ${fmt(nodeMed)} ns/op  (${fmt(1e9 / nodeMed)} ops/s; median of ${ROUNDS} rounds of ${fmt(perRound)})`);
      if (c) {
        const cMed = median(cR.map((x) => x.ns));
        const nodeCpu = median(nodeR.map((x) => x.cpu));
        const cCpu = median(cR.map((x) => x.cpu));
        const ratios = nodeR.map((x, i) => x.ns / cR[i].ns);
        console.log(`C get (key selector):       ${fmt(cMed)} ns/op  (cacheness_cache_get + cacheness_bytes_free in bench/c_get.c, same dir and keys, alternating rounds)`);
        console.log(`node getSync / C get:       ${fmt(nodeMed / cMed, 2)}  (ratio of the medians; per-round ratios: median ${fmt(median(ratios), 2)}, min ${fmt(Math.min(...ratios), 2)}, max ${fmt(Math.max(...ratios), 2)})`);
        console.log(`  CPU time per get (process, all threads): node ${fmt(nodeCpu)} ns, C ${fmt(cCpu)} ns, ratio ${fmt(nodeCpu / cCpu, 2)}`);
        console.log(`  rounds, node ns/op: ${nodeR.map((x) => fmt(x.ns)).join(' ')}`);
        console.log(`  rounds, C ns/op:    ${cR.map((x) => fmt(x.ns)).join(' ')}`);
      }
    } finally {
      if (c) await c.close();
    }

    // Sync get by params object (adds JSON.stringify + canonicalisation + hashing).
    const n2 = Math.max(1, Math.floor(SYNC_OPS / 4));
    const params = Array.from({ length: KEYS }, (_, i) => ({ bench: i }));
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n2; i++) cache.getSync(params[i % KEYS]);
    const ns = Number(process.hrtime.bigint() - t0);
    console.log(`sync get (params selector): ${fmt(ns / n2)} ns/op  (${fmt(n2 / (ns / 1e9))} ops/s)`);

    // Async get throughput with CONCURRENCY requests in flight.
    for (const concurrency of [1, CONCURRENCY]) {
      const total = concurrency === 1 ? Math.max(1, Math.floor(ASYNC_OPS / 10)) : ASYNC_OPS;
      let issued = 0;
      let done = 0;
      const start = performance.now();
      await new Promise((resolve, reject) => {
        const next = () => {
          if (issued >= total) return;
          const i = issued++;
          cache.get(selectors[i % KEYS]).then((b) => {
            if (!b || b.length !== VALUE_SIZE) return reject(new Error('bad read'));
            if (++done === total) resolve();
            else next();
          }, reject);
        };
        for (let c = 0; c < concurrency; c++) next();
      });
      const secs = (performance.now() - start) / 1000;
      console.log(`async get, ${String(concurrency).padStart(3)} in flight:     ${fmt(total / secs)} ops/s  (${fmt((secs * 1e9) / total)} ns/op wall)`);
    }
  } finally {
    cache.close();
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
