//! A pull terminal's own data, each a named conversation: identity and
//! counters, the clock, a clock sync, a restart, a quick look for status
//! pages and a ping. Callers (the API) never hold a protocol session.

use std::time::Duration;

use super::{Mode, OpError, Terminals};
use crate::registry::Device;
use crate::zk::{Sizes, ZkTime};

/// Who a terminal says it is, with its counters and clock.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Firmware version text.
    pub firmware: String,
    /// `~SerialNumber`.
    pub serial: Option<String>,
    /// `~Platform`.
    pub platform: Option<String>,
    /// `~DeviceName`.
    pub name: Option<String>,
    /// Records, users, fingers and their capacities.
    pub sizes: Sizes,
    /// Its clock.
    pub time: ZkTime,
}

impl Terminals {
    /// Reads `device`'s identity, counters and clock (lock, disabled).
    pub fn identity(&self, device: &Device) -> Result<Identity, OpError> {
        self.run(device, Mode::Disabled, "info", |s| {
            let firmware = s.firmware_version()?;
            let serial = s.option("~SerialNumber")?;
            let platform = s.option("~Platform")?;
            let name = s.option("~DeviceName")?;
            let sizes = s.sizes()?;
            let time = s.get_time()?;
            Ok(Identity {
                firmware,
                serial,
                platform,
                name,
                sizes,
                time,
            })
        })
    }

    /// Reads `device`'s clock (lock).
    pub fn clock(&self, device: &Device) -> Result<ZkTime, OpError> {
        self.run(device, Mode::Plain, "get time", |s| Ok(s.get_time()?))
    }

    /// Sets `device`'s clock to `wanted`, else to the server's local time
    /// taken under the lock, right before sending (so it is not stale).
    pub fn set_clock(&self, device: &Device, wanted: Option<ZkTime>) -> Result<ZkTime, OpError> {
        self.run(device, Mode::Plain, "sync time", |s| {
            let t = wanted.unwrap_or_else(|| ZkTime::from_naive(&crate::time::now()));
            s.sync_time(t)?;
            Ok::<_, OpError>(t)
        })
    }

    /// Sends `device` a restart (lock).
    pub fn restart(&self, device: &Device) -> Result<(), OpError> {
        self.run(device, Mode::Plain, "restart", |s| Ok(s.restart()?))
    }

    /// `device`'s counters and clock for a status page, waiting at most
    /// `wait` for a busy terminal (never disabled).
    pub fn glance(&self, device: &Device, wait: Duration) -> Result<(Sizes, ZkTime), OpError> {
        self.run_waiting(device, wait, Mode::Plain, "status", |s| {
            let sizes = s.sizes()?;
            let time = s.get_time()?;
            Ok((sizes, time))
        })
    }

    /// Connects and reads `device`'s clock. A `watched` terminal takes one
    /// connection at a time: through its lock, so the watcher steps aside;
    /// otherwise no lock and no waiting.
    pub fn ping(&self, device: &Device, watched: bool) -> Result<ZkTime, OpError> {
        if watched {
            self.run(device, Mode::Plain, "ping", |s| Ok(s.get_time()?))
        } else {
            self.unlocked(device, crate::zk::Session::get_time)
                .map_err(OpError::Zk)
        }
    }
}
