//! Option and config parsing: `Cache::open` and `Store::open` with arbitrary config JSON
//! (memory backends only: a config naming a directory or a PostgreSQL server is not opened,
//! see `common::safe_config`), then put/touch/update/copy/list/verify/export options on it.
//!
//! Input: NUL-separated pieces: config, put options, params, touch options, update_data
//! options, copy options, list options, verify/repair options, export options.
#![no_main]

use cacheness::{Cache, Code, Store};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fn ok_code(r: &Result<impl Sized, cacheness::Error>, what: &str) {
    if let Err(e) = r {
        assert_ne!(e.code, Code::Panic, "{what}: {e}");
        assert_ne!(e.code, Code::Corrupt, "{what}: a bad option is not corruption: {e}");
        assert_ne!(e.code, Code::Backend, "{what}: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<Option<&str>> = common::pieces(data, 9).into_iter().map(|b| std::str::from_utf8(b).ok()).collect();
    let get = |i: usize| parts.get(i).copied().flatten();
    let Some(config) = get(0) else { return };
    // The config alone through the parser (always safe: it touches nothing).
    let parsed = cacheness::cache::config::parse::<cacheness::cache::config::OpenConfig>(Some(config), "config");
    if let Err(e) = &parsed {
        assert_eq!(e.code, Code::InvalidArgument, "{e}");
    }
    if !common::safe_config(config) {
        return;
    }
    let store = Store::open(Some(config));
    ok_code(&store, "store open");
    if let Ok(s) = store {
        ok_code(&s.put("n", b"x", get(1)), "store put metadata");
        let _ = s.clear();
    }
    let cache = Cache::open(Some(config));
    ok_code(&cache, "open");
    // With a config that did not open, go on with a plain memory cache to reach the options.
    let c = match cache {
        Ok(c) => c,
        Err(_) => Cache::open(Some(common::MEMORY)).unwrap(),
    };
    let params = get(2).unwrap_or(r#"{"p":1}"#);
    let put = c.put(params, &[7u8; 100], get(1));
    ok_code(&put, "put");
    let key = match put {
        Ok(k) => k,
        Err(_) => match c.put(r#"{"p":1}"#, b"data", None) {
            Ok(k) => k,
            // A config may make every put fail cleanly (max_size_bytes: 1 is TOO_LARGE).
            Err(e) => {
                assert!(matches!(e.code, Code::TooLarge | Code::InvalidArgument), "{e}");
                return;
            }
        },
    };
    ok_code(&c.touch(&key, get(3)), "touch");
    ok_code(&c.update_data(&key, b"new data", get(4)), "update_data");
    ok_code(&c.copy(&key, r#"{"copy":true}"#, get(5)), "copy");
    ok_code(&c.list(None, get(6)), "list");
    ok_code(&c.verify(get(7)), "verify");
    ok_code(&c.repair(get(7)), "repair");
    ok_code(&c.export_json(get(8)), "export_json");
    ok_code(&c.stats(), "stats");
    let _ = c.get(&key);
    ok_code(&c.clear(), "clear");
});
