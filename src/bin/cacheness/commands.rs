//! One function per subcommand, each returning the exit code of a run that did not fail.

use super::show::{count, expiry, human_size, issue_line, out, plural, progress, report_entry};
use super::{fail, lib_json, object_arg, open, resolve, usage, Cli, Cmd, Fail, Order, Res};
use clap::ValueEnum;
use serde_json::{json, Map, Value};
use std::io::{self, IsTerminal, Read, Write};

pub fn run(cli: &Cli) -> Res<u8> {
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
        Cmd::List { filter, limit, order } => list(cli, filter.as_deref(), *limit, *order)?,
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
            cacheness::cache::keys::params_key(params_json).map_err(|e| Fail::from(e.context("PARAMS_JSON")))?;
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
        Cmd::Verify { deep } => return verify(cli, *deep),
        Cmd::Repair { dry_run } => repair(cli, *dry_run)?,
        Cmd::CleanupExpired => {
            let n = open(cli, false)?.cleanup_expired()?;
            count(json, n, format!("removed {}", plural(n, "expired entry", "expired entries")))?;
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
            let n = n?;
            count(json, n, format!("exported {} to {file}", plural(n, "entry", "entries")))?;
        }
        Cmd::Import { file, overwrite } => {
            let cache = open(cli, true)?;
            let pb = progress(None, "importing");
            let n = cache.import(file, Some(&json!({ "overwrite": overwrite }).to_string()));
            pb.finish_and_clear();
            let n = n?;
            count(json, n, format!("imported {} from {file}", plural(n, "entry", "entries")))?;
        }
        Cmd::Delete { filter } => {
            let Some(filter) = filter else {
                return Err(usage("delete needs --filter JSON (--filter '{}' deletes every live entry)"));
            };
            object_arg("--filter", filter)?;
            let n = open(cli, false)?.delete_where(filter)?;
            count(json, n, format!("deleted {}", plural(n, "entry", "entries")))?;
        }
        Cmd::Orphans { cleanup: true } => {
            let n = open(cli, false)?.cleanup_orphans()?;
            count(json, n, format!("removed {}", plural(n, "orphaned file", "orphaned files")))?;
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
            out(&format!(
                "{} ({total}); remove with --cleanup",
                plural(list.len() as u64, "orphaned file", "orphaned files")
            ))?;
            for f in &list {
                let temp = if f["temporary"] == true { " (temporary)" } else { "" };
                out(&format!("  {}{temp}", f["path"].as_str().unwrap_or("?")))?;
            }
        }
    }
    Ok(0)
}

/// Every page of the listing (up to `limit` entries): a table, or one `{"entries": [...]}`.
fn list(cli: &Cli, filter: Option<&str>, limit: Option<u64>, order: Order) -> Res<()> {
    let json = cli.json;
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
        let page = lib_json(&cache.list(filter, Some(&opts))?);
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
        (false, n) => writeln!(o, "{}", plural(n, "entry", "entries"))?,
    }
    o.flush()?;
    Ok(())
}

/// Exit code 1 when the report is not ok.
fn verify(cli: &Cli, deep: bool) -> Res<u8> {
    let json = cli.json;
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
        let verdict = if ok { "ok".to_string() } else { plural(issues.len() as u64, "issue", "issues") };
        out(&format!("verified {}: {verdict}", plural(v["checked"].as_u64().unwrap_or(0), "entry", "entries")))?;
        for i in &issues {
            out(&issue_line(i))?;
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn repair(cli: &Cli, dry_run: bool) -> Res<()> {
    let json = cli.json;
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
        return out(&report);
    }
    let v = lib_json(&report);
    let issues = v["issues"].as_array().cloned().unwrap_or_default();
    let (entries, files) = if dry_run {
        let n = |a: &str| issues.iter().filter(|i| i["action"] == a).count() as u64;
        (n("would_remove_entry"), n("would_remove_file"))
    } else {
        (v["removed_entries"].as_u64().unwrap_or(0), v["removed_files"].as_u64().unwrap_or(0))
    };
    let what = match (issues.is_empty(), dry_run) {
        (true, _) => "nothing to repair".to_string(),
        (false, dry) => format!(
            "{} {} and {}",
            if dry { "would remove" } else { "removed" },
            plural(entries, "entry", "entries"),
            plural(files, "file", "files")
        ),
    };
    out(&format!("checked {}: {what}", plural(v["checked"].as_u64().unwrap_or(0), "entry", "entries")))?;
    for i in &issues {
        out(&issue_line(i))?;
    }
    Ok(())
}
