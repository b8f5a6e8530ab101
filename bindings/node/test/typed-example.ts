// A typed tour of the API, checked by `tsc --noEmit -p test/tsconfig.json` (make typecheck).
// Lines marked @ts-expect-error must NOT compile: they prove the declarations are strict.
import {
  Cache,
  CachenessError,
  CachenessErrorCode,
  CacheStats,
  DataWithMetadata,
  EntryMetadata,
  ExportDocument,
  Filter,
  ListPage,
  OrphanReport,
  RepairReport,
  Store,
  StoreEntryMetadata,
  VerifyReport,
  key,
  version,
} from '..';

async function cacheTour(dir: string): Promise<void> {
  const cache: Cache = Cache.open({ dir, default_ttl_seconds: null, durability: 'normal' });
  const params = { experiment: 'exp_001', epochs: 10 };

  const k: string = await cache.put(params, Buffer.from('data'), { ttl_seconds: 60, data_type: 'bytes', metadata: { project: 'ml' } });
  const k2: string = cache.putSync({ other: true }, new Uint8Array([1, 2]), null);
  const same: boolean = key(params) === k;

  const data: Buffer | undefined = await cache.get(params);
  if (data !== undefined) data.readUInt8(0);
  const bySync: Buffer | undefined = cache.getSync(k);
  const withMeta: DataWithMetadata | undefined = await cache.getWithMetadata(k2);
  if (withMeta) {
    const v: number = withMeta.metadata.version;
    const exp: string | null = withMeta.metadata.expires_at;
    void v;
    void exp;
  }
  const meta: EntryMetadata | undefined = cache.getMetadataSync(params);
  const present: boolean = await cache.exists(params);
  const deleted: boolean = cache.deleteSync('0'.repeat(64));
  const touched: boolean = await cache.touch(params, { ttl_seconds: null });
  const updated: boolean = await cache.updateData(params, 'text data', { expected_version: 1, data_type: 'text' });
  const patched: boolean = cache.updateMetadataSync(params, { project: null, stage: 'prod' });
  const copied: boolean = await cache.copy(params, { experiment: 'exp_002' }, { overwrite: true, metadata: { cloned: true } });
  const moved: boolean = cache.moveSync({ experiment: 'exp_002' }, { experiment: 'exp_003' });

  const filter: Filter = { params: { experiment: { $prefix: 'exp_' } }, metadata: { stage: { $in: ['prod'] } }, include_expired: false };
  const page: ListPage<EntryMetadata> = await cache.list(filter, { limit: 10, order: 'accessed_at' });
  const next: string | null = page.next_cursor;
  if (next) await cache.list(filter, { cursor: next });
  const nDeleted: number = await cache.deleteWhere({ key_prefix: 'ab' });
  const nMatched: number = cache.deleteMatchingSync({ data_type: 'bytes' }, (e: EntryMetadata) => e.size > 1000);
  const nTouched: number = cache.touchWhereSync({}, { ttl_seconds: 30 });
  const nPatched: number = await cache.updateMetadataWhere({ min_size: 1 }, { big: true });

  const batch: Array<Buffer | undefined> = await cache.getBatch([params, k2, '{"x":1}']);
  await cache.putBatch([{ params: { b: 1 }, data: Buffer.from('1') }, { params: { b: 2 }, data: 'two', options: { ttl_seconds: 5 } }]);
  cache.putBatchSync([]);
  const nBatchDeleted: number = cache.deleteBatchSync([{ b: 1 }, { b: 2 }]);

  const nExpired: number = await cache.cleanupExpired();
  const stats: CacheStats = cache.statsSync();
  const hits: number = stats.hits;
  const report: VerifyReport = await cache.verify({ deep: true });
  for (const issue of report.issues) void issue.issue;
  const repaired: RepairReport = cache.repairSync({ dry_run: true });
  const orphans: OrphanReport = await cache.findOrphans();
  const nOrphans: number = cache.cleanupOrphansSync();
  const nExported: number = await cache.export(`${dir}/out.tar.gz`, { compress: true, filter });
  const nImported: number = cache.importSync(`${dir}/out.tar.gz`, { overwrite: false });
  const doc: ExportDocument = cache.exportJsonSync();
  const nJson: number = await cache.importJson(doc, { overwrite: true });
  const nCleared: number = await cache.clear();

  void [same, bySync, meta, present, deleted, touched, updated, patched, copied, moved, nDeleted, nMatched, nTouched,
    nPatched, batch, nBatchDeleted, nExpired, hits, repaired, orphans, nOrphans, nExported, nImported, nJson, nCleared];

  // @ts-expect-error data must be bytes or a string
  cache.putSync(params, 42);
  // @ts-expect-error options use the C contract's names
  cache.putSync(params, 'x', { ttlSeconds: 5 });
  // @ts-expect-error a miss is undefined: the result must be checked before use
  (await cache.get(params)).length;
  // @ts-expect-error deleteMatching has no Promise form
  cache.deleteMatching({}, () => true);
  // @ts-expect-error list order is one of three names
  cache.listSync({}, { order: 'size' });

  cache.close();
}

async function storeTour(dir: string): Promise<void> {
  const store: Store = Store.open({ dir, metadata: 'sqlite', blobs: 'fs' });
  await store.put('models/v1', Buffer.from('weights'), { owner: 'me' });
  store.putSync('models/v2', 'text');
  const got: Buffer | undefined = await store.get('models/v1');
  const meta: StoreEntryMetadata | undefined = store.getMetadataSync('models/v1');
  const patched: boolean = await store.updateMetadata('models/v1', { owner: null });
  const replaced: boolean = store.updateDataSync('models/v1', new Uint8Array(3));
  const present: boolean = await store.exists('models/v1');
  const touched: boolean = store.touchSync('models/v1');
  const page: ListPage<StoreEntryMetadata> = await store.list('models/', { limit: 100 });
  const all: ListPage<StoreEntryMetadata> = store.listSync();
  const copied: boolean = await store.copy('models/v1', 'archive/v1', { overwrite: false });
  const moved: boolean = store.moveSync('models/v2', 'archive/v2', { overwrite: true });
  const nPrefix: number = await store.deleteByPrefix('archive/');
  const deleted: boolean = store.deleteSync('models/v1');
  const nCleared: number = await store.clear();
  void [got, meta, patched, replaced, present, touched, page, all, copied, moved, nPrefix, deleted, nCleared];

  // @ts-expect-error store keys are strings, not params
  store.getSync({ a: 1 });
  // @ts-expect-error the store config has no TTL
  Store.open({ dir, default_ttl_seconds: 5 });
  store.close();
}

function handle(e: unknown): CachenessErrorCode | undefined {
  if (e instanceof CachenessError) {
    const code: CachenessErrorCode = e.code;
    const msg: string = e.message;
    void msg;
    return code;
  }
  return undefined;
}

export async function main(dir: string): Promise<void> {
  const v: string = version();
  void v;
  try {
    await cacheTour(dir);
    await storeTour(dir);
  } catch (e) {
    const code = handle(e);
    if (code === 'CONFLICT' || code === 'BUSY') return;
    throw e;
  }
}
