'use strict';
// TTL expiry, observed by polling against a deadline (never a lone fixed sleep).
const test = require('node:test');
const assert = require('node:assert/strict');
const { cacheness, openCache, FORMS, waitFor } = require('./helpers');

for (const form of FORMS) {
  const call = form.call;
  test.describe(`TTL (${form.name})`, () => {
    test.it('an entry with ttl_seconds: 1 becomes a miss, then cleanupExpired removes the rest', async (t) => {
      const { cache } = openCache(t);
      const start = Date.now();
      await call(cache, 'put', { ttl: 'read' }, Buffer.from('short'), { ttl_seconds: 1 });
      await call(cache, 'put', { ttl: 'unread' }, Buffer.from('short'), { ttl_seconds: 1 });
      await call(cache, 'put', { ttl: 'forever' }, Buffer.from('long'));
      const m = await call(cache, 'getMetadata', { ttl: 'read' });
      const expiresAt = Date.parse(m.expires_at);
      const unreadExpiresAt = Date.parse((await call(cache, 'getMetadata', { ttl: 'unread' })).expires_at);
      assert.ok(expiresAt - start >= 900 && expiresAt - start <= 2000, `expires_at ${m.expires_at}`);
      // Right after the put it is a hit (unless the machine stalled past the deadline).
      const early = await call(cache, 'get', { ttl: 'read' });
      if (Date.now() < expiresAt) assert.equal(early.toString(), 'short');
      await waitFor(async () => (await call(cache, 'get', { ttl: 'read' })) === undefined,
        { timeoutMs: 15000, what: 'the entry to expire' });
      assert.ok(Date.now() >= expiresAt - 5, 'expired before its expires_at');
      // 'unread' was put a moment later: wait (against the same deadline) for its expiry too.
      await waitFor(() => Date.now() > unreadExpiresAt + 1, { timeoutMs: 15000, intervalMs: 5, what: 'the second entry to expire' });
      assert.equal(await call(cache, 'exists', { ttl: 'read' }), false);
      assert.equal(await call(cache, 'getMetadata', { ttl: 'read' }), undefined);
      assert.equal(await call(cache, 'touch', { ttl: 'read' }, { ttl_seconds: 60 }), false);
      assert.equal(await call(cache, 'getWithMetadata', { ttl: 'read' }), undefined);
      assert.deepEqual(await call(cache, 'getBatch', [{ ttl: 'unread' }, { ttl: 'forever' }]).then((r) => r.map((b) => b && b.toString())), [undefined, 'long']);
      const listed = (await call(cache, 'list')).entries.map((e) => e.params.ttl);
      assert.deepEqual(listed, ['forever']);
      const withExpired = (await call(cache, 'list', { include_expired: true })).entries.map((e) => e.params.ttl);
      assert.ok(withExpired.includes('forever'));
      const removed = await call(cache, 'cleanupExpired');
      assert.equal(typeof removed, 'number');
      assert.ok(removed <= 2);
      assert.deepEqual((await call(cache, 'list', { include_expired: true })).entries.map((e) => e.params.ttl), ['forever']);
      assert.equal((await call(cache, 'get', { ttl: 'forever' })).toString(), 'long');
    });

    test.it('default_ttl_seconds applies to puts without ttl_seconds; null means never', async (t) => {
      const { cache } = openCache(t, { default_ttl_seconds: 1 });
      await call(cache, 'put', { d: 'default' }, Buffer.from('x'));
      await call(cache, 'put', { d: 'never' }, Buffer.from('y'), { ttl_seconds: null });
      assert.equal(typeof (await call(cache, 'getMetadata', { d: 'default' })).expires_at, 'string');
      assert.equal((await call(cache, 'getMetadata', { d: 'never' })).expires_at, null);
      await waitFor(async () => !(await call(cache, 'exists', { d: 'default' })), { what: 'default TTL expiry' });
      assert.equal((await call(cache, 'get', { d: 'never' })).toString(), 'y');
    });

    test.it('touch extends the life of an entry about to expire', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { tt: 1 }, Buffer.from('x'), { ttl_seconds: 1 });
      await call(cache, 'put', { tt: 2 }, Buffer.from('x'), { ttl_seconds: 1 });
      assert.equal(await call(cache, 'touch', { tt: 1 }, { ttl_seconds: 3600 }), true);
      await waitFor(async () => !(await call(cache, 'exists', { tt: 2 })), { what: 'the untouched entry to expire' });
      assert.equal(await call(cache, 'exists', { tt: 1 }), true);
    });
  });
}

test.it('cleanupExpired counts entries that expired without being read', async (t) => {
  const { cache } = openCache(t);
  for (let i = 0; i < 3; i++) cache.putSync({ ce: i }, Buffer.from('x'), { ttl_seconds: 1 });
  const m = cache.getMetadataSync({ ce: 0 });
  const expiresAt = Date.parse(m.expires_at);
  let total = 0;
  await waitFor(() => {
    if (Date.now() < expiresAt) return false;
    total += cache.cleanupExpiredSync();
    return total >= 3;
  }, { what: 'cleanupExpired to remove 3 entries' });
  assert.equal(total, 3);
  assert.equal(cache.statsSync().entries, 0);
});
