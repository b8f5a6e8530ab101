'use strict';
// A cache written by the C example (bindings/c) is read from Node. If the example cannot be
// built or run, this test FAILS: it never skips.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { cacheness, tmpDir } = require('./helpers');

const C_DIR = path.resolve(__dirname, '../../c');

test.it('reads the cache left by the C example', (t) => {
  const make = process.env.MAKE || 'make';
  try {
    execFileSync(make, ['-C', C_DIR, 'example'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 300000 });
  } catch (e) {
    assert.fail(`could not build the C example (make -C ${C_DIR} example): ${e.message}\n${e.stdout || ''}\n${e.stderr || ''}`);
  }
  const dir = tmpDir(t, 'cacheness-c-fixture-');
  let out;
  try {
    out = execFileSync(path.join(C_DIR, 'build/example'), [dir], { encoding: 'utf8', timeout: 120000 });
  } catch (e) {
    assert.fail(`the C example failed: ${e.message}\n${e.stdout || ''}\n${e.stderr || ''}`);
  }
  t.diagnostic(`C example said: ${out.trim().split('\n').join(' | ').slice(0, 500)}`);

  const cache = cacheness.Cache.open({ dir });
  t.after(() => cache.close());
  const greeting = cache.getWithMetadataSync({ example: 'greeting' });
  assert.ok(greeting, 'greeting entry missing');
  assert.equal(greeting.data.toString('utf8'), 'hello, cacheness');
  assert.equal(greeting.data.length, 16);
  assert.equal(greeting.metadata.data_type, 'text');
  assert.deepEqual(greeting.metadata.metadata, { writer: 'c-example' });
  assert.equal(greeting.metadata.expires_at, null);
  assert.equal(greeting.metadata.cache_key, cacheness.key({ example: 'greeting' }));

  const big = cache.getSync({ example: 'big' });
  assert.ok(big, 'big entry missing');
  assert.equal(big.length, 100000);
  for (let i = 0; i < big.length; i++) {
    if (big[i] !== i % 251) assert.fail(`byte ${i} is ${big[i]}, want ${i % 251}`);
  }
  const meta = cache.getMetadataSync({ example: 'big' });
  assert.deepEqual(meta.metadata, { writer: 'c-example' });
  assert.equal(meta.expires_at, null);
  assert.equal(cache.verifySync({ deep: true }).ok, true);
});
