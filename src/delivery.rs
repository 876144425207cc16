//! Webhook delivery: for every terminal with a webhook (its own
//! `"webhook"` or the server's `--webhook`), new punches are POSTed in
//! batches of at most 500, oldest first, with `Idempotency-Key: <cursor>`.
//! A batch is retried (1 s doubling to 5 min) until a 2xx answers, never
//! skipped; the delivered position is stored atomically in the state file,
//! so delivery resumes where it stopped after an outage or a restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde_json::{json, Map, Value};

use crate::cursor::Position;
use crate::live::{Counter, FeedSource, Item, Live, PunchSource, Status};
use crate::punch::Punch;
use crate::zk::LogPosition;

pub use crate::url::TLS;

/// Most punches in one POST.
pub const BATCH: usize = 500;
/// How long one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait after a failed delivery (doubling each time)…
pub const RETRY_MIN: Duration = Duration::from_secs(1);
/// …up to this (also the backoff of PostgreSQL delivery).
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// Counters of one terminal's delivery.
#[derive(Default)]
pub struct DeliveryStats {
    /// Punches delivered (2xx).
    pub delivered: AtomicU64,
    /// Failed attempts.
    pub failed: AtomicU64,
    /// Counts the punches after the delivered position.
    progress: Mutex<Option<Counter>>,
}

impl std::fmt::Debug for DeliveryStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryStats")
            .field("delivered", &self.delivered)
            .field("failed", &self.failed)
            .finish()
    }
}

impl DeliveryStats {
    /// Punches waiting for delivery: every punch known after the delivered
    /// position (a batch being sent included).
    pub fn backlog(&self) -> u64 {
        self.progress.lock().as_ref().map_or(0, |count| count())
    }

    fn set_progress(&self, progress: Option<Counter>) {
        *self.progress.lock() = progress;
    }
}

/// What the state file keeps per terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Delivered {
    url: String,
    position: Position,
}

/// The webhook delivery of the server.
pub struct Delivery {
    live: Arc<Live>,
    state_file: Option<PathBuf>,
    default_url: Option<String>,
    delivered: Mutex<HashMap<String, Delivered>>,
    /// Signalled whenever a delivered position is stored.
    stored: Condvar,
    workers: Mutex<HashMap<String, String>>,
    stats: Mutex<HashMap<String, Arc<DeliveryStats>>>,
}

impl Delivery {
    /// Delivery over `live`, keeping positions in `state_file` (none: in
    /// memory only), with `default_url` for terminals without their own.
    pub fn new(
        live: Arc<Live>,
        state_file: Option<PathBuf>,
        default_url: Option<String>,
    ) -> Arc<Delivery> {
        let delivered = state_file
            .as_ref()
            .map(|p| load_state(p))
            .unwrap_or_default();
        Arc::new(Delivery {
            live,
            state_file,
            default_url,
            delivered: Mutex::new(delivered),
            stored: Condvar::new(),
            workers: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
        })
    }

    /// Starts the supervisor that keeps one worker per terminal with a
    /// webhook, once every new webhook knows where it starts (bounded, see
    /// [`Delivery::await_start`]): a punch made once the server is up is
    /// delivered.
    pub fn start(self: &Arc<Self>) {
        self.supervise();
        let hooks: Vec<(String, String)> = self
            .live
            .registry()
            .all()
            .iter()
            .filter_map(|d| Some((d.id.clone(), self.url_for(&d.id)?)))
            .collect();
        self.await_starts(&hooks);
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || {
                let mut seen = me.live.changes();
                let mut walk = crate::registry::WalkSchedule::new(Duration::from_secs(1));
                while !me.stopping() {
                    if walk.due(me.live.registry()) {
                        me.supervise();
                    }
                    me.live.wait_change(&mut seen, Duration::from_secs(1));
                }
            });
        if let Err(e) = spawned {
            log::error!("could not start webhook delivery: {e}");
        }
    }

    /// Whether the server is stopping: delivery ends then (retries in
    /// progress are abandoned, not waited for).
    fn stopping(&self) -> bool {
        self.live.stopping()
    }

    /// The webhook URL of terminal `id`, if any.
    pub fn url_for(&self, id: &str) -> Option<String> {
        let device = self.live.registry().get(id)?;
        device
            .config
            .webhook
            .clone()
            .or_else(|| self.default_url.clone())
    }

    /// The webhook of `id` was set (it was `before`): when it is a new one,
    /// starts its worker and waits (bounded by the terminal's timeouts)
    /// until it stored where it starts, so a punch made once the caller
    /// answers is delivered. A terminal found offline does not wait: its
    /// webhook starts where the watcher first reads the log.
    pub fn await_start(self: &Arc<Self>, id: &str, before: Option<&str>) {
        let Some(url) = self.url_for(id) else {
            return;
        };
        if before == Some(url.as_str()) {
            return;
        }
        self.supervise();
        self.await_starts(&[(id.to_string(), url)]);
    }

    /// Waits until every (id, url) webhook knows where it starts, or will
    /// not soon (offline, changed, stopping), at most the longest of their
    /// terminals' start limits.
    fn await_starts(&self, hooks: &[(String, String)]) {
        let limit = hooks
            .iter()
            .map(|(id, _)| self.live.start_limit(id))
            .max()
            .unwrap_or_default();
        let until = Instant::now() + limit;
        while let Some((id, url)) = hooks.iter().find(|(id, url)| !self.start_settled(id, url)) {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                log::warn!("device {id}: webhook {url} set before its start was known");
                return;
            };
            let mut delivered = self.delivered.lock();
            if delivered.get(id).is_none_or(|d| d.url != *url) {
                self.stored
                    .wait_for(&mut delivered, left.min(Duration::from_millis(100)));
            }
        }
    }

    /// Whether the webhook (`id`, `url`) stored where it starts, or will
    /// not soon. A push terminal's webhook starts in the journal at once,
    /// online or not, so it is always waited for (a pending serial adopted
    /// right after must find the start fixed, see `http::push::registered`).
    fn start_settled(&self, id: &str, url: &str) -> bool {
        let push = self
            .live
            .registry()
            .get(id)
            .is_some_and(|d| d.config.is_push());
        let offline = !push
            && matches!(
                self.live.device(id).feed.status().0,
                Some(Status { online: false, .. })
            );
        // Without a journal a push terminal's webhook never starts.
        let never = push && self.live.journal().is_none();
        offline
            || never
            || !self.current(id, url)
            || self.delivered.lock().get(id).is_some_and(|d| d.url == url)
    }

    /// The counters of terminal `id`'s delivery.
    pub fn stats(&self, id: &str) -> Arc<DeliveryStats> {
        self.stats.lock().entry(id.to_string()).or_default().clone()
    }

    /// Ids with a webhook worker (for metrics).
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.stats.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// How many punches up to `position` (the end of the log) the webhook
    /// of `id` has not delivered (0 without a webhook). Only a delivered
    /// position equal to `position` is caught up: one from another log (or
    /// from another URL) has delivered none of this log.
    pub fn undelivered(&self, id: &str, position: &LogPosition) -> u32 {
        let Some(url) = self.url_for(id) else {
            return 0;
        };
        if position.count == 0 {
            return 0; // An empty log has nothing to deliver.
        }
        let delivered = self.delivered.lock();
        match delivered
            .get(id)
            .filter(|d| d.url == url)
            .map(|d| d.position)
        {
            Some(Position::Log(d)) if d == *position => 0,
            Some(Position::Log(d)) if d.format == position.format && d.count < position.count => {
                position.count - d.count
            }
            _ => position.count.max(1),
        }
    }

    /// Whether the webhook of `id` (if any) delivered every journal punch
    /// up to position `newest` (`None`: the device has none).
    pub fn caught_up_journal(&self, id: &str, newest: Option<i64>) -> bool {
        let Some(url) = self.url_for(id) else {
            return true;
        };
        let Some(newest) = newest else {
            return true;
        };
        matches!(
            self.delivered.lock().get(id).filter(|d| d.url == url).map(|d| d.position),
            Some(Position::Journal(seq)) if seq >= newest
        )
    }

    /// How many journal punches of `id` its webhook has not delivered.
    pub fn undelivered_journal(&self, id: &str, journal: &crate::journal::Journal) -> u32 {
        let Some(url) = self.url_for(id) else {
            return 0;
        };
        let seq = match self.stored_position(id, &url) {
            Some(Position::Journal(seq)) => seq,
            _ => 0,
        };
        journal
            .count_after(Some(id), seq)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The log of `id` was cleared at `cursor` (which the webhook had
    /// delivered): delivery continues at `after`, the empty log's start.
    pub fn log_cleared(&self, id: &str, cursor: &LogPosition, after: &LogPosition) {
        let mut delivered = self.delivered.lock();
        // Checked and moved at once: a worker that already delivered from
        // the new log is never moved back.
        if let Some(d) = delivered
            .get_mut(id)
            .filter(|d| d.position == Position::Log(*cursor))
        {
            d.position = Position::Log(*after);
            self.write_state(&delivered);
        }
    }

    /// Starts a worker for every terminal with a webhook that has none.
    fn supervise(self: &Arc<Self>) {
        for device in self.live.registry().all() {
            let Some(url) = self.url_for(&device.id) else {
                continue;
            };
            let mut workers = self.workers.lock();
            if workers.get(&device.id) == Some(&url) {
                continue;
            }
            workers.insert(device.id.clone(), url.clone());
            let (me, id) = (self.clone(), device.id.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("webhook-{id}"))
                .spawn(move || {
                    me.work(&id, &url);
                    let mut workers = me.workers.lock();
                    if workers.get(&id) == Some(&url) {
                        workers.remove(&id);
                    }
                });
            if let Err(e) = spawned {
                log::error!("could not start the webhook of {}: {e}", device.id);
                workers.remove(&device.id);
            }
        }
    }

    /// Whether the worker for (`id`, `url`) should go on.
    fn current(&self, id: &str, url: &str) -> bool {
        !self.stopping() && self.url_for(id).as_deref() == Some(url)
    }

    /// Delivers terminal `id`'s punches to `url` until the webhook changes
    /// or the server stops.
    fn work(&self, id: &str, url: &str) {
        let stats = self.stats(id);
        let agent = ureq::AgentBuilder::new().timeout(POST_TIMEOUT).build();
        log::info!("device {id}: webhook delivery to {url} started");
        let stored = self.stored_position(id, url);
        let push = self
            .live
            .registry()
            .get(id)
            .is_some_and(|d| d.config.is_push());
        let source: Option<Box<dyn PunchSource>> = match stored {
            // Punches made while zkserver was down, or a replaced log: the
            // terminal's log is read to resume.
            Some(Position::Log(p)) if !push => Some(Box::new(FeedSource::resuming_from_terminal(
                &self.live, id, p,
            ))),
            Some(Position::Log(_)) => self.live.source(id, None),
            // A new webhook starts with punches made from now on.
            other => self.live.source(id, other),
        };
        if let Some(mut source) = source {
            self.follow(id, url, &agent, &stats, source.as_mut());
        } else {
            log::error!("device {id}: webhook needs the punch journal, which is not open");
            // Kept (idle) until the webhook changes: no respawn loop.
            let mut seen = self.live.changes();
            while self.current(id, url) {
                self.live.wait_change(&mut seen, Duration::from_secs(5));
            }
        }
        stats.set_progress(None);
        log::info!("device {id}: webhook delivery to {url} stopped");
    }

    /// The position stored for the webhook (`id`, `url`), if any.
    fn stored_position(&self, id: &str, url: &str) -> Option<Position> {
        self.delivered
            .lock()
            .get(id)
            .filter(|d| d.url == url)
            .map(|d| d.position)
    }

    /// Delivers what `source` supplies, as it comes, until told to stop.
    /// Where the source stands while it has nothing to deliver (its start,
    /// the start of a new log) is stored as delivered.
    fn follow(
        &self,
        id: &str,
        url: &str,
        agent: &ureq::Agent,
        stats: &DeliveryStats,
        source: &mut dyn PunchSource,
    ) {
        let mut seen = self.live.changes();
        let mut wait = RETRY_MIN;
        while self.current(id, url) {
            if let Some(p) = source.start() {
                if self.stored_position(id, url) != Some(p) {
                    self.store(id, url, p);
                }
            }
            // The source stands at the delivered position here.
            stats.set_progress(Some(source.backlog_counter()));
            match source.next() {
                Ok(items) if !items.is_empty() => {
                    wait = RETRY_MIN;
                    if !self.deliver(id, url, agent, stats, &items) {
                        return;
                    }
                }
                Ok(_) => {
                    wait = RETRY_MIN;
                    if let Some(p) = source.position() {
                        if self.stored_position(id, url) != Some(p) {
                            self.store(id, url, p);
                        }
                    }
                    stats.set_progress(Some(source.backlog_counter()));
                    self.live.wait_change(&mut seen, Duration::from_secs(1));
                }
                Err(e) => {
                    log::warn!(
                        "device {id}: webhook catch-up read failed: {e}; retrying in {wait:?}"
                    );
                    self.sleep(id, url, wait);
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Delivers `items` in order, batch by batch, retrying each until it
    /// is accepted. False when told to stop first.
    fn deliver(
        &self,
        id: &str,
        url: &str,
        agent: &ureq::Agent,
        stats: &DeliveryStats,
        items: &[Item],
    ) -> bool {
        let name = self
            .live
            .registry()
            .get(id)
            .map_or_else(|| id.to_string(), |d| d.config.name.clone());
        let journal = self.live.journal();
        let names = crate::services::people::names_for_punches(journal.as_deref());
        for batch in items.chunks(BATCH) {
            let Some(last) = batch.last().map(|i| i.position) else {
                continue;
            };
            let cursor = crate::cursor::encode_any(id, &last);
            let data: Vec<Punch> = batch
                .iter()
                .map(|e| Punch::of(&e.record, id, &name).named(names.as_ref()))
                .collect();
            let body =
                json!({"device_id": id, "device_name": name, "cursor": cursor, "data": data})
                    .to_string();
            let mut wait = RETRY_MIN;
            loop {
                if !self.current(id, url) {
                    return false;
                }
                let started = Instant::now();
                match post(agent, url, &cursor, &body) {
                    Ok(()) => {
                        log::info!(
                            "device {id}: webhook accepted {} punch(es) in {:?}",
                            batch.len(),
                            started.elapsed()
                        );
                        stats
                            .delivered
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        self.store(id, url, last);
                        break;
                    }
                    Err(e) => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        log::warn!("device {id}: webhook {url} failed: {e}; retrying in {wait:?}");
                        self.sleep(id, url, wait);
                        wait = (wait * 2).min(RETRY_MAX);
                    }
                }
            }
        }
        true
    }

    /// Sleeps `wait`, waking early when the worker must stop.
    fn sleep(&self, id: &str, url: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut seen = self.live.changes();
        while self.current(id, url) {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            self.live
                .wait_change(&mut seen, left.min(Duration::from_millis(500)));
        }
    }

    /// Records a delivered position, in memory and in the state file,
    /// while `url` is still the webhook of `id` (a worker whose webhook was
    /// just replaced never overwrites the new one's position).
    fn store(&self, id: &str, url: &str, position: Position) {
        let mut delivered = self.delivered.lock();
        if self.url_for(id).as_deref() != Some(url) {
            return;
        }
        delivered.insert(
            id.to_string(),
            Delivered {
                url: url.to_string(),
                position,
            },
        );
        self.write_state(&delivered);
        self.stored.notify_all();
    }

    /// Writes the state file (if any) with `delivered`.
    fn write_state(&self, delivered: &HashMap<String, Delivered>) {
        if let Some(path) = &self.state_file {
            let text = state_text(delivered);
            if let Err(e) = crate::atomic_file::write(path, text.as_bytes(), 0o600) {
                log::error!("could not write {}: {e}", path.display());
            }
        }
    }
}

/// One POST; `Err` says why it did not count as delivered.
fn post(agent: &ureq::Agent, url: &str, key: &str, body: &str) -> Result<(), String> {
    match agent
        .post(url)
        .set("Content-Type", "application/json")
        .set("Idempotency-Key", key)
        .set(
            "User-Agent",
            concat!("zkserver/", env!("CARGO_PKG_VERSION")),
        )
        .send_string(body)
    {
        Ok(resp) if (200..300).contains(&resp.status()) => Ok(()),
        Ok(resp) => Err(format!("HTTP {}", resp.status())),
        Err(ureq::Error::Status(code, _)) => Err(format!("HTTP {code}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The state file's text: `{"webhooks": {"<id>": {"url", "cursor"}}}`.
fn state_text(delivered: &HashMap<String, Delivered>) -> String {
    let mut ids: Vec<&String> = delivered.keys().collect();
    ids.sort();
    let mut hooks = Map::new();
    for id in ids {
        let d = &delivered[id];
        hooks.insert(
            id.clone(),
            json!({"url": d.url, "cursor": crate::cursor::encode_any(id, &d.position)}),
        );
    }
    let mut text = serde_json::to_string_pretty(&json!({"webhooks": hooks})).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads the state file; a missing or unreadable one is an empty state
/// (logged), never a failure to start.
fn load_state(path: &std::path::Path) -> HashMap<String, Delivered> {
    crate::atomic_file::remove_stale_temps(path);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            log::error!(
                "could not read {}: {e}; webhooks start from new punches",
                path.display()
            );
            return HashMap::new();
        }
    };
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        log::error!(
            "{} is not valid JSON ({e}); webhooks start from new punches",
            path.display()
        );
        Value::Null
    });
    let mut out = HashMap::new();
    if let Some(hooks) = value.get("webhooks").and_then(Value::as_object) {
        for (id, entry) in hooks {
            let url = entry.get("url").and_then(Value::as_str);
            let cursor = entry.get("cursor").and_then(Value::as_str);
            if let (Some(url), Some(Ok(position))) =
                (url, cursor.map(|c| crate::cursor::decode_any(id, c)))
            {
                out.insert(
                    id.clone(),
                    Delivered {
                        url: url.to_string(),
                        position,
                    },
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::AttFormat;

    #[test]
    fn state_round_trips() {
        let dir = std::env::temp_dir().join(format!("zkserver-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json.state.json");
        let mut map = HashMap::new();
        map.insert(
            "principal".to_string(),
            Delivered {
                url: "http://h/x".into(),
                position: Position::Log(LogPosition {
                    format: AttFormat::Full40,
                    count: 12,
                    digest: 99,
                }),
            },
        );
        map.insert(
            "recepcion".to_string(),
            Delivered {
                url: "http://h/y".into(),
                position: Position::Journal(41),
            },
        );
        std::fs::write(&path, state_text(&map)).unwrap();
        assert_eq!(load_state(&path), map);
        std::fs::write(&path, "{not json").unwrap();
        assert!(load_state(&path).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
