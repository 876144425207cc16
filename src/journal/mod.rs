//! The punch journal: zkserver's own durable store (SQLite, WAL).
//!
//! It keeps every punch once (unique on device, user, time) with a
//! journal position (`seq`) that only grows, the journal's copy of push
//! terminals' users, pending serials with their punches and users, upload
//! stamps, push terminals' last contacts, the command queue for push
//! terminals, and the staff list (people, their templates, tombstones and
//! what each terminal was last given of it). A write returns only after its
//! transaction is committed to disk (`synchronous=FULL`).
//!
//! One writer connection (behind a mutex) and a small pool of read-only
//! connections: in WAL mode readers see the last commit and never wait for
//! an open write.

mod checkpoint;
mod commands;
mod contacts;
mod error;
mod lock;
mod many_rows;
mod meta;
mod pending;
mod people;
mod people_import;
mod people_push;
mod people_sync;
mod people_terminals;
mod pins;
mod punches;
mod report_schedules;
mod schema;
mod serials;
mod stamps;
mod sync_record;
mod templates;
mod users;

use std::path::{Path, PathBuf};

use std::time::Duration;

use parking_lot::Mutex;

use crate::signal::Changes;
use rusqlite::{Connection, OpenFlags};

pub use commands::{Command, CommandStatus, MarkOutcome};
pub use contacts::SavedContact;
pub use error::JournalError;
pub use lock::{lock_path, JournalLock, LockError};
pub use pending::{Adoption, PendingSerial, PendingSighting, RemovedPending};
pub use people::{
    fold_for_search, PeopleExport, PeopleFilter, PeoplePage, Person, PersonChanges, PersonNames,
    RestoreCounts, EVERY_AREA,
};
pub use people_import::TerminalImport;
pub use people_push::{PeopleCommand, PeopleCommandKind, PeopleCommandTag};
pub use people_sync::{SyncRow, SyncState, TemplateSent};
pub use people_terminals::SyncCounters;
pub use pins::Pin;
pub use punches::{InsertOutcome, NewPunch, PunchFilter, PunchPage, StoredPunch};
pub use report_schedules::ScheduleScope;
pub use schema::{APPLICATION_ID, CURRENT_VERSION};
pub use serials::{Claim, DeviceRename};
pub use stamps::StampTable;
pub use sync_record::SyncRecord;
pub use templates::{Template, TemplateInfo, TemplateKind, TemplateWrite};
pub use users::JournalUser;

/// Read connections kept open for reuse.
const READER_POOL: usize = 4;

/// An open journal. `Sync`: share it behind an `Arc`.
pub struct Journal {
    /// See [`Journal::id`].
    id: String,
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Notified by commits that store punches; readers wait on it (the
    /// server's one change signal: see [`Journal::changes`]).
    stored: Changes,
    /// Raised by every change to the staff list (people, templates): the
    /// sync engine waits on it.
    people: Changes,
    /// Serials recorded for device ids by this process (see `claim_serial`).
    claimed: Mutex<std::collections::HashMap<String, String>>,
    /// The staff list's names, read once per change (see `person_names`).
    names: people::NameCache,
    /// Checkpoints the log after writes, off the writers' path.
    checkpoints: checkpoint::Checkpointer,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

/// The journal holds keypad passwords (queued commands, the users copy, the
/// staff list) and biometric templates (the staff list's `templates`):
/// a new journal file is created readable and writable by zkserver's user
/// only (0600); SQLite gives its `-wal` and `-shm` the same mode. Nothing
/// to do when the file exists (or cannot be made: SQLite then says why).
#[cfg(unix)]
fn create_private(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

/// On Windows the data folder's ACL keeps the journal private.
#[cfg(not(unix))]
fn create_private(_path: &Path) {}

/// A journal (and its `-wal`/`-shm`) that others may read, made by an
/// older zkserver or copied in, is made private (0600), with a log line.
#[cfg(unix)]
fn keep_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let file = PathBuf::from(name);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            continue;
        }
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => log::warn!(
                "{}: was readable by others (mode {mode:o}); now 600 (it holds keypad passwords)",
                file.display()
            ),
            Err(e) => log::warn!(
                "{}: readable by others (mode {mode:o}) and could not be made private: {e}",
                file.display()
            ),
        }
    }
}

/// On Windows the data folder's ACL keeps the journal private.
#[cfg(not(unix))]
fn keep_private(_path: &Path) {}

/// Creates the journal's folder (and its parents) readable by zkserver's
/// user only (0700 on Unix); folders that exist are left as they are.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

impl Journal {
    /// Opens (or creates) the journal at `path`, migrating an older schema.
    /// A file that is not a zkserver journal — garbage, another
    /// application's database, a newer schema — is an error naming the file,
    /// and the file is not modified.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        create_private(&path);
        schema::check_header(&path)?;
        schema::inspect_read_only(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(&path, flags).map_err(schema::sqlite(&path, "opening"))?;
        schema::configure_common(&conn, &path)?;
        schema::prepare(&mut conn, &path)?;
        keep_private(&path);
        let id = conn
            .query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
                r.get(0)
            })
            .map_err(schema::sqlite(&path, "reading the journal's identity"))?;
        let checkpoints = checkpoint::Checkpointer::start(&path)?;
        Ok(Journal {
            id,
            checkpoints,
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            stored: Changes::new(),
            people: Changes::new(),
            claimed: Mutex::new(std::collections::HashMap::new()),
            names: people::NameCache::default(),
        })
    }

    /// The change signal commits that store punches notify: the services
    /// make it the server's one signal, so streams, webhooks and deliveries
    /// wake on stored punches without polling the file.
    pub fn changes(&self) -> Changes {
        self.stored.clone()
    }

    /// The signal's count now (to wait from, see [`Journal::wait_stored`]).
    pub fn stored_commits(&self) -> u64 {
        self.stored.current()
    }

    /// Waits at most `timeout` for a change after the count `seen` (a
    /// commit that stores punches, or anything else the signal reports);
    /// updates `seen` and says whether one came.
    pub fn wait_stored(&self, seen: &mut u64, timeout: Duration) -> bool {
        self.stored.wait(seen, timeout)
    }

    /// The staff list's change signal: raised after every committed change
    /// to people or templates (the sync engine waits on it).
    pub fn people_changes(&self) -> Changes {
        self.people.clone()
    }

    /// Wakes the staff list's waiters (a change was committed).
    pub(crate) fn announce_people(&self) {
        self.people.notify();
    }

    /// Wakes the waiters after a commit that stored `n` punches.
    fn announce_stored(&self, n: usize) {
        if n > 0 {
            self.stored.notify();
        }
    }

    /// The journal's identity: random, made when it was created (or
    /// migrated to version 2), never reused by another journal.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the writer connection (one writer at a time).
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
        action: &'static str,
    ) -> Result<T, JournalError> {
        let mut conn = self.writer.lock();
        let done = f(&mut conn).map_err(schema::sqlite(&self.path, action));
        drop(conn);
        self.checkpoints.wrote();
        done
    }

    /// Runs `f` with a read-only connection from the pool; never waits for
    /// the writer.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
        action: &'static str,
    ) -> Result<T, JournalError> {
        let conn = match self.readers.lock().pop() {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let result = f(&conn).map_err(schema::sqlite(&self.path, action));
        let mut pool = self.readers.lock();
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        result
    }

    /// Checks that `t` can be stored as text that sorts like the time
    /// (a year within 0001–9999).
    fn check_time(&self, t: crate::time::WallTime) -> Result<(), JournalError> {
        match crate::time::format_time(&t.naive()) {
            Some(_) => Ok(()),
            None => Err(JournalError::InvalidTime {
                path: self.path.clone(),
                time: t.to_string(),
            }),
        }
    }

    /// Opens one more read-only connection.
    fn open_reader(&self) -> Result<Connection, JournalError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(schema::sqlite(&self.path, "opening a reader"))?;
        schema::configure_common(&conn, &self.path)?;
        Ok(conn)
    }
}

/// Reads a `count(*)` column (never negative) as `u64`.
fn count(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    row.get::<_, i64>(index)
        .map(|n| u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests;
