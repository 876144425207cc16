//! When a supervisor walks every device.

use super::Registry;

/// When a supervisor walks every device: after a change to the registry,
/// and at least every `every` anyway. Punches wake supervisors often (every
/// journal commit); a walk of hundreds of devices each time is wasted.
#[derive(Debug)]
pub struct WalkSchedule {
    seen: Option<u64>,
    last: std::time::Instant,
    every: std::time::Duration,
}

impl WalkSchedule {
    /// A schedule whose first walk is due at once.
    pub fn new(every: std::time::Duration) -> WalkSchedule {
        WalkSchedule {
            seen: None,
            last: std::time::Instant::now(),
            every,
        }
    }

    /// Whether a walk is due now (and, if so, counts it as done).
    pub fn due(&mut self, registry: &Registry) -> bool {
        let generation = registry.generation();
        if self.seen == Some(generation) && self.last.elapsed() < self.every {
            return false;
        }
        self.seen = Some(generation);
        self.last = std::time::Instant::now();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::DeviceConfig;

    /// Supervisors walk every device after a change, and otherwise only
    /// every `every`: the punches that wake them do not cause walks.
    #[test]
    fn a_walk_is_due_after_a_change_or_once_the_period_passed() {
        let reg = Registry::in_memory(Vec::new());
        let mut hourly = WalkSchedule::new(std::time::Duration::from_secs(3600));
        assert!(hourly.due(&reg), "the first walk is at once");
        assert!(!hourly.due(&reg), "nothing changed");
        let b = DeviceConfig::from_json("b", &serde_json::json!({"ip": "10.0.0.2"})).unwrap();
        reg.insert("b", b).unwrap();
        assert!(hourly.due(&reg), "a device was added");
        assert!(!hourly.due(&reg));
        reg.remove("b").unwrap();
        assert!(hourly.due(&reg), "a device was removed");
        let mut always = WalkSchedule::new(std::time::Duration::ZERO);
        assert!(always.due(&reg) && always.due(&reg), "the period passed");
    }
}
