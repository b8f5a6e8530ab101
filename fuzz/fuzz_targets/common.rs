//! Helpers shared by the fuzz targets (included with `#[path]`; not a target itself).
#![allow(dead_code)]

use cacheness::Code;
use serde_json::Value;

/// Library bugs already reported and not fixed yet, which the targets step over so that a
/// run keeps looking for new ones. `CACHENESS_FUZZ_STRICT=1` turns the tolerance off (use it
/// to check a fix: the regression tests in tests/hostile.rs cover the same inputs).
pub fn tolerate_known_bugs() -> bool {
    std::env::var_os("CACHENESS_FUZZ_STRICT").is_none_or(|v| v != "1")
}

/// BUG-1: a params double with an integral value of 2^53 or more (`1e20`,
/// `9007199254740992.0`) canonicalizes (as JCS requires) to a long integer literal
/// (`100000000000000000000`), which the strict input parser refuses; verify re-parses the
/// stored canonical params with that parser, so it flags such a healthy entry `invalid_record`
/// and repair deletes it. True if `canonical` holds such a literal (more than 16 digits, or
/// above 2^53-1).
pub fn has_unsafe_integer_literal(canonical: &str) -> bool {
    number_tokens(canonical).into_iter().any(|t| {
        let tok = t.trim_start_matches('-');
        tok.bytes().all(|c| c.is_ascii_digit())
            && (tok.len() > 16 || tok.parse::<u64>().map_or(true, |n| n > (1u64 << 53) - 1))
    })
}

/// An error code a call may return on bad input; a panic or an unexpected code is a bug.
pub fn clean(code: Code) -> bool {
    !matches!(code, Code::Panic)
}

/// True if an open config is safe to open from a fuzz target: it never names a directory (no
/// files are created) and never a PostgreSQL server (no network). Anything the strict parser
/// refuses is refused by the library before it touches anything, so it is safe too.
pub fn safe_config(text: &str) -> bool {
    match cacheness::cache::keys::parse_strict(text) {
        Err(_) => true,
        Ok(Value::Object(m)) => {
            !m.contains_key("dir")
                && !m.contains_key("postgres_url")
                && m.get("metadata").and_then(Value::as_str) != Some("postgres")
        }
        Ok(_) => true,
    }
}

/// Splits fuzz input at NUL bytes into at most `n` pieces (the last keeps the rest).
pub fn pieces(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == 0).collect()
}

/// A memory-only cache config.
pub const MEMORY: &str = r#"{"metadata":"memory","blobs":"memory"}"#;

/// The number tokens of JSON text (outside strings), as written.
pub fn number_tokens(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    i += 1;
                }
                out.push(&text[start..i]);
            }
            _ => i += 1,
        }
    }
    out
}

/// BUG-2: serde_json (without its `float_roundtrip` feature) does not always round a decimal
/// to the nearest double (`199e091` becomes 1.9900000000000001e+93, not 1.99e+93), so such
/// params get another canonical text, and another key, than in JavaScript, Go or Python.
/// True if some number token of `text` reads differently through serde_json than through
/// Rust's correctly rounded `str::parse::<f64>`.
pub fn has_misrounded_number(text: &str) -> bool {
    number_tokens(text).into_iter().any(|t| match (serde_json::from_str::<f64>(t), t.parse::<f64>()) {
        (Ok(a), Ok(b)) => a != b,
        _ => false,
    })
}
