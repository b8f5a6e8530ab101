//! Timestamps: integer milliseconds since the epoch inside, RFC 3339 UTC with milliseconds outside.

use crate::error::{Error, Result};
use std::time::{SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `2026-02-05T10:00:00.000Z`.
pub fn format_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses an RFC 3339 timestamp (any offset) to milliseconds.
pub fn parse_ms(s: &str, what: &str) -> Result<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| Error::invalid(format!("{what}: {s:?} is not an RFC 3339 time: {e}")))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn round_trip() {
        let ms = 1_770_285_600_123;
        assert_eq!(format_ms(ms), "2026-02-05T10:00:00.123Z");
        assert_eq!(parse_ms(&format_ms(ms), "t").unwrap(), ms);
        assert_eq!(parse_ms("2026-02-05T11:00:00.123+01:00", "t").unwrap(), ms);
        assert!(parse_ms("yesterday", "t").is_err());
    }
}
