//! Collecting pull terminals into the journal: which terminals are
//! collected (every pull terminal by default, so reports cover them all;
//! `"collect": false` opts one out, `--collect` overrides that), and how
//! often their log is read (`--collect-interval`; a `since` read of the
//! tail, about one record more than the new ones).

use std::time::Duration;

use crate::registry::Device;

/// Default seconds between two collecting reads of a terminal.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// How pull terminals are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectSettings {
    /// `--collect`: every pull terminal, whatever its own setting.
    pub all: bool,
    /// Pull terminals without a `"collect"` setting are collected (the
    /// default: reports and PostgreSQL want every punch).
    pub by_default: bool,
    /// Time between two reads of a collected terminal.
    pub interval: Duration,
}

impl Default for CollectSettings {
    fn default() -> Self {
        CollectSettings {
            all: false,
            by_default: true,
            interval: DEFAULT_INTERVAL,
        }
    }
}

impl CollectSettings {
    /// Whether `device` is a pull terminal whose punches go to the journal.
    pub fn collected(&self, device: &Device) -> bool {
        let unset = !device.config.raw.contains_key("collect");
        !device.config.is_push()
            && (self.all || device.config.collect || (self.by_default && unset))
    }

    /// Whether `device`'s punches are in the journal (push, or collected).
    pub fn journaled(&self, device: &Device) -> bool {
        device.config.is_push() || self.collected(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{DeviceConfig, DeviceMode};

    fn device(collect: Option<bool>, push: bool) -> Device {
        let mut config = DeviceConfig::new("x");
        if let Some(c) = collect {
            config.collect = c;
            config.raw.insert("collect".into(), c.into());
        }
        if push {
            config.mode = DeviceMode::Push;
        }
        Device {
            id: "x".into(),
            config,
        }
    }

    #[test]
    fn pull_terminals_are_collected_unless_one_says_no() {
        let plain = CollectSettings {
            by_default: false,
            ..CollectSettings::default()
        };
        let database = CollectSettings::default();
        let all = CollectSettings {
            all: true,
            ..CollectSettings::default()
        };
        for (settings, unset, yes, no) in [
            (plain, false, true, false),
            (database, true, true, false),
            (all, true, true, true),
        ] {
            assert_eq!(settings.collected(&device(None, false)), unset);
            assert_eq!(settings.collected(&device(Some(true), false)), yes);
            assert_eq!(settings.collected(&device(Some(false), false)), no);
            assert!(
                !settings.collected(&device(None, true)),
                "push: never collected"
            );
            assert!(settings.journaled(&device(None, true)));
        }
    }
}

/// Collecting pull terminals into the journal (see the module doc).
pub mod run {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use parking_lot::Mutex;

    use super::CollectSettings;
    use crate::journal::{Claim, InsertOutcome, Journal, JournalError, NewPunch};
    use crate::live::{Live, Mark, Next};
    use crate::ops::{Mode, OpError, Terminals};
    use crate::registry::{Device, Registry};
    use crate::zk::{Attendance, LogPosition};

    /// Why a collecting read failed.
    #[derive(Debug)]
    pub enum ReadError {
        /// The terminal could not be read.
        Terminal(OpError),
        /// The journal could not be written.
        Journal(JournalError),
        /// The terminal's serial is another registered device's, whose
        /// own terminal is not known yet: retried (histories never mix).
        Identity {
            /// The serial number.
            serial: String,
            /// The device the journal has it under.
            holder: String,
        },
    }

    impl std::fmt::Display for ReadError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                ReadError::Terminal(e) => write!(f, "terminal read failed: {e}"),
                ReadError::Journal(e) => write!(f, "journal write failed: {e}"),
                ReadError::Identity { serial, holder } => write!(
                    f,
                    "the terminal reports serial {serial}, which the journal has as device '{holder}' (also registered, not read yet); retried at the next read"
                ),
            }
        }
    }

    /// The collectors of the server: one thread per collected terminal.
    pub struct Collector {
        registry: Arc<Registry>,
        terminals: Arc<Terminals>,
        live: Arc<Live>,
        journal: Arc<Journal>,
        settings: CollectSettings,
        /// The terminal-log position each collector read up to.
        positions: Mutex<HashMap<String, LogPosition>>,
        running: Mutex<HashMap<String, ()>>,
        /// How each terminal's last read went, and its last good read.
        reads: Mutex<HashMap<String, LastRead>>,
        /// Terminals identified: the serial each reported (`None`: none).
        identified: Mutex<HashMap<String, Option<String>>>,
        /// Serials reported by terminals still waiting to be identified.
        pending_serials: Mutex<HashMap<String, String>>,
        /// Collecting reads in progress (a stop waits for them, so a
        /// terminal is never left disabled by a read cut short).
        reading: std::sync::atomic::AtomicUsize,
    }

    /// How a collected terminal's last read went.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct LastRead {
        /// Whether the last read worked.
        pub ok: bool,
        /// When a read last worked, if ever.
        pub last_ok: Option<chrono::DateTime<chrono::Local>>,
    }

    impl Collector {
        /// Starts collecting every collected terminal of `registry` (and
        /// those added later) into `journal`.
        pub fn start(
            registry: Arc<Registry>,
            terminals: Arc<Terminals>,
            live: Arc<Live>,
            journal: Arc<Journal>,
            settings: CollectSettings,
        ) -> Arc<Collector> {
            let me = Arc::new(Collector {
                registry,
                terminals,
                live,
                journal,
                settings,
                positions: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                reads: Mutex::new(HashMap::new()),
                identified: Mutex::new(HashMap::new()),
                pending_serials: Mutex::new(HashMap::new()),
                reading: std::sync::atomic::AtomicUsize::new(0),
            });
            let sup = me.clone();
            let spawned = std::thread::Builder::new()
                .name("collect".into())
                .spawn(move || {
                    let mut seen = sup.live.changes();
                    let mut walk = crate::registry::WalkSchedule::new(Duration::from_secs(5));
                    while !sup.live.stopping() {
                        if walk.due(&sup.registry) {
                            sup.supervise();
                        }
                        sup.live.wait_change(&mut seen, Duration::from_secs(5));
                    }
                });
            if let Err(e) = spawned {
                log::error!("could not start collecting: {e}");
            }
            me
        }

        /// How the last collecting read of `id` went, if there was one.
        pub fn last_read(&self, id: &str) -> Option<LastRead> {
            self.reads.lock().get(id).copied()
        }

        /// Records how a read of `id` went.
        fn record_read(&self, id: &str, ok: bool) {
            let mut reads = self.reads.lock();
            let previous = reads.get(id).and_then(|r| r.last_ok);
            let last_ok = if ok {
                Some(chrono::Local::now())
            } else {
                previous
            };
            reads.insert(id.to_string(), LastRead { ok, last_ok });
        }

        /// [`Collector::read_terminal`], counted as in progress.
        fn counted_read(&self, device: &Device) -> Result<InsertOutcome, ReadError> {
            use std::sync::atomic::Ordering;
            self.reading.fetch_add(1, Ordering::SeqCst);
            let read = self.read_terminal(device);
            self.reading.fetch_sub(1, Ordering::SeqCst);
            read
        }

        /// Waits (at most `max`) until no collecting read is in progress:
        /// after a stop, each collector finishes the read it is in (its
        /// terminal re-enabled) and starts no other. `false` if one was
        /// still reading at the deadline.
        pub fn wait_reads_done(&self, max: Duration) -> bool {
            let deadline = Instant::now() + max;
            while self.reading.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            true
        }

        /// The terminal-log position collected up to for `id`, if any.
        pub fn position(&self, id: &str) -> Option<LogPosition> {
            self.positions.lock().get(id).copied()
        }

        /// Starts a collector for every collected terminal without one.
        fn supervise(self: &Arc<Self>) {
            for device in self.registry.all() {
                if !self.settings.collected(&device) {
                    continue;
                }
                let mut running = self.running.lock();
                if running.contains_key(&device.id) {
                    continue;
                }
                running.insert(device.id.clone(), ());
                let (me, id) = (self.clone(), device.id.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("collect-{id}"))
                    .spawn(move || {
                        me.collect(&id);
                        me.running.lock().remove(&id);
                    });
                if let Err(e) = spawned {
                    log::error!("could not start collecting {}: {e}", device.id);
                    running.remove(&device.id);
                }
            }
        }

        /// Collects terminal `id` while it stays collected: a read of its
        /// log every interval (the first one whole), and what its feed
        /// learns in between (the watcher's live punches).
        fn collect(&self, id: &str) {
            log::info!("device {id}: collecting its punches into the journal");
            let mut mark: Option<Mark> = None;
            let mut next_read = Instant::now();
            let mut seen = self.live.changes();
            while !self.live.stopping() {
                let Some(device) = self.registry.get(id).filter(|d| self.settings.collected(d))
                else {
                    break;
                };
                if Instant::now() >= next_read {
                    let read = self.counted_read(&device);
                    if let Err(e) = &read {
                        log::warn!("device {id}: collecting read failed: {e}");
                    }
                    self.record_read(id, read.is_ok());
                    next_read = Instant::now() + self.settings.interval;
                }
                mark = self.take_feed(&device, mark);
                let left = next_read.saturating_duration_since(Instant::now());
                self.live
                    .wait_change(&mut seen, left.min(Duration::from_secs(5)));
            }
            log::info!("device {id}: no longer collected");
        }

        /// Stores what the feed holds after `mark` (the watcher's live
        /// punches); returns the new mark.
        fn take_feed(&self, device: &Device, mark: Option<Mark>) -> Option<Mark> {
            let id = device.id.as_str();
            // Nothing is stored under an id before its terminal is known
            // (its first read does that).
            if !self.identified.lock().contains_key(id) {
                return mark;
            }
            let feed = &self.live.device(id).feed;
            // The feed continues from where this collector's own read of
            // the log ended (a watcher that started since may already hold
            // punches after it).
            let mark = mark.or_else(|| {
                feed.head()?;
                Some(Mark {
                    epoch: feed.epoch(),
                    position: self.position(id)?,
                })
            });
            let Some(mark) = mark else {
                return feed.head();
            };
            match feed.after(&mark) {
                Next::Entries(entries, end) => {
                    if entries.is_empty() {
                        return Some(end);
                    }
                    let records: Vec<Attendance> = entries.into_iter().map(|e| e.record).collect();
                    match store(&self.journal, id, &records) {
                        Ok(_) => Some(end),
                        Err(e) => {
                            log::error!("device {id}: could not journal live punches: {e}");
                            Some(mark)
                        }
                    }
                }
                // Older than what the feed keeps (or the watcher's first
                // read already held them): read the terminal after the
                // collected position now.
                Next::Behind(_) => {
                    let head = feed.head();
                    // On failure the next interval's read has them.
                    if let Err(e) = self.counted_read(device) {
                        log::warn!("device {id}: collecting read failed: {e}");
                    }
                    head
                }
                Next::Unknown => Some(mark),
            }
        }

        /// Reads the terminal's log after the collected position (all of
        /// it the first time, or when it no longer continues) into the
        /// journal.
        pub fn read_terminal(&self, device: &Device) -> Result<InsertOutcome, ReadError> {
            self.identify(device)?;
            let known = self.position(&device.id);
            let (records, position) = match known {
                None => {
                    let log = self
                        .terminals
                        .attendance(device)
                        .map_err(ReadError::Terminal)?;
                    (log.records.clone(), log.position)
                }
                Some(p) => {
                    let tail = self
                        .terminals
                        .attendance_since(device, &p, Mode::Plain)
                        .map_err(ReadError::Terminal)?;
                    (tail.records, tail.position)
                }
            };
            let outcome = store(&self.journal, &device.id, &records).map_err(ReadError::Journal)?;
            self.positions.lock().insert(device.id.clone(), position);
            if outcome.stored > 0 {
                log::info!(
                    "device {}: collected {} new punch(es)",
                    device.id,
                    outcome.stored
                );
            }
            Ok(outcome)
        }
    }

    impl Collector {
        /// Asks the terminal its serial number (once per id) and records it
        /// in the journal before anything is stored under this id: the same
        /// terminal under a new id keeps its history there, not twice.
        fn identify(&self, device: &Device) -> Result<(), ReadError> {
            if self.identified.lock().contains_key(&device.id) {
                return Ok(());
            }
            let serial = self
                .terminals
                .run(device, Mode::Plain, "serial number", |s| {
                    Ok(s.option("~SerialNumber")?)
                })
                .map_err(ReadError::Terminal)?;
            let Some(sn) = serial
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
            else {
                log::info!(
                    "device {}: the terminal reports no serial number (under a new id its log would be collected again)",
                    device.id
                );
                self.identified.lock().insert(device.id.clone(), None);
                return Ok(());
            };
            let claim = self
                .journal
                .claim_serial(&device.id, &sn, |other| self.is_terminal(other, &sn))
                .map_err(ReadError::Journal)?;
            let mut identified = self.identified.lock();
            if let Claim::HeldBy(holder) = claim {
                // Known here as this same terminal: a second entry for it,
                // kept apart. Not known yet: wait for its own read.
                if identified.get(&holder) != Some(&Some(sn.clone())) {
                    self.pending_serials
                        .lock()
                        .insert(device.id.clone(), sn.clone());
                    return Err(ReadError::Identity { serial: sn, holder });
                }
            }
            self.pending_serials.lock().remove(&device.id);
            identified.insert(device.id.clone(), Some(sn));
            Ok(())
        }

        /// Whether registered device `other` is (as far as known) the
        /// terminal with serial `sn`: a push device configured with it, or
        /// a pull device not known to be another terminal.
        fn is_terminal(&self, other: &str, sn: &str) -> bool {
            let Some(d) = self.registry.get(other) else {
                return false;
            };
            if d.config.is_push() {
                return d.config.sn.as_deref() == Some(sn);
            }
            let known = self
                .identified
                .lock()
                .get(other)
                .cloned()
                .or_else(|| self.pending_serials.lock().get(other).cloned().map(Some));
            known.is_none_or(|s| s.as_deref() == Some(sn))
        }
    }

    /// Stores terminal records in the journal (a record with an impossible
    /// date cannot be stored: skipped and logged).
    pub fn store(
        journal: &Journal,
        id: &str,
        records: &[Attendance],
    ) -> Result<InsertOutcome, JournalError> {
        let punches: Vec<NewPunch> = records
            .iter()
            .filter_map(|r| {
                if let Some(time) = r.time.to_naive() {
                    Some(NewPunch {
                        user_id: r.user_id.clone(),
                        time,
                        status: r.status,
                        punch: r.punch,
                        workcode: None,
                    })
                } else {
                    log::warn!(
                        "device {id}: punch of user {} at impossible time {} not journaled",
                        r.user_id,
                        r.time
                    );
                    None
                }
            })
            .collect();
        journal.insert_punches(id, &punches, crate::time::now())
    }
}
