//! How background parts stop and wake: one [`Shutdown`] token that every
//! thread of the server watches, and one [`Changes`] signal that wakes
//! whoever waits for news (punches stored, a terminal's status, a stream
//! or webhook that came or went, a stop).
//!
//! Both are cheap handles (`Clone` shares the same token or signal); the
//! services create one of each and hand them to every part they start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// The server's stop: set once, seen by every thread that holds a clone.
/// Stopping wakes at once whoever sleeps on it and every waiter of the
/// [`Changes`] it was made with.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<ShutdownInner>,
}

#[derive(Debug, Default)]
struct ShutdownInner {
    stopped: Mutex<bool>,
    wake: Condvar,
    changes: Changes,
}

impl Shutdown {
    /// A token not yet stopped whose stop also wakes `changes`' waiters.
    pub fn new(changes: &Changes) -> Shutdown {
        Shutdown {
            inner: Arc::new(ShutdownInner {
                stopped: Mutex::new(false),
                wake: Condvar::new(),
                changes: changes.clone(),
            }),
        }
    }

    /// Stops: every holder sees [`Shutdown::is_stopping`] and sleepers
    /// and change waiters wake now (idempotent).
    pub fn stop(&self) {
        *self.inner.stopped.lock() = true;
        self.inner.wake.notify_all();
        self.inner.changes.notify();
    }

    /// Whether the server is stopping.
    pub fn is_stopping(&self) -> bool {
        *self.inner.stopped.lock()
    }

    /// Sleeps at most `wait`, waking early when stopped; says whether it
    /// is stopping.
    pub fn sleep(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut stopped = self.inner.stopped.lock();
        while !*stopped && Instant::now() < deadline {
            self.inner.wake.wait_until(&mut stopped, deadline);
        }
        *stopped
    }
}

/// A change counter with waiters: whoever changes something calls
/// [`Changes::notify`]; whoever waits for news remembers the count it saw
/// and [`Changes::wait`]s for a newer one.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    inner: Arc<ChangesInner>,
}

#[derive(Debug, Default)]
struct ChangesInner {
    count: Mutex<u64>,
    changed: Condvar,
}

impl Changes {
    /// A signal no one has notified yet.
    pub fn new() -> Changes {
        Changes::default()
    }

    /// Wakes everyone waiting for a change.
    pub fn notify(&self) {
        *self.inner.count.lock() += 1;
        self.inner.changed.notify_all();
    }

    /// The current count (to start waiting from).
    pub fn current(&self) -> u64 {
        *self.inner.count.lock()
    }

    /// Waits at most `wait` for a change after `seen`; updates `seen` and
    /// says whether one came.
    pub fn wait(&self, seen: &mut u64, wait: Duration) -> bool {
        let mut count = self.inner.count.lock();
        if *count == *seen {
            self.inner.changed.wait_for(&mut count, wait);
        }
        let changed = *count != *seen;
        *seen = *count;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_wakes_sleepers_and_change_waiters_at_once() {
        let changes = Changes::new();
        let shutdown = Shutdown::new(&changes);
        let (sleeper, waiter) = (shutdown.clone(), changes.clone());
        let started = Instant::now();
        let slept = std::thread::spawn(move || sleeper.sleep(Duration::from_secs(60)));
        let mut seen = waiter.current();
        let waited = std::thread::spawn(move || waiter.wait(&mut seen, Duration::from_secs(60)));
        shutdown.stop();
        assert!(slept.join().unwrap());
        assert!(waited.join().unwrap());
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_change_after_the_count_seen_is_news_once() {
        let changes = Changes::new();
        let mut seen = changes.current();
        changes.notify();
        assert!(changes.wait(&mut seen, Duration::from_secs(5)));
        assert!(!changes.wait(&mut seen, Duration::from_millis(10)));
        let shutdown = Shutdown::new(&changes);
        assert!(!shutdown.sleep(Duration::from_millis(10)));
        assert!(!shutdown.is_stopping());
    }
}
