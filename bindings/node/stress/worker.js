'use strict';
// Node worker of the cacheness multi-process stress test (stress/run.py starts C, Go and Node
// workers on one directory).
//
//     node bindings/node/stress/worker.js DIR WORKER_ID SECONDS SEED
//
// For SECONDS it does a random mix of operations on 64 params shared with every other worker
// ({"stress": k}) and on one private entry ({"own": "w<ID>"}) that only this worker writes.
// Every value carries its own header (magic, writer, incarnation, sequence number, total
// length, CRC-32 of the payload and of the header; see stress/README.md) and every read checks
// it: a read is a miss or a whole, self-consistent value. On the private entry it also checks
// read-your-writes, versions, and that a stale expected_version gets CONFLICT. Every 2-8 s it
// runs one maintenance call (verify, repair, find/cleanup orphans) while the others write.
// About a third of the calls use the Promise form (the libuv thread pool), the rest the Sync
// form.
//
// Allowed errors: CONFLICT (update_data with expected_version), EXISTS (copy/move without
// overwrite), BUSY only after the 30 s busy timeout. Any other error, or a failed check, is
// printed to stderr as a line starting with "FAIL". At the end it prints one JSON summary line
// and exits 1 if anything failed. With CACHENESS_STRESS_PROGRESS set it prints
// {"progress": {...}} lines about once a second.

const crypto = require('crypto');
const zlib = require('zlib');
const { Cache, CachenessError } = require('..');

const SHARED_KEYS = 64;
const HEADER_LEN = 48;
const MAX_VALUE = 200 * 1024;
const BUSY_ALLOWED_AFTER_MS = 29000; // the documented busy timeout is 30 s
const RUNTIME_CODE = 3; // 1 = C, 2 = Go, 3 = Node
const MAGIC = Buffer.from('CNSTRESS');

const OP_NAMES = ['get', 'get_meta', 'get_batch', 'put', 'touch', 'update', 'update_v', 'delete',
  'delete_where', 'copy', 'move', 'own', 'list', 'exists', 'put_batch', 'delete_batch', 'update_meta',
  'touch_where', 'maint'];
// maint has weight 0: it runs on a timer (every 2-8 s), see run().
const OP_WEIGHTS = [18, 8, 3, 15, 6, 6, 8, 5, 2, 6, 6, 10, 2, 2, 3, 2, 3, 1, 0];

// CRC-32 (IEEE), as zlib, Go's crc32.ChecksumIEEE and the C worker compute it.
const crc32 = typeof zlib.crc32 === 'function' ? (b) => zlib.crc32(b) >>> 0 : (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return (b) => {
    let c = 0xffffffff;
    for (let i = 0; i < b.length; i++) c = table[(c ^ b[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
})();

function main() {
  const args = process.argv.slice(2);
  if (args.length !== 4) {
    process.stderr.write('usage: worker.js DIR WORKER_ID SECONDS SEED\n');
    process.exit(2);
  }
  const [dir, idText, secText, seedText] = args;
  const id = Number(idText);
  const seconds = Number(secText);
  const seed = BigInt(seedText);
  const incarnation = Number(seed & 0xffffffffn);
  const progress = Boolean(process.env.CACHENESS_STRESS_PROGRESS);

  // Seeded PRNG (mulberry32) for the choices; payload bytes come from crypto (fast, native).
  let rs = (Number(seed % 0xffffffffn) ^ (id * 0x9e3779b9)) >>> 0 || 1;
  const rand = () => {
    rs = (rs + 0x6d2b79f5) >>> 0;
    let t = rs;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n) => Math.floor(rand() * n);

  const st = {
    ops: Object.fromEntries(OP_NAMES.map((n) => [n, 0])), total_ops: 0, hits: 0, misses: 0,
    conflicts: 0, exists: 0, absent: 0, stale_aba: 0, busy_timeouts: 0, errors: 0, failures: 0,
  };
  let opName = 'open';
  let opKey = -1;
  let started = Date.now();
  let seq = 0;

  function fail(msg) {
    st.failures++;
    if (st.failures <= 50) process.stderr.write(`FAIL node worker ${id} op=${opName} key=${opKey}: ${msg}\n`);
  }

  // '' on success; 'CONFLICT'/'EXISTS' when allowed; 'ERR' otherwise (a failure unless BUSY
  // after the busy timeout).
  function judge(err, allowConflict, allowExists) {
    if (!err) return '';
    const took = Date.now() - started;
    const code = err instanceof CachenessError ? err.code : undefined;
    if (code === 'CONFLICT' && allowConflict) {
      st.conflicts++;
      return 'CONFLICT';
    }
    if (code === 'EXISTS' && allowExists) {
      st.exists++;
      return 'EXISTS';
    }
    if (code === 'BUSY' && took >= BUSY_ALLOWED_AFTER_MS) {
      st.busy_timeouts++;
      return 'ERR';
    }
    st.errors++;
    fail(`unexpected error after ${(took / 1000).toFixed(3)} s: ${code || err.name}: ${err.message}`);
    return 'ERR';
  }

  // Calls cache[name] in the Promise form about a third of the time, else the Sync form.
  // Resolves to [error, result].
  async function call(name, ...a) {
    try {
      if (rand() < 0.33) return [null, await cache[name](...a)];
      return [null, cache[`${name}Sync`](...a)];
    } catch (e) {
      return [e, undefined];
    }
  }

  function randomSize() {
    const r = below(100);
    if (r < 45) return HEADER_LEN + below(4096 - HEADER_LEN);
    if (r < 65) return 4096 + below(16384 - 4096 + 1);
    if (r < 70) return 16383 + below(3);
    return 16385 + below(MAX_VALUE - 16385 + 1);
  }

  function makeValue() {
    const n = randomSize();
    const p = Buffer.allocUnsafe(n);
    crypto.randomFillSync(p, HEADER_LEN);
    seq++;
    MAGIC.copy(p, 0);
    p.writeUInt32LE(id, 8);
    p.writeUInt32LE(incarnation, 12);
    p.writeBigUInt64LE(BigInt(seq), 16);
    p.writeBigUInt64LE(BigInt(n), 24);
    p.writeUInt32LE(crc32(p.subarray(HEADER_LEN)), 32);
    p.writeUInt32LE(RUNTIME_CODE, 36);
    p.writeUInt32LE(0, 40);
    p.writeUInt32LE(crc32(p.subarray(0, 44)), 44);
    return [p, seq];
  }

  // [problem or '', origin]
  function checkValue(d) {
    if (!Buffer.isBuffer(d)) return ['not a Buffer', null];
    if (d.length < HEADER_LEN) return ['shorter than a header', null];
    if (!d.subarray(0, 8).equals(MAGIC)) return ['bad magic', null];
    if (d.readUInt32LE(44) !== crc32(d.subarray(0, 44))) return ['header checksum mismatch', null];
    if (d.readBigUInt64LE(24) !== BigInt(d.length)) {
      return ['length differs from the one in the header (torn or truncated)', null];
    }
    if (d.readUInt32LE(32) !== crc32(d.subarray(HEADER_LEN))) return ['payload checksum mismatch', null];
    return ['', { writer: d.readUInt32LE(8), incarnation: d.readUInt32LE(12), seq: Number(d.readBigUInt64LE(16)) }];
  }

  const shared = (k) => ({ stress: k });
  const own = { own: `w${id}` };

  function readShared(d) {
    const [bad] = checkValue(d);
    if (bad) fail(`read returned a bad value (${d && d.length} bytes): ${bad}`);
  }

  function checkMetadata(m, d, params) {
    if (m.size !== d.length) fail(`metadata size ${m.size} differs from data length ${d.length}`);
    const want = `sha256:${crypto.createHash('sha256').update(d).digest('hex')}`;
    if (m.content_hash !== want) fail(`metadata content_hash ${m.content_hash} is not the hash of the data (${want})`);
    if (JSON.stringify(m.params) !== JSON.stringify(params)) {
      fail(`metadata params ${JSON.stringify(m.params)} are not ${JSON.stringify(params)}`);
    }
  }

  let cache;
  const ops = {
    async get(k) {
      const [e, d] = await call('get', shared(k));
      if (judge(e, false, false)) return;
      if (d === undefined) st.misses++;
      else {
        st.hits++;
        readShared(d);
      }
    },
    async get_meta(k) {
      const [e, r] = await call('getWithMetadata', shared(k));
      if (judge(e, false, false)) return;
      if (r === undefined) {
        st.misses++;
        return;
      }
      st.hits++;
      readShared(r.data);
      checkMetadata(r.metadata, r.data, shared(k));
    },
    async get_batch() {
      const keys = [below(SHARED_KEYS), below(SHARED_KEYS), below(SHARED_KEYS), below(SHARED_KEYS)];
      const [e, items] = await call('getBatch', keys.map(shared));
      if (judge(e, false, false)) return;
      if (items.length !== 4) fail(`batch of 4 selectors has ${items.length} items`);
      items.forEach((d, i) => {
        if (d === undefined) st.misses++;
        else {
          st.hits++;
          opKey = keys[i];
          readShared(d);
        }
      });
    },
    async put(k) {
      const [v] = makeValue();
      const [e] = await call('put', shared(k), v, { metadata: { w: id, rt: 'node' } });
      judge(e, false, false);
    },
    async touch(k) {
      const opts = below(2) ? { ttl_seconds: null } : { ttl_seconds: 86400 };
      const [e, found] = await call('touch', shared(k), opts);
      if (!judge(e, false, false) && !found) st.absent++;
    },
    async update(k) {
      const [v] = makeValue();
      const [e, ok] = await call('updateData', shared(k), v);
      if (!judge(e, false, false) && !ok) st.absent++;
    },
    // The version just read (OK, CONFLICT or absent), then the now stale one (CONFLICT or
    // absent; success only after a delete and re-creation up to that version: stale_aba).
    async update_v(k) {
      const [e, m] = await call('getMetadata', shared(k));
      if (judge(e, false, false)) return;
      if (m === undefined) {
        st.absent++;
        return;
      }
      if (!(m.version >= 1)) {
        fail(`metadata without a valid version: ${JSON.stringify(m)}`);
        return;
      }
      let [v] = makeValue();
      const opts = { expected_version: m.version };
      const [e2, ok] = await call('updateData', shared(k), v, opts);
      const r = judge(e2, true, false);
      if (r || !ok) {
        if (!r) st.absent++;
        return;
      }
      [v] = makeValue();
      started = Date.now();
      const [e3, ok3] = await call('updateData', shared(k), v, opts);
      if (!judge(e3, true, false)) {
        if (ok3) {
          st.stale_aba++;
          process.stderr.write(`NOTE node worker ${id} key=${k}: stale expected_version ${m.version} accepted (entry re-created meanwhile)\n`);
        }
        else st.absent++;
      }
    },
    async delete(k) {
      const [e, ok] = await call('delete', shared(k));
      if (!judge(e, false, false) && !ok) st.absent++;
    },
    async delete_where() {
      const r = () => below(SHARED_KEYS);
      let f;
      switch (below(4)) {
        case 0: f = { params: { stress: r() } }; break;
        case 1: f = { params: { stress: { $in: [r(), r(), r()] } } }; break;
        case 2:
          f = { key_prefix: below(16).toString(16) + below(16).toString(16), params: { stress: { $exists: true } } };
          break;
        default: f = { params: { stress: { $in: [r(), r()] } }, min_size: 16385 };
      }
      const [e] = await call('deleteWhere', f);
      judge(e, false, false);
    },
    async copy(k) {
      await copyMove(k, 'copy');
    },
    async move(k) {
      await copyMove(k, 'move');
    },
    async own() {
      await ownOp();
    },
    async maint() {
      await maint();
    },
    async list() {
      const [e, page] = await call('list', { params: { stress: { $exists: true } } }, { limit: 100 });
      if (judge(e, false, false)) return;
      if (page.entries.length > SHARED_KEYS) {
        fail(`list of shared params gave ${page.entries.length} entries (at most ${SHARED_KEYS} exist)`);
      }
      for (const m of page.entries) {
        if (m.size < HEADER_LEN || m.size > MAX_VALUE) fail(`list shows an entry of impossible size ${m.size}`);
      }
    },
    async exists(k) {
      const [e] = await call('exists', shared(k));
      judge(e, false, false);
    },
    async put_batch() {
      const n = 2 + below(2);
      const items = [];
      for (let i = 0; i < n; i++) {
        items.push({ params: shared(below(SHARED_KEYS)), data: makeValue()[0], options: { metadata: { w: id, rt: 'node', batch: true } } });
      }
      const [e] = await call('putBatch', items);
      judge(e, false, false);
    },
    async delete_batch() {
      const [e, n] = await call('deleteBatch', [shared(below(SHARED_KEYS)), shared(below(SHARED_KEYS))]);
      if (!judge(e, false, false) && n > 2) fail(`delete_batch of 2 selectors counted ${n}`);
    },
    async update_meta(k) {
      const [e, found] = await call('updateMetadata', shared(k), { n: below(1000), w: id });
      if (!judge(e, false, false) && !found) st.absent++;
    },
    async touch_where() {
      const f = { params: { stress: { $in: [below(SHARED_KEYS), below(SHARED_KEYS), below(SHARED_KEYS)] } } };
      const [e, n] = await call('touchWhere', f, { ttl_seconds: null });
      if (!judge(e, false, false) && n > 3) fail(`touch_where on 3 params counted ${n}`);
    },
  };

  // A NOTE when a verify or repair report run while the others write shows an issue other
  // than orphaned_file (it may be a race of the scan, or real damage).
  function noteReport(what, report) {
    if ((report.issues || []).some((i) => i.issue !== 'orphaned_file')) {
      process.stderr.write(`NOTE node worker ${id}: concurrent ${what} reported: ${JSON.stringify(report).slice(0, 600)}\n`);
    }
  }

  // Maintenance while the others write: none of it may break a live entry (readers would see
  // CORRUPT or a lost write).
  async function maint() {
    let e;
    let r;
    switch (below(5)) {
      case 0:
      case 1:
        opName = 'maint_verify';
        [e, r] = await call('verify', below(2) ? { deep: true } : null);
        if (!judge(e, false, false)) noteReport('verify', r);
        break;
      case 2:
        opName = 'maint_repair';
        [e, r] = await call('repair');
        if (!judge(e, false, false)) noteReport('repair', r);
        break;
      case 3:
        opName = 'maint_find_orphans';
        [e] = await call('findOrphans');
        judge(e, false, false);
        break;
      default:
        opName = 'maint_cleanup_orphans';
        [e] = await call('cleanupOrphans');
        judge(e, false, false);
    }
  }

  async function copyMove(k, which) {
    let d = below(SHARED_KEYS - 1);
    if (d >= k) d++;
    const overwrite = below(2) === 0;
    let opts = null;
    if (overwrite) opts = below(2) ? { overwrite: true, metadata: { copied: true } } : { overwrite: true };
    const [e, ok] = await call(which, shared(k), shared(d), opts);
    if (!judge(e, false, !overwrite) && !ok) st.absent++;
  }

  // The private entry: this worker is its only writer, so it knows what must be there.
  let ownSeq = 0; // seq of the value that must be there; 0: none
  let ownVer = 0; // its version; 0: not known (after a put)
  let ownKnown = true; // false after a write whose outcome is unknown (an error)

  async function ownOp() {
    const [e, r] = await call('getWithMetadata', own);
    if (judge(e, false, false)) return;
    if (r === undefined) {
      st.misses++;
      if (ownKnown && ownSeq) fail(`private entry with acknowledged seq ${ownSeq} is missing`);
      ownSeq = 0;
      ownVer = 0;
    } else {
      st.hits++;
      const [bad, o] = checkValue(r.data);
      if (!bad && !ownKnown && o.writer === id && o.incarnation === incarnation) ownSeq = o.seq;
      if (bad) fail(`private read returned a bad value (${r.data.length} bytes): ${bad}`);
      else if (o.writer !== id || o.incarnation !== incarnation || o.seq !== ownSeq) {
        fail(`private entry holds writer ${o.writer}/${o.incarnation} seq ${o.seq}, expected ${id}/${incarnation} seq ${ownSeq}`);
      }
      if (!ownKnown) ownVer = r.metadata.version;
      if (ownVer && r.metadata.version !== ownVer) fail(`private entry at version ${r.metadata.version}, expected ${ownVer}`);
      ownVer = r.metadata.version;
      checkMetadata(r.metadata, r.data, own);
    }
    ownKnown = true;

    const choice = below(4);
    let [v, s] = makeValue();
    started = Date.now();
    if (!ownSeq || choice === 0) {
      const [e2] = await call('put', own, v);
      if (!judge(e2, false, false)) {
        ownSeq = s;
        ownVer = 0;
      } else ownKnown = false;
    } else if (choice === 1) {
      const opts = { expected_version: ownVer };
      const [e2, ok] = await call('updateData', own, v, opts);
      if (judge(e2, false, false)) {
        ownKnown = false;
        return;
      }
      if (!ok) {
        fail(`update_data with the current version ${ownVer} did not update the private entry`);
        return;
      }
      ownSeq = s;
      ownVer++;
      [v, s] = makeValue();
      started = Date.now();
      const [e3] = await call('updateData', own, v, opts);
      if (!e3) {
        fail(`update_data with stale expected_version ${ownVer - 1} succeeded (entry was at ${ownVer})`);
        ownSeq = s;
        ownVer++;
      } else if (judge(e3, true, false) !== 'CONFLICT') ownKnown = false;
    } else if (choice === 2) {
      const [e2] = await call('updateData', own, v, { expected_version: ownVer + 1 + below(5) });
      if (!e2) {
        fail(`update_data with a wrong expected_version succeeded (entry at ${ownVer})`);
        ownSeq = s;
        ownVer++;
      } else if (judge(e2, true, false) !== 'CONFLICT') ownKnown = false;
    } else {
      const [e2, deleted] = await call('delete', own);
      if (judge(e2, false, false)) {
        ownKnown = false;
        return;
      }
      if (!deleted) fail('delete of the private entry found nothing');
      ownSeq = 0;
      ownVer = 0;
      started = Date.now();
      let [e3, ok] = await call('updateData', own, v);
      if (!judge(e3, false, false) && ok) fail('update_data on a deleted entry reported an update');
      [e3, ok] = await call('touch', own);
      if (!judge(e3, false, false) && ok) fail('touch on a deleted entry found it');
      [e3, ok] = await call('exists', own);
      if (!judge(e3, false, false) && ok) fail('exists on a deleted entry found it');
    }
  }

  function counts() {
    st.total_ops = Object.values(st.ops).reduce((a, b) => a + b, 0);
    return st;
  }

  async function run() {
    const start = Date.now();
    started = start;
    try {
      cache = Cache.open({ dir });
    } catch (e) {
      judge(e, false, false);
      process.stderr.write(`stress worker: cannot open ${dir}\n`);
      process.exit(1);
    }
    opName = 'own_init';
    const [e] = await call('delete', own);
    judge(e, false, false);

    const total = OP_WEIGHTS.reduce((a, b) => a + b, 0);
    const deadline = start + seconds * 1000;
    let nextProgress = start + 1000;
    let nextMaint = start + 2000 + below(6000);
    while (Date.now() < deadline) {
      let x = below(total);
      let op = 0;
      while (x >= OP_WEIGHTS[op]) x -= OP_WEIGHTS[op++];
      if (Date.now() >= nextMaint) {
        op = OP_NAMES.length - 1;
        nextMaint = Date.now() + 2000 + below(6000);
      }
      const k = below(SHARED_KEYS);
      const name = OP_NAMES[op];
      opName = name;
      opKey = k;
      started = Date.now();
      await ops[name](k);
      st.ops[name]++;
      if (progress && Date.now() >= nextProgress) {
        nextProgress += 1000;
        process.stdout.write(`${JSON.stringify({ progress: counts() })}\n`);
      }
    }
    const elapsed = (Date.now() - start) / 1000;
    cache.close();
    const summary = { runtime: 'node', worker: id, incarnation, seconds: Math.round(elapsed * 10) / 10, ...counts() };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    process.exitCode = st.failures ? 1 : 0;
  }

  run().catch((e) => {
    process.stderr.write(`FAIL node worker ${id} op=${opName}: uncaught ${e && e.stack}\n`);
    process.exitCode = 1;
  });
}

main();
