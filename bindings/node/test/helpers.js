'use strict';
// Shared helpers for the node:test suites.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const cacheness = require('..');

/** A fresh temporary directory, removed after the test. */
function tmpDir(t, prefix = 'cacheness-node-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A cache on disk (SQLite + files) in a fresh directory, closed after the test. */
function openCache(t, extra = {}) {
  const dir = tmpDir(t);
  const cache = cacheness.Cache.open({ dir, ...extra });
  t.after(() => cache.close());
  return { cache, dir };
}

function openStore(t, extra = {}) {
  const dir = tmpDir(t);
  const store = cacheness.Store.open({ dir, ...extra });
  t.after(() => store.close());
  return { store, dir };
}

/**
 * The two forms of every method, for tests that run once per form. `call(obj, name, ...args)`
 * calls `obj[name]` (Promise form) or `obj[name + 'Sync']` (sync form) and always returns a
 * Promise, checking that the form returned what it should (a Promise or a plain value).
 */
const FORMS = [
  {
    name: 'async',
    call(obj, method, ...args) {
      const fn = obj[method];
      if (typeof fn !== 'function') throw new Error(`missing method ${method}`);
      const r = fn.apply(obj, args);
      if (!(r instanceof Promise)) throw new Error(`${method} did not return a Promise`);
      return r;
    },
  },
  {
    name: 'sync',
    call(obj, method, ...args) {
      const fn = obj[`${method}Sync`];
      if (typeof fn !== 'function') return Promise.reject(new Error(`missing method ${method}Sync`));
      try {
        const r = fn.apply(obj, args);
        if (r instanceof Promise) throw new Error(`${method}Sync returned a Promise`);
        return Promise.resolve(r);
      } catch (e) {
        return Promise.reject(e);
      }
    },
  },
];

/** Poll `check` (sync or async) until it returns a truthy value, or fail at the deadline. */
async function waitFor(check, { timeoutMs = 15000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Assert that `p` rejects (or, for a function, throws or rejects) with a CachenessError of `code`. */
async function rejectsWithCode(assert, p, code) {
  let err;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected a CachenessError ${code}, got success`);
  assert.ok(err instanceof cacheness.CachenessError, `expected a CachenessError, got ${err && err.stack}`);
  assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
  return err;
}

/** Find files under dir (recursively) whose content equals `data`. */
function filesWithContent(dir, data) {
  const out = [];
  const walk = (d) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile() && fs.statSync(p).size === data.length && fs.readFileSync(p).equals(data)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

const HEX64 = /^[0-9a-f]{64}$/;

module.exports = { cacheness, tmpDir, openCache, openStore, FORMS, waitFor, rejectsWithCode, filesWithContent, HEX64 };
