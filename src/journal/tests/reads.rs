//! Journal reads: times parsed once where rows are read.

use super::{at, now, open, punch, TempDir};
use crate::journal::{JournalError, PunchFilter};

/// A stored time that is not `YYYY-MM-DD HH:MM:SS` (a row edited by hand)
/// is never shown as some other time (0000-00-00 once): the read fails,
/// naming the text, and the row stays in the journal.
#[test]
fn a_stored_time_that_does_not_parse_fails_the_read_naming_it() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.insert_punches("a", &[punch("1", at(1, 8, 0, 0))], now())
        .expect("insert");
    let raw = rusqlite::Connection::open(dir.file("punches.db")).expect("open");
    raw.execute("UPDATE punches SET time = '2026-3-1 8:00'", [])
        .expect("damage");
    drop(raw);
    let check = |e: JournalError| {
        let text = e.to_string();
        assert!(
            text.contains("\"2026-3-1 8:00\"") && text.contains("YYYY-MM-DD HH:MM:SS"),
            "{text}"
        );
    };
    check(
        j.query_punches("a", &PunchFilter::default())
            .expect_err("a time that does not parse"),
    );
    check(j.punches_after("a", 0, 10).expect_err("same in order"));
    check(j.punches_after_all(0, 10).expect_err("same for delivery"));
    // Nothing was dropped: the row is there, counted.
    assert_eq!(j.count_after(Some("a"), 0).expect("count"), 1);
}
