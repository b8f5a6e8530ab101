//! The C ABI: argument checks, JSON in and out, and the panic boundary. No logic lives here.
//!
//! Every exported function runs its body through [`boundary`], which turns an `Err` into an
//! owned `cacheness_error` and a Rust panic into `CACHENESS_PANIC`. Arguments are converted by
//! the small helpers below before any work starts; out-parameters are checked first and
//! written last, so on error they are untouched.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

pub mod cache;
pub mod store;

use crate::error::{Code, Error, Result};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// Result codes. `CACHENESS_OK` is never carried by an error object; it is what
/// `cacheness_error_code(NULL)` returns.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cacheness_code {
    CACHENESS_OK = 0,
    /// The named entry does not exist (most calls report a miss through `found` instead).
    CACHENESS_NOT_FOUND = 1,
    /// A NULL pointer, invalid UTF-8, bad JSON, an unknown option or an unsafe name.
    CACHENESS_INVALID_ARGUMENT = 2,
    /// The destination exists and overwrite was not asked for.
    CACHENESS_EXISTS = 3,
    /// `expected_version` did not match.
    CACHENESS_CONFLICT = 4,
    /// Stored data or records failed an integrity check.
    CACHENESS_CORRUPT = 5,
    /// The file system failed (disk full, read-only, permissions).
    CACHENESS_IO = 6,
    /// The metadata backend failed.
    CACHENESS_BACKEND = 7,
    /// Another writer held the database longer than the busy timeout (30 s).
    CACHENESS_BUSY = 8,
    /// A value larger than `max_size_bytes`.
    CACHENESS_TOO_LARGE = 9,
    /// A bug: a panic inside the library was caught at the boundary.
    CACHENESS_PANIC = 10,
}

impl From<Code> for cacheness_code {
    fn from(c: Code) -> Self {
        match c {
            Code::NotFound => cacheness_code::CACHENESS_NOT_FOUND,
            Code::InvalidArgument => cacheness_code::CACHENESS_INVALID_ARGUMENT,
            Code::Exists => cacheness_code::CACHENESS_EXISTS,
            Code::Conflict => cacheness_code::CACHENESS_CONFLICT,
            Code::Corrupt => cacheness_code::CACHENESS_CORRUPT,
            Code::Io => cacheness_code::CACHENESS_IO,
            Code::Backend => cacheness_code::CACHENESS_BACKEND,
            Code::Busy => cacheness_code::CACHENESS_BUSY,
            Code::TooLarge => cacheness_code::CACHENESS_TOO_LARGE,
            Code::Panic => cacheness_code::CACHENESS_PANIC,
        }
    }
}

/// An error: a code and a message. Owned by the caller; free with `cacheness_error_free`.
pub struct cacheness_error {
    code: cacheness_code,
    message: CString,
}

/// Bytes returned by the library. Free with `cacheness_bytes_free`.
#[repr(C)]
pub struct cacheness_bytes {
    pub data: *mut u8,
    pub len: usize,
}

impl cacheness_bytes {
    pub(crate) fn empty() -> Self {
        cacheness_bytes { data: ptr::null_mut(), len: 0 }
    }
    pub(crate) fn from_vec(v: Vec<u8>) -> Self {
        if v.is_empty() {
            return Self::empty();
        }
        let boxed = v.into_boxed_slice();
        let len = boxed.len();
        cacheness_bytes { data: Box::into_raw(boxed) as *mut u8, len }
    }
}

fn into_error(e: Error) -> *mut cacheness_error {
    let message = CString::new(e.message.replace('\0', "\\0")).unwrap_or_default();
    Box::into_raw(Box::new(cacheness_error { code: e.code.into(), message }))
}

/// Runs an exported function's body: errors become error objects, panics `CACHENESS_PANIC`.
pub(crate) fn boundary(f: impl FnOnce() -> Result<()>) -> *mut cacheness_error {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ptr::null_mut(),
        Ok(Err(e)) => into_error(e),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            into_error(Error::new(Code::Panic, format!("internal error (panic): {what}")))
        }
    }
}

/// A required C string argument as UTF-8.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} must not be NULL")));
    }
    CStr::from_ptr(p).to_str().map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

/// An optional C string argument (NULL is None).
pub(crate) unsafe fn opt_text<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        text(p, what).map(Some)
    }
}

/// A (pointer, length) byte argument; NULL is allowed only with length 0.
pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if p.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Error::invalid(format!("{what} is NULL with a length of {len}")));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!("{what} length is too large")));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

/// A required out-parameter.
pub(crate) unsafe fn out_arg<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    p.as_mut().ok_or_else(|| Error::invalid(format!("{what} must not be NULL")))
}

/// A required handle argument.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    p.as_ref().ok_or_else(|| Error::invalid(format!("{what} must not be NULL")))
}

/// A string result for a `char **` out-parameter (freed with `cacheness_string_free`).
pub(crate) fn c_string(s: String) -> Result<*mut c_char> {
    CString::new(s).map(CString::into_raw).map_err(|_| Error::backend("result contains a NUL byte"))
}

/// The library version, e.g. "0.1.0". Static; do not free.
#[no_mangle]
pub extern "C" fn cacheness_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// The code of an error; `CACHENESS_OK` for NULL.
#[no_mangle]
pub unsafe extern "C" fn cacheness_error_code(e: *const cacheness_error) -> cacheness_code {
    e.as_ref().map_or(cacheness_code::CACHENESS_OK, |e| e.code)
}

/// The message of an error (UTF-8, valid until the error is freed); "" for NULL.
#[no_mangle]
pub unsafe extern "C" fn cacheness_error_message(e: *const cacheness_error) -> *const c_char {
    match e.as_ref() {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// Frees an error. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_error_free(e: *mut cacheness_error) {
    if !e.is_null() {
        drop(Box::from_raw(e));
    }
}

/// Frees a string returned by the library. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(CString::from_raw(s));
    }
}

/// Frees bytes returned by the library. `{NULL, 0}` is allowed.
#[no_mangle]
pub unsafe extern "C" fn cacheness_bytes_free(b: cacheness_bytes) {
    if !b.data.is_null() {
        drop(Box::from_raw(ptr::slice_from_raw_parts_mut(b.data, b.len)));
    }
}

/// Computes the cache key of a params object: lowercase hex SHA-256 of its RFC 8785 canonical
/// JSON. `*key_out` (free with `cacheness_string_free`) is written on success only.
#[no_mangle]
pub unsafe extern "C" fn cacheness_key(params_json: *const c_char, key_out: *mut *mut c_char) -> *mut cacheness_error {
    boundary(|| {
        let params = text(params_json, "params_json")?;
        let out = out_arg(key_out, "key_out")?;
        let (key, _) = crate::cache::keys::params_key(params)?;
        *out = c_string(key)?;
        Ok(())
    })
}

/// For tests of the boundary: panics inside it, so it always returns a `CACHENESS_PANIC` error.
#[no_mangle]
pub extern "C" fn cacheness_test_panic() -> *mut cacheness_error {
    boundary(|| panic!("cacheness_test_panic was called"))
}
