//! `cacheness_cache_*`: the cache handle over the C ABI.

use super::{boundary, bytes_arg, c_string, cacheness_bytes, cacheness_error, handle, opt_text, out_arg, text};
use crate::cache::{BatchItem, Cache, PutItem};
use crate::error::{Error, Result};
use std::ffi::{c_char, c_void, CString};
use std::ptr;

/// An open cache. Thread-safe: one handle may be used from many threads at once.
pub struct cacheness_cache {
    inner: Cache,
}

/// The result of `cacheness_cache_get_batch`: one item per selector. Free with
/// `cacheness_batch_free`.
pub struct cacheness_batch {
    items: Vec<(CString, Option<Vec<u8>>)>,
}

/// One item of `cacheness_cache_put_batch`. `options_json` may be NULL.
#[repr(C)]
pub struct cacheness_put_item {
    pub params_json: *const c_char,
    pub data: *const u8,
    pub len: usize,
    pub options_json: *const c_char,
}

/// Predicate of `cacheness_cache_delete_matching`: return true to delete the entry.
/// `metadata_json` is valid only during the call.
pub type cacheness_predicate = Option<unsafe extern "C" fn(metadata_json: *const c_char, ctx: *mut c_void) -> bool>;

unsafe fn cache<'a>(c: *const cacheness_cache) -> Result<&'a Cache> {
    Ok(&handle(c, "cache")?.inner)
}

/// Opens a cache. `config_json`: `{"dir": "/path"}` and the options of API.md ("open");
/// NULL is not allowed. `*out` (close with `cacheness_cache_close`) is written on success.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_open(
    config_json: *const c_char,
    out: *mut *mut cacheness_cache,
) -> *mut cacheness_error {
    boundary(|| {
        let cfg = text(config_json, "config_json")?;
        let o = out_arg(out, "out")?;
        let inner = Cache::open(Some(cfg))?;
        *o = Box::into_raw(Box::new(cacheness_cache { inner }));
        Ok(())
    })
}

/// Closes a cache. NULL is allowed. No call may be running on the handle.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_close(c: *mut cacheness_cache) {
    if !c.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(Box::from_raw(c))));
    }
}

/// Stores `data[0..len]` under the key of `params_json` (a JSON object), replacing any entry
/// there atomically. Options: `ttl_seconds` (absent: default; null: never; > 0), `data_type`,
/// `description`, `metadata` (object). `key_out` may be NULL; else it gets the 64-hex key.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_put(
    c: *mut cacheness_cache,
    params_json: *const c_char,
    data: *const u8,
    len: usize,
    options_json: *const c_char,
    key_out: *mut *mut c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let params = text(params_json, "params_json")?;
        let d = bytes_arg(data, len, "data")?;
        let opts = opt_text(options_json, "options_json")?;
        let key = c.put(params, d, opts)?;
        if !key_out.is_null() {
            *key_out = c_string(key)?;
        }
        Ok(())
    })
}

/// Reads a live entry. `selector`: params JSON or a 64-hex key. On a miss or expired entry:
/// `*found = false`, `*data_out = {NULL, 0}`. Data failing an integrity check is never
/// returned: `CACHENESS_CORRUPT`, and the entry is removed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_get(
    c: *mut cacheness_cache,
    selector: *const c_char,
    data_out: *mut cacheness_bytes,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let d = out_arg(data_out, "data_out")?;
        let f = out_arg(found, "found")?;
        let got = c.get(sel)?;
        *f = got.is_some();
        *d = got.map_or_else(cacheness_bytes::empty, cacheness_bytes::from_vec);
        Ok(())
    })
}

/// As `cacheness_cache_get`, also returning the entry's metadata JSON (`*metadata_out`,
/// free with `cacheness_string_free`; NULL on a miss).
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_get_with_metadata(
    c: *mut cacheness_cache,
    selector: *const c_char,
    data_out: *mut cacheness_bytes,
    metadata_out: *mut *mut c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let d = out_arg(data_out, "data_out")?;
        let m = out_arg(metadata_out, "metadata_out")?;
        let f = out_arg(found, "found")?;
        match c.get_with_metadata(sel)? {
            Some((bytes, meta)) => {
                let meta = c_string(meta)?;
                *m = meta;
                *d = cacheness_bytes::from_vec(bytes);
                *f = true;
            }
            None => {
                *m = ptr::null_mut();
                *d = cacheness_bytes::empty();
                *f = false;
            }
        }
        Ok(())
    })
}

/// Metadata JSON of a live entry without reading its data (`*metadata_out` NULL on a miss).
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_get_metadata(
    c: *mut cacheness_cache,
    selector: *const c_char,
    metadata_out: *mut *mut c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let m = out_arg(metadata_out, "metadata_out")?;
        let f = out_arg(found, "found")?;
        let got = c.get_metadata(sel)?;
        *f = got.is_some();
        *m = match got {
            Some(s) => c_string(s)?,
            None => ptr::null_mut(),
        };
        Ok(())
    })
}

/// `*found` = whether a live entry exists (no access is counted).
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_exists(
    c: *mut cacheness_cache,
    selector: *const c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let r = out_arg(found, "found")?;
        *r = c.exists(sel)?;
        Ok(())
    })
}

/// Deletes an entry. `*deleted` = whether a live entry was there.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_delete(
    c: *mut cacheness_cache,
    selector: *const c_char,
    deleted: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let r = out_arg(deleted, "deleted")?;
        *r = c.delete(sel)?;
        Ok(())
    })
}

/// Restarts the TTL of a live entry (`{"ttl_seconds": n | null}`; NULL: the default TTL).
/// Data and created_at are untouched. Missing or expired: `*found = false`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_touch(
    c: *mut cacheness_cache,
    selector: *const c_char,
    options_json: *const c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(found, "found")?;
        *r = c.touch(sel, options_json)?;
        Ok(())
    })
}

/// Replaces the data of an existing live entry; never creates one (`*updated = false`).
/// Options: `expected_version` (mismatch: `CACHENESS_CONFLICT`, nothing changes),
/// `data_type`, `ttl_seconds`. The TTL restarts; version grows by 1.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_update_data(
    c: *mut cacheness_cache,
    selector: *const c_char,
    data: *const u8,
    len: usize,
    options_json: *const c_char,
    updated: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let d = bytes_arg(data, len, "data")?;
        let opts = opt_text(options_json, "options_json")?;
        let u = out_arg(updated, "updated")?;
        *u = c.update_data(sel, d, opts)?;
        Ok(())
    })
}

/// JSON merge patch (RFC 7396, an object) on the entry's custom metadata; version grows by 1.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_update_metadata(
    c: *mut cacheness_cache,
    selector: *const c_char,
    patch_json: *const c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let patch_json = text(patch_json, "patch_json")?;
        let r = out_arg(found, "found")?;
        *r = c.update_metadata(sel, patch_json)?;
        Ok(())
    })
}

/// Copies a live entry to the key of `dest_params_json`. Options: `overwrite` (default
/// false: an existing destination is `CACHENESS_EXISTS`, nothing changes), `metadata` (merge patch
/// for the copy). Keeps data, data_type and expires_at. Missing source: `*copied = false`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_copy(
    c: *mut cacheness_cache,
    selector: *const c_char,
    dest_params_json: *const c_char,
    options_json: *const c_char,
    copied: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let dest_params_json = text(dest_params_json, "dest_params_json")?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(copied, "copied")?;
        *r = c.copy(sel, dest_params_json, options_json)?;
        Ok(())
    })
}

/// Moves a live entry to new params, atomically: even if the process dies, exactly one of
/// source and destination exists afterwards. Options as for copy. Missing source: `*moved = false`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_move(
    c: *mut cacheness_cache,
    selector: *const c_char,
    dest_params_json: *const c_char,
    options_json: *const c_char,
    moved: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let sel = text(selector, "selector")?;
        let dest_params_json = text(dest_params_json, "dest_params_json")?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(moved, "moved")?;
        *r = c.move_entry(sel, dest_params_json, options_json)?;
        Ok(())
    })
}

/// One page of live entries matching `filter_json` (NULL: all). Options: `limit` (default
/// 1000, at most 10000), `cursor`, `order` ("created_at", "accessed_at", "key").
/// `*page_out`: `{"entries": [...], "next_cursor": null | "..."}`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_list(
    c: *mut cacheness_cache,
    filter_json: *const c_char,
    options_json: *const c_char,
    page_out: *mut *mut c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let f = opt_text(filter_json, "filter_json")?;
        let o = opt_text(options_json, "options_json")?;
        let p = out_arg(page_out, "page_out")?;
        *p = c_string(c.list(f, o)?)?;
        Ok(())
    })
}

/// Deletes every entry matching the filter (required; `{}` matches all live entries) in
/// one statement. `*count`: entries deleted.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_delete_where(
    c: *mut cacheness_cache,
    filter_json: *const c_char,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let filter_json = text(filter_json, "filter_json")?;
        let r = out_arg(count, "count")?;
        *r = c.delete_where(filter_json)?;
        Ok(())
    })
}

/// Runs `pred` on each entry that passes the filter (NULL: all live entries), on the calling
/// thread, outside any lock, and deletes those for which it returns true (unless they changed
/// in between). `*count`: entries deleted.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_delete_matching(
    c: *mut cacheness_cache,
    filter_json: *const c_char,
    pred: cacheness_predicate,
    ctx: *mut c_void,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let f = opt_text(filter_json, "filter_json")?;
        let pred = pred.ok_or_else(|| Error::invalid("pred must not be NULL"))?;
        let n = out_arg(count, "count")?;
        let mut call = |meta: &str| match CString::new(meta) {
            Ok(s) => pred(s.as_ptr(), ctx),
            Err(_) => false,
        };
        *n = c.delete_matching(f, &mut call)?;
        Ok(())
    })
}

/// Reads the entries named by a JSON array of selectors in one query. `*out`: one item per
/// selector, in order (free with `cacheness_batch_free`).
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_get_batch(
    c: *mut cacheness_cache,
    selectors_json: *const c_char,
    out: *mut *mut cacheness_batch,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let s = text(selectors_json, "selectors_json")?;
        let o = out_arg(out, "out")?;
        let items: Vec<BatchItem> = c.get_batch(s)?;
        let items = items
            .into_iter()
            .map(|(k, d)| Ok((CString::new(k).map_err(|_| Error::backend("key with NUL"))?, d)))
            .collect::<Result<Vec<_>>>()?;
        *o = Box::into_raw(Box::new(cacheness_batch { items }));
        Ok(())
    })
}

/// Number of items in a batch (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn cacheness_batch_len(b: *const cacheness_batch) -> usize {
    b.as_ref().map_or(0, |b| b.items.len())
}

/// Item `i`: true on a hit, with `*data`/`*len` valid until `cacheness_batch_free`; false on a
/// miss or when `i` is out of range (outputs then untouched).
#[no_mangle]
pub unsafe extern "C" fn cacheness_batch_get(
    b: *const cacheness_batch,
    i: usize,
    data: *mut *const u8,
    len: *mut usize,
) -> bool {
    let Some(b) = b.as_ref() else { return false };
    match b.items.get(i) {
        Some((_, Some(d))) => {
            if !data.is_null() {
                *data = if d.is_empty() { ptr::null() } else { d.as_ptr() };
            }
            if !len.is_null() {
                *len = d.len();
            }
            true
        }
        _ => false,
    }
}

/// The 64-hex key of item `i` (valid until `cacheness_batch_free`); NULL if out of range.
#[no_mangle]
pub unsafe extern "C" fn cacheness_batch_key(b: *const cacheness_batch, i: usize) -> *const c_char {
    b.as_ref().and_then(|b| b.items.get(i)).map_or(ptr::null(), |(k, _)| k.as_ptr())
}

/// Frees a batch. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_batch_free(b: *mut cacheness_batch) {
    if !b.is_null() {
        drop(Box::from_raw(b));
    }
}

/// Writes `n` items in one transaction: all or none.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_put_batch(
    c: *mut cacheness_cache,
    items: *const cacheness_put_item,
    n: usize,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        if items.is_null() && n > 0 {
            return Err(Error::invalid("items is NULL with n > 0"));
        }
        let raw = if n == 0 { &[][..] } else { std::slice::from_raw_parts(items, n) };
        let mut list = Vec::with_capacity(n);
        for (i, it) in raw.iter().enumerate() {
            let at = |e: Error| e.context(&format!("item {i}"));
            list.push(PutItem {
                params_json: text(it.params_json, "params_json").map_err(at)?,
                data: bytes_arg(it.data, it.len, "data").map_err(at)?,
                options_json: opt_text(it.options_json, "options_json").map_err(at)?,
            });
        }
        c.put_batch(&list)?;
        Ok(())
    })
}

/// Restarts the TTL of every entry matching the filter (options `{"ttl_seconds": ...}`;
/// NULL: the default TTL). `*count`: entries touched.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_touch_where(
    c: *mut cacheness_cache,
    filter_json: *const c_char,
    options_json: *const c_char,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let filter_json = text(filter_json, "filter_json")?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(count, "count")?;
        *r = c.touch_where(filter_json, options_json)?;
        Ok(())
    })
}

/// Merge-patches the custom metadata of every entry matching the filter, in one transaction.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_update_metadata_where(
    c: *mut cacheness_cache,
    filter_json: *const c_char,
    patch_json: *const c_char,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let filter_json = text(filter_json, "filter_json")?;
        let patch_json = text(patch_json, "patch_json")?;
        let r = out_arg(count, "count")?;
        *r = c.update_metadata_where(filter_json, patch_json)?;
        Ok(())
    })
}

/// Deletes the entries named by a JSON array of selectors, in one transaction.
/// `*count`: live entries that existed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_delete_batch(
    c: *mut cacheness_cache,
    selectors_json: *const c_char,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let selectors_json = text(selectors_json, "selectors_json")?;
        let r = out_arg(count, "count")?;
        *r = c.delete_batch(selectors_json)?;
        Ok(())
    })
}

/// Removes expired entries and their blobs. `*count`: entries removed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_cleanup_expired(
    c: *mut cacheness_cache,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let r = out_arg(count, "count")?;
        *r = c.cleanup_expired()?;
        Ok(())
    })
}

/// Removes every entry and blob of this cache (its namespace) and nothing else.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_clear(c: *mut cacheness_cache, count: *mut u64) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let r = out_arg(count, "count")?;
        *r = c.clear()?;
        Ok(())
    })
}

/// Statistics JSON: entries, total_size, hits, misses, evictions, expired_removed,
/// metadata_backend, blob_backend, namespace (counters since this handle was opened).
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_stats(
    c: *mut cacheness_cache,
    stats_out: *mut *mut c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let r = out_arg(stats_out, "stats_out")?;
        *r = c_string(c.stats()?)?;
        Ok(())
    })
}

/// Checks entries and the blob tree (`{"deep": true}` rehashes every blob). Report:
/// `{"ok", "checked", "issues": [{"cache_key"|"path", "issue"}]}`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_verify(
    c: *mut cacheness_cache,
    options_json: *const c_char,
    report_out: *mut *mut c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(report_out, "report_out")?;
        *r = c_string(c.verify(options_json)?)?;
        Ok(())
    })
}

/// Drops entries whose data is missing or corrupt, expired entries, orphaned and leftover
/// temporary files (options `dry_run`, `deep` default true). The report lists each issue and action.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_repair(
    c: *mut cacheness_cache,
    options_json: *const c_char,
    report_out: *mut *mut c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(report_out, "report_out")?;
        *r = c_string(c.repair(options_json)?)?;
        Ok(())
    })
}

/// Files in the blob tree that no entry refers to and no writer holds:
/// `{"count", "total_size", "orphans": [{"path", "size", "temporary"}]}`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_find_orphans(
    c: *mut cacheness_cache,
    report_out: *mut *mut c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let r = out_arg(report_out, "report_out")?;
        *r = c_string(c.find_orphans()?)?;
        Ok(())
    })
}

/// Removes the files `cacheness_cache_find_orphans` lists. `*count`: files removed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_cleanup_orphans(
    c: *mut cacheness_cache,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let r = out_arg(count, "count")?;
        *r = c.cleanup_orphans()?;
        Ok(())
    })
}

/// Exports entries to a tar file at `path` (options: `compress` (default true: gzip),
/// `filter`). `*count`: entries written.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_export(
    c: *mut cacheness_cache,
    path: *const c_char,
    options_json: *const c_char,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let path = text(path, "path")?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(count, "count")?;
        *r = c.export(path, options_json)?;
        Ok(())
    })
}

/// Imports an archive written by export. Every blob is checked against its content hash;
/// unsafe member names and links are refused; expired entries are skipped; existing entries are
/// kept unless `overwrite` is true. `*count`: entries imported.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_import(
    c: *mut cacheness_cache,
    path: *const c_char,
    options_json: *const c_char,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let path = text(path, "path")?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(count, "count")?;
        *r = c.import(path, options_json)?;
        Ok(())
    })
}

/// Exports entries as one JSON document (data base64-encoded); option `filter`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_export_json(
    c: *mut cacheness_cache,
    options_json: *const c_char,
    doc_out: *mut *mut c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(doc_out, "doc_out")?;
        *r = c_string(c.export_json(options_json)?)?;
        Ok(())
    })
}

/// As import, from one JSON document (export_json's output).
#[no_mangle]
pub unsafe extern "C" fn cacheness_cache_import_json(
    c: *mut cacheness_cache,
    doc_json: *const c_char,
    options_json: *const c_char,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let c = cache(c)?;
        let doc_json = text(doc_json, "doc_json")?;
        let options_json = opt_text(options_json, "options_json")?;
        let r = out_arg(count, "count")?;
        *r = c.import_json(doc_json, options_json)?;
        Ok(())
    })
}
