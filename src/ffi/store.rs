//! `cacheness_store_*`: the named-key blob store over the C ABI.

use super::{boundary, bytes_arg, c_string, cacheness_bytes, cacheness_error, handle, opt_text, out_arg, text};
use crate::cache::Store;
use crate::error::Result;
use std::ffi::c_char;
use std::ptr;

/// An open named-key store. Thread-safe.
pub struct cacheness_store {
    inner: Store,
}

unsafe fn store<'a>(s: *const cacheness_store) -> Result<&'a Store> {
    Ok(&handle(s, "store")?.inner)
}

/// Opens a store: the cache's config less `default_ttl_seconds` and `max_size_bytes`.
/// `*out` (close with `cacheness_store_close`) is written on success.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_open(
    config_json: *const c_char,
    out: *mut *mut cacheness_store,
) -> *mut cacheness_error {
    boundary(|| {
        let cfg = text(config_json, "config_json")?;
        let o = out_arg(out, "out")?;
        *o = Box::into_raw(Box::new(cacheness_store { inner: Store::open(Some(cfg))? }));
        Ok(())
    })
}

/// Closes a store. NULL is allowed. No call may be running on the handle.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_close(s: *mut cacheness_store) {
    if !s.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(Box::from_raw(s))));
    }
}

/// Stores `data[0..len]` under `key` (a name like `models/v1`: 1..1024 bytes of UTF-8,
/// `/`-separated, no empty, `.` or `..` segment, no leading `/`, no control characters),
/// replacing what was there. `metadata_json`: an object, or NULL.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_put(
    s: *mut cacheness_store,
    key: *const c_char,
    data: *const u8,
    len: usize,
    metadata_json: *const c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let k = text(key, "key")?;
        let d = bytes_arg(data, len, "data")?;
        let m = opt_text(metadata_json, "metadata_json")?;
        s.put(k, d, m)
    })
}

/// Reads an entry. Missing: `*found = false`, `*data_out = {NULL, 0}`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_get(
    s: *mut cacheness_store,
    key: *const c_char,
    data_out: *mut cacheness_bytes,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let k = text(key, "key")?;
        let d = out_arg(data_out, "data_out")?;
        let f = out_arg(found, "found")?;
        let got = s.get(k)?;
        *f = got.is_some();
        *d = got.map_or_else(cacheness_bytes::empty, cacheness_bytes::from_vec);
        Ok(())
    })
}

/// Metadata JSON of an entry (`{"key", "data_type", "size", "content_hash", "version",
/// "created_at", "accessed_at", "access_count", "metadata", ...}`); NULL on a miss.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_get_metadata(
    s: *mut cacheness_store,
    key: *const c_char,
    metadata_out: *mut *mut c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let k = text(key, "key")?;
        let m = out_arg(metadata_out, "metadata_out")?;
        let f = out_arg(found, "found")?;
        let got = s.get_metadata(k)?;
        *f = got.is_some();
        *m = match got {
            Some(j) => c_string(j)?,
            None => ptr::null_mut(),
        };
        Ok(())
    })
}

/// JSON merge patch (RFC 7396, an object) on the entry's custom metadata.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_update_metadata(
    s: *mut cacheness_store,
    key: *const c_char,
    patch_json: *const c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let k = text(key, "key")?;
        let p = text(patch_json, "patch_json")?;
        let f = out_arg(found, "found")?;
        *f = s.update_metadata(k, p)?;
        Ok(())
    })
}

/// Replaces the data of an existing entry; never creates one (`*found = false`).
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_update_data(
    s: *mut cacheness_store,
    key: *const c_char,
    data: *const u8,
    len: usize,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let k = text(key, "key")?;
        let d = bytes_arg(data, len, "data")?;
        let f = out_arg(found, "found")?;
        *f = s.update_data(k, d)?;
        Ok(())
    })
}

/// `*found` = whether the entry exists.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_exists(
    s: *mut cacheness_store,
    key: *const c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let k = text(key, "key")?;
        let f = out_arg(found, "found")?;
        *f = s.exists(k)?;
        Ok(())
    })
}

/// Deletes an entry. `*deleted` = whether it existed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_delete(
    s: *mut cacheness_store,
    key: *const c_char,
    deleted: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let k = text(key, "key")?;
        let d = out_arg(deleted, "deleted")?;
        *d = s.delete(k)?;
        Ok(())
    })
}

/// Updates the entry's accessed_at and access_count. Missing: `*found = false`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_touch(
    s: *mut cacheness_store,
    key: *const c_char,
    found: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let k = text(key, "key")?;
        let f = out_arg(found, "found")?;
        *f = s.touch(k)?;
        Ok(())
    })
}

/// One page of entries whose names start with `prefix` (NULL: all), in name order by default.
/// Options: `limit`, `cursor`, `order`. `*page_out`: `{"entries": [...], "next_cursor": ...}`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_list(
    s: *mut cacheness_store,
    prefix: *const c_char,
    options_json: *const c_char,
    page_out: *mut *mut c_char,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let p = opt_text(prefix, "prefix")?;
        let o = opt_text(options_json, "options_json")?;
        let page = out_arg(page_out, "page_out")?;
        *page = c_string(s.list(p, o)?)?;
        Ok(())
    })
}

/// Deletes every entry whose name starts with `prefix` (required; "" deletes all), in one
/// statement. `*count`: entries deleted.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_delete_by_prefix(
    s: *mut cacheness_store,
    prefix: *const c_char,
    count: *mut u64,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let p = text(prefix, "prefix")?;
        let n = out_arg(count, "count")?;
        *n = s.delete_by_prefix(p)?;
        Ok(())
    })
}

/// Copies `src` to `dest` (the file system copies large blobs). An existing `dest` without
/// `overwrite` is `CACHENESS_EXISTS`. Missing source: `*copied = false`.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_copy(
    s: *mut cacheness_store,
    src: *const c_char,
    dest: *const c_char,
    overwrite: bool,
    copied: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let a = text(src, "src")?;
        let b = text(dest, "dest")?;
        let c = out_arg(copied, "copied")?;
        *c = s.copy(a, b, overwrite)?;
        Ok(())
    })
}

/// Renames `src` to `dest` atomically (no data is copied).
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_move(
    s: *mut cacheness_store,
    src: *const c_char,
    dest: *const c_char,
    overwrite: bool,
    moved: *mut bool,
) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let a = text(src, "src")?;
        let b = text(dest, "dest")?;
        let m = out_arg(moved, "moved")?;
        *m = s.move_entry(a, b, overwrite)?;
        Ok(())
    })
}

/// Removes every entry and blob of this store (its namespace) and nothing else.
#[no_mangle]
pub unsafe extern "C" fn cacheness_store_clear(s: *mut cacheness_store, count: *mut u64) -> *mut cacheness_error {
    boundary(|| {
        let s = store(s)?;
        let n = out_arg(count, "count")?;
        *n = s.clear()?;
        Ok(())
    })
}
