//! Export and import (tar / tar.gz with a manifest; or one JSON document).

use super::Cache;
use crate::error::{Error, Result};

impl Cache {
    pub fn export(&self, path: &str, options_json: Option<&str>) -> Result<u64> {
        let _ = (path, options_json);
        Err(Error::backend("export: not implemented yet"))
    }
    pub fn import(&self, path: &str, options_json: Option<&str>) -> Result<u64> {
        let _ = (path, options_json);
        Err(Error::backend("import: not implemented yet"))
    }
    pub fn export_json(&self, options_json: Option<&str>) -> Result<String> {
        let _ = options_json;
        Err(Error::backend("export_json: not implemented yet"))
    }
    pub fn import_json(&self, doc_json: &str, options_json: Option<&str>) -> Result<u64> {
        let _ = (doc_json, options_json);
        Err(Error::backend("import_json: not implemented yet"))
    }
}
