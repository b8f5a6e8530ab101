//! Profiling aid, for `valgrind --tool=callgrind target/release/examples/profile_get MODE` or
//! `perf record`. Modes: `get` (default; gets of 4 KiB values), `raw` (the same reads as raw
//! SQLite point selects), `batch` (the same reads as get_batch calls of 100), `put_batch`
//! (put_batch calls of 1000 new 4 KiB entries). Second argument: rounds (default 5);
//! PROFILE_SIZE: value size (default 4096).
use cacheness::cache::PutItem;
use cacheness::Cache;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "get".into());
    let rounds: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let t = tempfile::tempdir().unwrap();
    let c = Cache::open(Some(&format!("{{\"dir\":{:?}}}", t.path().display().to_string()))).unwrap();
    let size: usize = std::env::var("PROFILE_SIZE").ok().and_then(|s| s.parse().ok()).unwrap_or(4096);
    let value = vec![7u8; size];
    let params: Vec<String> = (0..2000).map(|i| format!(r#"{{"p":{i}}}"#)).collect();
    let items: Vec<PutItem> =
        params.iter().map(|p| PutItem { params_json: p, data: &value, options_json: None }).collect();
    let keys = c.put_batch(&items).unwrap();
    if mode == "put_batch" {
        for round in 0..rounds {
            let params: Vec<String> = (0..1000).map(|i| format!(r#"{{"p":{i},"r":{round}}}"#)).collect();
            let items: Vec<PutItem> =
                params.iter().map(|p| PutItem { params_json: p, data: &value, options_json: None }).collect();
            c.put_batch(&items).unwrap();
        }
        return;
    }
    let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
    let mut stmt = db.prepare("SELECT inline FROM entries WHERE ns = ?1 AND key = ?2").unwrap();
    let mut total = 0usize;
    for round in 0..rounds {
        let chosen: Vec<&String> = keys.iter().enumerate().filter(|(i, _)| (i + round) % 3 != 0).map(|x| x.1).collect();
        if mode == "batch" {
            for chunk in chosen.chunks(100) {
                let sel = serde_json::to_string(chunk).unwrap();
                total += c.get_batch(&sel).unwrap().iter().map(|(_, d)| d.as_ref().unwrap().len()).sum::<usize>();
            }
            continue;
        }
        for k in chosen {
            total += if mode == "raw" {
                stmt.query_row(rusqlite::params!["c:default", k], |r| r.get::<_, Vec<u8>>(0)).unwrap().len()
            } else {
                c.get(k).unwrap().unwrap().len()
            };
        }
    }
    println!("{total}");
}
