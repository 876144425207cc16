//! Splitting bodies into lines (LF or CRLF, a missing final newline and
//! trailing blank lines accepted) and the reasons a line is skipped.

use std::borrow::Cow;
use std::fmt;

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

/// Parses `YYYY-MM-DD HH:MM:SS` strictly (two-digit fields, a real date).
pub fn parse_time(s: &str) -> Option<chrono::NaiveDateTime> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()
}

/// Formats a time as the protocol writes it.
pub fn format_time(t: &chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}
