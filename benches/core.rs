//! Benchmarks of the Rust core on SQLite + files, with a raw SQLite point select as the floor.
//! `cargo bench --bench core` (or `make bench`). N = CACHENESS_BENCH_N entries (default 10000).

use cacheness::cache::PutItem;
use cacheness::Cache;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;

fn n() -> usize {
    std::env::var("CACHENESS_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000)
}

fn filled(dir: &std::path::Path, n: usize, value: &[u8]) -> Cache {
    let c = Cache::open(Some(&format!("{{\"dir\":{:?}}}", dir.display().to_string()))).unwrap();
    let params: Vec<String> = (0..n).map(|i| format!(r#"{{"bench":{i}}}"#)).collect();
    for chunk in params.chunks(1000) {
        let items: Vec<PutItem> =
            chunk.iter().map(|p| PutItem { params_json: p, data: value, options_json: None }).collect();
        c.put_batch(&items).unwrap();
    }
    c
}

/// The keys of the entries `filled` wrote.
fn keys_of(n: usize) -> Vec<String> {
    (0..n).map(|i| cacheness::cache::selector_key(&format!(r#"{{"bench":{i}}}"#)).unwrap()).collect()
}

fn single_ops(cr: &mut Criterion) {
    let n = n();
    let t = tempfile::tempdir().unwrap();
    let value = vec![7u8; 4096];
    let c = filled(t.path(), n, &value);
    let keys = keys_of(n);
    let mut g = cr.benchmark_group("4KiB");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            c.get(&keys[i]).unwrap().unwrap()
        })
    });
    g.bench_function("get_hit_params", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            c.get(&format!(r#"{{"bench":{i}}}"#)).unwrap().unwrap()
        })
    });
    g.bench_function("get_miss", |b| b.iter(|| c.get(r#"{"bench":"missing"}"#).unwrap()));
    g.bench_function("get_metadata", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            c.get_metadata(&keys[i]).unwrap().unwrap()
        })
    });
    g.bench_function("touch", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            c.touch(&keys[i], Some(r#"{"ttl_seconds":3600}"#)).unwrap()
        })
    });
    let mut j = 0usize;
    g.bench_function("put", |b| {
        b.iter(|| {
            j += 1;
            c.put(&format!(r#"{{"bench":{}}}"#, j % n), &value, None).unwrap()
        })
    });
    g.bench_function("put_delete", |b| {
        b.iter(|| {
            c.put(r#"{"bench":"tmp"}"#, &value, None).unwrap();
            c.delete(r#"{"bench":"tmp"}"#).unwrap()
        })
    });

    // The floor: the same point select on the same database with a prepared statement.
    let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
    g.bench_function("raw_sqlite_point_select", |b| {
        let mut stmt = db.prepare("SELECT inline FROM entries WHERE ns = ?1 AND key = ?2").unwrap();
        b.iter(|| {
            i = (i + 7919) % n;
            let v: Vec<u8> = stmt.query_row(rusqlite::params!["c:default", keys[i]], |r| r.get(0)).unwrap();
            v
        })
    });
    g.finish();

    let mut g = cr.benchmark_group("batch_4KiB");
    let sel100: String =
        serde_json::to_string(&(0..100).map(|k| keys[(k * 37) % n].clone()).collect::<Vec<_>>()).unwrap();
    g.throughput(Throughput::Elements(100));
    g.bench_function("get_batch_100", |b| b.iter(|| c.get_batch(&sel100).unwrap()));
    g.bench_function("get_x100", |b| {
        b.iter(|| {
            for k in 0..100 {
                c.get(&keys[(k * 37) % n]).unwrap().unwrap();
            }
        })
    });
    g.throughput(Throughput::Elements(1000));
    let params: Vec<String> = (0..1000).map(|k| format!(r#"{{"batch":{k}}}"#)).collect();
    g.bench_function("put_batch_1000", |b| {
        b.iter(|| {
            let items: Vec<PutItem> =
                params.iter().map(|p| PutItem { params_json: p, data: &value, options_json: None }).collect();
            c.put_batch(&items).unwrap()
        })
    });
    g.finish();
}

fn delete_where(cr: &mut Criterion) {
    let n = n();
    let mut g = cr.benchmark_group("delete_where");
    g.sample_size(10);
    g.throughput(Throughput::Elements((n / 10) as u64));
    g.bench_function("10_percent", |b| {
        b.iter_batched(
            || {
                let t = tempfile::tempdir().unwrap();
                let c = Cache::open(Some(&format!("{{\"dir\":{:?}}}", t.path().display().to_string()))).unwrap();
                let params: Vec<String> = (0..n).map(|i| format!(r#"{{"group":"g{}","i":{i}}}"#, i % 10)).collect();
                for chunk in params.chunks(5000) {
                    let items: Vec<PutItem> =
                        chunk.iter().map(|p| PutItem { params_json: p, data: b"v", options_json: None }).collect();
                    c.put_batch(&items).unwrap();
                }
                (t, c)
            },
            |(_t, c)| assert_eq!(c.delete_where(r#"{"params":{"group":"g3"}}"#).unwrap() as usize, n / 10),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Where the time goes besides single calls (added with the comparison benchmarks in bench/):
/// a page of `list`, and the deferred access bookkeeping: hits on 4096 distinct entries, then
/// a get_metadata, which writes the waiting notes first (one UPDATE per entry in one transaction).
fn hotspots(cr: &mut Criterion) {
    let n = n();
    let t = tempfile::tempdir().unwrap();
    let value = vec![7u8; 4096];
    let c = filled(t.path(), n, &value);
    let keys = keys_of(n);
    let mut g = cr.benchmark_group("hotspots_4KiB");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1000.min(n) as u64));
    g.bench_function("list_page_1000", |b| b.iter(|| c.list(None, Some(r#"{"limit":1000}"#)).unwrap()));
    let k = 4096.min(n);
    g.throughput(Throughput::Elements(k as u64));
    let mut start = 0usize;
    g.bench_function("get_4096_distinct_then_flush", |b| {
        b.iter(|| {
            for j in 0..k {
                c.get(&keys[(start + j * 7919) % n]).unwrap().unwrap();
            }
            start += 1;
            c.get_metadata(&keys[start % n]).unwrap().unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = single_ops, delete_where, hotspots
}
criterion_main!(benches);
