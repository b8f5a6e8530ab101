'use strict';
// Benchmark of the Node binding: sync get latency and async get throughput for 4 KiB values.
// Run with `make bench` (sets UV_THREADPOOL_SIZE=4). Options through the environment:
//   BENCH_KEYS (default 1000), BENCH_SYNC_OPS (default 200000), BENCH_ASYNC_OPS (default 200000),
//   BENCH_CONCURRENCY (default 64), BENCH_DIR (default: a fresh temporary directory).
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '4'; // before any pool use

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { Cache, version } = require('..');

const KEYS = Number(process.env.BENCH_KEYS || 1000);
const SYNC_OPS = Number(process.env.BENCH_SYNC_OPS || 200000);
const ASYNC_OPS = Number(process.env.BENCH_ASYNC_OPS || 200000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || 64);
const VALUE_SIZE = 4096;

function fmt(n, digits = 0) {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main() {
  const ownDir = !process.env.BENCH_DIR;
  const dir = process.env.BENCH_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'cacheness-bench-'));
  const cache = Cache.open({ dir });
  try {
    const value = Buffer.alloc(VALUE_SIZE);
    const selectors = [];
    for (let i = 0; i < KEYS; i++) {
      value.fill(i & 0xff);
      selectors.push(cache.putSync({ bench: i }, value)); // selectors are the 64-hex keys
    }
    console.log(`cacheness ${version()} node ${process.version} UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}`);
    console.log(`dir ${dir}; ${KEYS} keys of ${VALUE_SIZE} B (SQLite metadata, default backends)`);

    // Warm-up.
    for (let i = 0; i < Math.min(SYNC_OPS, 10000); i++) cache.getSync(selectors[i % KEYS]);

    // Sync get by key.
    let bytes = 0;
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < SYNC_OPS; i++) bytes += cache.getSync(selectors[i % KEYS]).length;
    let ns = Number(process.hrtime.bigint() - t0);
    if (bytes !== SYNC_OPS * VALUE_SIZE) throw new Error('short read');
    console.log(`sync get (key selector):    ${fmt(ns / SYNC_OPS)} ns/op  (${fmt(SYNC_OPS / (ns / 1e9))} ops/s)`);

    // Sync get by params object (adds JSON.stringify + canonicalisation + hashing).
    const n2 = Math.max(1, Math.floor(SYNC_OPS / 4));
    const params = Array.from({ length: KEYS }, (_, i) => ({ bench: i }));
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n2; i++) cache.getSync(params[i % KEYS]);
    ns = Number(process.hrtime.bigint() - t0);
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
