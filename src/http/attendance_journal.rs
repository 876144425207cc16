//! Attendance answered from the journal (`?source=journal`, and always for
//! push terminals): no terminal I/O, the same envelope, filters, paging,
//! CSV and `since` as a terminal read, with journal cursors.

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::listing::Row;
use super::query::AttendanceQuery;
use super::{Ctx, Response};
use crate::journal::{Journal, JournalError, PunchFilter};
use crate::messages;
use crate::registry::Device;
use crate::services::ReadError;

/// Where a request wants its punches from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The terminal's own log (the default for pull terminals).
    Terminal,
    /// The journal.
    Journal,
}

/// The `source` parameter: absent, `terminal` or `journal`.
pub fn source_param(ctx: &Ctx) -> Result<Option<Source>, Response> {
    let value = ctx
        .req
        .get_param("source")
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty());
    match value.as_deref() {
        None => Ok(None),
        Some("journal") => Ok(Some(Source::Journal)),
        Some("terminal") => Ok(Some(Source::Terminal)),
        Some(other) => Err(ctx.error(400, &messages::bad_source(other))),
    }
}

/// Whether `device` is answered from the journal: a push terminal always;
/// a pull terminal when asked (`source=journal`, or a journal cursor).
pub fn from_journal(device: &Device, asked: Option<Source>, journal_cursor: bool) -> bool {
    device.config.is_push() || asked == Some(Source::Journal) || journal_cursor
}

/// The journal, and `device` keeps its punches there; else the error
/// answer (409 for a pull terminal that is not collected).
pub fn journal_for<'a>(ctx: &'a Ctx, device: &Device) -> Result<&'a Journal, Response> {
    if !ctx.app.journaled(device) {
        return Err(ctx.error(409, &messages::not_collected(&device.id)));
    }
    ctx.app
        .journal
        .as_deref()
        .ok_or_else(|| ctx.error(503, messages::NO_JOURNAL))
}

/// 503 for a journal that failed (logged in detail).
pub fn failure(ctx: &Ctx, device: &str, e: &JournalError) -> Response {
    log::error!("device {device}: journal read failed: {e}");
    ctx.error(503, messages::JOURNAL_FAILED)
}

/// One device's punches read from the journal.
pub struct JournalRead {
    /// Matching rows, newest first (paged when the read was).
    pub rows: Vec<Row>,
    /// Matches before paging.
    pub matched: u64,
    /// The journal position covering everything the read could see.
    pub newest: i64,
}

/// Which of the matches a journal read returns (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The query's page (`offset`, `limit`): one device's listing.
    Page,
    /// The matches a page of several devices can take from this one: its
    /// first `offset + limit` (all of them without a `limit`).
    Top,
}

/// Reads `device`'s punches matching `query`: those after `since` (a
/// journal position), or all of them. The journal filters (user, date,
/// range, positions) and returns only the rows `window` can show.
pub fn read(
    journal: &Journal,
    device: &str,
    index: u16,
    query: &AttendanceQuery,
    since: Option<i64>,
    window: Window,
) -> Result<JournalRead, JournalError> {
    // The newest position first: a punch stored meanwhile is after it and
    // comes with the next `since` read, never twice.
    let newest = journal
        .newest_seq(device)?
        .unwrap_or(0)
        .max(since.unwrap_or(0));
    let Some(mut filter) = filter_of(query) else {
        return Ok(JournalRead {
            rows: Vec::new(),
            matched: 0,
            newest,
        });
    };
    if let Some(seq) = since {
        filter.after = Some(seq);
        filter.through = Some(newest);
    }
    match window {
        Window::Page => {
            filter.offset = query.offset as u64;
            filter.limit = query.limit.map(|l| l as u64);
        }
        Window::Top => {
            filter.limit = query.limit.map(|l| query.offset.saturating_add(l) as u64);
        }
    }
    let found = journal.query_punches(device, &filter)?;
    let late = found.punches.iter().filter(|p| p.seq > newest).count() as u64;
    let rows = found
        .punches
        .iter()
        .filter(|p| p.seq <= newest)
        .map(|p| Row::owned(crate::punch::attendance_of(p), index))
        .collect();
    Ok(JournalRead {
        rows,
        matched: found.total.saturating_sub(late),
        newest,
    })
}

/// The journal filter for `query` (its date prefix and `from`/`to` as one
/// time range); `None` when the range is empty.
fn filter_of(query: &AttendanceQuery) -> Option<PunchFilter> {
    let (mut from, mut to) = (
        query.from.and_then(naive_of_key),
        query.to.and_then(naive_of_key),
    );
    if let Some((start, end)) = query.date.as_deref().and_then(prefix_range) {
        from = Some(from.map_or(start, |f| f.max(start)));
        to = Some(to.map_or(end, |t| t.min(end)));
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return None;
        }
    }
    Some(PunchFilter {
        from,
        to,
        user_id: query.user_id.clone(),
        ..PunchFilter::default()
    })
}

/// The time a sort key stands for (keys of filters are valid times).
fn naive_of_key(key: u64) -> Option<NaiveDateTime> {
    let part = |div: u64| u32::try_from(key / div % 100).ok();
    let year = i32::try_from(key / 10_000_000_000).ok()?;
    NaiveDate::from_ymd_opt(year, part(100_000_000)?, part(1_000_000)?)?.and_hms_opt(
        part(10_000)?,
        part(100)?,
        part(1)?,
    )
}

/// The first and last second of a `YYYY`, `YYYY-MM` or `YYYY-MM-DD` prefix.
fn prefix_range(prefix: &str) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let parts: Vec<u32> = prefix
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let year = i32::try_from(*parts.first()?).ok()?;
    let (start, end) = match parts.as_slice() {
        [_] => (
            NaiveDate::from_ymd_opt(year, 1, 1)?,
            NaiveDate::from_ymd_opt(year, 12, 31)?,
        ),
        [_, m] => {
            let start = NaiveDate::from_ymd_opt(year, *m, 1)?;
            let next = if *m == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(year, m + 1, 1)?
            };
            (start, next.pred_opt()?)
        }
        [_, m, d] => {
            let day = NaiveDate::from_ymd_opt(year, *m, *d)?;
            (day, day)
        }
        _ => return None,
    };
    debug_assert!(start.year() == year);
    Some((start.and_hms_opt(0, 0, 0)?, end.and_hms_opt(23, 59, 59)?))
}

/// `POST /devices/{id}/attendance/backfill` `{"from", "to"}` (write): a
/// collected pull terminal's log, in that range, is read into the journal
/// (200 with the count stored); a push terminal is asked to upload that
/// range again (202, a `DATA QUERY ATTLOG` command); a pull terminal that
/// is not collected is refused (409).
pub fn backfill(ctx: &Ctx, id: &str) -> super::Answer {
    let device = ctx.device(id)?;
    let body = super::body::json_object(ctx, false)?;
    let (from, to) = backfill_range(ctx, &body)?;
    let journal = journal_for(ctx, &device)?;
    if device.config.is_push() {
        let command = crate::push::protocol::PushCommand::QueryAttlog {
            start: from,
            end: to,
        };
        return queue(ctx, journal, &device.id, &command);
    }
    let (read, stored) = ctx
        .app
        .backfill_from_terminal(&device, journal, from, to)
        .map_err(|e| match e {
            ReadError::Journal(e) => failure(ctx, &device.id, &e),
            ReadError::Terminal(e) => ctx.device_failure(&device, &e),
            ReadError::Identity { .. } => ctx.error(500, messages::INTERNAL_ERROR),
        })?;
    Ok(ctx.json(
        200,
        &serde_json::json!({
            "success": true,
            "message": messages::backfilled(&device.id, stored),
            "stored": stored,
            "read": read,
        }),
    ))
}

/// The `from` and `to` of a backfill body (a date-only `to` is the end
/// of that day).
fn backfill_range(
    ctx: &Ctx,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<(NaiveDateTime, NaiveDateTime), Response> {
    let bound = |name: &str, end_of_day: bool| {
        let text = crate::fields::Fields(body)
            .text(name, false)
            .map_err(|m| ctx.error(400, &m.to_string()))?
            .filter(|t| !t.trim().is_empty());
        let Some(text) = text else {
            return Err(ctx.error(400, &messages::bad_backfill_bound(name, None)));
        };
        crate::time::parse_bound(text.trim(), end_of_day)
            .ok_or_else(|| ctx.error(400, &messages::bad_backfill_bound(name, Some(&text))))
    };
    let (from, to) = (bound("from", false)?, bound("to", true)?);
    if from > to {
        return Err(ctx.error(400, messages::BACKFILL_RANGE));
    }
    Ok((from, to))
}

/// Stores `command` for push terminal `id`: 202 with the command.
pub fn queue(
    ctx: &Ctx,
    journal: &Journal,
    id: &str,
    command: &crate::push::protocol::PushCommand,
) -> super::Answer {
    let text = command.render().map_err(|e| {
        log::error!("device {id}: command cannot be rendered: {e:?}");
        ctx.error(500, messages::INTERNAL_ERROR)
    })?;
    let stored = journal
        .enqueue_command(id, &text, crate::time::now())
        .map_err(|e| failure(ctx, id, &e))?;
    log::info!("device {id}: command {} queued: {text:?}", stored.id);
    Ok(ctx.json(
        202,
        &serde_json::json!({
            "success": true,
            "message": messages::command_queued(id),
            "command": {
                "id": stored.id,
                "status": stored.status.as_str(),
                "created_at": stored.created_at,
            },
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_prefixes_become_time_ranges() {
        let t = |s: &str| crate::time::parse(s).unwrap();
        assert_eq!(naive_of_key(20260306091523), Some(t("2026-03-06 09:15:23")));
        assert_eq!(
            prefix_range("2026-02"),
            Some((t("2026-02-01 00:00:00"), t("2026-02-28 23:59:59")))
        );
        assert_eq!(
            prefix_range("2026"),
            Some((t("2026-01-01 00:00:00"), t("2026-12-31 23:59:59")))
        );
        assert_eq!(
            prefix_range("2026-12-31"),
            Some((t("2026-12-31 00:00:00"), t("2026-12-31 23:59:59")))
        );
    }
}
