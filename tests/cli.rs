//! The `cacheness` command-line tool, run as a separate process against a temporary directory.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.text()))
    }
}

/// Runs `cacheness --dir DIR args...` with `stdin` as its standard input.
fn cli(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cacheness"));
    cmd.arg("--dir").arg(dir).args(args);
    run(cmd, stdin)
}

fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn cacheness");
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic trace on stderr: {stderr}");
    Run { code: status.code().expect("exited normally"), stdout, stderr }
}

/// Asserts success and returns the run.
fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.text(), r.stderr);
    r
}

fn fails(r: &Run, code: i32) {
    assert_eq!(r.code, code, "stdout: {}\nstderr: {}", r.text(), r.stderr);
    assert!(r.stderr.starts_with("cacheness: "), "stderr: {:?}", r.stderr);
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn put(dir: &Path, params: &str, data: &[u8], extra: &[&str]) -> Value {
    let mut args = vec!["--json", "put", params];
    args.extend_from_slice(extra);
    ok(cli(dir, &args, Some(data))).json()
}

fn list(dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--json", "list"];
    args.extend_from_slice(extra);
    let doc = ok(cli(dir, &args, None)).json();
    doc["entries"].as_array().expect("entries array").clone()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn put_get_round_trip_via_file_and_stdin() {
    let t = temp();
    let d = t.path().join("cache");
    let big = pattern(100_000);
    let src = t.path().join("big.bin");
    std::fs::write(&src, &big).unwrap();

    let r = ok(cli(&d, &["put", r#"{"example":"big"}"#, "--file", src.to_str().unwrap()], None));
    assert!(r.text().starts_with("stored "), "{}", r.text());
    let got = ok(cli(&d, &["get", r#"{"example":"big"}"#], None));
    assert_eq!(got.stdout, big);

    let meta = put(&d, r#"{"example":"stdin"}"#, b"hello, cacheness\0\xff", &["--data-type", "text"]);
    assert_eq!(meta["size"], 18);
    assert_eq!(meta["data_type"], "text");
    let key = meta["cache_key"].as_str().unwrap().to_string();
    let out = t.path().join("out.bin");
    let r = ok(cli(&d, &["--json", "get", &key, "--output", out.to_str().unwrap()], None));
    assert_eq!(std::fs::read(&out).unwrap(), b"hello, cacheness\0\xff");
    assert_eq!(r.json()["cache_key"], key.as_str());
    // A unique key prefix selects the entry too.
    assert_eq!(ok(cli(&d, &["get", &key[..10]], None)).stdout, b"hello, cacheness\0\xff");

    // Empty data from stdin is a value like any other.
    put(&d, r#"{"example":"empty"}"#, b"", &[]);
    let r = ok(cli(&d, &["get", r#"{"example":"empty"}"#], None));
    assert!(r.stdout.is_empty());
}

#[test]
fn list_json_contains_the_entry_with_its_metadata() {
    let t = temp();
    let meta = put(t.path(), r#"{"experiment":"exp_001"}"#, b"abc", &["--metadata", r#"{"project":"ml"}"#]);
    let entries = list(t.path(), &[]);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["cache_key"], meta["cache_key"]);
    assert_eq!(entries[0]["params"]["experiment"], "exp_001");
    assert_eq!(entries[0]["metadata"]["project"], "ml");
    let human = ok(cli(t.path(), &["list"], None)).text();
    assert!(human.contains(&meta["cache_key"].as_str().unwrap()[..12]), "{human}");
    assert!(human.contains("exp_001") && human.trim_end().ends_with("1 entry"), "{human}");
}

#[test]
fn list_pages_through_every_page() {
    let t = temp();
    {
        let cache = cacheness::Cache::open(Some(&serde_json::json!({"dir": t.path()}).to_string())).unwrap();
        let params: Vec<String> = (0..1100).map(|i| format!(r#"{{"i":{i}}}"#)).collect();
        let items: Vec<cacheness::cache::PutItem> = params
            .iter()
            .map(|p| cacheness::cache::PutItem { params_json: p, data: b"x", options_json: None })
            .collect();
        cache.put_batch(&items).unwrap();
    }
    let all = list(t.path(), &[]);
    assert_eq!(all.len(), 1100);
    let mut keys: Vec<&str> = all.iter().map(|e| e["cache_key"].as_str().unwrap()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 1100, "no entry listed twice");
    assert_eq!(list(t.path(), &["--limit", "1050", "--order", "key"]).len(), 1050);
    let human = ok(cli(t.path(), &["list", "--order", "accessed_at"], None)).text();
    assert!(human.trim_end().ends_with("1100 entries"));
}

#[test]
fn stats_json_has_the_documented_fields() {
    let t = temp();
    put(t.path(), r#"{"a":1}"#, &pattern(10), &[]);
    put(t.path(), r#"{"a":2}"#, &pattern(20_000), &[]);
    let s = ok(cli(t.path(), &["--json", "stats"], None)).json();
    assert_eq!(s["entries"], 2);
    assert_eq!(s["total_size"], 20_010);
    for f in ["hits", "misses", "evictions", "expired_removed"] {
        assert!(s[f].is_u64(), "{f} in {s}");
    }
    assert_eq!(s["metadata_backend"], "sqlite");
    assert_eq!(s["blob_backend"], "fs");
    assert_eq!(s["namespace"], "default");
    let human = ok(cli(t.path(), &["stats"], None)).text();
    assert!(human.contains("entries:     2"), "{human}");
}

#[test]
fn touch_restarts_and_clears_the_ttl() {
    let t = temp();
    let meta = put(t.path(), r#"{"t":1}"#, b"x", &["--ttl", "60"]);
    let first = meta["expires_at"].as_str().unwrap().to_string();
    let r = ok(cli(t.path(), &["--json", "touch", r#"{"t":1}"#, "--ttl", "86400"], None)).json();
    assert!(r["expires_at"].as_str().unwrap() > first.as_str(), "{r}");
    assert_eq!(r["created_at"], meta["created_at"]);
    let r = ok(cli(t.path(), &["--json", "touch", r#"{"t":1}"#, "--ttl", "never"], None)).json();
    assert!(r["expires_at"].is_null());
    let r = ok(cli(t.path(), &["touch", r#"{"t":1}"#, "--ttl", "5"], None));
    assert!(r.text().starts_with("touched "), "{}", r.text());
    fails(&cli(t.path(), &["touch", r#"{"t":2}"#], None), 1);
    fails(&cli(t.path(), &["touch", r#"{"t":1}"#, "--ttl", "-1"], None), 2);
}

#[test]
fn verify_finds_a_corrupt_blob_and_repair_fixes_it() {
    let t = temp();
    put(t.path(), r#"{"v":"small"}"#, b"tiny", &[]);
    put(t.path(), r#"{"v":"big"}"#, &pattern(40_000), &[]);
    let r = ok(cli(t.path(), &["verify"], None));
    assert_eq!(r.text().trim(), "verified 2 entries: ok");
    assert_eq!(ok(cli(t.path(), &["--json", "verify", "--deep"], None)).json()["ok"], true);

    let blobs = files_under(&t.path().join("blobs"));
    assert_eq!(blobs.len(), 1, "one value > 16 KiB lives in a file: {blobs:?}");
    std::fs::OpenOptions::new().append(true).open(&blobs[0]).unwrap().write_all(b"garbage").unwrap();

    let r = cli(t.path(), &["verify"], None);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.text().contains("size_mismatch"), "{}", r.text());
    let r = cli(t.path(), &["--json", "verify"], None);
    assert_eq!(r.code, 1);
    let report = r.json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["issues"][0]["issue"], "size_mismatch");

    let dry = ok(cli(t.path(), &["repair", "--dry-run"], None));
    assert!(dry.text().contains("would remove 1 entry"), "{}", dry.text());
    assert_eq!(cli(t.path(), &["verify"], None).code, 1, "a dry run changes nothing");
    let rep = ok(cli(t.path(), &["--json", "repair"], None)).json();
    assert_eq!(rep["removed_entries"], 1, "{rep}");
    let r = ok(cli(t.path(), &["verify"], None));
    assert_eq!(r.text().trim(), "verified 1 entry: ok");
    assert_eq!(ok(cli(t.path(), &["get", r#"{"v":"small"}"#], None)).stdout, b"tiny");
    fails(&cli(t.path(), &["get", r#"{"v":"big"}"#], None), 1);
}

#[test]
fn delete_with_a_filter() {
    let t = temp();
    for p in [r#"{"exp":"a1"}"#, r#"{"exp":"a2"}"#, r#"{"exp":"b1"}"#, r#"{"other":1}"#] {
        put(t.path(), p, b"x", &[]);
    }
    let r = ok(cli(t.path(), &["delete", "--filter", r#"{"params":{"exp":{"$prefix":"a"}}}"#], None));
    assert_eq!(r.text().trim(), "deleted 2 entries");
    assert_eq!(list(t.path(), &[]).len(), 2);
    let r = ok(cli(t.path(), &["--json", "delete", "--filter", "{}"], None)).json();
    assert_eq!(r["count"], 2);
    assert!(list(t.path(), &[]).is_empty());
}

#[test]
fn delete_without_a_filter_is_refused() {
    let t = temp();
    put(t.path(), r#"{"keep":1}"#, b"x", &[]);
    let r = cli(t.path(), &["delete"], None);
    fails(&r, 2);
    assert!(r.stderr.contains("--filter"), "{}", r.stderr);
    // A misspelt field is an error too, never "match everything".
    fails(&cli(t.path(), &["delete", "--filter", r#"{"parms":{"keep":1}}"#], None), 2);
    assert_eq!(list(t.path(), &[]).len(), 1);
}

#[test]
fn get_miss_exits_1() {
    let t = temp();
    put(t.path(), r#"{"here":1}"#, b"x", &[]);
    let r = cli(t.path(), &["get", r#"{"here":2}"#], None);
    fails(&r, 1);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
    fails(&cli(t.path(), &["get", &"0".repeat(64)], None), 1);
}

#[test]
fn invalid_arguments_exit_2_with_a_message() {
    let t = temp();
    let d = t.path();
    for args in [
        &["put", "{not json"][..],
        &["put", "[1, 2]"],
        &["put", r#"{"a":1}"#, "--metadata", "{oops"],
        &["put", r#"{"a":1}"#, "--ttl", "soon"],
        &["list", "--filter", "{"],
        &["list", "--filter", r#"{"no_such_field":1}"#],
        &["list", "--order", "size"],
        &["get", "not-a-selector"],
        &["--config", "[", "stats"],
        &["--config", r#"{"bogus":1}"#, "stats"],
        &["frobnicate"],
    ] {
        let r = cli(d, args, Some(b""));
        fails(&r, 2);
        assert!(r.stderr.len() > "cacheness: ".len() + 5, "{args:?}: {}", r.stderr);
    }
    let r = run(
        {
            let mut c = Command::new(env!("CARGO_BIN_EXE_cacheness"));
            c.arg("stats");
            c
        },
        None,
    );
    fails(&r, 2);
    assert!(r.stderr.contains("--dir"), "{}", r.stderr);
}

#[test]
fn read_commands_do_not_create_a_missing_directory() {
    let t = temp();
    let d = t.path().join("nowhere");
    fails(&cli(&d, &["stats"], None), 1);
    assert!(!d.exists());
}

#[test]
fn cleanup_expired_and_namespaces() {
    let t = temp();
    put(t.path(), r#"{"short":1}"#, b"x", &["--ttl", "0.05"]);
    put(t.path(), r#"{"long":1}"#, b"y", &[]);
    std::thread::sleep(std::time::Duration::from_millis(120));
    fails(&cli(t.path(), &["get", r#"{"short":1}"#], None), 1);
    let r = ok(cli(t.path(), &["--json", "cleanup-expired"], None)).json();
    assert_eq!(r["count"], 1);

    ok(cli(t.path(), &["--namespace", "other", "put", r#"{"long":1}"#], Some(b"other")));
    assert_eq!(ok(cli(t.path(), &["--namespace", "other", "get", r#"{"long":1}"#], None)).stdout, b"other");
    assert_eq!(ok(cli(t.path(), &["get", r#"{"long":1}"#], None)).stdout, b"y");
    let cfg = serde_json::json!({"namespace": "other"}).to_string();
    assert_eq!(list(t.path(), &["--config", &cfg]).len(), 1);
}

#[test]
fn orphans_on_a_clean_cache() {
    let t = temp();
    put(t.path(), r#"{"o":1}"#, &pattern(20_000), &[]);
    let r = ok(cli(t.path(), &["--json", "orphans"], None)).json();
    assert_eq!(r["count"], 0);
    assert_eq!(ok(cli(t.path(), &["orphans"], None)).text().trim(), "no orphaned files");
    assert_eq!(ok(cli(t.path(), &["--json", "orphans", "--cleanup"], None)).json()["count"], 0);
}

#[test]
fn export_import_round_trip() {
    let t = temp();
    let src = t.path().join("src");
    let big = pattern(100_000);
    put(&src, r#"{"example":"big"}"#, &big, &["--metadata", r#"{"writer":"cli"}"#]);
    put(&src, r#"{"example":"greeting"}"#, b"hello, cacheness", &["--data-type", "text"]);
    put(&src, r#"{"skip":1}"#, b"not exported", &[]);
    for (name, extra) in [("a.tar.gz", &[][..]), ("a.tar", &["--no-compress"][..])] {
        let archive = t.path().join(name);
        let mut args = vec![
            "--json",
            "export",
            archive.to_str().unwrap(),
            "--filter",
            r#"{"params":{"example":{"$exists":true}}}"#,
        ];
        args.extend_from_slice(extra);
        assert_eq!(ok(cli(&src, &args, None)).json()["count"], 2);

        let dest = t.path().join(format!("dest-{name}"));
        let r = ok(cli(&dest, &["import", archive.to_str().unwrap()], None));
        assert_eq!(r.text().trim(), format!("imported 2 entries from {}", archive.display()));
        assert_eq!(ok(cli(&dest, &["get", r#"{"example":"big"}"#], None)).stdout, big);
        assert_eq!(ok(cli(&dest, &["get", r#"{"example":"greeting"}"#], None)).stdout, b"hello, cacheness");
        fails(&cli(&dest, &["get", r#"{"skip":1}"#], None), 1);
        let entries = list(&dest, &["--filter", r#"{"params":{"example":"big"}}"#]);
        assert_eq!(entries[0]["metadata"]["writer"], "cli");
        // Existing entries are kept unless --overwrite.
        let r = ok(cli(&dest, &["--json", "import", archive.to_str().unwrap()], None)).json();
        assert_eq!(r["count"], 0);
        let r = ok(cli(&dest, &["--json", "import", archive.to_str().unwrap(), "--overwrite"], None)).json();
        assert_eq!(r["count"], 2);
    }
}

#[test]
fn orphans_finds_and_removes_a_file_no_entry_refers_to() {
    let t = temp();
    put(t.path(), r#"{"o":1}"#, &pattern(20_000), &[]);
    // Drop the record behind the library's back: its blob file is left without an owner.
    let db = rusqlite::Connection::open(t.path().join("cacheness.db")).unwrap();
    db.execute("DELETE FROM entries", []).unwrap();
    drop(db);
    let r = ok(cli(t.path(), &["--json", "orphans"], None)).json();
    assert_eq!(r["count"], 1, "{r}");
    assert_eq!(r["total_size"], 20_000);
    let r = cli(t.path(), &["--json", "verify"], None);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["issues"][0]["issue"], "orphaned_file");
    let r = ok(cli(t.path(), &["orphans", "--cleanup"], None));
    assert_eq!(r.text().trim(), "removed 1 orphaned file");
    assert!(files_under(&t.path().join("blobs")).is_empty());
    assert_eq!(ok(cli(t.path(), &["verify"], None)).text().trim(), "verified 0 entries: ok");
}
