//! Upload stamps: the opaque resume markers a push terminal sends with each
//! upload, stored per device and table and echoed in the handshake.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{Journal, JournalError};

/// The tables whose stamps the handshake echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampTable {
    /// `ATTLOGStamp`.
    AttLog,
    /// `OPERLOGStamp`.
    OperLog,
}

impl StampTable {
    /// Name stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            StampTable::AttLog => "ATTLOG",
            StampTable::OperLog => "OPERLOG",
        }
    }
}

/// Saves a stamp inside an open transaction.
pub(super) fn set(
    tx: &Transaction<'_>,
    device: &str,
    table: StampTable,
    stamp: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO stamps (device, tbl, stamp) VALUES (?1, ?2, ?3)
         ON CONFLICT (device, tbl) DO UPDATE SET stamp = excluded.stamp",
    )?
    .execute(params![device, table.as_str(), stamp])?;
    Ok(())
}

impl Journal {
    /// Saves the last accepted stamp of `device` for `table`.
    pub fn set_stamp(
        &self,
        device: &str,
        table: StampTable,
        stamp: &str,
    ) -> Result<(), JournalError> {
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                set(&tx, device, table, stamp)?;
                tx.commit()
            },
            "saving a stamp",
        )
    }

    /// The last accepted stamp of `device` for `table`, if any.
    pub fn stamp(&self, device: &str, table: StampTable) -> Result<Option<String>, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    "SELECT stamp FROM stamps WHERE device = ?1 AND tbl = ?2",
                    params![device, table.as_str()],
                    |r| r.get(0),
                )
                .optional()
            },
            "reading a stamp",
        )
    }
}
