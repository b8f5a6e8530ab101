//! Blobs in process memory, for caches that live only as long as their handle.

use super::{BlobFile, BlobGuard, BlobStore};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub struct MemBlobs {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemBlobs {
    fn map(&self) -> Result<MutexGuard<'_, HashMap<String, Vec<u8>>>> {
        self.blobs.lock().map_err(|_| Error::backend("memory blob store poisoned"))
    }
}

impl BlobStore for MemBlobs {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn put(&self, id: &str, data: &[u8], _durable: bool) -> Result<BlobGuard> {
        self.map()?.insert(id.to_string(), data.to_vec());
        Ok(BlobGuard::none())
    }
    fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.map()?.get(id).cloned())
    }
    fn size(&self, id: &str) -> Result<Option<u64>> {
        Ok(self.map()?.get(id).map(|d| d.len() as u64))
    }
    fn copy(&self, src: &str, dst: &str, _durable: bool) -> Result<BlobGuard> {
        let mut map = self.map()?;
        let data = map.get(src).cloned().ok_or_else(|| Error::corrupt(format!("blob {src} is missing")))?;
        map.insert(dst.to_string(), data);
        Ok(BlobGuard::none())
    }
    fn delete(&self, id: &str) -> Result<()> {
        self.map()?.remove(id);
        Ok(())
    }
    fn walk(&self) -> Result<Vec<BlobFile>> {
        Ok(self
            .map()?
            .iter()
            .map(|(id, d)| BlobFile { id: id.clone(), size: d.len() as u64, temporary: false, path: String::new() })
            .collect())
    }
    fn is_held(&self, _file: &BlobFile) -> bool {
        false
    }
    fn remove_unheld(&self, file: &BlobFile, still_unreferenced: &dyn Fn() -> Result<bool>) -> Result<bool> {
        // Writers insert and commit under the caller's control; check the reference again.
        if !still_unreferenced()? {
            return Ok(false);
        }
        Ok(self.map()?.remove(&file.id).is_some())
    }
    fn path_of(&self, _id: &str) -> Option<std::path::PathBuf> {
        None
    }
}
