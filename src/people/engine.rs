//! The sync engine: one thread that keeps every pull terminal in step
//! with the staff list. A change to the list (the journal's people
//! signal) wakes it, and after a short pause that gathers a burst of
//! changes every pull terminal gets a quick sync (one counters read when
//! nothing changed for it); every `--people-interval` each one gets a
//! full check (changes made at the terminal); a terminal whose last sync
//! failed (offline, busy) is tried again every [`RETRY`] (or the interval,
//! if shorter), so it follows as soon as it is back. Terminals are synced
//! [`PARALLEL`] at a time, and one terminal never by two syncs at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::sync::{report_of, sync_pull, Depth, TerminalReport};
use crate::journal::{Journal, JournalError};
use crate::ops::Terminals;
use crate::registry::{Device, Registry};
use crate::signal::Shutdown;

/// `--people-interval`'s default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// How often a terminal whose last sync failed is tried again.
pub const RETRY: Duration = Duration::from_secs(30);
/// Terminals synced at once.
pub const PARALLEL: usize = 10;
/// How long a burst of list changes is gathered before syncing.
const GATHER: Duration = Duration::from_millis(200);

/// The running engine (and the syncs the API asks for).
pub struct PeopleSync {
    journal: Arc<Journal>,
    terminals: Arc<Terminals>,
    registry: Arc<Registry>,
    interval: Duration,
    /// One lock per terminal: a sync at a time.
    busy: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    shutdown: Shutdown,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl PeopleSync {
    /// Starts the engine's thread.
    pub fn start(
        journal: Arc<Journal>,
        terminals: Arc<Terminals>,
        registry: Arc<Registry>,
        interval: Duration,
        shutdown: Shutdown,
    ) -> Arc<PeopleSync> {
        let engine = Arc::new(PeopleSync {
            journal,
            terminals,
            registry,
            interval,
            busy: Mutex::new(HashMap::new()),
            shutdown,
            thread: Mutex::new(None),
        });
        let runner = engine.clone();
        let spawned = std::thread::Builder::new()
            .name("people-sync".into())
            .spawn(move || runner.run());
        match spawned {
            Ok(handle) => *engine.thread.lock() = Some(handle),
            Err(e) => log::error!("people sync: could not start its thread: {e}"),
        }
        engine
    }

    /// Stops the thread and waits for it (idempotent; the server's
    /// shutdown token must be stopping already).
    pub fn stop(&self) {
        self.journal.people_changes().notify();
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
    }

    /// The configured pull terminals.
    fn pull_devices(&self) -> Vec<Arc<Device>> {
        self.registry
            .all()
            .into_iter()
            .filter(|d| !d.config.is_push())
            .collect()
    }

    /// The engine's loop (see the module's documentation).
    fn run(&self) {
        let changes = self.journal.people_changes();
        let mut seen = changes.current();
        let retry = RETRY.min(self.interval);
        self.round(&self.pull_devices(), Depth::Quick);
        let mut next_full = Instant::now() + self.interval;
        let mut next_retry = Instant::now() + retry;
        while !self.shutdown.is_stopping() {
            let changed = changes.wait(&mut seen, Duration::from_millis(500));
            if self.shutdown.is_stopping() {
                break;
            }
            if changed {
                if self.shutdown.sleep(GATHER) {
                    break;
                }
                seen = changes.current();
                self.round(&self.pull_devices(), Depth::Quick);
                continue;
            }
            let now = Instant::now();
            if now >= next_full {
                self.round(&self.pull_devices(), Depth::Full);
                next_full = Instant::now() + self.interval;
                next_retry = Instant::now() + retry;
            } else if now >= next_retry {
                let failed = self.failed_devices();
                if !failed.is_empty() {
                    self.round(&failed, Depth::Quick);
                }
                next_retry = Instant::now() + retry;
            }
        }
    }

    /// Pull terminals whose last sync ended in `error`.
    fn failed_devices(&self) -> Vec<Arc<Device>> {
        self.pull_devices()
            .into_iter()
            .filter(|d| report_of(&self.journal, d).is_ok_and(|r| r.state == "error"))
            .collect()
    }

    /// Syncs `devices`, [`PARALLEL`] at a time; logs journal failures.
    fn round(&self, devices: &[Arc<Device>], depth: Depth) {
        for (device, result) in self.sync_all(devices, depth, false) {
            match result {
                Ok(r) if r.state == "error" => log::warn!(
                    "people sync: device {}: {}",
                    device.id,
                    r.error.as_deref().unwrap_or("error")
                ),
                Ok(_) => {}
                Err(e) => log::error!("people sync: device {}: journal failed: {e}", device.id),
            }
        }
    }

    /// Syncs (or plans, `dry_run`) `devices` in parallel, at most
    /// [`PARALLEL`] at a time; answers in the order given.
    pub fn sync_all(
        &self,
        devices: &[Arc<Device>],
        depth: Depth,
        dry_run: bool,
    ) -> Vec<(Arc<Device>, Result<TerminalReport, JournalError>)> {
        let queue = Mutex::new((0..devices.len()).collect::<Vec<_>>());
        let results = Mutex::new(HashMap::new());
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL.min(devices.len()) {
                scope.spawn(|| loop {
                    let Some(i) = queue.lock().pop() else {
                        break;
                    };
                    let out = self.sync_one(&devices[i], depth, dry_run);
                    results.lock().insert(i, out);
                });
            }
        });
        let mut results = results.into_inner();
        devices
            .iter()
            .enumerate()
            .filter_map(|(i, d)| Some((d.clone(), results.remove(&i)?)))
            .collect()
    }

    /// Syncs one terminal under its sync lock.
    pub fn sync_one(
        &self,
        device: &Device,
        depth: Depth,
        dry_run: bool,
    ) -> Result<TerminalReport, JournalError> {
        let lock = self
            .busy
            .lock()
            .entry(device.id.clone())
            .or_default()
            .clone();
        let _held = lock.lock();
        sync_pull(&self.journal, &self.terminals, device, depth, dry_run)
    }

    /// Every terminal's state as last recorded (push terminals too: from
    /// what they were last given), in the registry's order.
    pub fn reports(&self) -> Result<Vec<TerminalReport>, JournalError> {
        self.registry
            .all()
            .iter()
            .map(|d| report_of(&self.journal, d))
            .collect()
    }

    /// The staff list's journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The terminals' runtime state (for imports).
    pub fn terminals(&self) -> &Arc<Terminals> {
        &self.terminals
    }
}
