'use strict';
// Every Cache method, in both forms (Promise and *Sync).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { cacheness, openCache, tmpDir, FORMS, rejectsWithCode, HEX64 } = require('./helpers');

const { Cache } = cacheness;

for (const form of FORMS) {
  const call = form.call;

  test.describe(`Cache (${form.name})`, () => {
    test.it('put returns the key; get returns the bytes; a miss is undefined', async (t) => {
      const { cache } = openCache(t);
      const params = { experiment: 'exp_001', form: form.name };
      const k = await call(cache, 'put', params, Buffer.from('hello'));
      assert.match(k, HEX64);
      assert.equal(k, cacheness.key(params));
      const got = await call(cache, 'get', params);
      assert.ok(Buffer.isBuffer(got));
      assert.equal(got.toString(), 'hello');
      // The same entry by key and by params JSON text.
      assert.equal((await call(cache, 'get', k)).toString(), 'hello');
      assert.equal((await call(cache, 'get', JSON.stringify(params))).toString(), 'hello');
      assert.equal(await call(cache, 'get', { experiment: 'missing' }), undefined);
      assert.equal(await call(cache, 'get', 'f'.repeat(64)), undefined);
    });

    test.it('put accepts Buffer, Uint8Array, DataView, ArrayBuffer, strings and empty data', async (t) => {
      const { cache } = openCache(t);
      const ab = new Uint8Array([9, 8, 7, 6]).buffer;
      const cases = [
        [{ v: 'buf' }, Buffer.from([1, 2, 3]), [1, 2, 3]],
        [{ v: 'u8' }, new Uint8Array([4, 5]), [4, 5]],
        [{ v: 'sub' }, new Uint8Array(ab, 1, 2), [8, 7]],
        [{ v: 'dv' }, new DataView(ab, 2, 2), [7, 6]],
        [{ v: 'ab' }, ab, [9, 8, 7, 6]],
        [{ v: 'str' }, 'hé', [...Buffer.from('hé')]],
        [{ v: 'empty' }, Buffer.alloc(0), []],
      ];
      for (const [params, data, want] of cases) {
        await call(cache, 'put', params, data);
        const got = await call(cache, 'get', params);
        assert.ok(Buffer.isBuffer(got), JSON.stringify(params));
        assert.deepEqual([...got], want, JSON.stringify(params));
      }
    });

    test.it('large values round-trip (zero-copy result path)', async (t) => {
      const { cache } = openCache(t);
      const big = Buffer.alloc(3 * 1024 * 1024 + 7);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      await call(cache, 'put', { big: true }, big);
      const got = await call(cache, 'get', { big: true });
      assert.equal(got.length, big.length);
      assert.ok(got.equals(big));
    });

    test.it('put options: data_type, description, metadata, ttl_seconds', async (t) => {
      const { cache } = openCache(t);
      const params = { p: 1 };
      await call(cache, 'put', params, Buffer.from('x'), {
        data_type: 'text', description: 'a thing', metadata: { project: 'ml' }, ttl_seconds: 3600,
      });
      const m = await call(cache, 'getMetadata', params);
      assert.equal(m.data_type, 'text');
      assert.equal(m.description, 'a thing');
      assert.deepEqual(m.metadata, { project: 'ml' });
      assert.equal(typeof m.expires_at, 'string');
      const left = Date.parse(m.expires_at) - Date.now();
      assert.ok(left > 3500 * 1000 && left <= 3600 * 1000 + 5000, `expires in ${left} ms`);
    });

    test.it('getWithMetadata returns {data, metadata}; a miss is undefined', async (t) => {
      const { cache } = openCache(t);
      const params = { gwm: form.name };
      const k = await call(cache, 'put', params, Buffer.from('payload'), { metadata: { a: 1 } });
      const r = await call(cache, 'getWithMetadata', params);
      assert.ok(Buffer.isBuffer(r.data));
      assert.equal(r.data.toString(), 'payload');
      assert.equal(r.metadata.cache_key, k);
      assert.deepEqual(r.metadata.params, params);
      assert.deepEqual(r.metadata.metadata, { a: 1 });
      assert.equal(r.metadata.size, 7);
      assert.equal(await call(cache, 'getWithMetadata', { gwm: 'missing' }), undefined);
    });

    test.it('getMetadata has the documented shape; a miss is undefined', async (t) => {
      const { cache } = openCache(t);
      const params = { experiment: 'exp_001' };
      const k = await call(cache, 'put', params, Buffer.alloc(1024, 1), { metadata: { project: 'ml' } });
      const m = await call(cache, 'getMetadata', k);
      assert.equal(m.cache_key, k);
      assert.deepEqual(m.params, params);
      assert.equal(m.data_type, 'bytes');
      assert.equal(m.description, '');
      assert.equal(m.size, 1024);
      assert.match(m.content_hash, /^sha256:[0-9a-f]{64}$/);
      assert.equal(m.version, 1);
      for (const f of ['created_at', 'accessed_at']) {
        assert.match(m[f], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, f);
      }
      assert.equal(typeof m.access_count, 'number');
      assert.equal(m.expires_at, null);
      assert.deepEqual(m.metadata, { project: 'ml' });
      assert.equal(await call(cache, 'getMetadata', { experiment: 'nope' }), undefined);
    });

    test.it('exists and delete report presence', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { e: 1 }, Buffer.from('x'));
      assert.equal(await call(cache, 'exists', { e: 1 }), true);
      assert.equal(await call(cache, 'exists', { e: 2 }), false);
      assert.equal(await call(cache, 'delete', { e: 1 }), true);
      assert.equal(await call(cache, 'delete', { e: 1 }), false);
      assert.equal(await call(cache, 'exists', { e: 1 }), false);
      assert.equal(await call(cache, 'get', { e: 1 }), undefined);
    });

    test.it('touch sets a new expiry and leaves data alone; a miss is false', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { t: 1 }, Buffer.from('x'));
      assert.equal((await call(cache, 'getMetadata', { t: 1 })).expires_at, null);
      assert.equal(await call(cache, 'touch', { t: 1 }, { ttl_seconds: 600 }), true);
      const m = await call(cache, 'getMetadata', { t: 1 });
      assert.equal(typeof m.expires_at, 'string');
      assert.equal(m.version, 1);
      assert.equal(await call(cache, 'touch', { t: 1 }, { ttl_seconds: null }), true);
      assert.equal((await call(cache, 'getMetadata', { t: 1 })).expires_at, null);
      assert.equal(await call(cache, 'touch', { t: 1 }), true);
      assert.equal(await call(cache, 'touch', { t: 2 }), false);
      assert.equal((await call(cache, 'get', { t: 1 })).toString(), 'x');
    });

    test.it('updateData replaces data, bumps version, honours expected_version', async (t) => {
      const { cache } = openCache(t);
      const k = await call(cache, 'put', { u: 1 }, Buffer.from('one'));
      assert.equal(await call(cache, 'updateData', { u: 1 }, Buffer.from('two!')), true);
      let m = await call(cache, 'getMetadata', k);
      assert.equal(m.version, 2);
      assert.equal(m.size, 4);
      assert.equal(m.cache_key, k);
      assert.equal((await call(cache, 'get', k)).toString(), 'two!');
      await rejectsWithCode(assert, call(cache, 'updateData', k, Buffer.from('three'), { expected_version: 1 }), 'CONFLICT');
      assert.equal((await call(cache, 'get', k)).toString(), 'two!');
      assert.equal(await call(cache, 'updateData', k, Buffer.from('three'), { expected_version: 2, data_type: 'text' }), true);
      m = await call(cache, 'getMetadata', k);
      assert.equal(m.version, 3);
      assert.equal(m.data_type, 'text');
      assert.equal(await call(cache, 'updateData', { u: 'missing' }, Buffer.from('x')), false);
      assert.equal(await call(cache, 'exists', { u: 'missing' }), false);
    });

    test.it('updateMetadata applies a merge patch; a miss is false', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { m: 1 }, Buffer.from('x'), { metadata: { a: 1, b: 2 } });
      assert.equal(await call(cache, 'updateMetadata', { m: 1 }, { b: null, c: { d: 3 } }), true);
      const m = await call(cache, 'getMetadata', { m: 1 });
      assert.deepEqual(m.metadata, { a: 1, c: { d: 3 } });
      assert.equal(m.version, 2);
      assert.equal(await call(cache, 'updateMetadata', { m: 2 }, { a: 1 }), false);
    });

    test.it('copy: new key, same data; EXISTS unless overwrite; metadata patch; missing source', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { c: 'src' }, Buffer.from('data'), { data_type: 'text', metadata: { x: 1 } });
      assert.equal(await call(cache, 'copy', { c: 'src' }, { c: 'dst' }, { metadata: { y: 2 } }), true);
      assert.equal((await call(cache, 'get', { c: 'dst' })).toString(), 'data');
      const m = await call(cache, 'getMetadata', { c: 'dst' });
      assert.equal(m.data_type, 'text');
      assert.deepEqual(m.metadata, { x: 1, y: 2 });
      assert.deepEqual(m.params, { c: 'dst' });
      assert.equal(await call(cache, 'exists', { c: 'src' }), true);
      await rejectsWithCode(assert, call(cache, 'copy', { c: 'src' }, { c: 'dst' }), 'EXISTS');
      await call(cache, 'updateData', { c: 'src' }, Buffer.from('newer'));
      assert.equal(await call(cache, 'copy', { c: 'src' }, { c: 'dst' }, { overwrite: true }), true);
      assert.equal((await call(cache, 'get', { c: 'dst' })).toString(), 'newer');
      assert.equal(await call(cache, 'copy', { c: 'none' }, { c: 'dst2' }), false);
      assert.equal(await call(cache, 'exists', { c: 'dst2' }), false);
    });

    test.it('move: exactly one of source and destination remains', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { mv: 'a' }, Buffer.from('A'));
      await call(cache, 'put', { mv: 'b' }, Buffer.from('B'));
      assert.equal(await call(cache, 'move', { mv: 'a' }, { mv: 'c' }), true);
      assert.equal(await call(cache, 'exists', { mv: 'a' }), false);
      assert.equal((await call(cache, 'get', { mv: 'c' })).toString(), 'A');
      await rejectsWithCode(assert, call(cache, 'move', { mv: 'c' }, { mv: 'b' }), 'EXISTS');
      assert.equal(await call(cache, 'exists', { mv: 'c' }), true);
      assert.equal(await call(cache, 'move', { mv: 'c' }, { mv: 'b' }, { overwrite: true }), true);
      assert.equal((await call(cache, 'get', { mv: 'b' })).toString(), 'A');
      assert.equal(await call(cache, 'exists', { mv: 'c' }), false);
      assert.equal(await call(cache, 'move', { mv: 'none' }, { mv: 'x' }), false);
    });

    test.it('list pages through entries and applies filters', async (t) => {
      const { cache } = openCache(t);
      for (let i = 0; i < 5; i++) await call(cache, 'put', { exp: `exp_${i}` }, Buffer.from([i]));
      await call(cache, 'put', { exp: 'other' }, Buffer.from('o'), { data_type: 'text' });
      const all = await call(cache, 'list');
      assert.equal(all.entries.length, 6);
      assert.equal(all.next_cursor, null);
      const seen = [];
      let cursor;
      let pages = 0;
      do {
        const page = await call(cache, 'list', {}, cursor ? { limit: 2, cursor } : { limit: 2 });
        assert.ok(page.entries.length <= 2);
        seen.push(...page.entries.map((e) => e.params.exp));
        cursor = page.next_cursor;
        pages++;
      } while (cursor && pages < 10);
      assert.deepEqual(seen.sort(), ['exp_0', 'exp_1', 'exp_2', 'exp_3', 'exp_4', 'other']);
      const filtered = await call(cache, 'list', { params: { exp: { $prefix: 'exp_' } } }, { order: 'key' });
      assert.equal(filtered.entries.length, 5);
      const keys = filtered.entries.map((e) => e.cache_key);
      assert.deepEqual(keys, [...keys].sort());
      assert.equal((await call(cache, 'list', { data_type: 'text' })).entries.length, 1);
      await rejectsWithCode(assert, call(cache, 'list', { no_such_field: 1 }), 'INVALID_ARGUMENT');
    });

    test.it('deleteWhere deletes what the filter selects and counts it', async (t) => {
      const { cache } = openCache(t);
      for (let i = 0; i < 4; i++) await call(cache, 'put', { exp: `exp_${i}` }, Buffer.from('x'));
      await call(cache, 'put', { exp: 'keep' }, Buffer.from('x'));
      assert.equal(await call(cache, 'deleteWhere', { params: { exp: { $glob: 'exp_*' } } }), 4);
      assert.equal(await call(cache, 'exists', { exp: 'keep' }), true);
      await rejectsWithCode(assert, call(cache, 'deleteWhere', { params: { exp: { $typo: 1 } } }), 'INVALID_ARGUMENT');
      assert.equal(await call(cache, 'exists', { exp: 'keep' }), true);
      assert.equal(await call(cache, 'deleteWhere', {}), 1);
    });

    test.it('touchWhere updates every selected entry', async (t) => {
      const { cache } = openCache(t);
      for (let i = 0; i < 3; i++) await call(cache, 'put', { tw: i }, Buffer.from('x'), { metadata: { group: i < 2 ? 'a' : 'b' } });
      assert.equal(await call(cache, 'touchWhere', { metadata: { group: 'a' } }, { ttl_seconds: 900 }), 2);
      assert.equal(typeof (await call(cache, 'getMetadata', { tw: 0 })).expires_at, 'string');
      assert.equal((await call(cache, 'getMetadata', { tw: 2 })).expires_at, null);
    });

    test.it('updateMetadataWhere patches every selected entry', async (t) => {
      const { cache } = openCache(t);
      for (let i = 0; i < 3; i++) await call(cache, 'put', { uw: i }, Buffer.from('x'), { metadata: { group: i < 2 ? 'a' : 'b' } });
      assert.equal(await call(cache, 'updateMetadataWhere', { metadata: { group: { $in: ['a'] } } }, { done: true }), 2);
      assert.deepEqual((await call(cache, 'getMetadata', { uw: 1 })).metadata, { group: 'a', done: true });
      assert.deepEqual((await call(cache, 'getMetadata', { uw: 2 })).metadata, { group: 'b' });
    });

    test.it('getBatch returns one item per selector, in order, undefined for misses', async (t) => {
      const { cache } = openCache(t);
      const k1 = await call(cache, 'put', { gb: 1 }, Buffer.from('one'));
      await call(cache, 'put', { gb: 2 }, Buffer.from('two'));
      await call(cache, 'put', { gb: 3 }, Buffer.alloc(0));
      const r = await call(cache, 'getBatch', [{ gb: 2 }, { gb: 'missing' }, k1, JSON.stringify({ gb: 1 }), { gb: 3 }]);
      assert.equal(r.length, 5);
      assert.equal(r[0].toString(), 'two');
      assert.equal(r[1], undefined);
      assert.equal(r[2].toString(), 'one');
      assert.equal(r[3].toString(), 'one');
      assert.ok(Buffer.isBuffer(r[4]));
      assert.equal(r[4].length, 0);
      assert.deepEqual(await call(cache, 'getBatch', []), []);
    });

    test.it('putBatch writes all items or none', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'putBatch', [
        { params: { pb: 1 }, data: Buffer.from('a') },
        { params: { pb: 2 }, data: 'b', options: { data_type: 'text', metadata: { n: 2 } } },
      ]);
      assert.equal((await call(cache, 'get', { pb: 1 })).toString(), 'a');
      assert.equal((await call(cache, 'getMetadata', { pb: 2 })).data_type, 'text');
      await rejectsWithCode(assert, call(cache, 'putBatch', [
        { params: { pb: 3 }, data: Buffer.from('c') },
        { params: { pb: 4 }, data: Buffer.from('d'), options: { ttl_seconds: -1 } },
      ]), 'INVALID_ARGUMENT');
      assert.equal(await call(cache, 'exists', { pb: 3 }), false);
      assert.equal(await call(cache, 'exists', { pb: 4 }), false);
    });

    test.it('deleteBatch counts only entries that existed', async (t) => {
      const { cache } = openCache(t);
      const k = await call(cache, 'put', { db: 1 }, Buffer.from('a'));
      await call(cache, 'put', { db: 2 }, Buffer.from('b'));
      assert.equal(await call(cache, 'deleteBatch', [k, { db: 2 }, { db: 3 }]), 2);
      assert.equal(await call(cache, 'exists', { db: 1 }), false);
      assert.equal(await call(cache, 'deleteBatch', []), 0);
    });

    test.it('cleanupExpired and clear return counts', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { cl: 1 }, Buffer.from('a'));
      await call(cache, 'put', { cl: 2 }, Buffer.from('b'));
      assert.equal(await call(cache, 'cleanupExpired'), 0);
      assert.equal(await call(cache, 'clear'), 2);
      assert.equal(await call(cache, 'exists', { cl: 1 }), false);
      assert.equal(await call(cache, 'clear'), 0);
    });

    test.it('clear removes only this cache\'s files', async (t) => {
      const { cache, dir } = openCache(t);
      const mine = path.join(dir, 'not-a-cache-file.txt');
      fs.writeFileSync(mine, 'keep me');
      await call(cache, 'put', { big: 1 }, Buffer.alloc(200000, 3));
      await call(cache, 'clear');
      assert.equal(fs.readFileSync(mine, 'utf8'), 'keep me');
    });

    test.it('stats counts entries, hits and misses', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { s: 1 }, Buffer.alloc(10));
      await call(cache, 'get', { s: 1 });
      await call(cache, 'get', { s: 1 });
      await call(cache, 'get', { s: 2 });
      const s = await call(cache, 'stats');
      assert.equal(s.entries, 1);
      assert.equal(s.total_size, 10);
      assert.equal(s.hits, 2);
      assert.equal(s.misses, 1);
      for (const f of ['evictions', 'expired_removed']) assert.equal(typeof s[f], 'number', f);
      assert.equal(s.metadata_backend, 'sqlite');
      assert.equal(typeof s.blob_backend, 'string');
      assert.equal(s.namespace, 'default');
    });

    test.it('verify, repair, findOrphans, cleanupOrphans on a healthy cache', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { v: 1 }, Buffer.alloc(100000, 5));
      await call(cache, 'put', { v: 2 }, Buffer.from('small'));
      const v = await call(cache, 'verify');
      assert.equal(v.ok, true);
      assert.equal(v.checked, 2);
      assert.deepEqual(v.issues, []);
      const deep = await call(cache, 'verify', { deep: true });
      assert.equal(deep.ok, true);
      const dry = await call(cache, 'repair', { dry_run: true });
      assert.equal(dry.dry_run, true);
      assert.equal(dry.ok, true);
      assert.deepEqual(dry.issues, []);
      const rep = await call(cache, 'repair');
      assert.equal(rep.dry_run, false);
      assert.equal(rep.removed_entries, 0);
      assert.equal(rep.removed_files, 0);
      assert.deepEqual(await call(cache, 'findOrphans'), { count: 0, total_size: 0, orphans: [] });
      assert.equal(await call(cache, 'cleanupOrphans'), 0);
      assert.equal((await call(cache, 'get', { v: 1 })).length, 100000);
    });

    test.it('findOrphans lists a blob file no entry refers to; cleanupOrphans removes it', async (t) => {
      const { cache, dir } = openCache(t);
      const data = Buffer.alloc(100000, 0x5a);
      await call(cache, 'put', { orphan: 1 }, data);
      const files = require('./helpers').filesWithContent(dir, data);
      assert.equal(files.length, 1);
      // Blob files are named <64 hex>.<16 hex nonce>: a second nonce is a file no record names.
      const base = path.basename(files[0]);
      assert.match(base, /^[0-9a-f]{64}\.[0-9a-f]{16}$/);
      const orphanPath = path.join(path.dirname(files[0]), `${base.slice(0, 65)}${base[65] === '0' ? '1' : '0'}${base.slice(66)}`);
      fs.copyFileSync(files[0], orphanPath);
      const found = await call(cache, 'findOrphans');
      assert.equal(found.count, 1, JSON.stringify(found));
      assert.equal(found.total_size, data.length);
      assert.equal(found.orphans[0].size, data.length);
      assert.equal(found.orphans[0].temporary, false);
      assert.equal(typeof found.orphans[0].path, 'string');
      assert.equal(await call(cache, 'cleanupOrphans'), 1);
      assert.equal(fs.existsSync(orphanPath), false);
      assert.equal(fs.existsSync(files[0]), true);
      assert.ok((await call(cache, 'get', { orphan: 1 })).equals(data));
    });

    test.it('verify reports a missing blob; repair drops the entry', async (t) => {
      const { cache, dir } = openCache(t);
      const data = Buffer.alloc(150000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
      const k = await call(cache, 'put', { broken: 1 }, data);
      await call(cache, 'put', { fine: 1 }, Buffer.alloc(150000, 1));
      const { filesWithContent } = require('./helpers');
      const files = filesWithContent(dir, data);
      assert.equal(files.length, 1, `expected the blob file of ${k} in ${dir}`);
      fs.rmSync(files[0]);
      const v = await call(cache, 'verify');
      assert.equal(v.ok, false);
      assert.ok(v.issues.some((i) => i.issue === 'missing_file' && (i.cache_key === k || i.key === k)), JSON.stringify(v));
      await call(cache, 'repair');
      assert.equal(await call(cache, 'exists', k), false);
      assert.equal(await call(cache, 'exists', { fine: 1 }), true);
      assert.equal((await call(cache, 'verify')).ok, true);
    });

    test.it('export to a tar.gz and import into another cache', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { ex: 1 }, Buffer.from('one'), { metadata: { m: 1 } });
      await call(cache, 'put', { ex: 2 }, Buffer.alloc(120000, 2));
      await call(cache, 'put', { other: 1 }, Buffer.from('o'));
      const out = path.join(tmpDir(t), 'export.tar.gz');
      assert.equal(await call(cache, 'export', out), 3);
      assert.ok(fs.statSync(out).size > 0);
      const plain = path.join(tmpDir(t), 'export.tar');
      assert.equal(await call(cache, 'export', plain, { compress: false, filter: { params: { ex: { $exists: true } } } }), 2);
      const { cache: other } = openCache(t);
      assert.equal(await call(other, 'import', out), 3);
      assert.equal((await call(other, 'get', { ex: 1 })).toString(), 'one');
      assert.deepEqual((await call(other, 'getMetadata', { ex: 1 })).metadata, { m: 1 });
      assert.equal((await call(other, 'get', { ex: 2 })).length, 120000);
      // Existing entries are kept unless overwrite.
      await call(other, 'updateData', { ex: 1 }, Buffer.from('changed'));
      assert.equal(await call(other, 'import', plain), 0);
      assert.equal((await call(other, 'get', { ex: 1 })).toString(), 'changed');
      assert.equal(await call(other, 'import', plain, { overwrite: true }), 2);
      assert.equal((await call(other, 'get', { ex: 1 })).toString(), 'one');
    });

    test.it('exportJson returns a parsed document that importJson reads back', async (t) => {
      const { cache } = openCache(t);
      await call(cache, 'put', { ej: 1 }, Buffer.from([0, 1, 2, 255]), { metadata: { z: true } });
      await call(cache, 'put', { ej: 2 }, Buffer.from('two'));
      const doc = await call(cache, 'exportJson');
      assert.equal(typeof doc, 'object');
      const only1 = await call(cache, 'exportJson', { filter: { params: { ej: 1 } } });
      const { cache: other } = openCache(t);
      assert.equal(await call(other, 'importJson', doc), 2);
      assert.deepEqual([...(await call(other, 'get', { ej: 1 }))], [0, 1, 2, 255]);
      assert.deepEqual((await call(other, 'getMetadata', { ej: 1 })).metadata, { z: true });
      const { cache: third } = openCache(t);
      assert.equal(await call(third, 'importJson', JSON.stringify(only1)), 1);
      assert.equal(await call(third, 'exists', { ej: 2 }), false);
      await rejectsWithCode(assert, call(third, 'importJson', { not: 'an export' }), 'INVALID_ARGUMENT');
    });
  });
}

test.describe('Cache (sync only)', () => {
  test.it('deleteMatchingSync deletes entries the JS predicate selects', (t) => {
    const { cache } = openCache(t);
    for (let i = 0; i < 6; i++) cache.putSync({ dm: i }, Buffer.from('x'), { metadata: { score: i } });
    cache.putSync({ other: 1 }, Buffer.from('x'), { metadata: { score: 100 } });
    const seen = [];
    const n = cache.deleteMatchingSync({ params: { dm: { $exists: true } } }, (entry) => {
      seen.push(entry.params.dm);
      assert.match(entry.cache_key, HEX64);
      return entry.metadata.score % 2 === 0;
    });
    assert.equal(n, 3);
    assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4, 5]);
    for (let i = 0; i < 6; i++) assert.equal(cache.existsSync({ dm: i }), i % 2 === 1);
    // null filter: every entry is offered.
    let offered = 0;
    assert.equal(cache.deleteMatchingSync(null, () => { offered++; return false; }), 0);
    assert.equal(offered, 4);
    assert.equal(cache.deleteMatchingSync(undefined, (e) => e.params.other === 1), 1);
    assert.equal(cache.existsSync({ other: 1 }), false);
  });

  test.it('deleteMatchingSync: a throwing predicate stops the call and its error propagates', (t) => {
    const { cache } = openCache(t);
    for (let i = 0; i < 5; i++) cache.putSync({ th: i }, Buffer.from('x'));
    let calls = 0;
    const boom = new Error('boom');
    assert.throws(() => cache.deleteMatchingSync({}, () => { calls++; throw boom; }), (e) => e === boom);
    assert.equal(calls, 1);
    assert.equal(cache.listSync().entries.length, 5);
    // The handle is still usable afterwards.
    assert.equal(cache.getSync({ th: 0 }).toString(), 'x');
  });

  test.it('deleteMatchingSync: the predicate may read the same cache and may close it', (t) => {
    // In a child process with a time limit: a library that held a lock around the predicate
    // would deadlock here, and that must fail the test, not hang the suite.
    const dir = tmpDir(t);
    const script = `
      const { Cache } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
      const cache = Cache.open({ dir: ${JSON.stringify(dir)} });
      for (let i = 0; i < 4; i++) cache.putSync({ r: i }, Buffer.from(i % 2 ? 'odd' : 'even'));
      const n = cache.deleteMatchingSync({}, (e) => cache.getSync(e.cache_key).toString() === 'odd');
      if (n !== 2 || cache.existsSync({ r: 1 }) || !cache.existsSync({ r: 0 })) { console.error('bad', n); process.exit(3); }
      // close() inside the predicate is deferred until the C call returns.
      const m = cache.deleteMatchingSync({}, () => { cache.close(); return true; });
      if (typeof m !== 'number' || cache.isOpen) process.exit(4);
      try { cache.getSync({ r: 0 }); process.exit(5); } catch (e) { if (e.code !== 'INVALID_ARGUMENT') process.exit(6); }
      console.log('ok');
    `;
    const r = require('node:child_process').spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /ok/);
  });

  test.it('deleteMatchingSync rejects a non-function predicate', (t) => {
    const { cache } = openCache(t);
    assert.throws(() => cache.deleteMatchingSync({}, 'nope'), (e) => e instanceof cacheness.CachenessError && e.code === 'INVALID_ARGUMENT');
  });

  test.it('Cache.open with memory backends needs no dir', () => {
    const cache = Cache.open({ metadata: 'memory', blobs: 'memory' });
    try {
      cache.putSync({ mem: 1 }, Buffer.from('m'));
      assert.equal(cache.getSync({ mem: 1 }).toString(), 'm');
      assert.equal(cache.statsSync().metadata_backend, 'memory');
    } finally {
      cache.close();
    }
  });

  test.it('Cache.open accepts a JSON string; the constructor is private; close is idempotent', (t) => {
    const dir = tmpDir(t);
    const cache = Cache.open(JSON.stringify({ dir }));
    assert.equal(cache.isOpen, true);
    cache.close();
    cache.close();
    assert.equal(cache.isOpen, false);
    assert.throws(() => new Cache(), TypeError);
  });

  test.it('two handles on one directory see each other\'s writes; namespaces are separate', (t) => {
    const dir = tmpDir(t);
    const a = Cache.open({ dir });
    const b = Cache.open({ dir });
    const c = Cache.open({ dir, namespace: 'other' });
    t.after(() => { a.close(); b.close(); c.close(); });
    a.putSync({ shared: 1 }, Buffer.from('from a'));
    assert.equal(b.getSync({ shared: 1 }).toString(), 'from a');
    assert.equal(c.getSync({ shared: 1 }), undefined);
  });

  test.it('key() matches the shared test vectors', () => {
    const vectors = loadVectors();
    for (const c of vectors.cases) assert.equal(cacheness.key(c.params), c.key, c.params);
    for (const e of vectors.errors) {
      assert.throws(() => cacheness.key(e.params), (err) => err instanceof cacheness.CachenessError && err.code === 'INVALID_ARGUMENT', e.why);
    }
    assert.equal(cacheness.key({ b: 'x', a: 1 }), cacheness.key({ a: 1, b: 'x' }));
  });

  test.it('version() is a string', () => {
    assert.equal(typeof cacheness.version(), 'string');
    assert.ok(cacheness.version().length > 0);
  });
});

function loadVectors() {
  const candidates = [
    process.env.CACHENESS_SHARED && path.join(process.env.CACHENESS_SHARED, 'vectors/cache_keys.json'),
    path.resolve(__dirname, '../../../../shared/vectors/cache_keys.json'),
    path.resolve(__dirname, '../../../shared/vectors/cache_keys.json'),
  ].filter(Boolean);
  for (const p of candidates) {
    if (fs.existsSync(p)) return JSON.parse(fs.readFileSync(p, 'utf8'));
  }
  throw new Error(`shared/vectors/cache_keys.json not found (tried ${candidates.join(', ')})`);
}
