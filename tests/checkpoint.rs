//! The SQLite backend's background checkpoints (src/storage/checkpoint.rs): writes reach the
//! database file without a writer paying for it, the log stays bounded under a stream of
//! writes, and closing the cache stops the thread. One test function, so that no other test in
//! this process starts checkpoint threads while the thread count is checked.

use cacheness::cache::PutItem;
use cacheness::Cache;
use std::path::Path;
use std::time::{Duration, Instant};

fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim_end() == name)
        .count()
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn put_n(c: &Cache, tag: &str, n: usize, value: &[u8]) {
    let params: Vec<String> = (0..n).map(|i| format!(r#"{{"{tag}":{i}}}"#)).collect();
    let items: Vec<PutItem> =
        params.iter().map(|p| PutItem { params_json: p, data: value, options_json: None }).collect();
    c.put_batch(&items).unwrap();
}

#[test]
fn background_checkpoints() {
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("cacheness.db");
    let wal = t.path().join("cacheness.db-wal");
    let c = Cache::open(Some(&format!("{{\"dir\":{:?}}}", t.path().display().to_string()))).unwrap();
    let value = vec![7u8; 4096];

    // 1. A write far below SQLite's own threshold (about 300 pages of 4 KiB, the threshold
    //    was 1000 and is now 8192) reaches the database file while the cache stays open and
    //    idle: only the background thread can have copied it there.
    let before = size(&db);
    put_n(&c, "first", 250, &value);
    let deadline = Instant::now() + Duration::from_secs(30);
    while size(&db) < before + 250 * 4096 {
        assert!(
            Instant::now() < deadline,
            "the write was not checkpointed within 30 s: db {} bytes (was {before}), wal {} bytes",
            size(&db),
            size(&wal)
        );
        std::thread::yield_now();
    }
    assert_eq!(threads_named("cacheness-ckpt"), 1, "one checkpoint thread per open SQLite backend");

    // 2. A stream of writes (about 60 MiB through the log) never lets the log file grow past
    //    SQLite's fallback threshold (32 MiB) plus one batch (about 0.5 MiB).
    let mut largest = 0;
    for round in 0..120 {
        put_n(&c, &format!("stream{round}"), 100, &value);
        largest = largest.max(size(&wal));
    }
    assert!(largest < 34 * 1024 * 1024, "the log grew to {largest} bytes");
    assert_eq!(c.get(r#"{"stream119":99}"#).unwrap().as_deref(), Some(&value[..]));

    // 3. Closing the cache stops and joins the thread.
    drop(c);
    assert_eq!(threads_named("cacheness-ckpt"), 0, "the checkpoint thread outlived its cache");
}
