//! The metadata backends side by side: put and get of 4 KiB values (stored inline, in the
//! metadata database) through `cacheness::Cache` on PostgreSQL, on SQLite (the default), and on
//! memory as a reference, each filled with N = CACHENESS_BENCH_N entries (default 10000).
//!
//! `cargo bench --bench backends`. The PostgreSQL URL comes from `CACHENESS_TEST_POSTGRES_URL`
//! (start a throwaway server with `eval "$(scripts/pg.sh start)"`); without it the bench stops
//! and says so. Each run uses a fresh namespace and deletes its entries at the end.

use cacheness::cache::{selector_key, PutItem};
use cacheness::Cache;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

const PG_ENV: &str = "CACHENESS_TEST_POSTGRES_URL";
const VALUE_SIZE: usize = 4096;

fn n() -> usize {
    std::env::var("CACHENESS_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000)
}

fn postgres_url() -> String {
    match std::env::var(PG_ENV) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "{PG_ENV} is not set: the backends bench compares PostgreSQL with SQLite and needs a server.\n\
             Start a throwaway one with:\n\n    eval \"$(scripts/pg.sh start)\"\n\n\
             then run `cargo bench --bench backends` again, and `scripts/pg.sh stop` afterwards."
        ),
    }
}

fn params(i: usize) -> String {
    format!(r#"{{"bench":{i}}}"#)
}

/// Opens a cache and fills it with n entries of `value` (in batches of 1000).
fn filled(config: &serde_json::Value, n: usize, value: &[u8]) -> Cache {
    let c = Cache::open(Some(&config.to_string())).expect("open the cache");
    c.clear().expect("clear");
    let all: Vec<String> = (0..n).map(params).collect();
    for chunk in all.chunks(1000) {
        let items: Vec<PutItem> =
            chunk.iter().map(|p| PutItem { params_json: p, data: value, options_json: None }).collect();
        c.put_batch(&items).expect("fill");
    }
    c
}

fn backends(cr: &mut Criterion) {
    let n = n();
    let url = postgres_url();
    let value = vec![7u8; VALUE_SIZE];
    let keys: Vec<String> = (0..n).map(|i| selector_key(&params(i)).unwrap()).collect();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ns = format!("bench-{}-{:08x}", std::process::id(), rand::random::<u32>());
    let setups = [
        ("postgres", json!({"dir": dirs[0].path(), "metadata": "postgres", "postgres_url": url, "namespace": ns})),
        ("sqlite", json!({"dir": dirs[1].path()})),
        ("memory", json!({"metadata": "memory", "blobs": "memory"})),
    ];
    for (name, config) in &setups {
        let c = filled(config, n, &value);
        let mut g = cr.benchmark_group(format!("backends_4KiB/{name}"));
        g.throughput(Throughput::Elements(1));
        // Hits on keys spread over the whole table (7919 is prime, so every key comes up).
        let mut i = 0usize;
        g.bench_function("get", |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                c.get(&keys[i]).unwrap().expect("hit")
            })
        });
        // Replacing existing entries, the same way round.
        let mut j = 0usize;
        g.bench_function("put", |b| {
            b.iter(|| {
                j = (j + 7919) % n;
                c.put(&params(j), &value, None).unwrap()
            })
        });
        g.finish();
        let stats: serde_json::Value = serde_json::from_str(&c.stats().unwrap()).unwrap();
        assert_eq!(stats["entries"], n as u64, "{name}: {stats}");
        assert_eq!(stats["metadata_backend"], *name, "{name}: {stats}");
        c.clear().expect("clear"); // leave nothing in the shared database
    }
}

criterion_group!(benches, backends);
criterion_main!(benches);
