//! What the cache and the named-key store share: the two backends, the namespace, how data is
//! written (inline or blob) and read back (size, hash and signature checks), and how a
//! transaction's dead blobs are removed after it commits.

use super::access::AccessLog;
use super::config::OpenConfig;
use super::keys::sha256_hex;
use super::signing::Signer;
use super::time::format_ms;
use crate::error::{Code, Error, Result};
use crate::storage::blob_fs::{self, FsBlobs};
use crate::storage::blob_mem::MemBlobs;
use crate::storage::memory::Memory;
use crate::storage::sqlite::Sqlite;
use crate::storage::{Action, BlobGuard, BlobStore, Filter, MetadataBackend, Outcome, Payload, Record};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const DEFAULT_INLINE_MAX: u64 = 16 * 1024;

/// Counters of one open handle.
#[derive(Default)]
pub struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    pub expired_removed: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

pub struct Core {
    pub meta: Arc<dyn MetadataBackend>,
    pub blobs: Arc<dyn BlobStore>,
    /// Internal namespace: "c:<name>" for a cache, "s:<name>" for a store.
    pub ns: String,
    pub namespace: String,
    pub dir: Option<PathBuf>,
    pub inline_max: u64,
    pub durable: bool,
    pub signer: Option<Signer>,
    pub verify_on_read: bool,
    pub counters: Counters,
    /// Hits not yet written (see [`super::access`]).
    pub access: AccessLog,
}

/// Data prepared for a write: where it goes, and the guard keeping a new blob safe until commit.
pub struct Prepared {
    pub payload: Payload,
    pub blob: Option<String>,
    pub size: u64,
    pub content_hash: String,
    pub guard: BlobGuard,
}

const STALE: &str = "the entry changed while it was being read";

/// The error of a read that raced with a writer; see [`is_stale`].
pub fn stale() -> Error {
    Error::new(Code::Busy, STALE)
}

/// True for [`stale`]: the caller reads again.
pub fn is_stale(e: &Error) -> bool {
    e.code == Code::Busy && e.message == STALE
}

/// How often a read retries after a [`stale`] result before giving up with CACHENESS_BUSY.
pub const READ_RETRIES: usize = 8;

/// What a copy or move writes for its destination: the payload, the destination's blob id (if
/// in a file), and the guard keeping a new file safe until its record commits.
pub type CopyData = (Payload, Option<String>, Option<BlobGuard>);

pub fn content_hash(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

fn valid_namespace(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
}

impl Core {
    pub fn open(cfg: &OpenConfig, kind: char) -> Result<Core> {
        let namespace = cfg.namespace.clone().unwrap_or_else(|| "default".into());
        if !valid_namespace(&namespace) {
            return Err(Error::invalid("namespace must be 1..128 characters of A-Z a-z 0-9 _ . -"));
        }
        let durable = match cfg.durability.as_deref() {
            None | Some("normal") => false,
            Some("full") => true,
            Some(d) => return Err(Error::invalid(format!("durability must be \"normal\" or \"full\", not {d:?}"))),
        };
        let meta_kind = cfg.metadata.as_deref().unwrap_or("sqlite");
        let blob_kind = cfg.blobs.as_deref().unwrap_or("fs");
        let needs_dir = meta_kind == "sqlite" || meta_kind == "json" || blob_kind == "fs";
        let dir = match (&cfg.dir, needs_dir) {
            (Some(d), _) => {
                if d.as_os_str().is_empty() {
                    return Err(Error::invalid("dir must not be empty"));
                }
                std::fs::create_dir_all(d).map_err(|e| Error::io(format!("cannot create dir {}: {e}", d.display())))?;
                Some(d.clone())
            }
            (None, true) => {
                return Err(Error::invalid("dir is required unless metadata and blobs are both \"memory\""))
            }
            (None, false) => None,
        };
        if cfg.postgres_url.is_some() && meta_kind != "postgres" {
            return Err(Error::invalid("postgres_url is only for \"metadata\": \"postgres\""));
        }
        let meta: Arc<dyn MetadataBackend> = match meta_kind {
            "sqlite" => Arc::new(Sqlite::open(&dir.clone().unwrap_or_default().join("cacheness.db"), durable)?),
            "memory" => Arc::new(Memory::default()),
            other => crate::storage::open_extra(other, dir.as_deref(), cfg.postgres_url.as_deref(), durable)?,
        };
        let blobs: Arc<dyn BlobStore> = match blob_kind {
            "fs" => Arc::new(FsBlobs::open(&dir.clone().unwrap_or_default().join("blobs"))?),
            "memory" => Arc::new(MemBlobs::default()),
            other => return Err(Error::invalid(format!("blobs must be \"fs\" or \"memory\", not {other:?}"))),
        };
        let signer = cfg.signing_key.as_deref().map(Signer::from_hex).transpose()?;
        let access = AccessLog::new(meta.clone(), format!("{kind}:{namespace}"));
        Ok(Core {
            meta,
            blobs,
            ns: format!("{kind}:{namespace}"),
            namespace,
            dir,
            inline_max: cfg.inline_max_bytes.unwrap_or(DEFAULT_INLINE_MAX),
            durable,
            signer,
            verify_on_read: cfg.verify_on_read.unwrap_or(false),
            counters: Counters::default(),
            access,
        })
    }

    /// Notes hits for `keys` at `now`; written later in one transaction (see [`super::access`]).
    pub fn note_access(&self, keys: &[(&str, u64)], now: i64) {
        self.access.note(keys, now);
    }

    /// Writes the noted hits now (before reads that show them, and before evictions).
    pub fn flush_access(&self) -> Result<()> {
        self.access.flush()
    }

    /// As [`Core::flush_access`], for reads that only show the counts: a cache that cannot take
    /// the write (read-only, busy) still answers, with counts that may lag.
    pub fn flush_access_best_effort(&self) {
        let _ = self.access.flush();
    }

    /// A fresh blob id tied to this namespace and key.
    pub fn blob_id(&self, key: &str) -> String {
        blob_fs::new_id(&sha256_hex(format!("{}\0{}", self.ns, key).as_bytes()))
    }

    /// Puts `data` where it belongs: inline if small, else a new blob file.
    pub fn prepare(&self, key: &str, data: &[u8]) -> Result<Prepared> {
        let hash = content_hash(data);
        if data.len() as u64 <= self.inline_max {
            return Ok(Prepared {
                payload: Payload::Inline(data.to_vec()),
                blob: None,
                size: data.len() as u64,
                content_hash: hash,
                guard: BlobGuard::none(),
            });
        }
        let id = self.blob_id(key);
        let guard = self.blobs.put(&id, data, self.durable)?;
        Ok(Prepared { payload: Payload::Blob, blob: Some(id), size: data.len() as u64, content_hash: hash, guard })
    }

    /// The data a copy or move of `src` gives the entry `dest_key`: a move hands over the
    /// source's blob file, a copy gets its own (a hard link where possible); inline data is
    /// taken as read. `Ok(None)` when the source's file is gone because a writer replaced or
    /// removed the source meanwhile: read the source again.
    pub fn copy_payload(
        &self,
        src: &Record,
        inline: Option<Vec<u8>>,
        dest_key: &str,
        is_move: bool,
    ) -> Result<Option<CopyData>> {
        Ok(Some(match (&src.blob, inline) {
            (Some(id), _) if is_move => (Payload::Blob, Some(id.clone()), None),
            (Some(id), _) => {
                let new = self.blob_id(dest_key);
                match self.blobs.copy(id, &new, self.durable) {
                    Ok(g) => (Payload::Blob, Some(new), Some(g)),
                    Err(e) if e.code == Code::Corrupt => {
                        let e = self.reject(src, "missing_file");
                        return if is_stale(&e) { Ok(None) } else { Err(e) };
                    }
                    Err(e) => return Err(e),
                }
            }
            (None, Some(d)) => (Payload::Inline(d), None, None),
            (None, None) => return Err(self.reject(src, "invalid_record")),
        }))
    }

    /// Undoes a [`Prepared`] whose transaction did not commit.
    pub fn discard(&self, p: Prepared) {
        if let Some(id) = &p.blob {
            let _ = self.blobs.delete(id);
        }
    }

    /// Removes the blobs a committed transaction left dead.
    pub fn finish(&self, out: &Outcome) {
        for id in &out.dead_blobs {
            let _ = self.blobs.delete(id);
        }
        Counters::add(&self.counters.evictions, out.evicted);
    }

    pub fn sign(&self, r: &mut Record) {
        r.signature = match &self.signer {
            Some(s) => s.sign(&self.ns, r),
            None => String::new(),
        };
    }

    /// Signature check of a record (always true when the cache does not sign).
    pub fn signature_ok(&self, r: &Record) -> bool {
        self.signer.as_ref().is_none_or(|s| s.check(&self.ns, r))
    }

    /// A record that must not be served: remove it (record first, then blob) and say why.
    /// Only if it is still the record that was judged: when a writer replaced it meanwhile
    /// (its old blob is legitimately gone), nothing is removed and the error is [`stale`],
    /// which readers answer by reading again.
    pub fn reject(&self, r: &Record, why: &str) -> Error {
        let mut removed = false;
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            removed = current[0].as_ref().is_some_and(|c| {
                c.version == r.version
                    && c.blob == r.blob
                    && c.content_hash == r.content_hash
                    && c.signature == r.signature
            });
            Ok(vec![if removed { Action::Delete } else { Action::Nothing }])
        };
        match self.meta.transact(&self.ns, &[&r.key], None, &mut body) {
            Ok(out) => self.finish(&out),
            Err(e) => return e,
        }
        if !removed {
            return stale();
        }
        Error::corrupt(format!("entry {} failed its integrity check ({why}) and was removed", r.key))
    }

    /// Forgets deferred hits of entries that were just replaced (their data is new).
    pub fn forget_access(&self, keys: &[&str]) {
        self.access.forget(keys);
    }

    /// Checks a record read for serving; rejects it if its signature is bad.
    pub fn check_record(&self, r: &Record) -> Result<()> {
        if !self.signature_ok(r) {
            return Err(self.reject(r, "corrupted_signature"));
        }
        Ok(())
    }

    /// The data of a record, checked: size always; hash when verify_on_read or signing is on.
    pub fn load(&self, r: &Record, inline: Option<Vec<u8>>) -> Result<Vec<u8>> {
        self.check_record(r)?;
        let data = match (&r.blob, inline) {
            (Some(id), _) => match self.blobs.get(id) {
                Ok(Some(d)) => d,
                Ok(None) => return Err(self.reject(r, "missing_file")),
                Err(e) if e.code == Code::Corrupt => return Err(self.reject(r, "invalid_record")),
                Err(e) => return Err(e),
            },
            (None, Some(d)) => d,
            (None, None) => return Err(self.reject(r, "invalid_record")),
        };
        if data.len() as u64 != r.size {
            return Err(self.reject(r, "size_mismatch"));
        }
        if (self.verify_on_read || self.signer.is_some()) && content_hash(&data) != r.content_hash {
            return Err(self.reject(r, "hash_mismatch"));
        }
        Ok(data)
    }

    /// Filter matching one live entry at `now` (storage `read` condition).
    pub fn alive(now: i64) -> Filter {
        Filter::all().with(crate::storage::filter::Cond::AliveAt(now))
    }
}

/// Applies an RFC 7396 JSON merge patch to a metadata object; the result must stay an object.
pub fn merge_patch(target: &str, patch: &Value) -> Result<String> {
    if !patch.is_object() {
        return Err(Error::invalid("a metadata patch must be a JSON object (RFC 7396 merge patch)"));
    }
    let mut doc: Value = serde_json::from_str(target).unwrap_or(Value::Object(Map::new()));
    json_patch(&mut doc, patch);
    Ok(super::keys::canonical_value(&doc))
}

fn json_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    json_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Parses a metadata object given by a caller into canonical text ("{}" when absent).
pub fn metadata_text(v: Option<&Value>) -> Result<String> {
    match v {
        None | Some(Value::Null) => Ok("{}".into()),
        Some(v @ Value::Object(_)) => Ok(super::keys::canonical_value(v)),
        Some(_) => Err(Error::invalid("metadata must be a JSON object")),
    }
}

/// The metadata JSON of API.md for a record. `cache`: cache_key/params/expires_at; else store "key".
pub fn render(r: &Record, cache: bool) -> Value {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let mut m = Map::new();
    if cache {
        m.insert("cache_key".into(), json!(r.key));
        m.insert("params".into(), parse(&r.params));
    } else {
        m.insert("key".into(), json!(r.key));
    }
    m.insert("data_type".into(), json!(r.data_type));
    m.insert("description".into(), json!(r.description));
    m.insert("size".into(), json!(r.size));
    m.insert("content_hash".into(), json!(r.content_hash));
    m.insert("version".into(), json!(r.version));
    m.insert("created_at".into(), json!(format_ms(r.created_at)));
    m.insert("accessed_at".into(), json!(format_ms(r.accessed_at)));
    m.insert("access_count".into(), json!(r.access_count));
    if cache {
        m.insert("expires_at".into(), r.expires_at.map_or(Value::Null, |e| json!(format_ms(e))));
    }
    m.insert("metadata".into(), parse(&r.metadata));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let out = merge_patch(r#"{"a":"b","c":{"d":"e","f":"g"}}"#, &json!({"a":"z","c":{"f":null}})).unwrap();
        assert_eq!(out, r#"{"a":"z","c":{"d":"e"}}"#);
        assert!(merge_patch("{}", &json!([1])).is_err());
    }
}
