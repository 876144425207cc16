//! Each push terminal's last contact (serial, address, time), kept in the
//! journal so that it survives a restart and a SIGKILL. It is written with
//! each ATTLOG upload (inside the upload's transaction, no extra write), on
//! a terminal's first contact of a run and with the periodic save of the
//! in-memory contacts — never on every poll.

use chrono::NaiveDateTime;
use rusqlite::{params, OptionalExtension, Transaction};

use super::{Journal, JournalError};
use crate::time::{format_time, WallTime};

/// A terminal's last contact as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedContact {
    /// The terminal's serial number.
    pub sn: String,
    /// Address of that contact.
    pub ip: String,
    /// When (this machine's wall clock).
    pub last_seen: WallTime,
}

/// Records a contact of `sn` from `ip` at `seen` (an older time than the
/// one stored changes nothing).
pub(super) fn set(tx: &Transaction<'_>, sn: &str, ip: &str, seen: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO contacts (sn, ip, last_seen) VALUES (?1, ?2, ?3)
         ON CONFLICT (sn) DO UPDATE SET
             ip = CASE WHEN excluded.last_seen >= last_seen THEN excluded.ip ELSE ip END,
             last_seen = max(last_seen, excluded.last_seen)",
    )?
    .execute(params![sn, ip, seen])
    .map(drop)
}

impl Journal {
    /// Records the last contact of each `(sn, ip, when)` in one transaction.
    pub fn save_contacts(
        &self,
        contacts: &[(String, String, NaiveDateTime)],
    ) -> Result<(), JournalError> {
        if contacts.is_empty() {
            return Ok(());
        }
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                for (sn, ip, seen) in contacts {
                    set(&tx, sn, ip, &format_time(seen).unwrap_or_default())?;
                }
                tx.commit()
            },
            "saving last contacts",
        )
    }

    /// The last contact of `sn` the journal knows, if any.
    pub fn last_contact(&self, sn: &str) -> Result<Option<SavedContact>, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    "SELECT sn, ip, last_seen FROM contacts WHERE sn = ?1",
                    [sn],
                    |r| {
                        Ok(SavedContact {
                            sn: r.get(0)?,
                            ip: r.get(1)?,
                            last_seen: r.get(2)?,
                        })
                    },
                )
                .optional()
            },
            "reading a last contact",
        )
    }
}
