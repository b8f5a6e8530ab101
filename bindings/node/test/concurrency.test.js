'use strict';
// API.md: "Put replaces an existing entry atomically: a reader sees the old value or the new
// one, never a mix or a miss." Checked through the Promise forms, whose C calls run in
// parallel on the libuv pool: one writer replacing entries, six readers, for a bounded time.
const test = require('node:test');
const assert = require('node:assert/strict');
const { cacheness, tmpDir } = require('./helpers');

const { Cache } = cacheness;

async function replaceWhileReading(writer, reader, values, ms) {
  const stats = { writes: 0, reads: 0, misses: 0, mixed: 0, errors: {} };
  for (const [k, v] of values.entries()) writer.putSync({ k }, v[0]);
  const deadline = Date.now() + ms;
  const write = (async () => {
    for (let i = 0; Date.now() < deadline; i++) {
      for (const [k, v] of values.entries()) await writer.put({ k }, v[i % 2]);
      stats.writes++;
    }
  })();
  const readers = Array.from({ length: 6 }, async () => {
    while (Date.now() < deadline) {
      for (const [k, v] of values.entries()) {
        try {
          const got = await reader.get({ k });
          stats.reads++;
          if (got === undefined) stats.misses++;
          else if (!got.equals(v[0]) && !got.equals(v[1])) stats.mixed++;
        } catch (e) {
          const what = `${e.code}: ${e.message}`;
          stats.errors[what] = (stats.errors[what] || 0) + 1;
        }
      }
    }
  });
  await Promise.all([write, ...readers]);
  return stats;
}

const SMALL = [Buffer.alloc(10, 0xaa), Buffer.alloc(15, 0xbb)]; // inline in the database
const LARGE = [Buffer.alloc(100000, 0xaa), Buffer.alloc(150000, 0xbb)]; // blob files

for (const [name, values] of [['small (inline) values', [SMALL]], ['file-backed values', [LARGE, SMALL]]]) {
  for (const handles of ['one handle', 'two handles']) {
    test.it(`concurrent replace and get never miss or fail: ${name}, ${handles}`, async (t) => {
      const dir = tmpDir(t);
      const writer = Cache.open({ dir });
      const reader = handles === 'one handle' ? writer : Cache.open({ dir });
      t.after(() => { writer.close(); reader.close(); });
      const s = await replaceWhileReading(writer, reader, values, 1500);
      t.diagnostic(JSON.stringify(s));
      assert.ok(s.writes > 10 && s.reads > 100, `too little happened: ${JSON.stringify(s)}`);
      assert.deepEqual(s.errors, {}, 'readers got errors');
      assert.equal(s.misses, 0, 'readers saw misses');
      assert.equal(s.mixed, 0, 'readers saw mixed data');
    });
  }
}
