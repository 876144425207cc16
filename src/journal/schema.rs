//! The journal's schema: how a file is recognised as ours, the migrations
//! that bring it to the current version, and the connection settings
//! (WAL, `synchronous=FULL`).
//!
//! A file is ours when its `application_id` is [`APPLICATION_ID`]; its schema
//! version is `PRAGMA user_version`. An empty file (or a new one) is
//! initialised. Anything else — garbage bytes, another application's
//! database, a newer schema — is an error and the file is not written:
//! nothing is changed before the checks pass.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::JournalError;

/// `PRAGMA application_id` of a zkserver journal ("ZKSJ").
pub const APPLICATION_ID: i64 = 0x5A4B_534A;

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Schema steps; step `i` brings version `i` to `i + 1`. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: punches (devices by number, with their punch count), users copy,
    // pending serials, stamps, command queue.
    "CREATE TABLE devices (
         id INTEGER PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         punches INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE punches (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         device INTEGER NOT NULL REFERENCES devices (id),
         user_id TEXT NOT NULL,
         time TEXT NOT NULL,
         status INTEGER NOT NULL,
         punch INTEGER NOT NULL,
         workcode TEXT,
         received_at TEXT NOT NULL,
         UNIQUE (device, user_id, time)
     );
     CREATE INDEX punches_by_time ON punches (device, time DESC, seq);
     CREATE INDEX punches_by_device ON punches (device);
     CREATE TABLE users (
         device TEXT NOT NULL,
         user_id TEXT NOT NULL,
         uid INTEGER,
         name TEXT NOT NULL,
         privilege INTEGER NOT NULL,
         card TEXT NOT NULL,
         password TEXT,
         grp TEXT,
         updated_at TEXT NOT NULL,
         PRIMARY KEY (device, user_id)
     );
     CREATE TABLE pending_serials (
         sn TEXT PRIMARY KEY,
         ip TEXT NOT NULL,
         first_seen TEXT NOT NULL,
         last_seen TEXT NOT NULL,
         user_agent TEXT NOT NULL,
         pushver TEXT NOT NULL
     );
     CREATE TABLE pending_punches (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         sn TEXT NOT NULL,
         user_id TEXT NOT NULL,
         time TEXT NOT NULL,
         status INTEGER NOT NULL,
         punch INTEGER NOT NULL,
         workcode TEXT,
         received_at TEXT NOT NULL,
         UNIQUE (sn, user_id, time)
     );
     CREATE TABLE stamps (
         device TEXT NOT NULL,
         tbl TEXT NOT NULL,
         stamp TEXT NOT NULL,
         PRIMARY KEY (device, tbl)
     );
     CREATE TABLE commands (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         device TEXT NOT NULL,
         command TEXT NOT NULL,
         status TEXT NOT NULL CHECK (status IN
             ('pendiente', 'enviado', 'completado', 'fallido', 'caducado')),
         return_code INTEGER,
         created_at TEXT NOT NULL,
         sent_at TEXT,
         done_at TEXT
     );
     CREATE INDEX commands_by_device ON commands (device, status, id);",
    // 2: the journal's identity (random, made once), so what was delivered
    // from one journal is never taken for a position in another.
    "CREATE TABLE meta (
         key TEXT PRIMARY KEY,
         value TEXT NOT NULL
     );
     INSERT INTO meta (key, value) VALUES ('journal_id', lower(hex(randomblob(16))));",
    // 3: users a pending serial uploaded (adopted with its punches), and
    // each push terminal's last contact (so it survives a SIGKILL).
    "CREATE TABLE pending_users (
         sn TEXT NOT NULL,
         user_id TEXT NOT NULL,
         uid INTEGER,
         name TEXT NOT NULL,
         privilege INTEGER NOT NULL,
         card TEXT NOT NULL,
         password TEXT,
         grp TEXT,
         updated_at TEXT NOT NULL,
         PRIMARY KEY (sn, user_id)
     );
     CREATE TABLE contacts (
         sn TEXT PRIMARY KEY,
         ip TEXT NOT NULL,
         last_seen TEXT NOT NULL
     );",
    // 4: each device's terminal serial number, so that the same terminal
    // under a new id keeps its history; and the renames that moved it,
    // at a journal position of their own (deliveries apply them in order).
    "ALTER TABLE devices ADD COLUMN serial TEXT;
     CREATE UNIQUE INDEX devices_by_serial ON devices (serial);
     CREATE TABLE device_renames (
         seq INTEGER PRIMARY KEY,
         old TEXT NOT NULL,
         new TEXT NOT NULL,
         serial TEXT NOT NULL,
         renamed_at TEXT NOT NULL
     );",
    // 5: the staff list (people, their templates, tombstones) and what each
    // terminal was last given of it. `search` is the folded "user_id name"
    // for accent-insensitive search; `hash` a content hash (SHA-256, hex)
    // of what a terminal receives, so a sync moves only what changed.
    "CREATE TABLE people (
         user_id TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         card INTEGER,
         password TEXT,
         privilege INTEGER NOT NULL,
         areas TEXT NOT NULL,
         search TEXT NOT NULL,
         hash TEXT NOT NULL,
         updated_at TEXT NOT NULL,
         deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
         deleted_at TEXT
     );
     CREATE INDEX people_by_deleted ON people (deleted, user_id);
     CREATE TABLE templates (
         user_id TEXT NOT NULL,
         kind TEXT NOT NULL CHECK (kind IN ('finger', 'face')),
         idx INTEGER NOT NULL CHECK (idx BETWEEN 0 AND 255),
         version TEXT NOT NULL,
         flag INTEGER NOT NULL,
         data BLOB,
         size INTEGER NOT NULL,
         hash TEXT NOT NULL,
         updated_at TEXT NOT NULL,
         deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
         PRIMARY KEY (user_id, kind, idx)
     );
     CREATE TABLE people_sync (
         device TEXT NOT NULL,
         user_id TEXT NOT NULL,
         hash TEXT,
         state TEXT NOT NULL CHECK (state IN
             ('al_dia', 'pendiente', 'incompatible', 'fuera_de_area', 'error')),
         message TEXT,
         synced_at TEXT NOT NULL,
         PRIMARY KEY (device, user_id)
     );
     CREATE TABLE templates_sync (
         device TEXT NOT NULL,
         user_id TEXT NOT NULL,
         kind TEXT NOT NULL,
         idx INTEGER NOT NULL,
         hash TEXT NOT NULL,
         written_at TEXT NOT NULL,
         PRIMARY KEY (device, user_id, kind, idx)
     );",
    // 6: every change to a person (insert, update, tombstone,
    // restore — whoever writes it) leaves its PIN in an outbox, in order:
    // what delivery into PostgreSQL (`zk_people`) follows, as it follows
    // the punches. People already in the list are in it from the start.
    "CREATE TABLE people_changes (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         user_id TEXT NOT NULL
     );
     CREATE TRIGGER people_changes_on_insert AFTER INSERT ON people
     BEGIN
         INSERT INTO people_changes (user_id) VALUES (new.user_id);
     END;
     CREATE TRIGGER people_changes_on_update AFTER UPDATE ON people
     BEGIN
         INSERT INTO people_changes (user_id) VALUES (new.user_id);
     END;
     INSERT INTO people_changes (user_id) SELECT user_id FROM people ORDER BY user_id;",
    // 7: working schedules for reports: the server default (scope
    // 'default', name ''), per area and per person; `schedule` is the
    // schedule's JSON shape.
    "CREATE TABLE report_schedules (
         scope TEXT NOT NULL CHECK (scope IN ('default', 'area', 'person')),
         name TEXT NOT NULL,
         schedule TEXT NOT NULL,
         updated_at TEXT NOT NULL,
         PRIMARY KEY (scope, name)
     );",
    // 8: what each people command queued for a push terminal is for,
    // so its result updates the sync state (`what`: user, user_delete,
    // template, template_delete, query).
    "CREATE TABLE people_push_commands (
         command_id INTEGER PRIMARY KEY,
         device TEXT NOT NULL,
         user_id TEXT NOT NULL,
         what TEXT NOT NULL,
         kind TEXT,
         idx INTEGER,
         hash TEXT
     );
     CREATE INDEX people_push_commands_by_device ON people_push_commands (device, user_id);",
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Checks the first bytes of an existing file before SQLite sees it:
/// a non-empty file must start with the SQLite header.
pub fn check_header(path: &Path) -> Result<(), JournalError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(JournalError::NotADatabase {
                path: path.to_path_buf(),
                detail: format!("cannot read it: {e}"),
            })
        }
    };
    let mut head = Vec::with_capacity(SQLITE_HEADER.len());
    let read = file
        .by_ref()
        .take(SQLITE_HEADER.len() as u64)
        .read_to_end(&mut head);
    match read {
        Ok(0) => Ok(()),
        Ok(_) if head.as_slice() == SQLITE_HEADER => Ok(()),
        Ok(n) => Err(JournalError::NotADatabase {
            path: path.to_path_buf(),
            detail: format!("its first {n} bytes are not the SQLite header"),
        }),
        Err(e) => Err(JournalError::NotADatabase {
            path: path.to_path_buf(),
            detail: format!("cannot read it: {e}"),
        }),
    }
}

/// What an opened file turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// No tables, no marks: a new journal.
    Empty,
    /// Ours, at this schema version.
    Journal(i64),
}

/// Reads the marks of an open database without writing anything.
fn classify(conn: &Connection, path: &Path) -> Result<Kind, JournalError> {
    let read = |sql: &str| -> Result<i64, JournalError> {
        conn.query_row(sql, [], |r| r.get(0))
            .map_err(|e| inspect_error(path, e))
    };
    let app = read("PRAGMA application_id")?;
    let version = read("PRAGMA user_version")?;
    let tables = table_names(conn).map_err(|e| inspect_error(path, e))?;
    if app == APPLICATION_ID {
        return Ok(Kind::Journal(version));
    }
    if app == 0 && version == 0 && tables.is_empty() {
        return Ok(Kind::Empty);
    }
    Err(JournalError::Foreign {
        path: path.to_path_buf(),
        tables: if tables.is_empty() {
            vec![format!(
                "none; application_id {app}, user_version {version}"
            )]
        } else {
            tables
        },
    })
}

/// The first few names of tables, indexes, views or triggers in the database.
fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master ORDER BY name LIMIT 10")?;
    let names = stmt.query_map([], |r| r.get(0))?;
    names.collect()
}

/// Maps an error met while inspecting a file: "not a database" and
/// corruption are a bad file, anything else an SQLite failure.
fn inspect_error(path: &Path, e: rusqlite::Error) -> JournalError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => JournalError::NotADatabase {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => JournalError::Sqlite {
            path: path.to_path_buf(),
            action: "reading the schema",
            source: e,
        },
    }
}

/// Wraps an SQLite error with the file and the action.
pub fn sqlite<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl Fn(rusqlite::Error) -> JournalError + 'a {
    move |source| JournalError::Sqlite {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Checks an existing, non-empty file through a read-only connection
/// before anything opens it for writing (a read-write open of another
/// application's WAL database could checkpoint into it when it closes).
pub fn inspect_read_only(path: &Path) -> Result<(), JournalError> {
    let non_empty = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    if !non_empty {
        return Ok(());
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| inspect_error(path, e))?;
    configure_common(&conn, path)?;
    // One snapshot: another process may be creating the journal.
    let read = conn.transaction().map_err(|e| inspect_error(path, e))?;
    match classify(&read, path)? {
        Kind::Journal(v) if v > CURRENT_VERSION => Err(JournalError::NewerVersion {
            path: path.to_path_buf(),
            found: v,
            supported: CURRENT_VERSION,
        }),
        _ => Ok(()),
    }
}

/// Checks what the writer connection opened, then (only if it is a new or
/// an older zkserver journal) turns on WAL and migrates it.
pub fn prepare(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    {
        // One snapshot: another process may be creating the journal.
        let read = conn
            .transaction()
            .map_err(sqlite(path, "reading the schema"))?;
        writable_version(&read, path)?;
    }
    configure_writer(conn, path)?;
    migrate(conn, path)
}

/// The schema version of a file this build may write: 0 for a new one;
/// another application's file or a newer schema is an error.
fn writable_version(conn: &Connection, path: &Path) -> Result<i64, JournalError> {
    match classify(conn, path)? {
        Kind::Empty => Ok(0),
        Kind::Journal(v) if v > CURRENT_VERSION => Err(JournalError::NewerVersion {
            path: path.to_path_buf(),
            found: v,
            supported: CURRENT_VERSION,
        }),
        Kind::Journal(v) => Ok(v),
    }
}

/// WAL so readers never wait for the writer; `synchronous=FULL` so that in
/// WAL mode every commit syncs the WAL: a committed transaction survives a
/// power loss (NORMAL would only guarantee consistency, not the last commits).
fn configure_writer(conn: &Connection, path: &Path) -> Result<(), JournalError> {
    let mode = enable_wal(conn).map_err(sqlite(path, "enabling WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::Sqlite {
            path: path.to_path_buf(),
            action: "enabling WAL",
            source: rusqlite::Error::InvalidParameterName(format!("journal_mode stayed {mode}")),
        });
    }
    conn.execute_batch("PRAGMA synchronous = FULL;")
        .map_err(sqlite(path, "setting synchronous=FULL"))?;
    // Checkpoints run on a thread of their own (journal::checkpoint); a
    // commit does one itself only past this many log pages (16 MB).
    conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES};"))
        .map_err(sqlite(path, "setting wal_autocheckpoint"))
}

/// Log pages past which a commit checkpoints by itself: the safety net
/// under the checkpoint thread (see `journal::checkpoint`), above the
/// largest single transaction zkserver makes in practice (an import of
/// 3 000 people with their templates is about 10 MB).
pub const SAFETY_NET_PAGES: i64 = 4000;

/// Switches to WAL. The switch needs the file to itself, and SQLite
/// answers "database is locked" at once (without its busy handler) while
/// another process is opening the same new journal: retried for as long
/// as the busy timeout, so two servers started at once both open it.
fn enable_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// How long a connection waits for a lock another one holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Settings every connection gets: wait rather than fail on a brief lock
/// (checkpoints, the one writer).
pub fn configure_common(conn: &Connection, path: &Path) -> Result<(), JournalError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sqlite(path, "setting busy_timeout"))
}

/// Brings the schema to [`CURRENT_VERSION`] in one `BEGIN IMMEDIATE`
/// transaction: the version is read again under the write lock, so two
/// processes opening a new journal at once create it once (the second sees
/// the first one's schema), and a failed step leaves the file as it was.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite(path, "migrating"))?;
    let from = writable_version(&tx, path)?;
    if from >= CURRENT_VERSION {
        return Ok(());
    }
    for step in MIGRATIONS.iter().skip(usize::try_from(from).unwrap_or(0)) {
        tx.execute_batch(step).map_err(sqlite(path, "migrating"))?;
    }
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {CURRENT_VERSION};"
    ))
    .map_err(sqlite(path, "migrating"))?;
    tx.commit().map_err(sqlite(path, "migrating"))?;
    log::info!(
        "journal {}: schema migrated from version {from} to {CURRENT_VERSION}",
        path.display()
    );
    Ok(())
}
