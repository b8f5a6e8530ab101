//! The storage layer: entry records ([`MetadataBackend`]) and bytes ([`BlobStore`]).
//!
//! It stores timestamps and never interprets them: "alive at t" is just a comparison the cache
//! layer asks for. Every backend offers the same primitives, executed set-based where the
//! backend can (SQL), and one write transaction per call.

pub mod blob_fs;
pub mod blob_mem;
pub mod checkpoint;
pub mod filter;
pub mod json;
pub mod memory;
pub mod postgres;
pub mod sqlite;

pub use filter::{Cond, Filter, Order, Value};

use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// One stored entry, without its data.
///
/// `key` is the cache key (64 hex) for a cache, the caller's name for a named-key store.
/// `params` and `metadata` are canonical JSON text (RFC 8785), `params` empty for a store entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub key: String,
    pub params: String,
    pub data_type: String,
    pub description: String,
    pub size: u64,
    pub content_hash: String,
    pub version: u64,
    pub created_at: i64,
    pub accessed_at: i64,
    pub access_count: u64,
    pub expires_at: Option<i64>,
    pub metadata: String,
    /// Blob id in the [`BlobStore`]; `None` means the data is inline in the record.
    pub blob: Option<String>,
    /// Hex HMAC over the record's fields when the cache signs, else empty.
    pub signature: String,
}

/// Where a write puts the data of a record.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Keep the data the record already has (metadata-only change).
    Keep,
    /// Data stored inline in the metadata database.
    Inline(Vec<u8>),
    /// Data in the blob store under `Record::blob`.
    Blob,
}

/// What a transaction does to one key.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per key of a transaction; boxing buys nothing
pub enum Action {
    Nothing,
    /// Insert or fully replace the record (its key must be the key of the slot).
    Put(Record, Payload),
    Delete,
}

/// What a transaction changed, for the cache layer to finish outside the transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Blob ids no record refers to any more (replaced, deleted or evicted): delete them now.
    pub dead_blobs: Vec<String>,
    /// Number of records evicted to honour the size limit.
    pub evicted: u64,
}

/// Deferred hits on one record: (key, the version that was read, last access time, count).
pub type AccessNote = (String, u64, i64, u64);

/// A record read with its inline data (None when the data lives in the blob store).
pub type Loaded = (Record, Option<Vec<u8>>);

/// One item seen by a scan: a well-formed record, or a record that cannot be read.
#[derive(Debug, Clone)]
pub enum Scanned {
    Ok(Record),
    Invalid { key: String, reason: String },
}

/// The transaction body: gets the current records of the requested keys (expired ones
/// included: the storage layer does not know about expiry) and returns one action per key.
pub type TxBody<'a> = dyn FnMut(&[Option<Record>]) -> Result<Vec<Action>> + 'a;

/// Entry records of one directory or database, partitioned by namespace (`ns`).
pub trait MetadataBackend: Send + Sync {
    /// "sqlite", "memory", "json", "postgres".
    fn name(&self) -> &'static str;

    /// One record, without data.
    fn get(&self, ns: &str, key: &str) -> Result<Option<Record>>;

    /// Records with inline data for `keys`, in order. With `access = Some(now)`, each record
    /// that matches `cond` (a filter) gets `accessed_at = now, access_count += 1` in the same transaction
    /// and is returned as updated. Records that do not match `cond` come back as `None`.
    fn read(&self, ns: &str, keys: &[&str], cond: &Filter, access: Option<i64>) -> Result<Vec<Option<Loaded>>>;

    /// One write transaction over `keys`: loads their records, calls `body`, applies the
    /// actions. Then, with `size_limit = Some(bytes)`, evicts records of `ns` in order of least
    /// recent `accessed_at` (never one of `keys`) until the namespace's total size fits.
    /// If `body` fails, nothing changes.
    fn transact(&self, ns: &str, keys: &[&str], size_limit: Option<u64>, body: &mut TxBody<'_>) -> Result<Outcome>;

    /// Deletes every record matching the filter in one statement/transaction.
    /// Returns the number deleted and their blob ids.
    fn delete_where(&self, ns: &str, filter: &Filter) -> Result<(u64, Vec<String>)>;

    /// Sets `expires_at` on every record matching the filter. Returns the count.
    fn set_expiry_where(&self, ns: &str, filter: &Filter, expires_at: Option<i64>) -> Result<u64>;

    /// One transaction: for each record matching the filter, `body` returns the new record
    /// (metadata-only change) or `None` to leave it. Returns how many changed.
    fn update_where(
        &self,
        ns: &str,
        filter: &Filter,
        body: &mut dyn FnMut(&Record) -> Result<Option<Record>>,
    ) -> Result<u64>;

    /// One page of records matching the filter, in `order`, strictly after `after`
    /// (the sort value and key of the last record of the previous page).
    fn list(
        &self,
        ns: &str,
        filter: &Filter,
        order: Order,
        after: Option<&(Value, String)>,
        limit: usize,
    ) -> Result<Vec<Record>>;

    /// Every record of `ns` ordered by key, strictly after `after_key`, at most `limit`,
    /// including records whose fields cannot be read.
    fn scan(&self, ns: &str, after_key: Option<&str>, limit: usize) -> Result<Vec<Scanned>>;

    /// (entries, total_size) of the namespace, expired entries included.
    fn totals(&self, ns: &str) -> Result<(u64, u64)>;

    /// Which of `ids` are referenced by a record of any namespace.
    fn referenced_blobs(&self, ids: &[String]) -> Result<Vec<String>>;

    /// Removes one record whatever its contents (used by repair for unreadable records).
    fn remove_raw(&self, ns: &str, key: &str) -> Result<Option<String>>;

    /// Adds deferred access bookkeeping in one transaction: for each (key, version, time,
    /// count), if the record is still at that version, `accessed_at = max(accessed_at, time)`
    /// and `access_count += count`. Missing or since-replaced records are skipped.
    fn add_access(&self, ns: &str, items: &[AccessNote]) -> Result<()> {
        let keys: Vec<&str> = items.iter().map(|(k, _, _, _)| k.as_str()).collect();
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            Ok(current
                .iter()
                .zip(items)
                .map(|(r, (_, v, t, n))| match r {
                    Some(r) if r.version == *v => {
                        let mut r = r.clone();
                        r.accessed_at = r.accessed_at.max(*t);
                        r.access_count += n;
                        Action::Put(r, Payload::Keep)
                    }
                    _ => Action::Nothing,
                })
                .collect())
        };
        self.transact(ns, &keys, None, &mut body).map(|_| ())
    }
}

/// One file (or memory slot) the blob store holds, as seen by a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFile {
    /// Blob id, or the temporary file's name for a leftover.
    pub id: String,
    pub size: u64,
    /// A temporary file left by a write that never finished.
    pub temporary: bool,
    /// Path on disk, for reports (empty for memory).
    pub path: String,
}

/// Bytes by blob id. Writes are atomic (temporary name, then rename).
pub trait BlobStore: Send + Sync {
    /// "fs" or "memory".
    fn name(&self) -> &'static str;
    /// Writes `data` under `id` atomically; `durable` syncs to disk before returning.
    /// The returned guard keeps the new blob safe from orphan cleanup until dropped, which the
    /// cache layer does after the record referring to it is committed.
    fn put(&self, id: &str, data: &[u8], durable: bool) -> Result<BlobGuard>;
    /// The bytes of `id`, or `None` if there is no such blob.
    fn get(&self, id: &str) -> Result<Option<Vec<u8>>>;
    /// The size of `id`, or `None`.
    fn size(&self, id: &str) -> Result<Option<u64>>;
    /// Copies `src` to a new blob `dst` without reading it into memory where possible.
    fn copy(&self, src: &str, dst: &str, durable: bool) -> Result<BlobGuard>;
    /// Removes `id`; a missing blob is not an error.
    fn delete(&self, id: &str) -> Result<()>;
    /// Every blob and leftover temporary file the store could have written.
    fn walk(&self) -> Result<Vec<BlobFile>>;
    /// True while a writer holds the file (a write in flight, its record not yet committed).
    fn is_held(&self, file: &BlobFile) -> bool;
    /// Removes a file found by `walk` if no writer holds it now. Returns whether it was removed.
    fn remove_unheld(&self, file: &BlobFile, still_unreferenced: &dyn Fn() -> Result<bool>) -> Result<bool>;
    /// Path of a blob on disk, if the store is on disk (for tests and reports).
    fn path_of(&self, id: &str) -> Option<std::path::PathBuf>;
}

/// Held by a writer from the moment a blob is in place until its record is committed.
/// For files it holds an exclusive `flock`, which dies with the process.
pub struct BlobGuard {
    _file: Option<std::fs::File>,
}

impl BlobGuard {
    pub fn none() -> Self {
        BlobGuard { _file: None }
    }
    pub fn file(f: std::fs::File) -> Self {
        BlobGuard { _file: Some(f) }
    }
}

/// Opens a metadata backend other than the built-in "sqlite" and "memory".
pub fn open_extra(
    kind: &str,
    dir: Option<&Path>,
    postgres_url: Option<&str>,
    durable: bool,
) -> Result<Arc<dyn MetadataBackend>> {
    match kind {
        "json" => {
            let dir = dir.ok_or_else(|| Error::invalid("\"metadata\": \"json\" needs a dir"))?;
            Ok(Arc::new(json::JsonFile::open(dir, durable)?))
        }
        "postgres" => {
            let url = postgres_url
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| Error::invalid("\"metadata\": \"postgres\" needs postgres_url"))?;
            Ok(Arc::new(postgres::Postgres::open(url, durable)?))
        }
        _ => Err(Error::invalid(format!(
            "metadata must be \"sqlite\", \"memory\", \"json\" or \"postgres\", not {kind:?}"
        ))),
    }
}
