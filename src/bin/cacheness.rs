//! `cacheness`: the command-line tool over the cache layer. Human output by default, the
//! library's JSON with `--json`. Exit codes: 0 success, 1 failure (a miss, a failed verify, I/O),
//! 2 invalid usage or argument.

use cacheness::{Cache, Code};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "cacheness", version, about = "Inspect and maintain a cacheness cache directory")]
#[command(after_help = "A SELECTOR is params JSON (starting with '{'), a 64-hex key, or a unique key prefix \
    (at least 4 hex digits).\nExit codes: 0 success, 1 failure (miss, verify found issues, I/O), 2 invalid usage.")]
struct Cli {
    /// Cache directory (required unless --config gives "dir")
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<String>,
    /// Open config as a JSON object (API.md "open"); --dir and --namespace override its fields
    #[arg(long, global = true, value_name = "JSON")]
    config: Option<String>,
    /// Namespace (default "default")
    #[arg(long, global = true, value_name = "NAME")]
    namespace: Option<String>,
    /// Machine output: the library's JSON, one document per command
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Entry count, total size and backends
    Stats,
    /// List live entries (every page, up to --limit)
    List {
        /// Filter object (API.md "Filters")
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
        /// Show at most N entries
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        #[arg(long, value_enum, default_value_t = Order::CreatedAt)]
        order: Order,
    },
    /// Write an entry's data to stdout or FILE (exit code 1 on a miss)
    Get {
        selector: String,
        /// Write the data to FILE (with --json, print the entry's metadata)
        #[arg(long, short, value_name = "FILE")]
        output: Option<String>,
    },
    /// Store data from FILE or stdin under the key of PARAMS_JSON
    Put {
        params_json: String,
        /// Read the data from FILE instead of stdin
        #[arg(long, short, value_name = "FILE")]
        file: Option<String>,
        /// Time to live in seconds, or "never" (default: the cache's default TTL)
        #[arg(long, value_name = "SECONDS", value_parser = parse_ttl)]
        ttl: Option<Value>,
        /// Custom metadata object
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
        #[arg(long, value_name = "T")]
        data_type: Option<String>,
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// Restart an entry's TTL (exit code 1 on a miss)
    Touch {
        selector: String,
        /// New time to live in seconds, or "never" (default: the cache's default TTL)
        #[arg(long, value_name = "SECONDS", value_parser = parse_ttl)]
        ttl: Option<Value>,
    },
    /// Check every entry and the blob tree (exit code 1 when issues are found)
    Verify {
        /// Rehash every value
        #[arg(long)]
        deep: bool,
    },
    /// Drop broken and expired entries, orphaned and leftover temporary files
    Repair {
        /// Report what would be done, change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove expired entries and their files
    CleanupExpired,
    /// Write entries to a tar.gz (or tar) archive
    Export {
        file: String,
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
        /// Write a plain tar
        #[arg(long)]
        no_compress: bool,
    },
    /// Read entries from an archive written by export
    Import {
        file: String,
        /// Replace existing entries (default: keep them)
        #[arg(long)]
        overwrite: bool,
    },
    /// Delete the live entries matching --filter ('{}' deletes every live entry)
    Delete {
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
    },
    /// List blob files no entry refers to
    Orphans {
        /// Remove them
        #[arg(long)]
        cleanup: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Order {
    #[value(name = "created_at")]
    CreatedAt,
    #[value(name = "accessed_at")]
    AccessedAt,
    #[value(name = "key")]
    Key,
}

/// A failed run: exit code and the message for stderr (none for a closed stdout).
struct Fail(u8, Option<String>);
type Res<T> = Result<T, Fail>;

fn usage(m: impl Into<String>) -> Fail {
    Fail(2, Some(m.into()))
}
fn fail(m: impl Into<String>) -> Fail {
    Fail(1, Some(m.into()))
}
impl From<cacheness::Error> for Fail {
    fn from(e: cacheness::Error) -> Fail {
        Fail(if e.code == Code::InvalidArgument { 2 } else { 1 }, Some(e.message))
    }
}
impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Fail(1, None)
        } else {
            fail(e.to_string())
        }
    }
}

fn parse_ttl(s: &str) -> Result<Value, String> {
    match s {
        "never" | "none" | "null" => Ok(Value::Null),
        _ => match s.parse::<f64>() {
            Ok(t) if t.is_finite() && t > 0.0 => Ok(json!(t)),
            _ => Err("expected a number of seconds > 0, or \"never\"".into()),
        },
    }
}

/// Parses a JSON argument (`--metadata`, `--filter`, ...); bad JSON is a usage error.
fn json_arg(what: &str, s: &str) -> Res<Value> {
    serde_json::from_str(s).map_err(|e| usage(format!("{what}: invalid JSON: {e}")))
}
fn object_arg(what: &str, s: &str) -> Res<Value> {
    let v = json_arg(what, s)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(usage(format!("{what} must be a JSON object")))
    }
}
fn lib_json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| eprintln!("cacheness: internal error: {info}")));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print(); // --help, --version
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            eprint!("cacheness: {}", text.strip_prefix("error: ").unwrap_or(&text));
            return ExitCode::from(2);
        }
    };
    match std::panic::catch_unwind(|| run(&cli)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(Fail(code, msg))) => {
            if let Some(m) = msg {
                eprintln!("cacheness: {m}");
            }
            ExitCode::from(code)
        }
        Err(_) => ExitCode::from(1),
    }
}

/// Opens the cache from --config, --dir and --namespace. Read-only commands refuse a
/// directory that does not exist (instead of creating an empty cache there).
fn open(cli: &Cli, creates: bool) -> Res<Cache> {
    let mut cfg = match &cli.config {
        None => Map::new(),
        Some(s) => match object_arg("--config", s)? {
            Value::Object(m) => m,
            _ => unreachable!(),
        },
    };
    if let Some(d) = &cli.dir {
        cfg.insert("dir".into(), json!(d));
    }
    if let Some(ns) = &cli.namespace {
        cfg.insert("namespace".into(), json!(ns));
    }
    if cli.dir.is_none() && cli.config.is_none() {
        return Err(usage("--dir DIR is required (or --config JSON with a \"dir\")"));
    }
    if let (false, Some(Value::String(d))) = (creates, cfg.get("dir")) {
        if !std::path::Path::new(d).is_dir() {
            return Err(fail(format!("no cache directory at {d}")));
        }
    }
    Cache::open(Some(&Value::Object(cfg).to_string())).map_err(|e| Fail::from(e.context("open")))
}

/// The key a selector names; a short hex prefix is resolved through a key_prefix listing.
fn resolve(cache: &Cache, sel: &str) -> Res<String> {
    let s = sel.trim();
    if (4..64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let filter = json!({ "key_prefix": s.to_ascii_lowercase() }).to_string();
        let page = lib_json(&cache.list(Some(&filter), Some(r#"{"limit": 2, "order": "key"}"#))?);
        return match page["entries"].as_array().map(Vec::as_slice).unwrap_or_default() {
            [] => Err(fail(format!("not found: {sel}"))),
            [one] => Ok(one["cache_key"].as_str().unwrap_or_default().to_string()),
            _ => Err(usage(format!("key prefix {s} names more than one entry; give more digits"))),
        };
    }
    Ok(sel.to_string())
}

fn out(text: &str) -> Res<()> {
    let mut o = io::stdout().lock();
    o.write_all(text.as_bytes())?;
    o.write_all(b"\n")?;
    Ok(o.flush()?)
}

/// A progress bar (or spinner when `len` is None) on stderr, only when stdout is a terminal.
fn progress(len: Option<u64>, msg: &'static str) -> ProgressBar {
    if !io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let (mut v, mut unit) = (n as f64, "B");
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if unit == "B" {
        format!("{n} B")
    } else {
        format!("{v:.1} {unit}")
    }
}

fn expiry(v: &Value) -> String {
    v.as_str().map_or_else(|| "never".into(), str::to_string)
}

/// After put/touch: the entry's metadata (JSON), or one sentence.
fn report_entry(cache: &Cache, key: &str, json: bool, verb: &str) -> Res<()> {
    match (cache.get_metadata(key)?, json) {
        (Some(m), true) => out(&m),
        (None, true) => out(&json!({ "cache_key": key }).to_string()),
        (Some(m), false) => {
            let m = lib_json(&m);
            let size = human_size(m["size"].as_u64().unwrap_or(0));
            out(&format!("{verb} {key} ({size}, expires: {})", expiry(&m["expires_at"])))
        }
        (None, false) => out(&format!("{verb} {key}")),
    }
}

fn count(json: bool, n: u64, sentence: String) -> Res<()> {
    out(&if json { json!({ "count": n }).to_string() } else { sentence })
}

fn issue_line(i: &Value) -> String {
    let mut s = format!("  {}", i["issue"].as_str().unwrap_or("?"));
    if let Some(a) = i["action"].as_str() {
        s = format!("  {a}: {}", s.trim_start());
    }
    for (field, label) in [("cache_key", "entry"), ("key", "entry"), ("path", "file")] {
        if let Some(v) = i[field].as_str() {
            s.push_str(&format!(" {label} {v}"));
        }
    }
    s
}

fn run(cli: &Cli) -> Res<u8> {
    let json = cli.json;
    match &cli.cmd {
        Cmd::Stats => {
            let s = open(cli, false)?.stats()?;
            if json {
                return out(&s).map(|_| 0);
            }
            let v = lib_json(&s);
            let total = v["total_size"].as_u64().unwrap_or(0);
            out(&format!("entries:     {}", v["entries"]))?;
            out(&format!("total size:  {} ({total} bytes)", human_size(total)))?;
            out(&format!("namespace:   {}", v["namespace"].as_str().unwrap_or("?")))?;
            out(&format!("backends:    {} metadata, {} blobs", v["metadata_backend"], v["blob_backend"])
                .replace('"', ""))?;
            let limit = v["max_size_bytes"].as_u64().map_or("none".into(), human_size);
            out(&format!("size limit:  {limit}"))?;
            let ttl = v["default_ttl_seconds"].as_f64().map_or("none".into(), |t| format!("{t} s"));
            out(&format!("default TTL: {ttl}"))?;
        }
        Cmd::List { filter, limit, order } => {
            let cache = open(cli, false)?;
            let order = order.to_possible_value().map(|v| v.get_name().to_string());
            let (mut cursor, mut shown) = (Value::Null, 0u64);
            let mut o = io::stdout().lock();
            loop {
                let want = limit.map_or(1000, |l| (l - shown).min(1000));
                if want == 0 {
                    break;
                }
                let opts = json!({ "limit": want, "order": order, "cursor": cursor }).to_string();
                let page = lib_json(&cache.list(filter.as_deref(), Some(&opts))?);
                for e in page["entries"].as_array().into_iter().flatten() {
                    if json {
                        write!(o, "{}{e}", if shown == 0 { "{\"entries\":[" } else { "," })?;
                    } else {
                        if shown == 0 {
                            writeln!(o, "{:<12}  {:<40}  {:>9}  {:<24}  EXPIRES", "KEY", "PARAMS", "SIZE", "CREATED")?;
                        }
                        let mut params = e["params"].to_string();
                        if params.chars().count() > 40 {
                            params = params.chars().take(39).chain(['…']).collect();
                        }
                        let key = e["cache_key"].as_str().unwrap_or("").get(..12).unwrap_or("");
                        let size = human_size(e["size"].as_u64().unwrap_or(0));
                        let created = e["created_at"].as_str().unwrap_or("");
                        writeln!(o, "{key:<12}  {params:<40}  {size:>9}  {created:<24}  {}", expiry(&e["expires_at"]))?;
                    }
                    shown += 1;
                }
                cursor = page["next_cursor"].clone();
                if !cursor.is_string() {
                    break;
                }
            }
            match (json, shown) {
                (true, 0) => writeln!(o, "{{\"entries\":[]}}")?,
                (true, _) => writeln!(o, "]}}")?,
                (false, 0) => writeln!(o, "no entries")?,
                (false, n) => writeln!(o, "{n} {}", if n == 1 { "entry" } else { "entries" })?,
            }
            o.flush()?;
        }
        Cmd::Get { selector, output } => {
            let cache = open(cli, false)?;
            let key = resolve(&cache, selector)?;
            let Some((data, meta)) = cache.get_with_metadata(&key)? else {
                return Err(fail(format!("not found: {selector}")));
            };
            match output {
                Some(path) => {
                    std::fs::write(path, &data).map_err(|e| fail(format!("cannot write {path}: {e}")))?;
                    if json {
                        out(&meta)?;
                    }
                }
                None => {
                    let mut o = io::stdout().lock();
                    o.write_all(&data)?;
                    o.flush()?;
                }
            }
        }
        Cmd::Put { params_json, file, ttl, metadata, data_type, description } => {
            let mut opts = Map::new();
            if let Some(t) = ttl {
                opts.insert("ttl_seconds".into(), t.clone());
            }
            if let Some(m) = metadata {
                opts.insert("metadata".into(), object_arg("--metadata", m)?);
            }
            if let Some(t) = data_type {
                opts.insert("data_type".into(), json!(t));
            }
            if let Some(d) = description {
                opts.insert("description".into(), json!(d));
            }
            let cache = open(cli, true)?;
            let data = match file {
                Some(f) => std::fs::read(f).map_err(|e| fail(format!("cannot read {f}: {e}")))?,
                None => {
                    if io::stdin().is_terminal() {
                        eprintln!("cacheness: reading the data from stdin (end with Ctrl-D)");
                    }
                    let mut d = Vec::new();
                    io::stdin().lock().read_to_end(&mut d).map_err(|e| fail(format!("cannot read stdin: {e}")))?;
                    d
                }
            };
            let opts = Value::Object(opts).to_string();
            let key = cache.put(params_json, &data, Some(&opts)).map_err(|e| Fail::from(e.context("put")))?;
            report_entry(&cache, &key, json, "stored")?;
        }
        Cmd::Touch { selector, ttl } => {
            let cache = open(cli, false)?;
            let key = resolve(&cache, selector)?;
            let opts = ttl.as_ref().map(|t| json!({ "ttl_seconds": t }).to_string());
            if !cache.touch(&key, opts.as_deref())? {
                return Err(fail(format!("not found: {selector}")));
            }
            report_entry(&cache, &key, json, "touched")?;
        }
        Cmd::Verify { deep } => {
            let cache = open(cli, false)?;
            let pb = progress(Some(0), "verifying");
            let tick = |done: u64, total: u64| {
                pb.set_length(total);
                pb.set_position(done);
            };
            let report = cache.verify_with_progress(Some(&json!({ "deep": deep }).to_string()), Some(&tick));
            pb.finish_and_clear();
            let report = report?;
            let v = lib_json(&report);
            let ok = v["ok"].as_bool() == Some(true);
            if json {
                out(&report)?;
            } else {
                let issues = v["issues"].as_array().cloned().unwrap_or_default();
                let verdict = if ok { "ok".to_string() } else { format!("{} issues", issues.len()) };
                out(&format!("verified {} entries: {verdict}", v["checked"]))?;
                for i in &issues {
                    out(&issue_line(i))?;
                }
            }
            return Ok(if ok { 0 } else { 1 });
        }
        Cmd::Repair { dry_run } => {
            let cache = open(cli, false)?;
            let pb = progress(Some(0), "repairing");
            let tick = |done: u64, total: u64| {
                pb.set_length(total);
                pb.set_position(done);
            };
            let opts = json!({ "dry_run": dry_run }).to_string();
            let report = cache.repair_with_progress(Some(&opts), Some(&tick));
            pb.finish_and_clear();
            let report = report?;
            if json {
                return out(&report).map(|_| 0);
            }
            let v = lib_json(&report);
            let issues = v["issues"].as_array().cloned().unwrap_or_default();
            let (entries, files) = if *dry_run {
                let n = |a: &str| issues.iter().filter(|i| i["action"] == a).count() as u64;
                (n("would_remove_entry"), n("would_remove_file"))
            } else {
                (v["removed_entries"].as_u64().unwrap_or(0), v["removed_files"].as_u64().unwrap_or(0))
            };
            let what = match (issues.is_empty(), dry_run) {
                (true, _) => "nothing to repair".to_string(),
                (false, true) => format!("would remove {entries} entries and {files} files"),
                (false, false) => format!("removed {entries} entries and {files} files"),
            };
            out(&format!("checked {} entries: {what}", v["checked"]))?;
            for i in &issues {
                out(&issue_line(i))?;
            }
        }
        Cmd::CleanupExpired => {
            let n = open(cli, false)?.cleanup_expired()?;
            count(json, n, format!("removed {n} expired entries"))?;
        }
        Cmd::Export { file, filter, no_compress } => {
            let mut opts = json!({ "compress": !no_compress });
            if let Some(f) = filter {
                opts["filter"] = object_arg("--filter", f)?;
            }
            let cache = open(cli, false)?;
            let pb = progress(None, "exporting");
            let n = cache.export(file, Some(&opts.to_string()));
            pb.finish_and_clear();
            let n = n.map_err(|e| Fail::from(e.context("export")))?;
            count(json, n, format!("exported {n} entries to {file}"))?;
        }
        Cmd::Import { file, overwrite } => {
            let cache = open(cli, true)?;
            let pb = progress(None, "importing");
            let n = cache.import(file, Some(&json!({ "overwrite": overwrite }).to_string()));
            pb.finish_and_clear();
            let n = n.map_err(|e| Fail::from(e.context("import")))?;
            count(json, n, format!("imported {n} entries from {file}"))?;
        }
        Cmd::Delete { filter } => {
            let Some(filter) = filter else {
                return Err(usage("delete needs --filter JSON (--filter '{}' deletes every live entry)"));
            };
            object_arg("--filter", filter)?;
            let n = open(cli, false)?.delete_where(filter)?;
            count(json, n, format!("deleted {n} entries"))?;
        }
        Cmd::Orphans { cleanup: true } => {
            let n = open(cli, false)?.cleanup_orphans()?;
            count(json, n, format!("removed {n} orphaned files"))?;
        }
        Cmd::Orphans { cleanup: false } => {
            let report = open(cli, false)?.find_orphans()?;
            if json {
                return out(&report).map(|_| 0);
            }
            let v = lib_json(&report);
            let list = v["orphans"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                return out("no orphaned files").map(|_| 0);
            }
            let total = human_size(v["total_size"].as_u64().unwrap_or(0));
            out(&format!("{} orphaned files ({total}); remove them with --cleanup", list.len()))?;
            for f in &list {
                let temp = if f["temporary"] == true { " (temporary)" } else { "" };
                out(&format!("  {}{temp}", f["path"].as_str().unwrap_or("?")))?;
            }
        }
    }
    Ok(0)
}
