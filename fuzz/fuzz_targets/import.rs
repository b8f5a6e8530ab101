//! Archive import: arbitrary bytes written to a file and imported with `Cache::import` into a
//! fresh memory cache; the same bytes (if UTF-8) through `Cache::import_json`.
//!
//! Checks: no panic; errors are CORRUPT, INVALID_ARGUMENT or TOO_LARGE (never IO or BACKEND
//! for bytes that are merely bad); an import that fails changes nothing (all or nothing); an
//! import that succeeds leaves a cache whose deep verify finds nothing but entries that
//! expired meanwhile, whose entries all read back with their content hash, and whose
//! export_json imports again into another cache with the same count.
#![no_main]

use cacheness::{Cache, Code};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::io::Write;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn archive_path() -> &'static std::path::Path {
    static F: OnceLock<tempfile::TempPath> = OnceLock::new();
    F.get_or_init(|| tempfile::NamedTempFile::new().unwrap().into_temp_path())
}

fn check_error(e: &cacheness::Error, what: &str) {
    assert!(
        matches!(e.code, Code::Corrupt | Code::InvalidArgument | Code::TooLarge),
        "{what}: unexpected error code: {e}"
    );
}

fn check_after(c: &Cache, n: u64, what: &str) {
    let stats: Value = serde_json::from_str(&c.stats().unwrap()).unwrap();
    let list: Value = serde_json::from_str(&c.list(Some(r#"{"include_expired":true}"#), None).unwrap()).unwrap();
    let entries = list["entries"].as_array().unwrap();
    assert_eq!(stats["entries"].as_u64(), Some(entries.len() as u64), "{what}: stats vs list");
    assert_eq!(entries.len() as u64, n, "{what}: count returned vs entries present");
    // Entries whose params hit BUG-1 are flagged invalid_record by verify, and those that hit
    // BUG-2 do not survive export_json -> import_json: step over them.
    let known_bug = common::tolerate_known_bugs()
        && entries.iter().any(|e| {
            let canon = cacheness::cache::keys::canonical_value(&e["params"]);
            common::has_unsafe_integer_literal(&canon) || common::has_misrounded_number(&canon)
        });
    let report: Value = serde_json::from_str(&c.verify(Some(r#"{"deep":true}"#)).unwrap()).unwrap();
    for issue in report["issues"].as_array().unwrap() {
        if known_bug && issue["issue"] == "invalid_record" {
            continue;
        }
        assert_eq!(issue["issue"], "expired_entry", "{what}: verify after import: {report}");
    }
    for e in entries {
        let key = e["cache_key"].as_str().unwrap();
        if let Some(data) = c.get(key).unwrap_or_else(|err| panic!("{what}: get {key}: {err}")) {
            let hash = format!("sha256:{}", cacheness::cache::keys::sha256_hex(&data));
            assert_eq!(e["content_hash"].as_str(), Some(hash.as_str()), "{what}: data of {key}");
        }
    }
    if !known_bug {
        let doc = c.export_json(None).unwrap();
        let other = Cache::open(Some(common::MEMORY)).unwrap();
        let live = serde_json::from_str::<Value>(&doc).unwrap()["entries"].as_array().unwrap().len() as u64;
        let again = other.import_json(&doc, None).unwrap_or_else(|e| panic!("{what}: re-import: {e}"));
        // Entries may expire between the export and the import, never the other way.
        assert!(again <= live, "{what}: re-import count {again} > exported {live}");
    }
}

fn empty(c: &Cache, what: &str) {
    let stats: Value = serde_json::from_str(&c.stats().unwrap()).unwrap();
    assert_eq!(stats["entries"], 0, "{what}: a failed import changed the cache");
}

fuzz_target!(|data: &[u8]| {
    let path = archive_path();
    {
        let mut f = std::fs::File::create(path).unwrap();
        f.write_all(data).unwrap();
    }
    // Half of the runs into a cache with a size limit and a small inline size, to reach the
    // TOO_LARGE and blob paths.
    let cfg = if data.first().is_some_and(|b| b & 1 == 1) {
        r#"{"metadata":"memory","blobs":"memory","max_size_bytes":4096,"inline_max_bytes":8}"#
    } else {
        common::MEMORY
    };
    let c = Cache::open(Some(cfg)).unwrap();
    match c.import(path.to_str().unwrap(), None) {
        Ok(n) => check_after(&c, n, "import"),
        Err(e) => {
            check_error(&e, "import");
            empty(&c, "import");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let c = Cache::open(Some(cfg)).unwrap();
        match c.import_json(text, None) {
            Ok(n) => check_after(&c, n, "import_json"),
            Err(e) => {
                check_error(&e, "import_json");
                empty(&c, "import_json");
            }
        }
    }
});
