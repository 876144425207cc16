//! The attendance endpoints: one device, or all devices (read by a bounded
//! pool of threads).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use serde_json::json;

use super::attendance_journal as aj;
use super::listing::{Listing, Row};
use super::query::{AttendanceQuery, Format};
use super::{Answer, Ctx, Response};
use crate::cursor::{self, CursorError, Position};
use crate::messages;
use crate::ops::LogPosition;
use crate::ops::{ClearOutcome, Log, Mode, OpError};
use crate::registry::Device;
use crate::services::{Cleared, ReadError};

fn parse_query(ctx: &Ctx) -> Result<AttendanceQuery, Response> {
    AttendanceQuery::parse(|k| ctx.req.get_param(k)).map_err(|e| ctx.error(400, &e.message()))
}

/// The `since` parameter, if given and not empty.
fn since_param(ctx: &Ctx) -> Option<String> {
    ctx.req
        .get_param("since")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// 400 for a cursor that cannot be used here.
pub fn bad_cursor(ctx: &Ctx, err: CursorError) -> Response {
    ctx.error(400, &messages::bad_cursor(err))
}

/// One device's records for a request: its whole log (a shared download)
/// or, with a position, only what follows it.
struct Read {
    records: Arc<Log>,
    reset: bool,
}

fn read_device(ctx: &Ctx, device: &Device, since: Option<&LogPosition>) -> Result<Read, OpError> {
    let terminals = &ctx.app.terminals;
    match since {
        None => Ok(Read {
            records: terminals.attendance(device)?,
            reset: false,
        }),
        Some(position) => {
            let tail = terminals.attendance_since(device, position, Mode::Disabled)?;
            Ok(Read {
                records: Arc::new(Log {
                    records: tail.records,
                    position: tail.position,
                }),
                reset: tail.reset,
            })
        }
    }
}

/// `GET /devices/{id}/attendance`.
pub fn device_attendance(ctx: &Ctx, id: &str) -> Answer {
    let query = parse_query(ctx)?;
    let device = ctx.device(id)?;
    let asked = aj::source_param(ctx)?;
    let since = since_param(ctx)
        .map(|c| cursor::decode_any(&device.id, &c))
        .transpose()
        .map_err(|e| bad_cursor(ctx, e))?;
    let journal_cursor = matches!(since, Some(Position::Journal(_)));
    if aj::from_journal(&device, asked, journal_cursor) {
        return device_from_journal(ctx, &device, &query, since);
    }
    let since = match since {
        Some(Position::Log(p)) => Some(p),
        _ => None,
    };
    let read =
        read_device(ctx, &device, since.as_ref()).map_err(|e| ctx.device_failure(&device, &e))?;
    let cursor = cursor::encode(&device.id, &read.records.position);
    let rows = select(&read.records, 0, &query);
    let names = vec![(device.id.clone(), device.config.name.clone())];
    let extra = Extra {
        cursor,
        reset: since.map(|_| (read.reset, None)),
        errors: None,
        source: None,
    };
    Ok(respond(ctx, &query, rows, names, extra))
}

/// One device answered from the journal (filtering and paging done by
/// the journal).
fn device_from_journal(
    ctx: &Ctx,
    device: &Device,
    query: &AttendanceQuery,
    since: Option<Position>,
) -> Answer {
    let journal = aj::journal_for(ctx, device)?;
    let since = match since {
        None => None,
        Some(Position::Journal(seq)) => Some(seq),
        Some(Position::Log(_)) => return Err(bad_cursor(ctx, CursorError::WrongKind)),
    };
    let read = aj::read(journal, &device.id, 0, query, since, aj::Window::Page)
        .map_err(|e| aj::failure(ctx, &device.id, &e))?;
    let names = vec![(device.id.clone(), device.config.name.clone())];
    let extra = Extra {
        cursor: cursor::encode_journal(&device.id, read.newest),
        reset: since.map(|_| (false, None)),
        errors: None,
        source: Some("journal"),
    };
    let matched = query.paged().then_some(read.matched as usize);
    Ok(listing(ctx, query, read.rows, names, extra, matched))
}

/// What one device contributed to `/attendance/all`.
enum Part {
    Rows {
        rows: Vec<Row>,
        /// Matches before paging (more than `rows` when the journal
        /// returned only the rows a page can take).
        matched: usize,
        position: Position,
        reset: bool,
    },
    Failed(String),
}

/// `GET /attendance/all`: every device, a few at a time (see
/// [`read_parts`]); failures go to
/// `errors`. Push terminals (and, with `source=journal`, every terminal)
/// are answered from the journal.
pub fn all_attendance(ctx: &Ctx) -> Answer {
    let query = parse_query(ctx)?;
    let asked = aj::source_param(ctx)?;
    let since: Option<HashMap<String, Position>> = since_param(ctx)
        .map(|c| cursor::decode_composite_any(&c))
        .transpose()
        .map_err(|e| bad_cursor(ctx, e))?
        .map(|list| list.into_iter().collect());
    let devices: Vec<Arc<Device>> = ctx.app.registry.all();
    let parts = read_parts(&devices, |i, d| {
        let known = since.as_ref().and_then(|m| m.get(&d.id)).copied();
        part_of(ctx, d, i as u16, &query, asked, known)
    });
    let mut rows = Vec::new();
    let mut matched = 0;
    let mut errors = Vec::new();
    let mut positions = Vec::new();
    let mut resets = Vec::new();
    // Parts answered from the journal and from terminals.
    let (mut journaled, mut terminal) = (0, 0);
    for (device, part) in devices.iter().zip(parts) {
        let known = since.as_ref().and_then(|m| m.get(&device.id));
        match part {
            Part::Rows {
                rows: mine,
                matched: mine_matched,
                position,
                reset,
            } => {
                matched += mine_matched;
                match position {
                    Position::Journal(_) => journaled += 1,
                    Position::Log(_) => terminal += 1,
                }
                // A device the cursor did not know starts over too.
                if reset || (since.is_some() && known.is_none()) {
                    resets.push(device.id.clone());
                }
                positions.push((device.id.clone(), position));
                rows.extend(mine);
            }
            Part::Failed(message) => {
                errors.push((device.id.clone(), message));
                if let Some(p) = known {
                    positions.push((device.id.clone(), *p));
                }
            }
        }
    }
    let names = devices
        .iter()
        .map(|d| (d.id.clone(), d.config.name.clone()))
        .collect();
    let extra = Extra {
        cursor: cursor::encode_composite_any(&positions),
        reset: since.map(|_| (!resets.is_empty(), Some(resets))),
        errors: Some(errors),
        // "journal" when asked, or when every device read was answered from it.
        source: (asked == Some(aj::Source::Journal) || (journaled > 0 && terminal == 0))
            .then_some("journal"),
    };
    Ok(respond_counted(
        ctx,
        &query,
        newest_first(rows),
        matched,
        names,
        extra,
    ))
}

/// Devices one `/attendance/all` request reads at once (its own thread
/// and helpers).
const READERS_PER_REQUEST: usize = 8;

/// Helper threads reading devices for every `/attendance/all` request
/// together; a request that finds none free reads on its own thread.
const HELPERS_OVERALL: usize = 32;

/// Helper threads running now (all requests).
static HELPERS: AtomicUsize = AtomicUsize::new(0);

/// Takes up to `want` helper threads from the overall budget; returns how
/// many were granted (released when dropped).
fn take_helpers(want: usize) -> Helpers {
    let mut granted = 0;
    let _ = HELPERS.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |running| {
        granted = want.min(HELPERS_OVERALL.saturating_sub(running));
        Some(running + granted)
    });
    Helpers(granted)
}

/// Helper threads granted to one request.
struct Helpers(usize);

impl Drop for Helpers {
    fn drop(&mut self) {
        HELPERS.fetch_sub(self.0, Ordering::SeqCst);
    }
}

/// Reads every device's part with a bounded pool: the request's thread
/// plus at most `READERS_PER_REQUEST - 1` helpers, within the overall
/// budget. Parts come back in device order; a read that panics is an
/// internal error for its device only.
fn read_parts<F>(devices: &[Arc<Device>], read: F) -> Vec<Part>
where
    F: Fn(usize, &Device) -> Part + Sync,
{
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Part>>> = devices.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(device) = devices.get(i) else { break };
        let part = catch_unwind(AssertUnwindSafe(|| read(i, device)))
            .unwrap_or_else(|_| Part::Failed(messages::INTERNAL_ERROR.to_string()));
        *slots[i].lock() = Some(part);
    };
    let wanted = devices.len().min(READERS_PER_REQUEST).saturating_sub(1);
    let helpers = take_helpers(wanted);
    std::thread::scope(|scope| {
        for _ in 0..helpers.0 {
            let spawned = std::thread::Builder::new()
                .name("attendance-read".into())
                .spawn_scoped(scope, work);
            if spawned.is_err() {
                log::error!("could not start an attendance reader thread");
            }
        }
        work();
    });
    drop(helpers);
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|| Part::Failed(messages::INTERNAL_ERROR.to_string()))
        })
        .collect()
}

/// One device's part of `/attendance/all`.
fn part_of(
    ctx: &Ctx,
    device: &Device,
    index: u16,
    query: &AttendanceQuery,
    asked: Option<aj::Source>,
    known: Option<Position>,
) -> Part {
    let journal_cursor = matches!(known, Some(Position::Journal(_)));
    if aj::from_journal(device, asked, journal_cursor) {
        if !ctx.app.journaled(device) {
            return Part::Failed(messages::not_collected(&device.id));
        }
        let Some(journal) = ctx.app.journal.as_deref() else {
            return Part::Failed(messages::NO_JOURNAL.to_string());
        };
        // A terminal-log position does not name a journal one: start over.
        let since = match known {
            Some(Position::Journal(seq)) => Some(seq),
            _ => None,
        };
        return match aj::read(journal, &device.id, index, query, since, aj::Window::Top) {
            Ok(read) => Part::Rows {
                rows: read.rows,
                matched: usize::try_from(read.matched).unwrap_or(usize::MAX),
                position: Position::Journal(read.newest),
                reset: known.is_some() && since.is_none(),
            },
            Err(e) => {
                log::error!("device {}: journal read failed: {e}", device.id);
                Part::Failed(messages::JOURNAL_FAILED.to_string())
            }
        };
    }
    let since = match known {
        Some(Position::Log(p)) => Some(p),
        _ => None,
    };
    match read_device(ctx, device, since.as_ref()) {
        Ok(read) => {
            let rows = select(&read.records, index, query);
            Part::Rows {
                position: Position::Log(read.records.position),
                reset: read.reset || (known.is_some() && since.is_none()),
                matched: rows.len(),
                rows,
            }
        }
        Err(e) => Part::Failed(messages::device_error(device, &e)),
    }
}

/// `POST /devices/{id}/attendance/clear` (write): clears the log only when
/// nothing is newer than the body's cursor and the webhook is not behind.
pub fn clear(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    let body = super::body::json_object(ctx, false)?;
    let text = crate::fields::Fields(&body)
        .text("cursor", false)
        .map_err(|m| ctx.error(400, &m.to_string()))?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ctx.error(400, messages::CURSOR_REQUIRED))?;
    if device.config.is_push() {
        let position = cursor::decode_any(&device.id, &text).map_err(|e| bad_cursor(ctx, e))?;
        return clear_push(ctx, &device, position);
    }
    let position = cursor::decode(&device.id, &text).map_err(|e| bad_cursor(ctx, e))?;
    // A collected terminal's journal first gets everything up to the
    // cursor, so clearing the log loses nothing.
    let Cleared {
        outcome,
        after,
        behind,
    } = ctx
        .app
        .clear_attendance(&device, &position)
        .map_err(|e| match e {
            ReadError::Terminal(e) => ctx.device_failure(&device, &e),
            ReadError::Journal(e) => aj::failure(ctx, id, &e),
            ReadError::Identity { serial, holder } => {
                log::warn!("device {id}: clear refused: serial {serial} is also device '{holder}', not read yet");
                ctx.error(409, &messages::clear_serial_held(id, &serial, &holder))
            }
        })?;
    match outcome {
        ClearOutcome::Cleared(n) => Ok(ctx.json(
            200,
            &json!({"success": true, "message": messages::attendance_cleared(id),
                        "cleared": n, "cursor": cursor::encode(&device.id, &after)}),
        )),
        ClearOutcome::NewerRecords(n) => Err(ctx.error(409, &messages::newer_records(n))),
        ClearOutcome::Mismatch => Err(ctx.error(409, messages::CURSOR_MISMATCH)),
        ClearOutcome::Refused => Err(ctx.error(409, &messages::webhook_behind(id, behind))),
    }
}

/// `POST /devices/{id}/attendance/clear` on a push terminal: `CLEAR LOG`
/// is queued (202) only when `position` is the journal's newest for it and
/// its webhook delivered everything; else 409 as for pull terminals.
fn clear_push(ctx: &Ctx, device: &Device, position: Position) -> Answer {
    let journal = aj::journal_for(ctx, device)?;
    let Position::Journal(seq) = position else {
        return Err(bad_cursor(ctx, CursorError::WrongKind));
    };
    let newest = journal
        .newest_seq(&device.id)
        .map_err(|e| aj::failure(ctx, &device.id, &e))?;
    if newest.unwrap_or(0) > seq {
        let newer = journal
            .count_after(Some(&device.id), seq)
            .map_err(|e| aj::failure(ctx, &device.id, &e))?;
        let newer = usize::try_from(newer).unwrap_or(usize::MAX);
        return Err(ctx.error(409, &messages::newer_records(newer)));
    }
    if let Some(behind) = ctx.app.webhook_behind_journal(&device.id, newest, journal) {
        return Err(ctx.error(409, &messages::webhook_behind(&device.id, behind)));
    }
    aj::queue(
        ctx,
        journal,
        &device.id,
        &crate::push::protocol::PushCommand::ClearLog,
    )
}

/// Filters and tags one device's records, newest first. Rows point into
/// the download (shared by the requests it answers) rather than copy it:
/// a request holds a few bytes per punch, whoever else reads the log.
fn select(log: &Arc<Log>, device: u16, query: &AttendanceQuery) -> Vec<Row> {
    let rows = log
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| query.matches(r))
        .filter_map(|(i, _)| Row::shared(log, i, device))
        .collect();
    newest_first(rows)
}

/// Sorts newest first; equal times keep device order.
fn newest_first(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_key(|r| std::cmp::Reverse(r.key));
    rows
}

/// What a listing carries besides its rows.
struct Extra {
    cursor: String,
    reset: Option<(bool, Option<Vec<String>>)>,
    errors: Option<Vec<(String, String)>>,
    source: Option<&'static str>,
}

fn respond(
    ctx: &Ctx,
    query: &AttendanceQuery,
    rows: Vec<Row>,
    devices: Vec<(String, String)>,
    extra: Extra,
) -> Response {
    let matched = rows.len();
    respond_counted(ctx, query, rows, matched, devices, extra)
}

/// Pages `rows` (newest first) and answers; `matched` counts the matches
/// before paging (`rows` may hold only those a page can take).
fn respond_counted(
    ctx: &Ctx,
    query: &AttendanceQuery,
    mut rows: Vec<Row>,
    matched: usize,
    devices: Vec<(String, String)>,
    extra: Extra,
) -> Response {
    let matched = query.paged().then_some(matched);
    if query.paged() {
        let end = query.limit.map_or(rows.len(), |l| {
            query.offset.saturating_add(l).min(rows.len())
        });
        let start = query.offset.min(rows.len());
        rows.truncate(end);
        rows.drain(..start);
    }
    listing(ctx, query, rows, devices, extra, matched)
}

/// The listing of rows already paged, `matched` before paging.
fn listing(
    ctx: &Ctx,
    query: &AttendanceQuery,
    rows: Vec<Row>,
    devices: Vec<(String, String)>,
    extra: Extra,
    matched: Option<usize>,
) -> Response {
    let listing = Listing {
        rows,
        devices,
        matched,
        errors: extra.errors,
        cursor: Some(extra.cursor),
        reset: extra.reset,
        source: extra.source,
        names: crate::services::people::names_for_punches(ctx.app.journal.as_deref()),
    };
    match query.format {
        Format::Json => listing.into_json(ctx.pretty),
        Format::Csv => listing.into_csv(),
    }
}
