//! Terminals known by their serial number. Punches are kept per device id
//! (the key of the devices file); a device row also records the serial of
//! the terminal behind it. When that serial turns up under another id (the
//! device was renamed in devices.json, or removed and registered again
//! under a new id) the old id's history — punches, upload stamps, users
//! copy, queued commands — moves to the new id in one transaction, and the
//! rename is recorded at a journal position of its own, so that a database
//! delivery moves its rows too, in journal order.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{Journal, JournalError};
use crate::time::format_time;

/// A device id that became another (same terminal), at journal position `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRename {
    /// Journal position of the rename (shared with punches, never reused).
    pub seq: i64,
    /// The id the terminal had.
    pub old: String,
    /// Its id from then on.
    pub new: String,
    /// The terminal's serial number.
    pub serial: String,
}

/// What claiming a serial for a device did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The serial is (now) recorded for the device; nothing moved.
    Recorded,
    /// The serial was another device's, no longer registered: its
    /// history moved to the device.
    Moved {
        /// The id the history had.
        from: String,
    },
    /// The serial belongs to another device that is still registered:
    /// both keep their own history.
    HeldBy(String),
}

impl Journal {
    /// Records that device `device` is the terminal with serial `serial`.
    /// When the journal knows that serial under another id for which
    /// `registered` says no, that id's history moves to `device` first (one
    /// transaction). Cheap after the first call for the same pair.
    pub fn claim_serial(
        &self,
        device: &str,
        serial: &str,
        registered: impl Fn(&str) -> bool,
    ) -> Result<Claim, JournalError> {
        if self.claimed.lock().get(device).map(String::as_str) == Some(serial) {
            return Ok(Claim::Recorded);
        }
        let now = format_time(&crate::time::now()).unwrap_or_default();
        let claim = self.write(
            |conn| {
                let tx = conn.transaction()?;
                let claim = claim_in(&tx, device, serial, &registered, &now)?;
                tx.commit()?;
                Ok(claim)
            },
            "recording a terminal's serial number",
        )?;
        match &claim {
            Claim::Recorded => {}
            Claim::Moved { from } => {
                log::warn!(
                    "journal: terminal SN {serial} is now device '{device}' (was '{from}'): its history moved to '{device}'"
                );
                // Wakes deliveries: the rename is a position to deliver.
                self.announce_stored(1);
            }
            Claim::HeldBy(holder) => {
                log::warn!(
                    "journal: device '{device}' reports serial {serial}, which registered device '{holder}' has too; their histories are kept apart"
                );
                return Ok(claim);
            }
        }
        self.claimed
            .lock()
            .insert(device.to_string(), serial.to_string());
        Ok(claim)
    }

    /// The serial recorded for `device`, if any.
    pub fn serial_of(&self, device: &str) -> Result<Option<String>, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    "SELECT serial FROM devices WHERE name = ?1",
                    [device],
                    |r| r.get(0),
                )
                .optional()
                .map(Option::flatten)
            },
            "reading a terminal's serial number",
        )
    }
}

/// [`Journal::claim_serial`] inside a transaction.
fn claim_in(
    tx: &Transaction<'_>,
    device: &str,
    serial: &str,
    registered: &dyn Fn(&str) -> bool,
    now: &str,
) -> rusqlite::Result<Claim> {
    let holder: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, name FROM devices WHERE serial = ?1",
            [serial],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let claim = match holder {
        Some((_, name)) if name == device => return Ok(Claim::Recorded),
        Some((_, name)) if registered(&name) => return Ok(Claim::HeldBy(name)),
        Some((old_id, old)) => {
            park_other_terminal(tx, device, serial, now)?;
            move_history(tx, old_id, &old, device)?;
            record_rename(tx, &old, device, serial, now)?;
            Claim::Moved { from: old }
        }
        None => Claim::Recorded,
    };
    super::punches::device_number(tx, device)?;
    tx.execute(
        "UPDATE devices SET serial = ?2 WHERE name = ?1",
        params![device, serial],
    )?;
    Ok(claim)
}

/// When `device`'s row holds another known terminal's history (two
/// terminals swapped ids, or one took the id of another), that history is
/// parked under `<device>#<its serial>` (never a device id) until its
/// terminal turns up again under some id; the terminals' histories never mix.
fn park_other_terminal(
    tx: &Transaction<'_>,
    device: &str,
    serial: &str,
    now: &str,
) -> rusqlite::Result<()> {
    let row: Option<(i64, Option<String>)> = tx
        .query_row(
            "SELECT id, serial FROM devices WHERE name = ?1",
            [device],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((id, Some(other))) = row.filter(|(_, s)| s.as_deref().is_some_and(|s| s != serial))
    else {
        return Ok(());
    };
    let parked = format!("{device}#{other}");
    move_history(tx, id, device, &parked)?;
    tx.execute(
        "UPDATE devices SET serial = ?2 WHERE name = ?1",
        params![parked, other],
    )?;
    log::warn!(
        "journal: device '{device}' is now another terminal; the history of terminal SN {other} waits under '{parked}' until it turns up again"
    );
    record_rename(tx, device, &parked, &other, now)
}

/// Records that `old`'s history became `new`'s, at a position of its own.
fn record_rename(
    tx: &Transaction<'_>,
    old: &str,
    new: &str,
    serial: &str,
    now: &str,
) -> rusqlite::Result<()> {
    let seq = next_position(tx)?;
    tx.execute(
        "INSERT INTO device_renames (seq, old, new, serial, renamed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![seq, old, new, serial, now],
    )?;
    Ok(())
}

/// Moves device row `old_id` (named `old`) to the name `new`: renamed when
/// `new` has no row yet, else merged into it (punches it has already are
/// not stored twice). Stamps, users and commands follow.
fn move_history(tx: &Transaction<'_>, old_id: i64, old: &str, new: &str) -> rusqlite::Result<()> {
    let target: Option<i64> = tx
        .query_row("SELECT id FROM devices WHERE name = ?1", [new], |r| {
            r.get(0)
        })
        .optional()?;
    tx.execute("UPDATE devices SET serial = NULL WHERE id = ?1", [old_id])?;
    match target {
        None => {
            tx.execute(
                "UPDATE devices SET name = ?2 WHERE id = ?1",
                params![old_id, new],
            )?;
        }
        Some(new_id) => {
            tx.execute(
                "UPDATE OR IGNORE punches SET device = ?2 WHERE device = ?1",
                params![old_id, new_id],
            )?;
            tx.execute("DELETE FROM punches WHERE device = ?1", [old_id])?;
            tx.execute("DELETE FROM devices WHERE id = ?1", [old_id])?;
            tx.execute(
                "UPDATE devices SET punches = (SELECT count(*) FROM punches WHERE device = ?1)
                 WHERE id = ?1",
                [new_id],
            )?;
        }
    }
    // The terminal's own upload progress comes with it.
    tx.execute(
        "DELETE FROM stamps WHERE device = ?2 AND tbl IN (SELECT tbl FROM stamps WHERE device = ?1)",
        params![old, new],
    )?;
    tx.execute(
        "UPDATE stamps SET device = ?2 WHERE device = ?1",
        params![old, new],
    )?;
    tx.execute(
        "UPDATE OR IGNORE users SET device = ?2 WHERE device = ?1",
        params![old, new],
    )?;
    tx.execute("DELETE FROM users WHERE device = ?1", [old])?;
    tx.execute(
        "UPDATE commands SET device = ?2 WHERE device = ?1",
        params![old, new],
    )?;
    Ok(())
}

/// Takes the next journal position without a punch (punches' positions
/// come from the same AUTOINCREMENT counter, so none is ever reused).
fn next_position(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    let bumped = tx.execute(
        "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'punches'",
        [],
    )?;
    if bumped == 0 {
        tx.execute(
            "INSERT INTO sqlite_sequence (name, seq)
             VALUES ('punches', coalesce((SELECT max(seq) FROM punches), 0) + 1)",
            [],
        )?;
    }
    tx.query_row(
        "SELECT seq FROM sqlite_sequence WHERE name = 'punches'",
        [],
        |r| r.get(0),
    )
}

impl Journal {
    /// Punches and renames after position `seq`, in one consistent read:
    /// up to `limit` punches, and the renames up to the last of them (all
    /// renames when fewer than `limit` punches came back).
    pub fn delivery_batch(
        &self,
        seq: i64,
        limit: u64,
    ) -> Result<(Vec<super::StoredPunch>, Vec<DeviceRename>), JournalError> {
        self.read(
            |conn| {
                let tx = conn.unchecked_transaction()?;
                let punches = super::punches::after_all(&tx, seq, limit)?;
                let full = punches.len() as u64 >= limit;
                let upto = match punches.last() {
                    Some(p) if full => p.seq,
                    _ => i64::MAX,
                };
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, old, new, serial FROM device_renames
                      WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
                )?;
                let renames = stmt
                    .query_map(params![seq, upto], |r| {
                        Ok(DeviceRename {
                            seq: r.get(0)?,
                            old: r.get(1)?,
                            new: r.get(2)?,
                            serial: r.get(3)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                drop(stmt);
                tx.finish()?;
                Ok((punches, renames))
            },
            "reading punches to deliver",
        )
    }
}
