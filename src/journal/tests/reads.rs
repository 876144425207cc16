//! Journal reads: filters and positions applied in SQL, bounded pages,
//! and times parsed once where rows are read.

use super::{at, now, open, punch, TempDir};
use crate::journal::{JournalError, PunchFilter, StoredPunch};

/// The users and times of a page, in its order.
fn shown(punches: &[StoredPunch]) -> Vec<(String, String)> {
    punches
        .iter()
        .map(|p| (p.user_id.clone(), p.time.to_string()))
        .collect()
}

fn pair(user: &str, time: &str) -> (String, String) {
    (user.to_string(), time.to_string())
}

/// Three batches of device `a` (positions 1–3, 4–6, 7–9) and one of `b`.
fn journal_with_batches(dir: &TempDir) -> crate::journal::Journal {
    let j = open(dir);
    for (day, users) in [
        (1, ["1", "2", "1"]),
        (2, ["2", "1", "2"]),
        (3, ["1", "1", "2"]),
    ] {
        let batch: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, u)| punch(u, at(day, 8 + i as u32, 0, 0)))
            .collect();
        j.insert_punches("a", &batch, now()).expect("insert");
    }
    j.insert_punches("b", &[punch("1", at(2, 12, 0, 0))], now())
        .expect("insert");
    j
}

#[test]
fn positions_select_what_was_stored_between_them() {
    let dir = TempDir::new();
    let j = journal_with_batches(&dir);
    let between = PunchFilter {
        after: Some(3),
        through: Some(6),
        ..PunchFilter::default()
    };
    let page = j.query_punches("a", &between).expect("query");
    assert_eq!(page.total, 3);
    assert!(page.punches.iter().all(|p| (4..=6).contains(&p.seq)));
    assert_eq!(
        shown(&page.punches),
        [
            pair("2", "2026-03-02 10:00:00"),
            pair("1", "2026-03-02 09:00:00"),
            pair("2", "2026-03-02 08:00:00"),
        ]
    );
    // `b`'s punch (position 10) is never `a`'s, whatever the positions.
    let after_all = PunchFilter {
        after: Some(0),
        ..PunchFilter::default()
    };
    assert_eq!(j.query_punches("a", &after_all).expect("query").total, 9);
    let through_only = PunchFilter {
        through: Some(2),
        ..PunchFilter::default()
    };
    assert_eq!(j.query_punches("a", &through_only).expect("query").total, 2);
}

#[test]
fn user_and_time_filters_combine_with_positions_in_sql() {
    let dir = TempDir::new();
    let j = journal_with_batches(&dir);
    let filter = PunchFilter {
        user_id: Some("1".into()),
        from: Some(at(2, 0, 0, 0)),
        to: Some(at(3, 8, 30, 0)),
        after: Some(2),
        through: Some(9),
        ..PunchFilter::default()
    };
    let page = j.query_punches("a", &filter).expect("query");
    assert_eq!(page.total, 2);
    assert_eq!(
        shown(&page.punches),
        [
            pair("1", "2026-03-03 08:00:00"),
            pair("1", "2026-03-02 09:00:00"),
        ]
    );
    // An empty range matches nothing (and counts nothing).
    let empty = PunchFilter {
        from: Some(at(3, 0, 0, 0)),
        after: Some(6),
        through: Some(6),
        ..PunchFilter::default()
    };
    let page = j.query_punches("a", &empty).expect("query");
    assert_eq!((page.total, page.punches.len()), (0, 0));
}

#[test]
fn a_page_after_a_position_holds_at_most_its_limit() {
    let dir = TempDir::new();
    let j = journal_with_batches(&dir);
    let all_after = PunchFilter {
        after: Some(1),
        through: Some(9),
        ..PunchFilter::default()
    };
    let all = j.query_punches("a", &all_after).expect("query");
    assert_eq!((all.total, all.punches.len()), (8, 8));
    let page = PunchFilter {
        offset: 2,
        limit: Some(3),
        ..all_after.clone()
    };
    let page = j.query_punches("a", &page).expect("query");
    // The total counts every match; the page holds only its rows, the
    // same ones as that slice of the whole, newest first.
    assert_eq!((page.total, page.punches.len()), (8, 3));
    assert_eq!(page.punches, all.punches[2..5]);
    let last = PunchFilter {
        offset: 7,
        limit: Some(3),
        ..all_after
    };
    let last = j.query_punches("a", &last).expect("query");
    assert_eq!((last.total, last.punches.len()), (8, 1));
    assert_eq!(shown(&last.punches), [pair("2", "2026-03-01 09:00:00")]);
}

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

/// Punches of `a` and `b` on 1–3 March, two users, one renamed device.
fn journal_for_a_period(dir: &TempDir) -> crate::journal::Journal {
    let j = open(dir);
    let a = [
        punch("1", at(1, 22, 0, 0)),
        punch("1", at(2, 5, 59, 59)),
        punch("1", at(2, 6, 0, 0)),
        punch("2", at(2, 14, 0, 0)),
        punch("1", at(3, 6, 0, 0)),
    ];
    j.insert_punches("a", &a, now()).expect("insert");
    let b = [punch("2", at(2, 14, 0, 0)), punch("1", at(3, 5, 0, 0))];
    j.insert_punches("b", &b, now()).expect("insert");
    j
}

#[test]
fn a_period_holds_every_devices_punches_from_its_start_to_before_its_end() {
    let dir = TempDir::new();
    let j = journal_for_a_period(&dir);
    // Workday 2 March with the day starting at 06:00: [2nd 06:00, 3rd 06:00),
    // device by device, each newest first (its index's order).
    let rows = j
        .punches_between(at(2, 6, 0, 0), at(3, 6, 0, 0), None, 100)
        .expect("period");
    let shown: Vec<(&str, &str, String)> = rows
        .iter()
        .map(|p| (p.device.as_str(), p.user_id.as_str(), p.time.to_string()))
        .collect();
    assert_eq!(
        shown,
        [
            ("a", "2", "2026-03-02 14:00:00".to_string()),
            ("a", "1", "2026-03-02 06:00:00".to_string()),
            ("b", "1", "2026-03-03 05:00:00".to_string()),
            ("b", "2", "2026-03-02 14:00:00".to_string()),
        ]
    );
    // One user's (device by device, oldest first), and a bound: the
    // first rows of the first device.
    let of_user = j
        .punches_between(at(2, 6, 0, 0), at(3, 6, 0, 0), Some("1"), 100)
        .expect("period");
    assert_eq!(
        shown_times(&of_user),
        ["2026-03-02 06:00:00", "2026-03-03 05:00:00"]
    );
    let page = j
        .punches_between(at(1, 0, 0, 0), at(4, 0, 0, 0), None, 2)
        .expect("period");
    assert_eq!(
        shown_times(&page),
        ["2026-03-03 06:00:00", "2026-03-02 14:00:00"]
    );
    let empty = j
        .punches_between(at(4, 0, 0, 0), at(5, 0, 0, 0), None, 100)
        .expect("period");
    assert!(empty.is_empty());
}

#[test]
fn a_period_beyond_four_digit_years_is_refused() {
    let dir = TempDir::new();
    let j = open(&dir);
    let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("time");
    let refused = j.punches_between(at(1, 0, 0, 0), far, None, 10);
    assert!(
        matches!(refused, Err(JournalError::InvalidTime { .. })),
        "{refused:?}"
    );
}

fn shown_times(punches: &[StoredPunch]) -> Vec<String> {
    punches.iter().map(|p| p.time.to_string()).collect()
}
