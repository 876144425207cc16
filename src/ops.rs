//! Running one operation against a registered terminal: take the device lock
//! (bounded wait), open a session, optionally disable the terminal, run the
//! work, re-enable on every path, exit.

use std::time::{Duration, Instant};

use crate::registry::Device;
use crate::zk::{self, Session};

/// Why a device operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// Another operation held the device lock past the lock timeout.
    Busy,
    /// The terminal conversation failed.
    Zk(zk::Error),
    /// The request cannot be done on this terminal's data (e.g. the user does
    /// not exist): an HTTP status and a Spanish message.
    Rejected(u16, String),
}

impl From<zk::Error> for OpError {
    fn from(e: zk::Error) -> Self {
        OpError::Zk(e)
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Busy => f.write_str("device busy"),
            OpError::Zk(e) => write!(f, "{e} [{}]", e.kind()),
            OpError::Rejected(status, msg) => write!(f, "rejected ({status}): {msg}"),
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

/// Runs `work` on `device` under its lock. `what` names the operation in logs.
pub fn run<T>(
    device: &Device,
    lock_timeout: Duration,
    mode: Mode,
    what: &str,
    work: impl FnOnce(&mut Session) -> Result<T, OpError>,
) -> Result<T, OpError> {
    let metrics = crate::metrics::global();
    let waited = Instant::now();
    let Some(_guard) = device.lock.try_lock_for(lock_timeout) else {
        log::warn!(
            "device {}: {what} gave up waiting {lock_timeout:?} for the device lock",
            device.id
        );
        metrics.lock_wait(&device.id, waited.elapsed(), true);
        return Err(OpError::Busy);
    };
    let started = Instant::now();
    let result = converse(device, mode, work);
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
            log::info!("device {} ({address}): {what}: {e}", device.id)
        }
        Err(e) => log::error!(
            "device {} ({address}): {what} failed after {took:?}: {e}",
            device.id
        ),
    }
    result
}

/// Opens a session without the device lock (the ping endpoint does this).
pub fn unlocked<T>(
    device: &Device,
    work: impl FnOnce(&mut Session) -> zk::Result<T>,
) -> zk::Result<T> {
    let mut session = Session::connect(&device.config.connect_options())?;
    let out = work(&mut session)?;
    let _ = session.exit();
    Ok(out)
}

fn converse<T>(
    device: &Device,
    mode: Mode,
    work: impl FnOnce(&mut Session) -> Result<T, OpError>,
) -> Result<T, OpError> {
    let mut session = Session::connect(&device.config.connect_options())?;
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
