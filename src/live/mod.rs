//! Live punches: one watcher per terminal that has an interested party (an
//! event stream or a webhook), feeding that terminal's [`Feed`]. The
//! watcher holds the terminal's connection registered for realtime events
//! and steps aside whenever an API request needs the terminal.

pub mod feed;
pub mod source;
mod watcher;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use feed::{Entry, Feed, Mark, Next, Snapshot, Start, Status};
pub use source::{Counter, FeedSource, Item, JournalSource, PunchSource};

use crate::ops::{Mode, OpError, Terminals};
use crate::registry::Registry;
use crate::signal::{Changes, Shutdown};
use crate::zk::LogPosition;

/// Longest wait, in seconds, for where "from now on" starts.
const START_LIMIT_MAX: f64 = 30.0;

/// What followed a position in a terminal's log.
#[derive(Debug, Clone)]
pub struct After {
    /// The records after it, each with the position after it.
    pub entries: Vec<Entry>,
    /// The log no longer continued the position: `entries` is all of it.
    pub reset: bool,
    /// The position at the end of the log read.
    pub end: LogPosition,
    /// `end` as a mark in the terminal's feed (which the read updates when
    /// it knew less; see [`Feed::read_by_subscriber`]).
    pub mark: Mark,
}

/// Counters of one terminal's watcher (for `/metrics`).
#[derive(Debug, Default)]
pub struct WatcherStats {
    /// Realtime events received.
    pub events: AtomicU64,
    /// Periodic reconciliations (tail reads without an event).
    pub reconciliations: AtomicU64,
    /// Punches added to the feed.
    pub punches: AtomicU64,
    /// Connections that failed or broke.
    pub failures: AtomicU64,
}

/// Everything live about one terminal.
#[derive(Debug, Default)]
pub struct DeviceLive {
    /// Its punches.
    pub feed: Feed,
    /// Its watcher's counters.
    pub stats: WatcherStats,
    control: Mutex<Control>,
}

#[derive(Debug, Default)]
struct Control {
    interest: usize,
    running: bool,
}

impl DeviceLive {
    /// Whether a watcher is running for this terminal.
    pub fn watching(&self) -> bool {
        self.control.lock().running
    }

    /// Event streams and webhooks interested in this terminal.
    pub fn interest(&self) -> usize {
        self.control.lock().interest
    }
}

/// The live-punch runtime of the server.
pub struct Live {
    registry: Arc<Registry>,
    terminals: Arc<Terminals>,
    /// How often a watcher reads the log's tail without an event.
    pub reconcile_interval: Duration,
    shutdown: Shutdown,
    devices: Mutex<HashMap<String, Arc<DeviceLive>>>,
    changes: Changes,
    journal: Mutex<Option<Arc<crate::journal::Journal>>>,
}

/// Keeps a terminal watched while held.
pub struct Interest {
    live: Arc<Live>,
    id: String,
    start: Start,
}

impl Interest {
    /// Where "punches from now on" start for the holder: the log's end
    /// when the interest was taken, as a watcher following the log knew
    /// it, else as the watcher it started (or restarted) first reads it.
    pub fn start(&self) -> Start {
        self.start
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        let dev = self.live.device(&self.id);
        let mut control = dev.control.lock();
        control.interest = control.interest.saturating_sub(1);
        drop(control);
        self.live.notify();
    }
}

impl Live {
    /// The runtime over `registry` and `terminals`, stopping with
    /// `shutdown` and waking its waiters through `changes`.
    pub fn new(
        registry: Arc<Registry>,
        terminals: Arc<Terminals>,
        reconcile_interval: Duration,
        shutdown: Shutdown,
        changes: Changes,
    ) -> Arc<Live> {
        Arc::new(Live {
            registry,
            terminals,
            reconcile_interval,
            shutdown,
            devices: Mutex::new(HashMap::new()),
            changes,
            journal: Mutex::new(None),
        })
    }

    /// Serves journal punches too: every commit that stores punches wakes
    /// the streams and webhooks (the journal notifies the change signal
    /// this runtime was made with, see [`crate::journal::Journal::changes`]).
    pub fn follow_journal(&self, journal: Arc<crate::journal::Journal>) {
        *self.journal.lock() = Some(journal);
    }

    /// The journal, when the server has one.
    pub fn journal(&self) -> Option<Arc<crate::journal::Journal>> {
        self.journal.lock().clone()
    }

    /// The live state of terminal `id` (created on first use).
    pub fn device(&self, id: &str) -> Arc<DeviceLive> {
        self.devices
            .lock()
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// The watcher's status of terminal `id`, without creating live state
    /// for it (`None`: not watched, or no status yet).
    pub fn status_of(&self, id: &str) -> Option<Status> {
        let device = self.devices.lock().get(id).cloned()?;
        device.feed.status().0
    }

    /// Ids with live state, for metrics.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.devices.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Keeps terminal `id` watched until the returned guard is dropped.
    pub fn watch(self: &Arc<Self>, id: &str) -> Interest {
        let dev = self.device(id);
        let mut control = dev.control.lock();
        control.interest += 1;
        // Under the control lock: no watcher detaches meanwhile.
        let start = dev.feed.start();
        if !control.running && !self.stopping() {
            control.running = true;
            let (live, id2, dev2) = (self.clone(), id.to_string(), dev.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("watch-{id}"))
                .spawn(move || watcher::run(&live, &id2, &dev2));
            if let Err(e) = spawned {
                log::error!("could not start the watcher of {id}: {e}");
                control.running = false;
            }
        }
        Interest {
            live: self.clone(),
            id: id.to_string(),
            start,
        }
    }

    /// Wakes everyone waiting for a change (new punches, a status, a stop).
    pub fn notify(&self) {
        self.changes.notify();
    }

    /// Waits until something changed after `seen` (updated), at most `wait`.
    pub fn wait_change(&self, seen: &mut u64, wait: Duration) {
        self.changes.wait(seen, wait);
    }

    /// The current change counter (to start waiting from).
    pub fn changes(&self) -> u64 {
        self.changes.current()
    }

    /// Whether the server is stopping (its [`Shutdown`] was stopped: every
    /// watcher then releases its terminal).
    pub fn stopping(&self) -> bool {
        self.shutdown.is_stopping()
    }

    /// The server's stop token (for the parts that run beside the watchers).
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The attendance log of `id` was cleared through the API at `cursor`
    /// (its end then): its feed starts a new, empty epoch at `after`.
    pub fn log_cleared(&self, id: &str, cursor: &LogPosition, after: &LogPosition) {
        if self.device(id).feed.cleared(cursor, *after) {
            self.notify();
        }
    }

    /// Reads what follows `from` in terminal `id`'s log (for a subscriber
    /// older than the feed's history, or resuming from a position the feed
    /// does not know), without disabling the terminal. When the log no
    /// longer continues `from`, the entries are the whole log (`reset`).
    pub fn read_after(&self, id: &str, from: &LogPosition) -> Result<After, OpError> {
        let device = self
            .registry
            .get(id)
            .ok_or_else(|| OpError::Zk(crate::zk::Error::Unreachable(format!("{id}: removed"))))?;
        let feed = &self.device(id).feed;
        let before = feed.snapshot();
        let read = self
            .terminals
            .attendance_since(&device, from, Mode::Plain)?;
        let entries = feed::entries(read.records, read.positions);
        let (mark, changed) =
            feed.read_by_subscriber(before, from, &entries, read.reset, read.position);
        if changed {
            self.notify();
        }
        Ok(After {
            entries,
            reset: read.reset,
            end: read.position,
            mark,
        })
    }

    /// How long the opening of a consumer (a stream without a cursor, a
    /// new webhook) may wait for where "from now on" starts on terminal
    /// `id`: the watcher connects, registers for events and reads the
    /// log's end, each step within the terminal's timeout.
    pub fn start_limit(&self, id: &str) -> Duration {
        let timeout = self
            .registry
            .get(id)
            .map_or(crate::registry::DEFAULT_TIMEOUT, |d| d.config.timeout);
        Duration::from_secs_f64((timeout * 3.0 + 1.0).clamp(2.0, START_LIMIT_MAX))
    }

    /// Whether `start` (taken with an interest in `id`) is fixed yet, or
    /// will not be soon: the watcher found the terminal offline (a
    /// consumer then starts anyway and says so).
    pub fn start_settled(&self, id: &str, start: Start) -> bool {
        let feed = &self.device(id).feed;
        feed.start_mark(start).is_some()
            || matches!(feed.status().0, Some(Status { online: false, .. }))
            || self.stopping()
    }

    /// The registry (for names and webhooks).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}
