//! The journal's copy of a push terminal's users (from OPERLOG `USER`
//! lines and completed user commands).

use chrono::NaiveDateTime;
use rusqlite::{params, Row};

use super::{Journal, JournalError};
use crate::time::format_time;

/// One user as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JournalUser {
    /// The PIN people know.
    pub user_id: String,
    /// Internal slot, when the terminal reported one.
    pub uid: Option<i64>,
    /// Name as sent by the terminal.
    pub name: String,
    /// Privilege (push `Pri`: 0 user, 14 admin).
    pub privilege: i64,
    /// Card number as text (empty: none).
    pub card: String,
    /// Password, when the terminal sent one.
    pub password: Option<String>,
    /// Group, when the terminal sent one.
    pub group: Option<String>,
}

/// Reads a row of `SELECT user_id, uid, name, privilege, card, password, grp`.
fn from_row(r: &Row<'_>) -> rusqlite::Result<JournalUser> {
    Ok(JournalUser {
        user_id: r.get(0)?,
        uid: r.get(1)?,
        name: r.get(2)?,
        privilege: r.get(3)?,
        card: r.get(4)?,
        password: r.get(5)?,
        group: r.get(6)?,
    })
}

/// Where a users copy is kept: a device's, or a pending serial's (until
/// its adoption).
#[derive(Debug, Clone, Copy)]
pub(super) enum UserRows {
    /// `users`, keyed by device id.
    Device,
    /// `pending_users`, keyed by serial number.
    Pending,
}

/// Adds or replaces `users` of `owner` (a device id or a pending serial)
/// inside transaction `tx`.
pub(super) fn upsert_user_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: UserRows,
    owner: &str,
    users: &[JournalUser],
    now: &str,
) -> rusqlite::Result<()> {
    let (table, owner_column) = match rows {
        UserRows::Device => ("users", "device"),
        UserRows::Pending => ("pending_users", "sn"),
    };
    let sql = format!(
        "INSERT INTO {table}
             ({owner_column}, user_id, uid, name, privilege, card, password, grp, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT ({owner_column}, user_id) DO UPDATE SET
             uid = excluded.uid, name = excluded.name,
             privilege = excluded.privilege, card = excluded.card,
             password = excluded.password, grp = excluded.grp,
             updated_at = excluded.updated_at"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    for u in users {
        stmt.execute(params![
            owner,
            u.user_id,
            u.uid,
            u.name,
            u.privilege,
            u.card,
            u.password,
            u.group,
            now
        ])?;
    }
    Ok(())
}

impl Journal {
    /// Adds or replaces `users` of `device` in one transaction.
    pub fn upsert_users(
        &self,
        device: &str,
        users: &[JournalUser],
        now: NaiveDateTime,
    ) -> Result<(), JournalError> {
        let now = format_time(&now).unwrap_or_default();
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                upsert_user_rows(&tx, UserRows::Device, device, users, &now)?;
                tx.commit()
            },
            "storing users",
        )
    }

    /// Deletes one user of `device`; `false` when the copy did not have it.
    pub fn delete_user(&self, device: &str, user_id: &str) -> Result<bool, JournalError> {
        self.write(
            |conn| {
                conn.execute(
                    "DELETE FROM users WHERE device = ?1 AND user_id = ?2",
                    params![device, user_id],
                )
            },
            "deleting a user",
        )
        .map(|n| n > 0)
    }

    /// Every user of `device`, numeric PINs in numeric order.
    pub fn list_users(&self, device: &str) -> Result<Vec<JournalUser>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT user_id, uid, name, privilege, card, password, grp FROM users
                     WHERE device = ?1 ORDER BY length(user_id), user_id",
                )?;
                let rows = stmt.query_map([device], from_row)?;
                rows.collect()
            },
            "listing users",
        )
    }

    /// One user of `device`, if the copy has it.
    pub fn get_user(
        &self,
        device: &str,
        user_id: &str,
    ) -> Result<Option<JournalUser>, JournalError> {
        use rusqlite::OptionalExtension;
        self.read(
            |conn| {
                conn.query_row(
                    "SELECT user_id, uid, name, privilege, card, password, grp FROM users
                     WHERE device = ?1 AND user_id = ?2",
                    params![device, user_id],
                    from_row,
                )
                .optional()
            },
            "reading a user",
        )
    }
}
