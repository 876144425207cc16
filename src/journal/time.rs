//! Times as the journal stores them: text `YYYY-MM-DD HH:MM:SS`, which
//! sorts like the time itself.

use chrono::{Datelike, NaiveDateTime, Timelike};

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

#[cfg(test)]
mod tests {
    use super::*;

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
                .then(|| t.format("%Y-%m-%d %H:%M:%S").to_string());
            proptest::prop_assert_eq!(format_time(&t), chrono_text);
        }
    }
}
