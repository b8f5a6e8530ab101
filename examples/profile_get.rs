//! Profiling aid: N gets of 4 KiB values (or N raw SQLite point selects with `raw`), for
//! `valgrind --tool=callgrind target/release/examples/profile_get [raw]`.
use cacheness::cache::PutItem;
use cacheness::Cache;

fn main() {
    let raw = std::env::args().nth(1).as_deref() == Some("raw");
    let t = tempfile::tempdir().unwrap();
    let c = Cache::open(Some(&format!("{{\"dir\":{:?}}}", t.path().display().to_string()))).unwrap();
    let value = vec![7u8; 4096];
    let params: Vec<String> = (0..2000).map(|i| format!(r#"{{"p":{i}}}"#)).collect();
    let items: Vec<PutItem> =
        params.iter().map(|p| PutItem { params_json: p, data: &value, options_json: None }).collect();
    let keys = c.put_batch(&items).unwrap();
    let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
    let mut stmt = db.prepare("SELECT inline FROM entries WHERE ns = ?1 AND key = ?2").unwrap();
    let mut total = 0usize;
    for round in 0..5 {
        for (i, k) in keys.iter().enumerate() {
            if (i + round) % 3 != 0 {
                continue;
            }
            total += if raw {
                stmt.query_row(rusqlite::params!["c:default", k], |r| r.get::<_, Vec<u8>>(0)).unwrap().len()
            } else {
                c.get(k).unwrap().unwrap().len()
            };
        }
    }
    println!("{total}");
}
