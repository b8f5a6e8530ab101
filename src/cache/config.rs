//! Parsing of the JSON given to open, put, touch and the other calls that take options.
//! Unknown names are errors: a typo never silently changes behaviour.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// Parses an options object (NULL/None or empty text means `{}`), rejecting unknown names.
pub fn parse<T: DeserializeOwned + Default>(json: Option<&str>, what: &str) -> Result<T> {
    match json {
        None => Ok(T::default()),
        Some(s) if s.trim().is_empty() => Ok(T::default()),
        Some(s) => {
            let v = super::keys::parse_strict(s).map_err(|e| e.context(what))?;
            if !v.is_object() {
                return Err(Error::invalid(format!("{what} must be a JSON object")));
            }
            serde_json::from_value(v).map_err(|e| Error::invalid(format!("{what}: {e}")))
        }
    }
}

/// A field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Converts a TTL in seconds (must be > 0 and finite) to milliseconds.
pub fn ttl_ms(seconds: f64, what: &str) -> Result<i64> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(Error::invalid(format!("{what} must be a number > 0 (got {seconds})")));
    }
    let ms = (seconds * 1000.0).ceil();
    if ms > 1e15 {
        return Err(Error::invalid(format!("{what} is too large")));
    }
    Ok(ms as i64)
}

/// The TTL a call asks for: absent -> the default, null -> never, n -> n seconds.
pub fn resolve_ttl(requested: Option<Option<f64>>, default_ms: Option<i64>) -> Result<Option<i64>> {
    match requested {
        None => Ok(default_ms),
        Some(None) => Ok(None),
        Some(Some(s)) => ttl_ms(s, "ttl_seconds").map(Some),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenConfig {
    pub dir: Option<PathBuf>,
    pub metadata: Option<String>,
    pub blobs: Option<String>,
    pub postgres_url: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub default_ttl_seconds: Option<Option<f64>>,
    pub max_size_bytes: Option<u64>,
    pub inline_max_bytes: Option<u64>,
    pub durability: Option<String>,
    pub signing_key: Option<String>,
    pub verify_on_read: Option<bool>,
    pub namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutOptions {
    #[serde(default, deserialize_with = "nullable")]
    pub ttl_seconds: Option<Option<f64>>,
    pub data_type: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouchOptions {
    #[serde(default, deserialize_with = "nullable")]
    pub ttl_seconds: Option<Option<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateDataOptions {
    pub expected_version: Option<u64>,
    pub data_type: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub ttl_seconds: Option<Option<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyOptions {
    pub overwrite: Option<bool>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOptions {
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    pub order: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyOptions {
    pub deep: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairOptions {
    pub dry_run: Option<bool>,
    pub deep: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportOptions {
    pub compress: Option<bool>,
    pub filter: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    pub overwrite: Option<bool>,
}
