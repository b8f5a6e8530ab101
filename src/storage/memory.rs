//! In-memory metadata backend. [`Tables`] holds the records and implements every operation of
//! [`MetadataBackend`] on plain maps; [`Memory`] guards it with a mutex, and the JSON backend
//! loads and saves the same tables around each call.

use super::filter::{Filter, Order, Value};
use super::{Action, Loaded, MetadataBackend, Outcome, Payload, Record, Scanned, TxBody};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard};

/// One stored row: the record and its inline data.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Row {
    pub record: Record,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64opt")]
    pub inline: Option<Vec<u8>>,
}

mod b64opt {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| base64::engine::general_purpose::STANDARD.decode(s).map_err(serde::de::Error::custom)).transpose()
    }
}

/// All namespaces' rows, ordered by (namespace, key).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tables {
    pub rows: BTreeMap<String, BTreeMap<String, Row>>,
}

impl Tables {
    fn ns(&self, ns: &str) -> Option<&BTreeMap<String, Row>> {
        self.rows.get(ns)
    }

    fn ns_mut(&mut self, ns: &str) -> &mut BTreeMap<String, Row> {
        self.rows.entry(ns.to_string()).or_default()
    }

    pub fn get(&self, ns: &str, key: &str) -> Option<Record> {
        self.ns(ns)?.get(key).map(|r| r.record.clone())
    }

    pub fn read(&mut self, ns: &str, keys: &[&str], cond: &Filter, access: Option<i64>) -> Vec<Option<Loaded>> {
        let table = self.ns_mut(ns);
        // Each record is bumped once however often its key is named, as in SQL.
        let mut seen: std::collections::HashMap<&str, Option<Loaded>> = std::collections::HashMap::new();
        for k in keys {
            if seen.contains_key(k) {
                continue;
            }
            let got = table.get_mut(*k).filter(|row| cond.matches(&row.record)).map(|row| {
                if let Some(now) = access {
                    row.record.accessed_at = now;
                    row.record.access_count += 1;
                }
                (row.record.clone(), row.inline.clone())
            });
            seen.insert(k, got);
        }
        keys.iter().map(|k| seen.get(k).cloned().flatten()).collect()
    }

    pub fn transact(
        &mut self,
        ns: &str,
        keys: &[&str],
        size_limit: Option<u64>,
        body: &mut TxBody<'_>,
    ) -> Result<Outcome> {
        let current: Vec<Option<Record>> = keys.iter().map(|k| self.get(ns, k)).collect();
        let actions = body(&current)?;
        if actions.len() != keys.len() {
            return Err(Error::backend("transaction body returned the wrong number of actions"));
        }
        // Check everything before changing anything: all or nothing.
        for ((key, old), action) in keys.iter().zip(&current).zip(&actions) {
            if let Action::Put(rec, payload) = action {
                if rec.key != *key {
                    return Err(Error::backend("transaction body put a record under another key"));
                }
                if matches!(payload, Payload::Keep) && old.is_none() {
                    return Err(Error::backend("metadata-only write of a missing record"));
                }
            }
        }
        let mut out = Outcome::default();
        let assigned: HashSet<String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Put(r, Payload::Blob) => r.blob.clone(),
                _ => None,
            })
            .collect();
        let table = self.ns_mut(ns);
        for (key, action) in keys.iter().zip(actions) {
            match action {
                Action::Nothing => {}
                Action::Delete => {
                    if let Some(old) = table.remove(*key) {
                        out.dead_blobs.extend(old.record.blob);
                    }
                }
                Action::Put(mut rec, payload) => {
                    let old = table.remove(*key);
                    let inline = match payload {
                        Payload::Keep => {
                            let old = old.clone().unwrap_or_default();
                            rec.blob = old.record.blob;
                            old.inline
                        }
                        Payload::Inline(d) => {
                            rec.blob = None;
                            Some(d)
                        }
                        Payload::Blob => None,
                    };
                    if let Some(old) = old {
                        if old.record.blob.is_some() && old.record.blob != rec.blob {
                            out.dead_blobs.extend(old.record.blob);
                        }
                    }
                    table.insert(key.to_string(), Row { record: rec, inline });
                }
            }
        }
        // A blob handed from one record to another (a move) is not dead.
        out.dead_blobs.retain(|b| !assigned.contains(b));
        if let Some(limit) = size_limit {
            let protect: HashSet<&str> = keys.iter().copied().collect();
            let mut total: u64 = table.values().map(|r| r.record.size).sum();
            if total > limit {
                let mut lru: Vec<(i64, String)> = table
                    .iter()
                    .filter(|(k, _)| !protect.contains(k.as_str()))
                    .map(|(k, r)| (r.record.accessed_at, k.clone()))
                    .collect();
                lru.sort();
                for (_, k) in lru {
                    if total <= limit {
                        break;
                    }
                    if let Some(row) = table.remove(&k) {
                        total -= row.record.size;
                        out.evicted += 1;
                        out.dead_blobs.extend(row.record.blob);
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn delete_where(&mut self, ns: &str, filter: &Filter) -> (u64, Vec<String>) {
        let table = self.ns_mut(ns);
        let mut blobs = Vec::new();
        let before = table.len();
        table.retain(|_, row| {
            let hit = filter.matches(&row.record);
            if hit {
                blobs.extend(row.record.blob.clone());
            }
            !hit
        });
        ((before - table.len()) as u64, blobs)
    }

    pub fn set_expiry_where(&mut self, ns: &str, filter: &Filter, expires_at: Option<i64>) -> u64 {
        let mut n = 0;
        for row in self.ns_mut(ns).values_mut().filter(|r| filter.matches(&r.record)) {
            row.record.expires_at = expires_at;
            n += 1;
        }
        n
    }

    pub fn update_where(
        &mut self,
        ns: &str,
        filter: &Filter,
        body: &mut dyn FnMut(&Record) -> Result<Option<Record>>,
    ) -> Result<u64> {
        // Compute every change first so a failing body changes nothing.
        let mut changes = Vec::new();
        for (k, row) in self.ns_mut(ns).iter() {
            if filter.matches(&row.record) {
                if let Some(mut new) = body(&row.record)? {
                    new.blob = row.record.blob.clone();
                    changes.push((k.clone(), new));
                }
            }
        }
        let table = self.ns_mut(ns);
        let n = changes.len() as u64;
        for (k, new) in changes {
            if let Some(row) = table.get_mut(&k) {
                row.record = new;
            }
        }
        Ok(n)
    }

    pub fn list(
        &self,
        ns: &str,
        filter: &Filter,
        order: Order,
        after: Option<&(Value, String)>,
        limit: usize,
    ) -> Vec<Record> {
        let Some(table) = self.ns(ns) else { return Vec::new() };
        let mut hits: Vec<(Value, &Record)> = table
            .values()
            .filter(|r| filter.matches(&r.record))
            .map(|r| (order.value_of(&r.record), &r.record))
            .filter(|(v, r)| match after {
                None => true,
                Some((av, ak)) => match (v, av) {
                    (Value::Int(a), Value::Int(b)) => (*a, &r.key) > (*b, ak),
                    _ => r.key > *ak,
                },
            })
            .collect();
        hits.sort_by(|(va, a), (vb, b)| match (va, vb) {
            (Value::Int(x), Value::Int(y)) => (x, &a.key).cmp(&(y, &b.key)),
            _ => a.key.cmp(&b.key),
        });
        hits.into_iter().take(limit).map(|(_, r)| r.clone()).collect()
    }

    pub fn scan(&self, ns: &str, after_key: Option<&str>, limit: usize) -> Vec<Scanned> {
        let Some(table) = self.ns(ns) else { return Vec::new() };
        let start = after_key.unwrap_or("");
        table
            .range::<str, _>((std::ops::Bound::Excluded(start), std::ops::Bound::Unbounded))
            .take(limit)
            .map(|(_, r)| Scanned::Ok(r.record.clone()))
            .collect()
    }

    pub fn totals(&self, ns: &str) -> (u64, u64) {
        self.ns(ns).map_or((0, 0), |t| (t.len() as u64, t.values().map(|r| r.record.size).sum()))
    }

    pub fn referenced_blobs(&self, ids: &[String]) -> Vec<String> {
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut found: Vec<String> = self
            .rows
            .values()
            .flat_map(|t| t.values())
            .filter_map(|r| r.record.blob.as_deref())
            .filter(|b| wanted.contains(b))
            .map(str::to_string)
            .collect();
        found.sort();
        found.dedup();
        found
    }

    pub fn remove_raw(&mut self, ns: &str, key: &str) -> Option<String> {
        self.ns_mut(ns).remove(key).and_then(|r| r.record.blob)
    }
}

/// Records in process memory.
#[derive(Default)]
pub struct Memory {
    tables: Mutex<Tables>,
}

impl Memory {
    fn t(&self) -> Result<MutexGuard<'_, Tables>> {
        self.tables.lock().map_err(|_| Error::backend("memory backend poisoned"))
    }
}

impl MetadataBackend for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn get(&self, ns: &str, key: &str) -> Result<Option<Record>> {
        Ok(self.t()?.get(ns, key))
    }
    fn read(&self, ns: &str, keys: &[&str], cond: &Filter, access: Option<i64>) -> Result<Vec<Option<Loaded>>> {
        Ok(self.t()?.read(ns, keys, cond, access))
    }
    fn transact(&self, ns: &str, keys: &[&str], size_limit: Option<u64>, body: &mut TxBody<'_>) -> Result<Outcome> {
        self.t()?.transact(ns, keys, size_limit, body)
    }
    fn delete_where(&self, ns: &str, filter: &Filter) -> Result<(u64, Vec<String>)> {
        Ok(self.t()?.delete_where(ns, filter))
    }
    fn set_expiry_where(&self, ns: &str, filter: &Filter, expires_at: Option<i64>) -> Result<u64> {
        Ok(self.t()?.set_expiry_where(ns, filter, expires_at))
    }
    fn update_where(
        &self,
        ns: &str,
        filter: &Filter,
        body: &mut dyn FnMut(&Record) -> Result<Option<Record>>,
    ) -> Result<u64> {
        self.t()?.update_where(ns, filter, body)
    }
    fn list(
        &self,
        ns: &str,
        filter: &Filter,
        order: Order,
        after: Option<&(Value, String)>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        Ok(self.t()?.list(ns, filter, order, after, limit))
    }
    fn scan(&self, ns: &str, after_key: Option<&str>, limit: usize) -> Result<Vec<Scanned>> {
        Ok(self.t()?.scan(ns, after_key, limit))
    }
    fn totals(&self, ns: &str) -> Result<(u64, u64)> {
        Ok(self.t()?.totals(ns))
    }
    fn referenced_blobs(&self, ids: &[String]) -> Result<Vec<String>> {
        Ok(self.t()?.referenced_blobs(ids))
    }
    fn remove_raw(&self, ns: &str, key: &str) -> Result<Option<String>> {
        Ok(self.t()?.remove_raw(ns, key))
    }
}
