//! The cache handle: keys from params, TTL, hit/miss, and every single-entry, batch and
//! filter operation of API.md. Inputs and outputs are JSON text, as at the C ABI.

use super::config::{self, CopyOptions, ListOptions, OpenConfig, PutOptions, TouchOptions, UpdateDataOptions};
use super::core::{is_stale, merge_patch, metadata_text, render, Core, Counters, READ_RETRIES};
use super::filter;
use super::keys::{is_key, params_key};
use super::time::now_ms;
use crate::error::{Code, Error, Result};
use crate::storage::{Action, Filter, Order, Record, Value as SortValue};
use base64::Engine;
use serde_json::{json, Value};

/// A cache handle. Thread-safe: share it between threads by reference or `Arc`.
pub struct Cache {
    pub(crate) core: Core,
    pub(crate) default_ttl: Option<i64>,
    pub(crate) max_size: Option<u64>,
}

/// One item of [`Cache::put_batch`].
pub struct PutItem<'a> {
    pub params_json: &'a str,
    pub data: &'a [u8],
    pub options_json: Option<&'a str>,
}

/// What a get_batch returns per selector: the key and the data of a hit.
pub type BatchItem = (String, Option<Vec<u8>>);

const MAX_LIST_LIMIT: u64 = 10_000;
/// How often copy/move read a source that keeps changing before CACHENESS_BUSY.
pub(crate) const COPY_RETRIES: usize = 50;

/// The key a selector names: params JSON (starting with `{`) or a 64-hex key.
pub fn selector_key(selector: &str) -> Result<String> {
    if selector.trim_start().starts_with('{') {
        Ok(params_key(selector)?.0)
    } else if is_key(selector) {
        Ok(selector.to_string())
    } else {
        Err(Error::invalid("a selector is params JSON (an object) or a 64-character lowercase hex key"))
    }
}

fn selectors(json: &str) -> Result<Vec<String>> {
    // The common shape, an array of plain strings (keys), without building a JSON tree; any
    // other text (objects, escapes, errors) takes the strict path below.
    if let Ok(plain) = serde_json::from_str::<Vec<&str>>(json) {
        return plain.into_iter().map(selector_key).collect();
    }
    let v: Vec<Value> = serde_json::from_value(super::keys::parse_strict(json).map_err(|e| e.context("selectors"))?)
        .map_err(|_| Error::invalid("selectors must be a JSON array"))?;
    v.iter()
        .map(|s| match s {
            Value::String(s) => selector_key(s),
            // Parsed strictly above, so duplicate names were already refused.
            Value::Object(_) => Ok(params_key(&s.to_string())?.0),
            _ => Err(Error::invalid("each selector is a string (params JSON or key) or a params object")),
        })
        .collect()
}

impl Cache {
    /// Opens a cache (config: API.md "open").
    pub fn open(config_json: Option<&str>) -> Result<Cache> {
        let cfg: OpenConfig = config::parse(config_json, "config")?;
        let default_ttl = match cfg.default_ttl_seconds {
            None | Some(None) => None,
            Some(Some(s)) => Some(config::ttl_ms(s, "default_ttl_seconds")?),
        };
        if cfg.max_size_bytes == Some(0) {
            return Err(Error::invalid("max_size_bytes must be > 0 (null for no limit)"));
        }
        Ok(Cache { core: Core::open(&cfg, 'c')?, default_ttl, max_size: cfg.max_size_bytes })
    }

    fn ns(&self) -> &str {
        &self.core.ns
    }

    /// Before a write that may evict: LRU order must include the hits noted so far.
    fn settle_for_eviction(&self) -> Result<()> {
        if self.max_size.is_some() {
            self.core.flush_access_best_effort();
        }
        Ok(())
    }

    fn check_fits(&self, size: u64) -> Result<()> {
        match self.max_size {
            Some(max) if size > max => {
                Err(Error::new(Code::TooLarge, format!("value of {size} bytes is larger than max_size_bytes ({max})")))
            }
            _ => Ok(()),
        }
    }

    /// Stores `data` under the key of `params_json`, replacing any entry there. Returns the key.
    pub fn put(&self, params_json: &str, data: &[u8], options_json: Option<&str>) -> Result<String> {
        let keys = self.put_batch(&[PutItem { params_json, data, options_json }])?;
        Ok(keys.into_iter().next().unwrap_or_default())
    }

    /// Writes all items or none, in one transaction. Returns their keys.
    pub fn put_batch(&self, items: &[PutItem<'_>]) -> Result<Vec<String>> {
        struct Planned {
            key: String,
            params: String,
            ttl: Option<i64>,
            opts: PutOptions,
            metadata: String,
        }
        let mut plans = Vec::with_capacity(items.len());
        let mut total = 0u64;
        for (i, it) in items.iter().enumerate() {
            let at = |e: Error| if items.len() > 1 { e.context(&format!("item {i}")) } else { e };
            let (key, params) = params_key(it.params_json).map_err(at)?;
            let opts: PutOptions = config::parse(it.options_json, "put options").map_err(at)?;
            let ttl = config::resolve_ttl(opts.ttl_seconds, self.default_ttl).map_err(at)?;
            let metadata = metadata_text(opts.metadata.as_ref()).map_err(at)?;
            self.check_fits(it.data.len() as u64).map_err(at)?;
            total += it.data.len() as u64;
            plans.push(Planned { key, params, ttl, opts, metadata });
        }
        self.check_fits(total)?;
        self.settle_for_eviction()?;
        // A key given twice: the last item wins, as if put one after the other.
        let mut last = std::collections::HashMap::new();
        for (i, p) in plans.iter().enumerate() {
            last.insert(p.key.clone(), i);
        }
        let chosen: Vec<usize> = (0..plans.len()).filter(|i| last[&plans[*i].key] == *i).collect();
        let mut prepared = Vec::with_capacity(chosen.len());
        for &i in &chosen {
            match self.core.prepare(&plans[i].key, items[i].data) {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    prepared.into_iter().for_each(|p| self.core.discard(p));
                    return Err(e);
                }
            }
        }
        let keys: Vec<&str> = chosen.iter().map(|i| plans[*i].key.as_str()).collect();
        let now = now_ms();
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            Ok(chosen
                .iter()
                .zip(current)
                .zip(&prepared)
                .map(|((&i, old), prep)| {
                    let p = &plans[i];
                    let mut rec = Record {
                        key: p.key.clone(),
                        params: p.params.clone(),
                        data_type: p.opts.data_type.clone().unwrap_or_else(|| "bytes".into()),
                        description: p.opts.description.clone().unwrap_or_default(),
                        size: prep.size,
                        content_hash: prep.content_hash.clone(),
                        version: old.as_ref().map_or(1, |o| o.version + 1),
                        created_at: now,
                        accessed_at: now,
                        access_count: 0,
                        expires_at: p.ttl.map(|t| now + t),
                        metadata: p.metadata.clone(),
                        blob: prep.blob.clone(),
                        signature: String::new(),
                    };
                    self.core.sign(&mut rec);
                    Action::Put(rec, prep.payload.clone())
                })
                .collect())
        };
        match self.core.meta.transact(self.ns(), &keys, self.max_size, &mut body) {
            Ok(out) => {
                drop(prepared);
                self.core.finish(&out);
                self.core.forget_access(&keys);
                Ok(plans.into_iter().map(|p| p.key).collect())
            }
            Err(e) => {
                prepared.into_iter().for_each(|p| self.core.discard(p));
                Err(e)
            }
        }
    }

    /// The data of a live entry, or `None` on a miss. A hit updates accessed_at/access_count.
    pub fn get(&self, selector: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_with_metadata_value(selector, false)?.map(|(d, _)| d))
    }

    /// A read with its hit counted. With `show`, earlier hits are written first and the
    /// returned record includes this one, so the metadata shown is exact.
    fn get_with_metadata_value(&self, selector: &str, show: bool) -> Result<Option<(Vec<u8>, Record)>> {
        let key = selector_key(selector)?;
        let mut tries = 0;
        loop {
            match self.read_once(&key, show) {
                Err(e) if is_stale(&e) && tries < READ_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    fn read_once(&self, key: &str, show: bool) -> Result<Option<(Vec<u8>, Record)>> {
        if show {
            self.core.flush_access_best_effort();
        }
        let now = now_ms();
        let found = self.core.meta.read(self.ns(), &[key], &Core::alive(now), None)?;
        match found.into_iter().next().flatten() {
            None => {
                Counters::add(&self.core.counters.misses, 1);
                Ok(None)
            }
            Some((mut rec, inline)) => {
                let data = self.core.load(&rec, inline)?;
                Counters::add(&self.core.counters.hits, 1);
                self.core.note_access(&[(key, rec.version)], now);
                rec.accessed_at = now;
                rec.access_count += 1;
                Ok(Some((data, rec)))
            }
        }
    }

    /// Data and metadata JSON of a live entry.
    pub fn get_with_metadata(&self, selector: &str) -> Result<Option<(Vec<u8>, String)>> {
        Ok(self.get_with_metadata_value(selector, true)?.map(|(d, r)| (d, render(&r, true).to_string())))
    }

    fn live_record(&self, selector: &str) -> Result<Option<Record>> {
        let key = selector_key(selector)?;
        let found = self.core.meta.read(self.ns(), &[&key], &Core::alive(now_ms()), None)?;
        match found.into_iter().next().flatten() {
            None => Ok(None),
            Some((rec, _)) => {
                self.core.check_record(&rec)?;
                Ok(Some(rec))
            }
        }
    }

    /// Metadata JSON of a live entry, without reading its data or counting an access.
    pub fn get_metadata(&self, selector: &str) -> Result<Option<String>> {
        self.core.flush_access_best_effort();
        Ok(self.live_record(selector)?.map(|r| render(&r, true).to_string()))
    }

    pub fn exists(&self, selector: &str) -> Result<bool> {
        Ok(self.live_record(selector)?.is_some())
    }

    /// Removes an entry. True if a live entry was there (an expired one is removed too).
    pub fn delete(&self, selector: &str) -> Result<bool> {
        let key = selector_key(selector)?;
        Ok(self.delete_keys(&[key])? == 1)
    }

    /// Deletes the entries named by a JSON array of selectors; counts the live ones.
    pub fn delete_batch(&self, selectors_json: &str) -> Result<u64> {
        let mut keys = selectors(selectors_json)?;
        keys.sort();
        keys.dedup();
        self.delete_keys(&keys)
    }

    fn delete_keys(&self, keys: &[String]) -> Result<u64> {
        let now = now_ms();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut live = 0;
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            live = current.iter().flatten().filter(|r| r.expires_at.is_none_or(|e| e > now)).count() as u64;
            Ok(current.iter().map(|r| if r.is_some() { Action::Delete } else { Action::Nothing }).collect())
        };
        let out = self.core.meta.transact(self.ns(), &refs, None, &mut body)?;
        self.core.finish(&out);
        Ok(live)
    }

    /// Single-entry read-modify-write on a live entry. `f` returns the new record, or None.
    #[allow(clippy::type_complexity)]
    fn modify(
        &self,
        key: &str,
        limit: Option<u64>,
        f: &mut dyn FnMut(&Record, i64) -> Result<Option<(Record, crate::storage::Payload)>>,
    ) -> Result<bool> {
        let now = now_ms();
        let mut changed = false;
        let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
            let Some(old) = current[0].as_ref().filter(|r| r.expires_at.is_none_or(|e| e > now)) else {
                return Ok(vec![Action::Nothing]);
            };
            if !self.core.signature_ok(old) {
                return Err(Error::corrupt(format!(
                    "entry {} failed its integrity check (corrupted_signature)",
                    old.key
                )));
            }
            Ok(vec![match f(old, now)? {
                Some((mut rec, payload)) => {
                    self.core.sign(&mut rec);
                    changed = true;
                    Action::Put(rec, payload)
                }
                None => Action::Nothing,
            }])
        };
        let out = self.core.meta.transact(self.ns(), &[key], limit, &mut body)?;
        self.core.finish(&out);
        Ok(changed)
    }

    /// Restarts the TTL of a live entry (`ttl_seconds` option; absent: the default).
    pub fn touch(&self, selector: &str, options_json: Option<&str>) -> Result<bool> {
        let key = selector_key(selector)?;
        let opts: TouchOptions = config::parse(options_json, "touch options")?;
        let ttl = config::resolve_ttl(opts.ttl_seconds, self.default_ttl)?;
        self.modify(&key, None, &mut |old, now| {
            let mut rec = old.clone();
            rec.expires_at = ttl.map(|t| now + t);
            Ok(Some((rec, crate::storage::Payload::Keep)))
        })
    }

    /// Replaces the data of a live entry (never creates one). `expected_version` guards it.
    pub fn update_data(&self, selector: &str, data: &[u8], options_json: Option<&str>) -> Result<bool> {
        let key = selector_key(selector)?;
        let opts: UpdateDataOptions = config::parse(options_json, "update_data options")?;
        let ttl = config::resolve_ttl(opts.ttl_seconds, self.default_ttl)?;
        self.check_fits(data.len() as u64)?;
        self.settle_for_eviction()?;
        let prep = self.core.prepare(&key, data)?;
        let result = self.modify(&key, self.max_size, &mut |old, now| {
            if let Some(v) = opts.expected_version {
                if v != old.version {
                    return Err(Error::new(
                        Code::Conflict,
                        format!("expected version {v}, entry is at version {}", old.version),
                    ));
                }
            }
            let mut rec = old.clone();
            rec.size = prep.size;
            rec.content_hash = prep.content_hash.clone();
            rec.blob = prep.blob.clone();
            rec.version = old.version + 1;
            rec.created_at = now;
            rec.expires_at = ttl.map(|t| now + t);
            if let Some(t) = &opts.data_type {
                rec.data_type = t.clone();
            }
            Ok(Some((rec, prep.payload.clone())))
        });
        match result {
            Ok(true) => Ok(true),
            other => {
                self.core.discard(prep);
                other
            }
        }
    }

    /// JSON merge patch (RFC 7396) on the custom metadata of a live entry.
    pub fn update_metadata(&self, selector: &str, patch_json: &str) -> Result<bool> {
        let key = selector_key(selector)?;
        let patch: Value = super::keys::parse_strict(patch_json).map_err(|e| e.context("patch"))?;
        merge_patch("{}", &patch)?;
        self.modify(&key, None, &mut |old, _| {
            let mut rec = old.clone();
            rec.metadata = merge_patch(&old.metadata, &patch)?;
            if rec.metadata != old.metadata {
                rec.version += 1;
            }
            Ok(Some((rec, crate::storage::Payload::Keep)))
        })
    }

    /// Copies a live entry to new params (`overwrite`, `metadata` patch options).
    pub fn copy(&self, src: &str, dest_params_json: &str, options_json: Option<&str>) -> Result<bool> {
        self.copy_or_move(src, dest_params_json, options_json, false)
    }

    /// Moves a live entry to new params, atomically: afterwards exactly one of them exists.
    pub fn move_entry(&self, src: &str, dest_params_json: &str, options_json: Option<&str>) -> Result<bool> {
        self.copy_or_move(src, dest_params_json, options_json, true)
    }

    fn copy_or_move(
        &self,
        src: &str,
        dest_params_json: &str,
        options_json: Option<&str>,
        is_move: bool,
    ) -> Result<bool> {
        let src_key = selector_key(src)?;
        let (dest_key, dest_params) = params_key(dest_params_json)?;
        let opts: CopyOptions = config::parse(options_json, "copy options")?;
        let overwrite = opts.overwrite.unwrap_or(false);
        if let Some(p) = &opts.metadata {
            merge_patch("{}", p)?;
        }
        if src_key == dest_key {
            return Err(Error::invalid("source and destination are the same entry"));
        }
        self.settle_for_eviction()?;
        for _ in 0..COPY_RETRIES {
            let now = now_ms();
            let Some((srec, inline)) =
                self.core.meta.read(self.ns(), &[&src_key], &Core::alive(now), None)?.into_iter().next().flatten()
            else {
                return Ok(false);
            };
            self.core.check_record(&srec)?;
            let Some((payload, blob, guard)) = self.core.copy_payload(&srec, inline, &dest_key, is_move)? else {
                continue; // the source changed while we read it
            };
            let mut stale = false;
            let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
                let now = now_ms();
                let live = |r: &Option<Record>| r.as_ref().filter(|r| r.expires_at.is_none_or(|e| e > now)).cloned();
                let Some(s) = live(&current[0]) else {
                    stale = true;
                    return Ok(vec![Action::Nothing, Action::Nothing]);
                };
                if s.version != srec.version || s.blob != srec.blob || s.content_hash != srec.content_hash {
                    stale = true;
                    return Ok(vec![Action::Nothing, Action::Nothing]);
                }
                let dest_old = current[1].as_ref();
                if live(&current[1]).is_some() && !overwrite {
                    return Err(Error::new(
                        Code::Exists,
                        "the destination entry exists (pass overwrite: true to replace it)",
                    ));
                }
                let mut rec = s.clone();
                rec.key = dest_key.clone();
                rec.params = dest_params.clone();
                rec.blob = blob.clone();
                rec.version = dest_old.map_or(1, |o| o.version + 1);
                rec.created_at = now;
                rec.accessed_at = now;
                rec.access_count = 0;
                if let Some(p) = &opts.metadata {
                    rec.metadata = merge_patch(&s.metadata, p)?;
                }
                self.core.sign(&mut rec);
                Ok(vec![if is_move { Action::Delete } else { Action::Nothing }, Action::Put(rec, payload.clone())])
            };
            let limit = if is_move { None } else { self.max_size };
            let result = self.core.meta.transact(self.ns(), &[&src_key, &dest_key], limit, &mut body);
            drop(guard);
            let discard = |b: &Option<String>| {
                if !is_move {
                    if let Some(b) = b {
                        let _ = self.core.blobs.delete(b);
                    }
                }
            };
            match result {
                Ok(_) if stale => discard(&blob),
                Ok(out) => {
                    self.core.finish(&out);
                    self.core.forget_access(&[&dest_key]);
                    return Ok(true);
                }
                Err(e) => {
                    discard(&blob);
                    return Err(e);
                }
            }
        }
        Err(Error::new(Code::Busy, "the source entry kept changing during copy/move; try again"))
    }

    /// One page of live entries matching the filter (options: limit, cursor, order).
    pub fn list(&self, filter_json: Option<&str>, options_json: Option<&str>) -> Result<String> {
        let f = filter::parse(filter_json, now_ms())?;
        self.core.flush_access_best_effort();
        page(&self.core, &f, options_json, true)
    }

    /// Deletes every entry matching the filter, in one statement. Returns the count.
    pub fn delete_where(&self, filter_json: &str) -> Result<u64> {
        let f = filter::parse(Some(filter_json), now_ms())?;
        let (n, blobs) = self.core.meta.delete_where(self.ns(), &f)?;
        self.core.finish(&crate::storage::Outcome { dead_blobs: blobs, evicted: 0 });
        Ok(n)
    }

    /// Deletes the entries matching the filter for which `pred(metadata_json)` is true.
    /// The predicate runs on the calling thread, outside any transaction; an entry that
    /// changed after the predicate saw it is left alone.
    pub fn delete_matching(&self, filter_json: Option<&str>, pred: &mut dyn FnMut(&str) -> bool) -> Result<u64> {
        let f = filter::parse(filter_json, now_ms())?;
        self.core.flush_access_best_effort();
        let mut after: Option<(SortValue, String)> = None;
        let mut doomed: Vec<(String, u64)> = Vec::new();
        loop {
            let recs = self.core.meta.list(self.ns(), &f, Order::Key, after.as_ref(), 1000)?;
            let Some(last) = recs.last() else { break };
            after = Some((SortValue::Text(last.key.clone()), last.key.clone()));
            for r in &recs {
                if pred(&render(r, true).to_string()) {
                    doomed.push((r.key.clone(), r.version));
                }
            }
        }
        let mut total = 0;
        for chunk in doomed.chunks(1000) {
            let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
            let mut n = 0;
            let mut body = |current: &[Option<Record>]| -> Result<Vec<Action>> {
                Ok(current
                    .iter()
                    .zip(chunk)
                    .map(|(r, (_, v))| match r {
                        Some(r) if r.version == *v => {
                            n += 1;
                            Action::Delete
                        }
                        _ => Action::Nothing,
                    })
                    .collect())
            };
            let out = self.core.meta.transact(self.ns(), &keys, None, &mut body)?;
            self.core.finish(&out);
            total += n;
        }
        Ok(total)
    }

    /// Restarts the TTL of every entry matching the filter (`ttl_seconds` option).
    pub fn touch_where(&self, filter_json: &str, options_json: Option<&str>) -> Result<u64> {
        let now = now_ms();
        let f = filter::parse(Some(filter_json), now)?;
        let opts: TouchOptions = config::parse(options_json, "touch options")?;
        let ttl = config::resolve_ttl(opts.ttl_seconds, self.default_ttl)?;
        self.core.meta.set_expiry_where(self.ns(), &f, ttl.map(|t| now + t))
    }

    /// Merge-patches the custom metadata of every entry matching the filter, in one transaction.
    pub fn update_metadata_where(&self, filter_json: &str, patch_json: &str) -> Result<u64> {
        let f = filter::parse(Some(filter_json), now_ms())?;
        update_metadata_where(&self.core, &f, patch_json)
    }

    /// One item per selector, in order; a miss where there is no live entry.
    pub fn get_batch(&self, selectors_json: &str) -> Result<Vec<BatchItem>> {
        let keys = selectors(selectors_json)?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let now = now_ms();
        let found = self.core.meta.read(self.ns(), &refs, &Core::alive(now), None)?;
        let mut out = Vec::with_capacity(keys.len());
        let (mut hits, mut misses) = (0, 0);
        let mut noted: Vec<(String, u64)> = Vec::new();
        for (key, item) in keys.into_iter().zip(found) {
            let data = match item {
                Some((rec, inline)) => {
                    hits += 1;
                    match self.core.load(&rec, inline) {
                        Ok(d) => {
                            noted.push((key.clone(), rec.version));
                            Some(d)
                        }
                        // Replaced while we read: read this one again on its own.
                        Err(e) if is_stale(&e) => {
                            hits -= 1; // the single read counts its own hit or miss
                            self.get_with_metadata_value(&key, false)?.map(|(d, _)| d)
                        }
                        Err(e) => return Err(e),
                    }
                }
                None => {
                    misses += 1;
                    None
                }
            };
            out.push((key, data));
        }
        Counters::add(&self.core.counters.hits, hits);
        Counters::add(&self.core.counters.misses, misses);
        let hit_keys: Vec<(&str, u64)> = noted.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.core.note_access(&hit_keys, now);
        Ok(out)
    }

    /// Removes expired entries and their blobs. Returns the count.
    pub fn cleanup_expired(&self) -> Result<u64> {
        let f = Filter::all().with(crate::storage::filter::Cond::ExpiresBefore(now_ms() + 1));
        let (n, blobs) = self.core.meta.delete_where(self.ns(), &f)?;
        self.core.finish(&crate::storage::Outcome { dead_blobs: blobs, evicted: 0 });
        Counters::add(&self.core.counters.expired_removed, n);
        Ok(n)
    }

    /// Removes every entry of this cache (its namespace) and their blobs.
    pub fn clear(&self) -> Result<u64> {
        clear(&self.core)
    }

    /// Statistics JSON (API.md "stats").
    pub fn stats(&self) -> Result<String> {
        let (entries, total) = self.core.meta.totals(self.ns())?;
        let c = &self.core.counters;
        Ok(json!({
            "entries": entries, "total_size": total,
            "hits": Counters::get(&c.hits), "misses": Counters::get(&c.misses),
            "evictions": Counters::get(&c.evictions), "expired_removed": Counters::get(&c.expired_removed),
            "metadata_backend": self.core.meta.name(), "blob_backend": self.core.blobs.name(),
            "namespace": self.core.namespace, "max_size_bytes": self.max_size,
            "default_ttl_seconds": self.default_ttl.map(|t| t as f64 / 1000.0),
        })
        .to_string())
    }

    /// The shared core (for verify/repair and archives).
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }
}

pub(crate) fn clear(core: &Core) -> Result<u64> {
    let (n, blobs) = core.meta.delete_where(&core.ns, &Filter::all())?;
    core.finish(&crate::storage::Outcome { dead_blobs: blobs, evicted: 0 });
    Ok(n)
}

pub(crate) fn update_metadata_where(core: &Core, f: &Filter, patch_json: &str) -> Result<u64> {
    let patch: Value = super::keys::parse_strict(patch_json).map_err(|e| e.context("patch"))?;
    merge_patch("{}", &patch)?;
    core.meta.update_where(&core.ns, f, &mut |old| {
        let metadata = merge_patch(&old.metadata, &patch)?;
        if metadata == old.metadata {
            return Ok(None);
        }
        let mut rec = old.clone();
        rec.metadata = metadata;
        rec.version += 1;
        core.sign(&mut rec);
        Ok(Some(rec))
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    o: String,
    v: Option<i64>,
    k: String,
}

/// One list page as JSON, for a cache (`cache` true) or a store.
pub(crate) fn page(core: &Core, f: &Filter, options_json: Option<&str>, cache: bool) -> Result<String> {
    let opts: ListOptions = config::parse(options_json, "list options")?;
    let limit = opts.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(Error::invalid(format!("limit must be 1..{MAX_LIST_LIMIT}")));
    }
    let order_name = opts.order.as_deref().unwrap_or(if cache { "created_at" } else { "key" });
    let order = match order_name {
        "created_at" => Order::CreatedAt,
        "accessed_at" => Order::AccessedAt,
        "key" => Order::Key,
        o => {
            return Err(Error::invalid(format!("order must be \"created_at\", \"accessed_at\" or \"key\", not {o:?}")))
        }
    };
    let after = match &opts.cursor {
        None => None,
        Some(c) => {
            let bad = || Error::invalid("cursor is not one this library returned");
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
            let cur: Cursor = serde_json::from_slice(&raw).map_err(|_| bad())?;
            if cur.o != order_name {
                return Err(Error::invalid("cursor belongs to a listing in another order"));
            }
            let v = match (order, cur.v) {
                (Order::Key, _) => SortValue::Text(cur.k.clone()),
                (_, Some(v)) => SortValue::Int(v),
                _ => return Err(bad()),
            };
            Some((v, cur.k))
        }
    };
    let recs = core.meta.list(&core.ns, f, order, after.as_ref(), limit as usize)?;
    let next = if recs.len() as u64 == limit {
        recs.last().map(|r| {
            let v = match order.value_of(r) {
                SortValue::Int(i) => Some(i),
                SortValue::Text(_) => None,
            };
            let c = Cursor { o: order_name.to_string(), v, k: r.key.clone() };
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default())
        })
    } else {
        None
    };
    let entries: Vec<Value> = recs.iter().map(|r| render(r, cache)).collect();
    Ok(json!({ "entries": entries, "next_cursor": next }).to_string())
}
