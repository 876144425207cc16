//! Routine push traffic, summarised: a terminal polling every second would
//! write a log line a second (500 terminals: gigabytes a day). Polls,
//! pings and acknowledged uploads are counted per terminal and
//! written as one line per terminal every [`SUMMARY_EVERY`] (and at
//! shutdown); each exchange gets its own line only at `debug`. Anything
//! unusual (skipped lines, refusals, commands, journal failures) is still
//! logged when it happens, by the receiver.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often a terminal's routine traffic is summarised.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// One routine exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routine {
    /// A command poll answered `OK` (nothing queued).
    Poll,
    /// A ping.
    Ping,
    /// An upload answered OK with no line skipped: `stored` new punches,
    /// `duplicates` already stored (0 and 0 for users, options, photos).
    Upload {
        /// New punches.
        stored: usize,
        /// Punches already in the journal.
        duplicates: usize,
    },
}

/// What one terminal did since its last summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tally {
    polls: u64,
    pings: u64,
    uploads: u64,
    stored: u64,
    duplicates: u64,
}

impl Tally {
    fn add(&mut self, what: Routine) {
        match what {
            Routine::Poll => self.polls += 1,
            Routine::Ping => self.pings += 1,
            Routine::Upload { stored, duplicates } => {
                self.uploads += 1;
                self.stored += stored as u64;
                self.duplicates += duplicates as u64;
            }
        }
    }

    fn is_empty(&self) -> bool {
        *self == Tally::default()
    }

    /// `12 polls, 2 uploads (40 new punches, 0 already stored)`.
    fn describe(&self) -> String {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if self.polls > 0 {
            parts.push(plural(self.polls, "poll", "polls"));
        }
        if self.pings > 0 {
            parts.push(plural(self.pings, "ping", "pings"));
        }
        if self.uploads > 0 {
            parts.push(format!(
                "{} ({}, {} already stored)",
                plural(self.uploads, "upload", "uploads"),
                plural(self.stored, "new punch", "new punches"),
                self.duplicates
            ));
        }
        parts.join(", ")
    }
}

/// A terminal's tally and when it started.
struct Window {
    since: Instant,
    tally: Tally,
}

/// The per-terminal tallies.
pub struct Summary {
    every: Duration,
    terminals: Mutex<HashMap<String, Window>>,
}

impl Summary {
    /// Summaries every `every` per terminal.
    pub fn new(every: Duration) -> Summary {
        Summary {
            every,
            terminals: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one routine exchange of serial `sn` (logged at `debug` on
    /// its own); writes the terminal's summary when its window is over.
    pub fn note(&self, sn: &str, what: Routine) {
        log::debug!("push {sn}: {what:?}");
        let due = {
            let mut terminals = self.terminals.lock();
            let window = terminals.entry(sn.to_string()).or_insert_with(|| Window {
                since: Instant::now(),
                tally: Tally::default(),
            });
            window.tally.add(what);
            let elapsed = window.since.elapsed();
            if elapsed < self.every {
                return;
            }
            let tally = std::mem::take(&mut window.tally);
            window.since = Instant::now();
            (tally, elapsed)
        };
        write_line(sn, &due.0, due.1);
    }

    /// Writes every terminal's pending summary (at shutdown).
    pub fn flush(&self) {
        let pending: Vec<(String, Tally, Duration)> = self
            .terminals
            .lock()
            .iter_mut()
            .filter(|(_, w)| !w.tally.is_empty())
            .map(|(sn, w)| {
                let elapsed = w.since.elapsed();
                w.since = Instant::now();
                (sn.clone(), std::mem::take(&mut w.tally), elapsed)
            })
            .collect();
        for (sn, tally, elapsed) in pending {
            write_line(&sn, &tally, elapsed);
        }
    }
}

/// The summary line of one terminal.
fn write_line(sn: &str, tally: &Tally, elapsed: Duration) {
    if !tally.is_empty() {
        log::info!(
            "push {sn}: in the last {} s: {}",
            elapsed.as_secs(),
            tally.describe()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_reads_as_one_short_line() {
        let mut t = Tally::default();
        assert!(t.is_empty());
        for _ in 0..58 {
            t.add(Routine::Poll);
        }
        t.add(Routine::Upload {
            stored: 1,
            duplicates: 0,
        });
        t.add(Routine::Upload {
            stored: 39,
            duplicates: 2,
        });
        assert_eq!(
            t.describe(),
            "58 polls, 2 uploads (40 new punches, 2 already stored)"
        );
    }

    #[test]
    fn windows_restart_after_their_summary() {
        let s = Summary::new(Duration::ZERO);
        s.note("A", Routine::Poll);
        // A zero window writes at once and starts an empty one.
        assert!(s.terminals.lock()["A"].tally.is_empty());
        let s = Summary::new(Duration::from_secs(3600));
        s.note("A", Routine::Poll);
        s.note("A", Routine::Ping);
        assert_eq!(s.terminals.lock()["A"].tally.polls, 1);
        s.flush();
        assert!(s.terminals.lock()["A"].tally.is_empty());
    }
}
