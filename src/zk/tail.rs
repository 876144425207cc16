//! Positions in a terminal's attendance log and reading only what follows
//! one (a tail read).
//!
//! A position is (record layout, record count, digest of the last record's
//! bytes). A tail read prepares the log once and reads from the last record
//! the position knows to the end; that record is compared with the digest to
//! prove the log still continues the position. No public client reads from
//! an arbitrary offset, so firmware may refuse it or round it down: every
//! read is verified, and a failed one falls back to the chunk-aligned offset
//! every client uses, then to a full read. Only a full read that does not
//! continue the position reports a reset.

use super::buffered::Prepared;
use super::codec::len_u32;
use super::error::{Error, Result};
use super::records::{self, AttFormat, Attendance};
use super::session::Session;
use super::wire::cmd;

/// A reader's position in an attendance log: just after record `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogPosition {
    /// The log's record layout.
    pub format: AttFormat,
    /// Records before the position.
    pub count: u32,
    /// Digest of the bytes of record `count` (the last one before the
    /// position); 0 when `count` is 0.
    pub digest: u64,
}

impl LogPosition {
    /// The start of an empty log.
    pub fn empty(format: AttFormat) -> LogPosition {
        LogPosition {
            format,
            count: 0,
            digest: 0,
        }
    }

    /// The position at the end of `body` (whole records in `format`).
    pub fn end_of(body: &[u8], format: AttFormat) -> LogPosition {
        let size = format.size();
        let count = body.len() / size;
        match count {
            0 => LogPosition::empty(format),
            n => LogPosition {
                format,
                count: len_u32(n),
                digest: digest(&body[(n - 1) * size..n * size]),
            },
        }
    }

    /// Whether `body` (a whole log in this position's layout) continues this
    /// position: it holds at least `count` records and record `count` has
    /// the digest.
    pub fn continued_by(&self, body: &[u8]) -> bool {
        let size = self.format.size();
        let n = self.count as usize;
        if n == 0 {
            return true;
        }
        // Checked: a client's cursor may claim any count (32-bit builds too).
        let Some(end) = n.checked_mul(size) else {
            return false;
        };
        body.len().is_multiple_of(size)
            && body
                .get(end - size..end)
                .is_some_and(|rec| digest(rec) == self.digest)
    }

    /// The position after `k` more records of `body_after` (the records
    /// following this position, in order).
    pub fn advanced(&self, body_after: &[u8], k: usize) -> LogPosition {
        let size = self.format.size();
        if k == 0 {
            return *self;
        }
        LogPosition {
            format: self.format,
            count: self.count.saturating_add(len_u32(k)),
            digest: digest(&body_after[(k - 1) * size..k * size]),
        }
    }
}

/// The position just after each whole record of `after` (records that
/// follow `from`).
pub fn positions_after(from: &LogPosition, after: &[u8]) -> Vec<LogPosition> {
    after
        .chunks_exact(from.format.size())
        .enumerate()
        .map(|(i, rec)| LogPosition {
            format: from.format,
            count: from.count.saturating_add(len_u32(i + 1)),
            digest: digest(rec),
        })
        .collect()
}

/// The end position of a whole log and its last record.
fn end_and_last(body: &[u8], format: AttFormat) -> (LogPosition, Option<Attendance>) {
    let position = LogPosition::end_of(body, format);
    let n = position.count as usize * format.size();
    let last = n
        .checked_sub(format.size())
        .and_then(|start| last_record(&body[start..n], format));
    (position, last)
}

/// One record parsed for display (8-byte records show their uid).
fn last_record(rec: &[u8], format: AttFormat) -> Option<Attendance> {
    let mut a = records::parse_attendance_record(rec, format)?;
    if a.user_id.is_empty() {
        a.user_id = a.uid.to_string();
    }
    Some(a)
}

/// FNV-1a, 64 bits: a stable digest of a record's bytes.
pub fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// How a tail read reached the log's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TailMethod {
    /// READ_BUFFER from the exact offset of the last known record.
    Exact,
    /// READ_BUFFER from the chunk-aligned offset that contains it.
    Aligned,
    /// The whole log.
    Full,
}

/// What a tail read found.
#[derive(Debug, Clone)]
pub struct TailRead {
    /// The records after the position (all records when `reset`), in
    /// device order, user ids resolved.
    pub records: Vec<Attendance>,
    /// The position just after each record of `records`.
    pub positions: Vec<LogPosition>,
    /// The position after the last record.
    pub position: LogPosition,
    /// The log no longer continues the position: `records` is the whole log.
    pub reset: bool,
    /// The method that worked.
    pub method: TailMethod,
    /// Attendance bytes moved from the terminal.
    pub bytes: usize,
}

impl Session {
    /// Reads only the attendance records stored after `since`, trying
    /// `first` and then the fallbacks after it (see the module docs). Run
    /// it with the terminal disabled, or accept that a punch made during
    /// the read appears in the next one.
    pub fn read_attendance_since(
        &mut self,
        since: &LogPosition,
        first: TailMethod,
    ) -> Result<TailRead> {
        let sizes = self.sizes()?;
        let prepared = match self.prepare(cmd::ATTLOG_RRQ, 0) {
            Ok(p) => p,
            // Some firmware refuses, or ignores, preparing an empty table.
            Err(e @ (Error::Device { .. } | Error::Timeout(_))) if sizes.records == 0 => {
                log::info!("empty attendance log not prepared: {e}");
                Prepared::Inline(records::dataset(&[]))
            }
            Err(e) => return Err(e),
        };
        let out = match prepared {
            Prepared::Inline(data) => {
                let bytes = data.len();
                let (body, _) = records::dataset_body(&data)?;
                self.finish_whole(since, body, sizes.records, bytes)
            }
            Prepared::Buffered { total } => {
                let out = self.tail_of_buffer(since, first, total, sizes.records);
                let freed = self.free_buffer();
                let out = out?;
                freed?;
                Ok(out)
            }
        }?;
        self.resolved(out, sizes.users)
    }

    /// The position at the end of the attendance log and its last record,
    /// reading little: the last chunk-aligned stretch of the log (at most
    /// about 70 KB) is enough to tell the record layout and the last record.
    /// Falls back to a full read when the stretch is not conclusive. (The
    /// last record of an 8-byte log carries its uid as user id.)
    pub fn read_log_end(&mut self) -> Result<(LogPosition, Option<Attendance>)> {
        let sizes = self.sizes()?;
        let prepared = match self.prepare(cmd::ATTLOG_RRQ, 0) {
            Ok(p) => p,
            Err(e @ (Error::Device { .. } | Error::Timeout(_))) if sizes.records == 0 => {
                log::info!("empty attendance log not prepared: {e}");
                return Ok((LogPosition::empty(AttFormat::Full40), None));
            }
            Err(e) => return Err(e),
        };
        let out = match prepared {
            Prepared::Inline(data) => {
                let (body, _) = records::dataset_body(&data)?;
                let format = records::infer_attendance_format(body, sizes.records)?;
                Ok(end_and_last(body, format))
            }
            Prepared::Buffered { total } => self.end_of_buffer(total, sizes.records),
        };
        let freed = self.free_buffer();
        let out = out?;
        freed?;
        Ok(out)
    }

    fn end_of_buffer(
        &mut self,
        total: usize,
        count_hint: u32,
    ) -> Result<(LogPosition, Option<Attendance>)> {
        let body_len = total.saturating_sub(4);
        let want = total.saturating_sub(4096).max(4);
        let start = want - want % self.chunk_size();
        let region = self.read_range(start, total)?;
        let mut best: Option<(u32, AttFormat)> = None;
        for format in [
            AttFormat::Full40,
            AttFormat::Full49,
            AttFormat::Pin16,
            AttFormat::Uid8,
        ] {
            let size = format.size();
            if body_len == 0 || !body_len.is_multiple_of(size) || total - start < size {
                continue;
            }
            // The first record boundary inside the region.
            let first = 4 + (start.saturating_sub(4)).div_ceil(size) * size;
            let score = records::plausibility(&region[first - start..], format);
            // Checked: the count comes from the terminal (32-bit builds too).
            let hinted = (count_hint as usize).checked_mul(size) == Some(body_len);
            let better = match best {
                None => true,
                Some((s, f)) => score > s || (score == s && hinted && f.size() != size),
            };
            if better && score > 0 {
                best = Some((score, format));
            }
        }
        if let Some((_, format)) = best {
            let size = format.size();
            let last = &region[region.len() - size..];
            let position = LogPosition {
                format,
                count: len_u32(body_len / size),
                digest: digest(last),
            };
            return Ok((position, last_record(last, format)));
        }
        // Not conclusive (an empty or unusual log): read it all.
        let data = if start == 0 {
            region
        } else {
            self.read_range(0, total)?
        };
        let (body, _) = records::dataset_body(&data)?;
        let format = records::infer_attendance_format(body, count_hint)?;
        Ok(end_and_last(body, format))
    }

    /// The tail of a prepared buffer of `total` bytes.
    fn tail_of_buffer(
        &mut self,
        since: &LogPosition,
        first: TailMethod,
        total: usize,
        count_hint: u32,
    ) -> Result<TailRead> {
        let size = since.format.size();
        let n = since.count as usize;
        let body_len = total.saturating_sub(4);
        let known = n.checked_mul(size).filter(|k| *k <= body_len);
        let could_continue = n > 0 && known.is_some() && body_len.is_multiple_of(size);
        let mut bytes = 0;
        if could_continue {
            // Dataset offset of the last record the position knows.
            let at = 4 + (n - 1) * size;
            let aligned = at - at % self.chunk_size();
            for method in [TailMethod::Exact, TailMethod::Aligned] {
                if method < first {
                    continue;
                }
                let from = if method == TailMethod::Exact {
                    at
                } else {
                    aligned
                };
                match self.read_range(from, total) {
                    Ok(data) => {
                        bytes += data.len();
                        let known = &data[at - from..at - from + size];
                        if digest(known) == since.digest {
                            let after = &data[at - from + size..];
                            return Ok(self.tail_after(since, after, method, bytes));
                        }
                        log::info!(
                            "{}: tail read from offset {from} did not verify; falling back",
                            self.opts.address()
                        );
                    }
                    Err(e @ Error::Device { .. }) => {
                        log::info!(
                            "{}: READ_BUFFER at offset {from} refused ({e}); falling back",
                            self.opts.address()
                        );
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let data = self.read_range(0, total)?;
        bytes += data.len();
        let (body, _) = records::dataset_body(&data)?;
        self.finish_whole(since, body, count_hint, bytes)
    }

    /// The read records after `since`, when the tail verified.
    fn tail_after(
        &self,
        since: &LogPosition,
        after: &[u8],
        method: TailMethod,
        bytes: usize,
    ) -> TailRead {
        TailRead {
            records: records::parse_attendance(after, since.format),
            positions: positions_after(since, after),
            position: since.advanced(after, after.len() / since.format.size()),
            reset: false,
            method,
            bytes,
        }
    }

    /// Decides from a whole log: the records after `since` if it continues
    /// it, else the whole log as a reset.
    fn finish_whole(
        &self,
        since: &LogPosition,
        body: &[u8],
        count_hint: u32,
        bytes: usize,
    ) -> Result<TailRead> {
        let size = since.format.size();
        let n = since.count as usize;
        if n == 0 || since.continued_by(body) {
            let format = if n == 0 {
                records::infer_attendance_format(body, count_hint)?
            } else {
                since.format
            };
            let start = if n == 0 { 0 } else { n * size };
            let from = if n == 0 {
                LogPosition::empty(format)
            } else {
                *since
            };
            let after = &body[start..];
            return Ok(TailRead {
                reset: false,
                ..self.tail_after(&from, after, TailMethod::Full, bytes)
            });
        }
        let format = records::infer_attendance_format(body, count_hint)?;
        let empty = LogPosition::empty(format);
        Ok(TailRead {
            records: records::parse_attendance(body, format),
            positions: positions_after(&empty, body),
            position: LogPosition::end_of(body, format),
            reset: true,
            method: TailMethod::Full,
            bytes,
        })
    }

    /// Resolves user ids of 8-byte records (they carry uids).
    fn resolved(&mut self, mut read: TailRead, users_hint: u32) -> Result<TailRead> {
        if read.position.format == AttFormat::Uid8 && !read.records.is_empty() {
            let (users, _) = self.read_users(users_hint)?;
            records::resolve_user_ids(&mut read.records, &users);
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_log() {
        let rec = |i: u8| vec![i; 16];
        let body: Vec<u8> = (1..=5).flat_map(rec).collect();
        let pos = LogPosition::end_of(&body[..3 * 16], AttFormat::Pin16);
        assert_eq!(pos.count, 3);
        assert_eq!(pos.digest, digest(&rec(3)));
        assert!(pos.continued_by(&body), "the log grew");
        assert!(pos.continued_by(&body[..48]), "the log did not change");
        let other: Vec<u8> = (6..=10).flat_map(rec).collect();
        assert!(!pos.continued_by(&other), "another log");
        assert!(!pos.continued_by(&body[..32]), "a shorter log");
        let next = pos.advanced(&body[48..], 2);
        assert_eq!(next, LogPosition::end_of(&body, AttFormat::Pin16));
        let each = positions_after(&pos, &body[48..]);
        assert_eq!(each.len(), 2);
        assert_eq!(each[0], LogPosition::end_of(&body[..64], AttFormat::Pin16));
        assert_eq!(each[1], next);
        assert_eq!(pos.advanced(&[], 0), pos);
        assert!(LogPosition::empty(AttFormat::Full40).continued_by(&[]));
        let absurd = LogPosition {
            count: u32::MAX,
            ..pos
        };
        assert!(
            !absurd.continued_by(&body),
            "a count past the log, without overflow"
        );
        assert_eq!(
            LogPosition::end_of(&[], AttFormat::Full40),
            LogPosition::empty(AttFormat::Full40)
        );
    }

    #[test]
    fn digest_is_fnv1a() {
        assert_eq!(digest(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(digest(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
