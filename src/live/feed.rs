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
    /// These entries, in order (possibly none yet), and the mark just
    /// after them (in the feed's current epoch).
    Entries(Vec<Entry>, Mark),
    /// The mark is older than the history kept: read the log from this
    /// position (of the current epoch).
    Behind(LogPosition),
    /// The log's end is not known yet (the watcher has not read it).
    Unknown,
}

/// Where a subscriber that asked for "punches from now on" starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this mark: the head of a log a watcher is following.
    At(Mark),
    /// Where the watcher's next attachment finds the log's end (nobody
    /// followed the log when the subscriber came: the head was stale).
    Next(u64),
}

/// What a feed knew when a subscriber started reading the log itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    epoch: u64,
    head: Option<LogPosition>,
}

impl Snapshot {
    /// The epoch then.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
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
    /// Whether a watcher follows the log since it read the head (false
    /// after a watcher stopped: punches may have been made since).
    attached: bool,
    /// Attachments so far, and the head at the last one.
    attachments: u64,
    origin: Option<Mark>,
}

impl Inner {
    fn mark(&self, position: LogPosition) -> Mark {
        Mark {
            epoch: self.epoch,
            position,
        }
    }

    /// See [`Feed::append`].
    fn append(&mut self, from: &LogPosition, records: &[Entry], to: LogPosition) -> bool {
        match self.head {
            Some(head) if head == *from => {}
            None if records.is_empty() => {}
            _ => return false,
        }
        self.entries.extend(records.iter().cloned());
        while self.entries.len() > HISTORY {
            self.entries.pop_front();
        }
        if let Some(e) = records.last() {
            self.last = Some(e.record.clone());
        }
        self.head = Some(to);
        true
    }

    /// See [`Feed::restart`].
    fn restart(&mut self, records: &[Entry], to: LogPosition) {
        if self.head.is_some() {
            self.epoch += 1;
        }
        self.entries.clear();
        let skip = records.len().saturating_sub(HISTORY);
        self.entries.extend(records[skip..].iter().cloned());
        self.last = records.last().map(|e| e.record.clone());
        self.head = Some(to);
    }

    /// Whether `position` is the head or the position after an entry held.
    fn knows(&self, position: &LogPosition) -> bool {
        self.head.as_ref() == Some(position) || self.entries.iter().any(|e| e.position == *position)
    }
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
        self.inner.lock().append(from, records, to)
    }

    /// The log no longer continues the head (or the head was unknown):
    /// starts a new epoch holding the whole log as read.
    pub fn restart(&self, records: &[Entry], to: LogPosition) {
        self.inner.lock().restart(records, to);
    }

    /// What the feed knows now, before a subscriber reads the log itself
    /// (see [`Feed::read_by_subscriber`]).
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.inner.lock();
        Snapshot {
            epoch: inner.epoch,
            head: inner.head,
        }
    }

    /// A subscriber read the log itself, from `from` (a position of
    /// `before`'s epoch) to `end`, finding `records` (the whole log when
    /// `reset`). Returns the mark of `end` in the feed, and whether the
    /// feed changed.
    ///
    /// A position from such a read belongs to the log the terminal holds,
    /// which is not necessarily the one the feed holds: a feed whose
    /// watcher has not read the terminal since its log was replaced still
    /// holds the old log in the same epoch, and its records after `end`'s
    /// count are not what follows `end`. So, when the feed learned nothing
    /// during the read, it takes what the read found: the records after
    /// its head when the read passed it, or (the read found a log that
    /// does not continue the head) a new epoch holding the whole log read.
    /// When the feed did learn something, it is newer than the read, and
    /// the mark stays in `before`'s epoch: a newer epoch continues from
    /// `end` only where it knows it.
    pub fn read_by_subscriber(
        &self,
        before: Snapshot,
        from: &LogPosition,
        records: &[Entry],
        reset: bool,
        end: LogPosition,
    ) -> (Mark, bool) {
        let mut inner = self.inner.lock();
        if inner.knows(&end) {
            return (inner.mark(end), false);
        }
        let unchanged = inner.epoch == before.epoch && inner.head == before.head;
        let Some(head) = inner.head.filter(|_| unchanged) else {
            let mark = Mark {
                epoch: before.epoch,
                position: end,
            };
            return (mark, false);
        };
        let continues = if reset {
            head == LogPosition::empty(end.format)
        } else {
            head == *from
        };
        let after_head = if continues {
            Some(0)
        } else {
            records
                .iter()
                .position(|e| e.position == head)
                .map(|i| i + 1)
        };
        match after_head {
            Some(i) => {
                inner.append(&head, &records[i..], end);
            }
            None if reset => inner.restart(records, end),
            // The read did not pass the head: no proof of either log.
            None => {
                let mark = Mark {
                    epoch: before.epoch,
                    position: end,
                };
                return (mark, false);
            }
        }
        (inner.mark(end), true)
    }

    /// The log was cleared at `cursor`: a new, empty epoch at `to`, when
    /// the feed still follows the log that ended at `cursor`. A feed that
    /// does not know `cursor` either already read the new log (a watcher
    /// got to the terminal between the clear and this call) or is behind
    /// the old one; either way its next read finds out, so it is left as
    /// it is (false).
    pub fn cleared(&self, cursor: &LogPosition, to: LogPosition) -> bool {
        let mut inner = self.inner.lock();
        if !inner.knows(cursor) {
            return false;
        }
        inner.epoch += 1;
        inner.entries.clear();
        inner.last = None;
        inner.head = Some(to);
        true
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

    /// What follows `mark`. A mark of an older epoch continues in the
    /// current one only where the feed knows its position (a reader that
    /// already read part of the new log); otherwise the whole new log
    /// follows it.
    pub fn after(&self, mark: &Mark) -> Next {
        let inner = self.inner.lock();
        let Some(head) = inner.head else {
            return Next::Unknown;
        };
        let from = if mark.epoch == inner.epoch || inner.knows(&mark.position) {
            mark.position
        } else {
            LogPosition::empty(head.format)
        };
        if from.count >= head.count {
            return Next::Entries(Vec::new(), inner.mark(from));
        }
        let first = inner.entries.front().map(|e| e.position.count);
        match first {
            Some(first) if first <= from.count + 1 => {
                let skip = (from.count + 1 - first) as usize;
                let entries: Vec<Entry> = inner.entries.iter().skip(skip).cloned().collect();
                let end = entries.last().map_or(from, |e| e.position);
                Next::Entries(entries, inner.mark(end))
            }
            _ => Next::Behind(from),
        }
    }

    /// How many punches follow `mark` (0 while the log's end is unknown).
    pub fn count_after(&self, mark: &Mark) -> u64 {
        let inner = self.inner.lock();
        let Some(head) = inner.head else {
            return 0;
        };
        let from = if mark.epoch == inner.epoch || inner.knows(&mark.position) {
            mark.position.count
        } else {
            0
        };
        u64::from(head.count.saturating_sub(from))
    }

    /// The mark of `position` when the feed knows it (the head or the
    /// position after a punch it holds): a resume point certainly in the
    /// current log.
    pub fn resume(&self, position: &LogPosition) -> Option<Mark> {
        let inner = self.inner.lock();
        inner.knows(position).then(|| inner.mark(*position))
    }

    /// Where a subscriber asking for punches from now on starts.
    pub fn start(&self) -> Start {
        let inner = self.inner.lock();
        match inner.head {
            Some(head) if inner.attached => Start::At(inner.mark(head)),
            _ => Start::Next(inner.attachments),
        }
    }

    /// The mark `start` stands for, once known.
    pub fn start_mark(&self, start: Start) -> Option<Mark> {
        match start {
            Start::At(mark) => Some(mark),
            Start::Next(seen) => {
                let inner = self.inner.lock();
                if inner.attachments > seen {
                    inner.origin
                } else {
                    None
                }
            }
        }
    }

    /// A watcher follows the log from its head (it just read it, with
    /// realtime events registered): subscribers waiting to start from now
    /// on start here.
    pub fn attach(&self) {
        let mut inner = self.inner.lock();
        if inner.attached {
            return;
        }
        if let Some(head) = inner.head {
            inner.attached = true;
            inner.attachments += 1;
            inner.origin = Some(inner.mark(head));
        }
    }

    /// No watcher follows the log any more: its head may go stale, and
    /// the link's state is unknown.
    pub fn detach(&self) {
        let mut inner = self.inner.lock();
        inner.attached = false;
        inner.status = None;
        inner.status_seq += 1;
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
            Next::Entries(e, _) => e.into_iter().map(|e| e.record.user_id).collect(),
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

    fn mark_after(feed: &Feed, mark: &Mark) -> Mark {
        match feed.after(mark) {
            Next::Entries(_, end) => end,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reader_of_an_old_log_moves_to_the_new_one_and_stays() {
        let feed = Feed::default();
        feed.start_at(pos(100), None);
        let old = Mark {
            epoch: 0,
            position: pos(100),
        };
        // Cleared: a new, empty log; the reader moves to its start.
        feed.restart(&[], LogPosition::empty(AttFormat::Full40));
        let moved = mark_after(&feed, &old);
        assert_eq!(
            moved,
            Mark {
                epoch: 1,
                position: LogPosition::empty(AttFormat::Full40)
            }
        );
        assert!(feed.append(&moved.position, &recs(0, 1), pos(1)));
        assert_eq!(ids(feed.after(&moved)), ["1"]);
        let next = mark_after(&feed, &moved);
        assert_eq!(next.epoch, 1);
        assert_eq!(ids(feed.after(&next)), Vec::<String>::new(), "once");
        assert_eq!(feed.count_after(&moved), 1);
        assert_eq!(feed.count_after(&next), 0);
        assert_eq!(feed.count_after(&old), 1, "all of the new log");
        // A reader that read part of the new log itself continues there.
        let read = Mark {
            epoch: 0,
            position: pos(1),
        };
        assert_eq!(mark_after(&feed, &read), next);
    }

    #[test]
    fn from_now_on_starts_where_a_following_watcher_is() {
        let feed = Feed::default();
        let first = feed.start();
        assert_eq!(first, Start::Next(0), "nothing known yet");
        feed.start_at(pos(10), None);
        assert_eq!(feed.start_mark(first), None, "not followed yet");
        feed.attach();
        let at10 = Mark {
            epoch: 0,
            position: pos(10),
        };
        assert_eq!(feed.start_mark(first), Some(at10));
        assert!(feed.append(&pos(10), &recs(10, 12), pos(12)));
        assert_eq!(
            feed.start_mark(first),
            Some(at10),
            "punches after it follow"
        );
        assert_eq!(
            feed.start(),
            Start::At(Mark {
                epoch: 0,
                position: pos(12)
            })
        );
        // The watcher stopped: the head is stale until it attaches again.
        feed.detach();
        assert_eq!(feed.status().0, None);
        let stale = feed.start();
        assert_eq!(stale, Start::Next(1));
        assert!(feed.append(&pos(12), &recs(12, 15), pos(15)));
        assert_eq!(feed.start_mark(stale), None);
        feed.attach();
        assert_eq!(
            feed.start_mark(stale),
            Some(Mark {
                epoch: 0,
                position: pos(15)
            }),
            "not the punches made while nobody watched"
        );
        assert_eq!(feed.resume(&pos(13)).map(|m| m.position), Some(pos(13)));
        assert_eq!(feed.resume(&pos(99)), None);
    }

    /// Entries of another log (other digests) from `from` + 1 to `to`.
    fn other_log(from: u32, to: u32) -> Vec<Entry> {
        recs(from, to)
            .into_iter()
            .map(|mut e| {
                e.position.digest += 1000;
                e.record.user_id = format!("new{}", e.position.count);
                e
            })
            .collect()
    }

    #[test]
    fn a_subscribers_read_of_a_replaced_log_updates_a_stale_feed() {
        let empty = LogPosition::empty(AttFormat::Full40);
        let feed = Feed::default();
        feed.start_at(empty, None);
        assert!(feed.append(&empty, &recs(0, 3), pos(3)));
        // The log was replaced; the feed does not know yet. A subscriber
        // resuming at the old head reads the whole new log itself.
        let before = feed.snapshot();
        let new = other_log(0, 1);
        let (mark, changed) = feed.read_by_subscriber(before, &pos(3), &new, true, new[0].position);
        assert!(changed);
        assert_eq!(
            mark,
            Mark {
                epoch: 1,
                position: new[0].position
            }
        );
        assert_eq!(
            ids(feed.after(&mark)),
            Vec::<String>::new(),
            "not the old log's 2..3"
        );
        // A read that passes the head extends the feed.
        let before = feed.snapshot();
        let more = other_log(0, 3);
        let (mark, changed) =
            feed.read_by_subscriber(before, &empty, &more, true, more[2].position);
        assert!(changed);
        assert_eq!(
            mark,
            Mark {
                epoch: 1,
                position: more[2].position
            }
        );
        assert_eq!(feed.head(), Some(mark));
        // The feed learned something during the read: it is newer; the
        // mark stays in the epoch the read began in.
        let before = feed.snapshot();
        let later = other_log(3, 5);
        assert!(feed.append(&more[2].position, &later[..1], later[0].position));
        let stale = other_log(0, 9);
        let (mark, changed) = feed.read_by_subscriber(before, &empty, &stale, true, pos(9));
        assert!(!changed);
        assert_eq!(
            mark,
            Mark {
                epoch: 1,
                position: pos(9)
            }
        );
        // A position the feed knows is its own, whatever the read.
        let (mark, changed) =
            feed.read_by_subscriber(before, &empty, &[], false, later[0].position);
        assert_eq!((mark.epoch, changed), (1, false));
    }

    #[test]
    fn a_clear_starts_a_new_epoch_only_for_the_log_it_cleared() {
        let empty = LogPosition::empty(AttFormat::Full40);
        let feed = Feed::default();
        feed.start_at(pos(5), None);
        assert!(!feed.cleared(&pos(7), empty), "behind the cleared log");
        assert_eq!(feed.epoch(), 0);
        assert!(feed.cleared(&pos(5), empty));
        assert_eq!((feed.epoch(), feed.head().unwrap().position), (1, empty));
        // A watcher already read the new log: the feed is left as it is.
        assert!(feed.append(&empty, &recs(0, 1), pos(1)));
        assert!(!feed.cleared(&pos(5), empty));
        assert_eq!((feed.epoch(), feed.head().unwrap().position), (1, pos(1)));
    }
}
