//! Export and import (tar / tar.gz with a manifest; or one JSON document).
//!
//! ## Tar format (`format_version` 1)
//!
//! A tar file (gzip-compressed with `compress`, the default) whose members are, in order:
//! - `manifest.json`, first: `{"format": "cacheness-archive", "format_version": 1,
//!   "created_at": RFC 3339, "entries": [{"cache_key", "params", "data_type", "description",
//!   "size", "content_hash", "created_at", "expires_at", "metadata"}]}`;
//! - `blobs/<64 hex>`: the data of every entry whose `content_hash` is `sha256:<64 hex>`, stored
//!   once per distinct content hash.
//!
//! Export pages through the records (500 at a time), checks each entry's data (signature, size,
//! hash) and appends new contents to a spool file next to the destination while it collects
//! the manifest; then it writes manifest and blobs to a temporary file in the destination's
//! directory and renames it into place. A failed export leaves no file behind. An entry whose
//! data fails its check is removed, as a get does, and the export fails with `CACHENESS_CORRUPT`.
//!
//! ## JSON format
//!
//! `{"format": "cacheness-json", "format_version": 1, "entries": [{...same fields..., "data":
//! base64}]}` (standard alphabet, with padding).
//!
//! ## Import
//!
//! All or nothing. Everything is read and verified first: member types and names (only regular
//! files named exactly `manifest.json` or `blobs/<64 hex>`; links, devices, directories,
//! absolute names and `..` are refused; nothing is ever unpacked to a path), each entry's key
//! against its params, each blob against its name, and each entry's size and content hash.
//! The data of every entry to import is written to a new blob (or kept for inline storage) as
//! its member is read, through [`Core::prepare`], with the blob's guard held until the commit.
//! Then one transaction over all keys writes the entries; on any failure the new blobs are
//! removed again and nothing changes. Entries already expired are skipped; with `overwrite`
//! false (the default) a live entry in the cache is kept. Imported entries keep the archive's
//! `created_at` and `expires_at`; `accessed_at` is the import time, `access_count` 0, `version`
//! one more than the replaced record's (or 1).
//!
//! Limits: the manifest is held in memory (at most [`MAX_MANIFEST_BYTES`]), and so is one
//! value at a time while it is verified and written (the blob store takes a byte slice), plus
//! the inline-sized values to import (each at most `inline_max_bytes`). Each value stored as a
//! blob holds one open file (its guard) until the commit, up to [`MAX_HELD_GUARDS`]; past
//! that, further blobs are checked to still exist just before the commit instead, which leaves
//! a short window in which a concurrent orphan cleanup could remove one (the import then fails
//! with `CACHENESS_BUSY`, or, inside the commit itself, the entry reads as missing_file).

use super::config::{self, ExportOptions, ImportOptions};
use super::core::{content_hash, metadata_text, Core, Prepared};
use super::keys::{is_key, sha256_hex};
use super::time::{format_ms, now_ms, parse_ms};
use super::{filter, Cache};
use crate::error::{Code, Error, Result};
use crate::storage::{Action, BlobGuard, Filter, Loaded, Order, Record, Value as SortValue};
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Records read per page.
const PAGE: usize = 500;
const FORMAT_TAR: &str = "cacheness-archive";
const FORMAT_JSON: &str = "cacheness-json";
const FORMAT_VERSION: u64 = 1;
const MANIFEST: &str = "manifest.json";
/// Largest manifest an import reads (it is held in memory).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 30;
/// Blob guards (open files) an import holds at most until its commit.
pub const MAX_HELD_GUARDS: usize = 256;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl Cache {
    /// Writes the entries matching the `filter` option to a tar (`compress`: tar.gz) file at
    /// `path`, replacing it atomically. Returns the number of entries written.
    pub fn export(&self, path: &str, options_json: Option<&str>) -> Result<u64> {
        let opts: ExportOptions = config::parse(options_json, "export options")?;
        let now = now_ms();
        let f = filter::from_value(opts.filter.as_ref(), now)?;
        let compress = opts.compress.unwrap_or(true);
        let (dest, dir) = destination(path)?;

        // Pass over the records: manifest entries in memory, distinct contents to a spool file.
        let mut spool = TempFile::create(&dir, "spool")?;
        let mut blobs: Vec<(String, u64)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut entries = Vec::new();
        let count = {
            let mut w = BufWriter::new(&spool.file);
            let n = each_entry(&self.core, &f, &mut |rec, data| {
                let hex = hash_hex(&rec.content_hash).to_string();
                if seen.insert(hex.clone()) {
                    w.write_all(&data).map_err(|e| io_err("cannot write the export spool file", e))?;
                    blobs.push((hex, data.len() as u64));
                }
                entries.push(entry_json(rec));
                Ok(())
            })?;
            w.flush().map_err(|e| io_err("cannot write the export spool file", e))?;
            n
        };
        spool.file.seek(SeekFrom::Start(0))?;
        let manifest = json!({
            "format": FORMAT_TAR,
            "format_version": FORMAT_VERSION,
            "created_at": format_ms(now),
            "entries": entries,
        })
        .to_string()
        .into_bytes();
        drop(seen);

        // The archive: manifest first, then the blobs, into a temporary file renamed at the end.
        let out = TempFile::create(&dir, "tmp")?;
        let mtime = (now / 1000).max(0) as u64;
        let mut spool_reader = BufReader::new(&spool.file);
        let w = BufWriter::new(&out.file);
        let written = if compress {
            let gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
            write_tar(gz, &manifest, &blobs, &mut spool_reader, mtime).and_then(|gz| gz.finish())
        } else {
            write_tar(w, &manifest, &blobs, &mut spool_reader, mtime)
        };
        written
            .and_then(|mut w| w.flush())
            .and_then(|()| out.file.sync_all())
            .map_err(|e| io_err("cannot write the archive", e))?;
        drop(spool_reader);
        drop(spool);
        out.persist(&dest)?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(count)
    }

    /// Imports a tar or tar.gz file written by [`Cache::export`] (`overwrite` option).
    /// All or nothing; returns the number of entries imported.
    pub fn import(&self, path: &str, options_json: Option<&str>) -> Result<u64> {
        let opts: ImportOptions = config::parse(options_json, "import options")?;
        if path.is_empty() {
            return Err(Error::invalid("import: path must not be empty"));
        }
        let file = File::open(path).map_err(|e| io_err(&format!("cannot open archive {path}"), e))?;
        let mut reader = BufReader::new(file);
        let gz =
            reader.fill_buf().map_err(|e| io_err(&format!("cannot read archive {path}"), e))?.starts_with(&GZIP_MAGIC);
        let stream: Box<dyn Read> =
            if gz { Box::new(flate2::read::MultiGzDecoder::new(reader)) } else { Box::new(reader) };
        let mut archive = tar::Archive::new(stream);
        let mut importer: Option<Importer<'_>> = None;
        let mut members: HashSet<String> = HashSet::new();
        // Raw entries: GNU long names and pax headers are not members of this format.
        let entries = archive.entries().map_err(unreadable)?.raw(true);
        for entry in entries {
            let mut entry = entry.map_err(unreadable)?;
            let member = member_of(&entry)?;
            match (member, importer.as_mut()) {
                (Member::Manifest, None) => {
                    let size = entry.size();
                    if size > MAX_MANIFEST_BYTES {
                        return Err(Error::corrupt(format!(
                            "manifest.json is {size} bytes, more than the {MAX_MANIFEST_BYTES} an import reads"
                        )));
                    }
                    let text = read_member(&mut entry, size)?;
                    let doc: Value = serde_json::from_slice(&text)
                        .map_err(|e| Error::corrupt(format!("manifest.json is not valid JSON: {e}")))?;
                    let list = document_entries(&doc, FORMAT_TAR)?;
                    importer = Some(Importer::new(self, list, now_ms())?);
                }
                (Member::Manifest, Some(_)) => {
                    return Err(Error::corrupt("manifest.json appears twice in the archive"))
                }
                (Member::Blob(_), None) => {
                    return Err(Error::corrupt("manifest.json must be the first member of the archive"))
                }
                (Member::Blob(hex), Some(imp)) => {
                    if !members.insert(hex.clone()) {
                        return Err(Error::corrupt(format!("member blobs/{hex} appears twice in the archive")));
                    }
                    imp.blob_member(&hex, &mut entry)?;
                }
            }
        }
        let importer = importer.ok_or_else(|| Error::corrupt("the archive has no manifest.json"))?;
        importer.commit(opts.overwrite.unwrap_or(false))
    }

    /// The entries matching the `filter` option as one JSON document, data base64-encoded.
    pub fn export_json(&self, options_json: Option<&str>) -> Result<String> {
        let opts: ExportOptions = config::parse(options_json, "export options")?;
        if opts.compress.is_some() {
            return Err(Error::invalid("export options: compress applies to export to a file only"));
        }
        let f = filter::from_value(opts.filter.as_ref(), now_ms())?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut entries = Vec::new();
        each_entry(&self.core, &f, &mut |rec, data| {
            let mut e = entry_json(rec);
            e["data"] = Value::String(b64.encode(&data));
            entries.push(e);
            Ok(())
        })?;
        Ok(json!({ "format": FORMAT_JSON, "format_version": FORMAT_VERSION, "entries": entries }).to_string())
    }

    /// Imports a document written by [`Cache::export_json`] (`overwrite` option).
    /// All or nothing; returns the number of entries imported.
    pub fn import_json(&self, doc_json: &str, options_json: Option<&str>) -> Result<u64> {
        let opts: ImportOptions = config::parse(options_json, "import options")?;
        let doc: Value =
            serde_json::from_value(super::keys::parse_document(doc_json).map_err(|e| e.context("import_json"))?)
                .map_err(|e| Error::invalid(format!("import_json: {e}")))?;
        let list = document_entries(&doc, FORMAT_JSON)?;
        let mut importer = Importer::new(self, list, now_ms())?;
        let b64 = base64::engine::general_purpose::STANDARD;
        for (i, e) in list.iter().enumerate() {
            let text = e
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::corrupt(format!("entry {i}: data must be a base64 string")))?;
            let data = b64
                .decode(text)
                .map_err(|err| Error::corrupt(format!("entry {i}: data is not valid base64: {err}")))?;
            if sha256_hex(&data) != importer.entries[i].hex {
                return Err(Error::corrupt(format!(
                    "entry {i} ({}): data does not match its content_hash",
                    importer.entries[i].rec.key
                )));
            }
            importer.fill(&[i], &data)?;
        }
        importer.commit(opts.overwrite.unwrap_or(false))
    }
}

// ---------------------------------------------------------------------------------------------
// Export

/// The destination path and its directory (where the temporary files go).
fn destination(path: &str) -> Result<(PathBuf, PathBuf)> {
    if path.is_empty() {
        return Err(Error::invalid("export: path must not be empty"));
    }
    let dest = PathBuf::from(path);
    if dest.file_name().is_none() {
        return Err(Error::invalid(format!("export: {path:?} does not name a file")));
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dest, dir))
}

fn io_err(what: &str, e: io::Error) -> Error {
    Error::io(format!("{what}: {e}"))
}

/// The 64 hex of a `sha256:<64 hex>` content hash (checked by the caller).
fn hash_hex(content_hash: &str) -> &str {
    content_hash.strip_prefix("sha256:").unwrap_or(content_hash)
}

/// The manifest entry of a record (API.md metadata fields less the access bookkeeping).
fn entry_json(r: &Record) -> Value {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::Object(Map::new()));
    json!({
        "cache_key": r.key,
        "params": parse(&r.params),
        "data_type": r.data_type,
        "description": r.description,
        "size": r.size,
        "content_hash": r.content_hash,
        "created_at": format_ms(r.created_at),
        "expires_at": r.expires_at.map(format_ms),
        "metadata": parse(&r.metadata),
    })
}

/// Calls `visit` with every entry matching `f` and its checked data, a page of records at a
/// time in key order. Returns the number of entries visited.
fn each_entry(core: &Core, f: &Filter, visit: &mut dyn FnMut(&Record, Vec<u8>) -> Result<()>) -> Result<u64> {
    let mut after: Option<(SortValue, String)> = None;
    let mut n = 0;
    loop {
        let page = core.meta.list(&core.ns, f, Order::Key, after.as_ref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some((SortValue::Text(last.key.clone()), last.key.clone()));
        let keys: Vec<&str> = page.iter().map(|r| r.key.as_str()).collect();
        for item in core.meta.read(&core.ns, &keys, f, None)?.into_iter().flatten() {
            if let Some((rec, data)) = checked_data(core, f, item)? {
                visit(&rec, data)?;
                n += 1;
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(n)
}

/// The data of a record read for export, checked like a get does (signature, size) and
/// always against its content hash. A blob that vanished because the entry was replaced or
/// deleted meanwhile is not an error: the entry is read again (or skipped if gone).
fn checked_data(core: &Core, f: &Filter, item: Loaded) -> Result<Option<(Record, Vec<u8>)>> {
    let (mut rec, mut inline) = item;
    for _ in 0..5 {
        core.check_record(&rec)?;
        let data = match (&rec.blob, inline.take()) {
            (Some(id), _) => match core.blobs.get(id) {
                Ok(Some(d)) => d,
                Ok(None) => match core.meta.read(&core.ns, &[&rec.key], f, None)?.into_iter().next().flatten() {
                    None => return Ok(None),
                    Some((now, data)) if now.blob != rec.blob || now.version != rec.version => {
                        rec = now;
                        inline = data;
                        continue;
                    }
                    Some(_) => return Err(core.reject(&rec, "missing_file")),
                },
                Err(e) if e.code == Code::Corrupt => return Err(core.reject(&rec, "invalid_record")),
                Err(e) => return Err(e),
            },
            (None, Some(d)) => d,
            (None, None) => return Err(core.reject(&rec, "invalid_record")),
        };
        if data.len() as u64 != rec.size {
            return Err(core.reject(&rec, "size_mismatch"));
        }
        if content_hash(&data) != rec.content_hash {
            return Err(core.reject(&rec, "hash_mismatch"));
        }
        return Ok(Some((rec, data)));
    }
    Err(Error::new(Code::Busy, format!("entry {} kept changing during export; try again", rec.key)))
}

fn write_tar<W: Write>(
    w: W,
    manifest: &[u8],
    blobs: &[(String, u64)],
    spool: &mut dyn Read,
    mtime: u64,
) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    let header = |size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h
    };
    b.append_data(&mut header(manifest.len() as u64), MANIFEST, manifest)?;
    for (hex, len) in blobs {
        let mut part = spool.take(*len);
        b.append_data(&mut header(*len), format!("blobs/{hex}"), &mut part)?;
        if part.limit() != 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the export spool file is short"));
        }
    }
    b.into_inner()
}

/// A file created next to the destination, removed on drop unless persisted.
struct TempFile {
    path: PathBuf,
    file: File,
    keep: bool,
}

impl TempFile {
    fn create(dir: &Path, kind: &str) -> Result<TempFile> {
        let mut last = None;
        for _ in 0..16 {
            let path = dir.join(format!(".cacheness-export.{:016x}.{kind}", rand::random::<u64>()));
            match OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
                Ok(file) => return Ok(TempFile { path, file, keep: false }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(io_err(&format!("cannot create {}", path.display()), e)),
            }
        }
        Err(io_err("cannot create a temporary file", last.unwrap_or_else(|| io::Error::other("name clash"))))
    }

    fn persist(mut self, dest: &Path) -> Result<()> {
        fs::rename(&self.path, dest)
            .map_err(|e| io_err(&format!("cannot move the archive to {}", dest.display()), e))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Import

fn unreadable(e: io::Error) -> Error {
    Error::corrupt(format!("the archive is not a readable tar file: {e}"))
}

/// The only members an archive may have.
#[derive(Debug, PartialEq, Eq)]
enum Member {
    Manifest,
    Blob(String),
}

/// Checks one member's type and name (before any of its data is read).
fn member_of<R: Read>(entry: &tar::Entry<'_, R>) -> Result<Member> {
    let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let kind = entry.header().entry_type();
    if !kind.is_file() {
        return Err(Error::corrupt(format!(
            "archive member {name:?} is not a regular file ({kind:?}); links, devices, directories and \
             extension headers are refused"
        )));
    }
    member_name(&name)
}

fn member_name(name: &str) -> Result<Member> {
    if name == MANIFEST {
        return Ok(Member::Manifest);
    }
    match name.strip_prefix("blobs/") {
        Some(hex) if is_key(hex) => Ok(Member::Blob(hex.to_string())),
        _ => Err(Error::corrupt(format!(
            "archive member {name:?} is refused: only manifest.json and blobs/<64 hex> may appear \
             (no absolute names, no ..)"
        ))),
    }
}

/// Reads a member of `size` bytes (already checked) completely.
fn read_member(r: &mut dyn Read, size: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size.min(1 << 24) as usize);
    r.take(size).read_to_end(&mut buf).map_err(unreadable)?;
    if buf.len() as u64 != size {
        return Err(Error::corrupt("the archive is truncated"));
    }
    Ok(buf)
}

/// The entries array of a manifest or JSON document, after its format checks.
fn document_entries<'v>(doc: &'v Value, format: &str) -> Result<&'v [Value]> {
    let what = if format == FORMAT_TAR { "manifest.json" } else { "the document" };
    let Some(obj) = doc.as_object() else {
        return Err(Error::invalid(format!("{what} must be a JSON object")));
    };
    match obj.get("format").and_then(Value::as_str) {
        Some(f) if f == format => {}
        other => {
            return Err(Error::invalid(format!("{what}: format is {other:?}, expected {format:?}")));
        }
    }
    match obj.get("format_version").and_then(Value::as_u64) {
        Some(FORMAT_VERSION) => {}
        other => {
            return Err(Error::invalid(format!(
                "{what}: format_version {other:?} is not supported (this library reads {FORMAT_VERSION})"
            )))
        }
    }
    obj.get("entries")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| Error::corrupt(format!("{what}: entries must be an array")))
}

/// One entry of the archive, checked, and what happens to it.
struct Planned {
    /// The record to write, less version and the access bookkeeping (set at commit).
    rec: Record,
    /// 64 hex of the content hash.
    hex: String,
    /// Already expired: verified but not imported.
    expired: bool,
    /// The data has been seen and verified.
    filled: bool,
    prep: Option<Prepared>,
    /// The guard of `prep`'s blob was released early (see MAX_HELD_GUARDS).
    unguarded: bool,
}

fn parse_entry(v: &Value, i: usize, now: i64) -> Result<Planned> {
    let bad = |what: String| Error::corrupt(format!("entry {i}: {what}"));
    let Some(o) = v.as_object() else { return Err(bad("not a JSON object".into())) };
    let text = |name: &str, default: Option<&'static str>| -> Result<String> {
        match (o.get(name), default) {
            (Some(Value::String(s)), _) => Ok(s.clone()),
            (None, Some(d)) => Ok(d.to_string()),
            _ => Err(bad(format!("{name} must be a string"))),
        }
    };
    let time = |name: &str, s: &str| parse_ms(s, name).map_err(|e| bad(e.message));
    let key = text("cache_key", None)?;
    let params = o.get("params").filter(|p| p.is_object()).ok_or_else(|| bad("params must be an object".into()))?;
    // Canonical params may hold integers beyond 2^53 (JCS prints 1e20 in full): canonicalize
    // the parsed value rather than re-reading it with the strict input rules.
    let canonical = super::keys::canonical_value(params);
    let computed = sha256_hex(canonical.as_bytes());
    if computed != key {
        return Err(bad(format!("cache_key {key:?} is not the key of its params ({computed})")));
    }
    let size =
        o.get("size").and_then(Value::as_u64).ok_or_else(|| bad("size must be a non-negative integer".into()))?;
    let hash = text("content_hash", None)?;
    let hex = match hash.strip_prefix("sha256:") {
        Some(h) if is_key(h) => h.to_string(),
        _ => return Err(bad(format!("content_hash {hash:?} is not sha256:<64 lowercase hex>"))),
    };
    let created_at = match o.get("created_at") {
        None => now,
        Some(Value::String(s)) => time("created_at", s)?,
        Some(_) => return Err(bad("created_at must be an RFC 3339 time".into())),
    };
    let expires_at = match o.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(time("expires_at", s)?),
        Some(_) => return Err(bad("expires_at must be an RFC 3339 time or null".into())),
    };
    let metadata = metadata_text(o.get("metadata")).map_err(|e| bad(e.message))?;
    let rec = Record {
        key,
        params: canonical,
        data_type: text("data_type", Some("bytes"))?,
        description: text("description", Some(""))?,
        size,
        content_hash: hash,
        version: 0,
        created_at,
        accessed_at: 0,
        access_count: 0,
        expires_at,
        metadata,
        blob: None,
        signature: String::new(),
    };
    Ok(Planned { rec, hex, expired: expires_at.is_some_and(|e| e <= now), filled: false, prep: None, unguarded: false })
}

/// Collects verified data for the entries of one archive, then commits them in one transaction.
/// Dropped without commit, it removes the blobs it wrote.
struct Importer<'a> {
    cache: &'a Cache,
    entries: Vec<Planned>,
    by_hash: HashMap<String, Vec<usize>>,
    held: usize,
}

impl<'a> Importer<'a> {
    fn new(cache: &'a Cache, list: &[Value], now: i64) -> Result<Importer<'a>> {
        let mut entries = Vec::with_capacity(list.len());
        let mut keys = HashSet::with_capacity(list.len());
        let mut by_hash: HashMap<String, Vec<usize>> = HashMap::new();
        let mut total = 0u64;
        for (i, v) in list.iter().enumerate() {
            let p = parse_entry(v, i, now)?;
            if !keys.insert(p.rec.key.clone()) {
                return Err(Error::corrupt(format!("entry {i}: cache_key {} appears twice", p.rec.key)));
            }
            if let Some(&first) = by_hash.get(&p.hex).and_then(|v| v.first()) {
                let other: &Planned = &entries[first];
                if other.rec.size != p.rec.size {
                    return Err(Error::corrupt(format!(
                        "entries {first} and {i} have the same content_hash but different sizes"
                    )));
                }
            }
            if !p.expired {
                fits(cache, p.rec.size).map_err(|e| e.context(&format!("entry {i}")))?;
                total = total.saturating_add(p.rec.size);
            }
            by_hash.entry(p.hex.clone()).or_default().push(i);
            entries.push(p);
        }
        fits(cache, total)?;
        Ok(Importer { cache, entries, by_hash, held: 0 })
    }

    fn core(&self) -> &'a Core {
        &self.cache.core
    }

    /// A `blobs/<hex>` member: checked against its name and the sizes of its entries, then
    /// written for each entry that uses it.
    fn blob_member(&mut self, hex: &str, member: &mut dyn Read) -> Result<()> {
        let Some(idx) = self.by_hash.get(hex).cloned() else {
            // Not used by any entry: verified, then ignored.
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = member.read(&mut buf).map_err(unreadable)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            if hex::encode(h.finalize()) != hex {
                return Err(Error::corrupt(format!("member blobs/{hex} does not match its content hash")));
            }
            return Ok(());
        };
        let size = self.entries[idx[0]].rec.size;
        // Read one byte more than expected to notice a member that is longer.
        let mut data = Vec::with_capacity(size.min(1 << 24) as usize);
        member.take(size.saturating_add(1)).read_to_end(&mut data).map_err(unreadable)?;
        if data.len() as u64 != size {
            let how = if (data.len() as u64) < size { "shorter" } else { "longer" };
            return Err(Error::corrupt(format!("member blobs/{hex} is {how} than the {size} bytes of its entry")));
        }
        if sha256_hex(&data) != hex {
            return Err(Error::corrupt(format!("member blobs/{hex} does not match its content hash")));
        }
        self.fill(&idx, &data)
    }

    /// Verified data (hash already checked by the caller) for the entries `idx`.
    fn fill(&mut self, idx: &[usize], data: &[u8]) -> Result<()> {
        for &i in idx {
            let core = self.core();
            let p = &mut self.entries[i];
            if data.len() as u64 != p.rec.size {
                return Err(Error::corrupt(format!(
                    "entry {i} ({}): size {} does not match its data ({} bytes)",
                    p.rec.key,
                    p.rec.size,
                    data.len()
                )));
            }
            p.filled = true;
            if p.expired {
                continue;
            }
            let mut prep = core.prepare(&p.rec.key, data)?;
            if prep.blob.is_some() {
                if self.held < MAX_HELD_GUARDS {
                    self.held += 1;
                } else {
                    prep.guard = BlobGuard::none();
                    p.unguarded = true;
                }
            }
            p.prep = Some(prep);
        }
        Ok(())
    }

    /// Writes every live entry in one transaction. Returns how many were written.
    fn commit(mut self, overwrite: bool) -> Result<u64> {
        let core = self.core();
        if let Some(p) = self.entries.iter().find(|p| !p.filled) {
            return Err(Error::corrupt(format!(
                "the archive has no data for entry {} (blobs/{} is missing)",
                p.rec.key, p.hex
            )));
        }
        for p in self.entries.iter().filter(|p| p.unguarded) {
            let prep = p.prep.as_ref().expect("unguarded entries are prepared");
            let id = prep.blob.as_deref().unwrap_or_default();
            if core.blobs.size(id)? != Some(prep.size) {
                return Err(Error::new(
                    Code::Busy,
                    format!(
                        "a blob written for entry {} was removed meanwhile (orphan cleanup?); try again",
                        p.rec.key
                    ),
                ));
            }
        }
        let chosen: Vec<usize> = (0..self.entries.len()).filter(|&i| self.entries[i].prep.is_some()).collect();
        if chosen.is_empty() {
            return Ok(0);
        }
        let keys: Vec<&str> = chosen.iter().map(|&i| self.entries[i].rec.key.as_str()).collect();
        let mut written = vec![false; chosen.len()];
        let entries = &self.entries;
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            let now = now_ms();
            written.iter_mut().for_each(|w| *w = false);
            Ok(chosen
                .iter()
                .zip(current)
                .zip(written.iter_mut())
                .map(|((&i, old), w)| {
                    let live = old.as_ref().is_some_and(|o| o.expires_at.is_none_or(|e| e > now));
                    if live && !overwrite {
                        return Action::Nothing;
                    }
                    let p = &entries[i];
                    let prep = p.prep.as_ref().expect("chosen entries are prepared");
                    let mut rec = p.rec.clone();
                    rec.size = prep.size;
                    rec.content_hash = prep.content_hash.clone();
                    rec.blob = prep.blob.clone();
                    rec.version = old.as_ref().map_or(1, |o| o.version + 1);
                    rec.accessed_at = now;
                    rec.access_count = 0;
                    core.sign(&mut rec);
                    *w = true;
                    Action::Put(rec, prep.payload.clone())
                })
                .collect())
        };
        if self.cache.max_size.is_some() {
            // Evictions go by accessed_at: the hits noted but not yet written count too.
            core.flush_access_best_effort();
        }
        let out = core.meta.transact(&core.ns, &keys, self.cache.max_size, &mut body)?;
        // Committed: release the guards of the blobs now referenced, remove the unused ones.
        for (&i, &w) in chosen.iter().zip(&written) {
            if let Some(p) = self.entries[i].prep.take() {
                if !w {
                    core.discard(p);
                }
            }
        }
        core.finish(&out);
        Ok(written.iter().filter(|w| **w).count() as u64)
    }
}

impl Drop for Importer<'_> {
    fn drop(&mut self) {
        let core = self.core();
        for p in &mut self.entries {
            if let Some(prep) = p.prep.take() {
                core.discard(prep);
            }
        }
    }
}

/// The size limit of the cache, as put applies it.
fn fits(cache: &Cache, size: u64) -> Result<()> {
    match cache.max_size {
        Some(max) if size > max => {
            Err(Error::new(Code::TooLarge, format!("{size} bytes is larger than max_size_bytes ({max})")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_member_names_are_exact() {
        let hex = "ab".repeat(32);
        assert_eq!(member_name("manifest.json").unwrap(), Member::Manifest);
        assert_eq!(member_name(&format!("blobs/{hex}")).unwrap(), Member::Blob(hex.clone()));
        for bad in [
            "../evil".to_string(),
            "/tmp/evil".to_string(),
            "./manifest.json".to_string(),
            format!("blobs/../{}", &hex[..61]),
            format!("/blobs/{hex}"),
            format!("blobs/{}", hex.to_uppercase()),
            format!("blobs/{hex}/x"),
            "blobs/".to_string(),
        ] {
            let e = member_name(&bad).unwrap_err();
            assert_eq!(e.code, Code::Corrupt, "{bad}");
        }
    }

    #[test]
    fn archive_entries_are_checked() {
        let params = json!({"a": 1});
        let (key, _) = crate::cache::keys::params_key(&params.to_string()).unwrap();
        let good = json!({"cache_key": key, "params": params, "size": 0,
            "content_hash": content_hash(b""), "expires_at": null});
        let p = parse_entry(&good, 0, 10).unwrap();
        assert_eq!(p.rec.data_type, "bytes");
        assert!(!p.expired);
        let mut wrong_key = good.clone();
        wrong_key["params"] = json!({"a": 2});
        assert_eq!(parse_entry(&wrong_key, 0, 10).err().unwrap().code, Code::Corrupt);
        let mut expired = good.clone();
        expired["expires_at"] = json!(format_ms(5));
        assert!(parse_entry(&expired, 0, 10).unwrap().expired);
        let mut bad_hash = good;
        bad_hash["content_hash"] = json!("md5:00");
        assert!(parse_entry(&bad_hash, 0, 10).is_err());
    }
}
