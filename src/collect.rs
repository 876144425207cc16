//! Collecting pull terminals into the journal: which terminals are
//! collected (`"collect": true` or `--collect`), and how often their log is
//! read (`--collect-interval`).

use std::time::Duration;

use crate::registry::Device;

/// Default seconds between two collecting reads of a terminal.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// How pull terminals are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectSettings {
    /// `--collect`: every pull terminal, whatever its own setting.
    pub all: bool,
    /// Time between two reads of a collected terminal.
    pub interval: Duration,
}

impl Default for CollectSettings {
    fn default() -> Self {
        CollectSettings {
            all: false,
            interval: DEFAULT_INTERVAL,
        }
    }
}

impl CollectSettings {
    /// Whether `device` is a pull terminal whose punches go to the journal.
    pub fn collected(&self, device: &Device) -> bool {
        !device.config.is_push() && (self.all || device.config.collect)
    }

    /// Whether `device`'s punches are in the journal (push, or collected).
    pub fn journaled(&self, device: &Device) -> bool {
        device.config.is_push() || self.collected(device)
    }
}
