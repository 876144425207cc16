//! The durable command queue of push terminals: commands are stored when
//! the API accepts them, delivered in order on the terminal's polls, and
//! closed by the terminal's result or by expiry.

use chrono::{Duration, NaiveDateTime};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{Journal, JournalError};
use crate::time::{format_time, WallTime};

/// Where a command is in its life. The journal stores, and the API shows,
/// the Spanish name of [`CommandStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStatus {
    /// Stored, not yet taken by the terminal (`pendiente`).
    Pending,
    /// Sent on a poll, no result yet (`enviado`).
    Sent,
    /// The terminal answered `Return=0` (`completado`).
    Completed,
    /// The terminal answered another return code (`fallido`).
    Failed,
    /// Not taken within the expiry time (`caducado`).
    Expired,
}

impl CommandStatus {
    /// The stored and API name (Spanish; the journal's rows hold it).
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Pending => "pendiente",
            CommandStatus::Sent => "enviado",
            CommandStatus::Completed => "completado",
            CommandStatus::Failed => "fallido",
            CommandStatus::Expired => "caducado",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<CommandStatus> {
        [
            CommandStatus::Pending,
            CommandStatus::Sent,
            CommandStatus::Completed,
            CommandStatus::Failed,
            CommandStatus::Expired,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// One queued command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Queue id (the `<id>` of `C:<id>:…`), growing in enqueue order.
    pub id: i64,
    /// Device id.
    pub device: String,
    /// Command text as sent after `C:<id>:`.
    pub command: String,
    /// Where it is.
    pub status: CommandStatus,
    /// The terminal's return code, once reported.
    pub return_code: Option<i64>,
    /// When it was queued (this machine's wall clock).
    pub created_at: WallTime,
    /// When it was sent.
    pub sent_at: Option<WallTime>,
    /// When it completed, failed or expired.
    pub done_at: Option<WallTime>,
}

/// What a reported result did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkOutcome {
    /// The command now has its result.
    Updated(Command),
    /// The command already had a result (or expired); left as it was.
    AlreadyDone(Command),
    /// The command was never sent to the terminal (still waiting in its
    /// queue): a result for it is not believed; left as it was.
    NotSent(Command),
    /// No command with that id for that device.
    Unknown,
}

/// Columns read by [`from_row`].
const COLUMNS: &str = "id, device, command, status, return_code, created_at, sent_at, done_at";

/// Reads a command row selected with [`COLUMNS`].
fn from_row(r: &Row<'_>) -> rusqlite::Result<Command> {
    let status: String = r.get(3)?;
    let status = CommandStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown command status {status:?}").into(),
        )
    })?;
    Ok(Command {
        id: r.get(0)?,
        device: r.get(1)?,
        command: r.get(2)?,
        status,
        return_code: r.get(4)?,
        created_at: r.get(5)?,
        sent_at: r.get(6)?,
        done_at: r.get(7)?,
    })
}

/// One command of `device` inside a transaction.
fn get_in(tx: &Transaction<'_>, device: &str, id: i64) -> rusqlite::Result<Option<Command>> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM commands WHERE device = ?1 AND id = ?2"),
        params![device, id],
        from_row,
    )
    .optional()
}

impl Journal {
    /// Stores a command for `device` as `pendiente`; durable on return.
    pub fn enqueue_command(
        &self,
        device: &str,
        command: &str,
        now: NaiveDateTime,
    ) -> Result<Command, JournalError> {
        let now = format_time(&now).unwrap_or_default();
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "INSERT INTO commands (device, command, status, created_at)
                     VALUES (?1, ?2, 'pendiente', ?3)",
                    params![device, command, now],
                )?;
                let id = tx.last_insert_rowid();
                let cmd = get_in(&tx, device, id)?;
                tx.commit()?;
                cmd.ok_or(rusqlite::Error::QueryReturnedNoRows)
            },
            "queueing a command",
        )
    }

    /// Up to `max` pending commands of `device`, oldest first.
    pub fn next_commands(&self, device: &str, max: u32) -> Result<Vec<Command>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM commands
                     WHERE device = ?1 AND status = 'pendiente' ORDER BY id LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![device, max], from_row)?;
                rows.collect()
            },
            "reading pending commands",
        )
    }

    /// Marks commands of `device` as sent (only those still pending).
    pub fn mark_sent(
        &self,
        device: &str,
        ids: &[i64],
        now: NaiveDateTime,
    ) -> Result<usize, JournalError> {
        let now = format_time(&now).unwrap_or_default();
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let mut n = 0;
                {
                    let mut stmt = tx.prepare_cached(
                        "UPDATE commands SET status = 'enviado', sent_at = ?3
                         WHERE device = ?1 AND id = ?2 AND status = 'pendiente'",
                    )?;
                    for id in ids {
                        n += stmt.execute(params![device, id, now])?;
                    }
                }
                tx.commit()?;
                Ok(n)
            },
            "marking commands sent",
        )
    }

    /// Records the terminal's result for command `id` of `device`:
    /// `Return=0` completes it, any other code fails it. Only a command sent
    /// to that terminal (`enviado`) takes a result.
    pub fn mark_result(
        &self,
        device: &str,
        id: i64,
        return_code: i64,
        now: NaiveDateTime,
    ) -> Result<MarkOutcome, JournalError> {
        let now = format_time(&now).unwrap_or_default();
        let status = if return_code == 0 {
            CommandStatus::Completed
        } else {
            CommandStatus::Failed
        };
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let changed = tx.execute(
                    "UPDATE commands SET status = ?3, return_code = ?4, done_at = ?5
                     WHERE device = ?1 AND id = ?2 AND status = 'enviado'",
                    params![device, id, status.as_str(), return_code, now],
                )?;
                let cmd = get_in(&tx, device, id)?;
                tx.commit()?;
                Ok(match (cmd, changed) {
                    (None, _) => MarkOutcome::Unknown,
                    (Some(c), 0) if c.status == CommandStatus::Pending => MarkOutcome::NotSent(c),
                    (Some(c), 0) => MarkOutcome::AlreadyDone(c),
                    (Some(c), _) => MarkOutcome::Updated(c),
                })
            },
            "recording a command result",
        )
    }

    /// Expires pending commands queued more than `max_age` before `now`
    /// (the API uses 7 days); returns how many.
    pub fn expire_commands(
        &self,
        now: NaiveDateTime,
        max_age: Duration,
    ) -> Result<usize, JournalError> {
        let cutoff = now
            .checked_sub_signed(max_age)
            .and_then(|t| format_time(&t))
            .unwrap_or_default();
        let now = format_time(&now).unwrap_or_default();
        self.write(
            |conn| {
                conn.execute(
                    "UPDATE commands SET status = 'caducado', done_at = ?2
                     WHERE status = 'pendiente' AND created_at < ?1",
                    params![cutoff, now],
                )
            },
            "expiring commands",
        )
    }

    /// Every command of `device`, newest first.
    pub fn list_commands(&self, device: &str) -> Result<Vec<Command>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM commands WHERE device = ?1 ORDER BY id DESC"
                ))?;
                let rows = stmt.query_map([device], from_row)?;
                rows.collect()
            },
            "listing commands",
        )
    }

    /// One command of `device`.
    pub fn get_command(&self, device: &str, id: i64) -> Result<Option<Command>, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    &format!("SELECT {COLUMNS} FROM commands WHERE device = ?1 AND id = ?2"),
                    params![device, id],
                    from_row,
                )
                .optional()
            },
            "reading a command",
        )
    }

    /// Commands of all devices by status (for `/metrics`).
    pub fn command_counts(&self) -> Result<Vec<(CommandStatus, u64)>, JournalError> {
        self.read(
            |conn| {
                let mut stmt =
                    conn.prepare_cached("SELECT status, count(*) FROM commands GROUP BY status")?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, super::count(r, 1)?)))?;
                let mut out = Vec::new();
                for row in rows {
                    let (s, n) = row?;
                    if let Some(s) = CommandStatus::parse(&s) {
                        out.push((s, n));
                    }
                }
                Ok(out)
            },
            "counting commands",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::CommandStatus;

    #[test]
    fn statuses_are_english_in_code_and_keep_their_stored_spanish_names() {
        // The journal's rows and the API hold these names: they never change.
        let stored = [
            (CommandStatus::Pending, "pendiente"),
            (CommandStatus::Sent, "enviado"),
            (CommandStatus::Completed, "completado"),
            (CommandStatus::Failed, "fallido"),
            (CommandStatus::Expired, "caducado"),
        ];
        for (status, name) in stored {
            assert_eq!(status.as_str(), name);
            assert_eq!(CommandStatus::parse(name), Some(status));
        }
        assert_eq!(CommandStatus::parse("Pending"), None);
        assert_eq!(CommandStatus::parse(""), None);
    }
}
