//! The `cacheness` command-line tool on a PostgreSQL metadata backend: each test runs the built
//! binary as a separate process with `--config '{"metadata":"postgres","postgres_url":...}'`
//! and `--dir TMP` (blob files stay in the directory, records live in the server).
//!
//! The server's URL comes from `CACHENESS_TEST_POSTGRES_URL`. Without it these tests FAIL (they
//! never skip) and say how to start a throwaway server: `eval "$(scripts/pg.sh start)"`.
//! Every test uses its own namespace, so reruns against one database never see each other.

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PG_ENV: &str = "CACHENESS_TEST_POSTGRES_URL";

fn postgres_url() -> String {
    match std::env::var(PG_ENV) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "{PG_ENV} is not set, so the PostgreSQL CLI tests cannot run (they never skip).\n\
             Start a throwaway server and export its URL with:\n\n    eval \"$(scripts/pg.sh start)\"\n\n\
             then run `cargo test --test cli_postgres` again, and stop it afterwards with `scripts/pg.sh stop`."
        ),
    }
}

/// A namespace no other run uses.
fn unique_ns(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("cli-{tag}-{}-{nanos}-{:08x}", std::process::id(), rand::random::<u32>())
}

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

/// A cache directory whose metadata lives in PostgreSQL under its own namespace.
struct Pg {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    config: String,
}

impl Pg {
    fn new(tag: &str) -> Pg {
        let url = postgres_url();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let config = json!({"metadata": "postgres", "postgres_url": url, "namespace": unique_ns(tag)}).to_string();
        Pg { _tmp: tmp, dir, config }
    }

    /// The same namespace with blob files in another directory.
    fn with_dir(&self, dir: &Path) -> Pg {
        Pg { _tmp: tempfile::tempdir().unwrap(), dir: dir.to_path_buf(), config: self.config.clone() }
    }

    /// Runs `cacheness --config CONFIG --dir DIR args...` with `stdin` as its standard input.
    fn cli(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cacheness"));
        cmd.arg("--config").arg(&self.config).arg("--dir").arg(&self.dir).args(args);
        run(cmd, stdin)
    }

    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let r = self.cli(args, stdin);
        assert_eq!(r.code, 0, "cacheness {args:?} failed\nstdout: {}\nstderr: {}", r.text(), r.stderr);
        r
    }

    fn put(&self, params: &str, data: &[u8], extra: &[&str]) -> Value {
        let mut args = vec!["--json", "put", params];
        args.extend_from_slice(extra);
        self.ok(&args, Some(data)).json()
    }

    fn list(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["--json", "list"];
        args.extend_from_slice(extra);
        self.ok(&args, None).json()["entries"].as_array().expect("entries array").clone()
    }

    fn stats(&self) -> Value {
        self.ok(&["--json", "stats"], None).json()
    }

    /// Deletes every entry of the namespace (leaves the shared database clean).
    fn clean_up(&self) {
        self.ok(&["--json", "delete", "--filter", "{}"], None);
        assert_eq!(self.stats()["entries"], 0);
    }
}

fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn cacheness");
    if let Some(data) = stdin {
        // A run that fails before reading its input closes the pipe: that is not an error here.
        if let Err(e) = child.stdin.take().unwrap().write_all(data) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin: {e}");
        }
    }
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic trace on stderr: {stderr}");
    Run { code: status.code().expect("exited normally"), stdout, stderr }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
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
fn put_get_list_verify_stats() {
    let pg = Pg::new("round-trip");
    let big = pattern(100_000);
    let src = pg._tmp.path().join("big.bin");
    std::fs::write(&src, &big).unwrap();

    // put: from a file (a blob file) and from stdin (inline), human and JSON output.
    let r = pg.ok(&["put", r#"{"example":"big"}"#, "--file", src.to_str().unwrap()], None);
    assert!(r.text().starts_with("stored "), "{}", r.text());
    let small = pg.put(
        r#"{"example":"greeting"}"#,
        b"hello, cacheness",
        &["--data-type", "text", "--metadata", r#"{"writer":"cli-postgres"}"#, "--ttl", "3600"],
    );
    assert_eq!(small["size"], 16);
    assert_eq!(small["data_type"], "text");
    assert_eq!(small["version"], 1);
    assert_eq!(small["metadata"], json!({"writer": "cli-postgres"}));
    assert!(small["expires_at"].is_string(), "{small}");
    let small_key = small["cache_key"].as_str().unwrap().to_string();
    assert_eq!(small_key, cacheness::cache::selector_key(r#"{"example":"greeting"}"#).unwrap());

    // get: to stdout by params, by key and by key prefix; to a file with --json metadata.
    assert_eq!(pg.ok(&["get", r#"{"example":"big"}"#], None).stdout, big);
    assert_eq!(pg.ok(&["get", &small_key], None).stdout, b"hello, cacheness");
    assert_eq!(pg.ok(&["get", &small_key[..12]], None).stdout, b"hello, cacheness");
    let out = pg._tmp.path().join("out.bin");
    let meta = pg.ok(&["--json", "get", r#"{"example":"big"}"#, "--output", out.to_str().unwrap()], None).json();
    assert_eq!(std::fs::read(&out).unwrap(), big);
    assert_eq!(meta["size"], 100_000);
    assert!(meta["content_hash"].as_str().unwrap().starts_with("sha256:"));
    // A miss is exit code 1 with a message, nothing on stdout.
    let miss = pg.cli(&["get", r#"{"example":"absent"}"#], None);
    assert_eq!(miss.code, 1, "stderr: {}", miss.stderr);
    assert!(miss.stdout.is_empty());
    assert!(miss.stderr.starts_with("cacheness: ") && miss.stderr.contains("not found"), "{}", miss.stderr);

    // list: JSON with the API.md shape, a filter, and the human table.
    let entries = pg.list(&[]);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let greeting = entries.iter().find(|e| e["cache_key"] == small_key.as_str()).expect("greeting listed");
    assert_eq!(greeting["params"], json!({"example": "greeting"}));
    assert_eq!(greeting["metadata"], json!({"writer": "cli-postgres"}));
    assert!(greeting["access_count"].as_u64().unwrap() >= 2, "{greeting}");
    let filtered = pg.list(&["--filter", r#"{"metadata":{"writer":"cli-postgres"}}"#]);
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["cache_key"], small_key.as_str());
    assert_eq!(pg.list(&["--limit", "1", "--order", "key"]).len(), 1);
    let human = pg.ok(&["list"], None).text();
    assert!(human.contains(&small_key[..12]) && human.contains("greeting"), "{human}");
    assert!(human.trim_end().ends_with("2 entries"), "{human}");

    // verify: quick and deep, JSON and human.
    for deep in [&[][..], &["--deep"][..]] {
        let mut args = vec!["--json", "verify"];
        args.extend_from_slice(deep);
        let v = pg.ok(&args, None).json();
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["checked"], 2, "{v}");
        assert_eq!(v["issues"], json!([]), "{v}");
    }
    assert_eq!(pg.ok(&["verify"], None).text().trim(), "verified 2 entries: ok");

    // stats: the backend, the namespace and the totals kept by the server.
    let s = pg.stats();
    assert_eq!(s["metadata_backend"], "postgres", "{s}");
    assert_eq!(s["entries"], 2, "{s}");
    assert_eq!(s["total_size"], 100_000 + 16, "{s}");
    assert_eq!(s["namespace"].as_str(), serde_json::from_str::<Value>(&pg.config).unwrap()["namespace"].as_str());
    let human = pg.ok(&["stats"], None).text();
    assert!(human.contains("entries:     2"), "{human}");
    assert!(human.contains("backends:    postgres metadata"), "{human}");

    pg.clean_up();
    assert!(files_under(&pg.dir.join("blobs")).is_empty(), "blob files left after delete");
}

#[test]
fn records_live_in_the_server_and_verify_finds_a_lost_blob() {
    let pg = Pg::new("verify");
    pg.put(r#"{"v":"small"}"#, b"inline value", &[]);
    pg.put(r#"{"v":"big"}"#, &pattern(50_000), &[]);
    let blobs = files_under(&pg.dir.join("blobs"));
    assert_eq!(blobs.len(), 1, "{blobs:?}");

    // Another directory on the same namespace sees the records (they are in PostgreSQL), reads
    // the inline value, and misses the blob file, which lives in the first directory.
    let elsewhere = pg._tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let other = pg.with_dir(&elsewhere);
    assert_eq!(other.list(&[]).len(), 2);
    assert_eq!(other.ok(&["get", r#"{"v":"small"}"#], None).stdout, b"inline value");

    // verify in the first directory is clean; after the blob file goes it reports it, exit 1.
    pg.ok(&["verify", "--deep"], None);
    std::fs::remove_file(&blobs[0]).unwrap();
    let r = pg.cli(&["--json", "verify"], None);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.text(), r.stderr);
    let v = r.json();
    assert_eq!(v["ok"], false, "{v}");
    let key = cacheness::cache::selector_key(r#"{"v":"big"}"#).unwrap();
    let issues = v["issues"].as_array().unwrap();
    assert!(issues.iter().any(|i| i["cache_key"] == key.as_str() && i["issue"] == "missing_file"), "{v}");
    let human = pg.cli(&["verify"], None);
    assert_eq!(human.code, 1);
    assert!(human.text().contains("missing_file"), "{}", human.text());

    pg.clean_up();
}

#[test]
fn namespaces_do_not_see_each_other() {
    let a = Pg::new("ns-a");
    let b = Pg { _tmp: tempfile::tempdir().unwrap(), dir: a.dir.clone(), config: Pg::new("ns-b").config };
    a.put(r#"{"only":"a"}"#, b"a's", &[]);
    assert_eq!(a.list(&[]).len(), 1);
    assert!(b.list(&[]).is_empty());
    assert_eq!(b.stats()["entries"], 0);
    let miss = b.cli(&["get", r#"{"only":"a"}"#], None);
    assert_eq!(miss.code, 1, "stderr: {}", miss.stderr);
    assert_eq!(b.ok(&["list"], None).text().trim(), "no entries");
    // --namespace on the command line overrides the config's.
    let ns_a = serde_json::from_str::<Value>(&a.config).unwrap()["namespace"].as_str().unwrap().to_string();
    let via_flag = b.ok(&["--json", "--namespace", &ns_a, "list"], None).json();
    assert_eq!(via_flag["entries"].as_array().unwrap().len(), 1);
    a.clean_up();
}

#[test]
fn an_unreachable_server_is_a_clean_failure() {
    postgres_url(); // same rule as the other tests: no URL, no run
    let t = tempfile::tempdir().unwrap();
    // Port 1 on the loopback: nothing listens there, the connection is refused at once.
    let config = json!({"metadata": "postgres", "postgres_url": "postgres://postgres@127.0.0.1:1/nowhere"}).to_string();
    for args in [&["stats"][..], &["put", r#"{"a":1}"#][..], &["--json", "list"][..]] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cacheness"));
        cmd.arg("--config").arg(&config).arg("--dir").arg(t.path()).args(args);
        let r = run(cmd, Some(b"x"));
        assert_eq!(r.code, 1, "{args:?}: stdout: {}\nstderr: {}", r.text(), r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.text());
        assert!(r.stderr.starts_with("cacheness: "), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("127.0.0.1:1"), "{args:?}: the message names the server: {}", r.stderr);
    }
    // A malformed URL is invalid usage (exit code 2).
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cacheness"));
    cmd.arg("--config")
        .arg(r#"{"metadata":"postgres","postgres_url":"postgres://[::1"}"#)
        .arg("--dir")
        .arg(t.path())
        .arg("stats");
    let r = run(cmd, None);
    assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.text(), r.stderr);
    assert!(r.stderr.contains("postgres_url"), "{}", r.stderr);
}
