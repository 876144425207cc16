//! Running operations against registered terminals. `Terminals` owns the
//! runtime state of each terminal (its conversation lock, its shared
//! downloads); `Terminals::run` takes the lock (bounded wait), opens a
//! session, optionally disables the terminal, runs the work, re-enables it
//! on every path, and exits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::downloads::Downloads;
use crate::registry::Device;
use crate::zk::{self, Session, TailMethod, TailRead};

pub mod faces;
pub mod templates;
pub mod terminal;
pub mod users;
/// The terminal data the API shows, as the protocol reads it.
pub use crate::zk::{codec::parse_timestamp, Attendance, LogPosition, Sizes, ZkTime};
pub use terminal::Identity;
pub use users::UserChanges;

/// Why a request cannot be done on a terminal's data (the `http` layer
/// words it for people and picks the status code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The terminal holds no user with this user id.
    UserNotFound(String),
    /// The terminal already holds a user with this user id.
    UserExists(String),
    /// Every user slot (uid) is taken.
    UsersFull,
    /// The terminal's user layout only holds numeric user ids.
    NumericUserIdsOnly(String),
    /// The encoded name is longer than the layout's name field.
    NameTooLong {
        /// The field's width in bytes.
        max_bytes: usize,
    },
    /// The password is longer than the layout's password field.
    PasswordTooLong {
        /// The field's width in characters.
        max_chars: usize,
    },
    /// The device (this id) is a push terminal: nobody connects to it.
    PushTerminal(String),
}

/// Why a device operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// Another operation held the device lock past the lock timeout.
    Busy,
    /// The terminal conversation failed.
    Zk(zk::Error),
    /// The request cannot be done on this terminal's data.
    Rejected(Rejection),
    /// The operation panicked (a bug); the terminal was re-enabled.
    Panicked,
}

impl From<zk::Error> for OpError {
    fn from(e: zk::Error) -> Self {
        OpError::Zk(e)
    }
}

impl From<Rejection> for OpError {
    fn from(r: Rejection) -> Self {
        OpError::Rejected(r)
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Busy => f.write_str("device busy"),
            OpError::Zk(e) => write!(f, "{e} [{}]", e.kind()),
            OpError::Rejected(r) => write!(f, "rejected: {r:?}"),
            OpError::Panicked => f.write_str("internal error (panic)"),
        }
    }
}

/// Whether the terminal is switched to "working" during the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain session.
    Plain,
    /// DISABLEDEVICE first, ENABLEDEVICE on every exit path.
    Disabled,
}

/// A whole attendance log as downloaded.
#[derive(Debug, Clone)]
pub struct Log {
    /// Records in device order.
    pub records: Vec<Attendance>,
    /// The position just after the last record.
    pub position: LogPosition,
}

/// A download's outcome, shared by the requests it answers.
pub type SharedLog = Result<Arc<Log>, OpError>;

/// What a safe clear found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearOutcome {
    /// The log was cleared; it held this many records.
    Cleared(u32),
    /// Records were stored after the cursor: nothing cleared.
    NewerRecords(usize),
    /// The log does not continue the cursor: nothing cleared.
    Mismatch,
    /// The caller's condition (e.g. the webhook) said no: nothing cleared.
    Refused,
}

/// Runtime state of one terminal id; it outlives configuration changes, so
/// an update never lets two conversations reach one terminal.
#[derive(Default)]
pub struct Terminal {
    /// Held for the whole conversation with the terminal.
    lock: Mutex<()>,
    /// Coordinates concurrent attendance downloads.
    pub downloads: Downloads<SharedLog>,
    /// The first tail-read method to try (what worked last time).
    tail_method: Mutex<Option<TailMethod>>,
    /// Requests waiting for the lock (a watcher holding it steps aside).
    waiting: AtomicUsize,
}

impl Terminal {
    /// Requests waiting for this terminal right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Takes the conversation lock, waiting at most `wait` (the watcher).
    pub fn try_lock_for(&self, wait: Duration) -> Option<MutexGuard<'_, ()>> {
        self.lock.try_lock_for(wait)
    }
}

/// How long operations may wait and take.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// How long a request waits for a busy terminal before giving up.
    pub lock_timeout: Duration,
    /// How long one whole conversation may last, however steadily the
    /// terminal keeps answering (a trickling terminal cannot hold the lock
    /// forever). Re-enabling the terminal afterwards is not cut short.
    pub operation_limit: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            lock_timeout: Duration::from_secs(30),
            operation_limit: Duration::from_secs(300),
        }
    }
}

/// The runtime state of every terminal id seen, and the operations on them.
#[derive(Default)]
pub struct Terminals {
    states: Mutex<HashMap<String, Arc<Terminal>>>,
    /// Waits and limits of every operation.
    pub budget: Budget,
}

impl Terminals {
    /// No terminals yet, with these limits.
    pub fn new(budget: Budget) -> Terminals {
        Terminals {
            states: Mutex::new(HashMap::new()),
            budget,
        }
    }

    /// The state of terminal `id`, created on first use.
    pub fn get(&self, id: &str) -> Arc<Terminal> {
        self.states
            .lock()
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// Runs `work` on `device` under its lock. `what` names the operation in logs.
    pub fn run<T>(
        &self,
        device: &Device,
        mode: Mode,
        what: &str,
        work: impl FnOnce(&mut Session) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        self.run_waiting(device, self.budget.lock_timeout, mode, what, work)
    }

    /// Like [`Terminals::run`], waiting at most `lock_timeout` for the lock.
    pub fn run_waiting<T>(
        &self,
        device: &Device,
        lock_timeout: Duration,
        mode: Mode,
        what: &str,
        work: impl FnOnce(&mut Session) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        if device.config.is_push() {
            log::warn!(
                "device {}: {what} refused: a push terminal is never dialled",
                device.id
            );
            return Err(OpError::Rejected(Rejection::PushTerminal(
                device.id.clone(),
            )));
        }
        let metrics = crate::metrics::global();
        let terminal = self.get(&device.id);
        let waited = Instant::now();
        terminal.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = terminal.lock.try_lock_for(lock_timeout);
        terminal.waiting.fetch_sub(1, Ordering::SeqCst);
        let Some(_guard) = guard else {
            log::warn!(
                "device {}: {what} gave up waiting {lock_timeout:?} for the device lock",
                device.id
            );
            metrics.lock_wait(&device.id, waited.elapsed(), true);
            return Err(OpError::Busy);
        };
        let started = Instant::now();
        let result = self.converse(device, mode, work);
        let address = device.config.address();
        let (took, wait) = (started.elapsed(), started - waited);
        metrics.lock_wait(&device.id, wait, false);
        let kind = match &result {
            Err(OpError::Zk(e)) => Some(e.kind()),
            _ => None,
        };
        metrics.operation(&device.id, what, took, kind);
        match &result {
            Ok(_) => log::info!(
                "device {} ({address}): {what} ok in {took:?} (lock wait {wait:?})",
                device.id
            ),
            Err(e @ OpError::Rejected(..)) => {
                log::info!("device {} ({address}): {what}: {e}", device.id);
            }
            Err(e) => log::error!(
                "device {} ({address}): {what} failed after {took:?}: {e}",
                device.id
            ),
        }
        result
    }

    /// Downloads `device`'s whole attendance log (lock, disable) in a
    /// download that started after this call; concurrent callers share it.
    pub fn attendance(&self, device: &Device) -> SharedLog {
        let terminal = self.get(&device.id);
        let shared = terminal.downloads.fetch(|| {
            self.run(device, Mode::Disabled, "attendance download", |s| {
                let log = s.read_attendance()?;
                crate::metrics::global().records(&device.id, log.records.len());
                Ok(Arc::new(Log {
                    records: log.records,
                    position: log.position,
                }))
            })
        });
        shared.unwrap_or(Err(OpError::Panicked))
    }

    /// Reads only the records stored after `since` (under the lock, with
    /// the terminal disabled in `Mode::Disabled`), starting with the
    /// tail-read method that worked last time for this terminal.
    pub fn attendance_since(
        &self,
        device: &Device,
        since: &LogPosition,
        mode: Mode,
    ) -> Result<TailRead, OpError> {
        let read = self.run(device, mode, "attendance since cursor", |s| {
            Ok(self.tail_read(&device.id, s, since)?)
        })?;
        crate::metrics::global().records(&device.id, read.records.len());
        Ok(read)
    }

    /// A tail read on an open session, remembering per terminal what works:
    /// a method is given up only when a full read proves the log continued
    /// the position (the terminal, not the log, was the problem).
    pub fn tail_read(
        &self,
        id: &str,
        session: &mut Session,
        since: &LogPosition,
    ) -> zk::Result<TailRead> {
        let terminal = self.get(id);
        let first = terminal.tail_method.lock().unwrap_or(TailMethod::Exact);
        let read = session.read_attendance_since(since, first)?;
        if since.count > 0 && !read.reset && read.method != first {
            log::info!("device {id}: tail reads now start with {:?}", read.method);
            *terminal.tail_method.lock() = Some(read.method);
        }
        log::debug!(
            "device {id}: tail read by {:?}: {} new records, {} bytes{}",
            read.method,
            read.records.len(),
            read.bytes,
            if read.reset { ", log reset" } else { "" }
        );
        Ok(read)
    }

    /// Clears the attendance log if nothing was stored after `cursor` and
    /// `allowed()` agrees (checked under the lock, terminal disabled).
    pub fn clear_attendance(
        &self,
        device: &Device,
        cursor: &LogPosition,
        allowed: impl FnOnce() -> bool,
    ) -> Result<(ClearOutcome, LogPosition), OpError> {
        self.run(device, Mode::Disabled, "clear attendance", |s| {
            let read = self.tail_read(&device.id, s, cursor)?;
            let outcome = if read.reset {
                ClearOutcome::Mismatch
            } else if !read.records.is_empty() {
                ClearOutcome::NewerRecords(read.records.len())
            } else if !allowed() {
                ClearOutcome::Refused
            } else {
                s.clear_attendance()?;
                log::warn!(
                    "device {}: attendance log cleared ({} records)",
                    device.id,
                    cursor.count
                );
                return Ok((
                    ClearOutcome::Cleared(cursor.count),
                    LogPosition::empty(cursor.format),
                ));
            };
            Ok((outcome, read.position))
        })
    }

    /// Opens a session without the device lock (the ping endpoint does this).
    pub fn unlocked<T>(
        &self,
        device: &Device,
        work: impl FnOnce(&mut Session) -> zk::Result<T>,
    ) -> zk::Result<T> {
        let mut session = Session::connect(&self.connect_options(device))?;
        let out = work(&mut session)?;
        let _ = session.exit();
        Ok(out)
    }

    /// How to reach `device`, with this server's operation limit.
    pub fn connect_options(&self, device: &Device) -> zk::ConnectOptions {
        let mut opts = device.config.connect_options();
        opts.operation_limit = self.budget.operation_limit;
        opts
    }

    fn converse<T>(
        &self,
        device: &Device,
        mode: Mode,
        work: impl FnOnce(&mut Session) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        let mut session = Session::connect(&self.connect_options(device))?;
        let out = match mode {
            Mode::Plain => work(&mut session),
            Mode::Disabled => {
                let mut disabled = session.disable()?;
                let out = work(&mut disabled);
                if let Err(e) = disabled.finish() {
                    // The work's own result still stands; the guard already retried.
                    log::error!("device {}: re-enable after work failed: {e}", device.id);
                }
                out
            }
        };
        let out = out?;
        if let Err(e) = session.exit() {
            log::debug!("device {}: EXIT failed: {e}", device.id);
        }
        Ok(out)
    }
}
