//! Checkpoints of the write-ahead log, from a thread of their own.
//!
//! SQLite copies the log into the database file (a checkpoint) inside the
//! commit that takes the log past a number of pages: that commit — a
//! terminal's upload, a staff list import — waits while the file is
//! written and synced (a quarter of a 10 MB import's commit). Every write
//! wakes this thread instead, which runs a `PASSIVE` checkpoint on its own
//! connection, at most every [`PAUSE`]; the writer's own checkpoint stays,
//! raised to `schema::SAFETY_NET_PAGES` (16 MB), as the safety net for a
//! burst larger than that between two of this thread's checkpoints: it
//! keeps the log from growing without end. Durability does not change: a
//! commit is on disk once its log frames are synced, before any
//! checkpoint. A checkpoint never blocks the writer or the readers; one
//! that fails (a full disk) is logged once and retried on the next wake.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, OpenFlags};

use super::{schema, JournalError};

/// The least time between two checkpoints.
const PAUSE: Duration = Duration::from_millis(500);

/// What the writer tells the thread.
#[derive(Debug, Default)]
struct Wakes {
    /// Something was written since the last checkpoint.
    pending: bool,
    /// The journal is closing.
    stop: bool,
}

type Shared = Arc<(Mutex<Wakes>, Condvar)>;

/// The checkpointing thread; stopped (after a last checkpoint) when dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection to `path` and starts the thread.
    pub(super) fn start(path: &Path) -> Result<Checkpointer, JournalError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(schema::sqlite(path, "opening for checkpoints"))?;
        schema::configure_common(&conn, path)?;
        // A first checkpoint now opens the log (a descriptor this
        // connection then keeps): later ones take no new descriptor, so
        // the thread never competes with the server for its last ones.
        let mut failing = false;
        checkpoint(&conn, path, &mut failing);
        let shared: Shared = Arc::default();
        let thread = std::thread::Builder::new()
            .name("journal-checkpoint".into())
            .spawn({
                let shared = shared.clone();
                let path = path.to_path_buf();
                move || run(&conn, &path, &shared, failing)
            })
            .map_err(|e| JournalError::Sqlite {
                path: path.to_path_buf(),
                action: "starting the checkpoint thread",
                source: rusqlite::Error::InvalidParameterName(e.to_string()),
            })?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Something was written: a checkpoint is due.
    pub(super) fn wrote(&self) {
        let (lock, wake) = &*self.shared;
        let mut w = lock.lock();
        if !w.pending {
            w.pending = true;
            wake.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        {
            let (lock, wake) = &*self.shared;
            let mut w = lock.lock();
            w.stop = true;
            wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: waits for writes, checkpoints, pauses; a last checkpoint
/// when stopped. `failing`: the first checkpoint (at start) failed and
/// was logged.
fn run(conn: &Connection, path: &Path, shared: &Shared, mut failing: bool) {
    let (lock, wake) = &**shared;
    loop {
        let stop = {
            let mut w = lock.lock();
            while !w.pending && !w.stop {
                wake.wait(&mut w);
            }
            w.pending = false;
            w.stop
        };
        checkpoint(conn, path, &mut failing);
        if stop {
            return;
        }
        let mut w = lock.lock();
        wake.wait_while_for(&mut w, |w| !w.stop, PAUSE);
    }
}

/// One `PASSIVE` checkpoint; a failure is logged once until one succeeds.
fn checkpoint(conn: &Connection, path: &Path, failing: &mut bool) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
    match done {
        Ok(_) => {
            if std::mem::take(failing) {
                log::info!("journal {}: checkpoints work again", path.display());
            }
        }
        Err(e) if !*failing => {
            *failing = true;
            log::warn!(
                "journal {}: checkpoint failed (the log grows until one succeeds): {e}",
                path.display()
            );
        }
        Err(_) => {}
    }
}
