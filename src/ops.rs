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
}

impl From<zk::Error> for OpError {
    fn from(e: zk::Error) -> Self {
        OpError::Zk(e)
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
    work: impl FnOnce(&mut Session) -> zk::Result<T>,
) -> Result<T, OpError> {
    let waited = Instant::now();
    let Some(_guard) = device.lock.try_lock_for(lock_timeout) else {
        log::warn!(
            "device {}: {what} gave up waiting {lock_timeout:?} for the device lock",
            device.id
        );
        return Err(OpError::Busy);
    };
    let started = Instant::now();
    let result = converse(device, mode, work);
    match &result {
        Ok(_) => log::info!(
            "device {} ({}): {what} ok in {:?} (lock wait {:?})",
            device.id,
            device.config.address(),
            started.elapsed(),
            started - waited
        ),
        Err(e) => log::error!(
            "device {} ({}): {what} failed after {:?}: {e} [{}]",
            device.id,
            device.config.address(),
            started.elapsed(),
            e.kind()
        ),
    }
    result.map_err(OpError::Zk)
}

/// Opens a session without the device lock (the ping endpoint does this).
pub fn unlocked<T>(
    device: &Device,
    work: impl FnOnce(&mut Session) -> zk::Result<T>,
) -> zk::Result<T> {
    converse(device, Mode::Plain, work)
}

fn converse<T>(
    device: &Device,
    mode: Mode,
    work: impl FnOnce(&mut Session) -> zk::Result<T>,
) -> zk::Result<T> {
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
