//! The named-key blob store (the original design's `BlobStore`): caller-chosen names like
//! `old_models/model_v1`, no TTL, the same storage and integrity checks as the cache.
//! A name is never a path: blob files are named by a hash.

use super::config::{self, OpenConfig};
use super::core::{is_stale, merge_patch, metadata_text, render, Core, READ_RETRIES};
use super::ops::{clear, page, COPY_RETRIES};
use super::time::now_ms;
use crate::error::{Code, Error, Result};
use crate::storage::filter::Cond;
use crate::storage::{Action, Filter, Outcome, Payload, Record};
use serde_json::Value;

pub struct Store {
    pub(crate) core: Core,
}

pub const MAX_NAME_BYTES: usize = 1024;

/// Checks a store name: 1..1024 bytes, `/`-separated segments, none empty, `.` or `..`,
/// no leading `/`, no NUL or control characters.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(format!("a store name is 1..{MAX_NAME_BYTES} bytes")));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid("a store name may not contain NUL or control characters"));
    }
    if name.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(Error::invalid(format!(
            "unsafe store name {name:?}: no leading '/', no empty, '.' or '..' segment"
        )));
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.len() > MAX_NAME_BYTES || prefix.chars().any(char::is_control) {
        return Err(Error::invalid("a name prefix is at most 1024 bytes, without control characters"));
    }
    Ok(())
}

fn by_prefix(prefix: Option<&str>) -> Result<Filter> {
    match prefix {
        None | Some("") => Ok(Filter::all()),
        Some(p) => {
            check_prefix(p)?;
            Ok(Filter::all().with(Cond::KeyPrefix(p.to_string())))
        }
    }
}

impl Store {
    /// Opens a store: the cache's config less `default_ttl_seconds` and `max_size_bytes`.
    pub fn open(config_json: Option<&str>) -> Result<Store> {
        let cfg: OpenConfig = config::parse(config_json, "config")?;
        if cfg.default_ttl_seconds.is_some() || cfg.max_size_bytes.is_some() {
            return Err(Error::invalid("a store takes no default_ttl_seconds or max_size_bytes"));
        }
        Ok(Store { core: Core::open(&cfg, 's')? })
    }

    fn ns(&self) -> &str {
        &self.core.ns
    }

    /// Stores `data` under `name`, replacing what was there; `metadata_json` an object or None.
    pub fn put(&self, name: &str, data: &[u8], metadata_json: Option<&str>) -> Result<()> {
        check_name(name)?;
        let metadata = match metadata_json {
            None => "{}".to_string(),
            Some(s) => {
                let v: Value = super::keys::parse_strict(s).map_err(|e| e.context("metadata"))?;
                metadata_text(Some(&v))?
            }
        };
        let prep = self.core.prepare(name, data)?;
        let now = now_ms();
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            let mut rec = Record {
                key: name.to_string(),
                data_type: "bytes".into(),
                size: prep.size,
                content_hash: prep.content_hash.clone(),
                version: current[0].as_ref().map_or(1, |o| o.version + 1),
                created_at: now,
                accessed_at: now,
                metadata: metadata.clone(),
                blob: prep.blob.clone(),
                ..Record::default()
            };
            self.core.sign(&mut rec);
            Ok(vec![Action::Put(rec, prep.payload.clone())])
        };
        match self.core.meta.transact(self.ns(), &[name], None, &mut body) {
            Ok(out) => {
                drop(prep);
                self.core.finish(&out);
                Ok(())
            }
            Err(e) => {
                self.core.discard(prep);
                Err(e)
            }
        }
    }

    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        check_name(name)?;
        let mut tries = 0;
        loop {
            let found = self.core.meta.read(self.ns(), &[name], &Filter::all(), Some(now_ms()))?;
            let result = match found.into_iter().next().flatten() {
                None => Ok(None),
                Some((rec, inline)) => self.core.load(&rec, inline).map(Some),
            };
            match result {
                // Replaced by a writer while we read it: read again.
                Err(e) if is_stale(&e) && tries < READ_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    fn record(&self, name: &str) -> Result<Option<Record>> {
        check_name(name)?;
        match self.core.meta.get(self.ns(), name)? {
            None => Ok(None),
            Some(r) => {
                self.core.check_record(&r)?;
                Ok(Some(r))
            }
        }
    }

    pub fn get_metadata(&self, name: &str) -> Result<Option<String>> {
        Ok(self.record(name)?.map(|r| render(&r, false).to_string()))
    }

    pub fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.record(name)?.is_some())
    }

    #[allow(clippy::type_complexity)]
    fn modify(&self, name: &str, f: &mut dyn FnMut(&Record, i64) -> Result<(Record, Payload)>) -> Result<bool> {
        check_name(name)?;
        let now = now_ms();
        let mut found = false;
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            let Some(old) = &current[0] else { return Ok(vec![Action::Nothing]) };
            if !self.core.signature_ok(old) {
                return Err(Error::corrupt(format!("entry {name:?} failed its integrity check (corrupted_signature)")));
            }
            found = true;
            let (mut rec, payload) = f(old, now)?;
            self.core.sign(&mut rec);
            Ok(vec![Action::Put(rec, payload)])
        };
        let out = self.core.meta.transact(self.ns(), &[name], None, &mut body)?;
        self.core.finish(&out);
        Ok(found)
    }

    pub fn update_metadata(&self, name: &str, patch_json: &str) -> Result<bool> {
        let patch: Value = super::keys::parse_strict(patch_json).map_err(|e| e.context("patch"))?;
        merge_patch("{}", &patch)?;
        self.modify(name, &mut |old, _| {
            let mut rec = old.clone();
            rec.metadata = merge_patch(&old.metadata, &patch)?;
            if rec.metadata != old.metadata {
                rec.version += 1;
            }
            Ok((rec, Payload::Keep))
        })
    }

    pub fn update_data(&self, name: &str, data: &[u8]) -> Result<bool> {
        check_name(name)?;
        let prep = self.core.prepare(name, data)?;
        let result = self.modify(name, &mut |old, now| {
            let mut rec = old.clone();
            rec.size = prep.size;
            rec.content_hash = prep.content_hash.clone();
            rec.blob = prep.blob.clone();
            rec.version += 1;
            rec.created_at = now;
            Ok((rec, prep.payload.clone()))
        });
        match result {
            Ok(true) => Ok(true),
            other => {
                self.core.discard(prep);
                other
            }
        }
    }

    /// Updates accessed_at (and access_count) without reading the data.
    pub fn touch(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        let found = self.core.meta.read(self.ns(), &[name], &Filter::all(), Some(now_ms()))?;
        Ok(found.into_iter().next().flatten().is_some())
    }

    pub fn delete(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        let mut existed = false;
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            existed = current[0].is_some();
            Ok(vec![if existed { Action::Delete } else { Action::Nothing }])
        };
        let out = self.core.meta.transact(self.ns(), &[name], None, &mut body)?;
        self.core.finish(&out);
        Ok(existed)
    }

    /// One page of entries whose names start with `prefix` (None: all), in name order.
    pub fn list(&self, prefix: Option<&str>, options_json: Option<&str>) -> Result<String> {
        page(&self.core, &by_prefix(prefix)?, options_json, false)
    }

    pub fn delete_by_prefix(&self, prefix: &str) -> Result<u64> {
        let (n, blobs) = self.core.meta.delete_where(self.ns(), &by_prefix(Some(prefix))?)?;
        self.core.finish(&Outcome { dead_blobs: blobs, evicted: 0 });
        Ok(n)
    }

    pub fn copy(&self, src: &str, dest: &str, overwrite: bool) -> Result<bool> {
        self.copy_or_move(src, dest, overwrite, false)
    }

    pub fn move_entry(&self, src: &str, dest: &str, overwrite: bool) -> Result<bool> {
        self.copy_or_move(src, dest, overwrite, true)
    }

    fn copy_or_move(&self, src: &str, dest: &str, overwrite: bool, is_move: bool) -> Result<bool> {
        check_name(src)?;
        check_name(dest)?;
        if src == dest {
            return Err(Error::invalid("source and destination are the same name"));
        }
        for _ in 0..COPY_RETRIES {
            let Some((srec, inline)) =
                self.core.meta.read(self.ns(), &[src], &Filter::all(), None)?.into_iter().next().flatten()
            else {
                return Ok(false);
            };
            self.core.check_record(&srec)?;
            let Some((payload, blob, guard)) = self.core.copy_payload(&srec, inline, dest, is_move)? else {
                continue; // the source changed while we read it
            };
            let mut moved = false;
            let now = now_ms();
            let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
                let Some(s) = current[0].as_ref().filter(|s| s.version == srec.version && s.blob == srec.blob) else {
                    return Ok(vec![Action::Nothing, Action::Nothing]); // changed since read
                };
                if current[1].is_some() && !overwrite {
                    return Err(Error::new(Code::Exists, format!("{dest:?} exists (pass overwrite to replace it)")));
                }
                let mut rec = s.clone();
                rec.key = dest.to_string();
                rec.blob = blob.clone();
                rec.version = current[1].as_ref().map_or(1, |o| o.version + 1);
                rec.created_at = now;
                rec.accessed_at = now;
                rec.access_count = 0;
                self.core.sign(&mut rec);
                moved = true;
                Ok(vec![if is_move { Action::Delete } else { Action::Nothing }, Action::Put(rec, payload.clone())])
            };
            let result = self.core.meta.transact(self.ns(), &[src, dest], None, &mut body);
            drop(guard);
            let discard = || {
                if !is_move {
                    if let Some(b) = &blob {
                        let _ = self.core.blobs.delete(b);
                    }
                }
            };
            match result {
                Ok(out) if moved => {
                    self.core.finish(&out);
                    return Ok(true);
                }
                // Not moved: the source changed since it was read; read it again.
                Ok(_) => discard(),
                Err(e) => {
                    discard();
                    return Err(e);
                }
            }
        }
        Err(Error::new(Code::Busy, "the source kept changing during copy/move; try again"))
    }

    pub fn clear(&self) -> Result<u64> {
        clear(&self.core)
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }
}
