//! Where a push terminal was first heard from after it was registered (its
//! *pin*), or last presented its push key: kept in the `meta` table as
//! `push_pin:<device>` = `<serial> <address>`, so it survives restarts.

use rusqlite::{params, OptionalExtension};

use super::{Journal, JournalError};

/// The `meta` key of `device`'s pin.
fn key(device: &str) -> String {
    format!("push_pin:{device}")
}

/// A push terminal's pinned address, with the serial it was pinned for (a
/// device whose serial changed is not pinned any more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The serial the terminal had when it was pinned.
    pub sn: String,
    /// The address (as text, `203.0.113.7` or `2001:db8::7`).
    pub ip: String,
}

impl Journal {
    /// The pin of push device `device`, if any.
    pub fn pin(&self, device: &str) -> Result<Option<Pin>, JournalError> {
        let value: Option<String> = self.read(
            |conn| {
                conn.query_row(
                    "SELECT value FROM meta WHERE key = ?1",
                    params![key(device)],
                    |r| r.get(0),
                )
                .optional()
            },
            "reading a push terminal's pinned address",
        )?;
        Ok(value.and_then(|v| {
            let (sn, ip) = v.split_once(' ')?;
            Some(Pin {
                sn: sn.to_string(),
                ip: ip.to_string(),
            })
        }))
    }

    /// Pins push device `device` (serial `sn`) to address `ip`.
    pub fn set_pin(&self, device: &str, sn: &str, ip: &str) -> Result<(), JournalError> {
        self.write(
            |conn| {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![key(device), format!("{sn} {ip}")],
                )
                .map(|_| ())
            },
            "pinning a push terminal to its address",
        )
    }

    /// Forgets the pin of `device` (its next contact pins it again).
    pub fn clear_pin(&self, device: &str) -> Result<(), JournalError> {
        self.write(
            |conn| {
                conn.execute("DELETE FROM meta WHERE key = ?1", params![key(device)])
                    .map(|_| ())
            },
            "clearing a push terminal's pinned address",
        )
    }
}
