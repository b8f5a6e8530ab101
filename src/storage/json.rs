//! JSON-file metadata backend: every record of a directory in `<dir>/cacheness.json`.
//!
//! Each call takes a lock on `<dir>/cacheness.json.lock` (`flock`: shared for reads, exclusive
//! for writes; it dies with the process), reloads the file if another handle or process changed
//! it since this handle last saw it, runs the [`Tables`] operation and, for a write, replaces the
//! file atomically (temporary file, fsync when durable, rename). Two processes therefore never
//! lose each other's writes. The lock file holds a generation counter that every writer bumps
//! before it renames, so a change is seen even when size and mtime look the same.

use super::filter::{Filter, Order, Value};
use super::memory::Tables;
use super::{Loaded, MetadataBackend, Outcome, Record, Scanned, TxBody};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Name of the data file inside the directory.
pub const FILE_NAME: &str = "cacheness.json";
const FORMAT_VERSION: u32 = 1;

/// The file's document.
#[derive(Serialize, Deserialize)]
struct Doc {
    format: String,
    version: u32,
    tables: Tables,
}

/// What identifies one state of the data file: the generation in the lock file plus the file's
/// identity and times (a file written by something that does not bump the generation).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    generation: u64,
    file: Option<(u64, u64, u64, i64, i64, i64, i64)>,
}

struct Cached {
    tables: Tables,
    /// `None`: the tables are not known to match the file (never loaded, or a write failed).
    stamp: Option<Stamp>,
}

/// Records in one JSON file, shared safely by handles and processes.
pub struct JsonFile {
    path: PathBuf,
    lock_path: PathBuf,
    dir: PathBuf,
    durable: bool,
    cache: Mutex<Cached>,
}

#[cfg(unix)]
fn file_id(m: &std::fs::Metadata) -> (u64, u64, u64, i64, i64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec())
}

#[cfg(not(unix))]
fn file_id(m: &std::fs::Metadata) -> (u64, u64, u64, i64, i64, i64, i64) {
    let t = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or((0, 0), |d| (d.as_secs() as i64, d.subsec_nanos() as i64));
    (0, 0, m.len(), t.0, t.1, 0, 0)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("{what} {}: {e}", path.display()))
}

/// The held lock: the open lock file, unlocked when dropped.
struct Held {
    file: File,
}

impl Held {
    fn generation(&mut self) -> Result<u64> {
        let mut buf = Vec::with_capacity(8);
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut buf)?;
        Ok(buf.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes))
    }

    fn set_generation(&mut self, g: u64) -> Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&g.to_le_bytes())?;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl JsonFile {
    /// Opens (creating the lock file if needed) the JSON file in `dir` and checks it is readable.
    pub fn open(dir: &Path, durable: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create dir", dir, e))?;
        let db = JsonFile {
            path: dir.join(FILE_NAME),
            lock_path: dir.join(format!("{FILE_NAME}.lock")),
            dir: dir.to_path_buf(),
            durable,
            cache: Mutex::new(Cached { tables: Tables::default(), stamp: None }),
        };
        db.read_op(|_| Ok(()))?;
        db.remove_leftovers();
        Ok(db)
    }

    /// Removes temporary files of writers that died before their rename. Writers create them
    /// only while they hold the exclusive lock, so under that lock every one is garbage.
    fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let prefix = format!(".{FILE_NAME}.");
        let stale: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".tmp"))
            })
            .collect();
        if stale.is_empty() {
            return;
        }
        if let Ok(_held) = self.lock(true) {
            for p in stale {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    fn lock(&self, exclusive: bool) -> Result<Held> {
        // Never through a link planted in the directory (O_NOFOLLOW).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.lock_path)
            .map_err(|e| io_err("cannot open lock file", &self.lock_path, e))?;
        let locked = if exclusive { file.lock() } else { file.lock_shared() };
        locked.map_err(|e| io_err("cannot lock", &self.lock_path, e))?;
        Ok(Held { file })
    }

    fn cache(&self) -> Result<MutexGuard<'_, Cached>> {
        // A panic in a caller's closure cannot leave the file half-written (it is replaced by a
        // rename): forget the in-memory copy and carry on from the file.
        Ok(self.cache.lock().unwrap_or_else(|poisoned| {
            let mut c = poisoned.into_inner();
            c.stamp = None;
            self.cache.clear_poison();
            c
        }))
    }

    fn stamp(&self, held: &mut Held) -> Result<Stamp> {
        let generation = held.generation()?;
        let file = match std::fs::metadata(&self.path) {
            Ok(m) => Some(file_id(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("cannot stat", &self.path, e)),
        };
        Ok(Stamp { generation, file })
    }

    fn load(&self) -> Result<Tables> {
        let read = || -> std::io::Result<Vec<u8>> {
            let mut f =
                OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(&self.path)?;
            if !f.metadata()?.file_type().is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            let mut t = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut t)?;
            Ok(t)
        };
        let text = match read() {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tables::default()),
            Err(e) => return Err(io_err("cannot read", &self.path, e)),
        };
        let doc: Doc = serde_json::from_slice(&text)
            .map_err(|e| Error::corrupt(format!("{} is not a valid cacheness JSON file: {e}", self.path.display())))?;
        if doc.version > FORMAT_VERSION {
            return Err(Error::backend(format!(
                "{} has format version {}, newer than this library supports ({FORMAT_VERSION})",
                self.path.display(),
                doc.version
            )));
        }
        Ok(doc.tables)
    }

    /// Writes the tables to a temporary file and renames it over the data file.
    fn save(&self, tables: &Tables) -> Result<()> {
        #[derive(Serialize)]
        struct DocRef<'a> {
            format: &'a str,
            version: u32,
            tables: &'a Tables,
        }
        let bytes = serde_json::to_vec(&DocRef { format: "cacheness-json", version: FORMAT_VERSION, tables })
            .map_err(|e| Error::backend(format!("cannot serialize records: {e}")))?;
        let tmp = self.dir.join(format!(".{FILE_NAME}.{}.{:016x}.tmp", std::process::id(), rand::random::<u64>()));
        let result = (|| -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            if self.durable {
                f.sync_all()?;
            }
            drop(f);
            std::fs::rename(&tmp, &self.path)?;
            if self.durable {
                #[cfg(unix)]
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err("cannot write", &self.path, e));
        }
        Ok(())
    }

    /// Runs a read-only `f` on up-to-date tables under a shared file lock.
    fn read_op<T>(&self, f: impl FnOnce(&mut Tables) -> Result<T>) -> Result<T> {
        self.call_with(false, |t| Ok((f(t)?, false)))
    }

    /// Runs a writing `f` under an exclusive lock; saves when it reports a change.
    fn write<T>(&self, f: impl FnOnce(&mut Tables) -> Result<(T, bool)>) -> Result<T> {
        self.call_with(true, f)
    }

    /// Runs `f` on up-to-date tables under the file lock; with `write`, saves the result if `f`
    /// says it changed something.
    fn call_with<T>(&self, write: bool, f: impl FnOnce(&mut Tables) -> Result<(T, bool)>) -> Result<T> {
        let mut cache = self.cache()?;
        let mut held = self.lock(write)?;
        let now = self.stamp(&mut held)?;
        if cache.stamp.as_ref() != Some(&now) {
            cache.stamp = None;
            cache.tables = self.load()?;
            cache.stamp = Some(now.clone());
        }
        let (out, changed) = match f(&mut cache.tables) {
            Ok(v) => v,
            Err(e) => {
                // The operation checks before it changes anything, but never trust a half-done
                // change: reload next time.
                if write {
                    cache.stamp = None;
                }
                return Err(e);
            }
        };
        if write && changed {
            cache.stamp = None;
            let generation = now.generation.wrapping_add(1);
            held.set_generation(generation)?;
            self.save(&cache.tables)?;
            cache.stamp = Some(self.stamp(&mut held)?);
        }
        Ok(out)
    }
}

impl MetadataBackend for JsonFile {
    fn name(&self) -> &'static str {
        "json"
    }
    fn get(&self, ns: &str, key: &str) -> Result<Option<Record>> {
        self.read_op(|t| Ok(t.get(ns, key)))
    }
    fn read(&self, ns: &str, keys: &[&str], cond: &Filter, access: Option<i64>) -> Result<Vec<Option<Loaded>>> {
        if access.is_none() {
            // A plain read changes nothing: a shared lock is enough.
            return self.read_op(|t| Ok(t.read(ns, keys, cond, None)));
        }
        self.write(|t| {
            let found = t.read(ns, keys, cond, access);
            let changed = found.iter().any(Option::is_some);
            Ok((found, changed))
        })
    }
    fn transact(&self, ns: &str, keys: &[&str], size_limit: Option<u64>, body: &mut TxBody<'_>) -> Result<Outcome> {
        self.write(|t| Ok((t.transact(ns, keys, size_limit, body)?, true)))
    }
    fn delete_where(&self, ns: &str, filter: &Filter) -> Result<(u64, Vec<String>)> {
        self.write(|t| {
            let out = t.delete_where(ns, filter);
            let changed = out.0 > 0;
            Ok((out, changed))
        })
    }
    fn set_expiry_where(&self, ns: &str, filter: &Filter, expires_at: Option<i64>) -> Result<u64> {
        self.write(|t| {
            let n = t.set_expiry_where(ns, filter, expires_at);
            Ok((n, n > 0))
        })
    }
    fn update_where(
        &self,
        ns: &str,
        filter: &Filter,
        body: &mut dyn FnMut(&Record) -> Result<Option<Record>>,
    ) -> Result<u64> {
        self.write(|t| {
            let n = t.update_where(ns, filter, body)?;
            Ok((n, n > 0))
        })
    }
    fn list(
        &self,
        ns: &str,
        filter: &Filter,
        order: Order,
        after: Option<&(Value, String)>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        self.read_op(|t| Ok(t.list(ns, filter, order, after, limit)))
    }
    fn scan(&self, ns: &str, after_key: Option<&str>, limit: usize) -> Result<Vec<Scanned>> {
        self.read_op(|t| Ok(t.scan(ns, after_key, limit)))
    }
    fn totals(&self, ns: &str) -> Result<(u64, u64)> {
        self.read_op(|t| Ok(t.totals(ns)))
    }
    fn referenced_blobs(&self, ids: &[String]) -> Result<Vec<String>> {
        self.read_op(|t| Ok(t.referenced_blobs(ids)))
    }
    fn remove_raw(&self, ns: &str, key: &str) -> Result<Option<String>> {
        self.write(|t| {
            let before = t.get(ns, key).is_some();
            Ok((t.remove_raw(ns, key), before))
        })
    }
}
