'use strict';
// The sync fast paths (getSync, getMetadataSync, existsSync of Cache and Store): results from
// the shared result pool, long and non-ASCII selectors, and the native functions' own argument
// checks (index.js never passes bad arguments, but the addon must not trust them).
const test = require('node:test');
const assert = require('node:assert/strict');
const { cacheness, openCache, openStore, rejectsWithCode } = require('./helpers');

const native = require('../build/cacheness.node');
const { Cache, Store, CachenessError } = cacheness;

const HANDLE = (obj) => obj[Object.getOwnPropertySymbols(obj).find((s) => s.description === 'cacheness.handle')];

function pattern(len, seed) {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const invalid = (e) => e instanceof CachenessError && e.code === 'INVALID_ARGUMENT';

test.describe('getSync results', () => {
  test.it('every result keeps its own bytes, whatever the size and order of later gets', (t) => {
    const { cache } = openCache(t);
    const sizes = [0, 1, 7, 8, 9, 100, 4095, 4096, 4097, 8191, 8192, 8193, 20000, 65535, 65536, 70000, 300000];
    const keys = sizes.map((n, i) => cache.putSync({ size: n, i }, pattern(n, i)));
    const got = [];
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < sizes.length; i++) {
        const j = (i * 7 + round) % sizes.length;
        got.push([j, cache.getSync(round % 2 ? keys[j] : { size: sizes[j], i: j })]);
      }
    }
    for (const [j, b] of got) {
      assert.ok(Buffer.isBuffer(b), `size ${sizes[j]}`);
      assert.equal(b.length, sizes[j]);
      assert.ok(b.equals(pattern(sizes[j], j)), `size ${sizes[j]} changed after later gets`);
      assert.equal(b.byteOffset % 8, 0, 'results are 8-byte aligned');
    }
    // Writing into one result leaves the others (and the stored value) alone.
    const a = cache.getSync(keys[6]);
    const b = cache.getSync(keys[6]);
    a.fill(0);
    assert.ok(b.equals(pattern(sizes[6], 6)));
    assert.ok(cache.getSync(keys[6]).equals(pattern(sizes[6], 6)));
  });

  test.it('store getSync: the same, and a miss is undefined', (t) => {
    const { store } = openStore(t);
    const sizes = [0, 3, 4096, 9000, 100000];
    sizes.forEach((n, i) => store.putSync(`k/${i}`, pattern(n, i)));
    const got = [];
    for (let round = 0; round < 30; round++) sizes.forEach((n, i) => got.push([i, store.getSync(`k/${i}`)]));
    for (const [i, b] of got) assert.ok(Buffer.isBuffer(b) && b.equals(pattern(sizes[i], i)));
    assert.equal(store.getSync('k/none'), undefined);
    assert.equal(store.existsSync('k/1'), true);
    assert.equal(store.existsSync('k/none'), false);
    assert.equal(store.getMetadataSync('k/1').size, 3);
    assert.equal(store.getMetadataSync('k/none'), undefined);
  });

  test.it('cache getMetadataSync / existsSync by key, params object and params JSON', (t) => {
    const { cache } = openCache(t);
    const params = { fast: 'path', n: 1 };
    const k = cache.putSync(params, Buffer.from('v'), { metadata: { m: 1 } });
    for (const sel of [k, params, JSON.stringify(params)]) {
      assert.equal(cache.existsSync(sel), true);
      assert.deepEqual(cache.getMetadataSync(sel).metadata, { m: 1 });
      assert.equal(cache.getSync(sel).toString(), 'v');
    }
    assert.equal(cache.existsSync({ fast: 'missing' }), false);
    assert.equal(cache.getMetadataSync({ fast: 'missing' }), undefined);
    assert.equal(cache.getSync({ fast: 'missing' }), undefined);
    assert.equal(cache.getSync('0'.repeat(64)), undefined);
  });

  test.it('selectors and keys longer than the addon stack buffer, with multi-byte characters at its edge', (t) => {
    const { cache } = openCache(t);
    const { store } = openStore(t);
    // Lengths around the 1024-byte stack buffer of the fast path, in bytes of UTF-8.
    for (let len = 1010; len <= 1030; len++) {
      for (const ch of ['a', '\u00e9', '\u20ac', '\u{1F600}']) {
        const w = Buffer.byteLength(ch);
        const fill = ch.repeat(Math.floor((len - 10) / w));
        const params = { s: fill };
        const text = JSON.stringify(params);
        const v = Buffer.from(`${len}${ch}`);
        cache.putSync(params, v);
        assert.ok(cache.getSync(text).equals(v), `params JSON of ${Buffer.byteLength(text)} bytes`);
        assert.equal(cache.existsSync(text), true);
        const key = `p/${fill}`;
        if (Buffer.byteLength(key) <= 1024) { // store keys are at most 1024 bytes
          store.putSync(key, v);
          assert.ok(store.getSync(key).equals(v), `store key of ${Buffer.byteLength(key)} bytes`);
          assert.equal(store.existsSync(key), true);
        }
      }
    }
    // Far longer than the buffer.
    const long = { s: 'x'.repeat(100000) };
    cache.putSync(long, Buffer.from('long'));
    assert.equal(cache.getSync(JSON.stringify(long)).toString(), 'long');
  });
});

test.describe('sync fast paths: argument errors', () => {
  test.it('NUL characters are rejected, short and long', (t) => {
    const { cache } = openCache(t);
    const { store } = openStore(t);
    for (const s of ['{"a":"nul\u0000"}', `{"a":"${'y'.repeat(2000)}\u0000"}`, `${'0'.repeat(63)}\u0000`]) {
      for (const m of ['getSync', 'existsSync', 'getMetadataSync']) {
        assert.throws(() => cache[m](s), invalid, `cache.${m}`);
        assert.throws(() => store[m](`k${s}`), invalid, `store.${m}`);
      }
    }
  });

  test.it('selectors and keys of the wrong type', (t) => {
    const { cache } = openCache(t);
    const { store } = openStore(t);
    for (const m of ['getSync', 'existsSync', 'getMetadataSync']) {
      for (const bad of [17, null, undefined, true, [1], Buffer.from('k')]) {
        assert.throws(() => cache[m](bad), invalid, `cache.${m}(${String(bad)})`);
        assert.throws(() => store[m](bad), invalid, `store.${m}(${String(bad)})`);
      }
      assert.throws(() => cache[m]('not-a-key'), invalid);
      assert.throws(() => store[m](''), invalid);
    }
  });

  test.it('closed handles are rejected', async (t) => {
    const { cache } = openCache(t);
    const { store } = openStore(t);
    const k = cache.putSync({ a: 1 }, Buffer.from('x'));
    store.putSync('a', Buffer.from('x'));
    cache.close();
    store.close();
    for (const m of ['getSync', 'existsSync', 'getMetadataSync']) {
      await rejectsWithCode(assert, () => cache[m](k), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, () => store[m]('a'), 'INVALID_ARGUMENT');
    }
    assert.throws(() => native.cacheGetSync(HANDLE(cache), k), (e) => invalid(e) && /closed/.test(e.message));
    assert.throws(() => native.storeGetSync(HANDLE(store), 'a'), (e) => invalid(e) && /closed/.test(e.message));
  });

  test.it('native functions: wrong handle kind, not a handle, missing arguments', (t) => {
    const { cache } = openCache(t);
    const { store } = openStore(t);
    const ch = HANDLE(cache);
    const sh = HANDLE(store);
    const k = cache.putSync({ a: 1 }, Buffer.from('x'));
    for (const f of ['cacheGetSync', 'cacheExistsSync', 'cacheGetMetadataSync']) {
      assert.throws(() => native[f](sh, k), (e) => invalid(e) && /store, not a cache/.test(e.message), f);
      for (const notHandle of [undefined, null, 1, 'h', {}, Buffer.alloc(8)]) {
        assert.throws(() => native[f](notHandle, k), (e) => invalid(e) && /not a cacheness handle/.test(e.message), f);
      }
      assert.throws(() => native[f](), invalid, f);
      assert.throws(() => native[f](ch), invalid, f);
      assert.throws(() => native[f](ch, 42), invalid, f);
      assert.throws(() => native[f](ch, 'a\u0000b'), invalid, f);
    }
    for (const f of ['storeGetSync', 'storeExistsSync', 'storeGetMetadataSync']) {
      assert.throws(() => native[f](ch, 'a'), (e) => invalid(e) && /cache, not a store/.test(e.message), f);
      assert.throws(() => native[f]({}, 'a'), invalid, f);
      assert.throws(() => native[f](sh), invalid, f);
      assert.throws(() => native[f](sh, {}), invalid, f);
    }
    // The handles still work.
    assert.equal(native.cacheExistsSync(ch, k), true);
    assert.equal(native.storeExistsSync(sh, 'nothing'), false);
  });

  test.it('native get: the result pool and offset are checked; without a pool every value is its own Buffer', (t) => {
    const { cache } = openCache(t);
    const { store } = openStore(t);
    const ch = HANDLE(cache);
    const sh = HANDLE(store);
    const v = pattern(5000, 3);
    const k = cache.putSync({ p: 1 }, v);
    store.putSync('p', v);
    for (const [f, h, sel] of [['cacheGetSync', ch, k], ['storeGetSync', sh, 'p']]) {
      // No pool (or undefined / null): a Buffer.
      for (const args of [[], [undefined, 0], [null, 0]]) {
        const r = native[f](h, sel, ...args);
        assert.ok(Buffer.isBuffer(r) && r.equals(v), f);
      }
      // A pool with room: the length, and the bytes at the offset; nothing else is touched.
      const pool = Buffer.alloc(8192, 0xee);
      assert.equal(native[f](h, sel, pool, 100), 5000);
      assert.ok(pool.subarray(100, 5100).equals(v));
      assert.ok(pool.subarray(0, 100).every((x) => x === 0xee) && pool.subarray(5100).every((x) => x === 0xee));
      const u8 = new Uint8Array(5000);
      assert.equal(native[f](h, sel, u8, 0), 5000);
      assert.ok(Buffer.from(u8).equals(v));
      // No room left (offset at the end, or a small pool): a Buffer of its own.
      for (const [p, off] of [[pool, 8192], [pool, 4000], [Buffer.alloc(10), 0]]) {
        const before = Buffer.from(p);
        const r = native[f](h, sel, p, off);
        assert.ok(Buffer.isBuffer(r) && r.equals(v), `${f} offset ${off}`);
        assert.ok(p.equals(before), 'pool untouched');
      }
      // A miss never touches the pool.
      assert.equal(native[f](h, f === 'cacheGetSync' ? 'f'.repeat(64) : 'none', pool, 0), undefined);
      // Bad pools and offsets.
      for (const args of [
        [pool], [pool, undefined], [pool, -1], [pool, 8193], [pool, 'x'], [pool, 1.5e10],
        [new Float64Array(16), 0], [new DataView(new ArrayBuffer(16)), 0], [new ArrayBuffer(16), 0], [{}, 0], ['pool', 0],
      ]) {
        assert.throws(() => native[f](h, sel, ...args), (e) => invalid(e) && /pool/.test(e.message), `${f} ${String(args)}`);
      }
    }
  });

  test.it('getSync and existsSync of a closed cache fail the same way as the generic path', (t) => {
    const { cache } = openCache(t);
    cache.close();
    let fast;
    let generic;
    try { cache.getSync({ a: 1 }); } catch (e) { fast = e; }
    try { cache.touchSync({ a: 1 }); } catch (e) { generic = e; }
    assert.ok(fast instanceof CachenessError && generic instanceof CachenessError);
    assert.equal(fast.code, generic.code);
    assert.equal(fast.message, generic.message);
    assert.ok(Cache.prototype.getSync !== Store.prototype.getSync);
  });
});
