//! What each terminal was last given of the staff list: per device and
//! person, the content hash written and the person's state there
//! (`al_dia`, `pendiente`, `incompatible`, `fuera_de_area`, `error` with
//! a message); per device and template, the content hash written. A sync
//! compares these hashes with the list's (`Person::content_hash`,
//! `Template::content_hash`) and moves only what changed, so running it
//! twice writes nothing the second time.

use rusqlite::{params, Row, Transaction};

use super::many_rows::insert_many;
use super::{Journal, JournalError, TemplateKind};
use crate::time::WallTime;

/// A person's state on one terminal (API Part 7's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncState {
    /// The terminal holds the person as the list does.
    UpToDate,
    /// Something is still to be written or removed.
    Pending,
    /// None of the person's templates fit the terminal's algorithm version.
    Incompatible,
    /// The terminal is in none of the person's areas.
    OutOfArea,
    /// The last write failed (see the row's message).
    Error,
}

impl SyncState {
    /// The name stored and shown: `al_dia`, `pendiente`, `incompatible`,
    /// `fuera_de_area` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::UpToDate => "al_dia",
            SyncState::Pending => "pendiente",
            SyncState::Incompatible => "incompatible",
            SyncState::OutOfArea => "fuera_de_area",
            SyncState::Error => "error",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<SyncState> {
        [
            SyncState::UpToDate,
            SyncState::Pending,
            SyncState::Incompatible,
            SyncState::OutOfArea,
            SyncState::Error,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A person's sync state on one terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRow {
    /// Device id.
    pub device: String,
    /// The person's PIN.
    pub user_id: String,
    /// Content hash of the person as last written to the terminal; `None`
    /// when nothing was written yet (or it was removed from it).
    pub hash: Option<String>,
    /// The person's state there.
    pub state: SyncState,
    /// Why, for `error` (never a password or template bytes).
    pub message: Option<String>,
    /// When this state was recorded.
    pub synced_at: WallTime,
}

/// One template as last written to one terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSent {
    /// Device id.
    pub device: String,
    /// The owner's PIN.
    pub user_id: String,
    /// Finger or face.
    pub kind: TemplateKind,
    /// Finger or face index.
    pub index: u8,
    /// Content hash of what was written (`Template::content_hash`).
    pub hash: String,
    /// When it was written.
    pub written_at: WallTime,
}

/// Reads a row of `SELECT device, user_id, hash, state, message, synced_at`.
fn sync_row(r: &Row<'_>) -> rusqlite::Result<SyncRow> {
    let state: String = r.get(3)?;
    let state = SyncState::parse(&state).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("sync state {state:?} is not one of the five").into(),
        )
    })?;
    Ok(SyncRow {
        device: r.get(0)?,
        user_id: r.get(1)?,
        hash: r.get(2)?,
        state,
        message: r.get(4)?,
        synced_at: r.get(5)?,
    })
}

/// Reads a row of `SELECT device, user_id, kind, idx, hash, written_at`.
fn sent_row(r: &Row<'_>) -> rusqlite::Result<TemplateSent> {
    let kind: String = r.get(2)?;
    let kind = TemplateKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("template kind {kind:?} is neither finger nor face").into(),
        )
    })?;
    Ok(TemplateSent {
        device: r.get(0)?,
        user_id: r.get(1)?,
        kind,
        index: r.get(3)?,
        hash: r.get(4)?,
        written_at: r.get(5)?,
    })
}

/// Records persons' states on terminals inside `tx` (replacing earlier
/// ones for the same device and person).
pub(super) fn put_sync_states(tx: &Transaction<'_>, rows: &[SyncRow]) -> rusqlite::Result<()> {
    insert_many(
        tx,
        "INSERT INTO people_sync (device, user_id, hash, state, message, synced_at)",
        6,
        "ON CONFLICT (device, user_id) DO UPDATE SET
             hash = excluded.hash, state = excluded.state,
             message = excluded.message, synced_at = excluded.synced_at",
        rows,
        |stmt, at, r| {
            stmt.raw_bind_parameter(at, &r.device)?;
            stmt.raw_bind_parameter(at + 1, &r.user_id)?;
            stmt.raw_bind_parameter(at + 2, &r.hash)?;
            stmt.raw_bind_parameter(at + 3, r.state.as_str())?;
            stmt.raw_bind_parameter(at + 4, &r.message)?;
            stmt.raw_bind_parameter(at + 5, r.synced_at.to_string())
        },
    )
}

/// Records templates written to terminals inside `tx` and forgets those
/// in `removed` (device, person, kind, index).
pub(super) fn put_templates_sent(
    tx: &Transaction<'_>,
    written: &[TemplateSent],
    removed: &[(String, String, TemplateKind, u8)],
) -> rusqlite::Result<()> {
    insert_many(
        tx,
        "INSERT INTO templates_sync (device, user_id, kind, idx, hash, written_at)",
        6,
        "ON CONFLICT (device, user_id, kind, idx) DO UPDATE SET
             hash = excluded.hash, written_at = excluded.written_at",
        written,
        |stmt, at, t| {
            stmt.raw_bind_parameter(at, &t.device)?;
            stmt.raw_bind_parameter(at + 1, &t.user_id)?;
            stmt.raw_bind_parameter(at + 2, t.kind.as_str())?;
            stmt.raw_bind_parameter(at + 3, t.index)?;
            stmt.raw_bind_parameter(at + 4, &t.hash)?;
            stmt.raw_bind_parameter(at + 5, t.written_at.to_string())
        },
    )?;
    let mut forget = tx.prepare_cached(
        "DELETE FROM templates_sync
         WHERE device = ?1 AND user_id = ?2 AND kind = ?3 AND idx = ?4",
    )?;
    for (device, user_id, kind, index) in removed {
        forget.execute(params![device, user_id, kind.as_str(), index])?;
    }
    Ok(())
}

impl Journal {
    /// Records persons' states on terminals (replacing earlier ones for
    /// the same device and person) in one transaction.
    pub fn set_sync_states(&self, rows: &[SyncRow]) -> Result<(), JournalError> {
        for row in rows {
            self.check_time(row.synced_at)?;
        }
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                put_sync_states(&tx, rows)?;
                tx.commit()
            },
            "storing sync states",
        )
    }

    /// Every person's state on `device`, by PIN.
    pub fn sync_states(&self, device: &str) -> Result<Vec<SyncRow>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT device, user_id, hash, state, message, synced_at FROM people_sync
                     WHERE device = ?1 ORDER BY length(user_id), user_id",
                )?;
                let rows = stmt.query_map([device], sync_row)?;
                rows.collect()
            },
            "reading sync states",
        )
    }

    /// The person `user_id`'s state on every terminal that has one, by device.
    pub fn person_sync_states(&self, user_id: &str) -> Result<Vec<SyncRow>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT device, user_id, hash, state, message, synced_at FROM people_sync
                     WHERE user_id = ?1 ORDER BY device",
                )?;
                let rows = stmt.query_map([user_id], sync_row)?;
                rows.collect()
            },
            "reading a person's sync states",
        )
    }

    /// Records templates written to terminals (`hash` replaces the earlier
    /// one for the same device, person, kind and index) and forgets those
    /// in `removed` (taken off the terminal), in one transaction.
    pub fn record_templates_sent(
        &self,
        written: &[TemplateSent],
        removed: &[(String, String, TemplateKind, u8)],
    ) -> Result<(), JournalError> {
        for t in written {
            self.check_time(t.written_at)?;
        }
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                put_templates_sent(&tx, written, removed)?;
                tx.commit()
            },
            "storing templates sent",
        )
    }

    /// The templates last written to `device` of `user_id`: fingers, then
    /// faces, by index.
    pub fn templates_sent(
        &self,
        device: &str,
        user_id: &str,
    ) -> Result<Vec<TemplateSent>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT device, user_id, kind, idx, hash, written_at FROM templates_sync
                     WHERE device = ?1 AND user_id = ?2 ORDER BY kind DESC, idx",
                )?;
                let rows = stmt.query_map([device, user_id], sent_row)?;
                rows.collect()
            },
            "reading templates sent",
        )
    }

    /// Forgets everything recorded as given to `device` (the device was
    /// deleted, or its memory cleared): the next sync writes it all again.
    /// Returns the rows forgotten.
    pub fn forget_sync(&self, device: &str) -> Result<usize, JournalError> {
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let people = tx.execute("DELETE FROM people_sync WHERE device = ?1", [device])?;
                let templates =
                    tx.execute("DELETE FROM templates_sync WHERE device = ?1", [device])?;
                tx.commit()?;
                Ok(people + templates)
            },
            "forgetting sync states",
        )
    }
}
