'use strict';
// The Promise forms run on the libuv thread pool: the event loop keeps running, inputs are
// copied, and handles survive close() and garbage collection while work is in flight.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { cacheness, openCache, tmpDir } = require('./helpers');

const { Cache } = cacheness;
const INDEX = path.resolve(__dirname, '..');

// One measurement: 1000 gets issued at once, three times over, while a 2 ms interval timer
// records its worst lateness.
async function measureLag(cache) {
  const INTERVAL = 2;
  let maxLag = 0;
  let ticks = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - last - INTERVAL);
    last = now;
    ticks++;
  }, INTERVAL);
  const started = performance.now();
  let ticksWhilePending = 0;
  try {
    for (let round = 0; round < 3; round++) {
      const gets = [];
      for (let i = 0; i < 1000; i++) gets.push(cache.get({ lag: i % 100 }));
      const ticksBefore = ticks;
      const results = await Promise.all(gets);
      ticksWhilePending += ticks - ticksBefore;
      for (let i = 0; i < 1000; i++) {
        assert.equal(results[i].length, 4096);
        assert.equal(results[i].readUInt32LE(0), i % 100);
      }
    }
  } finally {
    clearInterval(timer);
  }
  return { maxLag, ticksWhilePending, elapsed: performance.now() - started };
}

test.it('1000 concurrent Promise gets do not block a timer on the event loop', async (t) => {
  const { cache } = openCache(t);
  const value = Buffer.alloc(4096);
  for (let i = 0; i < 100; i++) {
    value.writeUInt32LE(i, 0);
    cache.putSync({ lag: i }, value);
  }
  // What blocking would look like: the same 1000 gets done synchronously.
  const syncStart = performance.now();
  for (let i = 0; i < 1000; i++) cache.getSync({ lag: i % 100 });
  const syncMs = performance.now() - syncStart;
  // The gets run on the thread pool, so the timer keeps running while they are pending. On a
  // machine shared with other busy processes the scheduler alone can delay a timer, so a
  // measurement over the limit is repeated (up to 5 in all); a binding that blocked the loop
  // fails every one of them (and its timer never ticks while gets are pending).
  const LIMIT_MS = 50;
  let m;
  for (let attempt = 1; attempt <= 5; attempt++) {
    m = await measureLag(cache);
    t.diagnostic(`attempt ${attempt}: 3x1000 gets in ${m.elapsed.toFixed(1)} ms; timer ticks while pending ${m.ticksWhilePending}; ` +
      `max timer lag ${m.maxLag.toFixed(1)} ms (1000 sync gets take ${syncMs.toFixed(1)} ms)`);
    if (m.elapsed > 20) assert.ok(m.ticksWhilePending > 0, 'the timer never ran while gets were pending');
    if (m.maxLag < LIMIT_MS) break;
  }
  assert.ok(m.maxLag < LIMIT_MS, `event loop blocked for ${m.maxLag.toFixed(1)} ms`);
});

test.it('sync calls, by contrast, run on the calling thread', (t) => {
  const { cache } = openCache(t);
  cache.putSync({ s: 1 }, Buffer.from('x'));
  let ran = false;
  setImmediate(() => { ran = true; });
  for (let i = 0; i < 50; i++) assert.equal(cache.getSync({ s: 1 }).toString(), 'x');
  assert.equal(ran, false);
});

test.it('close() while Promises are pending: they all settle, later calls fail', async (t) => {
  const { cache } = openCache(t);
  const big = Buffer.alloc(256 * 1024, 7);
  cache.putSync({ big: 1 }, big);
  const gets = [];
  for (let i = 0; i < 200; i++) gets.push(cache.get({ big: 1 }));
  const puts = [];
  for (let i = 0; i < 50; i++) puts.push(cache.put({ p: i }, Buffer.alloc(1000, i)));
  cache.close();
  assert.equal(cache.isOpen, false);
  const results = await Promise.all(gets);
  for (const r of results) assert.ok(r.equals(big));
  const keys = await Promise.all(puts);
  assert.equal(keys.length, 50);
  await assert.rejects(cache.get({ big: 1 }), (e) => e instanceof cacheness.CachenessError && e.code === 'INVALID_ARGUMENT');
});

test.it('writes in flight at close() are on disk afterwards', async (t) => {
  const dir = tmpDir(t);
  const cache = Cache.open({ dir });
  const puts = [];
  for (let i = 0; i < 100; i++) puts.push(cache.put({ w: i }, Buffer.from(`v${i}`)));
  cache.close();
  await Promise.all(puts);
  const reopened = Cache.open({ dir });
  try {
    for (let i = 0; i < 100; i++) assert.equal(reopened.getSync({ w: i }).toString(), `v${i}`);
  } finally {
    reopened.close();
  }
});

test.it('async work copies its inputs: changing the Buffer right after the call is harmless', async (t) => {
  const { cache } = openCache(t);
  const buf = Buffer.alloc(1024 * 1024, 1);
  const pending = [];
  for (let i = 0; i < 20; i++) {
    buf.fill(i);
    pending.push(cache.put({ copy: i }, buf));
    buf.fill(255);
  }
  await Promise.all(pending);
  for (let i = 0; i < 20; i++) {
    const got = await cache.get({ copy: i });
    assert.equal(got[0], i);
    assert.equal(got[got.length - 1], i);
  }
  // Batches too.
  const items = [{ params: { pbc: 1 }, data: Buffer.from('aaaa') }];
  const p = cache.putBatch(items);
  items[0].data.fill(0x7a);
  await p;
  assert.equal((await cache.get({ pbc: 1 })).toString(), 'aaaa');
});

test.it('returned Buffers outlive the cache and each other', async (t) => {
  const dir = tmpDir(t);
  const cache = Cache.open({ dir });
  cache.putSync({ keep: 1 }, Buffer.alloc(500000, 9));
  const a = cache.getSync({ keep: 1 });
  const b = await cache.get({ keep: 1 });
  cache.close();
  assert.equal(a.length, 500000);
  assert.ok(a.equals(b));
  assert.equal(a[499999], 9);
});

test.it('a cache dropped without close() while work is pending is safe (GC)', (t) => {
  const dir = tmpDir(t);
  const script = `
    const { Cache } = require(${JSON.stringify(INDEX)});
    let promises = [];
    (function () {
      const c = Cache.open({ dir: ${JSON.stringify(dir)} });
      c.putSync({ g: 1 }, Buffer.alloc(100000, 3));
      for (let i = 0; i < 300; i++) promises.push(c.get({ g: 1 }));
    })();
    for (let i = 0; i < 5; i++) global.gc();
    Promise.all(promises).then((r) => {
      for (let i = 0; i < 5; i++) global.gc();
      if (r.length !== 300 || r.some((b) => b.length !== 100000 || b[5] !== 3)) process.exit(3);
      // Many short-lived handles, never closed: finalizers close them.
      for (let i = 0; i < 50; i++) { const c = Cache.open({ dir: ${JSON.stringify(dir)} }); c.getSync({ g: 1 }); }
      for (let i = 0; i < 5; i++) global.gc();
      setTimeout(() => { global.gc(); console.log('ok'); }, 50);
    }, (e) => { console.error(e); process.exit(2); });
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /ok/);
});

test.it('works from worker threads (one addon instance per thread)', async (t) => {
  const { Worker } = require('node:worker_threads');
  const dir = tmpDir(t);
  const seed = Cache.open({ dir });
  seed.putSync({ wt: 1 }, Buffer.from('from main'));
  seed.close();
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Cache, CachenessError } = require(workerData.index);
    (async () => {
      const c = Cache.open({ dir: workerData.dir });
      const got = (await c.get({ wt: 1 })).toString();
      await c.put({ wt: workerData.n }, Buffer.from('from worker ' + workerData.n));
      let code = null;
      try { c.getSync(12); } catch (e) { code = e instanceof CachenessError ? e.code : 'not a CachenessError'; }
      c.close();
      parentPort.postMessage({ got, code });
    })().catch((e) => parentPort.postMessage({ error: String(e && e.stack) }));
  `;
  const results = await Promise.all([2, 3, 4].map((n) => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { index: INDEX, dir, n } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  for (const r of results) {
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.got, 'from main');
    assert.equal(r.code, 'INVALID_ARGUMENT');
  }
  const c = Cache.open({ dir });
  t.after(() => c.close());
  for (const n of [2, 3, 4]) assert.equal(c.getSync({ wt: n }).toString(), `from worker ${n}`);
});

test.it('many concurrent mixed operations on one handle', async (t) => {
  const { cache } = openCache(t);
  const ops = [];
  for (let i = 0; i < 300; i++) {
    ops.push(cache.put({ mix: i % 30 }, Buffer.from(`v${i}`)));
    ops.push(cache.get({ mix: (i * 7) % 30 }));
    ops.push(cache.exists({ mix: i % 31 }));
    if (i % 50 === 0) ops.push(cache.list({}, { limit: 5 }));
  }
  await Promise.all(ops);
  assert.equal((await cache.stats()).entries, 30);
});
