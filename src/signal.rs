//! How background parts stop and wake: one [`Shutdown`] token that every
//! thread of the server watches, and one [`Changes`] signal that wakes
//! whoever waits for news (punches stored, a terminal's status, a stream
//! or webhook that came or went, a stop).
//!
//! Both are cheap handles (`Clone` shares the same token or signal); the
//! services create one of each and hand them to every part they start.

use std::cell::RefCell;
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

    /// Wakes everyone waiting for a change. The count moves at once; on a
    /// thread that holds its wake-ups (see [`hold_wakes`]) the waiters
    /// sleeping now are woken when they are released.
    pub fn notify(&self) {
        *self.inner.count.lock() += 1;
        let held = HELD.with(|held| match held.borrow_mut().as_mut() {
            Some(list) => {
                if !list.iter().any(|c| Arc::ptr_eq(&c.inner, &self.inner)) {
                    list.push(self.clone());
                }
                true
            }
            None => false,
        });
        if !held {
            self.inner.changed.notify_all();
        }
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

thread_local! {
    /// The signals notified on this thread while it holds its wake-ups.
    static HELD: RefCell<Option<Vec<Changes>>> = const { RefCell::new(None) };
}

/// Holds back the wake-ups of [`Changes::notify`] on this thread until
/// [`wake_held`]: a push upload's request thread answers the terminal
/// first, then wakes the streams, webhooks and deliveries its commit
/// concerns (on two cores they would otherwise run before the answer is
/// written). The change counts move at once, so a waiter that looks
/// meanwhile sees the change; only sleepers wait for the release. The
/// connection that runs the handler calls [`wake_held`] once the answer
/// is written (or the connection ends).
pub fn hold_wakes() {
    HELD.with(|held| {
        held.borrow_mut().get_or_insert_with(Vec::new);
    });
}

/// Wakes the waiters of every signal notified on this thread since
/// [`hold_wakes`], and stops holding (nothing happens when none is held).
pub fn wake_held() {
    let held = HELD.with(|held| held.borrow_mut().take());
    for changes in held.into_iter().flatten() {
        changes.inner.changed.notify_all();
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

    /// Whether thread `task` (`/proc/<pid>/task/<tid>`) sleeps.
    #[cfg(target_os = "linux")]
    fn sleeps(task: &str) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{task}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        state.is_some_and(|s| s.starts_with('S'))
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn held_wakes_wake_sleepers_only_when_released() {
        let changes = Changes::new();
        let waiter = changes.clone();
        let mut seen = waiter.current();
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            let task = std::fs::read_link("/proc/thread-self").expect("thread-self");
            tx.send(task).expect("main thread listens");
            waiter.wait(&mut seen, Duration::from_secs(60))
        });
        let task = rx.recv().expect("sleeper started");
        let task = task.to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !sleeps(&task) {
            assert!(Instant::now() < deadline, "the sleeper never slept");
            std::thread::yield_now();
        }
        hold_wakes();
        changes.notify();
        changes.notify();
        let mut seen_here = 0;
        assert!(
            changes.wait(&mut seen_here, Duration::ZERO),
            "the count moved"
        );
        assert_eq!(seen_here, 2);
        let window = Instant::now() + Duration::from_millis(200);
        while Instant::now() < window {
            assert!(!sleeper.is_finished(), "woken before the release");
            std::thread::yield_now();
        }
        wake_held();
        assert!(sleeper.join().expect("sleeper"), "woken by the change");
        // Not holding any more: a notify from this thread wakes at once.
        let waiter = changes.clone();
        let mut seen = changes.current();
        let sleeper = std::thread::spawn(move || waiter.wait(&mut seen, Duration::from_secs(60)));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !sleeper.is_finished() {
            assert!(Instant::now() < deadline, "a notify did not wake");
            changes.notify();
            std::thread::yield_now();
        }
        assert!(sleeper.join().expect("sleeper"));
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
