'use strict';
// Every Store method, in both forms (Promise and *Sync).
const test = require('node:test');
const assert = require('node:assert/strict');
const { cacheness, openStore, tmpDir, FORMS, rejectsWithCode } = require('./helpers');

const { Store } = cacheness;

for (const form of FORMS) {
  const call = form.call;

  test.describe(`Store (${form.name})`, () => {
    test.it('put/get round-trip; a miss is undefined', async (t) => {
      const { store } = openStore(t);
      assert.equal(await call(store, 'put', 'old_models/model_v1', Buffer.from('weights')), undefined);
      const got = await call(store, 'get', 'old_models/model_v1');
      assert.ok(Buffer.isBuffer(got));
      assert.equal(got.toString(), 'weights');
      assert.equal(await call(store, 'get', 'old_models/missing'), undefined);
      await call(store, 'put', 'empty', new Uint8Array(0));
      assert.equal((await call(store, 'get', 'empty')).length, 0);
      const big = Buffer.alloc(2 * 1024 * 1024, 0xab);
      await call(store, 'put', 'big/blob', big);
      assert.ok((await call(store, 'get', 'big/blob')).equals(big));
    });

    test.it('getMetadata and updateMetadata', async (t) => {
      const { store } = openStore(t);
      await call(store, 'put', 'a/b', Buffer.from('12345'), { owner: 'me', tags: ['x'] });
      const m = await call(store, 'getMetadata', 'a/b');
      assert.equal(m.key, 'a/b');
      assert.equal(m.size, 5);
      assert.match(m.content_hash, /^sha256:[0-9a-f]{64}$/);
      assert.equal(m.version, 1);
      assert.deepEqual(m.metadata, { owner: 'me', tags: ['x'] });
      assert.equal('expires_at' in m, false);
      assert.equal('cache_key' in m, false);
      assert.equal(await call(store, 'getMetadata', 'a/none'), undefined);
      assert.equal(await call(store, 'updateMetadata', 'a/b', { tags: null, stage: 'prod' }), true);
      const m2 = await call(store, 'getMetadata', 'a/b');
      assert.deepEqual(m2.metadata, { owner: 'me', stage: 'prod' });
      assert.equal(m2.version, 2);
      assert.equal(await call(store, 'updateMetadata', 'a/none', { x: 1 }), false);
    });

    test.it('updateData replaces data of an existing entry only', async (t) => {
      const { store } = openStore(t);
      await call(store, 'put', 'k', Buffer.from('one'));
      assert.equal(await call(store, 'updateData', 'k', Buffer.from('three')), true);
      assert.equal((await call(store, 'get', 'k')).toString(), 'three');
      assert.equal((await call(store, 'getMetadata', 'k')).size, 5);
      assert.equal(await call(store, 'updateData', 'nope', Buffer.from('x')), false);
      assert.equal(await call(store, 'exists', 'nope'), false);
    });

    test.it('exists, delete, touch', async (t) => {
      const { store } = openStore(t);
      await call(store, 'put', 'x/y', Buffer.from('1'));
      assert.equal(await call(store, 'exists', 'x/y'), true);
      assert.equal(await call(store, 'touch', 'x/y'), true);
      assert.equal(await call(store, 'touch', 'x/z'), false);
      assert.equal(await call(store, 'delete', 'x/y'), true);
      assert.equal(await call(store, 'delete', 'x/y'), false);
      assert.equal(await call(store, 'exists', 'x/y'), false);
    });

    test.it('list by prefix with pages', async (t) => {
      const { store } = openStore(t);
      for (const k of ['m/1', 'm/2', 'm/3', 'n/1']) await call(store, 'put', k, Buffer.from(k));
      const all = await call(store, 'list');
      assert.equal(all.entries.length, 4);
      assert.equal(all.next_cursor, null);
      assert.deepEqual((await call(store, 'list', 'm/')).entries.map((e) => e.key).sort(), ['m/1', 'm/2', 'm/3']);
      const seen = [];
      let cursor = null;
      let pages = 0;
      do {
        const page = await call(store, 'list', null, cursor ? { limit: 1, cursor, order: 'key' } : { limit: 1, order: 'key' });
        seen.push(...page.entries.map((e) => e.key));
        cursor = page.next_cursor;
        pages++;
      } while (cursor && pages < 10);
      assert.deepEqual(seen, ['m/1', 'm/2', 'm/3', 'n/1']);
    });

    test.it('deleteByPrefix and clear count', async (t) => {
      const { store } = openStore(t);
      for (const k of ['p/1', 'p/2', 'q/1']) await call(store, 'put', k, Buffer.from(k));
      assert.equal(await call(store, 'deleteByPrefix', 'p/'), 2);
      assert.equal(await call(store, 'exists', 'q/1'), true);
      assert.equal(await call(store, 'clear'), 1);
      assert.equal((await call(store, 'list')).entries.length, 0);
    });

    test.it('copy and move, with and without overwrite', async (t) => {
      const { store } = openStore(t);
      await call(store, 'put', 'src', Buffer.from('S'), { m: 1 });
      await call(store, 'put', 'taken', Buffer.from('T'));
      assert.equal(await call(store, 'copy', 'src', 'dst'), true);
      assert.equal((await call(store, 'get', 'dst')).toString(), 'S');
      assert.equal(await call(store, 'exists', 'src'), true);
      await rejectsWithCode(assert, call(store, 'copy', 'src', 'taken'), 'EXISTS');
      assert.equal((await call(store, 'get', 'taken')).toString(), 'T');
      assert.equal(await call(store, 'copy', 'src', 'taken', { overwrite: true }), true);
      assert.equal((await call(store, 'get', 'taken')).toString(), 'S');
      assert.equal(await call(store, 'move', 'dst', 'moved'), true);
      assert.equal(await call(store, 'exists', 'dst'), false);
      assert.equal((await call(store, 'get', 'moved')).toString(), 'S');
      await rejectsWithCode(assert, call(store, 'move', 'moved', 'src'), 'EXISTS');
      assert.equal(await call(store, 'move', 'moved', 'src', { overwrite: true }), true);
      assert.equal(await call(store, 'exists', 'moved'), false);
      assert.equal(await call(store, 'copy', 'none', 'x'), false);
      assert.equal(await call(store, 'move', 'none', 'x'), false);
      await rejectsWithCode(assert, call(store, 'copy', 'src', 'x', { overwrit: true }), 'INVALID_ARGUMENT');
    });

    test.it('invalid names are INVALID_ARGUMENT', async (t) => {
      const { store } = openStore(t);
      for (const bad of ['', '/abs', 'a//b', 'a/../b', './a', 'a/', 'x\u0001y', 'nul\u0000byte']) {
        await rejectsWithCode(assert, call(store, 'put', bad, Buffer.from('x')), 'INVALID_ARGUMENT');
      }
      await rejectsWithCode(assert, call(store, 'get', 42), 'INVALID_ARGUMENT');
    });
  });
}

test.it('Store.open: memory backends, closed handle, private constructor', (t) => {
  const store = Store.open({ metadata: 'memory', blobs: 'memory' });
  store.putSync('a', Buffer.from('1'));
  assert.equal(store.getSync('a').toString(), '1');
  store.close();
  store.close();
  assert.equal(store.isOpen, false);
  assert.throws(() => store.getSync('a'), (e) => e instanceof cacheness.CachenessError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => new Store(), TypeError);
  const dir = tmpDir(t);
  assert.throws(() => Store.open({ dir, default_ttl_seconds: 5 }), (e) => e instanceof cacheness.CachenessError && e.code === 'INVALID_ARGUMENT');
});
