//! Punches: batch insert (one transaction, duplicates ignored), filtered
//! pages newest first, and reads after a journal position.

use chrono::NaiveDateTime;
use rusqlite::{params, Connection, Row, Transaction};

use super::{Journal, JournalError};
use crate::time::{format_time, WallTime};

/// A punch to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPunch {
    /// The PIN people know.
    pub user_id: String,
    /// Terminal wall-clock time.
    pub time: NaiveDateTime,
    /// How the person was identified (push `Verify`).
    pub status: u8,
    /// In/out state (push `Status`; 255 = none).
    pub punch: u8,
    /// Work code, when the terminal sent one.
    pub workcode: Option<String>,
}

/// A punch as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPunch {
    /// Journal position: grows with every stored punch, never reused.
    pub seq: i64,
    /// Device id.
    pub device: String,
    /// The PIN people know.
    pub user_id: String,
    /// Terminal wall-clock time.
    pub time: WallTime,
    /// How the person was identified.
    pub status: u8,
    /// In/out state.
    pub punch: u8,
    /// Work code, if any.
    pub workcode: Option<String>,
    /// When the journal stored it (this machine's wall clock).
    pub received_at: WallTime,
}

/// What one insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsertOutcome {
    /// Punches that were new.
    pub stored: usize,
    /// Punches already in the journal (or repeated within the batch).
    pub duplicates: usize,
    /// Position of the last punch stored by this insert; `None` if nothing new.
    pub last_seq: Option<i64>,
}

/// Which punches a page holds. Bounds are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PunchFilter {
    /// Earliest time.
    pub from: Option<NaiveDateTime>,
    /// Latest time.
    pub to: Option<NaiveDateTime>,
    /// Only this user.
    pub user_id: Option<String>,
    /// Only punches stored after this journal position (a cursor's).
    pub after: Option<i64>,
    /// Only punches stored at or before this journal position (what the
    /// reader has seen: a punch stored meanwhile comes with the next read).
    pub through: Option<i64>,
    /// Matches to skip (newest first).
    pub offset: u64,
    /// At most this many; `None` = all.
    pub limit: Option<u64>,
}

/// One page of matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PunchPage {
    /// Matches in all pages.
    pub total: u64,
    /// This page, newest first; equal times in the order received.
    pub punches: Vec<StoredPunch>,
}

/// Columns read by [`reader`].
const COLUMNS: &str = "seq, user_id, time, status, punch, workcode, received_at";

/// The device number of a device name, for `WHERE device = …` (`?1` is the name).
const DEVICE_ID: &str = "(SELECT id FROM devices WHERE name = ?1)";

/// Reads punch rows of `device` selected with [`COLUMNS`].
fn reader(device: &str) -> impl Fn(&Row<'_>) -> rusqlite::Result<StoredPunch> + '_ {
    move |r| stored_punch(r, device.to_string())
}

/// A row selected with [`COLUMNS`] as the punch of `device`.
fn stored_punch(r: &Row<'_>, device: String) -> rusqlite::Result<StoredPunch> {
    Ok(StoredPunch {
        seq: r.get(0)?,
        device,
        user_id: r.get(1)?,
        time: r.get(2)?,
        status: r.get(3)?,
        punch: r.get(4)?,
        workcode: r.get(5)?,
        received_at: r.get(6)?,
    })
}

/// The number of device `name`, created on first use (inside a write).
pub(super) fn device_number(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached("INSERT INTO devices (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
        .execute([name])?;
    tx.prepare_cached("SELECT id FROM devices WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
}

/// Adds `n` stored punches to the count of device number `id`.
pub(super) fn add_to_count(tx: &Transaction<'_>, id: i64, n: usize) -> rusqlite::Result<()> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    tx.prepare_cached("UPDATE devices SET punches = punches + ?2 WHERE id = ?1")?
        .execute(params![id, n])?;
    Ok(())
}

/// A punch with its time already formatted.
pub(super) struct Prepared<'a> {
    pub punch: &'a NewPunch,
    pub time: String,
}

impl Journal {
    /// Formats every punch's time, refusing the batch if one cannot be stored.
    pub(super) fn prepare<'a>(
        &self,
        punches: &'a [NewPunch],
    ) -> Result<Vec<Prepared<'a>>, JournalError> {
        punches
            .iter()
            .map(|p| {
                format_time(&p.time)
                    .map(|time| Prepared { punch: p, time })
                    .ok_or_else(|| JournalError::InvalidTime {
                        path: self.path.clone(),
                        time: p.time.to_string(),
                    })
            })
            .collect()
    }

    /// Stores `punches` of `device` in one transaction; returns after the
    /// commit is on disk. Punches already stored are counted, not stored.
    pub fn insert_punches(
        &self,
        device: &str,
        punches: &[NewPunch],
        received_at: NaiveDateTime,
    ) -> Result<InsertOutcome, JournalError> {
        self.insert_batch(device, punches, received_at, None)
    }

    /// Like [`Journal::insert_punches`], also saving the upload's stamp for
    /// `table` in the same transaction (stamp and punches commit together).
    pub fn insert_batch(
        &self,
        device: &str,
        punches: &[NewPunch],
        received_at: NaiveDateTime,
        stamp: Option<(super::StampTable, &str)>,
    ) -> Result<InsertOutcome, JournalError> {
        self.insert_upload(device, punches, received_at, stamp, None)
    }

    /// Like [`Journal::insert_batch`], also recording the uploader's last
    /// contact (`(serial, address)`, at `received_at`) in the same
    /// transaction: a push upload costs one write, and its contact
    /// survives a SIGKILL.
    pub fn insert_upload(
        &self,
        device: &str,
        punches: &[NewPunch],
        received_at: NaiveDateTime,
        stamp: Option<(super::StampTable, &str)>,
        contact: Option<(&str, &str)>,
    ) -> Result<InsertOutcome, JournalError> {
        let rows = self.prepare(punches)?;
        let received = format_time(&received_at).unwrap_or_default();
        let outcome = self.write(
            |conn| {
                let tx = conn.transaction()?;
                let outcome = insert_rows(&tx, device, &rows, &received)?;
                if let Some((table, value)) = stamp {
                    super::stamps::set(&tx, device, table, value)?;
                }
                if let Some((sn, ip)) = contact {
                    super::contacts::set(&tx, sn, ip, &received)?;
                }
                tx.commit()?;
                Ok(outcome)
            },
            "storing punches",
        )?;
        self.announce_stored(outcome.stored);
        Ok(outcome)
    }

    /// A page of `device`'s punches matching `filter`, newest first.
    pub fn query_punches(
        &self,
        device: &str,
        filter: &PunchFilter,
    ) -> Result<PunchPage, JournalError> {
        let from = filter.from.as_ref().and_then(format_time);
        let to = filter.to.as_ref().and_then(format_time);
        self.read(
            |conn| query(conn, device, from, to, filter),
            "querying punches",
        )
    }

    /// Up to `limit` punches of `device` stored after position `seq`, in
    /// journal order (for cursors and streams).
    pub fn punches_after(
        &self,
        device: &str,
        seq: i64,
        limit: u64,
    ) -> Result<Vec<StoredPunch>, JournalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM punches INDEXED BY punches_by_device
                     WHERE device = {DEVICE_ID} AND seq > ?2 ORDER BY seq LIMIT ?3"
                ))?;
                let rows = stmt.query_map(params![device, seq, limit], reader(device))?;
                rows.collect()
            },
            "reading punches after a position",
        )
    }

    /// Up to `limit` punches of every device stored after position `seq`,
    /// in journal order (for delivery to a database).
    pub fn punches_after_all(
        &self,
        seq: i64,
        limit: u64,
    ) -> Result<Vec<StoredPunch>, JournalError> {
        self.read(
            |conn| after_all(conn, seq, limit),
            "reading punches after a position",
        )
    }

    /// How many punches were stored after position `seq`: of `device`, or
    /// of every device.
    pub fn count_after(&self, device: Option<&str>, seq: i64) -> Result<u64, JournalError> {
        self.read(
            |conn| match device {
                Some(device) => conn.query_row(
                    &format!(
                        "SELECT count(*) FROM punches INDEXED BY punches_by_device
                          WHERE device = {DEVICE_ID} AND seq > ?2"
                    ),
                    params![device, seq],
                    |r| super::count(r, 0),
                ),
                None => conn.query_row("SELECT count(*) FROM punches WHERE seq > ?1", [seq], |r| {
                    super::count(r, 0)
                }),
            },
            "counting punches after a position",
        )
    }

    /// The newest journal position of `device` (`None`: no punches yet).
    pub fn newest_seq(&self, device: &str) -> Result<Option<i64>, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    &format!("SELECT max(seq) FROM punches WHERE device = {DEVICE_ID}"),
                    [device],
                    |r| r.get::<_, Option<i64>>(0),
                )
            },
            "reading the newest position",
        )
    }

    /// The newest journal position over all devices (`None`: empty journal).
    pub fn newest_seq_all(&self) -> Result<Option<i64>, JournalError> {
        self.read(
            |conn| {
                conn.query_row("SELECT max(seq) FROM punches", [], |r| {
                    r.get::<_, Option<i64>>(0)
                })
            },
            "reading the newest position",
        )
    }

    /// Up to `limit` punches of every device whose terminal time lies in
    /// `[from, to)`, optionally of one user, each with its device's
    /// current id: what a report period reads. Filtered in SQL through
    /// each device's time index, device by device in the index's order
    /// (no sort step), so the cost grows with the period's punches, not
    /// with the journal; reports order each person's punches themselves.
    /// `limit` is a bound, not a page: a caller that gets `limit` rows has
    /// not seen the whole period and must not compute on it.
    pub fn punches_between(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        user_id: Option<&str>,
        limit: u64,
    ) -> Result<Vec<StoredPunch>, JournalError> {
        let (Some(from), Some(to)) = (format_time(&from), format_time(&to)) else {
            return Err(JournalError::InvalidTime {
                path: self.path.clone(),
                time: format!("{from} .. {to}"),
            });
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = if user_id.is_some() {
            PERIOD_OF_USER
        } else {
            PERIOD
        };
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(sql)?;
                let rows = stmt.query_map(params![from, to, user_id, limit], |r| {
                    stored_punch(r, r.get(7)?)
                })?;
                rows.collect()
            },
            "reading a period's punches",
        )
    }

    /// How many punches `device` has in the journal.
    pub fn count_punches(&self, device: &str) -> Result<u64, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    "SELECT coalesce((SELECT punches FROM devices WHERE name = ?1), 0)",
                    [device],
                    |r| super::count(r, 0),
                )
            },
            "counting punches",
        )
    }
}

/// The punches of every device in `[?1, ?2)`, `?3` NULL, at most `?4`:
/// device by device (`CROSS JOIN` keeps `devices` outside) through each
/// device's `(device, time DESC)` index, in its order (no sort step).
pub(super) const PERIOD: &str = "SELECT punches.seq, punches.user_id, punches.time, punches.status,
        punches.punch, punches.workcode, punches.received_at, devices.name
   FROM devices CROSS JOIN punches INDEXED BY punches_by_time ON punches.device = devices.id
  WHERE punches.time >= ?1 AND punches.time < ?2 AND ?3 IS NULL
  ORDER BY devices.id, punches.time DESC, punches.seq LIMIT ?4";

/// Like [`PERIOD`] for user `?3`, through the `(device, user_id, time)` index.
pub(super) const PERIOD_OF_USER: &str = "SELECT punches.seq, punches.user_id, punches.time,
        punches.status, punches.punch, punches.workcode, punches.received_at, devices.name
   FROM devices CROSS JOIN punches ON punches.device = devices.id
  WHERE punches.user_id = ?3 AND punches.time >= ?1 AND punches.time < ?2
  ORDER BY devices.id, punches.time LIMIT ?4";

/// Up to `limit` punches of every device after position `seq`, with the
/// device's current id.
pub(super) fn after_all(
    conn: &Connection,
    seq: i64,
    limit: u64,
) -> rusqlite::Result<Vec<StoredPunch>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // The device's name after COLUMNS (every column is unique to
    // `punches` but `device`, which `devices` names `id`).
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, devices.name
           FROM punches JOIN devices ON devices.id = punches.device
          WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![seq, limit], |r| stored_punch(r, r.get(7)?))?;
    rows.collect()
}

/// Inserts prepared rows with `INSERT OR IGNORE`, counting what was new.
pub(super) fn insert_rows(
    tx: &Transaction<'_>,
    device: &str,
    rows: &[Prepared<'_>],
    received: &str,
) -> rusqlite::Result<InsertOutcome> {
    let id = device_number(tx, device)?;
    let outcome = insert_each(
        tx,
        "INSERT OR IGNORE INTO punches
             (device, user_id, time, status, punch, workcode, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        id,
        rows,
        received,
    )?;
    add_to_count(tx, id, outcome.stored)?;
    Ok(outcome)
}

/// Runs `insert` (an `INSERT OR IGNORE` taking the owner, then the punch's
/// fields and the receive time) for each row, counting new rows and
/// duplicates; `last_seq` is the rowid of the last new one.
pub(super) fn insert_each(
    tx: &Transaction<'_>,
    insert: &str,
    owner: impl rusqlite::ToSql,
    rows: &[Prepared<'_>],
    received: &str,
) -> rusqlite::Result<InsertOutcome> {
    let mut stmt = tx.prepare_cached(insert)?;
    let mut outcome = InsertOutcome::default();
    for row in rows {
        let p = row.punch;
        let n = stmt.execute(params![
            owner, p.user_id, row.time, p.status, p.punch, p.workcode, received
        ])?;
        if n == 1 {
            outcome.stored += 1;
            outcome.last_seq = Some(tx.last_insert_rowid());
        } else {
            outcome.duplicates += 1;
        }
    }
    Ok(outcome)
}

/// Counts and pages the matching punches.
fn query(
    conn: &Connection,
    device: &str,
    from: Option<String>,
    to: Option<String>,
    filter: &PunchFilter,
) -> rusqlite::Result<PunchPage> {
    let from = from.unwrap_or_default();
    let to = to.unwrap_or_else(|| "9999-99-99".to_string());
    let user = filter.user_id.as_deref();
    let positioned = filter.after.is_some() || filter.through.is_some();
    let (after, through) = (
        filter.after.unwrap_or(i64::MIN),
        filter.through.unwrap_or(i64::MAX),
    );
    let (table, matches) = matches_sql(user.is_some(), positioned);
    let unfiltered = filter.from.is_none() && filter.to.is_none() && user.is_none() && !positioned;
    // The device's count answers an unfiltered total without a scan.
    let count_sql = if unfiltered {
        "SELECT coalesce((SELECT punches FROM devices WHERE name = ?1), 0)
         WHERE ?2 IS NOT NULL AND ?3 IS NOT NULL AND ?4 IS NULL
           AND ?5 IS NOT NULL AND ?6 IS NOT NULL"
            .to_string()
    } else {
        format!("SELECT count(*) FROM {table} WHERE {matches}")
    };
    let total: u64 = conn
        .prepare_cached(&count_sql)?
        .query_row(params![device, from, to, user, after, through], |r| {
            super::count(r, 0)
        })?;
    let limit = filter
        .limit
        .and_then(|l| i64::try_from(l).ok())
        .unwrap_or(-1);
    let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {table} WHERE {matches}
         ORDER BY time DESC, seq ASC LIMIT ?7 OFFSET ?8"
    ))?;
    let punches = stmt
        .query_map(
            params![device, from, to, user, after, through, limit, offset],
            reader(device),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(PunchPage { total, punches })
}

/// The table and condition of a punch query: `?1` device, `?2`/`?3` time
/// range, `?4` user, `?5`/`?6` journal positions (after, through). One
/// spelling per shape, so that SQLite can use the (device, user, time)
/// index for a user, and reads after a position walk the device's punches
/// from that position (as [`Journal::punches_after`] does).
fn matches_sql(by_user: bool, positioned: bool) -> (&'static str, String) {
    let user = if by_user {
        "user_id = ?4"
    } else {
        "?4 IS NULL"
    };
    let (table, positions) = if positioned {
        (
            "punches INDEXED BY punches_by_device",
            "seq > ?5 AND seq <= ?6",
        )
    } else {
        ("punches", "?5 IS NOT NULL AND ?6 IS NOT NULL")
    };
    let matches = if by_user {
        format!("device = {DEVICE_ID} AND {user} AND time >= ?2 AND time <= ?3 AND {positions}")
    } else {
        format!("device = {DEVICE_ID} AND time >= ?2 AND time <= ?3 AND {user} AND {positions}")
    };
    (table, matches)
}
