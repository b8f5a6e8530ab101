//! verify, repair, find_orphans, cleanup_orphans: the original's verify_integrity,
//! verify_cache_coherence, repair, find_orphaned_files and cleanup_orphaned_files.
//!
//! Records are scanned in key order, a page at a time (never the whole index in memory).
//! Orphans are files of the blob tree that no record of any namespace refers to and that no
//! writer holds; files the library could not have written are never looked at.

use super::config::{self, RepairOptions, VerifyOptions};
use super::core::{content_hash, Core};
use super::store::check_name;
use super::time::now_ms;
use crate::error::{Code, Result};
use crate::storage::{Action, BlobFile, Filter, Record, Scanned};
use serde_json::{json, Value};

const PAGE: usize = 500;

/// Progress of a long check: (items done, items in all, if known).
pub type Progress<'a> = Option<&'a dyn Fn(u64, u64)>;

#[derive(Debug, Clone)]
struct Found {
    key: Option<String>,
    path: Option<String>,
    issue: &'static str,
    /// The record as seen, so repair removes it only if unchanged.
    record: Option<Record>,
    file: Option<BlobFile>,
}

impl Found {
    fn to_json(&self, cache: bool, action: Option<&str>) -> Value {
        let mut v = json!({ "issue": self.issue });
        if let Some(k) = &self.key {
            v[if cache { "cache_key" } else { "key" }] = json!(k);
        }
        if let Some(p) = &self.path {
            v["path"] = json!(p);
        }
        if let Some(a) = action {
            v["action"] = json!(a);
        }
        v
    }
}

/// What is wrong with one well-formed record, if anything (blob checks included).
fn check(
    core: &Core,
    cache: bool,
    r: &Record,
    inline: Option<&[u8]>,
    deep: bool,
    now: i64,
) -> Result<Option<&'static str>> {
    let hash_ok = r.content_hash.strip_prefix("sha256:").is_some_and(super::keys::is_key);
    let meta_ok = serde_json::from_str::<Value>(&r.metadata).is_ok_and(|m| m.is_object());
    let key_ok = if cache {
        // Stored params are canonical text, which may hold integer literals beyond 2^53 (JCS
        // prints 1e20 that way) that the strict input parser refuses: check them leniently.
        super::keys::sha256_hex(r.params.as_bytes()) == r.key
            && serde_json::from_str::<Value>(&r.params)
                .is_ok_and(|v| v.is_object() && super::keys::canonical_value(&v) == r.params)
    } else {
        check_name(&r.key).is_ok()
    };
    if !hash_ok || !meta_ok || !key_ok || r.version == 0 {
        return Ok(Some("invalid_record"));
    }
    if !core.signature_ok(r) {
        return Ok(Some("corrupted_signature"));
    }
    match (&r.blob, inline) {
        (Some(id), _) => match core.blobs.size(id) {
            Err(e) if e.code == Code::Corrupt => return Ok(Some("invalid_record")),
            Err(e) => return Err(e),
            Ok(None) => return Ok(Some("missing_file")),
            Ok(Some(s)) if s != r.size => return Ok(Some("size_mismatch")),
            Ok(Some(_)) if deep => match core.blobs.get(id)? {
                None => return Ok(Some("missing_file")),
                Some(d) if d.len() as u64 != r.size => return Ok(Some("size_mismatch")),
                Some(d) if content_hash(&d) != r.content_hash => return Ok(Some("hash_mismatch")),
                Some(_) => {}
            },
            Ok(Some(_)) => {}
        },
        (None, Some(d)) => {
            if d.len() as u64 != r.size {
                return Ok(Some("size_mismatch"));
            }
            if deep && content_hash(d) != r.content_hash {
                return Ok(Some("hash_mismatch"));
            }
        }
        (None, None) => return Ok(Some("invalid_record")),
    }
    if cache && r.expires_at.is_some_and(|e| e <= now) {
        return Ok(Some("expired_entry"));
    }
    Ok(None)
}

/// True if the entry no longer exists or no longer refers to the blob of `r`.
fn blob_changed(core: &Core, r: &Record) -> Result<bool> {
    let now = core.meta.read(&core.ns, &[&r.key], &Filter::all(), None)?;
    Ok(!matches!(now.into_iter().next().flatten(), Some((c, _)) if c.blob == r.blob))
}

/// Blob files nobody refers to and nobody is writing; and leftover temporary files.
fn orphans(core: &Core, include_temporary: bool) -> Result<Vec<BlobFile>> {
    let files = core.blobs.walk()?;
    let mut out = Vec::new();
    let (temps, blobs): (Vec<BlobFile>, Vec<BlobFile>) = files.into_iter().partition(|f| f.temporary);
    for chunk in blobs.chunks(PAGE) {
        let ids: Vec<String> = chunk.iter().map(|f| f.id.clone()).collect();
        let referenced: std::collections::HashSet<String> = core.meta.referenced_blobs(&ids)?.into_iter().collect();
        out.extend(chunk.iter().filter(|f| !referenced.contains(&f.id) && !core.blobs.is_held(f)).cloned());
    }
    if include_temporary {
        out.extend(temps.into_iter().filter(|f| !core.blobs.is_held(f)));
    }
    Ok(out)
}

fn scan_all(core: &Core, cache: bool, deep: bool, progress: Progress<'_>) -> Result<(u64, Vec<Found>)> {
    let now = now_ms();
    let total = core.meta.totals(&core.ns)?.0;
    let mut found = Vec::new();
    let mut checked = 0u64;
    let mut after: Option<String> = None;
    loop {
        let page = core.meta.scan(&core.ns, after.as_deref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(match last {
            Scanned::Ok(r) => r.key.clone(),
            Scanned::Invalid { key, .. } => key.clone(),
        });
        let inline_keys: Vec<&str> = page
            .iter()
            .filter_map(|s| match s {
                Scanned::Ok(r) if r.blob.is_none() => Some(r.key.as_str()),
                _ => None,
            })
            .collect();
        // Inline entries are judged by the record read together with its data (a writer may
        // have changed or removed the entry since the scan).
        let inline: std::collections::HashMap<String, (Record, Option<Vec<u8>>)> = core
            .meta
            .read(&core.ns, &inline_keys, &Filter::all(), None)?
            .into_iter()
            .flatten()
            .map(|(r, d)| (r.key.clone(), (r, d)))
            .collect();
        for s in &page {
            checked += 1;
            match s {
                Scanned::Invalid { key, .. } => found.push(Found {
                    key: Some(key.clone()),
                    path: None,
                    issue: "invalid_record",
                    record: None,
                    file: None,
                }),
                Scanned::Ok(scanned) => {
                    let (r, data) = match (&scanned.blob, inline.get(&scanned.key)) {
                        (None, Some((now_rec, d))) => (now_rec, d.as_deref()),
                        (None, None) => continue, // removed since the scan
                        (Some(_), _) => (scanned, None),
                    };
                    let issue = match check(core, cache, r, data, deep, now)? {
                        // A writer may have replaced or removed the entry (and its file) since
                        // the scan read it: judge only a file the entry still has.
                        Some(_) if r.blob.is_some() && blob_changed(core, r)? => None,
                        other => other,
                    };
                    if let Some(issue) = issue {
                        let path =
                            r.blob.as_deref().and_then(|b| core.blobs.path_of(b)).map(|p| p.display().to_string());
                        found.push(Found {
                            key: Some(r.key.clone()),
                            path,
                            issue,
                            record: Some(r.clone()),
                            file: None,
                        });
                    }
                }
            }
        }
        if let Some(p) = progress {
            p(checked, total.max(checked));
        }
    }
    for f in orphans(core, false)? {
        found.push(Found {
            key: None,
            path: Some(f.path.clone()),
            issue: "orphaned_file",
            record: None,
            file: Some(f),
        });
    }
    Ok((checked, found))
}

/// verify: `{"ok", "checked", "issues": [...]}`.
pub fn verify(core: &Core, cache: bool, options_json: Option<&str>, progress: Progress<'_>) -> Result<String> {
    let opts: VerifyOptions = config::parse(options_json, "verify options")?;
    let (checked, found) = scan_all(core, cache, opts.deep.unwrap_or(false), progress)?;
    let issues: Vec<Value> = found.iter().map(|f| f.to_json(cache, None)).collect();
    Ok(json!({ "ok": issues.is_empty(), "checked": checked, "issues": issues }).to_string())
}

/// Removes a record only if it is still the one that was judged.
fn remove_if_unchanged(core: &Core, r: &Record) -> Result<bool> {
    let mut removed = false;
    let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
        removed = current[0].as_ref() == Some(r);
        Ok(vec![if removed { Action::Delete } else { Action::Nothing }])
    };
    let out = core.meta.transact(&core.ns, &[&r.key], None, &mut body)?;
    core.finish(&out);
    Ok(removed)
}

fn still_unreferenced(core: &Core, id: &str) -> Result<bool> {
    Ok(core.meta.referenced_blobs(&[id.to_string()])?.is_empty())
}

/// repair: drops broken and expired entries, removes orphans and leftovers.
/// Report: `{"dry_run", "ok", "checked", "issues": [{..., "action"}], "removed_entries", "removed_files"}`.
pub fn repair(core: &Core, cache: bool, options_json: Option<&str>, progress: Progress<'_>) -> Result<String> {
    let opts: RepairOptions = config::parse(options_json, "repair options")?;
    let dry = opts.dry_run.unwrap_or(false);
    let (checked, mut found) = scan_all(core, cache, opts.deep.unwrap_or(true), progress)?;
    for f in orphans(core, true)?.into_iter().filter(|f| f.temporary) {
        found.push(Found {
            key: None,
            path: Some(f.path.clone()),
            issue: "temporary_file",
            record: None,
            file: Some(f),
        });
    }
    let (mut entries, mut files) = (0u64, 0u64);
    let mut issues = Vec::new();
    for f in &found {
        let action = if dry {
            if f.file.is_some() {
                "would_remove_file"
            } else {
                "would_remove_entry"
            }
        } else if let Some(file) = &f.file {
            if core.blobs.remove_unheld(file, &|| still_unreferenced(core, &file.id))? {
                files += 1;
                "removed_file"
            } else {
                "skipped_in_use"
            }
        } else if let Some(r) = &f.record {
            if remove_if_unchanged(core, r)? {
                entries += 1;
                "removed_entry"
            } else {
                "skipped_changed"
            }
        } else {
            let blob = core.meta.remove_raw(&core.ns, f.key.as_deref().unwrap_or_default())?;
            if let Some(b) = blob {
                let _ = core.blobs.delete(&b);
            }
            entries += 1;
            "removed_entry"
        };
        issues.push(f.to_json(cache, Some(action)));
    }
    Ok(json!({
        "dry_run": dry, "ok": found.is_empty(), "checked": checked, "issues": issues,
        "removed_entries": entries, "removed_files": files,
    })
    .to_string())
}

/// find_orphans: `{"count", "total_size", "orphans": [{"path", "size", "temporary"}]}`.
pub fn find_orphans(core: &Core) -> Result<String> {
    let files = orphans(core, true)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let list: Vec<Value> =
        files.iter().map(|f| json!({"path": f.path, "size": f.size, "temporary": f.temporary})).collect();
    Ok(json!({ "count": list.len(), "total_size": total, "orphans": list }).to_string())
}

/// cleanup_orphans: removes what find_orphans lists (if still unheld and unreferenced).
pub fn cleanup_orphans(core: &Core) -> Result<u64> {
    let mut n = 0;
    for f in orphans(core, true)? {
        if core.blobs.remove_unheld(&f, &|| still_unreferenced(core, &f.id))? {
            n += 1;
        }
    }
    Ok(n)
}
