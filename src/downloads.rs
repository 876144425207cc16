//! Shared attendance downloads: requests for one terminal that arrive while
//! its log is being downloaded wait, and are all answered from the *next*
//! single download — each still gets a download that started after it
//! arrived, but N concurrent requests cost one or two downloads, not N.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use parking_lot::{Condvar, Mutex};

/// The download panicked; its takers get this instead of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked;

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the shared download panicked")
    }
}

struct State<T> {
    /// Downloads started so far (the current or last one's number).
    started: u64,
    running: bool,
    /// Requests (besides the one leading it) waiting for download N.
    takers: HashMap<u64, usize>,
    /// Finished downloads not yet picked up by all their takers.
    results: HashMap<u64, (Result<T, Panicked>, usize)>,
}

/// One terminal's download coordinator; `T` is what a download yields
/// (cloned for each request it answers, so usually an `Arc` or a `Result`
/// of one).
pub struct Downloads<T> {
    state: Mutex<State<T>>,
    finished: Condvar,
}

impl<T> Default for Downloads<T> {
    fn default() -> Self {
        Downloads {
            state: Mutex::new(State {
                started: 0,
                running: false,
                takers: HashMap::new(),
                results: HashMap::new(),
            }),
            finished: Condvar::new(),
        }
    }
}

impl<T> std::fmt::Debug for Downloads<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Downloads")
            .field("started", &st.started)
            .field("running", &st.running)
            .finish()
    }
}

impl<T: Clone> Downloads<T> {
    /// Returns the result of a download that started after this call began:
    /// runs `download` if none is running, else waits for the next one.
    pub fn fetch(&self, download: impl FnOnce() -> T) -> Result<T, Panicked> {
        let mut st = self.state.lock();
        let wanted = st.started + 1;
        *st.takers.entry(wanted).or_default() += 1;
        loop {
            if let Some((result, left)) = st.results.get_mut(&wanted) {
                let out = result.clone();
                *left -= 1;
                if *left == 0 {
                    st.results.remove(&wanted);
                }
                return out;
            }
            if !st.running {
                // Nothing is running and our download has not happened: lead it.
                st.started = wanted;
                st.running = true;
                let others = st.takers.remove(&wanted).unwrap_or(1).saturating_sub(1);
                drop(st);
                let result = catch_unwind(AssertUnwindSafe(download)).map_err(|_| Panicked);
                let mut st = self.state.lock();
                st.running = false;
                if others > 0 {
                    st.results.insert(wanted, (result.clone(), others));
                }
                self.finished.notify_all();
                return result;
            }
            self.finished.wait(&mut st);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn concurrent_requests_share_one_or_two_downloads() {
        let downloads: Arc<Downloads<Arc<Vec<usize>>>> = Arc::new(Downloads::default());
        let count = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (d, c) = (downloads.clone(), count.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(i % 4));
                    d.fetch(|| {
                        let n = c.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(80));
                        Arc::new(vec![n])
                    })
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap().is_ok());
        }
        let n = count.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "{n} downloads");
        assert!(
            downloads.state.lock().results.is_empty(),
            "results are not kept once taken"
        );
    }

    #[test]
    fn a_request_arriving_mid_download_gets_the_next_one_and_errors_are_shared() {
        let downloads: Arc<Downloads<Result<usize, &str>>> = Arc::new(Downloads::default());
        let d = downloads.clone();
        let first = std::thread::spawn(move || {
            d.fetch(|| {
                std::thread::sleep(Duration::from_millis(100));
                Err("busy")
            })
        });
        std::thread::sleep(Duration::from_millis(30));
        let second = downloads.fetch(|| Ok(0));
        assert_eq!(first.join().unwrap(), Ok(Err("busy")));
        assert_eq!(second, Ok(Ok(0)), "the second request led a new download");
        let panicked = downloads.fetch(|| panic!("boom"));
        assert_eq!(panicked, Err(Panicked), "a panic is its own outcome");
        assert_eq!(
            downloads.fetch(|| Ok(1)),
            Ok(Ok(1)),
            "not stuck after a panic"
        );
    }
}
