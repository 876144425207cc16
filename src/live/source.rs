//! Where live punches come from, for event streams and webhooks alike:
//! one [`PunchSource`] per consumer and device, with two kinds — a pull
//! terminal's [`Feed`](super::Feed) (fed by its watcher, read from the
//! terminal when the feed does not hold what is asked), and the journal
//! (push terminals, and collected pull terminals read with journal
//! cursors). The consumers only see punches with the position after each.

use std::sync::Arc;

use super::{DeviceLive, Entry, Interest, Live, Mark, Next};
use crate::cursor::Position;
use crate::journal::Journal;
use crate::zk::{Attendance, LogPosition};

/// Most punches a journal source hands out at once.
const JOURNAL_BATCH: u64 = 1000;

/// One punch and the position just after it (its cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The record.
    pub record: Attendance,
    /// The position after it.
    pub position: Position,
}

/// A consumer's supply of one device's punches, in order.
pub trait PunchSource: Send {
    /// The position after the last punch handed out (or where the source
    /// starts); `None` while where "now" is is not known yet.
    fn position(&self) -> Option<Position>;

    /// Fixes where the source starts when that is known (without handing
    /// out punches) and returns [`PunchSource::position`]: a new webhook
    /// stores its start before it delivers anything.
    fn start(&mut self) -> Option<Position> {
        self.position()
    }

    /// The punches after [`PunchSource::position`] available now, moving
    /// past them (none yet is `Ok(vec![])`). `Err` says why a read failed;
    /// the caller retries later.
    fn next(&mut self) -> Result<Vec<Item>, String>;

    /// Whether the start is fixed (or will not be soon: an offline
    /// terminal); a consumer opening "from now on" waits for it.
    fn settled(&self) -> bool;

    /// Counts, whenever called, the punches known after the position the
    /// source has now (a webhook's backlog while it delivers from there).
    fn backlog_counter(&self) -> Counter;
}

/// Counts punches waiting after a fixed position.
pub type Counter = Box<dyn Fn() -> u64 + Send + Sync>;

/// Punches of a pull terminal's feed (see the module doc).
pub struct FeedSource {
    live: Arc<Live>,
    id: String,
    dev: Arc<DeviceLive>,
    /// Keeps the terminal watched while held; knows where "now" was.
    interest: Interest,
    /// Where the consumer asked to resume, until the first read.
    resume: Option<LogPosition>,
    /// The last punch handed out (None until the start is known).
    mark: Option<Mark>,
    /// Always read the terminal to resume (a webhook's stored position:
    /// punches made while zkserver was down, or a replaced log).
    read_to_resume: bool,
}

impl FeedSource {
    /// Terminal `id`'s punches after `resume`, or from now on.
    pub fn new(live: &Arc<Live>, id: &str, resume: Option<LogPosition>) -> FeedSource {
        FeedSource {
            live: live.clone(),
            id: id.to_string(),
            dev: live.device(id),
            interest: live.watch(id),
            resume,
            mark: None,
            read_to_resume: false,
        }
    }

    /// Like [`FeedSource::new`], confirming `resume` by a read of the
    /// terminal's log even when the feed knows it.
    pub fn resuming_from_terminal(live: &Arc<Live>, id: &str, resume: LogPosition) -> FeedSource {
        FeedSource {
            read_to_resume: true,
            ..FeedSource::new(live, id, Some(resume))
        }
    }

    /// Reads what follows `from` in the terminal's log (the feed no longer
    /// holds it, or must not be trusted with it).
    fn read_after(&mut self, from: LogPosition) -> Result<Vec<Item>, String> {
        let after = self
            .live
            .read_after(&self.id, &from)
            .map_err(|e| e.to_string())?;
        if after.reset {
            log::warn!(
                "device {}: the log no longer continues the position read from; all of it follows",
                self.id
            );
        }
        self.resume = None;
        self.mark = Some(after.mark);
        Ok(items(&after.entries))
    }
}

/// Feed entries as items.
fn items(entries: &[Entry]) -> Vec<Item> {
    entries
        .iter()
        .map(|e| Item {
            record: e.record.clone(),
            position: Position::Log(e.position),
        })
        .collect()
}

impl PunchSource for FeedSource {
    fn position(&self) -> Option<Position> {
        self.mark
            .map(|m| m.position)
            .or(self.resume)
            .map(Position::Log)
    }

    fn start(&mut self) -> Option<Position> {
        if self.mark.is_none() && self.resume.is_none() {
            self.mark = self.dev.feed.start_mark(self.interest.start());
        }
        self.position()
    }

    fn next(&mut self) -> Result<Vec<Item>, String> {
        let feed = &self.dev.feed;
        let mark = match (self.mark, self.resume) {
            (Some(mark), _) => mark,
            // A resume point the feed holds is certainly in the current log;
            // any other is confirmed by a read of the terminal's log.
            (None, Some(p)) => match feed.resume(&p).filter(|_| !self.read_to_resume) {
                Some(mark) => mark,
                None => return self.read_after(p),
            },
            // From now on: where the watcher's log was when the source came.
            (None, None) => match feed.start_mark(self.interest.start()) {
                Some(mark) => mark,
                None => return Ok(Vec::new()),
            },
        };
        self.resume = None;
        self.mark = Some(mark);
        match feed.after(&mark) {
            Next::Entries(entries, end) => {
                self.mark = Some(end);
                Ok(items(&entries))
            }
            Next::Behind(from) => {
                self.mark = None;
                self.resume = Some(from);
                self.read_after(from)
            }
            Next::Unknown => Ok(Vec::new()),
        }
    }

    fn settled(&self) -> bool {
        self.resume.is_some()
            || self.mark.is_some()
            || self.live.start_settled(&self.id, self.interest.start())
    }

    fn backlog_counter(&self) -> Counter {
        let dev = self.dev.clone();
        match self.mark {
            Some(mark) => Box::new(move || dev.feed.count_after(&mark)),
            None => Box::new(|| 0),
        }
    }
}

/// Punches of a device kept in the journal.
pub struct JournalSource {
    journal: Arc<Journal>,
    id: String,
    seq: i64,
    /// For a collected pull terminal: keeps it watched, so what its
    /// watcher sees reaches the journal (through the collector) at once.
    _interest: Option<Interest>,
}

impl JournalSource {
    /// Device `id`'s journal punches after position `seq`, or (None) from
    /// now on: after the newest stored.
    pub fn new(journal: Arc<Journal>, id: &str, seq: Option<i64>) -> JournalSource {
        let seq = seq.unwrap_or_else(|| match journal.newest_seq(id) {
            Ok(newest) => newest.unwrap_or(0),
            Err(e) => {
                log::error!("device {id}: could not read the journal's newest position: {e}");
                0
            }
        });
        JournalSource {
            journal,
            id: id.to_string(),
            seq,
            _interest: None,
        }
    }

    /// Keeps the pull terminal watched while the source lives.
    pub fn watching(mut self, interest: Interest) -> JournalSource {
        self._interest = Some(interest);
        self
    }
}

impl PunchSource for JournalSource {
    fn position(&self) -> Option<Position> {
        Some(Position::Journal(self.seq))
    }

    fn next(&mut self) -> Result<Vec<Item>, String> {
        let punches = self
            .journal
            .punches_after(&self.id, self.seq, JOURNAL_BATCH)
            .map_err(|e| e.to_string())?;
        if let Some(last) = punches.last() {
            self.seq = last.seq;
        }
        Ok(punches
            .iter()
            .map(|p| Item {
                record: crate::punch::attendance_of(p),
                position: Position::Journal(p.seq),
            })
            .collect())
    }

    fn settled(&self) -> bool {
        true
    }

    fn backlog_counter(&self) -> Counter {
        let (journal, id, seq) = (self.journal.clone(), self.id.clone(), self.seq);
        Box::new(move || {
            journal
                .count_after(Some(&id), seq)
                .map_or(0, |n| n.min(100_000))
        })
    }
}

impl Live {
    /// The source of device `id`'s punches for a consumer resuming at
    /// `from` (None: from now on): the journal for a push terminal or a
    /// journal position, else the terminal's feed. `None` when the
    /// punches are in a journal the server does not have.
    pub fn source(
        self: &Arc<Self>,
        id: &str,
        from: Option<Position>,
    ) -> Option<Box<dyn PunchSource>> {
        let push = self.registry.get(id).is_some_and(|d| d.config.is_push());
        match from {
            Some(Position::Journal(seq)) => {
                let source = JournalSource::new(self.journal()?, id, Some(seq));
                Some(Box::new(if push {
                    source
                } else {
                    source.watching(self.watch(id))
                }))
            }
            _ if push => Some(Box::new(JournalSource::new(self.journal()?, id, None))),
            Some(Position::Log(p)) => Some(Box::new(FeedSource::new(self, id, Some(p)))),
            None => Some(Box::new(FeedSource::new(self, id, None))),
        }
    }
}
