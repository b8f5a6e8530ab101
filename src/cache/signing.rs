//! HMAC-SHA256 over a record's fields. Covers what a record claims about its data (key,
//! params, type, description, size, content hash, version, creation time, metadata); not the
//! access bookkeeping or the expiry time, which set-based touches change in SQL.

use crate::error::{Error, Result};
use crate::storage::Record;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    /// `hex_key`: at least 32 bytes, hex encoded.
    pub fn from_hex(hex_key: &str) -> Result<Self> {
        let key = hex::decode(hex_key).map_err(|_| Error::invalid("signing_key must be hex"))?;
        if key.len() < 32 {
            return Err(Error::invalid("signing_key must be at least 32 bytes (64 hex characters)"));
        }
        Ok(Signer { key })
    }

    fn mac(&self, ns: &str, r: &Record) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        let fields = serde_json::json!([
            1,
            ns,
            r.key,
            r.params,
            r.data_type,
            r.description,
            r.size,
            r.content_hash,
            r.version,
            r.created_at,
            r.metadata
        ]);
        mac.update(fields.to_string().as_bytes());
        mac
    }

    pub fn sign(&self, ns: &str, r: &Record) -> String {
        hex::encode(self.mac(ns, r).finalize().into_bytes())
    }

    /// Constant-time check of `r.signature`.
    pub fn check(&self, ns: &str, r: &Record) -> bool {
        match hex::decode(&r.signature) {
            Ok(sig) => self.mac(ns, r).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }
}
