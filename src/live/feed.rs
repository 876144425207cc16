//! One terminal's feed of punches: the most recent records read from its
//! log, each with the position just after it, in log order. The watcher
//! appends; subscribers (event streams, the webhook) read what follows the
//! position they delivered last. A log that no longer continues (cleared,
//! replaced) starts a new epoch.

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::zk::{Attendance, LogPosition};

/// Records kept for subscribers that reconnect or fall behind.
const HISTORY: usize = 20_000;

/// One punch and the position just after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The record.
    pub record: Attendance,
    /// The position just after it (its event id).
    pub position: LogPosition,
}

/// Pairs a tail read's records with the positions after them.
pub fn entries(records: Vec<Attendance>, positions: Vec<LogPosition>) -> Vec<Entry> {
    records
        .into_iter()
        .zip(positions)
        .map(|(record, position)| Entry { record, position })
        .collect()
}

/// A terminal's link as the watcher last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// True while the watcher holds a working connection.
    pub online: bool,
    /// What went wrong, when offline.
    pub error: Option<crate::zk::Error>,
}

/// Where a subscriber is: the log's epoch and the position it delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Epoch of the log the position belongs to.
    pub epoch: u64,
    /// The position delivered last.
    pub position: LogPosition,
}

/// What follows a mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// These entries, in order (possibly none yet).
    Entries(Vec<Entry>),
    /// The mark is older than the history kept: read the log from it.
    Behind(LogPosition),
    /// The log's end is not known yet (the watcher has not read it).
    Unknown,
}

#[derive(Debug, Default)]
struct Inner {
    epoch: u64,
    head: Option<LogPosition>,
    entries: VecDeque<Entry>,
    status: Option<Status>,
    status_seq: u64,
    /// The newest record known (for "last punch seen").
    last: Option<Attendance>,
}

/// A terminal's feed.
#[derive(Debug, Default)]
pub struct Feed {
    inner: Mutex<Inner>,
}

impl Feed {
    /// The known end of the log, with its epoch.
    pub fn head(&self) -> Option<Mark> {
        let inner = self.inner.lock();
        inner.head.map(|position| Mark {
            epoch: inner.epoch,
            position,
        })
    }

    /// Records read after `from` (each with the position after it), ending
    /// at `to`. Returns false (and changes nothing) when `from` is not the
    /// feed's head, i.e. another read already moved it.
    pub fn append(&self, from: &LogPosition, records: &[Entry], to: LogPosition) -> bool {
        let mut inner = self.inner.lock();
        match inner.head {
            Some(head) if head == *from => {}
            None if records.is_empty() => {}
            _ => return false,
        }
        inner.entries.extend(records.iter().cloned());
        while inner.entries.len() > HISTORY {
            inner.entries.pop_front();
        }
        if let Some(e) = records.last() {
            inner.last = Some(e.record.clone());
        }
        inner.head = Some(to);
        true
    }

    /// The log no longer continues the head (or the head was unknown):
    /// starts a new epoch holding the whole log as read.
    pub fn restart(&self, records: &[Entry], to: LogPosition) {
        let mut inner = self.inner.lock();
        if inner.head.is_some() {
            inner.epoch += 1;
        }
        inner.entries.clear();
        let skip = records.len().saturating_sub(HISTORY);
        inner.entries.extend(records[skip..].iter().cloned());
        inner.last = records.last().map(|e| e.record.clone());
        inner.head = Some(to);
    }

    /// Learns the log's end (and its last record) without taking records
    /// (a fresh watcher): the feed starts there, in the current epoch.
    pub fn start_at(&self, position: LogPosition, last: Option<Attendance>) {
        let mut inner = self.inner.lock();
        if inner.head.is_none() {
            inner.head = Some(position);
            inner.last = last;
        }
    }

    /// The newest record known, if any.
    pub fn last(&self) -> Option<Attendance> {
        self.inner.lock().last.clone()
    }

    /// What follows `mark`.
    pub fn after(&self, mark: &Mark) -> Next {
        let inner = self.inner.lock();
        let Some(head) = inner.head else {
            return Next::Unknown;
        };
        let from = if mark.epoch == inner.epoch {
            mark.position
        } else {
            // A newer log: everything in it follows.
            LogPosition::empty(head.format)
        };
        if from.count >= head.count {
            return Next::Entries(Vec::new());
        }
        let first = inner.entries.front().map(|e| e.position.count);
        match first {
            Some(first) if first <= from.count + 1 => {
                let skip = (from.count + 1 - first) as usize;
                Next::Entries(inner.entries.iter().skip(skip).cloned().collect())
            }
            _ => Next::Behind(from),
        }
    }

    /// Whether `position` is the head or the position after a punch the
    /// feed holds (so it certainly belongs to the current log).
    pub fn knows(&self, position: &LogPosition) -> bool {
        let inner = self.inner.lock();
        inner.head.as_ref() == Some(position)
            || inner.entries.iter().any(|e| e.position == *position)
    }

    /// The epoch of the log now.
    pub fn epoch(&self) -> u64 {
        self.inner.lock().epoch
    }

    /// Records a change of the link's state; false when nothing changed.
    pub fn set_status(&self, status: Status) -> bool {
        let mut inner = self.inner.lock();
        if inner.status.as_ref() == Some(&status) {
            return false;
        }
        inner.status = Some(status);
        inner.status_seq += 1;
        true
    }

    /// The link's state and how many times it changed.
    pub fn status(&self) -> (Option<Status>, u64) {
        let inner = self.inner.lock();
        (inner.status.clone(), inner.status_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::{AttFormat, ZkTime};

    fn pos(count: u32) -> LogPosition {
        LogPosition {
            format: AttFormat::Full40,
            count,
            digest: u64::from(count) * 7 + 1,
        }
    }

    fn recs(from: u32, to: u32) -> Vec<Entry> {
        (from + 1..=to)
            .map(|i| {
                let a = Attendance {
                    uid: 1,
                    user_id: i.to_string(),
                    time: ZkTime::decode(i),
                    status: 1,
                    punch: 0,
                };
                Entry {
                    record: a,
                    position: pos(i),
                }
            })
            .collect()
    }

    fn ids(next: Next) -> Vec<String> {
        match next {
            Next::Entries(e) => e.into_iter().map(|e| e.record.user_id).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subscribers_get_what_follows_their_mark() {
        let feed = Feed::default();
        let mark = |count| Mark {
            epoch: 0,
            position: pos(count),
        };
        assert_eq!(feed.after(&mark(0)), Next::Unknown);
        feed.start_at(pos(10), None);
        assert_eq!(ids(feed.after(&mark(10))), Vec::<String>::new());
        assert!(feed.append(&pos(10), &recs(10, 13), pos(13)));
        assert_eq!(ids(feed.after(&mark(10))), ["11", "12", "13"]);
        assert_eq!(ids(feed.after(&mark(12))), ["13"]);
        assert_eq!(ids(feed.after(&mark(13))), Vec::<String>::new());
        assert_eq!(
            feed.after(&mark(5)),
            Next::Behind(pos(5)),
            "older than history"
        );
        assert!(
            !feed.append(&pos(12), &recs(12, 14), pos(14)),
            "not from the head"
        );
        assert_eq!(feed.head().unwrap().position, pos(13));
    }

    #[test]
    fn a_new_log_is_a_new_epoch() {
        let feed = Feed::default();
        feed.start_at(pos(3), None);
        feed.append(&pos(3), &recs(3, 5), pos(5));
        let old = Mark {
            epoch: 0,
            position: pos(5),
        };
        feed.restart(&recs(0, 2), pos(2));
        assert_eq!(feed.epoch(), 1);
        assert_eq!(
            ids(feed.after(&old)),
            ["1", "2"],
            "the whole new log follows"
        );
        let status = Status {
            online: false,
            error: Some(crate::zk::Error::Refused),
        };
        assert!(feed.set_status(status.clone()));
        assert!(!feed.set_status(status), "no change");
        assert_eq!(feed.status().1, 1);
    }
}
