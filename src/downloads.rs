//! Shared attendance downloads: requests for one terminal that arrive while
//! its log is being downloaded wait, and are all answered from the *next*
//! single download — each still gets a download that started after it
//! arrived, but N concurrent requests cost one or two downloads, not N.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::ops::OpError;
use crate::zk::{Attendance, Error};

/// The outcome of one download, shared by every request it answers.
pub type Shared = Result<Arc<Vec<Attendance>>, OpError>;

#[derive(Default)]
struct State {
    /// Downloads started so far (the current or last one's number).
    started: u64,
    running: bool,
    /// Requests (besides the one leading it) waiting for download N.
    takers: HashMap<u64, usize>,
    /// Finished downloads not yet picked up by all their takers.
    results: HashMap<u64, (Shared, usize)>,
}

/// One terminal's download coordinator.
#[derive(Default)]
pub struct Downloads {
    state: Mutex<State>,
    finished: Condvar,
}

impl std::fmt::Debug for Downloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Downloads")
            .field("started", &st.started)
            .field("running", &st.running)
            .finish()
    }
}

impl Downloads {
    /// Returns the result of a download that started after this call began:
    /// runs `download` if none is running, else waits for the next one.
    pub fn fetch(&self, download: impl FnOnce() -> Shared) -> Shared {
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
                let result = catch_unwind(AssertUnwindSafe(download)).unwrap_or_else(|_| {
                    Err(OpError::Zk(Error::Io(
                        "fallo interno durante la descarga".into(),
                    )))
                });
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
    use std::time::Duration;

    #[test]
    fn concurrent_requests_share_one_or_two_downloads() {
        let downloads = Arc::new(Downloads::default());
        let count = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (d, c) = (downloads.clone(), count.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(i % 4));
                    d.fetch(|| {
                        let n = c.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(80));
                        Ok(Arc::new(vec![Attendance {
                            uid: n as u16,
                            user_id: n.to_string(),
                            time: crate::zk::ZkTime::decode(0),
                            status: 0,
                            punch: 0,
                        }]))
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
        let downloads = Arc::new(Downloads::default());
        let d = downloads.clone();
        let first = std::thread::spawn(move || {
            d.fetch(|| {
                std::thread::sleep(Duration::from_millis(100));
                Err(OpError::Busy)
            })
        });
        std::thread::sleep(Duration::from_millis(30));
        let second = downloads.fetch(|| Ok(Arc::new(Vec::new())));
        assert_eq!(first.join().unwrap(), Err(OpError::Busy));
        assert_eq!(
            second.map(|v| v.len()),
            Ok(0),
            "the second request led a new download"
        );
        let panicked = downloads.fetch(|| panic!("boom"));
        assert!(panicked.is_err());
        assert!(
            downloads.fetch(|| Ok(Arc::new(Vec::new()))).is_ok(),
            "not stuck after a panic"
        );
    }
}
