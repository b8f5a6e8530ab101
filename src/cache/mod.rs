//! The cache layer: keys, TTL, eviction, stats, signing, batches, copy/move, verify/repair and
//! archives. It decides; the storage layer executes.

pub mod access;
pub mod archive;
pub mod config;
pub mod core;
pub mod filter;
pub mod keys;
pub mod ops;
pub mod signing;
pub mod store;
pub mod time;
pub mod verify;

pub use ops::{selector_key, BatchItem, Cache, PutItem};
pub use store::Store;
pub use verify::Progress;

impl Cache {
    /// Checks every entry (and with `deep`, every byte) and the blob tree.
    pub fn verify(&self, options_json: Option<&str>) -> crate::Result<String> {
        verify::verify(self.core(), true, options_json, None)
    }
    pub fn verify_with_progress(&self, options_json: Option<&str>, progress: Progress<'_>) -> crate::Result<String> {
        verify::verify(self.core(), true, options_json, progress)
    }
    /// Drops broken and expired entries, orphaned and temporary files (`dry_run`, `deep`).
    pub fn repair(&self, options_json: Option<&str>) -> crate::Result<String> {
        verify::repair(self.core(), true, options_json, None)
    }
    pub fn repair_with_progress(&self, options_json: Option<&str>, progress: Progress<'_>) -> crate::Result<String> {
        verify::repair(self.core(), true, options_json, progress)
    }
    pub fn find_orphans(&self) -> crate::Result<String> {
        verify::find_orphans(self.core())
    }
    pub fn cleanup_orphans(&self) -> crate::Result<u64> {
        verify::cleanup_orphans(self.core())
    }
}

impl Store {
    pub fn verify(&self, options_json: Option<&str>) -> crate::Result<String> {
        verify::verify(self.core(), false, options_json, None)
    }
    pub fn repair(&self, options_json: Option<&str>) -> crate::Result<String> {
        verify::repair(self.core(), false, options_json, None)
    }
}
