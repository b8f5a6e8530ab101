'use strict';
// Node.js binding of cacheness: a persistent, TTL-aware cache (Cache) and a named-key blob
// store (Store) over the cacheness C ABI.
//
// Every operation has two forms:
//   cache.get(sel)      -> Promise; the C call runs on the libuv thread pool
//   cache.getSync(sel)  -> value;   the C call runs on the calling thread
// A miss (missing or expired entry) gives `undefined`, never an error. Errors are
// CachenessError instances with a `code` ('NOT_FOUND', 'INVALID_ARGUMENT', 'EXISTS',
// 'CONFLICT', 'CORRUPT', 'IO', 'BACKEND', 'BUSY', 'TOO_LARGE', 'PANIC') and the C message.
//
// Params, selectors, metadata, filters and options are plain objects, passed to C as JSON
// with the C contract's own (snake_case) names; JSON that comes back is returned parsed.

const { Buffer } = require('node:buffer'); // a module binding: the global is behind a getter
const native = require('./build/cacheness.node');

const ops = native.ops;
const HANDLE = Symbol('cacheness.handle');
const CONSTRUCT = Symbol('cacheness.construct');

class CachenessError extends Error {
  /**
   * @param {string} message the library's message
   * @param {string} code one of CachenessError.codes
   */
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}
Object.defineProperty(CachenessError.prototype, 'name', {
  value: 'CachenessError',
  writable: true,
  configurable: true,
  enumerable: false,
});
CachenessError.codes = Object.freeze([
  'NOT_FOUND', 'INVALID_ARGUMENT', 'EXISTS', 'CONFLICT', 'CORRUPT', 'IO', 'BACKEND', 'BUSY',
  'TOO_LARGE', 'PANIC',
]);
native.setErrorClass(CachenessError);

function invalid(message) {
  return new CachenessError(message, 'INVALID_ARGUMENT');
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function stringify(value, what) {
  let s;
  try {
    s = JSON.stringify(value);
  } catch (e) {
    throw invalid(`${what} cannot be encoded as JSON: ${e && e.message}`);
  }
  if (typeof s !== 'string') throw invalid(`${what} cannot be encoded as JSON`);
  return s;
}

// A JSON object argument: an object, or a string that already holds JSON text.
function jsonObject(value, what) {
  if (typeof value === 'string') return value;
  if (!isPlainObject(value)) throw invalid(`${what} must be an object`);
  return stringify(value, what);
}

// Optional JSON object: undefined/null mean "defaults" (NULL in C).
function optJson(value, what) {
  if (value === undefined || value === null) return null;
  return jsonObject(value, what);
}

// A selector: a params object, or a string (64-hex key or params JSON text).
function selector(value) {
  if (typeof value === 'string') return value;
  if (isPlainObject(value)) return stringify(value, 'selector');
  throw invalid('selector must be a params object or a key string');
}

function selectorList(values) {
  if (!Array.isArray(values)) throw invalid('selectors must be an array');
  // Params objects (or params JSON text) go in as JSON objects, keys as JSON strings.
  const parts = values.map((v) => {
    const s = selector(v);
    return typeof v === 'string' && !s.startsWith('{') ? JSON.stringify(s) : s;
  });
  return `[${parts.join(',')}]`;
}

function str(value, what) {
  if (typeof value !== 'string') throw invalid(`${what} must be a string`);
  return value;
}

function optStr(value, what) {
  if (value === undefined || value === null) return null;
  return str(value, what);
}

function bytes(value) {
  if (value instanceof Uint8Array || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof SharedArrayBuffer !== 'undefined' && value instanceof SharedArrayBuffer) return new Uint8Array(value);
  throw invalid('data must be a Buffer, TypedArray, DataView, ArrayBuffer or string');
}

function bool(value, what) {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalid(`${what} must be a boolean`);
  return value;
}

function copyOptions(options) {
  if (options === undefined || options === null) return false;
  if (!isPlainObject(options)) throw invalid('options must be an object');
  for (const k of Object.keys(options)) {
    if (k !== 'overwrite') throw invalid(`unknown option "${k}"`);
  }
  return bool(options.overwrite, 'overwrite');
}

function parse(s) {
  return s === undefined || s === null ? s : JSON.parse(s);
}

function parseWithMetadata(r) {
  return r === undefined ? undefined : { data: r[0], metadata: JSON.parse(r[1]) };
}

function putItems(items) {
  if (!Array.isArray(items)) throw invalid('items must be an array');
  return items.map((item, i) => {
    if (!isPlainObject(item)) throw invalid(`items[${i}] must be an object {params, data, options}`);
    return [jsonObject(item.params, `items[${i}].params`), bytes(item.data), optJson(item.options, `items[${i}].options`)];
  });
}

// Method table: name -> [op, argument mapper (returns the native arguments: strings, then
// data, then flag), result mapper or null]. Both forms share it.
const CACHE_METHODS = {
  put: [ops.put, (params, data, options) => [jsonObject(params, 'params'), optJson(options, 'options'), bytes(data)], null],
  get: [ops.get, (sel) => [selector(sel)], null],
  getWithMetadata: [ops.getWithMetadata, (sel) => [selector(sel)], parseWithMetadata],
  getMetadata: [ops.getMetadata, (sel) => [selector(sel)], parse],
  exists: [ops.exists, (sel) => [selector(sel)], null],
  delete: [ops.delete, (sel) => [selector(sel)], null],
  touch: [ops.touch, (sel, options) => [selector(sel), optJson(options, 'options')], null],
  updateData: [ops.updateData, (sel, data, options) => [selector(sel), optJson(options, 'options'), bytes(data)], null],
  updateMetadata: [ops.updateMetadata, (sel, patch) => [selector(sel), jsonObject(patch, 'patch')], null],
  copy: [ops.copy, (src, dest, options) => [selector(src), jsonObject(dest, 'destination params'), optJson(options, 'options')], null],
  move: [ops.move, (src, dest, options) => [selector(src), jsonObject(dest, 'destination params'), optJson(options, 'options')], null],
  list: [ops.list, (filter, options) => [filter === undefined || filter === null ? '{}' : jsonObject(filter, 'filter'), optJson(options, 'options')], parse],
  deleteWhere: [ops.deleteWhere, (filter) => [jsonObject(filter, 'filter')], null],
  touchWhere: [ops.touchWhere, (filter, options) => [jsonObject(filter, 'filter'), optJson(options, 'options')], null],
  updateMetadataWhere: [ops.updateMetadataWhere, (filter, patch) => [jsonObject(filter, 'filter'), jsonObject(patch, 'patch')], null],
  getBatch: [ops.getBatch, (sels) => [selectorList(sels)], null],
  putBatch: [ops.putBatch, (items) => [putItems(items)], null],
  deleteBatch: [ops.deleteBatch, (sels) => [selectorList(sels)], null],
  cleanupExpired: [ops.cleanupExpired, () => [], null],
  clear: [ops.clear, () => [], null],
  stats: [ops.stats, () => [], parse],
  verify: [ops.verify, (options) => [optJson(options, 'options')], parse],
  repair: [ops.repair, (options) => [optJson(options, 'options')], parse],
  findOrphans: [ops.findOrphans, () => [], parse],
  cleanupOrphans: [ops.cleanupOrphans, () => [], null],
  export: [ops.export, (path, options) => [str(path, 'path'), optJson(options, 'options')], null],
  import: [ops.import, (path, options) => [str(path, 'path'), optJson(options, 'options')], null],
  exportJson: [ops.exportJson, (options) => [optJson(options, 'options')], parse],
  importJson: [ops.importJson, (doc, options) => [jsonObject(doc, 'document'), optJson(options, 'options')], null],
};

const STORE_METHODS = {
  put: [ops.storePut, (key, data, metadata) => [str(key, 'key'), optJson(metadata, 'metadata'), bytes(data)], null],
  get: [ops.storeGet, (key) => [str(key, 'key')], null],
  getMetadata: [ops.storeGetMetadata, (key) => [str(key, 'key')], parse],
  updateMetadata: [ops.storeUpdateMetadata, (key, patch) => [str(key, 'key'), jsonObject(patch, 'patch')], null],
  updateData: [ops.storeUpdateData, (key, data) => [str(key, 'key'), bytes(data)], null],
  exists: [ops.storeExists, (key) => [str(key, 'key')], null],
  delete: [ops.storeDelete, (key) => [str(key, 'key')], null],
  touch: [ops.storeTouch, (key) => [str(key, 'key')], null],
  list: [ops.storeList, (prefix, options) => [optStr(prefix, 'prefix'), optJson(options, 'options')], parse],
  deleteByPrefix: [ops.storeDeleteByPrefix, (prefix) => [str(prefix, 'prefix')], null],
  copy: [ops.storeCopy, (src, dest, options) => [str(src, 'source key'), str(dest, 'destination key'), copyOptions(options)], null],
  move: [ops.storeMove, (src, dest, options) => [str(src, 'source key'), str(dest, 'destination key'), copyOptions(options)], null],
  clear: [ops.storeClear, () => [], null],
};

function defineMethods(cls, table) {
  for (const [name, [op, mapArgs, mapResult]] of Object.entries(table)) {
    if (typeof op !== 'number') throw new Error(`cacheness addon lacks operation for ${name}`);
    const asyncMethod = {
      [name](...args) {
        try {
          const p = native.callAsync(this[HANDLE], op, ...mapArgs(...args));
          return mapResult ? p.then(mapResult) : p;
        } catch (e) {
          return Promise.reject(e);
        }
      },
    }[name];
    const syncName = `${name}Sync`;
    const syncMethod = {
      [syncName](...args) {
        const r = native.callSync(this[HANDLE], op, ...mapArgs(...args));
        return mapResult ? mapResult(r) : r;
      },
    }[syncName];
    for (const [n, fn] of [[name, asyncMethod], [syncName, syncMethod]]) {
      Object.defineProperty(cls.prototype, n, { value: fn, writable: true, configurable: true, enumerable: false });
    }
  }
}

// Sync fast paths for the hottest calls: no rest/spread, no argument table, and a native
// function per call (src/cacheness_node.c, "Sync fast paths") that takes the selector string
// directly. They replace the generic getSync, getMetadataSync and existsSync defined above;
// behaviour (argument checks, error codes, results) is the same.
//
// getSync results of up to POOL_MAX_VALUE bytes are copied by the addon into a shared pool
// Buffer and returned as a slice of it, as Buffer.allocUnsafe does with Node's own pool: an
// ArrayBuffer of its own per 4 KiB result costs about as much as the rest of the binding's
// work together. So `buf.buffer` of such a result is larger than the value and shared with
// other results (use `buf.byteOffset`/`buf.length`; copy with Buffer.from(buf) to keep a small
// value without holding on to its pool). Larger values get a Buffer of their own.
const POOL_SIZE = 64 * 1024;
const POOL_MAX_VALUE = 8 * 1024;
let pool = null; // a Buffer over all of poolBuffer
let poolBuffer = null;
let poolOffset = POOL_SIZE; // no pool yet: the first getSync allocates one

function ensurePool() {
  if (POOL_SIZE - poolOffset < POOL_MAX_VALUE) {
    pool = Buffer.allocUnsafeSlow(POOL_SIZE);
    poolBuffer = pool.buffer;
    poolOffset = 0;
  }
}

/** The result of a native *GetSync given (pool, poolOffset): a length in the pool, or a value. */
function pooled(r) {
  if (typeof r !== 'number') return r; // undefined (miss) or a Buffer of its own
  const start = poolOffset;
  poolOffset = (start + r + 7) & ~7; // keep every slice 8-byte aligned
  return Buffer.from(poolBuffer, start, r); // cheaper than pool.subarray() (no species lookup)
}

const nativeCacheGetSync = native.cacheGetSync;
const nativeCacheGetMetadataSync = native.cacheGetMetadataSync;
const nativeCacheExistsSync = native.cacheExistsSync;
const nativeStoreGetSync = native.storeGetSync;
const nativeStoreGetMetadataSync = native.storeGetMetadataSync;
const nativeStoreExistsSync = native.storeExistsSync;

const CACHE_FAST = {
  getSync(sel) {
    const s = typeof sel === 'string' ? sel : selector(sel);
    ensurePool();
    return pooled(nativeCacheGetSync(this[HANDLE], s, pool, poolOffset));
  },
  getMetadataSync(sel) {
    return parse(nativeCacheGetMetadataSync(this[HANDLE], typeof sel === 'string' ? sel : selector(sel)));
  },
  existsSync(sel) {
    return nativeCacheExistsSync(this[HANDLE], typeof sel === 'string' ? sel : selector(sel));
  },
};

const STORE_FAST = {
  getSync(key) {
    const s = typeof key === 'string' ? key : str(key, 'key');
    ensurePool();
    return pooled(nativeStoreGetSync(this[HANDLE], s, pool, poolOffset));
  },
  getMetadataSync(key) {
    return parse(nativeStoreGetMetadataSync(this[HANDLE], typeof key === 'string' ? key : str(key, 'key')));
  },
  existsSync(key) {
    return nativeStoreExistsSync(this[HANDLE], typeof key === 'string' ? key : str(key, 'key'));
  },
};

for (const f of [nativeCacheGetSync, nativeCacheGetMetadataSync, nativeCacheExistsSync, nativeStoreGetSync,
  nativeStoreGetMetadataSync, nativeStoreExistsSync]) {
  if (typeof f !== 'function') throw new Error('cacheness addon lacks the sync fast paths (rebuild it)');
}

function defineFast(cls, table) {
  for (const [name, fn] of Object.entries(table)) {
    Object.defineProperty(cls.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}

function configJson(config) {
  if (config === undefined || config === null) throw invalid('config is required');
  return jsonObject(config, 'config');
}

class Cache {
  constructor(token, handle) {
    if (token !== CONSTRUCT) throw new TypeError('use Cache.open(config)');
    Object.defineProperty(this, HANDLE, { value: handle });
  }

  /** Open (or create) a cache. Synchronous. */
  static open(config) {
    return new Cache(CONSTRUCT, native.cacheOpen(configJson(config)));
  }

  /**
   * Close the cache. Idempotent. Calls still running on the thread pool finish first (the
   * native handle is released when the last one completes); new calls fail.
   */
  close() {
    native.close(this[HANDLE]);
  }

  /** false once close() was called. */
  get isOpen() {
    return native.handleState(this[HANDLE]).open;
  }

  /**
   * Delete the entries that pass `filter` (null/undefined: all) and for which `predicate`
   * returns true. The predicate gets each entry's metadata (parsed) and runs synchronously on
   * this thread, inside the library call (which holds no lock meanwhile, so the predicate may
   * read this cache; close() from it takes effect when the call returns). If it throws, no
   * further entries are offered and the exception propagates. Returns the number deleted.
   */
  deleteMatchingSync(filter, predicate) {
    if (typeof predicate !== 'function') throw invalid('predicate must be a function');
    const f = optJson(filter, 'filter');
    return native.deleteMatching(this[HANDLE], f, (json) => Boolean(predicate(JSON.parse(json))));
  }
}
defineMethods(Cache, CACHE_METHODS);
defineFast(Cache, CACHE_FAST);

class Store {
  constructor(token, handle) {
    if (token !== CONSTRUCT) throw new TypeError('use Store.open(config)');
    Object.defineProperty(this, HANDLE, { value: handle });
  }

  /** Open (or create) a blob store. Synchronous. */
  static open(config) {
    return new Store(CONSTRUCT, native.storeOpen(configJson(config)));
  }

  /** Close the store; same rules as Cache#close. */
  close() {
    native.close(this[HANDLE]);
  }

  get isOpen() {
    return native.handleState(this[HANDLE]).open;
  }
}
defineMethods(Store, STORE_METHODS);
defineFast(Store, STORE_FAST);

/** The cache key of a params object: lowercase hex SHA-256 of its RFC 8785 canonical JSON. */
function key(params) {
  return native.key(jsonObject(params, 'params'));
}

/** The version string of the loaded libcacheness. */
function version() {
  return native.version();
}

module.exports = { Cache, Store, CachenessError, key, version };
