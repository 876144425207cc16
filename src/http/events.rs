//! Live punches as Server-Sent Events: `GET /devices/{id}/events` and
//! `GET /events` (every device). Each punch is `event: punch` with the
//! cursor just after it as `id`; `Last-Event-ID` or `?since=` replays what
//! followed that cursor first, with no gap and no duplicate. Link changes
//! are `event: status`; a `: keep-alive` comment goes out at least every
//! 15 s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::response::{Body, LiveBody, Poll, Response};
use super::{attendance::bad_cursor, Answer, Ctx};
use crate::cursor::{self, Position};
use crate::live::{DeviceLive, Item, Live, PunchSource};
use crate::messages;
use crate::punch::Punch;

/// Longest silence on a stream before a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a stream waits before retrying a failed catch-up read.
const RETRY: Duration = Duration::from_secs(2);

/// The cursor a client resumes from: `Last-Event-ID` (what `EventSource`
/// sends when it reconnects), else `?since=`.
fn resume_cursor(ctx: &Ctx) -> Option<String> {
    ctx.req
        .header("Last-Event-ID")
        .map(str::to_string)
        .or_else(|| ctx.req.get_param("since"))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
}

/// `GET /devices/{id}/events`.
pub fn device_events(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    let mut from = resume_cursor(ctx)
        .map(|c| cursor::decode_any(&device.id, &c))
        .transpose()
        .map_err(|e| bad_cursor(ctx, e))?;
    let asked = super::attendance_journal::source_param(ctx)?;
    let journal_wanted = asked == Some(super::attendance_journal::Source::Journal);
    if matches!(from, Some(Position::Journal(_))) || device.config.is_push() || journal_wanted {
        let journal = super::attendance_journal::journal_for(ctx, &device)?;
        // `?source=journal` without a cursor: journal punches from now on.
        if from.is_none() && journal_wanted {
            let newest = journal
                .newest_seq(&device.id)
                .map_err(|e| super::attendance_journal::failure(ctx, &device.id, &e))?;
            from = Some(Position::Journal(newest.unwrap_or(0)));
        }
    }
    let from: HashMap<String, Position> =
        from.map(|p| (device.id.clone(), p)).into_iter().collect();
    let devices = vec![(device.id.clone(), device.config.name.clone())];
    Ok(stream(ctx, devices, from, false))
}

/// `GET /events`: every registered device.
pub fn all_events(ctx: &Ctx) -> Answer {
    let from: HashMap<String, Position> = resume_cursor(ctx)
        .map(|c| cursor::decode_composite_any(&c))
        .transpose()
        .map_err(|e| bad_cursor(ctx, e))?
        .unwrap_or_default()
        .into_iter()
        .collect();
    let devices = ctx
        .app
        .registry
        .all()
        .iter()
        .map(|d| (d.id.clone(), d.config.name.clone()))
        .collect();
    Ok(stream(ctx, devices, from, true))
}

fn stream(
    ctx: &Ctx,
    devices: Vec<(String, String)>,
    mut from: HashMap<String, Position>,
    composite: bool,
) -> Response {
    let live = ctx.app.live.clone();
    let subs: Vec<Sub> = devices
        .into_iter()
        .filter_map(|(id, name)| {
            let resume = from.remove(&id);
            let Some(source) = live.source(&id, resume) else {
                log::warn!("device {id}: its punches are in a journal this server does not have");
                return None;
            };
            Some(Sub {
                dev: live.device(&id),
                source,
                status_seq: 0,
                retry_at: None,
                id,
                name,
            })
        })
        .collect();
    // Where the journal stood when the stream opened: a push terminal
    // registered later (a pending serial adopted) joins from there.
    let journal_at_open = live
        .journal()
        .and_then(|j| j.newest_seq_all().ok())
        .map(|seq| seq.unwrap_or(0));
    await_starts(&live, &subs);
    let body = EventStream {
        journal_at_open,
        seen: live.changes(),
        live,
        subs,
        composite,
        last_write: Instant::now(),
        started: false,
    };
    Response::new(
        200,
        "text/event-stream; charset=utf-8",
        Body::Live(Box::new(body)),
    )
    .with_header("Cache-Control", "no-cache")
    .with_header("X-Accel-Buffering", "no")
}

/// Waits (bounded) until every device streamed from now on knows where
/// "now" is: the watcher started for it has read the log's end. The
/// answer's head goes out only then, so a punch made once the client has it
/// is after the start and is sent. A terminal found offline starts anyway
/// (its `event: status` says so); so does one still unsettled at the limit.
fn await_starts(live: &Live, subs: &[Sub]) {
    let pending = |sub: &&Sub| !sub.source.settled();
    let limit = subs
        .iter()
        .filter(pending)
        .map(|s| live.start_limit(&s.id))
        .max()
        .unwrap_or_default();
    let until = Instant::now() + limit;
    let mut seen = live.changes();
    while let Some(sub) = subs.iter().find(pending) {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            log::warn!(
                "device {}: event stream opened before its watcher read the log's end",
                sub.id
            );
            return;
        };
        live.wait_change(&mut seen, left.min(Duration::from_millis(200)));
    }
}

/// One device of a stream.
struct Sub {
    id: String,
    name: String,
    /// Its live state (for link changes).
    dev: Arc<DeviceLive>,
    /// Its punches (the terminal's feed or the journal).
    source: Box<dyn PunchSource>,
    status_seq: u64,
    retry_at: Option<Instant>,
}

/// A client's event stream.
struct EventStream {
    /// The journal's newest position when the stream opened.
    journal_at_open: Option<i64>,
    live: Arc<Live>,
    subs: Vec<Sub>,
    composite: bool,
    seen: u64,
    last_write: Instant,
    started: bool,
}

impl EventStream {
    /// Everything ready to send now.
    fn collect(&mut self) -> Vec<u8> {
        if self.composite {
            self.add_new_devices();
        }
        let mut out = Vec::new();
        for i in 0..self.subs.len() {
            self.status_of(i, &mut out);
            self.punches_of(i, &mut out);
        }
        out
    }

    /// `/events` follows every device: one registered while the stream is
    /// open joins it — a push terminal with every punch the journal stored
    /// since the stream opened (its adopted pending punches too), a pull
    /// terminal from now on.
    fn add_new_devices(&mut self) {
        for device in self.live.registry().all() {
            if self.subs.iter().any(|s| s.id == device.id) {
                continue;
            }
            let from = if device.config.is_push() {
                self.journal_at_open.map(Position::Journal)
            } else {
                None
            };
            let Some(source) = self.live.source(&device.id, from) else {
                continue;
            };
            log::debug!("device {}: joins an open /events stream", device.id);
            self.subs.push(Sub {
                dev: self.live.device(&device.id),
                source,
                status_seq: 0,
                retry_at: None,
                id: device.id.clone(),
                name: device.config.name.clone(),
            });
        }
    }

    fn status_of(&mut self, i: usize, out: &mut Vec<u8>) {
        let sub = &mut self.subs[i];
        let (status, seq) = sub.dev.feed.status();
        if seq == sub.status_seq {
            return;
        }
        sub.status_seq = seq;
        let Some(status) = status else { return };
        let mut data =
            json!({"device_id": sub.id, "state": if status.online { "online" } else { "offline" }});
        if let Some(e) = &status.error {
            let error = match self.live.registry().get(&sub.id) {
                Some(d) => messages::device_error(&d, &crate::ops::OpError::Zk(e.clone())),
                None => messages::device_not_found(&sub.id),
            };
            data["error"] = json!(error);
        }
        out.extend_from_slice(format!("event: status\ndata: {data}\n\n").as_bytes());
    }

    fn punches_of(&mut self, i: usize, out: &mut Vec<u8>) {
        let sub = &mut self.subs[i];
        if sub.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        match sub.source.next() {
            Ok(items) => {
                sub.retry_at = None;
                self.send(i, &items, out);
            }
            Err(e) => {
                log::warn!("device {}: event stream catch-up failed: {e}", sub.id);
                sub.retry_at = Some(Instant::now() + RETRY);
            }
        }
    }

    /// Writes `items` of device `i` as punch events.
    fn send(&self, i: usize, items: &[Item], out: &mut Vec<u8>) {
        let sub = &self.subs[i];
        // Read per batch: a person added to the list is named at once.
        let journal = self.live.journal();
        let names = crate::services::people::names_for_punches(journal.as_deref());
        for item in items {
            let punch = Punch::of(&item.record, &sub.id, &sub.name).named(names.as_ref());
            let data = serde_json::to_string(&punch).unwrap_or_default();
            let id = self.event_id(i, &item.position);
            out.extend_from_slice(format!("event: punch\nid: {id}\ndata: {data}\n\n").as_bytes());
        }
    }

    /// The id of an event of device `i` ending at `position`: its cursor,
    /// or the composite of every device's position on `/events`.
    fn event_id(&self, i: usize, position: &Position) -> String {
        if !self.composite {
            return cursor::encode_any(&self.subs[i].id, position);
        }
        let positions: Vec<(String, Position)> = self
            .subs
            .iter()
            .enumerate()
            .filter_map(|(j, s)| {
                let p = if j == i {
                    *position
                } else {
                    s.source.position()?
                };
                Some((s.id.clone(), p))
            })
            .collect();
        cursor::encode_composite_any(&positions)
    }
}

impl LiveBody for EventStream {
    fn poll(&mut self, wait: Duration) -> Poll {
        if self.live.stopping() {
            return Poll::End;
        }
        if !self.started {
            self.started = true;
            self.last_write = Instant::now();
            return Poll::Data(b"retry: 3000\n: conectado\n\n".to_vec());
        }
        let mut out = self.collect();
        if out.is_empty() {
            self.live.wait_change(&mut self.seen, wait);
            out = self.collect();
        }
        if out.is_empty() && self.last_write.elapsed() >= KEEP_ALIVE {
            out = b": keep-alive\n\n".to_vec();
        }
        if out.is_empty() {
            return Poll::Idle;
        }
        self.last_write = Instant::now();
        Poll::Data(out)
    }
}
