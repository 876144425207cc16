//! Splitting bodies into lines (LF or CRLF, a missing final newline and
//! trailing blank lines accepted) and the reasons a line is skipped. A body
//! that arrives as a stream is read in chunks of whole lines
//! ([`LineChunks`]), so what is held follows a chunk, not the body.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, Read};

use crate::text::Encoding;

/// Why a line of an upload was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Fewer fields than the record needs.
    TooFewFields,
    /// The PIN is empty.
    EmptyPin,
    /// The PIN is too long or holds control characters.
    BadPin,
    /// The time is not a real `YYYY-MM-DD HH:MM:SS`.
    BadTime,
    /// `Status` is not a number 0–255.
    BadStatus,
    /// `Verify` is not a number 0–255.
    BadVerify,
    /// A `USER` line whose `Pri` is not a number 0–15.
    BadPrivilege,
    /// A `USER` line whose `Name` is too long or holds control characters.
    BadName,
    /// A `USER` line whose `Passwd` is not up to 8 letters or digits.
    BadPassword,
    /// A `USER` line whose `Card` is not a card number.
    BadCard,
    /// A `USER` line whose `Grp` is not a short group number.
    BadGroup,
    /// A `devicecmd` line without a valid `ID`.
    BadCommandId,
    /// A `devicecmd` line without a numeric `Return`.
    BadReturnCode,
    /// A line of a kind this table does not have.
    UnknownLine,
    /// A line longer than [`MAX_LINE`].
    TooLong,
}

impl SkipReason {
    /// Short English name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TooFewFields => "too few fields",
            SkipReason::EmptyPin => "empty PIN",
            SkipReason::BadPin => "bad PIN",
            SkipReason::BadTime => "impossible time",
            SkipReason::BadStatus => "bad Status",
            SkipReason::BadVerify => "bad Verify",
            SkipReason::BadPrivilege => "bad Pri",
            SkipReason::BadName => "bad Name",
            SkipReason::BadPassword => "bad Passwd",
            SkipReason::BadCard => "bad Card",
            SkipReason::BadGroup => "bad Grp",
            SkipReason::BadCommandId => "bad command ID",
            SkipReason::BadReturnCode => "bad Return",
            SkipReason::UnknownLine => "unknown line",
            SkipReason::TooLong => "line too long",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skipped line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number in the body.
    pub line: usize,
    /// Why.
    pub reason: SkipReason,
}

/// The non-blank lines of `body` with their 1-based numbers, CR removed,
/// decoded as UTF-8 (invalid bytes become U+FFFD).
pub fn lines(body: &[u8]) -> impl Iterator<Item = (usize, Cow<'_, str>)> {
    lines_in(body, Encoding::Utf8)
}

/// [`lines`] decoded with the terminal's `encoding` (GBK, Latin-1… names).
/// Splitting on LF and CR before decoding is safe: in these encodings
/// those bytes are never part of a multi-byte character.
pub fn lines_in(body: &[u8], encoding: Encoding) -> impl Iterator<Item = (usize, Cow<'_, str>)> {
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(move |(n, line)| match encoding {
            Encoding::Utf8 => (n, String::from_utf8_lossy(line)),
            other => (n, Cow::Owned(other.decode(line))),
        })
}

/// Longest line of a streamed body; a longer one is skipped
/// ([`SkipReason::TooLong`]) without being held. A user's photo line
/// (`USERPIC`, base64) is tens of KiB.
pub const MAX_LINE: usize = 1024 * 1024;

/// Size from which a chunk of lines is handed on (it ends at the next line
/// end, so a chunk holds at most this plus [`MAX_LINE`]).
pub const CHUNK: usize = 512 * 1024;

/// One chunk of whole lines of a body.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    /// The lines, each ending in LF (but maybe the body's last line); a
    /// line longer than [`MAX_LINE`] is left empty.
    pub bytes: &'a [u8],
    /// Lines of the body before this chunk.
    pub lines_before: usize,
    /// Numbers (1-based, in the body) of the lines left out as too long.
    pub too_long: &'a [usize],
    /// Whether the body ends with this chunk.
    pub last: bool,
}

impl Chunk<'_> {
    /// Renumbers `skipped` (numbered within the chunk, as the parsers do)
    /// in the body and adds the lines left out as too long, in line order.
    pub fn in_body(&self, skipped: &mut Vec<Skipped>) {
        for s in skipped.iter_mut() {
            s.line += self.lines_before;
        }
        skipped.extend(self.too_long.iter().map(|&line| Skipped {
            line,
            reason: SkipReason::TooLong,
        }));
        skipped.sort_by_key(|s| s.line);
    }
}

/// A body read in chunks of whole lines (see [`Chunk`]). An empty body is
/// one empty last chunk.
pub struct LineChunks<R> {
    reader: R,
    buf: Vec<u8>,
    too_long: Vec<usize>,
    lines_before: usize,
    done: bool,
}

impl<R: BufRead> LineChunks<R> {
    /// Chunks of `reader`'s lines.
    pub fn new(reader: R) -> LineChunks<R> {
        LineChunks {
            reader,
            buf: Vec::new(),
            too_long: Vec::new(),
            lines_before: 0,
            done: false,
        }
    }

    /// The next chunk (`None` after the last one); an error is the
    /// reader's (the body could not be read).
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk<'_>>> {
        if self.done {
            return Ok(None);
        }
        self.lines_before += count_lines(&self.buf);
        self.buf.clear();
        self.too_long.clear();
        let mut at_end = false;
        while self.buf.len() < CHUNK {
            if !self.read_line()? {
                at_end = true;
                break;
            }
        }
        // Full: the body may still end here (then this chunk is the last).
        let last = at_end || self.reader.fill_buf()?.is_empty();
        self.done = last;
        Ok(Some(Chunk {
            bytes: &self.buf,
            lines_before: self.lines_before,
            too_long: &self.too_long,
            last,
        }))
    }

    /// Appends one line to the chunk (or, when too long, an empty line in
    /// its place); `false` at the end of the body.
    fn read_line(&mut self) -> io::Result<bool> {
        let start = self.buf.len();
        let limit = MAX_LINE as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(false);
        }
        if self.buf.ends_with(b"\n") {
            return Ok(true);
        }
        if n < limit as usize {
            // The last line, without a final newline.
            return Ok(false);
        }
        self.buf.truncate(start);
        self.buf.push(b'\n');
        self.too_long
            .push(self.lines_before + count_lines(&self.buf));
        let skipped = self.reader.skip_until(b'\n')?;
        Ok(skipped > 0)
    }
}

/// Lines in a chunk: its line ends, plus a last line without one.
fn count_lines(bytes: &[u8]) -> usize {
    let ends = bytes.iter().filter(|b| **b == b'\n').count();
    ends + usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}

/// Longest PIN accepted (ZK PINs are at most 24 characters).
pub const MAX_PIN: usize = 64;

/// Checks a PIN: not empty, not too long, no control characters.
pub fn check_pin(pin: &str) -> Result<(), SkipReason> {
    if pin.is_empty() {
        Err(SkipReason::EmptyPin)
    } else if pin.chars().count() > MAX_PIN || pin.chars().any(crate::fields::is_control) {
        Err(SkipReason::BadPin)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most 7 bytes per read (a body arriving
    /// in small pieces).
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(out.len()).min(7);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Every chunk of `body`: (bytes, lines before, too long, last).
    fn chunks_of(body: &[u8]) -> Vec<(Vec<u8>, usize, Vec<usize>, bool)> {
        let mut chunks = LineChunks::new(io::BufReader::new(Trickle(body)));
        let mut out = Vec::new();
        while let Some(c) = chunks.next_chunk().unwrap() {
            out.push((
                c.bytes.to_vec(),
                c.lines_before,
                c.too_long.to_vec(),
                c.last,
            ));
        }
        out
    }

    #[test]
    fn small_bodies_are_one_last_chunk() {
        assert_eq!(chunks_of(b""), vec![(Vec::new(), 0, vec![], true)]);
        assert_eq!(
            chunks_of(b"a\r\nb\n\nc"),
            vec![(b"a\r\nb\n\nc".to_vec(), 0, vec![], true)]
        );
    }

    #[test]
    fn large_bodies_come_in_chunks_of_whole_lines() {
        let line = format!("{}\n", "x".repeat(99));
        let body = line.repeat(3 * CHUNK / 100 + 5);
        let chunks = chunks_of(body.as_bytes());
        assert!(chunks.len() >= 3, "{}", chunks.len());
        let mut lines = 0;
        for (i, (bytes, before, too_long, last)) in chunks.iter().enumerate() {
            assert!(bytes.len() < CHUNK + 100, "chunk {i}: {}", bytes.len());
            assert!(bytes.ends_with(b"\n"), "chunk {i} ends a line");
            assert_eq!(*before, lines);
            assert!(too_long.is_empty());
            assert_eq!(*last, i == chunks.len() - 1);
            lines += count_lines(bytes);
        }
        let joined: Vec<u8> = chunks.into_iter().flat_map(|c| c.0).collect();
        assert_eq!(joined, body.as_bytes(), "nothing lost or added");
    }

    #[test]
    fn a_body_ending_exactly_with_a_full_chunk_is_last() {
        let line = format!("{}\n", "y".repeat(CHUNK / 4 - 1));
        let chunks = chunks_of(line.repeat(4).as_bytes());
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].3);
    }

    #[test]
    fn overlong_lines_are_left_out_and_numbered() {
        let long = "z".repeat(MAX_LINE + 10);
        let body = format!("a\n{long}\nb\n{long}");
        let chunks = chunks_of(body.as_bytes());
        assert_eq!(chunks, vec![(b"a\n\nb\n\n".to_vec(), 0, vec![2, 4], true)]);
        // Exactly MAX_LINE bytes before the newline is still a line.
        let fits = format!("{}\nc", "w".repeat(MAX_LINE));
        let chunks = chunks_of(fits.as_bytes());
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.0.clone()).collect();
        assert_eq!(joined, fits.as_bytes());
        assert!(chunks.iter().all(|c| c.2.is_empty()));
    }

    #[test]
    fn chunk_numbers_are_the_body_s() {
        let chunk = Chunk {
            bytes: b"",
            lines_before: 100,
            too_long: &[103],
            last: true,
        };
        let mut skipped = vec![
            Skipped {
                line: 1,
                reason: SkipReason::BadTime,
            },
            Skipped {
                line: 5,
                reason: SkipReason::EmptyPin,
            },
        ];
        chunk.in_body(&mut skipped);
        let lines: Vec<(usize, SkipReason)> = skipped.iter().map(|s| (s.line, s.reason)).collect();
        assert_eq!(
            lines,
            [
                (101, SkipReason::BadTime),
                (103, SkipReason::TooLong),
                (105, SkipReason::EmptyPin)
            ]
        );
    }
}
