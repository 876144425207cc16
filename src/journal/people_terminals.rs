//! What the sync engine remembers of each terminal besides its people's
//! rows (kept in `meta`, so no schema step): whether its users were
//! imported into the list (only then does what is enrolled there join the
//! list), its counters and algorithm version at the last sync (a sync
//! with nothing to change reads only the counters), and its last state as
//! `GET /people/sync` shows it (JSON). Also every template hash last
//! given to a terminal in one read.

use rusqlite::{Connection, OptionalExtension};

use super::{Journal, JournalError, TemplateKind, TemplateSent};

/// `meta` key prefix: the device's users were imported.
const IMPORTED: &str = "people_imported:";
/// `meta` key prefix: `users,fingers,fp_version,record_size` at the last sync.
const COUNTERS: &str = "people_counters:";
/// `meta` key prefix: the last state shown by `GET /people/sync` (JSON).
const STATE: &str = "people_state:";

/// A terminal's counters and version as last synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCounters {
    /// Users stored.
    pub users: u32,
    /// Fingerprint templates stored.
    pub fingers: u32,
    /// `~ZKFPVersion` (0 = unknown).
    pub fp_version: u16,
    /// The user record size (28 or 72; 0 = unknown).
    pub record_size: u16,
}

/// Sets (or, with `None`, removes) the mark `key` on `conn` (a
/// transaction too).
fn put_mark(conn: &Connection, key: &str, value: Option<&str>) -> rusqlite::Result<()> {
    match value {
        Some(v) => conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, v],
        ),
        None => conn.execute("DELETE FROM meta WHERE key = ?1", [key]),
    }
    .map(drop)
}

/// Marks `device`'s users as imported, on `conn` (a transaction too).
pub(super) fn mark_imported(conn: &Connection, device: &str) -> rusqlite::Result<()> {
    put_mark(conn, &format!("{IMPORTED}{device}"), Some("1"))
}

/// Records `device`'s counters (`None` forgets them), on `conn` (a
/// transaction too).
pub(super) fn put_counters(
    conn: &Connection,
    device: &str,
    counters: Option<SyncCounters>,
) -> rusqlite::Result<()> {
    let text = counters.map(|c| {
        format!(
            "{},{},{},{}",
            c.users, c.fingers, c.fp_version, c.record_size
        )
    });
    put_mark(conn, &format!("{COUNTERS}{device}"), text.as_deref())
}

/// Records `device`'s last sync state (JSON text) on `conn` (a
/// transaction too).
pub(super) fn put_state(conn: &Connection, device: &str, json: &str) -> rusqlite::Result<()> {
    put_mark(conn, &format!("{STATE}{device}"), Some(json))
}

impl Journal {
    fn meta_get(&self, key: &str) -> Result<Option<String>, JournalError> {
        self.read(
            |conn| {
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()
            },
            "reading a sync mark",
        )
    }

    fn meta_put(&self, key: &str, value: Option<&str>) -> Result<(), JournalError> {
        self.write(|conn| put_mark(conn, key, value), "storing a sync mark")
    }

    /// Whether `device`'s users were imported into the staff list.
    pub fn people_imported(&self, device: &str) -> Result<bool, JournalError> {
        Ok(self.meta_get(&format!("{IMPORTED}{device}"))?.is_some())
    }

    /// Marks `device`'s users as imported.
    pub fn mark_people_imported(&self, device: &str) -> Result<(), JournalError> {
        self.write(|conn| mark_imported(conn, device), "storing a sync mark")
    }

    /// `device`'s counters at its last sync, if recorded.
    pub fn sync_counters(&self, device: &str) -> Result<Option<SyncCounters>, JournalError> {
        let text = self.meta_get(&format!("{COUNTERS}{device}"))?;
        Ok(text.and_then(|t| {
            let mut parts = t.split(',');
            Some(SyncCounters {
                users: parts.next()?.parse().ok()?,
                fingers: parts.next()?.parse().ok()?,
                fp_version: parts.next()?.parse().ok()?,
                record_size: parts.next()?.parse().ok()?,
            })
        }))
    }

    /// `device`'s last sync state as shown by the API (JSON text).
    pub fn terminal_sync_state(&self, device: &str) -> Result<Option<String>, JournalError> {
        self.meta_get(&format!("{STATE}{device}"))
    }

    /// Records `device`'s last sync state (JSON text).
    pub fn set_terminal_sync_state(&self, device: &str, json: &str) -> Result<(), JournalError> {
        self.write(|conn| put_state(conn, device, json), "storing a sync mark")
    }

    /// Forgets every mark of `device` (it was deleted).
    pub fn forget_terminal_marks(&self, device: &str) -> Result<(), JournalError> {
        for prefix in [IMPORTED, COUNTERS, STATE] {
            self.meta_put(&format!("{prefix}{device}"), None)?;
        }
        Ok(())
    }

    /// Every template last given to `device`, in one read.
    pub fn all_templates_sent(&self, device: &str) -> Result<Vec<TemplateSent>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT user_id, kind, idx, hash, written_at FROM templates_sync
                     WHERE device = ?1",
                )?;
                let rows = stmt.query_map([device], |r| {
                    let kind: String = r.get(1)?;
                    Ok((
                        r.get::<_, String>(0)?,
                        kind,
                        r.get::<_, u8>(2)?,
                        r.get::<_, String>(3)?,
                        r.get(4)?,
                    ))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (user_id, kind, index, hash, written_at) = row?;
                    let Some(kind) = TemplateKind::parse(&kind) else {
                        continue;
                    };
                    out.push(TemplateSent {
                        device: device.to_string(),
                        user_id,
                        kind,
                        index,
                        hash,
                        written_at,
                    });
                }
                Ok(out)
            },
            "reading templates sent",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_kept_per_device_and_forgotten_with_it() {
        let dir = std::env::temp_dir().join(format!("zkserver-marks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let j = Journal::open(dir.join("j.db")).unwrap();
        assert!(!j.people_imported("a").unwrap());
        j.mark_people_imported("a").unwrap();
        let c = SyncCounters {
            users: 3,
            fingers: 6,
            fp_version: 10,
            record_size: 72,
        };
        j.store_sync_record(&crate::journal::SyncRecord {
            device: "a".into(),
            counters: Some(c),
            state: "{}".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(j.people_imported("a").unwrap());
        assert!(!j.people_imported("b").unwrap());
        assert_eq!(j.sync_counters("a").unwrap(), Some(c));
        j.forget_terminal_marks("a").unwrap();
        assert!(!j.people_imported("a").unwrap());
        assert_eq!(j.sync_counters("a").unwrap(), None);
        assert_eq!(j.terminal_sync_state("a").unwrap(), None);
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
