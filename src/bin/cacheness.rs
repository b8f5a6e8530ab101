//! `cacheness`: the command-line tool over the cache layer. Human output by default, the
//! library's JSON with `--json`. Exit codes: 0 success, 1 failure (a miss, a failed verify, I/O),
//! 2 invalid usage or argument.

#[path = "cacheness/commands.rs"]
mod commands;
#[path = "cacheness/show.rs"]
mod show;

use cacheness::{Cache, Code};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use std::io;
use std::process::ExitCode;

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
        /// Sort order
        #[arg(long, value_enum, default_value_t = Order::CreatedAt)]
        order: Order,
    },
    /// Write an entry's data to stdout or FILE (exit code 1 on a miss)
    Get {
        /// Params JSON, 64-hex key or unique key prefix
        selector: String,
        /// Write the data to FILE (with --json, print the entry's metadata)
        #[arg(long, short, value_name = "FILE")]
        output: Option<String>,
    },
    /// Store data from FILE or stdin under the key of PARAMS_JSON
    Put {
        /// The params object whose key names the entry, e.g. '{"experiment":"exp_001"}'
        params_json: String,
        /// Read the data from FILE instead of stdin
        #[arg(long, short, value_name = "FILE")]
        file: Option<String>,
        /// Time to live in seconds, or "never" (default: the cache's default TTL)
        #[arg(long, value_name = "SECONDS", value_parser = parse_ttl, allow_negative_numbers = true)]
        ttl: Option<Value>,
        /// Custom metadata object
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
        /// Data type label (default "bytes")
        #[arg(long, value_name = "T")]
        data_type: Option<String>,
        /// Free-text description
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// Restart an entry's TTL (exit code 1 on a miss)
    Touch {
        /// Params JSON, 64-hex key or unique key prefix
        selector: String,
        /// New time to live in seconds, or "never" (default: the cache's default TTL)
        #[arg(long, value_name = "SECONDS", value_parser = parse_ttl, allow_negative_numbers = true)]
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
        /// Archive to write
        file: String,
        /// Export only the live entries matching this filter
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
        /// Write a plain tar
        #[arg(long)]
        no_compress: bool,
    },
    /// Read entries from an archive written by export
    Import {
        /// Archive to read
        file: String,
        /// Replace existing entries (default: keep them)
        #[arg(long)]
        overwrite: bool,
    },
    /// Delete the live entries matching --filter ('{}' deletes every live entry)
    Delete {
        /// Filter object (required)
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
    match std::panic::catch_unwind(|| commands::run(&cli)) {
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
            _ => Map::new(), // object_arg accepts objects only
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
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(s.to_ascii_lowercase());
    }
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
