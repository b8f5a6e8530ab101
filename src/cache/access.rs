//! Deferred access bookkeeping.
//!
//! A hit must update `accessed_at` and `access_count`, but writing that on the read path costs
//! a write transaction per get, and with SQLite it rewrites the whole row, inline value and
//! all. So a hit is noted in memory and a background thread writes the notes in one
//! transaction [`FLUSH_AFTER`] after the first of them. They are also written at once before
//! any read through the same handle that shows them (metadata, list), before an eviction, when
//! [`MAX_KEYS`] keys wait, and when the handle closes. Other handles and processes see a hit
//! within about [`FLUSH_AFTER`]; a crash loses at most that much access history, never data.

use crate::error::{Code, Error, Result};
use crate::storage::{AccessNote, MetadataBackend};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a hit may wait before the background thread writes it.
pub const FLUSH_AFTER: Duration = Duration::from_millis(250);
/// Notes are written at once when this many keys wait.
pub const MAX_KEYS: usize = 4096;

#[derive(Default)]
struct State {
    /// key -> (version read, last access time in ms, number of hits)
    hits: HashMap<String, (u64, i64, u64)>,
    since: Option<Instant>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    meta: Arc<dyn MetadataBackend>,
    ns: String,
}

pub struct AccessLog {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map inconsistent; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes every waiting note in one transaction; on failure they wait for the next try.
    fn flush(&self) -> Result<()> {
        let items: Vec<AccessNote> = {
            let mut st = self.lock();
            st.since = None;
            st.hits.drain().map(|(k, (v, t, n))| (k, v, t, n)).collect()
        };
        if items.is_empty() {
            return Ok(());
        }
        let result = self.meta.add_access(&self.ns, &items);
        match &result {
            // A read-only cache can never take them: drop them rather than fail every later
            // read that flushes first.
            Err(e) if e.code == Code::Io => {}
            Err(_) => {
                let mut st = self.lock();
                for (k, v, t, n) in items {
                    add(&mut st.hits, k, v, t, n);
                }
                st.since.get_or_insert_with(Instant::now);
            }
            Ok(()) => {}
        }
        result
    }

    /// The background thread: sleeps until there are notes, waits until they are due, writes.
    fn run(self: Arc<Self>) {
        loop {
            {
                let mut st = self.lock();
                while st.hits.is_empty() && !st.closed {
                    st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                if st.closed {
                    return;
                }
                let due = st.since.unwrap_or_else(Instant::now) + FLUSH_AFTER;
                while !st.closed {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    st = self.wake.wait_timeout(st, due - now).unwrap_or_else(|p| p.into_inner()).0;
                }
                if st.closed {
                    return;
                }
            }
            if self.flush().is_err() {
                // Busy or failing database: try again a little later, not in a tight loop.
                std::thread::sleep(FLUSH_AFTER);
            }
        }
    }
}

/// Adds hits on `version` of `key`; hits on an older version than the newest noted are dropped
/// (they were on data that has been replaced).
fn add(hits: &mut HashMap<String, (u64, i64, u64)>, key: String, version: u64, t: i64, n: u64) {
    let e = hits.entry(key).or_insert((version, t, 0));
    if version > e.0 {
        *e = (version, t, 0);
    }
    if version == e.0 {
        e.1 = e.1.max(t);
        e.2 += n;
    }
}

impl AccessLog {
    pub fn new(meta: Arc<dyn MetadataBackend>, ns: String) -> Self {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), wake: Condvar::new(), meta, ns });
        AccessLog { shared, thread: Mutex::new(None) }
    }

    /// Notes one hit on each (key, version read) at `now` (ms).
    pub fn note(&self, keys: &[(&str, u64)], now: i64) {
        if keys.is_empty() {
            return;
        }
        let (full, first) = {
            let mut st = self.shared.lock();
            let first = st.hits.is_empty();
            for (k, v) in keys {
                add(&mut st.hits, (*k).to_string(), *v, now, 1);
            }
            st.since.get_or_insert_with(Instant::now);
            (st.hits.len() >= MAX_KEYS, first)
        };
        if full || !self.ensure_thread() {
            let _ = self.shared.flush();
        } else if first {
            // Only an empty log leaves the writer asleep; otherwise it is already timing a flush.
            self.shared.wake.notify_one();
        }
    }

    /// Starts the background thread on first use; false if it cannot run.
    fn ensure_thread(&self) -> bool {
        let mut t = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if t.is_none() {
            let shared = self.shared.clone();
            match std::thread::Builder::new().name("cacheness-access".into()).spawn(move || shared.run()) {
                Ok(h) => *t = Some(h),
                Err(_) => return false,
            }
        }
        true
    }

    /// Writes every waiting note now.
    pub fn flush(&self) -> Result<()> {
        self.shared.flush().map_err(|e| Error::new(e.code, format!("writing access times: {}", e.message)))
    }

    /// Drops the notes of entries whose data was just replaced.
    pub fn forget(&self, keys: &[&str]) {
        let mut st = self.shared.lock();
        for k in keys {
            st.hits.remove(*k);
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
        if let Some(h) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
        let _ = self.shared.flush();
    }
}
