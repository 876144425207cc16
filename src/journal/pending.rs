//! Pending serials: push terminals that reached zkserver before anyone
//! registered them. Their punches wait in `pending_punches` and their users
//! in `pending_users`; both move into the journal proper when the serial is
//! adopted by a device. A serial that holds nothing (it only shook hands)
//! can be evicted to make room and expires when idle; any serial can be
//! removed with its data.

use chrono::NaiveDateTime;
use rusqlite::{params, Row};

use super::punches::InsertOutcome;
use super::{Journal, JournalError, NewPunch};
use crate::time::{format_time, WallTime};

/// One contact from an unknown serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSighting {
    /// The terminal's serial number.
    pub sn: String,
    /// Address it came from.
    pub ip: String,
    /// Its `User-Agent`.
    pub user_agent: String,
    /// Its `pushver` (empty: not sent).
    pub pushver: String,
    /// When it was seen.
    pub seen_at: NaiveDateTime,
}

/// An unknown serial as listed by `GET /push/pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSerial {
    /// The terminal's serial number.
    pub sn: String,
    /// Last address it came from.
    pub ip: String,
    /// First contact (this machine's wall clock).
    pub first_seen: WallTime,
    /// Last saved contact.
    pub last_seen: WallTime,
    /// Punches waiting for adoption.
    pub punches: u64,
    /// Users waiting for adoption.
    pub users: u64,
    /// Last `User-Agent`.
    pub user_agent: String,
    /// Last `pushver`.
    pub pushver: String,
}

/// Reads a row of the pending list query.
fn from_row(r: &Row<'_>) -> rusqlite::Result<PendingSerial> {
    Ok(PendingSerial {
        sn: r.get(0)?,
        ip: r.get(1)?,
        first_seen: r.get(2)?,
        last_seen: r.get(3)?,
        punches: super::count(r, 4)?,
        user_agent: r.get(5)?,
        pushver: r.get(6)?,
        users: super::count(r, 7)?,
    })
}

/// What adopting a pending serial moved into its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Adoption {
    /// The punches (new ones stored, ones the device had counted).
    pub punches: InsertOutcome,
    /// Users added to (or refreshed in) the device's copy.
    pub users: usize,
}

/// What removing a pending serial discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemovedPending {
    /// Punches discarded.
    pub punches: u64,
    /// Users discarded.
    pub users: u64,
}

/// Serials that hold no punches and no users.
const HOLDS_NOTHING: &str = "NOT EXISTS (SELECT 1 FROM pending_punches p WHERE p.sn = s.sn)
     AND NOT EXISTS (SELECT 1 FROM pending_users u WHERE u.sn = s.sn)";

/// Records that `sn` sent something at `seen` (its row is made if it was
/// removed meanwhile: its data is never left without a serial to list it).
fn touch_serial(tx: &rusqlite::Transaction<'_>, sn: &str, seen: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO pending_serials (sn, ip, first_seen, last_seen, user_agent, pushver)
         VALUES (?1, '', ?2, ?2, '', '')
         ON CONFLICT (sn) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
    )?
    .execute(params![sn, seen])
    .map(drop)
}

impl Journal {
    /// Records (or refreshes) an unknown serial. Call it on the first
    /// contact and when saving in-memory contact data, not on every poll.
    pub fn record_pending(&self, s: &PendingSighting) -> Result<(), JournalError> {
        let seen = format_time(&s.seen_at).unwrap_or_default();
        self.write(
            |conn| {
                conn.execute(
                    "INSERT INTO pending_serials (sn, ip, first_seen, last_seen, user_agent, pushver)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5)
                     ON CONFLICT (sn) DO UPDATE SET ip = excluded.ip,
                         last_seen = max(last_seen, excluded.last_seen),
                         user_agent = excluded.user_agent, pushver = excluded.pushver",
                    params![s.sn, s.ip, seen, s.user_agent, s.pushver],
                )
                .map(drop)
            },
            "recording a pending serial",
        )
    }

    /// Every pending serial, first seen first, with its punch count.
    pub fn list_pending(&self) -> Result<Vec<PendingSerial>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT s.sn, s.ip, s.first_seen, s.last_seen,
                            (SELECT count(*) FROM pending_punches p WHERE p.sn = s.sn),
                            s.user_agent, s.pushver,
                            (SELECT count(*) FROM pending_users u WHERE u.sn = s.sn)
                     FROM pending_serials s ORDER BY s.first_seen, s.sn",
                )?;
                let rows = stmt.query_map([], from_row)?;
                rows.collect()
            },
            "listing pending serials",
        )
    }

    /// Pending serials and pending punches in all (for the caps).
    pub fn pending_totals(&self) -> Result<(u64, u64), JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    "SELECT (SELECT count(*) FROM pending_serials),
                            (SELECT count(*) FROM pending_punches)",
                    [],
                    |r| Ok((super::count(r, 0)?, super::count(r, 1)?)),
                )
            },
            "counting pending serials",
        )
    }

    /// Stores punches of an unknown serial in one transaction. `last_seq`
    /// of the outcome is a position in the pending table, not the journal.
    pub fn insert_pending_punches(
        &self,
        sn: &str,
        punches: &[NewPunch],
        received_at: NaiveDateTime,
    ) -> Result<InsertOutcome, JournalError> {
        let rows = self.prepare(punches)?;
        let received = format_time(&received_at).unwrap_or_default();
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let outcome = super::punches::insert_each(
                    &tx,
                    "INSERT OR IGNORE INTO pending_punches
                         (sn, user_id, time, status, punch, workcode, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    sn,
                    &rows,
                    &received,
                )?;
                touch_serial(&tx, sn, &received)?;
                tx.commit()?;
                Ok(outcome)
            },
            "storing pending punches",
        )
    }

    /// Adds or replaces users pending serial `sn` uploaded (OPERLOG
    /// `USER` lines), in one transaction.
    pub fn insert_pending_users(
        &self,
        sn: &str,
        users: &[super::JournalUser],
        now: NaiveDateTime,
    ) -> Result<(), JournalError> {
        let now = format_time(&now).unwrap_or_default();
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                super::users::upsert_user_rows(
                    &tx,
                    super::users::UserRows::Pending,
                    sn,
                    users,
                    &now,
                )?;
                touch_serial(&tx, sn, &now)?;
                tx.commit()
            },
            "storing pending users",
        )
    }

    /// Users kept for pending serials, in all (for the cap).
    pub fn pending_users_total(&self) -> Result<u64, JournalError> {
        self.read(
            |conn| {
                conn.query_row("SELECT count(*) FROM pending_users", [], |r| {
                    super::count(r, 0)
                })
            },
            "counting pending users",
        )
    }

    /// Removes pending serial `sn` with its punches and users; `None` when
    /// it was not pending.
    pub fn remove_pending(&self, sn: &str) -> Result<Option<RemovedPending>, JournalError> {
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let punches = tx.execute("DELETE FROM pending_punches WHERE sn = ?1", [sn])?;
                let users = tx.execute("DELETE FROM pending_users WHERE sn = ?1", [sn])?;
                let serials = tx.execute("DELETE FROM pending_serials WHERE sn = ?1", [sn])?;
                tx.commit()?;
                Ok((serials + punches + users > 0).then_some(RemovedPending {
                    punches: punches as u64,
                    users: users as u64,
                }))
            },
            "removing a pending serial",
        )
    }

    /// Removes the pending serials that hold nothing (they only shook
    /// hands) and were last seen before `idle_since`; returns them.
    pub fn expire_pending(&self, idle_since: NaiveDateTime) -> Result<Vec<String>, JournalError> {
        let cutoff = format_time(&idle_since).unwrap_or_default();
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let gone = {
                    let mut stmt = tx.prepare_cached(&format!(
                        "DELETE FROM pending_serials WHERE last_seen < ?1 AND sn IN
                             (SELECT s.sn FROM pending_serials s WHERE {HOLDS_NOTHING})
                         RETURNING sn"
                    ))?;
                    let rows = stmt.query_map([cutoff], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<Vec<String>>>()?
                };
                tx.commit()?;
                Ok(gone)
            },
            "expiring pending serials",
        )
    }

    /// Makes room for a new pending serial: removes the one that holds
    /// nothing and was seen longest ago; `None` when every one holds
    /// punches or users.
    pub fn evict_idle_pending(&self) -> Result<Option<String>, JournalError> {
        use rusqlite::OptionalExtension;
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let sn: Option<String> = tx
                    .query_row(
                        &format!(
                            "SELECT sn FROM pending_serials AS s WHERE {HOLDS_NOTHING}
                             ORDER BY s.last_seen, s.sn LIMIT 1"
                        ),
                        [],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(sn) = &sn {
                    tx.execute("DELETE FROM pending_serials WHERE sn = ?1", [sn])?;
                }
                tx.commit()?;
                Ok(sn)
            },
            "making room for a pending serial",
        )
    }

    /// How many of `punches` pending serial `sn` does not have yet (a
    /// batch sent again over the cap is all there: it is answered OK).
    pub fn pending_missing(&self, sn: &str, punches: &[NewPunch]) -> Result<usize, JournalError> {
        let rows = self.prepare(punches)?;
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT count(*) FROM pending_punches WHERE sn = ?1 AND user_id = ?2 AND time = ?3",
                )?;
                let mut missing = 0;
                for row in &rows {
                    let n: i64 =
                        stmt.query_row(params![sn, row.punch.user_id, row.time], |r| r.get(0))?;
                    missing += usize::from(n == 0);
                }
                Ok(missing)
            },
            "checking pending punches",
        )
    }

    /// Moves the punches of pending serial `sn` into `device` (in the order
    /// they arrived; those the device already has are not stored twice)
    /// and its users into the device's copy (unless the copy's is newer),
    /// and removes `sn` from the pending list, in one transaction.
    pub fn adopt_pending(&self, sn: &str, device: &str) -> Result<Adoption, JournalError> {
        let outcome = self.write(
            |conn| {
                let tx = conn.transaction()?;
                let waiting = tx.query_row(
                    "SELECT count(*) FROM pending_punches WHERE sn = ?1",
                    [sn],
                    |r| super::count(r, 0),
                )?;
                let id = super::punches::device_number(&tx, device)?;
                let stored = tx.execute(
                    "INSERT OR IGNORE INTO punches
                         (device, user_id, time, status, punch, workcode, received_at)
                     SELECT ?2, user_id, time, status, punch, workcode, received_at
                     FROM pending_punches WHERE sn = ?1 ORDER BY seq",
                    params![sn, id],
                )?;
                let last_seq = (stored > 0).then(|| tx.last_insert_rowid());
                super::punches::add_to_count(&tx, id, stored)?;
                let users = tx.execute(
                    "INSERT INTO users
                         (device, user_id, uid, name, privilege, card, password, grp, updated_at)
                     SELECT ?2, user_id, uid, name, privilege, card, password, grp, updated_at
                     FROM pending_users WHERE sn = ?1 ORDER BY user_id
                     ON CONFLICT (device, user_id) DO UPDATE SET
                         uid = excluded.uid, name = excluded.name,
                         privilege = excluded.privilege, card = excluded.card,
                         password = excluded.password, grp = excluded.grp,
                         updated_at = excluded.updated_at
                     WHERE excluded.updated_at >= users.updated_at",
                    params![sn, device],
                )?;
                tx.execute("DELETE FROM pending_punches WHERE sn = ?1", [sn])?;
                tx.execute("DELETE FROM pending_users WHERE sn = ?1", [sn])?;
                tx.execute("DELETE FROM pending_serials WHERE sn = ?1", [sn])?;
                tx.commit()?;
                let punches = InsertOutcome {
                    stored,
                    duplicates: usize::try_from(waiting)
                        .unwrap_or(usize::MAX)
                        .saturating_sub(stored),
                    last_seq,
                };
                Ok(Adoption { punches, users })
            },
            "adopting a pending serial",
        )?;
        self.announce_stored(outcome.punches.stored);
        Ok(outcome)
    }
}
