//! Wall-clock times, the one way zkserver writes, reads and takes them.
//!
//! Terminals, the journal and the API all speak a terminal's local wall
//! clock with no zone: `YYYY-MM-DD HH:MM:SS` ([`WALL_FORMAT`]), which sorts
//! like the time itself. This module owns that format ([`format`],
//! [`format_time`]), its one parser ([`parse`], strict: exactly that shape
//! and a real date), the API's range bounds ([`parse_bound`]), "now" on
//! this machine's clock or in a terminal's UTC offset, and [`WallTime`],
//! the type rows carry once read from the journal.

use std::fmt;

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveDateTime, Timelike};

/// The wall-clock format, as chrono writes it (for `format` calls; the
/// hot paths below write the same text digit by digit).
pub const WALL_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A terminal's (or this machine's) wall-clock time, to the second: what
/// the journal's rows carry. Shown, and serialized, as
/// `YYYY-MM-DD HH:MM:SS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(NaiveDateTime);

impl WallTime {
    /// The wall time `t`, to the second (a leap second stays one).
    pub fn new(t: NaiveDateTime) -> WallTime {
        let whole = if t.nanosecond() >= 1_000_000_000 {
            t.with_nanosecond(1_000_000_000)
        } else {
            t.with_nanosecond(0)
        };
        WallTime(whole.unwrap_or(t))
    }

    /// Parses `YYYY-MM-DD HH:MM:SS` (see [`parse`]).
    pub fn parse(text: &str) -> Option<WallTime> {
        parse(text).map(WallTime)
    }

    /// The time itself, to compute with.
    pub fn naive(&self) -> NaiveDateTime {
        self.0
    }
}

impl From<NaiveDateTime> for WallTime {
    fn from(t: NaiveDateTime) -> WallTime {
        WallTime::new(t)
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(&self.0))
    }
}

impl serde::Serialize for WallTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A stored time that is not `YYYY-MM-DD HH:MM:SS` (a row edited by hand
/// or damaged): the read that meets it fails with this, naming the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAWallTime(pub String);

impl fmt::Display for NotAWallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stored time {:?} is not YYYY-MM-DD HH:MM:SS", self.0)
    }
}

impl std::error::Error for NotAWallTime {}

impl rusqlite::types::FromSql for WallTime {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        WallTime::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(Box::new(NotAWallTime(text.into())))
        })
    }
}

/// `t` as `YYYY-MM-DD HH:MM:SS` (a year outside 0001–9999 as chrono
/// writes it).
pub fn format(t: &NaiveDateTime) -> String {
    format_time(t).unwrap_or_else(|| t.format(WALL_FORMAT).to_string())
}

/// Formats a time as the journal stores it, or `None` when the year does
/// not have four digits (the text would not sort). Written digit by digit:
/// every stored punch goes through here.
pub fn format_time(t: &NaiveDateTime) -> Option<String> {
    let year = u32::try_from(t.year())
        .ok()
        .filter(|y| (1..=9999).contains(y))?;
    // A leap second is shown as second 60, as chrono writes it.
    let second = t.second() + u32::from(t.nanosecond() >= 1_000_000_000);
    let mut text = *b"0000-00-00 00:00:00";
    for (at, width, value) in [
        (0, 4, year),
        (5, 2, t.month()),
        (8, 2, t.day()),
        (11, 2, t.hour()),
        (14, 2, t.minute()),
        (17, 2, second),
    ] {
        put_digits(&mut text[at..at + width], value);
    }
    std::str::from_utf8(&text).ok().map(str::to_string)
}

/// Writes `value`'s last `out.len()` decimal digits into `out`.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS` strictly: exactly that shape (four-digit
/// year, two-digit fields), a real date and time. Second 60 is a leap
/// second, as chrono reads it. The one rule for every time zkserver reads.
pub fn parse(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let time_shape_ok = b.len() == 19
        && b[10] == b' '
        && b[11..].iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !time_shape_ok {
        return None;
    }
    let date = parse_date(&s[..10])?;
    let (hour, minute, second) = (number(&b[11..13]), number(&b[14..16]), number(&b[17..19]));
    match second {
        60 => date.and_hms_nano_opt(hour, minute, 59, 1_000_000_000),
        _ => date.and_hms_opt(hour, minute, second),
    }
}

/// Parses `YYYY-MM-DD` strictly (two-digit month and day, a real date).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let year = i32::try_from(number(&b[..4])).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7]), number(&b[8..10]))
}

/// The value of `digits`, ASCII digits the caller has checked (read
/// directly: chrono's format parser costs more than the rest of a push
/// line).
fn number(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
}

/// A `from`/`to` bound of the API: `YYYY-MM-DD HH:MM:SS` (also with `T`
/// between date and time), or `YYYY-MM-DD` alone: that day's first second,
/// or with `end_of_day` its last.
pub fn parse_bound(text: &str, end_of_day: bool) -> Option<NaiveDateTime> {
    if text.len() == 19 && text.as_bytes().get(10) == Some(&b'T') {
        return parse(&text.replacen('T', " ", 1));
    }
    if let Some(t) = parse(text) {
        return Some(t);
    }
    let day = parse_date(text)?;
    if end_of_day {
        day.and_hms_opt(23, 59, 59)
    } else {
        day.and_hms_opt(0, 0, 0)
    }
}

/// This machine's wall clock now (the journal's receive times, commands'
/// times, a pull terminal's clock).
pub fn now() -> NaiveDateTime {
    chrono::Local::now().naive_local()
}

/// This machine's wall clock now, as `YYYY-MM-DD HH:MM:SS`.
pub fn now_text() -> String {
    format(&now())
}

/// This machine's UTC offset now, in minutes (`-240` for UTC-4).
pub fn server_offset_minutes() -> i32 {
    chrono::Local::now().offset().local_minus_utc() / 60
}

/// The wall clock now of a terminal `minutes` east of UTC; `None` for an
/// offset that is not a real one (beyond ±24 h).
pub fn now_at_offset(minutes: i32) -> Option<NaiveDateTime> {
    at_offset(chrono::Utc::now().naive_utc(), minutes)
}

/// The wall time at `minutes` east of UTC of the UTC time `utc`.
pub fn at_offset(utc: NaiveDateTime, minutes: i32) -> Option<NaiveDateTime> {
    let offset = FixedOffset::east_opt(minutes.checked_mul(60)?)?;
    Some(utc.and_utc().with_timezone(&offset).naive_local())
}

/// A UTC offset in minutes as `+HH:MM` / `-HH:MM`.
pub fn offset_text(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let abs = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", abs / 60, abs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, WALL_FORMAT).unwrap()
    }

    proptest::proptest! {
        /// The same text as chrono's formatting, leap seconds included.
        #[test]
        fn formats_as_chrono_does(secs in -70_000_000_000i64..300_000_000_000, leap: bool) {
            let Some(t) = chrono::DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc()) else {
                return Ok(());
            };
            let t = if leap {
                t.with_nanosecond(1_000_000_000).unwrap_or(t)
            } else {
                t
            };
            let chrono_text = (1..=9999)
                .contains(&t.year())
                .then(|| t.format(WALL_FORMAT).to_string());
            proptest::prop_assert_eq!(format_time(&t), chrono_text.clone());
            proptest::prop_assert_eq!(format(&t), t.format(WALL_FORMAT).to_string());
        }

        /// Times of the strict shape read as chrono reads them (leap
        /// seconds included).
        #[test]
        fn times_parse_as_chrono_does(
            y in 0u32..10000, mo in 0u32..14, d in 0u32..33,
            h in 0u32..26, mi in 0u32..62, s in 0u32..62,
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            let chrono_time = NaiveDateTime::parse_from_str(&text, WALL_FORMAT).ok();
            proptest::prop_assert_eq!(parse(&text), chrono_time, "{}", text);
        }
    }

    #[test]
    fn only_the_one_shape_parses() {
        assert_eq!(parse("2026-03-06 09:15:23"), Some(t("2026-03-06 09:15:23")));
        for bad in [
            "2026-3-6 09:15:23",
            "2026-03-06 9:15:23",
            "2026-03-06T09:15:23",
            " 2026-03-06 09:15:23",
            "2026-03-06 09:15:23 ",
            "+2026-03-06 09:15:23",
            "2026-02-29 00:00:00",
            "2026-03-06 24:00:00",
            "2026-03-06",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_date("2028-02-29"),
            NaiveDate::from_ymd_opt(2028, 2, 29)
        );
        assert_eq!(parse_date("2026-02-29"), None);
        assert_eq!(parse_date("2026-2-28"), None);
    }

    #[test]
    fn bounds_take_a_time_or_a_whole_day() {
        assert_eq!(
            parse_bound("2026-03-06 09:15:23", true),
            Some(t("2026-03-06 09:15:23"))
        );
        assert_eq!(
            parse_bound("2026-03-06T09:15:23", false),
            Some(t("2026-03-06 09:15:23"))
        );
        assert_eq!(
            parse_bound("2026-03-06", false),
            Some(t("2026-03-06 00:00:00"))
        );
        assert_eq!(
            parse_bound("2026-03-06", true),
            Some(t("2026-03-06 23:59:59"))
        );
        assert_eq!(
            parse_bound("2028-02-29", true),
            Some(t("2028-02-29 23:59:59"))
        );
        for bad in ["2026-02-30", "2026-03-06T", "2026-03-06 09:15", "ayer", ""] {
            assert_eq!(parse_bound(bad, false), None, "{bad:?}");
        }
    }

    #[test]
    fn offsets_shift_the_wall_clock() {
        let utc = t("2026-03-06 02:30:00");
        // UTC-4 is the evening before: the day changes at midnight.
        assert_eq!(at_offset(utc, -240), Some(t("2026-03-05 22:30:00")));
        assert_eq!(at_offset(utc, 330), Some(t("2026-03-06 08:00:00")));
        assert_eq!(at_offset(utc, 0), Some(utc));
        // New year crosses with the date.
        assert_eq!(
            at_offset(t("2026-12-31 23:45:00"), 60),
            Some(t("2027-01-01 00:45:00"))
        );
        assert_eq!(at_offset(utc, 24 * 60), None);
        assert_eq!(at_offset(utc, i32::MAX), None);
        assert_eq!(offset_text(-240), "-04:00");
        assert_eq!(offset_text(330), "+05:30");
        assert_eq!(offset_text(0), "+00:00");
        assert_eq!(offset_text(-30), "-00:30");
    }

    #[test]
    fn a_wall_time_shows_and_serializes_as_the_wire_text() {
        let w = WallTime::parse("2026-03-06 09:15:23").unwrap();
        assert_eq!(w.to_string(), "2026-03-06 09:15:23");
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            "\"2026-03-06 09:15:23\""
        );
        assert_eq!(w.naive(), t("2026-03-06 09:15:23"));
        // To the second: a clock's fraction is not kept (it is not shown).
        let fraction = t("2026-03-06 09:15:23")
            .with_nanosecond(999_000_000)
            .unwrap();
        assert_eq!(WallTime::new(fraction), w);
        let leap = t("2026-06-30 23:59:59")
            .with_nanosecond(1_500_000_000)
            .unwrap();
        assert_eq!(WallTime::new(leap).to_string(), "2026-06-30 23:59:60");
        assert!(
            WallTime::parse("2026-03-06 23:59:59").unwrap()
                < WallTime::parse("2026-03-07 00:00:00").unwrap()
        );
    }
}
