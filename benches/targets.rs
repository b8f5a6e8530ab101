//! The batch targets of issue #4, measured on the Rust core with SQLite + files:
//! - delete_where removing 100k of 1M entries (one `params` equality) in under 1 s;
//! - get_batch of 100 at least 5x faster per entry than 100 gets of the same entries;
//! - put_batch of 1000 at least 100k entries/s (4 KiB values).
//!
//! `cargo bench --bench targets` (part of `make bench`). Environment:
//! CACHENESS_TARGETS_N (entries, default 1000000), CACHENESS_TARGETS_VALUE (value size for the
//! delete_where data set, default 100), CACHENESS_TARGETS_ROUNDS (default 5). Prints one line
//! per figure and writes them as JSON to target/targets.json.

use cacheness::cache::PutItem;
use cacheness::Cache;
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn open(dir: &std::path::Path) -> Cache {
    Cache::open(Some(&format!("{{\"dir\":{:?}}}", dir.display().to_string()))).unwrap()
}

fn put_all(c: &Cache, params: &[String], value: &[u8]) {
    for chunk in params.chunks(5000) {
        let items: Vec<PutItem> =
            chunk.iter().map(|p| PutItem { params_json: p, data: value, options_json: None }).collect();
        c.put_batch(&items).unwrap();
    }
}

const RAW_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

fn raw_insert(db: &rusqlite::Connection, rows: &[usize], params_of: &dyn Fn(usize) -> String, value: &[u8]) {
    let tx = db.unchecked_transaction().unwrap();
    {
        let mut st = tx.prepare("INSERT INTO t (key, params, value) VALUES (?1, ?2, ?3)").unwrap();
        for &i in rows {
            let p = params_of(i);
            st.execute(rusqlite::params![cacheness::cache::selector_key(&p).unwrap(), p, value]).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// The floor's writes for get_batch/put_batch: `keys` into its key/value table, one transaction.
fn kv_insert(db: &rusqlite::Connection, keys: &[String], value: &[u8]) {
    let tx = db.unchecked_transaction().unwrap();
    {
        let mut st = tx.prepare_cached("INSERT INTO kv (key, value) VALUES (?1, ?2)").unwrap();
        for k in keys {
            st.execute(rusqlite::params![k, value]).unwrap();
        }
    }
    tx.commit().unwrap();
}

fn raw_fill(
    path: &std::path::Path,
    order: &[usize],
    params_of: &dyn Fn(usize) -> String,
    value: &[u8],
) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(RAW_PRAGMAS).unwrap();
    db.execute_batch("CREATE TABLE t (key TEXT NOT NULL UNIQUE, params TEXT NOT NULL, value BLOB)").unwrap();
    for chunk in order.chunks(5000) {
        raw_insert(&db, chunk, params_of, value);
    }
    db
}

/// Times the floor's delete of group `g`, then puts the group back.
fn raw_delete_and_refill(
    db: &rusqlite::Connection,
    g: usize,
    order: &[usize],
    params_of: &dyn Fn(usize) -> String,
    value: &[u8],
) -> Duration {
    let start = Instant::now();
    let tx = db.unchecked_transaction().unwrap();
    tx.execute("DELETE FROM t WHERE json_extract(params, '$.group') = ?1", [format!("g{g}")]).unwrap();
    tx.commit().unwrap();
    let took = start.elapsed();
    let members: Vec<usize> = order.iter().copied().filter(|i| i % 10 == g).collect();
    for chunk in members.chunks(5000) {
        raw_insert(db, chunk, params_of, value);
    }
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing we use.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env("CACHENESS_TARGETS_N", 1_000_000);
    let value_size = env("CACHENESS_TARGETS_VALUE", 100);
    let rounds = env("CACHENESS_TARGETS_ROUNDS", 5).max(1);
    let only = std::env::var("CACHENESS_TARGETS_ONLY").unwrap_or_default();
    let run = |what: &str| only.is_empty() || only.split(',').any(|o| o == what);
    let mut report = serde_json::Map::new();
    report.insert("n".into(), n.into());

    // delete_where: N entries in 10 groups; each round deletes one group (N/10 entries), then
    // puts it back (not timed) so that every round starts from N entries. Two layouts: the
    // groups written one after the other ("contiguous": a group's rows share pages) and
    // interleaved (row i in group i % 10: every page holds rows of every group, so deleting a
    // group rewrites every page of the table and its indexes). The floor is raw SQLite (the
    // same bundled library) with the smallest table that can answer the same delete: key,
    // params and value, unique key, the same rows and the same JSON condition.
    let value = vec![7u8; value_size];
    for layout in ["contiguous", "interleaved"] {
        if !run("delete_where") {
            break;
        }
        let order: Vec<usize> = if layout == "contiguous" {
            (0..10).flat_map(|g| (0..n).filter(move |i| i % 10 == g)).collect()
        } else {
            (0..n).collect()
        };
        let params_of = |i: usize| format!(r#"{{"group":"g{}","i":{i}}}"#, i % 10);
        let t = tempfile::tempdir().unwrap();
        let c = open(t.path());
        let fill = Instant::now();
        put_all(&c, &order.iter().map(|&i| params_of(i)).collect::<Vec<_>>(), &value);
        eprintln!("filled {n} entries of {value_size} B ({layout}) in {:.1?}", fill.elapsed());
        let raw = raw_fill(&t.path().join("floor.db"), &order, &params_of, &value);
        // Untimed: finish copying the fill (or refill) from the log into the database first, so
        // that the timed delete does not share the machine with the background checkpoint of
        // the writes before it (the floor's default checkpoints run inside its own commits).
        let settle = || {
            let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
            db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).unwrap();
        };
        let (mut ours, mut floor) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            let g = r % 10;
            let members: Vec<String> = order.iter().filter(|&&i| i % 10 == g).map(|&i| params_of(i)).collect();
            settle();
            let start = Instant::now();
            let removed = c.delete_where(&format!(r#"{{"params":{{"group":"g{g}"}}}}"#)).unwrap();
            ours.push(start.elapsed());
            assert_eq!(removed as usize, members.len());
            put_all(&c, &members, &value);
            floor.push(raw_delete_and_refill(&raw, g, &order, &params_of, &value));
        }
        let (d, f) = (median(ours.clone()), median(floor));
        println!(
            "delete_where {} of {n} ({value_size} B values, {layout}): median {:.3} s over {rounds} rounds {:?}; \
             raw SQLite floor {:.3} s",
            n / 10,
            d.as_secs_f64(),
            ours.iter().map(|t| format!("{:.3}", t.as_secs_f64())).collect::<Vec<_>>(),
            f.as_secs_f64()
        );
        report.insert(format!("delete_where_{layout}_s"), d.as_secs_f64().into());
        report.insert(format!("delete_where_{layout}_floor_s"), f.as_secs_f64().into());
    }

    // get_batch vs gets, and put_batch, on N entries of 100 B and of 4 KiB (the issue names no
    // size: small entries show the per-call costs, 4 KiB ones add SQLite's overflow pages).
    for (size, label) in [(100usize, "100 B"), (4096, "4 KiB")] {
        get_and_put(n, size, label, rounds, &run, &mut report);
    }

    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/targets.json");
    let _ = std::fs::write(out, serde_json::to_string_pretty(&report).unwrap());
}

/// get_batch of 100 against 100 gets, and put_batch of 1000, on N entries of `size` bytes,
/// each beside its raw SQLite floor.
fn get_and_put(
    n: usize,
    size: usize,
    label: &str,
    rounds: usize,
    run: &dyn Fn(&str) -> bool,
    report: &mut serde_json::Map<String, serde_json::Value>,
) {
    let t = tempfile::tempdir().unwrap();
    let c = open(t.path());
    let value = vec![7u8; size];
    let params: Vec<String> = (0..n).map(|i| format!(r#"{{"bench":{i}}}"#)).collect();
    put_all(&c, &params, &value);
    let keys: Vec<String> = params.iter().map(|p| cacheness::cache::selector_key(p).unwrap()).collect();
    let mut batch = Vec::new();
    let mut single = Vec::new();
    let rounds_get = if run("get_batch") { rounds } else { 0 };
    let iters = 200;
    for r in 0..rounds_get {
        let sel: Vec<&str> = (0..100).map(|k| keys[(r * 7_919 + k * 104_729) % n].as_str()).collect();
        let sel_json = serde_json::to_string(&sel).unwrap();
        // Warm both paths on the same entries, then time them alternately.
        c.get_batch(&sel_json).unwrap();
        let start = Instant::now();
        for _ in 0..iters {
            let out = c.get_batch(&sel_json).unwrap();
            assert_eq!(out.len(), 100);
        }
        batch.push(start.elapsed() / (iters * 100) as u32);
        let start = Instant::now();
        for _ in 0..iters {
            for k in &sel {
                c.get(k).unwrap().unwrap();
            }
        }
        single.push(start.elapsed() / (iters * 100) as u32);
    }
    // The floor: raw SQLite (same bundled library, default settings) with the smallest table
    // that answers the same reads: key (unique) and value, the same keys and 4 KiB values.
    let (mut raw_batch, mut raw_single) = (Vec::new(), Vec::new());
    if rounds_get > 0 || run("put_batch") {
        let db = rusqlite::Connection::open(t.path().join("floor.db")).unwrap();
        db.execute_batch(RAW_PRAGMAS).unwrap();
        db.execute_batch("CREATE TABLE kv (key TEXT NOT NULL UNIQUE, value BLOB NOT NULL)").unwrap();
        for chunk in keys.chunks(5000) {
            kv_insert(&db, chunk, &value);
        }
        for r in 0..rounds_get {
            let sel: Vec<&str> = (0..100).map(|k| keys[(r * 7_919 + k * 104_729) % n].as_str()).collect();
            let sel_json = serde_json::to_string(&sel).unwrap();
            let mut many = db
                .prepare_cached("SELECT j.key, kv.value FROM json_each(?1) AS j CROSS JOIN kv ON kv.key = j.value")
                .unwrap();
            let mut one = db.prepare_cached("SELECT value FROM kv WHERE key = ?1").unwrap();
            let start = Instant::now();
            for _ in 0..iters {
                let got: Vec<(i64, Vec<u8>)> =
                    many.query_map([&sel_json], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
                assert_eq!(got.len(), 100);
            }
            raw_batch.push(start.elapsed() / (iters * 100) as u32);
            let start = Instant::now();
            for _ in 0..iters {
                for k in &sel {
                    let v: Vec<u8> = one.query_row([k], |r| r.get(0)).unwrap();
                    assert_eq!(v.len(), size);
                }
            }
            raw_single.push(start.elapsed() / (iters * 100) as u32);
        }
        let mut rates = Vec::new();
        for r in 0..if run("put_batch") { rounds } else { 0 } {
            let new: Vec<String> = (0..1000)
                .map(|k| cacheness::cache::selector_key(&format!(r#"{{"raw":{k},"round":{r}}}"#)).unwrap())
                .collect();
            let start = Instant::now();
            kv_insert(&db, &new, &value);
            rates.push(start.elapsed());
        }
        if !rates.is_empty() {
            let p = median(rates);
            println!(
                "raw SQLite floor: 1000 new {label} rows in one transaction: {:.0} rows/s",
                1000.0 / p.as_secs_f64()
            );
            report.insert(format!("put_batch_{size}_floor_entries_per_s"), (1000.0 / p.as_secs_f64()).into());
        }
    }
    if rounds_get > 0 {
        let (rb, rs) = (median(raw_batch), median(raw_single));
        println!(
            "raw SQLite floor: 100 rows by one statement {:.2} us/row; 100 point selects {:.2} us/row; ratio {:.2}x",
            rb.as_secs_f64() * 1e6,
            rs.as_secs_f64() * 1e6,
            rs.as_secs_f64() / rb.as_secs_f64()
        );
        report.insert(format!("get_batch_{size}_floor_ratio"), (rs.as_secs_f64() / rb.as_secs_f64()).into());
        let (b, s) = (median(batch), median(single));
        println!(
            "get_batch 100 ({label}, N={n}): {:.2} us/entry; 100 gets: {:.2} us/entry; gets/batch = {:.2}x",
            b.as_secs_f64() * 1e6,
            s.as_secs_f64() * 1e6,
            s.as_secs_f64() / b.as_secs_f64()
        );
        report.insert(format!("get_batch_{size}_us_per_entry"), (b.as_secs_f64() * 1e6).into());
        report.insert(format!("get_{size}_us_per_entry"), (s.as_secs_f64() * 1e6).into());
    }

    let mut rates = Vec::new();
    for r in 0..if run("put_batch") { rounds } else { 0 } {
        let params: Vec<String> = (0..1000).map(|k| format!(r#"{{"batch":{k},"round":{r}}}"#)).collect();
        let items: Vec<PutItem> =
            params.iter().map(|p| PutItem { params_json: p, data: &value, options_json: None }).collect();
        let start = Instant::now();
        c.put_batch(&items).unwrap();
        rates.push(start.elapsed());
    }
    if !rates.is_empty() {
        let p = median(rates);
        println!("put_batch 1000 new entries ({label}, N={n}): {:.0} entries/s", 1000.0 / p.as_secs_f64());
        report.insert(format!("put_batch_{size}_entries_per_s"), (1000.0 / p.as_secs_f64()).into());
    }
}
