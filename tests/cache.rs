//! The cache layer's behaviour through the public Rust API, on real SQLite files and blob files.

use cacheness::{Cache, Code, Store};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn open_in(dir: &Path, extra: &str) -> Cache {
    let cfg = format!("{{\"dir\":{:?}{extra}}}", dir.display().to_string());
    Cache::open(Some(&cfg)).expect("open")
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("valid JSON")
}

fn blob_files(dir: &Path) -> Vec<std::path::PathBuf> {
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("blobs"), &mut out);
    out
}

/// Waits (bounded) until `f` holds; the TTL tests use tiny TTLs and poll instead of sleeping.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const BIG: usize = 40_000;

#[test]
fn put_get_metadata_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    let key = c
        .put(r#"{"experiment":"exp_001"}"#, b"hello", Some(r#"{"data_type":"text","metadata":{"project":"ml"}}"#))
        .unwrap();
    assert_eq!(key, "5034791a8023b8a2b25628bf08d316f060f17e2ca6c1a700463bcbcc39f146c7");
    assert_eq!(c.get(r#"{"experiment":"exp_001"}"#).unwrap().unwrap(), b"hello");
    assert_eq!(c.get(&key).unwrap().unwrap(), b"hello");
    let m = json(&c.get_metadata(&key).unwrap().unwrap());
    assert_eq!(m["cache_key"], key.as_str());
    assert_eq!(m["params"]["experiment"], "exp_001");
    assert_eq!(m["data_type"], "text");
    assert_eq!(m["size"], 5);
    assert_eq!(m["version"], 1);
    assert_eq!(m["access_count"], 2, "two gets so far; get_metadata counts none");
    assert_eq!(m["expires_at"], Value::Null);
    assert_eq!(m["metadata"]["project"], "ml");
    assert!(m["content_hash"].as_str().unwrap().starts_with("sha256:"));
    assert!(m["created_at"].as_str().unwrap().ends_with('Z'));
    let (d, meta) = c.get_with_metadata(&key).unwrap().unwrap();
    assert_eq!(d, b"hello");
    assert_eq!(json(&meta)["access_count"], 3);
    assert!(c.exists(&key).unwrap());
    assert!(c.delete(&key).unwrap());
    assert!(!c.delete(&key).unwrap());
    assert!(c.get(&key).unwrap().is_none());
    let s = json(&c.stats().unwrap());
    assert_eq!((s["hits"].as_u64(), s["misses"].as_u64(), s["entries"].as_u64()), (Some(3), Some(1), Some(0)));
}

#[test]
fn bad_input_is_invalid_argument_and_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    for (params, opts) in [
        ("[1]", None),
        ("{bad", None),
        (r#"{"a":1,"a":2}"#, None),
        (r#"{"a":1}"#, Some(r#"{"ttl_seconds":0}"#)),
        (r#"{"a":1}"#, Some(r#"{"ttl_seconds":-5}"#)),
        (r#"{"a":1}"#, Some(r#"{"ttl":5}"#)),
        (r#"{"a":1}"#, Some(r#"{"metadata":[1]}"#)),
        (r#"{"a":1}"#, Some("not json")),
    ] {
        let e = c.put(params, b"x", opts).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{params} {opts:?}: {e}");
    }
    assert_eq!(json(&c.stats().unwrap())["entries"], 0);
    assert_eq!(c.get("not-a-key").unwrap_err().code, Code::InvalidArgument);
    assert_eq!(Cache::open(Some(r#"{"dir":"/tmp/x","colour":"red"}"#)).err().unwrap().code, Code::InvalidArgument);
    assert_eq!(Cache::open(Some(r#"{"metadata":"sqlite"}"#)).err().unwrap().code, Code::InvalidArgument);
    assert_eq!(c.delete_where(r#"{"parms":{}}"#).unwrap_err().code, Code::InvalidArgument);
}

#[test]
fn ttl_expiry_is_a_miss_and_cleanup_removes_the_blob() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    c.put(r#"{"t":1}"#, &vec![7u8; BIG], Some(r#"{"ttl_seconds":0.05}"#)).unwrap();
    c.put(r#"{"t":2}"#, b"forever", Some(r#"{"ttl_seconds":null}"#)).unwrap();
    assert_eq!(blob_files(t.path()).len(), 1);
    let m = json(&c.get_metadata(r#"{"t":1}"#).unwrap().unwrap());
    assert!(m["expires_at"].is_string());
    eventually("entry expires", || c.get(r#"{"t":1}"#).unwrap().is_none());
    assert!(!c.exists(r#"{"t":1}"#).unwrap());
    assert!(!c.touch(r#"{"t":1}"#, None).unwrap(), "touch of an expired entry is found=false");
    assert_eq!(json(&c.list(None, None).unwrap())["entries"].as_array().unwrap().len(), 1);
    assert_eq!(c.cleanup_expired().unwrap(), 1);
    assert_eq!(blob_files(t.path()).len(), 0, "cleanup_expired removes the blob file");
    assert_eq!(c.get(r#"{"t":2}"#).unwrap().unwrap(), b"forever");
    assert_eq!(json(&c.stats().unwrap())["expired_removed"], 1);
}

#[test]
fn default_ttl_and_touch() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), r#","default_ttl_seconds":3600"#);
    c.put(r#"{"a":1}"#, b"x", None).unwrap();
    let before = json(&c.get_metadata(r#"{"a":1}"#).unwrap().unwrap());
    assert!(before["expires_at"].is_string());
    assert!(!c.touch(r#"{"missing":1}"#, None).unwrap());
    assert!(c.touch(r#"{"a":1}"#, Some(r#"{"ttl_seconds":null}"#)).unwrap());
    let after = json(&c.get_metadata(r#"{"a":1}"#).unwrap().unwrap());
    assert_eq!(after["expires_at"], Value::Null);
    assert_eq!(after["version"], before["version"], "touch leaves version alone");
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(c.touch(r#"{"a":1}"#, Some(r#"{"ttl_seconds":0.05}"#)).unwrap());
    eventually("touched TTL expires", || !c.exists(r#"{"a":1}"#).unwrap());
}

#[test]
fn update_data_semantics() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    assert!(!c.update_data(r#"{"u":1}"#, b"new", None).unwrap());
    assert!(!c.exists(r#"{"u":1}"#).unwrap(), "update_data never creates");
    let key = c.put(r#"{"u":1}"#, &vec![1u8; BIG], None).unwrap();
    let m1 = json(&c.get_metadata(&key).unwrap().unwrap());
    std::thread::sleep(Duration::from_millis(3)); // created_at has millisecond resolution
    assert!(c.update_data(&key, &vec![2u8; BIG + 1], None).unwrap());
    let m2 = json(&c.get_metadata(&key).unwrap().unwrap());
    assert_eq!(m2["cache_key"], m1["cache_key"]);
    assert_eq!(m2["params"], m1["params"]);
    assert_ne!(m2["size"], m1["size"]);
    assert_ne!(m2["content_hash"], m1["content_hash"]);
    assert_ne!(m2["created_at"], m1["created_at"]);
    assert_eq!(m2["version"], 2);
    assert_eq!(blob_files(t.path()).len(), 1, "the old blob is gone");
    let e = c.update_data(&key, b"x", Some(r#"{"expected_version":1}"#)).unwrap_err();
    assert_eq!(e.code, Code::Conflict);
    assert_eq!(c.get(&key).unwrap().unwrap(), vec![2u8; BIG + 1], "a conflict changes nothing");
    assert_eq!(blob_files(t.path()).len(), 1);
    assert!(c.update_data(&key, b"small", Some(r#"{"expected_version":2}"#)).unwrap());
    assert_eq!(c.get(&key).unwrap().unwrap(), b"small");
    assert_eq!(blob_files(t.path()).len(), 0, "inline now; no file left");
}

#[test]
fn put_over_existing_leaves_no_blob_behind() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    for i in 0..5u8 {
        c.put(r#"{"p":1}"#, &vec![i; BIG], None).unwrap();
    }
    assert_eq!(blob_files(t.path()).len(), 1);
    assert_eq!(c.get(r#"{"p":1}"#).unwrap().unwrap(), vec![4u8; BIG]);
    assert_eq!(json(&c.get_metadata(r#"{"p":1}"#).unwrap().unwrap())["version"], 5);
}

#[test]
fn update_metadata_merge_patch() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    c.put(r#"{"m":1}"#, b"x", Some(r#"{"metadata":{"a":1,"b":{"c":2,"d":3}}}"#)).unwrap();
    assert!(c.update_metadata(r#"{"m":1}"#, r#"{"a":null,"b":{"c":5},"e":"new"}"#).unwrap());
    let m = json(&c.get_metadata(r#"{"m":1}"#).unwrap().unwrap());
    assert_eq!(m["metadata"], json(r#"{"b":{"c":5,"d":3},"e":"new"}"#));
    assert_eq!(m["version"], 2);
    assert!(!c.update_metadata(r#"{"m":2}"#, "{}").unwrap());
    assert_eq!(c.update_metadata(r#"{"m":1}"#, "[1]").unwrap_err().code, Code::InvalidArgument);
}

#[test]
fn copy_and_move() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    c.put(r#"{"s":1}"#, &vec![3u8; BIG], Some(r#"{"data_type":"blob","ttl_seconds":3600,"metadata":{"k":"v"}}"#))
        .unwrap();
    assert!(c.copy(r#"{"s":1}"#, r#"{"s":2}"#, Some(r#"{"metadata":{"copy":true}}"#)).unwrap());
    let (a, b) =
        (json(&c.get_metadata(r#"{"s":1}"#).unwrap().unwrap()), json(&c.get_metadata(r#"{"s":2}"#).unwrap().unwrap()));
    assert_eq!(b["data_type"], "blob");
    assert_eq!(b["expires_at"], a["expires_at"]);
    assert_eq!(b["metadata"], json(r#"{"copy":true,"k":"v"}"#));
    assert_eq!(c.get(r#"{"s":2}"#).unwrap().unwrap(), vec![3u8; BIG]);
    assert_eq!(blob_files(t.path()).len(), 2, "a copy has its own file");
    let e = c.copy(r#"{"s":1}"#, r#"{"s":2}"#, None).unwrap_err();
    assert_eq!(e.code, Code::Exists);
    assert!(!c.copy(r#"{"s":9}"#, r#"{"s":10}"#, None).unwrap(), "missing source");
    assert!(c.move_entry(r#"{"s":1}"#, r#"{"s":3}"#, None).unwrap());
    assert!(!c.exists(r#"{"s":1}"#).unwrap());
    assert_eq!(c.get(r#"{"s":3}"#).unwrap().unwrap(), vec![3u8; BIG]);
    assert_eq!(blob_files(t.path()).len(), 2, "a move copies nothing");
    assert_eq!(c.move_entry(r#"{"s":3}"#, r#"{"s":2}"#, None).unwrap_err().code, Code::Exists);
    assert!(c.move_entry(r#"{"s":3}"#, r#"{"s":2}"#, Some(r#"{"overwrite":true}"#)).unwrap());
    assert_eq!(blob_files(t.path()).len(), 1);
    assert!(json(&c.verify(Some(r#"{"deep":true}"#)).unwrap())["ok"].as_bool().unwrap());
}

#[test]
fn filters_select_in_the_database() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    for i in 0..20 {
        let p = format!(r#"{{"experiment":"exp_{i:03}","group":{}}}"#, i % 3);
        let o = format!(r#"{{"data_type":"{}","metadata":{{"n":{i}}}}}"#, if i % 2 == 0 { "even" } else { "odd" });
        c.put(&p, &vec![0u8; i + 1], Some(&o)).unwrap();
    }
    c.put(r#"{"other":"x*y"}"#, b"z", None).unwrap();
    let count =
        |f: &str| json(&c.list(Some(f), Some(r#"{"limit":100}"#)).unwrap())["entries"].as_array().unwrap().len();
    assert_eq!(count("{}"), 21);
    assert_eq!(count(r#"{"params":{"group":1}}"#), 7);
    assert_eq!(count(r#"{"params":{"experiment":{"$prefix":"exp_01"}}}"#), 10);
    assert_eq!(count(r#"{"params":{"experiment":{"$glob":"exp_00[1-3]"}}}"#), 3);
    assert_eq!(count(r#"{"params":{"other":{"$exists":true}}}"#), 1);
    assert_eq!(count(r#"{"params":{"other":{"$exists":false}}}"#), 20);
    assert_eq!(count(r#"{"params":{"group":{"$in":[0,2]}}}"#), 13);
    assert_eq!(count(r#"{"params":{"other":"x*y"}}"#), 1);
    assert_eq!(count(r#"{"data_type":"odd"}"#), 10);
    assert_eq!(count(r#"{"min_size":5,"max_size":10}"#), 6);
    assert_eq!(count(r#"{"metadata":{"n":{"$in":[1,2,3]}}}"#), 3);
    assert_eq!(count(r#"{"created_after":"2000-01-01T00:00:00Z","created_before":"2999-01-01T00:00:00.000Z"}"#), 21);
    assert_eq!(c.touch_where(r#"{"params":{"group":0}}"#, Some(r#"{"ttl_seconds":60}"#)).unwrap(), 7);
    assert_eq!(count(r#"{"expires_before":"2999-01-01T00:00:00Z"}"#), 7);
    assert_eq!(c.update_metadata_where(r#"{"data_type":"odd"}"#, r#"{"flag":true}"#).unwrap(), 10);
    assert_eq!(count(r#"{"metadata":{"flag":true}}"#), 10);
    assert_eq!(c.delete_where(r#"{"params":{"experiment":{"$prefix":"exp_"}},"data_type":"even"}"#).unwrap(), 10);
    assert_eq!(count("{}"), 11);
    let mut seen = 0;
    let n = c
        .delete_matching(None, &mut |m| {
            seen += 1;
            json(m)["size"].as_u64().unwrap() > 10
        })
        .unwrap();
    assert_eq!((seen, n), (11, 5));
    assert_eq!(c.delete_matching(Some("{}"), &mut |_| false).unwrap(), 0);
    assert_eq!(count("{}"), 6);
}

#[test]
fn list_pages_see_every_entry_once() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    let items: Vec<(String, Vec<u8>)> = (0..2500).map(|i| (format!(r#"{{"i":{i}}}"#), vec![1u8])).collect();
    let batch: Vec<cacheness::cache::PutItem> =
        items.iter().map(|(p, d)| cacheness::cache::PutItem { params_json: p, data: d, options_json: None }).collect();
    c.put_batch(&batch).unwrap();
    for order in ["created_at", "accessed_at", "key"] {
        let mut seen = std::collections::HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let opts = match &cursor {
                Some(cur) => format!(r#"{{"limit":300,"order":"{order}","cursor":"{cur}"}}"#),
                None => format!(r#"{{"limit":300,"order":"{order}"}}"#),
            };
            let page = json(&c.list(None, Some(&opts)).unwrap());
            for e in page["entries"].as_array().unwrap() {
                assert!(seen.insert(e["cache_key"].as_str().unwrap().to_string()), "{order}: seen twice");
            }
            // Writes between pages must not break the cursor.
            c.put(r#"{"noise":1}"#, b"n", None).unwrap();
            match page["next_cursor"].as_str() {
                Some(cur) => cursor = Some(cur.to_string()),
                None => break,
            }
        }
        assert!(seen.len() >= 2500, "{order}: saw {}", seen.len());
    }
    assert_eq!(c.list(None, Some(r#"{"cursor":"garbage"}"#)).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(c.list(None, Some(r#"{"limit":0}"#)).unwrap_err().code, Code::InvalidArgument);
}

#[test]
fn batches_are_all_or_nothing() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    let big = vec![5u8; BIG];
    let ok = cacheness::cache::PutItem { params_json: r#"{"b":1}"#, data: &big, options_json: None };
    let bad = cacheness::cache::PutItem { params_json: "[not an object]", data: b"x", options_json: None };
    let ok2 = cacheness::cache::PutItem { params_json: r#"{"b":2}"#, data: &big, options_json: None };
    assert_eq!(c.put_batch(&[ok, bad, ok2]).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(json(&c.stats().unwrap())["entries"], 0);
    assert!(blob_files(t.path()).is_empty(), "no blob behind");
    let ok = cacheness::cache::PutItem { params_json: r#"{"b":1}"#, data: &big, options_json: None };
    let ok2 = cacheness::cache::PutItem { params_json: r#"{"b":2}"#, data: b"two", options_json: None };
    c.put_batch(&[ok, ok2]).unwrap();
    let got = c.get_batch(r#"["{\"b\":2}", {"b":3}, "{\"b\":1}"]"#).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].1.as_deref(), Some(&b"two"[..]));
    assert!(got[1].1.is_none());
    assert_eq!(got[2].1.as_deref(), Some(&big[..]));
    assert!(c.get_batch("[]").unwrap().is_empty());
    assert_eq!(c.delete_batch(r#"[{"b":1}, {"b":3}, {"b":2}]"#).unwrap(), 2);
    assert!(blob_files(t.path()).is_empty());
}

#[test]
fn size_limit_evicts_least_recently_used() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), r#","max_size_bytes":1048576"#);
    let v = vec![9u8; 4096];
    for i in 0..1000 {
        c.put(&format!(r#"{{"lru":{i}}}"#), &v, None).unwrap();
        if i == 10 {
            // Keep entry 0 recently used: it must survive.
            assert!(c.get(r#"{"lru":0}"#).unwrap().is_some());
        }
        if i > 10 && i % 50 == 0 {
            c.get(r#"{"lru":0}"#).unwrap().expect("recently used entry evicted");
        }
    }
    let s = json(&c.stats().unwrap());
    assert!(s["total_size"].as_u64().unwrap() <= 1048576, "{s}");
    assert_eq!(s["entries"], 256);
    assert!(s["evictions"].as_u64().unwrap() >= 744);
    assert!(c.get(r#"{"lru":999}"#).unwrap().is_some(), "the newest is kept");
    assert!(c.get(r#"{"lru":1}"#).unwrap().is_none(), "an old one is evicted");
    let e = c.put(r#"{"huge":1}"#, &vec![0u8; 2 << 20], None).unwrap_err();
    assert_eq!(e.code, Code::TooLarge);
    assert_eq!(json(&c.stats().unwrap())["entries"], 256, "too large evicts nothing");
}

#[test]
fn verify_and_repair_find_and_fix_damage() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    for i in 0..4 {
        c.put(&format!(r#"{{"v":{i}}}"#), &vec![i as u8; BIG], None).unwrap();
    }
    let file_of = |i: usize| -> std::path::PathBuf {
        let key = cacheness::cache::selector_key(&format!(r#"{{"v":{i}}}"#)).unwrap();
        let hash = cacheness::cache::keys::sha256_hex(format!("c:default\0{key}").as_bytes());
        blob_files(t.path()).into_iter().find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&hash)).unwrap()
    };
    // 0: appended bytes; 1: flipped byte; 2: deleted file; plus a stray file and an outsider.
    std::fs::OpenOptions::new().append(true).open(file_of(0)).unwrap().write_all_at_end(b"junk");
    let p1 = file_of(1);
    let mut d = std::fs::read(&p1).unwrap();
    d[100] ^= 0xff;
    std::fs::write(&p1, d).unwrap();
    std::fs::remove_file(file_of(2)).unwrap();
    let stray_dir = t.path().join("blobs/ab/cd");
    std::fs::create_dir_all(&stray_dir).unwrap();
    let stray = stray_dir.join(format!("abcd{}.{}", "0".repeat(60), "1".repeat(16)));
    std::fs::write(&stray, b"stray").unwrap();
    let outsider = t.path().join("notes.txt");
    std::fs::write(&outsider, b"mine").unwrap();
    let not_ours = t.path().join("blobs/ab/cd/README");
    std::fs::write(&not_ours, b"mine too").unwrap();

    let shallow = json(&c.verify(None).unwrap());
    let issues: Vec<String> =
        shallow["issues"].as_array().unwrap().iter().map(|i| i["issue"].as_str().unwrap().to_string()).collect();
    assert!(issues.contains(&"size_mismatch".into()) && issues.contains(&"missing_file".into()), "{shallow}");
    assert!(issues.contains(&"orphaned_file".into()));
    assert!(!issues.contains(&"hash_mismatch".into()), "shallow verify does not rehash");
    let deep = json(&c.verify(Some(r#"{"deep":true}"#)).unwrap());
    assert!(deep["issues"].as_array().unwrap().iter().any(|i| i["issue"] == "hash_mismatch"), "{deep}");
    assert_eq!(deep["issues"].as_array().unwrap().len(), 4);
    assert_eq!(c.get(r#"{"v":0}"#).unwrap_err().code, Code::Corrupt, "bad data is never returned");
    assert!(c.get(r#"{"v":0}"#).unwrap().is_none(), "and the entry is gone");
    let dry = json(&c.repair(Some(r#"{"dry_run":true}"#)).unwrap());
    assert_eq!(dry["removed_entries"], 0);
    assert!(stray.exists());
    let fixed = json(&c.repair(None).unwrap());
    assert_eq!(fixed["removed_entries"], 2, "{fixed}");
    assert_eq!(fixed["removed_files"], 1);
    assert!(json(&c.verify(Some(r#"{"deep":true}"#)).unwrap())["ok"].as_bool().unwrap());
    assert_eq!(json(&c.repair(None).unwrap())["issues"].as_array().unwrap().len(), 0, "a second repair finds nothing");
    assert!(outsider.exists() && not_ours.exists(), "files the library did not write are never touched");
    assert_eq!(c.get(r#"{"v":3}"#).unwrap().unwrap(), vec![3u8; BIG]);
}

trait AppendAll {
    fn write_all_at_end(self, b: &[u8]);
}
impl AppendAll for std::fs::File {
    fn write_all_at_end(mut self, b: &[u8]) {
        std::io::Write::write_all(&mut self, b).unwrap();
    }
}

#[test]
fn signed_records_detect_tampering() {
    let t = tempfile::tempdir().unwrap();
    let key = "11".repeat(32);
    let c = open_in(t.path(), &format!(r#","signing_key":"{key}""#));
    c.put(r#"{"s":1}"#, b"signed", Some(r#"{"metadata":{"owner":"me"}}"#)).unwrap();
    c.put(r#"{"s":2}"#, b"other", None).unwrap();
    assert_eq!(c.get(r#"{"s":1}"#).unwrap().unwrap(), b"signed");
    let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
    db.execute("UPDATE entries SET metadata = '{\"owner\":\"eve\"}' WHERE params = '{\"s\":1}'", []).unwrap();
    let v = json(&c.verify(None).unwrap());
    assert_eq!(v["issues"][0]["issue"], "corrupted_signature", "{v}");
    assert_eq!(c.get(r#"{"s":1}"#).unwrap_err().code, Code::Corrupt);
    assert!(!c.exists(r#"{"s":1}"#).unwrap());
    // An unsigned cache's record in a signed cache is corrupt too.
    let plain = open_in(t.path(), "");
    plain.put(r#"{"s":3}"#, b"unsigned", None).unwrap();
    assert_eq!(c.get(r#"{"s":3}"#).unwrap_err().code, Code::Corrupt);
    assert_eq!(c.get(r#"{"s":2}"#).unwrap().unwrap(), b"other");
    // The key is never written into the directory.
    for f in std::fs::read_dir(t.path()).unwrap().flatten().filter(|f| f.path().is_file()) {
        let bytes = std::fs::read(f.path()).unwrap();
        assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "{} holds the key", f.path().display());
    }
    assert_eq!(
        Cache::open(Some(r#"{"metadata":"memory","blobs":"memory","signing_key":"abcd"}"#)).err().unwrap().code,
        Code::InvalidArgument
    );
}

#[test]
fn verify_on_read_rehashes_inline_and_file_data() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), r#","verify_on_read":true"#);
    c.put(r#"{"r":1}"#, b"inline value", None).unwrap();
    let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
    db.execute("UPDATE entries SET inline = X'696E6C696E652076616C7565FF' WHERE params = '{\"r\":1}'", []).unwrap();
    assert_eq!(c.get(r#"{"r":1}"#).unwrap_err().code, Code::Corrupt, "size is always checked");
    c.put(r#"{"r":2}"#, b"inline value", None).unwrap();
    db.execute("UPDATE entries SET inline = X'696E6C696E652076616C7566' WHERE params = '{\"r\":2}'", []).unwrap();
    assert_eq!(c.get(r#"{"r":2}"#).unwrap_err().code, Code::Corrupt, "same size, other bytes");
}

#[test]
fn namespaces_share_a_directory_without_seeing_each_other() {
    let t = tempfile::tempdir().unwrap();
    let a = open_in(t.path(), r#","namespace":"a""#);
    let b = open_in(t.path(), r#","namespace":"b""#);
    a.put(r#"{"x":1}"#, &vec![1u8; BIG], None).unwrap();
    b.put(r#"{"x":1}"#, b"b's", None).unwrap();
    assert_eq!(a.get(r#"{"x":1}"#).unwrap().unwrap(), vec![1u8; BIG]);
    assert_eq!(b.clear().unwrap(), 1);
    assert_eq!(a.get(r#"{"x":1}"#).unwrap().unwrap(), vec![1u8; BIG]);
    assert!(json(&b.verify(None).unwrap())["ok"].as_bool().unwrap(), "a's blob is not b's orphan");
    assert_eq!(
        Cache::open(Some(r#"{"metadata":"memory","blobs":"memory","namespace":"../x"}"#)).err().unwrap().code,
        Code::InvalidArgument
    );
}

#[test]
fn many_threads_share_one_handle() {
    let t = tempfile::tempdir().unwrap();
    let c = std::sync::Arc::new(open_in(t.path(), ""));
    let threads: Vec<_> = (0..8)
        .map(|th| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let p = format!(r#"{{"th":{th},"i":{}}}"#, i % 20);
                    let v = format!("{th}-{i}").into_bytes();
                    c.put(&p, &v, None).unwrap();
                    assert_eq!(c.get(&p).unwrap().unwrap(), v);
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert_eq!(json(&c.stats().unwrap())["entries"], 160);
}

#[test]
fn store_names_never_escape_the_directory() {
    let t = tempfile::tempdir().unwrap();
    let cache_dir = t.path().join("cache");
    let s = Store::open(Some(&format!("{{\"dir\":{:?}}}", cache_dir.display().to_string()))).unwrap();
    let evil = ["../x", "/abs", "a//b", "a/./b", "a/../b", "..", ".", "", "a/", "a\u{0}b", "a\nb", "a\u{7f}b"];
    for name in evil {
        assert_eq!(s.put(name, b"x", None).unwrap_err().code, Code::InvalidArgument, "{name:?}");
    }
    assert_eq!(s.put(&"x".repeat(1025), b"x", None).unwrap_err().code, Code::InvalidArgument);
    s.put("old_models/model_v1", &vec![1u8; BIG], Some(r#"{"acc":0.9}"#)).unwrap();
    s.put("old_models/model_v2", b"two", None).unwrap();
    s.put("new/../../etc", b"x", None).unwrap_err();
    assert_eq!(s.get("old_models/model_v1").unwrap().unwrap(), vec![1u8; BIG]);
    assert_eq!(json(&s.get_metadata("old_models/model_v1").unwrap().unwrap())["key"], "old_models/model_v1");
    assert!(s.update_metadata("old_models/model_v1", r#"{"acc":0.95}"#).unwrap());
    assert!(s.update_data("old_models/model_v2", b"TWO").unwrap());
    assert!(!s.update_data("missing", b"x").unwrap());
    assert!(s.copy("old_models/model_v1", "backup/model_v1", false).unwrap());
    assert_eq!(s.copy("old_models/model_v1", "backup/model_v1", false).unwrap_err().code, Code::Exists);
    assert!(s.move_entry("old_models/model_v2", "archive/model_v2", false).unwrap());
    assert!(s.touch("archive/model_v2").unwrap());
    let page = json(&s.list(Some("old_models/"), None).unwrap());
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    assert_eq!(s.delete_by_prefix("backup/").unwrap(), 1);
    assert_eq!(s.clear().unwrap(), 2);
    // Nothing outside the cache directory was created.
    let outside: Vec<_> = std::fs::read_dir(t.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("cache")]);
}

/// Regression: a get that raced with a put replacing a file-backed value used to find the old
/// blob gone, call it corruption, and delete the new, valid entry.
#[test]
fn get_racing_put_never_reports_corruption_or_loses_the_entry() {
    let t = tempfile::tempdir().unwrap();
    let c = std::sync::Arc::new(open_in(t.path(), ""));
    let p = r#"{"race":1}"#;
    c.put(p, &vec![0u8; 100_000], None).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u8;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i = i.wrapping_add(1);
                c.put(p, &vec![i; 100_000], None).unwrap();
            }
        })
    };
    for _ in 0..3000 {
        let d = c.get(p).unwrap().expect("the entry is always present");
        assert!(d.iter().all(|b| *b == d[0]), "a read saw a mix of two values");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(c.exists(p).unwrap());
}

/// Regression: hits on a replaced value were added to the new entry's access_count.
#[test]
fn hits_on_old_data_do_not_count_for_new_data() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    let p = r#"{"hits":1}"#;
    c.put(p, b"old", None).unwrap();
    c.get(p).unwrap().unwrap();
    c.put(p, b"new", None).unwrap();
    assert_eq!(json(&c.get_metadata(p).unwrap().unwrap())["access_count"], 0);
}

/// Deferred hits reach other handles (and processes) without further calls on the reading
/// handle: the background writer flushes them.
#[test]
fn hits_reach_other_handles_while_the_reader_is_idle() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (open_in(t.path(), ""), open_in(t.path(), ""));
    a.put(r#"{"seen":1}"#, b"x", None).unwrap();
    a.get(r#"{"seen":1}"#).unwrap().unwrap();
    a.get(r#"{"seen":1}"#).unwrap().unwrap();
    eventually("the other handle sees both hits", || {
        json(&b.get_metadata(r#"{"seen":1}"#).unwrap().unwrap())["access_count"] == 2
    });
}

/// Closing a handle writes its pending hits at once.
#[test]
fn closing_a_handle_writes_its_hits() {
    let t = tempfile::tempdir().unwrap();
    let a = open_in(t.path(), "");
    a.put(r#"{"closed":1}"#, b"x", None).unwrap();
    for _ in 0..3 {
        a.get(r#"{"closed":1}"#).unwrap().unwrap();
    }
    let batch = a.get_batch(r#"[{"closed":1},{"closed":2}]"#).unwrap();
    assert!(batch[0].1.is_some() && batch[1].1.is_none());
    drop(a);
    let b = open_in(t.path(), "");
    assert_eq!(json(&b.get_metadata(r#"{"closed":1}"#).unwrap().unwrap())["access_count"], 4);
}

/// Runs `writer` in a loop on another thread while `reader` runs `n` times here.
fn while_writing(c: &std::sync::Arc<Cache>, writer: fn(&Cache, u32), n: usize, mut reader: impl FnMut(&Cache, usize)) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i = i.wrapping_add(1);
                writer(&c, i);
            }
        })
    };
    for i in 0..n {
        reader(c, i);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    w.join().unwrap();
}

/// Regression (found by the stress suite): copying a file-backed entry that another writer
/// replaces meanwhile failed with CORRUPT "blob ... is missing".
#[test]
fn copy_racing_a_replacing_put_never_reports_corruption() {
    let t = tempfile::tempdir().unwrap();
    let c = std::sync::Arc::new(open_in(t.path(), ""));
    c.put(r#"{"src":1}"#, &vec![1u8; BIG], None).unwrap();
    while_writing(
        &c,
        |c, i| {
            c.put(r#"{"src":1}"#, &vec![i as u8; BIG], None).unwrap();
        },
        1000,
        |c, _| {
            assert!(c.copy(r#"{"src":1}"#, r#"{"dst":1}"#, Some(r#"{"overwrite":true}"#)).unwrap());
            let d = c.get(r#"{"dst":1}"#).unwrap().unwrap();
            assert!(d.len() == BIG && d.iter().all(|b| *b == d[0]), "the copy is one whole value");
        },
    );
}

/// Regression (found by the stress suite): orphan cleanup removed the temporary file of a
/// write in flight, which then failed with IO; and a file vanishing during the walk failed the
/// cleanup itself.
#[test]
fn orphan_cleanup_racing_writes_breaks_neither() {
    let t = tempfile::tempdir().unwrap();
    let c = std::sync::Arc::new(open_in(t.path(), ""));
    while_writing(
        &c,
        |c, _| {
            c.cleanup_orphans().unwrap();
            c.find_orphans().unwrap();
        },
        5000,
        |c, i| {
            c.put(&format!(r#"{{"w":{}}}"#, i % 16), &vec![i as u8; 20_000], None).unwrap();
        },
    );
    assert!(json(&c.verify(Some(r#"{"deep":true}"#)).unwrap())["ok"].as_bool().unwrap());
}

/// Regression (found by the stress suite): verify running while others write reported entries
/// that were merely replaced or deleted meanwhile as missing_file / invalid_record.
#[test]
fn verify_during_writes_reports_no_false_damage() {
    let t = tempfile::tempdir().unwrap();
    let c = std::sync::Arc::new(open_in(t.path(), ""));
    for i in 0..8 {
        c.put(&format!(r#"{{"v":{i}}}"#), &vec![0u8; if i % 2 == 0 { 100 } else { BIG }], None).unwrap();
    }
    while_writing(
        &c,
        |c, i| {
            let p = format!(r#"{{"v":{}}}"#, i % 8);
            if i % 3 == 0 {
                c.delete(&p).unwrap();
            } else {
                c.put(&p, &vec![i as u8; if i % 2 == 0 { 100 } else { BIG }], None).unwrap();
            }
        },
        200,
        |c, _| {
            let v = json(&c.verify(Some(r#"{"deep":true}"#)).unwrap());
            let real: Vec<&Value> =
                v["issues"].as_array().unwrap().iter().filter(|i| i["issue"] != "orphaned_file").collect();
            assert!(real.is_empty(), "false damage reported: {v}");
        },
    );
}

/// Regression: the store's copy had the cache's old race (a source replaced meanwhile made the
/// copy fail with CORRUPT or BUSY instead of reading the source again).
#[test]
fn store_copy_racing_a_replacing_put_never_fails() {
    let t = tempfile::tempdir().unwrap();
    let cfg = format!("{{\"dir\":{:?}}}", t.path().display().to_string());
    let s = std::sync::Arc::new(Store::open(Some(&cfg)).unwrap());
    s.put("src", &vec![1u8; BIG], None).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u8;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i = i.wrapping_add(1);
                s.put("src", &vec![i; BIG], None).unwrap();
            }
        })
    };
    for _ in 0..1000 {
        assert!(s.copy("src", "dst", true).unwrap());
        let d = s.get("dst").unwrap().unwrap();
        assert!(d.len() == BIG && d.iter().all(|b| *b == d[0]), "the copy is one whole value");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

/// A database written by schema version 1 (ns_totals kept by triggers, created/accessed indexes
/// with the key) is migrated on open: the triggers are dropped (else every write would count
/// twice), the totals recomputed, the old indexes replaced.
#[test]
fn schema_version_1_database_is_migrated() {
    let t = tempfile::tempdir().unwrap();
    let c = open_in(t.path(), "");
    for i in 0..5 {
        c.put(&format!(r#"{{"m":{i}}}"#), &vec![1u8; 10 * (i + 1)], None).unwrap();
    }
    drop(c);
    // Turn it back into what version 1 left: its triggers, its version, and totals that do
    // not match (so that only a recount gives the right figures).
    let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER entries_ins AFTER INSERT ON entries BEGIN
             INSERT INTO ns_totals (ns, entries, total_size) VALUES (new.ns, 1, new.size)
             ON CONFLICT (ns) DO UPDATE SET entries = entries + 1, total_size = total_size + new.size;
         END;
         CREATE TRIGGER entries_del AFTER DELETE ON entries BEGIN
             UPDATE ns_totals SET entries = entries - 1, total_size = total_size - old.size WHERE ns = old.ns;
         END;
         CREATE TRIGGER entries_upd AFTER UPDATE OF size ON entries BEGIN
             UPDATE ns_totals SET total_size = total_size - old.size + new.size WHERE ns = new.ns;
         END;
         CREATE INDEX entries_created ON entries (ns, created_at, key);
         CREATE INDEX entries_accessed ON entries (ns, accessed_at, key);
         DROP INDEX entries_by_created;
         DROP INDEX entries_by_accessed;
         UPDATE ns_totals SET entries = 99, total_size = 99;
         UPDATE cacheness_meta SET value = '1' WHERE name = 'schema_version';",
    )
    .unwrap();
    drop(db);

    let c = open_in(t.path(), "");
    let stats = |c: &Cache| -> (u64, u64) {
        let v: Value = serde_json::from_str(&c.stats().unwrap()).unwrap();
        (v["entries"].as_u64().unwrap(), v["total_size"].as_u64().unwrap())
    };
    assert_eq!(stats(&c), (5, 150), "totals recounted from the entries");
    c.put(r#"{"m":9}"#, &[0u8; 7], None).unwrap();
    c.delete(r#"{"m":0}"#).unwrap();
    assert_eq!(stats(&c), (5, 147), "each write counted once (the triggers are gone)");
    let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
    let (triggers, indexes, version): (i64, String, String) = db
        .query_row(
            "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'trigger'), \
             (SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master \
              WHERE type = 'index' AND tbl_name = 'entries' AND sql IS NOT NULL ORDER BY name)), \
             (SELECT value FROM cacheness_meta WHERE name = 'schema_version')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (triggers, indexes.as_str(), version.as_str()),
        (0, "entries_blob entries_by_accessed entries_by_created entries_expires", "3")
    );
}
