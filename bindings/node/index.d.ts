// Type declarations for the `cacheness` Node.js binding.
//
// Names inside params, metadata, filters, options and returned records are the C contract's
// own (snake_case), passed through as JSON. Every method exists in two forms: `name()`
// returns a Promise and runs on the libuv thread pool, `nameSync()` runs on the calling
// thread. A miss (missing or expired entry) is `undefined`, never an error.

/// <reference types="node" />

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object. */
export interface JsonObject {
  [key: string]: Json;
}

/** Params identifying a cache entry; its key is the SHA-256 of their canonical JSON. */
export type Params = JsonObject;

/**
 * Names one cache entry: a params object, params JSON text (starting with `{`), or the
 * 64-hex key.
 */
export type Selector = Params | string;

/** Data accepted for writing. Strings are written as UTF-8. */
export type Data = Buffer | Uint8Array | ArrayBufferView | ArrayBuffer | string;

/** The `code` of a CachenessError. */
export type CachenessErrorCode =
  | 'NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'EXISTS'
  | 'CONFLICT'
  | 'CORRUPT'
  | 'IO'
  | 'BACKEND'
  | 'BUSY'
  | 'TOO_LARGE'
  | 'PANIC';

/** Every error thrown or rejected by this package. */
export class CachenessError extends Error {
  constructor(message: string, code: CachenessErrorCode);
  readonly name: 'CachenessError' | string;
  /** What went wrong, as a stable code. */
  code: CachenessErrorCode;
  /** All codes. */
  static readonly codes: readonly CachenessErrorCode[];
}

/** Configuration shared by caches and stores. */
export interface StoreConfig {
  /** Directory of the cache; required unless metadata and blobs are both in memory. */
  dir?: string;
  /** Metadata backend; default `"sqlite"`. */
  metadata?: 'sqlite' | 'memory' | 'json' | 'postgres';
  /** Connection URL when `metadata` is `"postgres"`. */
  postgres_url?: string;
  /** Blob backend; default `"fs"`. */
  blobs?: 'fs' | 'memory';
  /** Values up to this size live inside the metadata database. */
  inline_max_bytes?: number;
  /** `"normal"` (default) or `"full"` (fsync before returning). */
  durability?: 'normal' | 'full';
  /** Hex HMAC-SHA256 key (>= 32 bytes) signing every record; never stored in the cache. */
  signing_key?: string;
  /** Rehash data on every get. */
  verify_on_read?: boolean;
  /** Caches with different namespaces share storage without seeing each other; default `"default"`. */
  namespace?: string;
}

/** Configuration of a cache. */
export interface CacheConfig extends StoreConfig {
  /** TTL of entries put without `ttl_seconds`; null (default) = never expire. */
  default_ttl_seconds?: number | null;
  /** Size limit; past it the least recently used entries are evicted. null = no limit. */
  max_size_bytes?: number | null;
}

/** Metadata of a cache entry, as returned by getMetadata and list. */
export interface EntryMetadata {
  cache_key: string;
  params: Params;
  data_type: string;
  description: string;
  size: number;
  /** `"sha256:<64 hex>"` */
  content_hash: string;
  /** Starts at 1; grows on every change of data or custom metadata. */
  version: number;
  /** RFC 3339 UTC with milliseconds. */
  created_at: string;
  accessed_at: string;
  access_count: number;
  /** null: never expires. */
  expires_at: string | null;
  metadata: JsonObject;
}

/** Metadata of a store entry. */
export interface StoreEntryMetadata {
  key: string;
  data_type?: string;
  description?: string;
  size: number;
  content_hash: string;
  version: number;
  created_at: string;
  accessed_at: string;
  access_count: number;
  metadata: JsonObject;
}

/** A condition on one params or metadata field: JSON equality or an operator. */
export type FieldCondition =
  | Json
  | { $prefix: string }
  | { $glob: string }
  | { $exists: boolean }
  | { $in: Json[] };

/** Selects entries; all conditions must hold; `{}` matches everything. */
export interface Filter {
  params?: { [name: string]: FieldCondition };
  metadata?: { [name: string]: FieldCondition };
  key_prefix?: string;
  data_type?: string;
  /** RFC 3339 times. */
  created_before?: string;
  created_after?: string;
  accessed_before?: string;
  expires_before?: string;
  min_size?: number;
  max_size?: number;
  /** Default false. */
  include_expired?: boolean;
}

export interface PutOptions {
  /** Seconds (> 0); absent: the cache default; null: never expire. */
  ttl_seconds?: number | null;
  data_type?: string;
  description?: string;
  metadata?: JsonObject;
}

export interface TouchOptions {
  /** New TTL from now; absent: the cache default; null: never expire. */
  ttl_seconds?: number | null;
}

export interface UpdateDataOptions {
  /** If the entry's version differs: CONFLICT, nothing changes. */
  expected_version?: number;
  data_type?: string;
  ttl_seconds?: number | null;
}

export interface CopyOptions {
  /** Default false: an existing destination is an EXISTS error. */
  overwrite?: boolean;
  /** Merge patch (RFC 7396) applied to the copy's custom metadata. */
  metadata?: JsonObject;
}

export interface StoreCopyOptions {
  /** Default false: an existing destination is an EXISTS error. */
  overwrite?: boolean;
}

export interface ListOptions {
  /** Default 1000. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
  order?: 'created_at' | 'accessed_at' | 'key';
}

export interface ListPage<T> {
  entries: T[];
  /** null on the last page. */
  next_cursor: string | null;
}

export interface CacheStats {
  entries: number;
  total_size: number;
  hits: number;
  misses: number;
  evictions: number;
  expired_removed: number;
  metadata_backend: string;
  blob_backend: string;
  namespace: string;
  max_size_bytes?: number | null;
  default_ttl_seconds?: number | null;
  [key: string]: Json | undefined;
}

export interface VerifyOptions {
  /** Rehash every blob; default false (presence and size only). */
  deep?: boolean;
}

export interface RepairOptions {
  /** Report without changing anything; default false. */
  dry_run?: boolean;
  /** Check as a deep verify does; default true. */
  deep?: boolean;
}

export type IssueKind =
  | 'missing_file'
  | 'size_mismatch'
  | 'hash_mismatch'
  | 'corrupted_signature'
  | 'orphaned_file'
  | 'expired_entry'
  | 'invalid_record';

export interface VerifyIssue {
  cache_key?: string;
  key?: string;
  path?: string;
  issue: IssueKind | string;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  issues: VerifyIssue[];
}

/** One issue found by repair and what was done about it (or would be, with dry_run). */
export interface RepairIssue extends VerifyIssue {
  /** e.g. `"removed_entry"`, `"removed_file"`, `"skipped_changed"`. */
  action?: string;
}

/** What repair did (or would do with dry_run). */
export interface RepairReport {
  dry_run: boolean;
  /** true if nothing needed repair. */
  ok: boolean;
  checked: number;
  issues: RepairIssue[];
  removed_entries: number;
  removed_files: number;
}

/** A file of the blob tree that no entry refers to. */
export interface OrphanFile {
  path: string;
  size: number;
  /** A leftover temporary file of an interrupted write. */
  temporary: boolean;
}

/** Files in the blob tree that no entry refers to and no writer holds. */
export interface OrphanReport {
  count: number;
  total_size: number;
  orphans: OrphanFile[];
}

export interface ExportOptions {
  /** tar.gz when true (default), plain tar when false. */
  compress?: boolean;
  /** Only entries passing this filter. */
  filter?: Filter;
}

export interface ExportJsonOptions {
  filter?: Filter;
}

export interface ImportOptions {
  /** Replace existing entries; default false (existing entries are kept). */
  overwrite?: boolean;
}

/** The document produced by exportJson (data base64-encoded). */
export interface ExportDocument {
  [key: string]: Json;
}

export interface PutBatchItem {
  params: Params | string;
  data: Data;
  options?: PutOptions | null;
}

export interface DataWithMetadata {
  data: Buffer;
  metadata: EntryMetadata;
}

/** A persistent, TTL-aware cache keyed by params. */
export class Cache {
  private constructor();
  /** Open (or create) a cache. Synchronous. */
  static open(config: CacheConfig | string): Cache;
  /**
   * Close the cache. Idempotent. Calls already running on the thread pool finish first;
   * calls made afterwards fail with INVALID_ARGUMENT.
   */
  close(): void;
  /** false once close() was called. */
  readonly isOpen: boolean;

  /** Store data under params; resolves to the entry's 64-hex key. */
  put(params: Params | string, data: Data, options?: PutOptions | null): Promise<string>;
  putSync(params: Params | string, data: Data, options?: PutOptions | null): string;
  /** The data, or undefined on a miss. */
  get(selector: Selector): Promise<Buffer | undefined>;
  /** As get; a value of up to 8 KiB is a slice of a shared pool (see README: Data). */
  getSync(selector: Selector): Buffer | undefined;
  getWithMetadata(selector: Selector): Promise<DataWithMetadata | undefined>;
  getWithMetadataSync(selector: Selector): DataWithMetadata | undefined;
  /** Metadata without touching the entry, or undefined on a miss. */
  getMetadata(selector: Selector): Promise<EntryMetadata | undefined>;
  getMetadataSync(selector: Selector): EntryMetadata | undefined;
  exists(selector: Selector): Promise<boolean>;
  existsSync(selector: Selector): boolean;
  /** true if an entry was deleted. */
  delete(selector: Selector): Promise<boolean>;
  deleteSync(selector: Selector): boolean;
  /** Restart the entry's TTL; false on a miss. */
  touch(selector: Selector, options?: TouchOptions | null): Promise<boolean>;
  touchSync(selector: Selector, options?: TouchOptions | null): boolean;
  /** Replace the data of an existing entry; false (nothing created) on a miss. */
  updateData(selector: Selector, data: Data, options?: UpdateDataOptions | null): Promise<boolean>;
  updateDataSync(selector: Selector, data: Data, options?: UpdateDataOptions | null): boolean;
  /** Apply a JSON merge patch to the custom metadata; false on a miss. */
  updateMetadata(selector: Selector, patch: JsonObject | string): Promise<boolean>;
  updateMetadataSync(selector: Selector, patch: JsonObject | string): boolean;
  /** Copy to new params; false if the source is missing. */
  copy(source: Selector, destParams: Params | string, options?: CopyOptions | null): Promise<boolean>;
  copySync(source: Selector, destParams: Params | string, options?: CopyOptions | null): boolean;
  /** Atomically move to new params; false if the source is missing. */
  move(source: Selector, destParams: Params | string, options?: CopyOptions | null): Promise<boolean>;
  moveSync(source: Selector, destParams: Params | string, options?: CopyOptions | null): boolean;
  /** One page of entries passing the filter (default `{}`). */
  list(filter?: Filter | string | null, options?: ListOptions | null): Promise<ListPage<EntryMetadata>>;
  listSync(filter?: Filter | string | null, options?: ListOptions | null): ListPage<EntryMetadata>;
  /** Delete every entry passing the filter (pass `{}` for all); resolves to the count. */
  deleteWhere(filter: Filter | string): Promise<number>;
  deleteWhereSync(filter: Filter | string): number;
  /**
   * Delete entries passing the filter (null: all) for which the predicate returns true.
   * The predicate runs synchronously on this thread, inside the library call (which holds no
   * lock meanwhile); if it throws, no further entries are offered and the error propagates.
   */
  deleteMatchingSync(filter: Filter | string | null | undefined, predicate: (entry: EntryMetadata) => unknown): number;
  touchWhere(filter: Filter | string, options?: TouchOptions | null): Promise<number>;
  touchWhereSync(filter: Filter | string, options?: TouchOptions | null): number;
  updateMetadataWhere(filter: Filter | string, patch: JsonObject | string): Promise<number>;
  updateMetadataWhereSync(filter: Filter | string, patch: JsonObject | string): number;
  /** One item per selector, in order; undefined for a miss. */
  getBatch(selectors: Selector[]): Promise<Array<Buffer | undefined>>;
  getBatchSync(selectors: Selector[]): Array<Buffer | undefined>;
  /** Write all items or none. */
  putBatch(items: PutBatchItem[]): Promise<void>;
  putBatchSync(items: PutBatchItem[]): void;
  /** Resolves to the number of entries that existed. */
  deleteBatch(selectors: Selector[]): Promise<number>;
  deleteBatchSync(selectors: Selector[]): number;
  cleanupExpired(): Promise<number>;
  cleanupExpiredSync(): number;
  /** Remove every entry and blob of this cache. */
  clear(): Promise<number>;
  clearSync(): number;
  stats(): Promise<CacheStats>;
  statsSync(): CacheStats;
  verify(options?: VerifyOptions | null): Promise<VerifyReport>;
  verifySync(options?: VerifyOptions | null): VerifyReport;
  repair(options?: RepairOptions | null): Promise<RepairReport>;
  repairSync(options?: RepairOptions | null): RepairReport;
  findOrphans(): Promise<OrphanReport>;
  findOrphansSync(): OrphanReport;
  cleanupOrphans(): Promise<number>;
  cleanupOrphansSync(): number;
  /** Export to a tar(.gz) file; resolves to the number of entries exported. */
  export(path: string, options?: ExportOptions | null): Promise<number>;
  exportSync(path: string, options?: ExportOptions | null): number;
  /** Import a file made by export; resolves to the number of entries imported. */
  import(path: string, options?: ImportOptions | null): Promise<number>;
  importSync(path: string, options?: ImportOptions | null): number;
  exportJson(options?: ExportJsonOptions | null): Promise<ExportDocument>;
  exportJsonSync(options?: ExportJsonOptions | null): ExportDocument;
  importJson(document: ExportDocument | string, options?: ImportOptions | null): Promise<number>;
  importJsonSync(document: ExportDocument | string, options?: ImportOptions | null): number;
}

/** A blob store with caller-chosen names such as `models/v1`. */
export class Store {
  private constructor();
  /** Open (or create) a store. Synchronous. */
  static open(config: StoreConfig | string): Store;
  /** Close the store; same rules as Cache#close. */
  close(): void;
  readonly isOpen: boolean;

  put(key: string, data: Data, metadata?: JsonObject | null): Promise<void>;
  putSync(key: string, data: Data, metadata?: JsonObject | null): void;
  /** The data, or undefined on a miss. */
  get(key: string): Promise<Buffer | undefined>;
  /** As get; a value of up to 8 KiB is a slice of a shared pool (see README: Data). */
  getSync(key: string): Buffer | undefined;
  getMetadata(key: string): Promise<StoreEntryMetadata | undefined>;
  getMetadataSync(key: string): StoreEntryMetadata | undefined;
  updateMetadata(key: string, patch: JsonObject | string): Promise<boolean>;
  updateMetadataSync(key: string, patch: JsonObject | string): boolean;
  updateData(key: string, data: Data): Promise<boolean>;
  updateDataSync(key: string, data: Data): boolean;
  exists(key: string): Promise<boolean>;
  existsSync(key: string): boolean;
  delete(key: string): Promise<boolean>;
  deleteSync(key: string): boolean;
  touch(key: string): Promise<boolean>;
  touchSync(key: string): boolean;
  /** One page of entries whose name starts with prefix (null/undefined: all). */
  list(prefix?: string | null, options?: ListOptions | null): Promise<ListPage<StoreEntryMetadata>>;
  listSync(prefix?: string | null, options?: ListOptions | null): ListPage<StoreEntryMetadata>;
  deleteByPrefix(prefix: string): Promise<number>;
  deleteByPrefixSync(prefix: string): number;
  copy(source: string, dest: string, options?: StoreCopyOptions | null): Promise<boolean>;
  copySync(source: string, dest: string, options?: StoreCopyOptions | null): boolean;
  move(source: string, dest: string, options?: StoreCopyOptions | null): Promise<boolean>;
  moveSync(source: string, dest: string, options?: StoreCopyOptions | null): boolean;
  clear(): Promise<number>;
  clearSync(): number;
}

/** The cache key of params: lowercase hex SHA-256 of their RFC 8785 canonical JSON. */
export function key(params: Params | string): string;

/** Version of the loaded libcacheness. */
export function version(): string;
