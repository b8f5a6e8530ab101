//! Profiling aid: fills N (default 1,000,000) entries in 10 groups, then deletes one group with
//! delete_where and prints the time. Arguments: N, a directory to keep (filled if it does not
//! hold N entries), the group to delete (default g3). `perf record target/release/examples/profile_delete_where`.
use cacheness::cache::PutItem;
use cacheness::Cache;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let dir = std::env::args().nth(2).map(std::path::PathBuf::from);
    let t = tempfile::tempdir().unwrap();
    let path = dir.unwrap_or_else(|| t.path().to_path_buf());
    let c = Cache::open(Some(&format!("{{\"dir\":{:?}}}", path.display().to_string()))).unwrap();
    let (entries, _) = (c.stats().unwrap(), ());
    if !entries.contains(&format!("\"entries\":{n}")) {
        let params: Vec<String> = (0..n).map(|i| format!(r#"{{"group":"g{}","i":{i}}}"#, i % 10)).collect();
        for chunk in params.chunks(5000) {
            let items: Vec<PutItem> =
                chunk.iter().map(|p| PutItem { params_json: p, data: &[7u8; 100], options_json: None }).collect();
            c.put_batch(&items).unwrap();
        }
    }
    let group = std::env::args().nth(3).unwrap_or_else(|| "g3".into());
    let start = Instant::now();
    let removed = c.delete_where(&format!(r#"{{"params":{{"group":"{group}"}}}}"#)).unwrap();
    println!("deleted {removed} in {:.3?}", start.elapsed());
}
