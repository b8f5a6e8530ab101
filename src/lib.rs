//! cacheness: a persistent, TTL-aware cache and blob store with a C ABI.
//!
//! Layers: [`storage`] keeps records and bytes and knows nothing of TTL; [`cache`] decides
//! (keys, TTL, eviction, signing, verify/repair, archives); [`ffi`] is the `extern "C"`
//! surface and holds no logic.

pub mod cache;
pub mod error;
pub mod ffi;
pub mod storage;

pub use cache::{Cache, Store};
pub use error::{Code, Error, Result};

/// The library version (from Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
