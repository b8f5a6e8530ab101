//! Output helpers: plain sentences, tables, sizes and progress bars.

use super::{lib_json, Res};
use cacheness::Cache;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

pub fn out(text: &str) -> Res<()> {
    let mut o = io::stdout().lock();
    o.write_all(text.as_bytes())?;
    o.write_all(b"\n")?;
    Ok(o.flush()?)
}

/// A progress bar (or spinner when `len` is None) on stderr, only when stdout is a terminal.
pub fn progress(len: Option<u64>, msg: &'static str) -> ProgressBar {
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

pub fn human_size(n: u64) -> String {
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

pub fn expiry(v: &Value) -> String {
    v.as_str().map_or_else(|| "never".into(), str::to_string)
}

/// After put/touch: the entry's metadata (JSON), or one sentence.
pub fn report_entry(cache: &Cache, key: &str, json: bool, verb: &str) -> Res<()> {
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

pub fn count(json: bool, n: u64, sentence: String) -> Res<()> {
    out(&if json { json!({ "count": n }).to_string() } else { sentence })
}

pub fn issue_line(i: &Value) -> String {
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

/// "1 entry", "2 entries".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
