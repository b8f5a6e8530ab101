//! Background WAL checkpoints for the SQLite backend.
//!
//! SQLite's default copies the write-ahead log back into the database file inside the commit
//! that takes the log past 1000 pages, so one caller in every few pays for everyone's writes
//! (a quarter of a 1000-entry put_batch, measured). As SQLite's WAL documentation suggests,
//! this handle instead runs PASSIVE checkpoints on its own thread and connection after writes:
//! PASSIVE never waits for, nor blocks, readers or writers (of any process). SQLite's own
//! automatic checkpoint stays on with a larger threshold ([`FALLBACK_PAGES`]), so the log stays
//! bounded even when this thread cannot keep up or cannot start.

use rusqlite::Connection;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pages in the log after which a committing writer checkpoints by itself (SQLite's
/// `wal_autocheckpoint`): 8192 pages of 4 KiB = 32 MiB.
pub const FALLBACK_PAGES: i64 = 8192;

/// How long the thread lets writes gather before a checkpoint: each checkpoint ends with an
/// fsync of the database file, so a stream of small writes gets one per interval.
const GATHER: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    /// Writes were committed since the last checkpoint started.
    dirty: bool,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, conn: Connection) {
        loop {
            let mut st = self.lock();
            while !st.dirty && !st.stop {
                st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.stop {
                return;
            }
            // Gather: later commits in this interval are covered by the same checkpoint.
            let (mut st, _) = self.wake.wait_timeout_while(st, GATHER, |s| !s.stop).unwrap_or_else(|p| p.into_inner());
            if st.stop {
                return;
            }
            st.dirty = false;
            drop(st);
            // Busy (another connection is checkpointing) or failing (disk full): the next
            // write asks again, and SQLite's fallback threshold still bounds the log.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    }
}

/// The checkpoint thread of one SQLite backend; stopped and joined on drop.
pub struct Checkpointer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The thread could not be started: writers rely on SQLite's fallback.
    failed: std::sync::atomic::AtomicBool,
}

impl Checkpointer {
    pub fn new() -> Self {
        Checkpointer {
            shared: Arc::new(Shared { state: Mutex::new(State::default()), wake: Condvar::new() }),
            thread: Mutex::new(None),
            failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Called after a write transaction committed. `open` gives the thread its connection the
    /// first time.
    pub fn wrote(&self, open: impl FnOnce() -> Option<Connection>) {
        use std::sync::atomic::Ordering;
        if self.failed.load(Ordering::Relaxed) {
            return;
        }
        {
            let mut st = self.shared.lock();
            if st.dirty {
                return; // a checkpoint is already due
            }
            st.dirty = true;
        }
        let mut t = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if t.is_none() {
            let Some(conn) = open() else {
                self.failed.store(true, Ordering::Relaxed);
                return;
            };
            let shared = self.shared.clone();
            match std::thread::Builder::new().name("cacheness-ckpt".into()).spawn(move || shared.run(conn)) {
                Ok(h) => *t = Some(h),
                Err(_) => {
                    self.failed.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
        drop(t);
        self.shared.wake.notify_one();
    }
}

impl Default for Checkpointer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(h) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}
