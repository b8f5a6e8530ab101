//! export / import (tar, tar.gz) and export_json / import_json through the public Rust API.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use cacheness::{Cache, Code};
use serde_json::{json, Value};

const BIG: usize = 100_000;

fn big() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

fn open(dir: &Path) -> Cache {
    Cache::open(Some(&json!({ "dir": dir }).to_string())).expect("open cache")
}

fn open_with(dir: &Path, extra: Value) -> Cache {
    let mut cfg = json!({ "dir": dir });
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    Cache::open(Some(&cfg.to_string())).expect("open cache")
}

fn memory() -> Cache {
    Cache::open(Some(r#"{"metadata":"memory","blobs":"memory"}"#)).expect("open memory cache")
}

const SMALL: &str = r#"{"name":"small"}"#;
const LARGE: &str = r#"{"name":"big"}"#;
const EMPTY: &str = r#"{"name":"empty"}"#;
const TWIN: &str = r#"{"name":"twin"}"#;
const ALL: [&str; 4] = [SMALL, LARGE, EMPTY, TWIN];

/// Four entries: inline, a 100 kB blob, empty, and a second copy of the blob's data.
fn populate(c: &Cache) {
    c.put(
        SMALL,
        b"hello, cacheness",
        Some(r#"{"data_type":"text","description":"greeting","metadata":{"project":"ml","n":1},"ttl_seconds":3600}"#),
    )
    .unwrap();
    c.put(LARGE, &big(), Some(r#"{"metadata":{"writer":"test"}}"#)).unwrap();
    c.put(EMPTY, b"", None).unwrap();
    c.put(TWIN, &big(), Some(r#"{"data_type":"array"}"#)).unwrap();
}

fn meta(c: &Cache, params: &str) -> Value {
    serde_json::from_str(&c.get_metadata(params).unwrap().expect("entry exists")).unwrap()
}

/// The fields an archive carries (what a round trip must keep).
fn carried(m: &Value) -> Value {
    let mut out = json!({});
    for f in [
        "cache_key",
        "params",
        "data_type",
        "description",
        "size",
        "content_hash",
        "created_at",
        "expires_at",
        "metadata",
    ] {
        out[f] = m[f].clone();
    }
    out
}

fn entries(c: &Cache) -> u64 {
    let s: Value = serde_json::from_str(&c.stats().unwrap()).unwrap();
    s["entries"].as_u64().unwrap()
}

fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&p));
            } else {
                out.insert(p);
            }
        }
    }
    out
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// One archive member as written by the tests: raw name bytes, so that names the tar crate
/// refuses to build (`..`, absolute) can be written too.
struct Raw {
    name: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
    link: Vec<u8>,
}

impl Raw {
    fn file(name: impl AsRef<[u8]>, data: Vec<u8>) -> Raw {
        Raw { name: name.as_ref().to_vec(), kind: tar::EntryType::Regular, data, link: Vec::new() }
    }
    fn link(name: impl AsRef<[u8]>, kind: tar::EntryType, target: impl AsRef<[u8]>) -> Raw {
        Raw { name: name.as_ref().to_vec(), kind, data: Vec::new(), link: target.as_ref().to_vec() }
    }
}

fn read_archive(path: &Path) -> Vec<(String, tar::EntryType, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let reader: Box<dyn Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(&bytes[..]))
    } else {
        Box::new(&bytes[..])
    };
    let mut a = tar::Archive::new(reader);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let kind = e.header().entry_type();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, kind, data)
        })
        .collect()
}

fn write_archive(path: &Path, members: &[Raw], gzip: bool) {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..m.name.len()].copy_from_slice(&m.name);
            old.linkname[..m.link.len()].copy_from_slice(&m.link);
        }
        h.set_entry_type(m.kind);
        h.set_size(m.data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &m.data[..]).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let bytes = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    } else {
        tar
    };
    std::fs::write(path, bytes).unwrap();
}

/// The members of a valid archive as raw members, for building tampered copies.
fn raw_members(path: &Path) -> Vec<Raw> {
    read_archive(path).into_iter().map(|(n, _, d)| Raw::file(n, d)).collect()
}

fn manifest_of(members: &[Raw]) -> Value {
    assert_eq!(members[0].name, b"manifest.json");
    serde_json::from_slice(&members[0].data).unwrap()
}

fn hash_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn round_trip(compress: bool) {
    let dir = tempfile::tempdir().unwrap();
    let c = open(&dir.path().join("cache"));
    populate(&c);
    let before: Vec<Value> = ALL.iter().map(|p| carried(&meta(&c, p))).collect();
    let file = dir.path().join(if compress { "out.tar.gz" } else { "out.tar" });
    let opts = json!({ "compress": compress }).to_string();
    assert_eq!(c.export(file.to_str().unwrap(), Some(&opts)).unwrap(), 4);

    // Only the archive and the cache in the directory: no temporary file left.
    let expected: BTreeSet<String> =
        ["cache".to_string(), file.file_name().unwrap().to_string_lossy().into_owned()].into();
    assert_eq!(names_in(dir.path()), expected);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), compress, "gzip magic iff compress");

    // manifest.json first, then one blob member per distinct content.
    let members = read_archive(&file);
    assert_eq!(members[0].0, "manifest.json");
    let manifest: Value = serde_json::from_slice(&members[0].2).unwrap();
    assert_eq!(manifest["format"], "cacheness-archive");
    assert_eq!(manifest["format_version"], 1);
    assert!(manifest["created_at"].is_string());
    assert_eq!(manifest["entries"].as_array().unwrap().len(), 4);
    let blobs: Vec<&(String, tar::EntryType, Vec<u8>)> = members[1..].iter().collect();
    assert_eq!(blobs.len(), 3, "hello, big (stored once) and empty");
    for (name, kind, data) in &blobs {
        assert_eq!(*kind, tar::EntryType::Regular);
        assert_eq!(name.strip_prefix("blobs/").unwrap(), hash_hex(data));
    }

    assert_eq!(c.clear().unwrap(), 4);
    assert_eq!(c.import(file.to_str().unwrap(), None).unwrap(), 4);
    assert_eq!(c.get(SMALL).unwrap().unwrap(), b"hello, cacheness");
    assert_eq!(c.get(LARGE).unwrap().unwrap(), big());
    assert_eq!(c.get(EMPTY).unwrap().unwrap(), b"");
    assert_eq!(c.get(TWIN).unwrap().unwrap(), big());
    for (p, b) in ALL.iter().zip(&before) {
        let m = meta(&c, p);
        assert_eq!(&carried(&m), b, "metadata of {p} after the round trip");
        assert_eq!(m["version"], 1);
    }
    let small = meta(&c, SMALL);
    assert_eq!(small["data_type"], "text");
    assert_eq!(small["description"], "greeting");
    assert_eq!(small["metadata"], json!({"project": "ml", "n": 1}));
    assert!(small["expires_at"].is_string());
    assert!(meta(&c, LARGE)["expires_at"].is_null());
    assert!(serde_json::from_str::<Value>(&c.verify(Some(r#"{"deep":true}"#)).unwrap()).unwrap()["ok"]
        .as_bool()
        .unwrap());

    // And into another kind of cache.
    let m = memory();
    assert_eq!(m.import(file.to_str().unwrap(), None).unwrap(), 4);
    assert_eq!(m.get(TWIN).unwrap().unwrap(), big());
    for (p, b) in ALL.iter().zip(&before) {
        assert_eq!(&carried(&meta(&m, p)), b);
    }
}

#[test]
fn round_trip_compressed() {
    round_trip(true);
}

#[test]
fn round_trip_uncompressed() {
    round_trip(false);
}

#[test]
fn export_filter_selects_a_subset() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(&dir.path().join("cache"));
    populate(&c);
    let file = dir.path().join("subset.tar.gz");
    let opts = r#"{"filter":{"params":{"name":{"$in":["big","small"]}}}}"#;
    assert_eq!(c.export(file.to_str().unwrap(), Some(opts)).unwrap(), 2);
    let m = memory();
    assert_eq!(m.import(file.to_str().unwrap(), None).unwrap(), 2);
    assert!(m.exists(SMALL).unwrap() && m.exists(LARGE).unwrap());
    assert!(!m.exists(EMPTY).unwrap() && !m.exists(TWIN).unwrap());

    let opts = r#"{"filter":{"data_type":"array"}}"#;
    let doc: Value = serde_json::from_str(&c.export_json(Some(opts)).unwrap()).unwrap();
    assert_eq!(doc["entries"].as_array().unwrap().len(), 1);
    assert_eq!(doc["entries"][0]["params"], json!({"name": "twin"}));

    // Bad options are errors, and write nothing.
    let bad = dir.path().join("bad.tar");
    assert_eq!(c.export(bad.to_str().unwrap(), Some(r#"{"filtre":{}}"#)).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(
        c.export(bad.to_str().unwrap(), Some(r#"{"filter":{"nme":1}}"#)).unwrap_err().code,
        Code::InvalidArgument
    );
    assert!(!bad.exists());
}

#[test]
fn overwrite_false_keeps_existing_true_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let src = open(&dir.path().join("src"));
    populate(&src);
    let file = dir.path().join("a.tar.gz");
    src.export(file.to_str().unwrap(), None).unwrap();
    let path = file.to_str().unwrap();

    let dst = open(&dir.path().join("dst"));
    dst.put(SMALL, b"mine", Some(r#"{"metadata":{"local":true}}"#)).unwrap();
    assert_eq!(dst.import(path, None).unwrap(), 3, "the existing entry is kept");
    assert_eq!(dst.get(SMALL).unwrap().unwrap(), b"mine");
    assert_eq!(meta(&dst, SMALL)["metadata"], json!({"local": true}));
    assert_eq!(meta(&dst, SMALL)["version"], 1);
    assert_eq!(dst.get(LARGE).unwrap().unwrap(), big());

    assert_eq!(dst.import(path, Some(r#"{"overwrite":false}"#)).unwrap(), 0);
    assert_eq!(dst.import(path, Some(r#"{"overwrite":true}"#)).unwrap(), 4);
    assert_eq!(dst.get(SMALL).unwrap().unwrap(), b"hello, cacheness");
    let m = meta(&dst, SMALL);
    assert_eq!(m["metadata"], json!({"project": "ml", "n": 1}));
    assert_eq!(m["version"], 2, "version grows when an entry is replaced");
    assert_eq!(meta(&dst, LARGE)["version"], 2);
    assert_eq!(entries(&dst), 4);
    // Replaced blobs are removed: no orphans.
    let orphans: Value = serde_json::from_str(&dst.find_orphans().unwrap()).unwrap();
    assert_eq!(orphans["count"], 0, "{orphans}");
    assert_eq!(dst.import(path, Some(r#"{"overwrite":1}"#)).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(dst.import(path, Some(r#"{"overwrit":true}"#)).unwrap_err().code, Code::InvalidArgument);
}

#[test]
fn expired_entries_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(&dir.path().join("cache"));
    c.put(r#"{"name":"short"}"#, b"short-lived", Some(r#"{"ttl_seconds":0.05}"#)).unwrap();
    c.put(r#"{"name":"long"}"#, &big(), Some(r#"{"ttl_seconds":3600}"#)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(120));
    let file = dir.path().join("e.tar.gz");
    assert_eq!(c.export(file.to_str().unwrap(), None).unwrap(), 1, "export skips expired entries by default");
    assert_eq!(c.export(file.to_str().unwrap(), Some(r#"{"filter":{"include_expired":true}}"#)).unwrap(), 2);
    let m = memory();
    assert_eq!(m.import(file.to_str().unwrap(), None).unwrap(), 1);
    assert!(!m.exists(r#"{"name":"short"}"#).unwrap());
    assert_eq!(entries(&m), 1);
    assert_eq!(m.get(r#"{"name":"long"}"#).unwrap().unwrap(), big());

    // The same through JSON.
    let doc = c.export_json(Some(r#"{"filter":{"include_expired":true}}"#)).unwrap();
    let m = memory();
    assert_eq!(m.import_json(&doc, None).unwrap(), 1);
    assert_eq!(entries(&m), 1);
}

/// Builds a source archive, then checks that `tamper`ed versions of it are refused with
/// nothing imported into a cache that already holds an entry, and nothing written anywhere.
struct Tamper {
    _dir: tempfile::TempDir,
    root: PathBuf,
    members: Vec<Raw>,
    target: Cache,
    target_dir: PathBuf,
}

impl Tamper {
    fn new() -> Tamper {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let src = open(&root.join("src"));
        populate(&src);
        let file = root.join("good.tar");
        src.export(file.to_str().unwrap(), Some(r#"{"compress":false}"#)).unwrap();
        let members = raw_members(&file);
        let target_dir = root.join("target");
        let target = open(&target_dir);
        target.put(r#"{"name":"keep"}"#, &vec![7u8; 30_000], None).unwrap();
        Tamper { _dir: dir, root, members, target, target_dir }
    }

    /// The good members, with blob `i` replaced by `f(i, member)`.
    fn good(&self) -> Vec<Raw> {
        self.members.iter().map(|m| Raw::file(&m.name, m.data.clone())).collect()
    }

    fn blob_index(&self, data: &[u8]) -> usize {
        let name = format!("blobs/{}", hash_hex(data));
        self.members.iter().position(|m| m.name == name.as_bytes()).unwrap()
    }

    fn refused(&self, what: &str, members: &[Raw], gzip: bool, codes: &[Code]) {
        let file = self.root.join(if gzip { "bad.tar.gz" } else { "bad.tar" });
        write_archive(&file, members, gzip);
        let root_before = names_in(&self.root);
        let files_before = files_under(&self.target_dir);
        let err = self.target.import(file.to_str().unwrap(), Some(r#"{"overwrite":true}"#)).unwrap_err();
        assert!(codes.contains(&err.code), "{what}: unexpected error {err}");
        assert_eq!(entries(&self.target), 1, "{what}: nothing imported");
        assert_eq!(self.target.get(r#"{"name":"keep"}"#).unwrap().unwrap(), vec![7u8; 30_000]);
        for p in ALL {
            assert!(!self.target.exists(p).unwrap(), "{what}: {p} was imported");
        }
        assert_eq!(names_in(&self.root), root_before, "{what}: something was written next to the cache");
        let files_after = files_under(&self.target_dir);
        let new: Vec<_> = files_after
            .difference(&files_before)
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("cacheness.db"))
            .collect();
        assert!(new.is_empty(), "{what}: files left in the cache dir: {new:?}");
        std::fs::remove_file(&file).unwrap();
    }
}

#[test]
fn tampered_blob_is_rejected() {
    let t = Tamper::new();
    for (gzip, data) in [(false, big()), (true, big()), (false, b"hello, cacheness".to_vec())] {
        let mut m = t.good();
        let i = t.blob_index(&data);
        m[i].data[data.len() / 2] ^= 0x01;
        t.refused("changed byte in a blob", &m, gzip, &[Code::Corrupt]);
    }
    // A blob of the right name but another length.
    let mut m = t.good();
    let i = t.blob_index(&big());
    m[i].data.push(0);
    t.refused("longer blob", &m, false, &[Code::Corrupt]);
    let mut m = t.good();
    m[i].data.pop();
    t.refused("shorter blob", &m, false, &[Code::Corrupt]);
    // A blob missing altogether.
    let mut m = t.good();
    m.remove(i);
    t.refused("missing blob", &m, false, &[Code::Corrupt]);
    // A blob appearing twice.
    let mut m = t.good();
    m.push(Raw::file(&t.members[i].name, t.members[i].data.clone()));
    t.refused("duplicate blob", &m, false, &[Code::Corrupt]);
    // A manifest entry whose size or hash lies.
    let mut m = t.good();
    let mut man = manifest_of(&m);
    let e = man["entries"].as_array_mut().unwrap().iter_mut().find(|e| e["params"]["name"] == "twin").unwrap();
    e["size"] = json!(BIG - 1);
    m[0].data = man.to_string().into_bytes();
    t.refused("size in the manifest", &m, false, &[Code::Corrupt]);
    for size in [15, 17] {
        let mut m = t.good();
        let mut man = manifest_of(&m);
        let e = man["entries"].as_array_mut().unwrap().iter_mut().find(|e| e["params"]["name"] == "small").unwrap();
        e["size"] = json!(size);
        m[0].data = man.to_string().into_bytes();
        t.refused("size of a unique blob in the manifest", &m, false, &[Code::Corrupt]);
    }
    let mut m = t.good();
    let mut man = manifest_of(&m);
    let e = man["entries"].as_array_mut().unwrap().iter_mut().find(|e| e["params"]["name"] == "small").unwrap();
    e["content_hash"] = json!(format!("sha256:{}", hash_hex(b"something else")));
    m[0].data = man.to_string().into_bytes();
    t.refused("content_hash in the manifest", &m, false, &[Code::Corrupt]);
}

#[test]
fn unsafe_members_are_rejected_and_nothing_is_written_outside() {
    let t = Tamper::new();
    let outside = t.root.join("evil");
    let absolute = t.root.join("evil_abs");
    for gzip in [false, true] {
        let mut m = t.good();
        m.push(Raw::file("../evil", b"pwned".to_vec()));
        t.refused("../evil member", &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);

        let mut m = t.good();
        m.insert(1, Raw::file("blobs/../../evil", b"pwned".to_vec()));
        t.refused("blobs/../../evil member", &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);

        let mut m = t.good();
        m.push(Raw::file(absolute.to_str().unwrap(), b"pwned".to_vec()));
        t.refused("absolute member", &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);

        let mut m = t.good();
        m.push(Raw::file("/tmp/evil", b"pwned".to_vec()));
        t.refused("/tmp/evil member", &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);

        let mut m = t.good();
        m.push(Raw::link("evil_link", tar::EntryType::Symlink, outside.to_str().unwrap()));
        t.refused("symlink member", &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);

        // A symlink under a valid blob name, in place of the real blob.
        let mut m = t.good();
        let i = t.blob_index(&big());
        m[i] = Raw::link(&t.members[i].name, tar::EntryType::Symlink, "/etc/passwd");
        t.refused("symlink blob member", &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);

        let mut m = t.good();
        m.push(Raw::link("evil_hard", tar::EntryType::Link, "manifest.json"));
        t.refused("hardlink member", &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);

        for kind in [tar::EntryType::Char, tar::EntryType::Block, tar::EntryType::Fifo, tar::EntryType::Directory] {
            let mut m = t.good();
            m.push(Raw { name: b"blobs".to_vec(), kind, data: Vec::new(), link: Vec::new() });
            t.refused(&format!("{kind:?} member"), &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);
        }

        // Any other name, even harmless, is not part of the format.
        let mut m = t.good();
        m.push(Raw::file("notes.txt", b"hi".to_vec()));
        t.refused("unknown member", &m, gzip, &[Code::Corrupt, Code::InvalidArgument]);
    }
    assert!(!outside.exists() && !absolute.exists());
    assert!(!t.root.parent().unwrap().join("evil").exists());
}

#[test]
fn malformed_archives_are_rejected() {
    let t = Tamper::new();
    // A cache_key that is not the key of its params (params changed).
    let mut m = t.good();
    let mut man = manifest_of(&m);
    man["entries"][0]["params"] = json!({"name": "other"});
    m[0].data = man.to_string().into_bytes();
    t.refused("cache_key mismatch", &m, false, &[Code::Corrupt]);
    // Duplicate entries.
    let mut m = t.good();
    let mut man = manifest_of(&m);
    let first = man["entries"][0].clone();
    man["entries"].as_array_mut().unwrap().push(first);
    m[0].data = man.to_string().into_bytes();
    t.refused("duplicate entry", &m, false, &[Code::Corrupt]);
    // Manifest not first, twice, missing, not JSON, wrong format.
    let mut m = t.good();
    m.swap(0, 1);
    t.refused("manifest not first", &m, false, &[Code::Corrupt]);
    let mut m = t.good();
    m.push(Raw::file("manifest.json", t.members[0].data.clone()));
    t.refused("manifest twice", &m, false, &[Code::Corrupt]);
    let mut m = t.good();
    m.remove(0);
    t.refused("no manifest", &m, false, &[Code::Corrupt]);
    t.refused("empty archive", &[], false, &[Code::Corrupt]);
    let mut m = t.good();
    m[0].data = b"{not json".to_vec();
    t.refused("manifest not JSON", &m, false, &[Code::Corrupt]);
    let mut m = t.good();
    let mut man = manifest_of(&m);
    man["format_version"] = json!(2);
    m[0].data = man.to_string().into_bytes();
    t.refused("future format", &m, false, &[Code::InvalidArgument]);

    // Not a tar at all; a truncated tar.gz.
    let file = t.root.join("junk.tar");
    std::fs::write(&file, vec![b'x'; 2000]).unwrap();
    assert_eq!(t.target.import(file.to_str().unwrap(), None).unwrap_err().code, Code::Corrupt);
    write_archive(&file, &t.good(), true);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(t.target.import(file.to_str().unwrap(), None).unwrap_err().code, Code::Corrupt);
    assert_eq!(entries(&t.target), 1);
    // No archive at all.
    let missing = t.root.join("missing.tar");
    assert_eq!(t.target.import(missing.to_str().unwrap(), None).unwrap_err().code, Code::Io);
}

#[test]
fn json_round_trip() {
    let c = memory();
    populate(&c);
    let before: Vec<Value> = ALL.iter().map(|p| carried(&meta(&c, p))).collect();
    let doc = c.export_json(None).unwrap();
    let v: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["format"], "cacheness-json");
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["entries"].as_array().unwrap().len(), 4);

    let dir = tempfile::tempdir().unwrap();
    let d = open(&dir.path().join("cache"));
    assert_eq!(d.import_json(&doc, None).unwrap(), 4);
    assert_eq!(d.get(SMALL).unwrap().unwrap(), b"hello, cacheness");
    assert_eq!(d.get(LARGE).unwrap().unwrap(), big());
    assert_eq!(d.get(EMPTY).unwrap().unwrap(), b"");
    for (p, b) in ALL.iter().zip(&before) {
        assert_eq!(&carried(&meta(&d, p)), b);
    }
    assert_eq!(d.import_json(&doc, None).unwrap(), 0, "existing entries are kept");
    assert_eq!(d.import_json(&doc, Some(r#"{"overwrite":true}"#)).unwrap(), 4);
    assert_eq!(meta(&d, LARGE)["version"], 2);
}

#[test]
fn json_tampering_is_rejected() {
    let c = memory();
    populate(&c);
    let doc: Value = serde_json::from_str(&c.export_json(None).unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().unwrap();
    let d = open(&dir.path().join("cache"));
    d.put(r#"{"name":"keep"}"#, b"kept", None).unwrap();
    let files_before = files_under(&dir.path().join("cache/blobs"));
    let idx = |name: &str| doc["entries"].as_array().unwrap().iter().position(|e| e["params"]["name"] == name).unwrap();

    let check = |what: &str, bad: Value, code: Code| {
        let err = d.import_json(&bad.to_string(), Some(r#"{"overwrite":true}"#)).unwrap_err();
        assert_eq!(err.code, code, "{what}: {err}");
        assert_eq!(entries(&d), 1, "{what}: nothing imported");
        assert_eq!(files_under(&dir.path().join("cache/blobs")), files_before, "{what}: blob files left");
    };
    for name in ["big", "small"] {
        let mut bad = doc.clone();
        let e = &mut bad["entries"][idx(name)];
        let mut data = b64.decode(e["data"].as_str().unwrap()).unwrap();
        data[3] ^= 0x20;
        e["data"] = json!(b64.encode(&data));
        check(&format!("changed byte in {name}"), bad, Code::Corrupt);
    }
    let mut bad = doc.clone();
    bad["entries"][idx("big")]["data"] = json!("!!not base64!!");
    check("invalid base64", bad, Code::Corrupt);
    let mut bad = doc.clone();
    let e = &mut bad["entries"][idx("twin")];
    let mut s = e["data"].as_str().unwrap().to_string();
    s.truncate(s.len() - 8);
    e["data"] = json!(s);
    check("truncated base64", bad, Code::Corrupt);
    let mut bad = doc.clone();
    bad["entries"][idx("small")]["params"] = json!({"name": "smal"});
    check("cache_key mismatch", bad, Code::Corrupt);
    let mut bad = doc.clone();
    bad["entries"][idx("small")].as_object_mut().unwrap().remove("data");
    check("missing data", bad, Code::Corrupt);
    let mut bad = doc.clone();
    bad["format"] = json!("cacheness-archive");
    check("wrong format", bad, Code::InvalidArgument);
    assert_eq!(d.import_json("{", None).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(d.import_json(&doc.to_string(), Some("[]")).unwrap_err().code, Code::InvalidArgument);
    assert_eq!(c.export_json(Some(r#"{"compress":true}"#)).unwrap_err().code, Code::InvalidArgument);
}

#[test]
fn export_replaces_atomically_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(&dir.path().join("cache"));
    populate(&c);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let file = out.join("a.tar.gz");
    std::fs::write(&file, b"old contents").unwrap();
    assert_eq!(c.export(file.to_str().unwrap(), None).unwrap(), 4);
    assert_eq!(names_in(&out), BTreeSet::from(["a.tar.gz".to_string()]));
    assert_ne!(std::fs::read(&file).unwrap(), b"old contents");

    // A destination that cannot be written: an error, and nothing left behind.
    let nodir = dir.path().join("nodir/a.tar");
    assert_eq!(c.export(nodir.to_str().unwrap(), None).unwrap_err().code, Code::Io);
    let err = c.export(out.to_str().unwrap(), None).unwrap_err();
    assert_eq!(err.code, Code::Io, "{err}");
    assert!(out.is_dir());
    assert_eq!(names_in(&out), BTreeSet::from(["a.tar.gz".to_string()]));
    assert_eq!(c.export("", None).unwrap_err().code, Code::InvalidArgument);

    // An empty cache exports an archive with no entries, which imports nothing.
    let empty = memory();
    let e = out.join("empty.tar");
    assert_eq!(empty.export(e.to_str().unwrap(), Some(r#"{"compress":false}"#)).unwrap(), 0);
    assert_eq!(c.import(e.to_str().unwrap(), Some(r#"{"overwrite":true}"#)).unwrap(), 0);
    assert_eq!(entries(&c), 4);
}

#[test]
fn many_entries_page_and_hold_guards() {
    // More than one page (500) and more blob files than the guards held at once (256).
    let dir = tempfile::tempdir().unwrap();
    let c = open_with(&dir.path().join("src"), json!({"inline_max_bytes": 0}));
    let n = 620;
    let params: Vec<String> = (0..n).map(|i| json!({ "i": i }).to_string()).collect();
    let data: Vec<Vec<u8>> = (0..n).map(|i| format!("value {i}").into_bytes()).collect();
    let items: Vec<cacheness::cache::PutItem<'_>> = params
        .iter()
        .zip(&data)
        .map(|(p, d)| cacheness::cache::PutItem { params_json: p, data: d, options_json: None })
        .collect();
    c.put_batch(&items).unwrap();
    let file = dir.path().join("many.tar.gz");
    assert_eq!(c.export(file.to_str().unwrap(), None).unwrap(), n as u64);
    let d = open_with(&dir.path().join("dst"), json!({"inline_max_bytes": 0}));
    assert_eq!(d.import(file.to_str().unwrap(), None).unwrap(), n as u64);
    for (p, v) in params.iter().zip(&data) {
        assert_eq!(&d.get(p).unwrap().unwrap(), v);
    }
    let report: Value = serde_json::from_str(&d.verify(Some(r#"{"deep":true}"#)).unwrap()).unwrap();
    assert_eq!(report["ok"], true, "{report}");
}

#[test]
fn signed_caches_and_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let key_a = "11".repeat(32);
    let key_b = "22".repeat(32);
    let a = open_with(&dir.path().join("a"), json!({ "signing_key": key_a }));
    populate(&a);
    let file = dir.path().join("s.tar.gz");
    assert_eq!(a.export(file.to_str().unwrap(), None).unwrap(), 4);
    // Imported records are signed by the importing cache.
    let b = open_with(&dir.path().join("b"), json!({ "signing_key": key_b }));
    assert_eq!(b.import(file.to_str().unwrap(), None).unwrap(), 4);
    assert_eq!(b.get(LARGE).unwrap().unwrap(), big());
    assert_eq!(b.get(SMALL).unwrap().unwrap(), b"hello, cacheness");

    // A value larger than max_size_bytes: TOO_LARGE, nothing imported.
    let small = open_with(&dir.path().join("small"), json!({ "max_size_bytes": 50_000 }));
    small.put(r#"{"name":"keep"}"#, b"kept", None).unwrap();
    assert_eq!(small.import(file.to_str().unwrap(), None).unwrap_err().code, Code::TooLarge);
    assert_eq!(entries(&small), 1);
    // All of them together too large: the same.
    let mid = open_with(&dir.path().join("mid"), json!({ "max_size_bytes": 150_000 }));
    assert_eq!(mid.import(file.to_str().unwrap(), None).unwrap_err().code, Code::TooLarge);
    assert_eq!(entries(&mid), 0);
}
