//! Cache keys: RFC 8785 (JCS) canonical JSON and its SHA-256.
//!
//! A cache key is the lowercase hex SHA-256 of the canonical UTF-8 text of the params object.
//! Canonical text (JCS) means: no whitespace; object members sorted by the UTF-16 code units of
//! their names; strings escaped the way ECMAScript's `JSON.stringify` does; numbers written the
//! way ECMAScript's `Number.prototype.toString` does (via `ryu-js`).
//!
//! Parsing is stricter than plain JSON, because two different params must never silently share
//! a key:
//! - duplicate member names (at any depth) are rejected: a custom serde visitor builds the
//!   value tree and fails when a name is inserted twice into the same object;
//! - integer literals (no fraction, no exponent) outside +-(2^53-1) are rejected, since
//!   distinct integers would collide as IEEE 754 doubles. serde_json (without
//!   `arbitrary_precision`) turns a literal too large for `u64` into a rounded `f64`, so the
//!   literal text is checked instead: after a successful parse, a small scan of the input
//!   looks at each number token outside string contents.
//!
//! Grammar, string escapes (including rejection of lone surrogates), trailing text and nesting
//! depth are left to serde_json. Its recursion limit rejects nesting of 128 levels or more,
//! which keeps the recursive visitor and writer far from overflowing the stack.

use std::fmt::Write as _;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Largest integer magnitude a double holds exactly: 2^53 - 1.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// RFC 8785 (JCS) canonical text of any JSON text.
///
/// Rejects (with `Code::InvalidArgument`) invalid JSON, empty input, trailing non-whitespace
/// text, duplicate member names at any depth, integer literals outside +-(2^53-1), numbers that
/// are not finite, lone surrogates and nesting of 128 levels or more.
pub fn canonicalize(json: &str) -> Result<String> {
    parse_strict(json).map(|v| canonical_value(&v))
}

/// Params for a cache key: must be a JSON object. Returns `(key, canonical)` where `key` is
/// the lowercase hex SHA-256 of the canonical UTF-8 text.
pub fn params_key(params_json: &str) -> Result<(String, String)> {
    let value = parse_strict(params_json)?;
    if !value.is_object() {
        return Err(Error::invalid(format!("params must be a JSON object, not {}", kind(&value))));
    }
    let canonical = canonical_value(&value);
    Ok((sha256_hex(canonical.as_bytes()), canonical))
}

/// Canonical JCS text of an already parsed `serde_json::Value` (used after JSON merge
/// patches). Every number is written as the double it denotes, as JCS requires.
pub fn canonical_value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// True for exactly 64 lowercase hex characters (the shape of a cache key).
pub fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parse `json` with the strict rules above into a `serde_json::Value`.
/// Parses JSON text from a caller: duplicate member names, unsafe integer literals, invalid
/// JSON and trailing text are errors (the same rules as params, for every JSON input).
pub fn parse_strict(json: &str) -> Result<Value> {
    let value = parse_document(json)?;
    check_integer_literals(json)?;
    Ok(value)
}

/// Parses a document this library wrote (an export): duplicate names, invalid JSON and
/// trailing text are errors, but integer literals beyond 2^53 are allowed, since canonical
/// params hold them (JCS prints 1e20 as `100000000000000000000`).
pub fn parse_document(json: &str) -> Result<Value> {
    if json.trim_matches(is_json_whitespace).is_empty() {
        return Err(Error::invalid("invalid JSON: empty input"));
    }
    let mut de = serde_json::Deserializer::from_str(json);
    Strict::deserialize(&mut de).and_then(|Strict(v)| de.end().map(|()| v)).map_err(json_error)
}

fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Turn a serde_json error into an `InvalidArgument` with a message that says what was wrong.
fn json_error(e: serde_json::Error) -> Error {
    let text = e.to_string();
    if text.starts_with("recursion limit exceeded") {
        Error::invalid(format!("invalid JSON: nested 128 levels deep or more ({text})"))
    } else if e.is_data() {
        // Raised by our visitor (duplicate names, non-finite numbers): already explicit.
        Error::invalid(text)
    } else {
        Error::invalid(format!("invalid JSON: {text}"))
    }
}

/// A `Value` deserialized with duplicate member names rejected.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> std::result::Result<Value, E> {
        Number::from_f64(n).map(Value::Number).ok_or_else(|| E::custom(format!("number is not finite: {n}")))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if members.contains_key(&name) {
                return Err(de::Error::custom(format!("duplicate member name {name:?}")));
            }
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

/// Reject integer literals (no `.`, no exponent) outside +-(2^53-1).
///
/// Runs only on text serde_json has already accepted, so the scan can be simple: skip string
/// contents, and read each token starting with `-` or a digit (no other token outside a string
/// contains either) up to the first byte that cannot belong to a number.
fn check_integer_literals(json: &str) -> Result<()> {
    let bytes = json.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    i += 1;
                }
                let token = &json[start..i];
                let digits = token.strip_prefix('-').unwrap_or(token);
                let is_integer = digits.bytes().all(|b| b.is_ascii_digit());
                // JSON forbids leading zeros, so more than 16 digits is always beyond 2^53-1.
                if is_integer && (digits.len() > 16 || digits.parse::<u64>().map_or(true, |n| n > MAX_SAFE_INTEGER)) {
                    return Err(Error::invalid(format!(
                        "integer literal {token} is outside +-(2^53-1): distinct integers would \
                         collide as doubles (write it as a string)"
                    )));
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_value(out, value);
            }
            out.push('}');
        }
    }
}

/// ECMAScript `Number.prototype.toString` of the double the number denotes; -0 is written `0`.
fn write_number(out: &mut String, n: &Number) {
    // serde_json numbers are finite; `as_f64` is `Some` without `arbitrary_precision`.
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        out.push('0');
    } else {
        out.push_str(ryu_js::Buffer::new().format_finite(f));
    }
}

/// JCS string: escape only `"`, `\` and control characters below U+0020.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    fn rejected(json: &str) -> String {
        let e = canonicalize(json).expect_err(json);
        assert_eq!(e.code, Code::InvalidArgument, "{json}: {e}");
        e.message
    }

    #[test]
    fn sorts_by_utf16_code_units_not_bytes() {
        // U+1F600 is D83D DE00 in UTF-16, before FB01; in UTF-8 it is F0 9F.., after EF AC 81.
        assert_eq!(canonicalize(r#"{"\ufb01":1,"\ud83d\ude00":2}"#).unwrap(), "{\"\u{1F600}\":2,\"\u{FB01}\":1}");
    }

    #[test]
    fn strings_use_ecmascript_escapes() {
        assert_eq!(
            canonicalize(r#""\u0000\u0008\u0009\u000a\u000c\u000d\u001f\u007f\/é\"\\""#).unwrap(),
            "\"\\u0000\\b\\t\\n\\f\\r\\u001f\u{7f}/é\\\"\\\\\""
        );
    }

    #[test]
    fn numbers_use_ecmascript_form() {
        let cases = [
            ("1.0", "1"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("1.5e-7", "1.5e-7"),
            ("0.000001", "0.000001"),
            ("-9007199254740991", "-9007199254740991"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("5e-324", "5e-324"),
        ];
        for (input, want) in cases {
            assert_eq!(canonicalize(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn whitespace_is_removed_and_nesting_kept() {
        assert_eq!(
            canonicalize(" { \"b\" : [ 1 , { \"d\":null, \"c\":true } ] , \"a\":\"x\" }\n").unwrap(),
            r#"{"a":"x","b":[1,{"c":true,"d":null}]}"#
        );
    }

    #[test]
    fn rejects_duplicates_at_any_depth() {
        assert!(rejected(r#"{"a":1,"a":2}"#).contains("duplicate member name \"a\""));
        assert!(rejected(r#"{"x":[{"b":1,"c":2,"b":3}]}"#).contains("duplicate"));
        // Same name after unescaping is still a duplicate.
        assert!(rejected(r#"{"a":1,"\u0061":2}"#).contains("duplicate"));
    }

    #[test]
    fn rejects_unsafe_integer_literals_but_not_doubles() {
        assert!(rejected("9007199254740992").contains("2^53-1"));
        assert!(rejected("-9007199254740992").contains("2^53-1"));
        assert!(rejected(r#"{"n":123456789012345680000}"#).contains("2^53-1"));
        assert!(rejected(r#"[1,{"s":"99999999999999999999","n":[99999999999999999999]}]"#).contains("2^53-1"));
        // Digits inside strings, and non-integer literals of any size, are fine.
        assert_eq!(canonicalize(r#"{"s":"99999999999999999999"}"#).unwrap(), r#"{"s":"99999999999999999999"}"#);
        assert_eq!(canonicalize("9007199254740992.0").unwrap(), "9007199254740992");
        assert_eq!(canonicalize("1.2345678901234568e+20").unwrap(), "123456789012345680000");
    }

    #[test]
    fn rejects_bad_text() {
        assert!(rejected("").contains("empty"));
        assert!(rejected(" \n\t").contains("empty"));
        assert!(rejected(r#"{"a":"#).starts_with("invalid JSON"));
        assert!(rejected(r#"{"a":1} x"#).contains("trailing"));
        rejected(r#"{"a":1}{}"#);
        rejected("1e400");
        rejected("-1e400");
        rejected("NaN");
        rejected("[1,]");
        rejected("01");
        rejected("\"\u{1}\"");
        rejected(r#""\ud800""#);
        rejected(r#""\udc00x""#);
        rejected(r#""\ud83d\u0041""#);
    }

    #[test]
    fn rejects_deep_nesting_without_overflow() {
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(canonicalize(&ok).unwrap(), ok);
        let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(rejected(&deep).contains("nested"));
        let very_deep = "{\"a\":".repeat(100_000);
        assert!(rejected(&very_deep).contains("nested"));
    }

    #[test]
    fn params_key_requires_an_object() {
        for json in ["[1,2]", "\"exp_001\"", "1", "null", "true"] {
            let e = params_key(json).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.contains("must be a JSON object"), "{}", e.message);
        }
        let (key, canonical) = params_key("{}").unwrap();
        assert_eq!(canonical, "{}");
        assert_eq!(key, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert!(is_key(&key));
    }

    #[test]
    fn canonical_value_matches_canonicalize() {
        let v = serde_json::json!({"b": [1.0, -0.0, 1e21], "a": {"\u{20ac}": "x", "\r": null}});
        assert_eq!(canonical_value(&v), "{\"a\":{\"\\r\":null,\"\u{20ac}\":\"x\"},\"b\":[1,0,1e+21]}");
        assert_eq!(canonicalize(&v.to_string()).unwrap(), canonical_value(&v));
    }

    #[test]
    fn is_key_and_sha256_hex() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert!(is_key(&sha256_hex(b"x")));
        assert!(!is_key(&sha256_hex(b"x").to_uppercase()));
        assert!(!is_key(&sha256_hex(b"x")[1..]));
        assert!(!is_key(&format!("{}0", sha256_hex(b"x"))));
        assert!(!is_key(&"g".repeat(64)));
        assert!(!is_key(""));
    }
}

#[cfg(test)]
mod rounding {
    /// Regression (found by fuzzing): serde_json's default float parser is not correctly
    /// rounded, so some number texts gave a different double (and key) than JavaScript, Go or
    /// Python would. With `float_roundtrip` every number is the nearest double to its text.
    #[test]
    fn numbers_are_the_nearest_double() {
        for text in [
            "0.30000000000000004",
            "2.2250738585072011e-308",
            "9007199254740993.0",
            "1.7976931348623157e308",
            "4.35e-7",
            "123456.789e3",
        ] {
            let expected: f64 = text.parse().unwrap(); // Rust's parser is correctly rounded
            let canon = super::canonicalize(&format!("{{\"n\":{text}}}")).unwrap();
            let back: f64 = canon["{\"n\":".len()..canon.len() - 1].parse().unwrap();
            assert_eq!(back.to_bits(), expected.to_bits(), "{text} -> {canon}");
        }
    }
}
