'use strict';
// CachenessError: class, codes, messages; argument errors in both forms.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { cacheness, openCache, tmpDir, FORMS, rejectsWithCode, filesWithContent } = require('./helpers');

const { Cache, CachenessError } = cacheness;

test.it('CachenessError is an Error subclass with name, code and message', () => {
  const e = new CachenessError('msg', 'IO');
  assert.ok(e instanceof Error);
  assert.ok(e instanceof CachenessError);
  assert.equal(e.name, 'CachenessError');
  assert.equal(e.code, 'IO');
  assert.equal(e.message, 'msg');
  assert.match(String(e), /^CachenessError: msg/);
  assert.deepEqual([...CachenessError.codes].sort(), [
    'BACKEND', 'BUSY', 'CONFLICT', 'CORRUPT', 'EXISTS', 'INVALID_ARGUMENT', 'IO', 'NOT_FOUND', 'PANIC', 'TOO_LARGE',
  ]);
});

test.it('errors from the library carry its code and message', (t) => {
  const dir = tmpDir(t);
  let err;
  try {
    Cache.open({ dir, no_such_option: true });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CachenessError, String(err));
  assert.equal(err.code, 'INVALID_ARGUMENT');
  assert.ok(err.message.length > 0);
  assert.ok(err.stack.includes('Cache.open') || err.stack.includes('open'), err.stack);
});

test.it('a panic inside the library becomes code PANIC', () => {
  // The addon exposes the library's test hook cacheness_test_panic().
  const native = require('../build/cacheness.node');
  assert.throws(() => native.testPanic(), (e) => e instanceof CachenessError && e.code === 'PANIC' && e.message.length > 0);
});

test.it('Cache.open without config or with bad values', (t) => {
  assert.throws(() => Cache.open(), (e) => e instanceof CachenessError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => Cache.open(42), (e) => e instanceof CachenessError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => Cache.open('{not json'), (e) => e instanceof CachenessError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => Cache.open({}), (e) => e instanceof CachenessError && e.code === 'INVALID_ARGUMENT', 'dir is required for sqlite+fs');
  const dir = tmpDir(t);
  assert.throws(() => Cache.open({ dir, metadata: 'nosuch' }), (e) => e instanceof CachenessError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => Cache.open({ dir, signing_key: 'abcd' }), (e) => e instanceof CachenessError && e.code === 'INVALID_ARGUMENT');
});

for (const form of FORMS) {
  const call = form.call;
  test.describe(`argument errors (${form.name})`, () => {
    test.it('invalid params and selectors are INVALID_ARGUMENT', async (t) => {
      const { cache } = openCache(t);
      await rejectsWithCode(assert, call(cache, 'put', [1, 2], Buffer.from('x')), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'put', '[1,2]', Buffer.from('x')), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'put', '{"a":1,"a":2}', Buffer.from('x')), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'put', { n: 2 ** 60 }, Buffer.from('x')), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'put', { big: 10n }, Buffer.from('x')), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'put', { a: 1 }, 12345), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'put', { a: 1 }, Buffer.from('x'), { ttl_seconds: 0 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'put', { a: 1 }, Buffer.from('x'), { ttl: 5 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'get', 'not-a-key'), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'get', 17), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'get', null), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'deleteWhere'), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'getBatch', 'nope'), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'putBatch', [{ params: { a: 1 } }]), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'verify', { shallow: true }), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'get', '{"a":"nul\u0000"}'), 'INVALID_ARGUMENT');
    });

    test.it('a closed cache rejects calls', async (t) => {
      const { cache } = openCache(t);
      cache.close();
      await rejectsWithCode(assert, call(cache, 'get', { a: 1 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(assert, call(cache, 'stats'), 'INVALID_ARGUMENT');
    });

    test.it('import of a missing file fails with IO or NOT_FOUND', async (t) => {
      const { cache } = openCache(t);
      let err;
      try {
        await call(cache, 'import', path.join(tmpDir(t), 'missing.tar.gz'));
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof CachenessError, String(err));
      assert.ok(['IO', 'NOT_FOUND'].includes(err.code), err.code);
    });

    test.it('a value larger than max_size_bytes is TOO_LARGE; smaller ones evict the least recently used', async (t) => {
      const { cache } = openCache(t, { max_size_bytes: 10000 });
      await rejectsWithCode(assert, call(cache, 'put', { huge: 1 }, Buffer.alloc(20000)), 'TOO_LARGE');
      assert.equal(await call(cache, 'exists', { huge: 1 }), false);
      for (let i = 0; i < 5; i++) {
        await call(cache, 'put', { ev: i }, Buffer.alloc(3000, i));
        // Times have millisecond resolution: make "least recently used" unambiguous.
        const t0 = Date.now();
        while (Date.now() < t0 + 2) { /* spin to the next milliseconds */ }
      }
      const s = await call(cache, 'stats');
      assert.ok(s.total_size <= 10000, JSON.stringify(s));
      assert.ok(s.evictions >= 1, JSON.stringify(s));
      assert.equal(await call(cache, 'exists', { ev: 0 }), false);
      assert.equal((await call(cache, 'get', { ev: 4 }))[0], 4);
    });

    test.it('corrupt data is never returned: CORRUPT, and the entry is removed', async (t) => {
      const { cache, dir } = openCache(t, { verify_on_read: true });
      const data = Buffer.alloc(200000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
      await call(cache, 'put', { corrupt: 1 }, data);
      const files = filesWithContent(dir, data);
      assert.equal(files.length, 1, 'blob file not found');
      const bad = Buffer.from(data);
      bad[1000] ^= 0xff;
      fs.writeFileSync(files[0], bad);
      await rejectsWithCode(assert, call(cache, 'get', { corrupt: 1 }), 'CORRUPT');
      assert.equal(await call(cache, 'get', { corrupt: 1 }), undefined);
    });
  });
}

test.it('max_size_bytes evicts least recently used first', (t) => {
  // Times have millisecond resolution and ties are broken by key (see README), so each put
  // happens in its own millisecond: wait for the clock to move on (no fixed sleep).
  const { cache } = openCache(t, { max_size_bytes: 10000 });
  for (let i = 0; i < 5; i++) {
    const at = Date.now();
    while (Date.now() === at) { /* next millisecond */ }
    cache.putSync({ lru: i }, Buffer.alloc(3000, i));
  }
  const left = [0, 1, 2, 3, 4].filter((i) => cache.existsSync({ lru: i }));
  assert.deepEqual(left, [2, 3, 4], 'the most recently written entries must survive');
});

test.it('async methods never throw synchronously: bad arguments reject', async (t) => {
  const { cache } = openCache(t);
  let p;
  assert.doesNotThrow(() => { p = cache.put([1], 'x'); });
  await rejectsWithCode(assert, p, 'INVALID_ARGUMENT');
  assert.doesNotThrow(() => { p = cache.get(undefined); });
  await rejectsWithCode(assert, p, 'INVALID_ARGUMENT');
  const cyclic = {};
  cyclic.self = cyclic;
  assert.doesNotThrow(() => { p = cache.put({ a: 1 }, 'x', { metadata: cyclic }); });
  await rejectsWithCode(assert, p, 'INVALID_ARGUMENT');
});
