//! Concurrency of the metadata backends: 8 threads, each with its own backend instance (its own
//! connection pool, database connection or lock file descriptor, as separate processes would
//! have) on one database and namespace, doing upserts, version-checked updates, deletes,
//! read-modify-write increments, set-based updates/deletes and reads on overlapping keys.
//! Afterwards: no lost update, no duplicate row, exact totals, and every replaced, deleted or
//! evicted blob reported dead exactly once.
//!
//! Runs against PostgreSQL (`postgres::...`, URL from `CACHENESS_TEST_POSTGRES_URL`; without it
//! these tests FAIL and say how to start a server: `eval "$(scripts/pg.sh start)"`), SQLite
//! (`sqlite::...`) and the JSON file backend (`json::...`).

use cacheness::storage::sqlite::Sqlite;
use cacheness::storage::{open_extra, Action, Cond, Filter, MetadataBackend, Payload, Record, Scanned};
use cacheness::{Code, Result};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Barrier};

const PG_ENV: &str = "CACHENESS_TEST_POSTGRES_URL";
const THREADS: usize = 8;
const ITERATIONS: usize = 150;
const KEYS: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Sqlite,
    Json,
    Postgres,
}

fn postgres_url() -> String {
    match std::env::var(PG_ENV) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "{PG_ENV} is not set, so the PostgreSQL concurrency tests cannot run (they never skip).\n\
             Start a throwaway server and export its URL with:\n\n    eval \"$(scripts/pg.sh start)\"\n\n\
             then run the tests again, and stop it afterwards with `scripts/pg.sh stop`."
        ),
    }
}

/// Where the instances meet: a directory or a database URL.
struct Shared {
    kind: Kind,
    dir: Option<tempfile::TempDir>,
    url: String,
    ns: String,
}

impl Shared {
    fn new(kind: Kind) -> Shared {
        let ns = format!("conc-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        match kind {
            Kind::Postgres => Shared { kind, dir: None, url: postgres_url(), ns },
            _ => Shared { kind, dir: Some(tempfile::tempdir().expect("temp dir")), url: String::new(), ns },
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.as_ref().expect("dir").path().to_path_buf()
    }

    /// A new, independent backend instance.
    fn open(&self) -> Arc<dyn MetadataBackend> {
        let b: Arc<dyn MetadataBackend> = match self.kind {
            Kind::Sqlite => Arc::new(Sqlite::open(&self.path().join("cacheness.db"), false).expect("open sqlite")),
            Kind::Json => open_extra("json", Some(&self.path()), None, false).expect("open json"),
            Kind::Postgres => open_extra("postgres", None, Some(&self.url), false).expect("open postgres"),
        };
        eprintln!("instance of backend={}", b.name());
        b
    }
}

fn record(key: &str, size: u64, blob: Option<String>, version: u64, metadata: String) -> Record {
    Record {
        key: key.into(),
        params: format!("{{\"k\":\"{key}\"}}"),
        data_type: "bytes".into(),
        description: String::new(),
        size,
        content_hash: "sha256:0".into(),
        version,
        created_at: 1,
        accessed_at: 1,
        access_count: 0,
        expires_at: None,
        metadata,
        blob,
        signature: String::new(),
    }
}

fn count_of(r: &Record) -> u64 {
    serde_json::from_str::<serde_json::Value>(&r.metadata).ok().and_then(|v| v["count"].as_u64()).unwrap_or(0)
}

/// Every record through `scan`, asserting strictly increasing (so unique) keys.
fn all(b: &dyn MetadataBackend, ns: &str) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = b.scan(ns, after.as_deref(), 5).expect("scan");
        if page.is_empty() {
            return out;
        }
        for s in page {
            let Scanned::Ok(r) = s else { panic!("unreadable record") };
            if let Some(last) = out.last() {
                assert!(last.key < r.key, "duplicate or unordered row: {:?} then {:?}", last.key, r.key);
            }
            out.push(r);
        }
        after = out.last().map(|r| r.key.clone());
    }
}

#[derive(Default, Debug)]
struct Tally {
    increments: u64,
    created: Vec<String>,
    dead: Vec<String>,
    busy: u64,
    conflicts: u64,
    updates: u64,
    deletes: u64,
    ops: u64,
}

impl Tally {
    /// Records the outcome of a call: BUSY is allowed (and counted); anything else fails.
    fn ok<T>(&mut self, what: &str, r: Result<T>) -> Option<T> {
        self.ops += 1;
        match r {
            Ok(v) => Some(v),
            Err(e) if e.code == Code::Busy => {
                eprintln!("{what}: busy: {e}");
                self.busy += 1;
                None
            }
            Err(e) => panic!("{what} failed: {e}"),
        }
    }
}

fn check_blobs(b: &dyn MetadataBackend, ns: &str, tallies: &[Tally]) {
    let created: Vec<&String> = tallies.iter().flat_map(|t| &t.created).collect();
    let created_set: BTreeSet<&String> = created.iter().copied().collect();
    assert_eq!(created.len(), created_set.len(), "blob ids are unique per write");
    let mut dead: BTreeMap<&String, usize> = BTreeMap::new();
    for d in tallies.iter().flat_map(|t| &t.dead) {
        *dead.entry(d).or_default() += 1;
    }
    let twice: Vec<_> = dead.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} blobs reported dead more than once, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    let live: BTreeSet<String> = all(b, ns).into_iter().filter_map(|r| r.blob).collect();
    for l in &live {
        assert!(!dead.contains_key(l), "blob {l} reported dead but still referenced");
        assert!(created_set.contains(l), "blob {l} referenced but never written");
    }
    let unaccounted: Vec<&&String> =
        created_set.iter().filter(|c| !live.contains(c.as_str()) && !dead.contains_key(**c)).collect();
    assert!(
        unaccounted.is_empty(),
        "{} blobs neither referenced nor reported dead (leaked), e.g. {:?}",
        unaccounted.len(),
        &unaccounted[..unaccounted.len().min(5)]
    );
    let ids: Vec<String> = created_set.iter().map(|s| s.to_string()).collect();
    let referenced: BTreeSet<String> = b.referenced_blobs(&ids).unwrap().into_iter().collect();
    assert_eq!(referenced, live);
}

fn check_totals(b: &dyn MetadataBackend, ns: &str) -> (u64, u64) {
    let rows = all(b, ns);
    let real = (rows.len() as u64, rows.iter().map(|r| r.size).sum::<u64>());
    assert_eq!(b.totals(ns).unwrap(), real, "totals differ from the rows");
    real
}

/// Puts, version-checked updates, deletes and counter increments on overlapping keys.
fn read_modify_write(kind: Kind) {
    let shared = Arc::new(Shared::new(kind));
    let ns = shared.ns.clone();
    let setup = shared.open();
    let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> {
        Ok(vec![Action::Put(record("counter", 1, None, 1, "{\"count\":0}".into()), Payload::Inline(vec![0]))])
    };
    setup.transact(&ns, &["counter"], None, &mut body).unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let shared = shared.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let b = shared.open();
                let ns = shared.ns.as_str();
                let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64 * 7919 + 1);
                let mut tally = Tally::default();
                start.wait();
                for i in 0..ITERATIONS {
                    let key = format!("k{:02}", rng.gen_range(0..KEYS));
                    let blob = format!("{ns}-t{t}-i{i}");
                    let size: u64 = rng.gen_range(1..1000);
                    match rng.gen_range(0..20) {
                        // Upsert with a new blob.
                        0..=4 => {
                            let mut body = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
                                let version = cur[0].as_ref().map_or(1, |r| r.version + 1);
                                let r = record(&key, size, Some(blob.clone()), version, "{}".into());
                                Ok(vec![Action::Put(r, Payload::Blob)])
                            };
                            if let Some(out) = tally.ok("put", b.transact(ns, &[key.as_str()], None, &mut body)) {
                                tally.created.push(blob.clone());
                                tally.dead.extend(out.dead_blobs);
                            }
                        }
                        // Update with an expected version (read first, check inside the transaction).
                        5..=8 => {
                            let Some(seen) = tally.ok("get", b.get(ns, &key)).flatten() else { continue };
                            let new_blob = rng.gen_bool(0.5);
                            let mut applied = false;
                            let mut body = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
                                applied = false;
                                let Some(cur) = &cur[0] else { return Ok(vec![Action::Nothing]) };
                                if cur.version != seen.version {
                                    return Ok(vec![Action::Nothing]);
                                }
                                applied = true;
                                let mut r = cur.clone();
                                r.version += 1;
                                r.metadata = format!("{{\"by\":{t},\"i\":{i}}}");
                                if new_blob {
                                    r.blob = Some(blob.clone());
                                    r.size = size;
                                    Ok(vec![Action::Put(r, Payload::Blob)])
                                } else {
                                    Ok(vec![Action::Put(r, Payload::Keep)])
                                }
                            };
                            if let Some(out) = tally.ok("update", b.transact(ns, &[key.as_str()], None, &mut body)) {
                                if applied {
                                    tally.updates += 1;
                                    if new_blob {
                                        tally.created.push(blob.clone());
                                    }
                                } else {
                                    tally.conflicts += 1;
                                }
                                tally.dead.extend(out.dead_blobs);
                            }
                        }
                        // Delete.
                        9..=11 => {
                            let mut body = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
                                Ok(vec![if cur[0].is_some() { Action::Delete } else { Action::Nothing }])
                            };
                            if let Some(out) = tally.ok("delete", b.transact(ns, &[key.as_str()], None, &mut body)) {
                                tally.deletes += 1;
                                tally.dead.extend(out.dead_blobs);
                            }
                        }
                        // Read-modify-write increment of the shared counter.
                        12..=16 => {
                            let mut body = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
                                let mut r = cur[0].clone().expect("the counter is never deleted");
                                r.metadata = format!("{{\"count\":{}}}", count_of(&r) + 1);
                                r.version += 1;
                                Ok(vec![Action::Put(r, Payload::Keep)])
                            };
                            if tally.ok("increment", b.transact(ns, &["counter"], None, &mut body)).is_some() {
                                tally.increments += 1;
                            }
                        }
                        // Set-based update over everything (the counter included: it must keep its count).
                        17 => {
                            let mut body = |r: &Record| -> Result<Option<Record>> {
                                Ok(Some(Record { description: format!("t{t}"), ..r.clone() }))
                            };
                            tally.ok("update_where", b.update_where(ns, &Filter::all(), &mut body));
                        }
                        // Set-based delete of some keys.
                        18 => {
                            let f = Filter::all().with(Cond::KeyPrefix("k0".into())).with(Cond::MinSize(500));
                            if let Some((_, blobs)) = tally.ok("delete_where", b.delete_where(ns, &f)) {
                                tally.dead.extend(blobs);
                            }
                        }
                        // Reads with access bookkeeping, several keys at once.
                        _ => {
                            let k2 = format!("k{:02}", rng.gen_range(0..KEYS));
                            let keys = [key.as_str(), "counter", k2.as_str()];
                            tally.ok("read", b.read(ns, &keys, &Filter::all(), Some(i as i64)));
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let tallies: Vec<Tally> = handles.into_iter().map(|h| h.join().expect("thread panicked")).collect();
    let increments: u64 = tallies.iter().map(|t| t.increments).sum();
    let busy: u64 = tallies.iter().map(|t| t.busy).sum();
    let ops: u64 = tallies.iter().map(|t| t.ops).sum();
    eprintln!(
        "{kind:?}: {ops} calls, {increments} increments, {} updates, {} conflicts, {} deletes, {busy} busy",
        tallies.iter().map(|t| t.updates).sum::<u64>(),
        tallies.iter().map(|t| t.conflicts).sum::<u64>(),
        tallies.iter().map(|t| t.deletes).sum::<u64>(),
    );
    assert!(busy * 20 <= ops, "too many BUSY results: {busy} of {ops}");
    let b = shared.open();
    let counter = b.get(&ns, "counter").unwrap().expect("counter");
    assert_eq!(count_of(&counter), increments, "lost update: the counter differs from the successful increments");
    assert_eq!(counter.version, 1 + increments);
    check_totals(b.as_ref(), &ns);
    check_blobs(b.as_ref(), &ns, &tallies);
}

/// Puts with a size limit from every thread: eviction under contention keeps totals exact and
/// reports every evicted blob.
fn eviction(kind: Kind) {
    const LIMIT: u64 = 3000;
    let shared = Arc::new(Shared::new(kind));
    let ns = shared.ns.clone();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let shared = shared.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let b = shared.open();
                let ns = shared.ns.as_str();
                let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64 + 99);
                let mut tally = Tally::default();
                start.wait();
                for i in 0..ITERATIONS / 2 {
                    let k1 = format!("e{:02}", rng.gen_range(0..40));
                    let k2 = format!("e{:02}", rng.gen_range(0..40));
                    let keys: Vec<&str> = if k1 == k2 { vec![k1.as_str()] } else { vec![k1.as_str(), k2.as_str()] };
                    let blobs: Vec<String> = (0..keys.len()).map(|j| format!("{ns}-t{t}-i{i}-{j}")).collect();
                    let now = (i * THREADS + t) as i64;
                    let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> {
                        Ok(keys
                            .iter()
                            .zip(&blobs)
                            .map(|(k, bl)| {
                                let mut r = record(k, 100, Some(bl.clone()), 1, "{}".into());
                                r.accessed_at = now;
                                Action::Put(r, Payload::Blob)
                            })
                            .collect())
                    };
                    if let Some(out) = tally.ok("put", b.transact(ns, &keys, Some(LIMIT), &mut body)) {
                        tally.created.extend(blobs.iter().cloned());
                        tally.dead.extend(out.dead_blobs);
                    }
                    if i % 5 == 0 {
                        tally.ok("read", b.read(ns, &[k2.as_str()], &Filter::all(), Some(now)));
                    }
                }
                tally
            })
        })
        .collect();
    let mut tallies: Vec<Tally> = handles.into_iter().map(|h| h.join().expect("thread panicked")).collect();
    let b = shared.open();
    let (_, size) = check_totals(b.as_ref(), &ns);
    assert!(size <= LIMIT + (THREADS as u64) * 200, "far over the limit: {size}");
    // One more write with the limit, alone: it brings the namespace under the limit.
    let mut nothing = |_: &[Option<Record>]| -> Result<Vec<Action>> { Ok(vec![]) };
    let out = b.transact(&ns, &[], Some(LIMIT), &mut nothing).unwrap();
    tallies.push(Tally { dead: out.dead_blobs, ..Tally::default() });
    let (n, size) = check_totals(b.as_ref(), &ns);
    assert!(size <= LIMIT, "over the limit after a lone write: {size}");
    eprintln!("{kind:?}: {n} records, {size} bytes after eviction");
    check_blobs(b.as_ref(), &ns, &tallies);
}

/// Several instances opening a fresh PostgreSQL database at once: the schema is created once,
/// nobody fails.
fn concurrent_schema_creation() {
    let url = postgres_url();
    let db = format!("cacheness_schema_{:x}", rand::random::<u32>());
    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
    admin.batch_execute(&format!("CREATE DATABASE {db}")).expect("create database");
    let fresh = match url.rfind('/') {
        Some(i) => format!("{}/{db}", &url[..i]),
        None => panic!("unexpected URL {url}"),
    };
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (fresh, start) = (fresh.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let b = open_extra("postgres", None, Some(&fresh), false).expect("concurrent open");
                let key = format!("k{t}");
                let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> {
                    Ok(vec![Action::Put(record(&key, 1, None, 1, "{}".into()), Payload::Inline(vec![1]))])
                };
                b.transact("ns", &[key.as_str()], None, &mut body).expect("write after open");
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().expect("thread panicked"));
    let b = open_extra("postgres", None, Some(&fresh), false).unwrap();
    assert_eq!(b.totals("ns").unwrap(), (THREADS as u64, THREADS as u64));
    drop(b);
    let mut c = ::postgres::Client::connect(&fresh, ::postgres::NoTls).unwrap();
    let v: String =
        c.query_one("SELECT value FROM cacheness_schema WHERE name = 'schema_version'", &[]).unwrap().get(0);
    assert_eq!(v, cacheness::storage::postgres::SCHEMA_VERSION.to_string());
    drop(c);
    admin.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)")).expect("drop database");
}

/// The URL with extra server options (percent-encoded into `options`).
fn with_options(url: &str, options: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options={}", options.replace(' ', "%20").replace('=', "%3D"))
}

/// A row lock held longer than `lock_timeout` gives CACHENESS_BUSY, promptly.
fn lock_wait_is_busy() {
    let url = postgres_url();
    let ns = format!("lockwait-{:x}", rand::random::<u64>());
    let b = open_extra("postgres", None, Some(&with_options(&url, "-c lock_timeout=300")), false).unwrap();
    let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> {
        Ok(vec![Action::Put(record("a", 1, None, 1, "{}".into()), Payload::Inline(vec![1]))])
    };
    b.transact(&ns, &["a"], None, &mut body).unwrap();
    let mut holder = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let mut tx = holder.transaction().unwrap();
    tx.query("SELECT 1 FROM cacheness_entries WHERE ns = $1 AND key = 'a' FOR UPDATE", &[&ns]).unwrap();
    let t = std::time::Instant::now();
    let err = b.transact(&ns, &["a"], None, &mut body).unwrap_err();
    assert_eq!(err.code, Code::Busy, "{err}");
    assert!(err.message.contains("lock timeout"), "{err}");
    let err = b.read(&ns, &["a"], &Filter::all(), Some(5)).unwrap_err();
    assert_eq!(err.code, Code::Busy, "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "waited {:?}", t.elapsed());
    tx.rollback().unwrap();
    b.transact(&ns, &["a"], None, &mut body).unwrap();
}

/// A deadlock that PostgreSQL resolves by aborting our transaction: the transaction runs again
/// (the body is called a second time) and succeeds.
fn deadlock_is_retried() {
    use std::sync::mpsc::channel;
    let url = postgres_url();
    let ns = format!("deadlock-{:x}", rand::random::<u64>());
    let b = open_extra("postgres", None, Some(&url), false).unwrap();
    let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> {
        Ok(vec![Action::Put(record("a", 1, None, 1, "{}".into()), Payload::Inline(vec![1]))])
    };
    b.transact(&ns, &["a"], None, &mut body).unwrap();
    let (locked_tx, locked_rx) = channel::<()>();
    let (go_tx, go_rx) = channel::<()>();
    let worker = {
        let ns = ns.clone();
        std::thread::spawn(move || {
            let mut calls = 0;
            let mut body = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
                calls += 1;
                if calls == 1 {
                    // Row "a" is locked by us now; let the other session take the totals row.
                    locked_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                }
                let mut r = cur[0].clone().unwrap();
                r.size += 10; // a size change: the totals row must be updated
                r.version += 1;
                Ok(vec![Action::Put(r, Payload::Keep)])
            };
            let out = b.transact(&ns, &["a"], None, &mut body);
            (out, calls, b)
        })
    };
    locked_rx.recv().unwrap();
    let mut other = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let mut tx = other.transaction().unwrap();
    tx.execute("UPDATE cacheness_totals SET entries = entries WHERE ns = $1", &[&ns]).unwrap();
    go_tx.send(()).unwrap();
    // Our transaction now waits for the totals row; make the cycle complete.
    std::thread::sleep(std::time::Duration::from_millis(300));
    tx.execute("UPDATE cacheness_entries SET accessed_at = accessed_at WHERE ns = $1 AND key = 'a'", &[&ns]).unwrap();
    tx.commit().unwrap();
    let (out, calls, b) = worker.join().unwrap();
    out.expect("the deadlock victim is retried");
    assert_eq!(calls, 2, "the transaction ran again after the deadlock");
    let a = b.get(&ns, "a").unwrap().unwrap();
    assert_eq!((a.size, a.version), (11, 2));
    assert_eq!(b.totals(&ns).unwrap(), (1, 11));
}

mod postgres {
    #[test]
    fn read_modify_write() {
        super::read_modify_write(super::Kind::Postgres)
    }
    #[test]
    fn eviction() {
        super::eviction(super::Kind::Postgres)
    }
    #[test]
    fn concurrent_schema_creation() {
        super::concurrent_schema_creation()
    }
    #[test]
    fn lock_wait_is_busy() {
        super::lock_wait_is_busy()
    }
    #[test]
    fn deadlock_is_retried() {
        super::deadlock_is_retried()
    }
}

mod sqlite {
    #[test]
    fn read_modify_write() {
        super::read_modify_write(super::Kind::Sqlite)
    }
    #[test]
    fn eviction() {
        super::eviction(super::Kind::Sqlite)
    }
}

mod json {
    #[test]
    fn read_modify_write() {
        super::read_modify_write(super::Kind::Json)
    }
    #[test]
    fn eviction() {
        super::eviction(super::Kind::Json)
    }
}
