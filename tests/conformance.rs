//! Conformance suite for the metadata backends: the same cases run against every
//! `MetadataBackend` (sqlite in a temp dir, memory, json in a temp dir, postgres), calling the
//! trait methods directly. Test names say the backend: `sqlite::...`, `memory::...`,
//! `json::...`, `postgres::...`.
//!
//! PostgreSQL: the URL comes from `CACHENESS_TEST_POSTGRES_URL`. Without it the postgres tests
//! FAIL (never skip) and say how to start a throwaway server:
//!
//! ```sh
//! eval "$(scripts/pg.sh start)"; cargo test --test conformance; scripts/pg.sh stop
//! ```

use cacheness::cache::keys::canonical_value;
use cacheness::storage::filter::Field;
use cacheness::storage::memory::Memory;
use cacheness::storage::sqlite::Sqlite;
use cacheness::storage::{
    open_extra, Action, Cond, Filter, MetadataBackend, Order, Outcome, Payload, Record, Scanned, Value,
};
use cacheness::{Code, Error, Result};
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::sync::Arc;

const PG_ENV: &str = "CACHENESS_TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Sqlite,
    Memory,
    Json,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Memory => "memory",
            Kind::Json => "json",
            Kind::Postgres => "postgres",
        }
    }
}

/// The PostgreSQL URL of the test server; panics (fails the test) with instructions when unset.
fn postgres_url() -> String {
    match std::env::var(PG_ENV) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "{PG_ENV} is not set, so the PostgreSQL conformance tests cannot run (they never skip).\n\
             Start a throwaway server and export its URL with:\n\n    eval \"$(scripts/pg.sh start)\"\n\n\
             then run the tests again, and stop it afterwards with `scripts/pg.sh stop`."
        ),
    }
}

/// One backend under test. Namespaces and blob ids get a per-test prefix so that tests sharing
/// one PostgreSQL database never see each other.
struct Fx {
    kind: Kind,
    b: Arc<dyn MetadataBackend>,
    prefix: String,
    _dir: Option<tempfile::TempDir>,
}

impl Fx {
    fn open(kind: Kind) -> Fx {
        let prefix = format!("t{:012x}-", rand::random::<u64>() & 0xffff_ffff_ffff);
        let (b, dir): (Arc<dyn MetadataBackend>, _) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                (Arc::new(Sqlite::open(&dir.path().join("cacheness.db"), false).expect("open sqlite")), Some(dir))
            }
            Kind::Memory => (Arc::new(Memory::default()), None),
            Kind::Json => {
                let dir = tempfile::tempdir().expect("temp dir");
                (open_extra("json", Some(dir.path()), None, false).expect("open json"), Some(dir))
            }
            Kind::Postgres => {
                let url = postgres_url();
                let b = open_extra("postgres", None, Some(&url), false)
                    .unwrap_or_else(|e| panic!("cannot open the postgres backend at {PG_ENV}: {e}"));
                (b, None)
            }
        };
        assert_eq!(b.name(), kind.name(), "backend reports the wrong name");
        Fx { kind, b, prefix, _dir: dir }
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn blob(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn put(&self, ns: &str, items: Vec<(Record, Payload)>) -> Outcome {
        self.put_limit(ns, items, None)
    }

    fn put_limit(&self, ns: &str, items: Vec<(Record, Payload)>, limit: Option<u64>) -> Outcome {
        let keys: Vec<String> = items.iter().map(|(r, _)| r.key.clone()).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut items = Some(items);
        let mut body = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
            assert_eq!(cur.len(), refs.len());
            Ok(items.take().expect("body called once").into_iter().map(|(r, p)| Action::Put(r, p)).collect())
        };
        self.b.transact(ns, &refs, limit, &mut body).expect("transact put")
    }

    fn actions(&self, ns: &str, keys: &[&str], actions: Vec<Action>) -> Result<Outcome> {
        let mut actions = Some(actions);
        let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> { Ok(actions.take().expect("body called once")) };
        self.b.transact(ns, keys, None, &mut body)
    }

    fn get(&self, ns: &str, key: &str) -> Option<Record> {
        self.b.get(ns, key).expect("get")
    }

    fn data(&self, ns: &str, key: &str) -> Option<Option<Vec<u8>>> {
        self.b.read(ns, &[key], &Filter::all(), None).expect("read").remove(0).map(|(_, d)| d)
    }

    /// Every record of `ns` through `scan`, checked to be in key order without duplicates.
    fn all(&self, ns: &str) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.b.scan(ns, after.as_deref(), 7).expect("scan");
            if page.is_empty() {
                break;
            }
            for s in page {
                match s {
                    Scanned::Ok(r) => {
                        if let Some(last) = out.last() {
                            assert!(last.key < r.key, "scan out of order: {:?} then {:?}", last.key, r.key);
                        }
                        out.push(r)
                    }
                    Scanned::Invalid { key, reason } => panic!("unreadable record {key}: {reason}"),
                }
            }
            after = out.last().map(|r| r.key.clone());
        }
        out
    }

    fn keys(&self, ns: &str) -> Vec<String> {
        self.all(ns).into_iter().map(|r| r.key).collect()
    }

    /// The backend's totals must equal the count and size sum of the records it holds.
    fn check_totals(&self, ns: &str) -> (u64, u64) {
        let all = self.all(ns);
        let real = (all.len() as u64, all.iter().map(|r| r.size).sum::<u64>());
        let totals = self.b.totals(ns).expect("totals");
        assert_eq!(totals, real, "totals of {ns} differ from the records held");
        totals
    }
}

fn rec(key: &str) -> Record {
    Record {
        key: key.to_string(),
        params: canonical_value(&json!({ "name": key })),
        data_type: "bytes".into(),
        description: String::new(),
        size: 0,
        content_hash: format!("sha256:{}", "0".repeat(64)),
        version: 1,
        created_at: 1000,
        accessed_at: 1000,
        access_count: 0,
        expires_at: None,
        metadata: "{}".into(),
        blob: None,
        signature: String::new(),
    }
}

fn inline(key: &str, data: &[u8]) -> (Record, Payload) {
    let mut r = rec(key);
    r.size = data.len() as u64;
    (r, Payload::Inline(data.to_vec()))
}

fn with_blob(key: &str, blob: &str, size: u64) -> (Record, Payload) {
    let mut r = rec(key);
    r.size = size;
    r.blob = Some(blob.to_string());
    (r, Payload::Blob)
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().collect();
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(|s| s.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

mod cases {
    use super::*;

    pub fn roundtrip_exact(fx: &Fx) {
        let ns = fx.ns("rt");
        // Not canonical on purpose: the storage layer keeps the text byte for byte.
        let params = "{\"b\":1, \"a\":\"\u{e9}\u{2028} \\\"q\\\" \\\\\",\"n\":1e+21,\"f\":0.1,\"u\":\"\\u00e9\"}";
        let metadata = "{\"z\":[1,2,{\"y\":null}],\"a\":{}}";
        let data: Vec<u8> = vec![0, 1, 2, 255, 0, b'x'];
        let r = Record {
            key: "k1".into(),
            params: params.into(),
            data_type: "text/\u{e9}".into(),
            description: "desc \u{1F600} 'quoted' \"double\"".into(),
            size: data.len() as u64,
            content_hash: "sha256:abc".into(),
            version: 7,
            created_at: -5,
            accessed_at: 1_700_000_000_123,
            access_count: 3,
            expires_at: Some(4_102_444_800_000),
            metadata: metadata.into(),
            blob: None,
            signature: "deadbeef".into(),
        };
        fx.put(&ns, vec![(r.clone(), Payload::Inline(data.clone()))]);
        assert_eq!(fx.get(&ns, "k1"), Some(r.clone()));
        let got = fx.b.read(&ns, &["k1"], &Filter::all(), None).unwrap();
        assert_eq!(got, vec![Some((r.clone(), Some(data)))]);

        // Blob record, empty inline data, a store entry with empty params.
        let (mut b, p) = with_blob("k2", &fx.blob("blob-1"), 1 << 40);
        b.params = String::new();
        b.metadata = "{\"writer\":\"x\"}".into();
        fx.put(&ns, vec![(b.clone(), p)]);
        assert_eq!(fx.get(&ns, "k2"), Some(b.clone()));
        assert_eq!(fx.data(&ns, "k2"), Some(None));
        let (e, p) = inline("k3", b"");
        fx.put(&ns, vec![(e.clone(), p)]);
        let d = fx.data(&ns, "k3").expect("k3 exists");
        assert!(d.as_ref().is_none_or(|d| d.is_empty()), "empty inline data reads back as {d:?}");
        assert_eq!(fx.get(&ns, "missing"), None);
        assert_eq!(fx.b.read(&ns, &["missing"], &Filter::all(), None).unwrap(), vec![None]);
        fx.check_totals(&ns);
    }

    /// Text that is not JSON (a store entry's empty params, a damaged metadata) has no members:
    /// JSON conditions simply do not match it, and the other records are still filtered.
    pub fn filters_tolerate_non_json_text(fx: &Fx) {
        let ns = fx.ns("nonjson");
        let (mut s, ps) = inline("store", b"s");
        s.params = String::new();
        let (mut d, pd) = inline("damaged", b"d");
        d.metadata = "{not json".into();
        let (mut ok, pok) = inline("ok", b"o");
        ok.metadata = "{\"project\":\"ml\"}".into();
        fx.put(&ns, vec![(s, ps), (d, pd), (ok, pok)]);
        let list = |f: Filter| -> Vec<String> {
            fx.b.list(&ns, &f, Order::Key, None, 10).unwrap().into_iter().map(|r| r.key).collect()
        };
        let no_name = Filter::all().with(Cond::Exists { field: Field::Params, name: "name".into(), exists: false });
        assert_eq!(list(no_name), vec!["store".to_string()]);
        let ml = Filter::all().with(Cond::Eq { field: Field::Metadata, name: "project".into(), value: json!("ml") });
        assert_eq!(list(ml.clone()), vec!["ok".to_string()]);
        let no_project =
            Filter::all().with(Cond::Exists { field: Field::Metadata, name: "project".into(), exists: false });
        assert_eq!(list(no_project), strs(&["damaged", "store"]));
        assert_eq!(fx.b.delete_where(&ns, &ml).unwrap().0, 1);
        assert_eq!(fx.keys(&ns), strs(&["damaged", "store"]));
    }

    pub fn read_bumps_access(fx: &Fx) {
        let ns = fx.ns("rd");
        fx.put(&ns, vec![inline("a", b"AAA"), with_blob("b", &fx.blob("bb"), 5)]);
        assert_eq!(fx.b.read(&ns, &[], &Filter::all(), Some(5)).unwrap(), vec![]);
        let got = fx.b.read(&ns, &["a", "missing", "b"], &Filter::all(), Some(2000)).unwrap();
        assert_eq!(got.len(), 3);
        let (a, ad) = got[0].clone().expect("a");
        assert!(got[1].is_none());
        let (b, bd) = got[2].clone().expect("b");
        assert_eq!((a.accessed_at, a.access_count), (2000, 1), "returned record is the updated one");
        assert_eq!((b.accessed_at, b.access_count), (2000, 1));
        assert_eq!(ad.as_deref(), Some(&b"AAA"[..]));
        assert_eq!(bd, None);
        assert_eq!(fx.get(&ns, "a").unwrap().access_count, 1);
        assert_eq!(fx.get(&ns, "a").unwrap().accessed_at, 2000);
        // Without access nothing changes.
        let got = fx.b.read(&ns, &["a"], &Filter::all(), None).unwrap();
        assert_eq!(got[0].as_ref().unwrap().0.access_count, 1);
        assert_eq!(fx.get(&ns, "a").unwrap().access_count, 1);
        // The version, data and other fields are untouched by a read.
        let after = fx.b.read(&ns, &["a"], &Filter::all(), Some(3000)).unwrap();
        let a3 = &after[0].as_ref().unwrap().0;
        assert_eq!((a3.accessed_at, a3.access_count, a3.version, a3.created_at), (3000, 2, 1, 1000));
        fx.check_totals(&ns);
    }

    pub fn read_cond_filters(fx: &Fx) {
        let ns = fx.ns("rc");
        let (mut a, pa) = inline("a", b"A");
        a.expires_at = Some(100);
        let (b, pb) = inline("b", b"B");
        let (mut c, pc) = inline("c", b"C");
        c.params = canonical_value(&json!({"group": "x"}));
        c.expires_at = Some(10_000);
        fx.put(&ns, vec![(a, pa), (b, pb), (c, pc)]);
        let alive = Filter::all().with(Cond::AliveAt(150));
        let got = fx.b.read(&ns, &["a", "b", "c"], &alive, Some(200)).unwrap();
        assert!(got[0].is_none(), "expired record must not be returned");
        assert!(got[1].is_some() && got[2].is_some());
        let a = fx.get(&ns, "a").unwrap();
        assert_eq!((a.accessed_at, a.access_count), (1000, 0), "a record failing cond is not bumped");
        assert_eq!(fx.get(&ns, "b").unwrap().access_count, 1);
        let grp = Filter::all()
            .with(Cond::Eq { field: Field::Params, name: "group".into(), value: json!("x") })
            .with(Cond::AliveAt(150));
        let got = fx.b.read(&ns, &["a", "b", "c"], &grp, None).unwrap();
        assert_eq!(got.iter().map(Option::is_some).collect::<Vec<_>>(), vec![false, false, true]);
    }

    pub fn read_duplicate_keys(fx: &Fx) {
        let ns = fx.ns("rdup");
        fx.put(&ns, vec![inline("a", b"A"), inline("b", b"B")]);
        let got = fx.b.read(&ns, &["a", "a", "missing", "b", "a"], &Filter::all(), None).unwrap();
        assert_eq!(got.len(), 5);
        assert!(got[0].is_some() && got[2].is_none() && got[3].is_some());
        assert_eq!(got[0], got[1]);
        assert_eq!(got[0], got[4]);
        let got = fx.b.read(&ns, &["a", "a", "b", "a"], &Filter::all(), Some(5000)).unwrap();
        assert!(got.iter().all(Option::is_some));
        let a = fx.get(&ns, "a").unwrap();
        assert_eq!(
            (a.accessed_at, a.access_count),
            (5000, 1),
            "a key named several times in one read is one record: bumped once (\"each record ... access_count += 1\")"
        );
        assert_eq!(got[0], got[1], "every position of a duplicated key returns the same record");
        assert_eq!(got[0], got[3]);
        assert_eq!(got[0].as_ref().unwrap().0, a);
    }

    pub fn transact_all_or_nothing(fx: &Fx) {
        let ns = fx.ns("tx");
        let b1 = fx.blob("b1");
        fx.put(&ns, vec![inline("a", b"AAA"), with_blob("b", &b1, 9)]);
        let before = fx.all(&ns);
        let totals = fx.check_totals(&ns);
        // The body sees the current records (None for a missing key) and fails.
        let mut seen = Vec::new();
        let mut body = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
            seen = cur.iter().map(|r| r.as_ref().map(|r| r.key.clone())).collect();
            Err(Error::new(Code::Conflict, "body says no"))
        };
        let err = fx.b.transact(&ns, &["a", "b", "c"], Some(0), &mut body).unwrap_err();
        assert_eq!(err.code, Code::Conflict, "the body's error comes back unchanged: {err}");
        assert_eq!(seen, vec![Some("a".into()), Some("b".into()), None]);
        assert_eq!(fx.all(&ns), before);

        let (a2, pa2) = inline("a", b"NEW DATA");
        let (c, pc) = inline("c", b"C");
        // Wrong number of actions.
        assert!(fx.actions(&ns, &["a", "b"], vec![Action::Put(a2.clone(), pa2.clone())]).is_err());
        assert_eq!(fx.all(&ns), before);
        // A put under another key, after valid actions.
        let (x, px) = inline("x", b"X");
        let r = fx.actions(
            &ns,
            &["a", "b", "c"],
            vec![Action::Put(a2.clone(), pa2.clone()), Action::Delete, Action::Put(x, px)],
        );
        assert!(r.is_err(), "a put under another key must fail");
        assert_eq!(fx.all(&ns), before, "nothing of a failed transaction may remain");
        // A metadata-only write of a missing record, after valid actions.
        let mut ck = c.clone();
        ck.metadata = "{\"m\":1}".into();
        let r = fx.actions(
            &ns,
            &["a", "b", "c"],
            vec![Action::Put(a2.clone(), pa2.clone()), Action::Delete, Action::Put(ck, Payload::Keep)],
        );
        assert!(r.is_err(), "Payload::Keep on a missing record must fail");
        assert_eq!(fx.all(&ns), before);
        assert_eq!(fx.data(&ns, "a"), Some(Some(b"AAA".to_vec())));
        assert_eq!(fx.check_totals(&ns), totals);
        // The same actions, valid, all apply.
        let out = fx
            .actions(&ns, &["a", "b", "c"], vec![Action::Put(a2.clone(), pa2), Action::Delete, Action::Put(c, pc)])
            .unwrap();
        assert_eq!(out.dead_blobs, vec![b1]);
        assert_eq!(fx.keys(&ns), strs(&["a", "c"]));
        assert_eq!(fx.data(&ns, "a"), Some(Some(b"NEW DATA".to_vec())));
        // Empty transactions and Nothing.
        let mut empty = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
            assert!(cur.is_empty());
            Ok(vec![])
        };
        assert_eq!(fx.b.transact(&ns, &[], None, &mut empty).unwrap(), Outcome::default());
        assert_eq!(fx.actions(&ns, &["a", "zz"], vec![Action::Nothing, Action::Nothing]).unwrap(), Outcome::default());
        assert_eq!(fx.actions(&ns, &["zz"], vec![Action::Delete]).unwrap(), Outcome::default());
        assert_eq!(fx.keys(&ns), strs(&["a", "c"]));
        fx.check_totals(&ns);
    }

    pub fn payload_keep(fx: &Fx) {
        let ns = fx.ns("keep");
        let b1 = fx.blob("b1");
        fx.put(&ns, vec![inline("a", b"AAA"), with_blob("b", &b1, 10)]);
        let mut a = fx.get(&ns, "a").unwrap();
        a.metadata = "{\"m\":1}".into();
        a.version = 2;
        let mut b = fx.get(&ns, "b").unwrap();
        b.metadata = "{\"m\":2}".into();
        b.blob = None; // ignored: Keep keeps the data the record has
        let out = fx
            .actions(&ns, &["a", "b"], vec![Action::Put(a.clone(), Payload::Keep), Action::Put(b, Payload::Keep)])
            .unwrap();
        assert_eq!(out.dead_blobs, Vec::<String>::new());
        let got = fx.b.read(&ns, &["a", "b"], &Filter::all(), None).unwrap();
        let (ra, da) = got[0].clone().unwrap();
        let (rb, db) = got[1].clone().unwrap();
        assert_eq!(ra, a);
        assert_eq!(da, Some(b"AAA".to_vec()), "Keep keeps the inline data");
        assert_eq!((rb.metadata.as_str(), rb.blob.as_deref(), db), ("{\"m\":2}", Some(b1.as_str()), None));
        // Keep with a different blob id in the record still keeps the stored blob.
        let mut b = rb.clone();
        b.blob = Some(fx.blob("other"));
        let out = fx.actions(&ns, &["b"], vec![Action::Put(b, Payload::Keep)]).unwrap();
        assert!(out.dead_blobs.is_empty());
        assert_eq!(fx.get(&ns, "b").unwrap().blob, Some(b1));
        fx.check_totals(&ns);
    }

    pub fn dead_blobs_replace_delete(fx: &Fx) {
        let ns = fx.ns("dead");
        let (b1, b2, b3) = (fx.blob("b1"), fx.blob("b2"), fx.blob("b3"));
        fx.put(&ns, vec![with_blob("a", &b1, 1), inline("c", b"C")]);
        assert_eq!(fx.put(&ns, vec![with_blob("a", &b2, 2)]).dead_blobs, vec![b1.clone()], "replaced blob");
        assert_eq!(fx.put(&ns, vec![with_blob("a", &b2, 2)]).dead_blobs, Vec::<String>::new(), "same blob id");
        assert_eq!(fx.put(&ns, vec![inline("a", b"x")]).dead_blobs, vec![b2.clone()], "blob replaced by inline");
        assert_eq!(fx.get(&ns, "a").unwrap().blob, None);
        assert_eq!(fx.put(&ns, vec![with_blob("a", &b3, 3)]).dead_blobs, Vec::<String>::new(), "inline replaced");
        assert_eq!(fx.actions(&ns, &["a"], vec![Action::Delete]).unwrap().dead_blobs, vec![b3.clone()]);
        assert_eq!(fx.actions(&ns, &["a"], vec![Action::Delete]).unwrap().dead_blobs, Vec::<String>::new());
        assert_eq!(fx.actions(&ns, &["c"], vec![Action::Delete]).unwrap().dead_blobs, Vec::<String>::new());
        assert_eq!(fx.b.totals(&ns).unwrap(), (0, 0));
    }

    /// An inline write whose record still names the old blob: the record stores no blob, so the
    /// old blob is dead and must be reported (else it leaks).
    pub fn dead_blob_inline_over_blob_with_stale_field(fx: &Fx) {
        let ns = fx.ns("stale");
        let b1 = fx.blob("b1");
        fx.put(&ns, vec![with_blob("a", &b1, 1)]);
        let (mut r, _) = inline("a", b"xy");
        r.blob = Some(b1.clone());
        let out = fx.put(&ns, vec![(r, Payload::Inline(b"xy".to_vec()))]);
        assert_eq!(fx.get(&ns, "a").unwrap().blob, None, "an inline record has no blob");
        assert_eq!(out.dead_blobs, vec![b1], "the blob no record refers to any more is dead");
    }

    pub fn dead_blobs_move(fx: &Fx) {
        let ns = fx.ns("mv");
        let (b1, b5, b9) = (fx.blob("b1"), fx.blob("b5"), fx.blob("b9"));
        fx.put(&ns, vec![with_blob("src", &b1, 10)]);
        // Move src -> dst: the blob changes hands, it is not dead.
        let (dst, p) = with_blob("dst", &b1, 10);
        let out = fx.actions(&ns, &["src", "dst"], vec![Action::Delete, Action::Put(dst, p)]).unwrap();
        assert_eq!(out.dead_blobs, Vec::<String>::new(), "a moved blob is not dead");
        assert_eq!(fx.keys(&ns), strs(&["dst"]));
        assert_eq!(fx.get(&ns, "dst").unwrap().blob, Some(b1.clone()));
        // Destination listed first.
        let (d2, p) = with_blob("d2", &b1, 10);
        let out = fx.actions(&ns, &["d2", "dst"], vec![Action::Put(d2, p), Action::Delete]).unwrap();
        assert_eq!(out.dead_blobs, Vec::<String>::new());
        assert_eq!(fx.keys(&ns), strs(&["d2"]));
        // Move over an existing destination: only the destination's old blob is dead.
        fx.put(&ns, vec![with_blob("s3", &b5, 5), with_blob("d3", &b9, 9)]);
        let (d3, p) = with_blob("d3", &b5, 5);
        let out = fx.actions(&ns, &["s3", "d3"], vec![Action::Delete, Action::Put(d3, p)]).unwrap();
        assert_eq!(out.dead_blobs, vec![b9]);
        assert_eq!(fx.get(&ns, "d3").unwrap().blob, Some(b5));
        fx.check_totals(&ns);
    }

    pub fn eviction_lru(fx: &Fx) {
        let ns = fx.ns("ev");
        let items: Vec<(Record, Payload)> = (0..10)
            .map(|i| {
                let (mut r, p) = with_blob(&format!("e{i}"), &fx.blob(&format!("be{i}")), 10);
                r.accessed_at = 100 + i;
                (r, p)
            })
            .collect();
        fx.put(&ns, items);
        assert_eq!(fx.check_totals(&ns), (10, 100));
        // No limit, or a limit not exceeded: nothing evicted.
        assert_eq!(fx.put_limit(&ns, vec![], None).evicted, 0);
        assert_eq!(fx.put_limit(&ns, vec![], Some(100)).evicted, 0);
        // e0 is the least recently used but it is the transacted key: never evicted.
        let (mut e0, p) = with_blob("e0", &fx.blob("be0"), 10);
        e0.accessed_at = 100;
        let out = fx.put_limit(&ns, vec![(e0, p)], Some(70));
        assert_eq!(out.evicted, 3);
        assert_eq!(sorted(out.dead_blobs), strs(&[&fx.blob("be1"), &fx.blob("be2"), &fx.blob("be3")]));
        assert_eq!(fx.keys(&ns), strs(&["e0", "e4", "e5", "e6", "e7", "e8", "e9"]));
        assert_eq!(fx.check_totals(&ns), (7, 70));
        // A new big record, older than everything, is kept; the oldest others go.
        let (mut n, p) = inline("new", &[7u8; 25]);
        n.accessed_at = 50;
        let out = fx.put_limit(&ns, vec![(n, p)], Some(70));
        assert_eq!(out.evicted, 3, "95 bytes -> evict e0 (no longer protected), e4, e5 to reach 65 <= 70");
        assert_eq!(fx.keys(&ns), strs(&["e6", "e7", "e8", "e9", "new"]));
        // Ties in accessed_at are broken by key.
        let ns2 = fx.ns("ev2");
        let items: Vec<(Record, Payload)> = ["t_c", "t_a", "t_b", "keep"]
            .iter()
            .map(|k| {
                let (mut r, p) = inline(k, b"0123456789");
                r.accessed_at = 7;
                (r, p)
            })
            .collect();
        fx.put(&ns2, items);
        let out = fx.put_limit(&ns2, vec![], Some(25));
        assert_eq!(out.evicted, 2);
        assert_eq!(out.dead_blobs, Vec::<String>::new(), "inline records have no blobs");
        assert_eq!(fx.keys(&ns2), strs(&["t_b", "t_c"]));
        // Limit 0 evicts everything but the transacted keys.
        let out = fx.actions(&ns, &["e9"], vec![Action::Nothing]).unwrap();
        assert_eq!(out.evicted, 0);
        let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> { Ok(vec![Action::Nothing]) };
        let out = fx.b.transact(&ns, &["e9"], Some(0), &mut body).unwrap();
        assert_eq!(out.evicted, 4);
        assert_eq!(fx.keys(&ns), strs(&["e9"]));
        assert_eq!(fx.check_totals(&ns), (1, 10));
        assert_eq!(fx.check_totals(&ns2), (2, 20), "eviction stays in its namespace");
    }

    // ------------------------------------------------------------------ filters

    /// (key, params, metadata, data_type, size, created, accessed, expires, has a blob)
    type Row = (&'static str, Option<Json>, &'static str, &'static str, u64, i64, i64, Option<i64>, bool);

    fn dataset(fx: &Fx) -> Vec<(Record, Payload)> {
        let rows: Vec<Row> = vec![
            (
                "a*b",
                Some(json!({"exp": "exp_001", "n": 1, "b": true, "z": null, "o": {"a": 1, "b": [1, 2]},
                            "arr": [1, "x"], "s": "a.b+c(d)\\e$^|{}"})),
                r#"{"project":"ml","v":2}"#,
                "bytes",
                10,
                100,
                500,
                None,
                true,
            ),
            (
                "a*bc",
                Some(json!({"exp": "exp_002", "n": 2.5, "b": false, "s": "Exp_x"})),
                r#"{"project":"ml-v2"}"#,
                "text",
                20,
                200,
                400,
                Some(1000),
                false,
            ),
            (
                "axb",
                Some(json!({"exp": "exp_010", "n": "1", "s": "\u{e9}t\u{e9}"})),
                r#"{"project":"web","tags":["a"]}"#,
                "bytes",
                30,
                300,
                300,
                Some(2000),
                true,
            ),
            ("a?c", Some(json!({"exp": "exp_1", "n": true, "s": "b"})), "{}", "json", 40, 400, 200, Some(3000), false),
            ("a[b]", Some(json!({"exp": 5, "s": "]"})), r#"{"project":null}"#, "bytes", 50, 500, 100, None, true),
            ("a%_", Some(json!({"s": "-"})), r#"{"v":2}"#, "bytes", 0, 600, 50, Some(1500), false),
            (
                "b",
                Some(json!({"exp": "xexp_001", "o": {"b": [1, 2], "a": 1.0}, "s": "_"})),
                r#"{"project":"ml"}"#,
                "text",
                60,
                700,
                700,
                None,
                true,
            ),
            ("store/x", Some(json!({})), r#"{"project":"ml"}"#, "bytes", 70, 800, 800, None, true),
            (
                "abc",
                Some(json!({"arr": ["x", 1], "s": "abc\nd", "big": 1e21, "q": "q\"b\\s\u{1}", "name \"q\"": 7})),
                "[1,2]",
                "bytes",
                80,
                900,
                900,
                None,
                false,
            ),
        ];
        rows.into_iter()
            .map(|(key, params, metadata, dt, size, created, accessed, expires, blob)| {
                let r = Record {
                    key: key.into(),
                    params: params.map_or(String::new(), |p: Json| canonical_value(&p)),
                    data_type: dt.into(),
                    size,
                    created_at: created,
                    accessed_at: accessed,
                    expires_at: expires,
                    metadata: metadata.into(),
                    blob: blob.then(|| fx.blob(&format!("blob-{key}"))),
                    ..rec(key)
                };
                let p = if blob { Payload::Blob } else { Payload::Inline(vec![b'x'; size as usize]) };
                (r, p)
            })
            .collect()
    }

    fn p(name: &str) -> (Field, String) {
        (Field::Params, name.to_string())
    }
    fn m(name: &str) -> (Field, String) {
        (Field::Metadata, name.to_string())
    }
    fn eq(f: (Field, String), value: Json) -> Cond {
        Cond::Eq { field: f.0, name: f.1, value }
    }
    fn glob(f: (Field, String), pattern: &str) -> Cond {
        Cond::Glob { field: f.0, name: f.1, pattern: pattern.into() }
    }

    const ALL: &[&str] = &["a*b", "a*bc", "axb", "a?c", "a[b]", "a%_", "b", "store/x", "abc"];

    /// (description, filter, expected keys)
    fn filter_cases() -> Vec<(String, Filter, Vec<&'static str>)> {
        let c = |conds: Vec<Cond>| Filter(conds);
        let mut v: Vec<(&str, Filter, Vec<&'static str>)> = vec![
            ("all", Filter::all(), ALL.to_vec()),
            ("eq string", c(vec![eq(p("exp"), json!("exp_001"))]), vec!["a*b"]),
            ("eq number 1.0 = 1", c(vec![eq(p("n"), json!(1.0))]), vec!["a*b"]),
            ("eq number 1", c(vec![eq(p("n"), json!(1))]), vec!["a*b"]),
            ("eq number 2.5", c(vec![eq(p("n"), json!(2.5))]), vec!["a*bc"]),
            ("eq string \"1\" is not 1", c(vec![eq(p("n"), json!("1"))]), vec!["axb"]),
            ("eq true", c(vec![eq(p("n"), json!(true))]), vec!["a?c"]),
            ("eq bool b true", c(vec![eq(p("b"), json!(true))]), vec!["a*b"]),
            ("eq bool b false", c(vec![eq(p("b"), json!(false))]), vec!["a*bc"]),
            ("eq null", c(vec![eq(p("z"), json!(null))]), vec!["a*b"]),
            ("eq null metadata", c(vec![eq(m("project"), json!(null))]), vec!["a[b]"]),
            ("eq object any member order", c(vec![eq(p("o"), json!({"b": [1, 2.0], "a": 1}))]), vec!["a*b", "b"]),
            ("eq object differs", c(vec![eq(p("o"), json!({"a": 1}))]), vec![]),
            ("eq array", c(vec![eq(p("arr"), json!([1, "x"]))]), vec!["a*b"]),
            ("eq array order matters", c(vec![eq(p("arr"), json!(["x", 1]))]), vec!["abc"]),
            ("eq number metadata 2.0", c(vec![eq(m("v"), json!(2.0))]), vec!["a*b", "a%_"]),
            ("eq missing member", c(vec![eq(p("nope"), json!(1))]), vec![]),
            ("eq string in metadata array doc", c(vec![eq(m("0"), json!(1))]), vec![]),
            (
                "in mixed",
                c(vec![Cond::In {
                    field: Field::Params,
                    name: "exp".into(),
                    values: vec![json!("exp_001"), json!(5), json!("nope"), json!(null)],
                }]),
                vec!["a*b", "a[b]"],
            ),
            ("in empty", c(vec![Cond::In { field: Field::Params, name: "exp".into(), values: vec![] }]), vec![]),
            (
                "in with null",
                c(vec![Cond::In {
                    field: Field::Metadata,
                    name: "project".into(),
                    values: vec![json!(null), json!("web")],
                }]),
                vec!["a[b]", "axb"],
            ),
            (
                "prefix",
                c(vec![Cond::Prefix { field: Field::Params, name: "exp".into(), prefix: "exp_0".into() }]),
                vec!["a*b", "a*bc", "axb"],
            ),
            (
                "prefix empty: any string",
                c(vec![Cond::Prefix { field: Field::Params, name: "exp".into(), prefix: "".into() }]),
                vec!["a*b", "a*bc", "axb", "a?c", "b"],
            ),
            (
                "prefix with LIKE/GLOB specials",
                c(vec![Cond::Prefix { field: Field::Params, name: "s".into(), prefix: "a.b+c(".into() }]),
                vec!["a*b"],
            ),
            (
                "prefix metadata",
                c(vec![Cond::Prefix { field: Field::Metadata, name: "project".into(), prefix: "ml".into() }]),
                vec!["a*b", "a*bc", "b", "store/x"],
            ),
            ("glob ?", c(vec![glob(p("exp"), "exp_00?")]), vec!["a*b", "a*bc"]),
            ("glob class and star", c(vec![glob(p("exp"), "exp_[0-1]*")]), vec!["a*b", "a*bc", "axb", "a?c"]),
            ("glob [a-c]", c(vec![glob(p("s"), "[a-c]")]), vec!["a?c"]),
            ("glob single ?", c(vec![glob(p("s"), "?")]), vec!["a?c", "a[b]", "a%_", "b"]),
            ("glob []]", c(vec![glob(p("s"), "[]]")]), vec!["a[b]"]),
            ("glob [^a-z]", c(vec![glob(p("s"), "[^a-z]")]), vec!["a[b]", "a%_", "b"]),
            ("glob [^...] multi", c(vec![glob(p("s"), "[^ab]*")]), vec!["a*bc", "axb", "a[b]", "a%_", "b"]),
            ("glob regex specials literal", c(vec![glob(p("s"), "a.b+c(d)\\e$^|{}")]), vec!["a*b"]),
            ("glob regex specials not regex", c(vec![glob(p("s"), "a.b+c(d)\\e$^|{")]), vec![]),
            ("glob ? then *", c(vec![glob(p("s"), "a?b*")]), vec!["a*b"]),
            ("glob * crosses newline", c(vec![glob(p("s"), "abc*")]), vec!["abc"]),
            ("glob ? matches newline", c(vec![glob(p("s"), "abc?d")]), vec!["abc"]),
            ("glob unicode ?", c(vec![glob(p("s"), "?t?")]), vec!["axb"]),
            ("glob unicode class", c(vec![glob(p("s"), "[\u{e9}]t*")]), vec!["axb"]),
            ("glob case-sensitive", c(vec![glob(p("s"), "Exp*")]), vec!["a*bc"]),
            ("glob case-sensitive lower", c(vec![glob(p("s"), "exp*")]), vec![]),
            ("glob unterminated class", c(vec![glob(p("s"), "[abc")]), vec![]),
            ("glob star only: any string", c(vec![glob(p("exp"), "*")]), vec!["a*b", "a*bc", "axb", "a?c", "b"]),
            ("glob metadata", c(vec![glob(m("project"), "ml*")]), vec!["a*b", "a*bc", "b", "store/x"]),
            ("exists", c(vec![Cond::Exists { field: Field::Params, name: "z".into(), exists: true }]), vec!["a*b"]),
            (
                "exists false",
                c(vec![Cond::Exists { field: Field::Params, name: "exp".into(), exists: false }]),
                vec!["a%_", "store/x", "abc"],
            ),
            (
                "exists metadata (null counts)",
                c(vec![Cond::Exists { field: Field::Metadata, name: "project".into(), exists: true }]),
                vec!["a*b", "a*bc", "axb", "a[b]", "b", "store/x"],
            ),
            (
                "exists false metadata",
                c(vec![Cond::Exists { field: Field::Metadata, name: "project".into(), exists: false }]),
                vec!["a?c", "a%_", "abc"],
            ),
            ("key_prefix with *", c(vec![Cond::KeyPrefix("a*b".into())]), vec!["a*b", "a*bc"]),
            ("key_prefix with ?", c(vec![Cond::KeyPrefix("a?".into())]), vec!["a?c"]),
            ("key_prefix with [", c(vec![Cond::KeyPrefix("a[".into())]), vec!["a[b]"]),
            ("key_prefix with %", c(vec![Cond::KeyPrefix("a%".into())]), vec!["a%_"]),
            ("key_prefix with _", c(vec![Cond::KeyPrefix("a_".into())]), vec![]),
            ("key_prefix empty", c(vec![Cond::KeyPrefix("".into())]), ALL.to_vec()),
            ("key_prefix path", c(vec![Cond::KeyPrefix("store/".into())]), vec!["store/x"]),
            ("key_prefix whole key", c(vec![Cond::KeyPrefix("b".into())]), vec!["b"]),
            ("data_type", c(vec![Cond::DataType("text".into())]), vec!["a*bc", "b"]),
            ("created_before", c(vec![Cond::CreatedBefore(300)]), vec!["a*b", "a*bc"]),
            ("created_after", c(vec![Cond::CreatedAfter(600)]), vec!["b", "store/x", "abc"]),
            ("accessed_before", c(vec![Cond::AccessedBefore(200)]), vec!["a[b]", "a%_"]),
            ("expires_before", c(vec![Cond::ExpiresBefore(2000)]), vec!["a*bc", "a%_"]),
            ("min_size", c(vec![Cond::MinSize(30)]), vec!["axb", "a?c", "a[b]", "b", "store/x", "abc"]),
            ("max_size", c(vec![Cond::MaxSize(10)]), vec!["a*b", "a%_"]),
            ("min_size huge", c(vec![Cond::MinSize(u64::MAX)]), vec![]),
            ("alive_at", c(vec![Cond::AliveAt(1500)]), vec!["a*b", "axb", "a?c", "a[b]", "b", "store/x", "abc"]),
            (
                "combined",
                c(vec![
                    Cond::Prefix { field: Field::Params, name: "exp".into(), prefix: "exp_".into() },
                    eq(m("project"), json!("ml")),
                    Cond::MinSize(5),
                    Cond::AliveAt(1),
                ]),
                vec!["a*b"],
            ),
            ("combined empty", c(vec![Cond::DataType("text".into()), Cond::MaxSize(10)]), vec![]),
            // The SQL backends look for the member's canonical text before parsing JSON; these
            // check that escapes, number forms and nesting neither hide nor fake a match.
            ("eq 1e21", c(vec![eq(p("big"), json!(1e21))]), vec!["abc"]),
            ("eq 1e21 written in full", c(vec![eq(p("big"), json!(1_000_000_000_000_000_000_000.0))]), vec!["abc"]),
            ("eq string with quote, backslash, control", c(vec![eq(p("q"), json!("q\"b\\s\u{1}"))]), vec!["abc"]),
            ("eq member name with quotes", c(vec![eq(p("name \"q\""), json!(7))]), vec!["abc"]),
            ("eq member text only nested", c(vec![eq(p("a"), json!(1))]), vec![]),
            (
                "prefix across an escape",
                c(vec![Cond::Prefix { field: Field::Params, name: "s".into(), prefix: "abc\n".into() }]),
                vec!["abc"],
            ),
            (
                "prefix ending in a quote",
                c(vec![Cond::Prefix { field: Field::Params, name: "q".into(), prefix: "q\"".into() }]),
                vec!["abc"],
            ),
            (
                "exists member name with quotes",
                c(vec![Cond::Exists { field: Field::Params, name: "name \"q\"".into(), exists: true }]),
                vec!["abc"],
            ),
            ("glob member name with quotes, not a string", c(vec![glob(p("name \"q\""), "*")]), vec![]),
        ];
        v.iter_mut().for_each(|(_, _, e)| e.sort());
        v.into_iter().map(|(d, f, e)| (d.to_string(), f, e)).collect()
    }

    fn check_cases(fx: &Fx, op: &str, mut run: impl FnMut(usize, &Filter) -> Vec<String>) {
        let mut failures = Vec::new();
        for (i, (desc, filter, expected)) in filter_cases().into_iter().enumerate() {
            let got = run(i, &filter);
            let expected = strs(&expected);
            if got != expected {
                failures.push(format!("  {desc}: {filter:?}\n    expected {expected:?}\n    got      {got:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} {op}: {} filter cases wrong:\n{}",
            fx.kind.name(),
            failures.len(),
            failures.join("\n")
        );
    }

    pub fn filters_list(fx: &Fx) {
        let ns = fx.ns("fl");
        fx.put(&ns, dataset(fx));
        check_cases(fx, "list", |_, f| {
            let got: Vec<String> =
                fx.b.list(&ns, f, Order::Key, None, 1000).unwrap().into_iter().map(|r| r.key).collect();
            assert!(got.windows(2).all(|w| w[0] < w[1]), "list by key must be sorted: {got:?}");
            got
        });
    }

    pub fn filters_read_cond(fx: &Fx) {
        let ns = fx.ns("fr");
        fx.put(&ns, dataset(fx));
        check_cases(fx, "read cond", |_, f| {
            let got = fx.b.read(&ns, ALL, f, None).unwrap();
            sorted(got.into_iter().flatten().map(|(r, _)| r.key))
        });
    }

    pub fn filters_delete_where(fx: &Fx) {
        let ds = dataset(fx);
        check_cases(fx, "delete_where", |i, f| {
            let ns = fx.ns(&format!("fd{i}"));
            fx.put(&ns, ds.clone());
            let (n, blobs) = fx.b.delete_where(&ns, f).unwrap();
            let left: BTreeSet<String> = fx.keys(&ns).into_iter().collect();
            let gone: Vec<String> = ALL.iter().map(|k| k.to_string()).filter(|k| !left.contains(k)).collect();
            assert_eq!(n, gone.len() as u64, "delete_where count");
            let expect_blobs: Vec<String> =
                ds.iter().filter(|(r, _)| gone.contains(&r.key)).filter_map(|(r, _)| r.blob.clone()).collect();
            assert_eq!(sorted(blobs), sorted(expect_blobs), "delete_where returns the deleted records' blobs");
            fx.check_totals(&ns);
            sorted(gone)
        });
    }

    pub fn filters_set_expiry_where(fx: &Fx) {
        let ds = dataset(fx);
        check_cases(fx, "set_expiry_where", |i, f| {
            let ns = fx.ns(&format!("fe{i}"));
            fx.put(&ns, ds.clone());
            let n = fx.b.set_expiry_where(&ns, f, Some(777)).unwrap();
            let hit: Vec<String> =
                fx.all(&ns).into_iter().filter(|r| r.expires_at == Some(777)).map(|r| r.key).collect();
            assert_eq!(n, hit.len() as u64, "set_expiry_where count");
            fx.check_totals(&ns);
            hit
        });
        // None clears the expiry.
        let ns = fx.ns("fe-none");
        fx.put(&ns, ds);
        let n = fx.b.set_expiry_where(&ns, &Filter::all().with(Cond::ExpiresBefore(i64::MAX)), None).unwrap();
        assert_eq!(n, 4);
        assert!(fx.all(&ns).iter().all(|r| r.expires_at.is_none()));
    }

    pub fn filters_update_where(fx: &Fx) {
        let ds = dataset(fx);
        check_cases(fx, "update_where", |i, f| {
            let ns = fx.ns(&format!("fu{i}"));
            fx.put(&ns, ds.clone());
            let mut body = |r: &Record| -> Result<Option<Record>> {
                let mut n = r.clone();
                n.description = "updated".into();
                n.version += 1;
                Ok(Some(n))
            };
            let n = fx.b.update_where(&ns, f, &mut body).unwrap();
            let hit: Vec<String> =
                fx.all(&ns).into_iter().filter(|r| r.description == "updated").map(|r| r.key).collect();
            assert_eq!(n, hit.len() as u64, "update_where count");
            hit
        });
    }

    /// SQLite GLOB's class rules beyond the common ones (checked against SQLite itself):
    /// a `]` right after `[` is literal and cannot start a range; `[c-a]` still matches `c`.
    pub fn glob_sqlite_class_edge_cases(fx: &Fx) {
        let ns = fx.ns("ge");
        let vals = ["_", "-", "]", "a", "b", "c", "^"];
        let items: Vec<(Record, Payload)> = vals
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (mut r, p) = inline(&format!("k{i}"), b"x");
                r.params = canonical_value(&json!({ "s": s }));
                (r, p)
            })
            .collect();
        fx.put(&ns, items);
        let cases: &[(&str, &[&str])] = &[
            ("[]-a]", &["]", "-", "a"]),
            ("[c-a]", &["c"]),
            ("[^c-a]", &["_", "-", "]", "a", "b", "^"]),
            ("[a-c]", &["a", "b", "c"]),
            ("[^]]", &["_", "-", "a", "b", "c", "^"]),
            ("[a-]", &["a", "-"]),
            ("[]", &[]),
            ("[^]", &[]),
            ("[\\^]", &["^"]),
        ];
        let mut failures = Vec::new();
        for (pattern, expected) in cases {
            let f = Filter::all().with(glob(p("s"), pattern));
            let got: BTreeSet<String> =
                fx.b.list(&ns, &f, Order::Key, None, 100)
                    .unwrap()
                    .into_iter()
                    .map(|r| serde_json::from_str::<Json>(&r.params).unwrap()["s"].as_str().unwrap().to_string())
                    .collect();
            let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
            if got != want {
                failures.push(format!("  glob {pattern:?}: expected {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}: glob differs from SQLite's GLOB:\n{}", fx.kind.name(), failures.join("\n"));
    }

    // ------------------------------------------------------------------ list, scan, totals

    pub fn list_pagination(fx: &Fx) {
        let ns = fx.ns("pg");
        const N: usize = 2500;
        let items: Vec<(Record, Payload)> = (0..N)
            .map(|i| {
                let key = format!("k{:05}", (i * 7919) % N);
                let (mut r, p) = inline(&key, &vec![b'x'; i % 13]);
                r.created_at = (i % 50) as i64; // many ties
                r.accessed_at = ((i * 31) % 97) as i64 - 40; // ties and negative values
                (r, p)
            })
            .collect();
        let all: Vec<Record> = items.iter().map(|(r, _)| r.clone()).collect();
        fx.put(&ns, items);
        // Noise in another namespace.
        fx.put(&fx.ns("pg-other"), vec![inline("k00001", b"zz"), inline("zzz", b"z")]);
        for (order, filter) in [
            (Order::CreatedAt, Filter::all()),
            (Order::AccessedAt, Filter::all()),
            (Order::Key, Filter::all()),
            (Order::AccessedAt, Filter::all().with(Cond::MinSize(5))),
            (Order::CreatedAt, Filter::all().with(Cond::KeyPrefix("k01".into()))),
        ] {
            let mut expected: Vec<&Record> = all.iter().filter(|r| filter.matches(r)).collect();
            expected.sort_by(|a, b| match (order.value_of(a), order.value_of(b)) {
                (Value::Int(x), Value::Int(y)) => (x, &a.key).cmp(&(y, &b.key)),
                _ => a.key.cmp(&b.key),
            });
            let expected: Vec<String> = expected.into_iter().map(|r| r.key.clone()).collect();
            let mut got: Vec<String> = Vec::new();
            let mut after: Option<(Value, String)> = None;
            let mut pages = 0;
            loop {
                let page = fx.b.list(&ns, &filter, order, after.as_ref(), 97).unwrap();
                assert!(page.len() <= 97);
                if page.is_empty() {
                    break;
                }
                pages += 1;
                let last = page.last().unwrap();
                after = Some((order.value_of(last), last.key.clone()));
                got.extend(page.into_iter().map(|r| r.key));
                assert!(pages < 1000, "pagination does not end");
            }
            let unique: BTreeSet<&String> = got.iter().collect();
            assert_eq!(unique.len(), got.len(), "{order:?} {filter:?}: duplicates across pages");
            assert_eq!(got.len(), expected.len(), "{order:?} {filter:?}: gaps across pages");
            assert_eq!(got, expected, "{order:?} {filter:?}: wrong order");
        }
        assert!(fx.b.list(&ns, &Filter::all(), Order::Key, None, 0).unwrap().is_empty());
        let end = (Value::Text("zzzz".into()), "zzzz".to_string());
        assert!(fx.b.list(&ns, &Filter::all(), Order::Key, Some(&end), 10).unwrap().is_empty());
        let end = (Value::Int(i64::MAX), "".to_string());
        assert!(fx.b.list(&ns, &Filter::all(), Order::CreatedAt, Some(&end), 10).unwrap().is_empty());
        assert_eq!(fx.check_totals(&ns).0, N as u64);
    }

    pub fn scan_paging(fx: &Fx) {
        let ns = fx.ns("sc");
        let items: Vec<(Record, Payload)> =
            (0..250).map(|i| inline(&format!("k{:04}", (i * 37) % 250), b"d")).collect();
        fx.put(&ns, items);
        fx.put(&fx.ns("sc-other"), vec![inline("k0001x", b"o")]);
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = fx.b.scan(&ns, after.as_deref(), 100).unwrap();
            if page.is_empty() {
                break;
            }
            let keys: Vec<String> = page
                .into_iter()
                .map(|s| match s {
                    Scanned::Ok(r) => r.key,
                    Scanned::Invalid { key, reason } => panic!("invalid {key}: {reason}"),
                })
                .collect();
            after = keys.last().cloned();
            pages.push(keys);
        }
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![100, 100, 50]);
        let all: Vec<String> = pages.concat();
        let expected: Vec<String> = (0..250).map(|i| format!("k{i:04}")).collect();
        assert_eq!(all, expected);
        // after_key need not exist.
        let page = fx.b.scan(&ns, Some("k0001x"), 2).unwrap();
        let keys: Vec<String> = page
            .into_iter()
            .map(|s| match s {
                Scanned::Ok(r) => r.key,
                Scanned::Invalid { key, .. } => key,
            })
            .collect();
        assert_eq!(keys, vec!["k0002".to_string(), "k0003".to_string()]);
        assert!(fx.b.scan(&fx.ns("empty"), None, 10).unwrap().is_empty());
    }

    pub fn totals_exact(fx: &Fx) {
        let ns = fx.ns("tot");
        assert_eq!(fx.b.totals(&ns).unwrap(), (0, 0));
        fx.put(&ns, vec![inline("a", &[1; 10]), with_blob("b", &fx.blob("b"), 100), inline("c", &[3; 5])]);
        assert_eq!(fx.check_totals(&ns), (3, 115));
        fx.put(&ns, vec![inline("a", &[1; 20])]); // replace: size changes
        assert_eq!(fx.check_totals(&ns), (3, 125));
        let mut b = fx.get(&ns, "b").unwrap();
        b.metadata = "{\"x\":1}".into();
        fx.actions(&ns, &["b"], vec![Action::Put(b, Payload::Keep)]).unwrap();
        assert_eq!(fx.check_totals(&ns), (3, 125));
        fx.actions(
            &ns,
            &["c", "d"],
            vec![Action::Delete, Action::Put(inline("d", &[4; 7]).0, Payload::Inline(vec![4; 7]))],
        )
        .unwrap();
        assert_eq!(fx.check_totals(&ns), (3, 127));
        fx.b.read(&ns, &["a", "b"], &Filter::all(), Some(99)).unwrap();
        fx.b.set_expiry_where(&ns, &Filter::all(), Some(5)).unwrap();
        let mut body = |r: &Record| -> Result<Option<Record>> {
            let mut n = r.clone();
            n.description = "d".into();
            Ok(Some(n))
        };
        fx.b.update_where(&ns, &Filter::all(), &mut body).unwrap();
        assert_eq!(fx.check_totals(&ns), (3, 127));
        fx.b.delete_where(&ns, &Filter::all().with(Cond::MinSize(100))).unwrap();
        assert_eq!(fx.check_totals(&ns), (2, 27));
        fx.b.remove_raw(&ns, "d").unwrap();
        assert_eq!(fx.check_totals(&ns), (1, 20));
        fx.put(&ns, vec![inline("e", &[0; 30])]);
        let out = fx.put_limit(&ns, vec![inline("f", &[0; 40])], Some(45));
        assert_eq!(out.evicted, 2);
        assert_eq!(fx.check_totals(&ns), (1, 40));
        fx.b.delete_where(&ns, &Filter::all()).unwrap();
        assert_eq!(fx.check_totals(&ns), (0, 0));
        // Many records in one transaction, then one delete_where.
        let many: Vec<(Record, Payload)> = (0..300).map(|i| inline(&format!("m{i:03}"), &vec![0; i % 17])).collect();
        fx.put(&ns, many);
        fx.check_totals(&ns);
        fx.b.delete_where(&ns, &Filter::all().with(Cond::KeyPrefix("m1".into()))).unwrap();
        fx.check_totals(&ns);
    }

    pub fn referenced_blobs_across_namespaces(fx: &Fx) {
        let (n1, n2) = (fx.ns("rb1"), fx.ns("rb2"));
        let (x1, x2, x3) = (fx.blob("x1"), fx.blob("x2"), fx.blob("x3"));
        fx.put(&n1, vec![with_blob("r1", &x1, 1), inline("r3", b"i")]);
        fx.put(&n2, vec![with_blob("r2", &x2, 1), with_blob("r2b", &x2, 1)]);
        let ask = vec![x1.clone(), x2.clone(), x3.clone(), x1.clone()];
        assert_eq!(sorted(fx.b.referenced_blobs(&ask).unwrap()), sorted(vec![x1.clone(), x2.clone()]));
        assert_eq!(fx.b.referenced_blobs(&[]).unwrap(), Vec::<String>::new());
        fx.actions(&n1, &["r1"], vec![Action::Delete]).unwrap();
        assert_eq!(sorted(fx.b.referenced_blobs(&ask).unwrap()), vec![x2.clone()]);
        fx.actions(&n2, &["r2"], vec![Action::Delete]).unwrap();
        assert_eq!(fx.b.referenced_blobs(&ask).unwrap(), vec![x2], "still referenced by r2b");
    }

    pub fn remove_raw(fx: &Fx) {
        let ns = fx.ns("rr");
        let b = fx.blob("b");
        fx.put(&ns, vec![with_blob("a", &b, 4), inline("c", b"cc")]);
        assert_eq!(fx.b.remove_raw(&ns, "a").unwrap(), Some(b));
        assert_eq!(fx.get(&ns, "a"), None);
        assert_eq!(fx.b.remove_raw(&ns, "c").unwrap(), None);
        assert_eq!(fx.get(&ns, "c"), None);
        assert_eq!(fx.b.remove_raw(&ns, "missing").unwrap(), None);
        assert_eq!(fx.check_totals(&ns), (0, 0));
    }

    pub fn namespaces_isolated(fx: &Fx) {
        let (a, b) = (fx.ns("iso-a"), fx.ns("iso-b"));
        fx.put(&a, vec![inline("k", b"A"), inline("only-a", b"AA")]);
        fx.put(&b, vec![inline("k", b"BBB")]);
        assert_eq!(fx.data(&a, "k"), Some(Some(b"A".to_vec())));
        assert_eq!(fx.data(&b, "k"), Some(Some(b"BBB".to_vec())));
        assert_eq!(fx.get(&b, "only-a"), None);
        assert_eq!(fx.keys(&b), strs(&["k"]));
        assert_eq!(fx.b.list(&b, &Filter::all(), Order::Key, None, 10).unwrap().len(), 1);
        assert_eq!(fx.check_totals(&a), (2, 3));
        assert_eq!(fx.check_totals(&b), (1, 3));
        fx.b.read(&a, &["k"], &Filter::all(), Some(1)).unwrap();
        assert_eq!(fx.get(&b, "k").unwrap().access_count, 0);
        fx.b.set_expiry_where(&a, &Filter::all(), Some(1)).unwrap();
        assert_eq!(fx.get(&b, "k").unwrap().expires_at, None);
        let mut body =
            |r: &Record| -> Result<Option<Record>> { Ok(Some(Record { description: "x".into(), ..r.clone() })) };
        fx.b.update_where(&a, &Filter::all(), &mut body).unwrap();
        assert_eq!(fx.get(&b, "k").unwrap().description, "");
        assert_eq!(fx.b.remove_raw(&a, "k").unwrap(), None);
        assert!(fx.get(&b, "k").is_some());
        let mut nothing = |_: &[Option<Record>]| -> Result<Vec<Action>> { Ok(vec![]) };
        assert_eq!(fx.b.transact(&a, &[], Some(0), &mut nothing).unwrap().evicted, 1);
        assert_eq!(fx.b.delete_where(&a, &Filter::all()).unwrap().0, 0);
        assert_eq!(fx.keys(&b), strs(&["k"]));
        assert_eq!(fx.check_totals(&a), (0, 0));
        assert_eq!(fx.check_totals(&b), (1, 3));
    }

    pub fn update_where_semantics(fx: &Fx) {
        let ns = fx.ns("uw");
        let b1 = fx.blob("b1");
        fx.put(&ns, vec![inline("r1", b"one"), with_blob("r2", &b1, 3), inline("r3", b"333"), inline("r4", b"4")]);
        let before = fx.all(&ns);
        // A failing body changes nothing, even records it already returned.
        let mut calls = 0;
        let mut failing = |r: &Record| -> Result<Option<Record>> {
            calls += 1;
            if r.key == "r3" {
                return Err(Error::new(Code::InvalidArgument, "bad patch"));
            }
            Ok(Some(Record { description: "changed".into(), ..r.clone() }))
        };
        let err = fx.b.update_where(&ns, &Filter::all(), &mut failing).unwrap_err();
        assert_eq!(err.code, Code::InvalidArgument);
        assert!(calls >= 1);
        assert_eq!(fx.all(&ns), before);
        // None leaves a record alone and is not counted; data and blobs stay.
        let mut body = |r: &Record| -> Result<Option<Record>> {
            if r.key == "r4" {
                return Ok(None);
            }
            let mut n = r.clone();
            n.metadata = "{\"patched\":true}".into();
            n.version += 1;
            n.blob = Some("ignored".into());
            Ok(Some(n))
        };
        assert_eq!(fx.b.update_where(&ns, &Filter::all(), &mut body).unwrap(), 3);
        let got = fx.b.read(&ns, &["r1", "r2", "r3", "r4"], &Filter::all(), None).unwrap();
        let got: Vec<Loaded> = got.into_iter().map(Option::unwrap).collect();
        assert_eq!(got[0].1.as_deref(), Some(&b"one"[..]));
        assert_eq!((got[1].0.blob.as_deref(), got[1].1.as_ref()), (Some(b1.as_str()), None));
        assert_eq!(got[0].0.metadata, "{\"patched\":true}");
        assert_eq!(got[0].0.version, 2);
        assert_eq!(got[3].0.metadata, "{}");
        // The filter sees the new metadata.
        let f = Filter::all().with(eq(m("patched"), json!(true)));
        assert_eq!(fx.b.list(&ns, &f, Order::Key, None, 10).unwrap().len(), 3);
        fx.check_totals(&ns);
    }

    type Loaded = cacheness::storage::Loaded;
}

// ---------------------------------------------------------------------------------------------
// One test per (backend, case)
// ---------------------------------------------------------------------------------------------

fn run(kind: Kind, case: &str, f: fn(&Fx)) {
    let fx = Fx::open(kind);
    eprintln!("conformance: backend={} case={case}", fx.b.name());
    f(&fx);
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::run(super::Kind::Sqlite, stringify!($case), super::cases::$case) } )*
        }
        mod memory {
            $( #[test] fn $case() { super::run(super::Kind::Memory, stringify!($case), super::cases::$case) } )*
        }
        mod json {
            $( #[test] fn $case() { super::run(super::Kind::Json, stringify!($case), super::cases::$case) } )*
        }
        mod postgres {
            $( #[test] fn $case() { super::run(super::Kind::Postgres, stringify!($case), super::cases::$case) } )*
        }
    };
}

suite!(
    roundtrip_exact,
    read_bumps_access,
    read_cond_filters,
    read_duplicate_keys,
    transact_all_or_nothing,
    payload_keep,
    dead_blobs_replace_delete,
    dead_blob_inline_over_blob_with_stale_field,
    dead_blobs_move,
    eviction_lru,
    filters_list,
    filters_tolerate_non_json_text,
    filters_read_cond,
    filters_delete_where,
    filters_set_expiry_where,
    filters_update_where,
    glob_sqlite_class_edge_cases,
    list_pagination,
    scan_paging,
    totals_exact,
    referenced_blobs_across_namespaces,
    remove_raw,
    namespaces_isolated,
    update_where_semantics,
);

// ---------------------------------------------------------------------------------------------
// Opening, and the JSON backend shared by several handles (as by several processes)
// ---------------------------------------------------------------------------------------------

mod open {
    use super::*;

    #[test]
    fn postgres_needs_url() {
        let err = open_extra("postgres", None, None, false).err().expect("no url must fail");
        assert_eq!(err.code, Code::InvalidArgument, "{err}");
        assert!(err.message.contains("postgres_url"), "{err}");
        let err = open_extra("postgres", None, Some(""), false).err().expect("empty url must fail");
        assert_eq!(err.code, Code::InvalidArgument, "{err}");
    }

    #[test]
    fn postgres_bad_url_is_invalid() {
        let err = open_extra("postgres", None, Some("postgres://user@host:notaport/db"), false).err().unwrap();
        assert_eq!(err.code, Code::InvalidArgument, "{err}");
    }

    #[test]
    fn postgres_unreachable_is_backend_error() {
        // Nothing listens on port 1.
        let err = open_extra("postgres", None, Some("postgres://postgres@127.0.0.1:1/none?connect_timeout=5"), false)
            .err()
            .expect("connection must fail");
        assert_eq!(err.code, Code::Backend, "{err}");
        assert!(err.message.contains("cannot connect to 127.0.0.1:1"), "unclear message: {err}");
        assert!(err.message.to_lowercase().contains("refused"), "the reason is missing: {err}");
    }

    #[test]
    fn postgres_wrong_database_is_backend_error() {
        let url = postgres_url();
        let mut cfg: Vec<&str> = url.rsplitn(2, '/').collect();
        cfg[0] = "cacheness_no_such_database";
        let bad = format!("{}/{}", cfg[1], cfg[0]);
        let err = open_extra("postgres", None, Some(&bad), false).err().expect("must fail");
        assert_eq!(err.code, Code::Backend, "{err}");
        assert!(err.message.contains("cacheness_no_such_database"), "{err}");
    }

    #[test]
    fn postgres_reopen_keeps_records() {
        let url = postgres_url();
        let ns = format!("reopen-{:x}", rand::random::<u64>());
        let a = open_extra("postgres", None, Some(&url), true).unwrap();
        let mut body =
            |_: &[Option<Record>]| -> Result<Vec<Action>> { Ok(vec![Action::Put(rec("k"), Payload::Inline(vec![1]))]) };
        a.transact(&ns, &["k"], None, &mut body).unwrap();
        drop(a);
        let b = open_extra("postgres", None, Some(&url), false).unwrap();
        assert_eq!(b.get(&ns, "k").unwrap(), Some(rec("k")));
    }

    #[test]
    fn json_needs_dir_and_unknown_kind_is_invalid() {
        assert_eq!(open_extra("json", None, None, false).err().unwrap().code, Code::InvalidArgument);
        assert_eq!(open_extra("mysql", None, None, false).err().unwrap().code, Code::InvalidArgument);
    }

    #[test]
    fn json_corrupt_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cacheness.json"), b"{not json").unwrap();
        let err = open_extra("json", Some(dir.path()), None, false).err().expect("corrupt file");
        assert_eq!(err.code, Code::Corrupt, "{err}");
    }

    #[test]
    fn json_handles_see_each_others_writes() {
        let dir = tempfile::tempdir().unwrap();
        let a = open_extra("json", Some(dir.path()), None, false).unwrap();
        let b = open_extra("json", Some(dir.path()), None, true).unwrap();
        let put = |be: &Arc<dyn MetadataBackend>, key: &str| {
            let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> {
                Ok(vec![Action::Put(rec(key), Payload::Inline(vec![1]))])
            };
            be.transact("ns", &[key], None, &mut body).unwrap();
        };
        put(&a, "k1");
        put(&b, "k2");
        assert_eq!(a.get("ns", "k2").unwrap(), Some(rec("k2")));
        assert_eq!(b.get("ns", "k1").unwrap(), Some(rec("k1")));
        b.remove_raw("ns", "k1").unwrap();
        assert_eq!(a.get("ns", "k1").unwrap(), None);
        put(&a, "k3");
        assert_eq!(b.totals("ns").unwrap(), (2, 0));
        let c = open_extra("json", Some(dir.path()), None, false).unwrap();
        assert_eq!(c.totals("ns").unwrap(), (2, 0));
    }

    #[test]
    fn json_survives_a_panicking_body_and_removes_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let leftover = dir.path().join(".cacheness.json.123.00000000deadbeef.tmp");
        std::fs::write(&leftover, b"half written").unwrap();
        let be = open_extra("json", Some(dir.path()), None, false).unwrap();
        assert!(!leftover.exists(), "a dead writer's temporary file is removed on open");
        let mut body =
            |_: &[Option<Record>]| -> Result<Vec<Action>> { Ok(vec![Action::Put(rec("k"), Payload::Inline(vec![1]))]) };
        be.transact("ns", &["k"], None, &mut body).unwrap();
        let be2 = be.clone();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let mut body = |_: &[Option<Record>]| -> Result<Vec<Action>> { panic!("caller bug") };
            let _ = be2.transact("ns", &["k"], None, &mut body);
        }));
        assert!(panicked.is_err());
        assert_eq!(be.get("ns", "k").unwrap(), Some(rec("k")), "the handle keeps working after a panic");
        be.transact("ns", &["k"], None, &mut body).unwrap();
    }

    /// Several handles (each with its own lock file descriptor, as separate processes have)
    /// doing read-modify-writes of one record: no update is lost.
    #[test]
    fn json_concurrent_handles_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let seed = open_extra("json", Some(dir.path()), None, false).unwrap();
        let mut body =
            |_: &[Option<Record>]| -> Result<Vec<Action>> { Ok(vec![Action::Put(rec("n"), Payload::Inline(vec![]))]) };
        seed.transact("ns", &["n"], None, &mut body).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let be = open_extra("json", Some(&path), None, false).unwrap();
                    for i in 0..40 {
                        let mut body = |cur: &[Option<Record>]| -> Result<Vec<Action>> {
                            let mut r = cur[0].clone().expect("n exists");
                            r.version += 1;
                            Ok(vec![Action::Put(r, Payload::Keep)])
                        };
                        be.transact("ns", &["n"], None, &mut body).unwrap();
                        let key = format!("t{t}-{i}");
                        let mut put = |_: &[Option<Record>]| -> Result<Vec<Action>> {
                            Ok(vec![Action::Put(Record { size: 3, ..rec(&key) }, Payload::Inline(vec![0; 3]))])
                        };
                        be.transact("ns", &[key.as_str()], None, &mut put).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(seed.get("ns", "n").unwrap().unwrap().version, 1 + 4 * 40);
        assert_eq!(seed.totals("ns").unwrap(), (1 + 4 * 40, 3 * 4 * 40));
    }
}

// ---------------------------------------------------------------------------------------------
// The cache layer on top of each backend (a smoke test of the whole stack)
// ---------------------------------------------------------------------------------------------

mod cache_layer {
    use super::*;
    use cacheness::Cache;

    fn run(kind: Kind) {
        let dir = tempfile::tempdir().unwrap();
        let ns = format!("smoke{:x}", rand::random::<u32>());
        let mut cfg = json!({"dir": dir.path(), "metadata": kind.name(), "namespace": ns, "inline_max_bytes": 100});
        if kind == Kind::Postgres {
            cfg["postgres_url"] = json!(postgres_url());
        }
        let c = Cache::open(Some(&cfg.to_string())).unwrap_or_else(|e| panic!("open {}: {e}", kind.name()));
        let j = |s: &str| serde_json::from_str::<Json>(s).unwrap();
        let small = c.put(r#"{"exp":"exp_001"}"#, b"hello", Some(r#"{"metadata":{"project":"ml"}}"#)).unwrap();
        let big_data = vec![7u8; 5000];
        c.put(r#"{"exp":"exp_002"}"#, &big_data, Some(r#"{"data_type":"blob","metadata":{"project":"web"}}"#)).unwrap();
        c.put(r#"{"exp":"other"}"#, b"x", Some(r#"{"ttl_seconds":3600}"#)).unwrap();
        assert_eq!(c.get(&small).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(c.get(r#"{"exp":"exp_002"}"#).unwrap(), Some(big_data.clone()));
        let m = j(&c.get_metadata(&small).unwrap().unwrap());
        assert_eq!(m["metadata"]["project"], "ml");
        assert_eq!(m["params"]["exp"], "exp_001");
        let page = j(&c.list(Some(r#"{"params":{"exp":{"$glob":"exp_00[1-2]"}}}"#), None).unwrap());
        assert_eq!(page["entries"].as_array().unwrap().len(), 2);
        assert!(c.update_data(&small, b"hello again", Some(r#"{"expected_version":1}"#)).unwrap());
        let err = c.update_data(&small, b"x", Some(r#"{"expected_version":1}"#)).unwrap_err();
        assert_eq!(err.code, Code::Conflict);
        assert!(c.update_metadata(&small, r#"{"stage":"done"}"#).unwrap());
        assert!(c.copy(r#"{"exp":"exp_002"}"#, r#"{"exp":"copy"}"#, Some(r#"{"metadata":{"copied":true}}"#)).unwrap());
        assert!(c.move_entry(r#"{"exp":"copy"}"#, r#"{"exp":"moved"}"#, None).unwrap());
        assert_eq!(c.get(r#"{"exp":"moved"}"#).unwrap(), Some(big_data));
        assert_eq!(c.get(r#"{"exp":"copy"}"#).unwrap(), None);
        assert_eq!(c.update_metadata_where(r#"{"metadata":{"project":{"$prefix":"w"}}}"#, r#"{"seen":1}"#).unwrap(), 2);
        assert_eq!(c.touch_where(r#"{"params":{"exp":{"$in":["exp_001","other"]}}}"#, None).unwrap(), 2);
        let stats = j(&c.stats().unwrap());
        assert_eq!(stats["entries"], 4);
        assert_eq!(stats["metadata_backend"], kind.name());
        assert_eq!(c.delete_where(r#"{"params":{"exp":{"$glob":"exp_*"}}}"#).unwrap(), 2);
        assert_eq!(c.cleanup_expired().unwrap(), 0);
        assert_eq!(c.clear().unwrap(), 2);
        assert_eq!(j(&c.stats().unwrap())["entries"], 0);
        let report = j(&c.verify(Some(r#"{"deep":true}"#)).unwrap());
        assert_eq!(report["ok"], true, "{report}");
    }

    #[test]
    fn sqlite() {
        run(Kind::Sqlite)
    }
    #[test]
    fn memory() {
        run(Kind::Memory)
    }
    #[test]
    fn json() {
        run(Kind::Json)
    }
    #[test]
    fn postgres() {
        run(Kind::Postgres)
    }
}
