'use strict';
// The addon links: every symbol it needs resolves (bound eagerly, not lazily on first call).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const ADDON = path.resolve(__dirname, '../build/cacheness.node');

test.it('build/cacheness.node exists and loads with every symbol bound at load time', () => {
  assert.ok(fs.existsSync(ADDON), `${ADDON} missing: run make build`);
  const r = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(ADDON)}); console.log(typeof a.callSync, a.version());`], {
    env: { ...process.env, LD_BIND_NOW: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^function \S+/);
});

test.it('the package exports what index.d.ts declares', () => {
  const m = require('..');
  assert.deepEqual(Object.keys(m).sort(), ['Cache', 'CachenessError', 'Store', 'key', 'version']);
  const cacheMethods = ['put', 'get', 'getWithMetadata', 'getMetadata', 'exists', 'delete', 'touch', 'updateData',
    'updateMetadata', 'copy', 'move', 'list', 'deleteWhere', 'touchWhere', 'updateMetadataWhere', 'getBatch',
    'putBatch', 'deleteBatch', 'cleanupExpired', 'clear', 'stats', 'verify', 'repair', 'findOrphans',
    'cleanupOrphans', 'export', 'import', 'exportJson', 'importJson'];
  for (const name of cacheMethods) {
    assert.equal(typeof m.Cache.prototype[name], 'function', name);
    assert.equal(typeof m.Cache.prototype[`${name}Sync`], 'function', `${name}Sync`);
  }
  assert.equal(typeof m.Cache.prototype.deleteMatchingSync, 'function');
  const storeMethods = ['put', 'get', 'getMetadata', 'updateMetadata', 'updateData', 'exists', 'delete', 'touch',
    'list', 'deleteByPrefix', 'copy', 'move', 'clear'];
  for (const name of storeMethods) {
    assert.equal(typeof m.Store.prototype[name], 'function', name);
    assert.equal(typeof m.Store.prototype[`${name}Sync`], 'function', `${name}Sync`);
  }
  const dts = fs.readFileSync(path.resolve(__dirname, '../index.d.ts'), 'utf8');
  for (const name of [...cacheMethods, ...storeMethods]) {
    assert.match(dts, new RegExp(`\\b${name}\\(`), name);
    assert.match(dts, new RegExp(`\\b${name}Sync\\(`), `${name}Sync`);
  }
});
