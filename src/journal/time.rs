//! Times as the journal stores them: text `YYYY-MM-DD HH:MM:SS`, which
//! sorts like the time itself.

use chrono::{Datelike, NaiveDateTime};

/// Formats a time as the journal stores it, or `None` when the year does
/// not have four digits (the text would not sort).
pub fn format_time(t: &NaiveDateTime) -> Option<String> {
    (1..=9999)
        .contains(&t.year())
        .then(|| t.format("%Y-%m-%d %H:%M:%S").to_string())
}
