//! Unit tests of the journal against real files in a temporary directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::*;

mod people;
mod reads;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "zkserver-journal-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn at(day: u32, h: u32, m: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, day)
        .and_then(|d| d.and_hms_opt(h, m, s))
        .expect("valid test time")
}

fn now() -> NaiveDateTime {
    at(31, 12, 0, 0)
}

fn punch(user: &str, time: NaiveDateTime) -> NewPunch {
    NewPunch {
        user_id: user.to_string(),
        time,
        status: 1,
        punch: 0,
        workcode: None,
    }
}

fn open(dir: &TempDir) -> Journal {
    Journal::open(dir.file("punches.db")).expect("open journal")
}

// --- opening, schema, foreign and corrupt files --------------------------------

#[test]
fn new_journal_is_wal_full_sync_and_current_version() {
    let dir = TempDir::new();
    let j = open(&dir);
    let conn = j.writer.lock();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .expect("synchronous");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .expect("application_id");
    let net: i64 = conn
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .expect("wal_autocheckpoint");
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(
        net,
        schema::SAFETY_NET_PAGES,
        "the checkpoint thread does the rest"
    );
    assert_eq!(version, CURRENT_VERSION);
    assert_eq!(app, APPLICATION_ID);
}

#[test]
fn the_log_is_checkpointed_into_the_file_without_a_commit_waiting_for_it() {
    let dir = TempDir::new();
    let path = dir.file("punches.db");
    let j = open(&dir);
    let before = std::fs::metadata(&path).expect("file").len();
    // 20 000 punches: some hundreds of log pages, far fewer than those at
    // which a commit checkpoints by itself: only the checkpoint thread
    // copies them into the file.
    let punches: Vec<NewPunch> = (0..20_000)
        .map(|i| punch(&format!("{i:06}"), at(1, 8, 0, 0) + Duration::seconds(i)))
        .collect();
    j.insert_punches("a", &punches, now()).expect("insert");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now_len = std::fs::metadata(&path).expect("file").len();
        if now_len > before + 500_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the file stayed {now_len} bytes (was {before}): no checkpoint ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(j);
    let j = open(&dir);
    assert_eq!(j.count_punches("a").expect("count"), 20_000);
}

#[test]
fn reopening_keeps_punches_and_positions() {
    let dir = TempDir::new();
    let first = {
        let j = open(&dir);
        j.insert_punches("a", &[punch("1", at(1, 8, 0, 0))], now())
            .expect("insert")
    };
    let j = open(&dir);
    assert_eq!(j.newest_seq("a").expect("newest"), first.last_seq);
    let again = j
        .insert_punches(
            "a",
            &[punch("1", at(1, 8, 0, 0)), punch("2", at(1, 8, 0, 0))],
            now(),
        )
        .expect("insert");
    assert_eq!((again.stored, again.duplicates), (1, 1));
    assert!(again.last_seq > first.last_seq);
}

#[test]
fn journals_opened_at_once_by_several_processes_are_created_once() {
    // Two zkservers (systemd's and one by hand) opening a new journal at the
    // same moment: creation and migration are one transaction, so neither
    // fails with "table devices already exists".
    for _ in 0..10 {
        let dir = TempDir::new();
        let path = dir.file("punches.db");
        let start = Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Journal::open(&path).map(|j| j.id().to_string())
                })
            })
            .collect();
        let ids: Vec<String> = openers
            .into_iter()
            .map(|t| match t.join().expect("no panic") {
                Ok(id) => id,
                Err(e) => panic!("a concurrent open failed: {e}"),
            })
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "one identity: {ids:?}");
    }
}

#[test]
fn an_empty_file_becomes_a_journal() {
    let dir = TempDir::new();
    std::fs::write(dir.file("punches.db"), b"").expect("write");
    let j = open(&dir);
    assert_eq!(j.count_punches("a").expect("count"), 0);
}

/// Opening `bytes` as a journal fails with an error naming the file, and the
/// file keeps exactly its bytes.
fn assert_refused(bytes: &[u8]) -> JournalError {
    let dir = TempDir::new();
    let path = dir.file("punches.db");
    std::fs::write(&path, bytes).expect("write");
    let err = Journal::open(&path).expect_err("must refuse");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "error names the file: {err}"
    );
    assert!(
        std::fs::read(&path).expect("read") == bytes,
        "file untouched"
    );
    err
}

#[test]
fn garbage_bytes_are_refused_and_left_untouched() {
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    let err = assert_refused(&garbage);
    assert!(matches!(err, JournalError::NotADatabase { .. }), "{err}");
    let err = assert_refused(b"hello\n");
    assert!(matches!(err, JournalError::NotADatabase { .. }), "{err}");
}

#[test]
fn a_damaged_database_behind_a_valid_header_is_refused_and_left_untouched() {
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend((0..4080u32).map(|i| (i * 31 % 256) as u8));
    let err = assert_refused(&bytes);
    assert!(
        matches!(
            err,
            JournalError::NotADatabase { .. } | JournalError::Sqlite { .. }
        ),
        "{err}"
    );
}

/// Bytes of an SQLite database made by `sql` (in rollback-journal mode).
fn database_bytes(sql: &str) -> Vec<u8> {
    let dir = TempDir::new();
    let path = dir.file("other.db");
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch(sql).expect("sql");
    drop(conn);
    std::fs::read(&path).expect("read")
}

#[test]
fn another_applications_database_is_refused_and_left_untouched() {
    let bytes = database_bytes(
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);
         INSERT INTO invoices (total) VALUES (12.5);",
    );
    let err = assert_refused(&bytes);
    match err {
        JournalError::Foreign { tables, .. } => assert_eq!(tables, vec!["invoices".to_string()]),
        other => panic!("expected Foreign, got {other}"),
    }
    // Another application's marks without tables are foreign too.
    let err = assert_refused(&database_bytes(
        "PRAGMA user_version = 3; CREATE TABLE t (x); DROP TABLE t;",
    ));
    assert!(matches!(err, JournalError::Foreign { .. }), "{err}");
}

#[test]
fn another_applications_wal_database_with_a_live_wal_is_left_untouched() {
    let src = TempDir::new();
    let other = src.file("other.db");
    let conn = Connection::open(&other).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE orders (id INTEGER PRIMARY KEY); INSERT INTO orders DEFAULT VALUES;",
    )
    .expect("sql");
    // Copy the file and its WAL while the other application still has it open.
    let dir = TempDir::new();
    let path = dir.file("punches.db");
    std::fs::copy(&other, &path).expect("copy db");
    std::fs::copy(src.file("other.db-wal"), dir.file("punches.db-wal")).expect("copy wal");
    drop(conn);
    let before = std::fs::read(&path).expect("read");
    let wal_before = std::fs::read(dir.file("punches.db-wal")).expect("read wal");
    let err = Journal::open(&path).expect_err("must refuse");
    assert!(matches!(err, JournalError::Foreign { .. }), "{err}");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "file untouched"
    );
    assert_eq!(
        std::fs::read(dir.file("punches.db-wal")).expect("read wal"),
        wal_before,
        "its WAL untouched"
    );
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let bytes = database_bytes(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};
         CREATE TABLE future (x);",
        CURRENT_VERSION + 1
    ));
    let err = assert_refused(&bytes);
    assert!(
        matches!(err, JournalError::NewerVersion { found, .. } if found == CURRENT_VERSION + 1),
        "{err}"
    );
}

#[test]
fn a_marked_journal_at_version_zero_is_migrated() {
    let dir = TempDir::new();
    let path = dir.file("punches.db");
    std::fs::write(
        &path,
        database_bytes(&format!("PRAGMA application_id = {APPLICATION_ID};")),
    )
    .expect("write");
    let j = Journal::open(&path).expect("migrates");
    j.insert_punches("a", &[punch("1", at(1, 8, 0, 0))], now())
        .expect("insert");
}

// --- punches ----------------------------------------------------------------------

#[test]
fn a_batch_is_stored_once_and_duplicates_are_counted() {
    let dir = TempDir::new();
    let j = open(&dir);
    let batch = vec![
        punch("1", at(1, 8, 0, 0)),
        punch("2", at(1, 8, 0, 0)),
        punch("1", at(1, 8, 0, 0)), // repeated inside the batch
    ];
    let first = j.insert_punches("a", &batch, now()).expect("insert");
    assert_eq!((first.stored, first.duplicates), (2, 1));
    let again = j.insert_punches("a", &batch, now()).expect("insert");
    assert_eq!(
        (again.stored, again.duplicates, again.last_seq),
        (0, 3, None)
    );
    // The same punch on another device is another punch.
    let other = j.insert_punches("b", &batch[..1], now()).expect("insert");
    assert_eq!(other.stored, 1);
    assert_eq!(j.count_punches("a").expect("count"), 2);
}

#[test]
fn one_hundred_thousand_punches_in_batches_are_stored_exactly_once() {
    let dir = TempDir::new();
    let j = open(&dir);
    let start = at(1, 0, 0, 0);
    let all: Vec<NewPunch> = (0..100_000i64)
        .map(|i| punch(&(i % 50).to_string(), start + Duration::seconds(i)))
        .collect();
    let mut stored = 0;
    for batch in all.chunks(10_000) {
        stored += j.insert_punches("a", batch, now()).expect("insert").stored;
    }
    assert_eq!(stored, 100_000);
    // A re-sent batch (and an overlapping one) stores nothing new.
    let again = j
        .insert_punches("a", &all[40_000..50_000], now())
        .expect("again");
    assert_eq!((again.stored, again.duplicates), (0, 10_000));
    let overlap = j
        .insert_punches("a", &all[95_000..], now())
        .expect("overlap");
    assert_eq!(overlap.stored, 0);
    assert_eq!(j.count_punches("a").expect("count"), 100_000);
    // The kept count agrees with a counted total.
    let counted = PunchFilter {
        from: Some(at(1, 0, 0, 0)),
        ..PunchFilter::default()
    };
    assert_eq!(
        j.query_punches("a", &counted).expect("query").total,
        100_000
    );
    let page = j
        .query_punches("a", &PunchFilter::default())
        .expect("query");
    assert_eq!(page.total, 100_000);
    let mut seqs: Vec<i64> = page.punches.iter().map(|p| p.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 100_000);
}

#[test]
fn pages_are_newest_first_with_ties_in_arrival_order() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.insert_punches(
        "a",
        &[punch("9", at(2, 9, 0, 0)), punch("1", at(1, 8, 0, 0))],
        now(),
    )
    .expect("insert");
    j.insert_punches(
        "a",
        &[punch("3", at(2, 9, 0, 0)), punch("2", at(3, 7, 0, 0))],
        now(),
    )
    .expect("insert");
    let page = j
        .query_punches("a", &PunchFilter::default())
        .expect("query");
    let order: Vec<&str> = page.punches.iter().map(|p| p.user_id.as_str()).collect();
    assert_eq!(order, ["2", "9", "3", "1"]);
    assert_eq!(page.punches[0].time.to_string(), "2026-03-03 07:00:00");
    assert_eq!(
        page.punches[0].received_at.to_string(),
        "2026-03-31 12:00:00"
    );
}

#[test]
fn filters_and_paging() {
    let dir = TempDir::new();
    let j = open(&dir);
    let mut batch = Vec::new();
    for day in 1..=5 {
        for user in ["1", "2"] {
            batch.push(punch(user, at(day, 8, 0, 0)));
            batch.push(punch(user, at(day, 17, 0, 0)));
        }
    }
    j.insert_punches("a", &batch, now()).expect("insert");
    j.insert_punches("b", &batch, now()).expect("insert");
    let day2 = PunchFilter {
        from: Some(at(2, 0, 0, 0)),
        to: Some(at(2, 23, 59, 59)),
        ..PunchFilter::default()
    };
    let page = j.query_punches("a", &day2).expect("query");
    assert_eq!(page.total, 4);
    assert!(page
        .punches
        .iter()
        .all(|p| p.time.to_string().starts_with("2026-03-02") && p.device == "a"));
    let user2 = PunchFilter {
        user_id: Some("2".into()),
        from: Some(at(2, 17, 0, 0)),
        ..PunchFilter::default()
    };
    let page = j.query_punches("a", &user2).expect("query");
    assert_eq!(page.total, 7);
    assert!(page.punches.iter().all(|p| p.user_id == "2"));
    let paged = PunchFilter {
        offset: 3,
        limit: Some(4),
        ..PunchFilter::default()
    };
    let page = j.query_punches("a", &paged).expect("query");
    assert_eq!((page.total, page.punches.len()), (20, 4));
    let all = j
        .query_punches("a", &PunchFilter::default())
        .expect("query");
    assert_eq!(page.punches, all.punches[3..7]);
    let beyond = PunchFilter {
        offset: 100,
        ..PunchFilter::default()
    };
    assert!(j
        .query_punches("a", &beyond)
        .expect("query")
        .punches
        .is_empty());
    assert_eq!(
        j.query_punches("zz", &PunchFilter::default())
            .expect("q")
            .total,
        0
    );
}

#[test]
fn after_a_position_reads_in_journal_order() {
    let dir = TempDir::new();
    let j = open(&dir);
    assert_eq!(j.newest_seq("a").expect("newest"), None);
    assert_eq!(j.newest_seq_all().expect("newest"), None);
    let first = j
        .insert_punches(
            "a",
            &[punch("1", at(5, 8, 0, 0)), punch("2", at(1, 8, 0, 0))],
            now(),
        )
        .expect("insert");
    j.insert_punches("b", &[punch("1", at(1, 8, 0, 0))], now())
        .expect("insert");
    let pos = first.last_seq.expect("stored");
    let second = j
        .insert_punches("a", &[punch("3", at(2, 8, 0, 0))], now())
        .expect("insert");
    let after = j.punches_after("a", pos, 100).expect("after");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].user_id, "3");
    assert_eq!(Some(after[0].seq), second.last_seq);
    let from_start = j.punches_after("a", 0, 100).expect("after");
    let users: Vec<&str> = from_start.iter().map(|p| p.user_id.as_str()).collect();
    assert_eq!(users, ["1", "2", "3"]);
    assert_eq!(j.punches_after("a", 0, 2).expect("after").len(), 2);
    assert_eq!(j.newest_seq("a").expect("newest"), second.last_seq);
    assert_eq!(j.newest_seq_all().expect("newest"), second.last_seq);
}

#[test]
fn workcodes_and_status_bytes_round_trip() {
    let dir = TempDir::new();
    let j = open(&dir);
    let p = NewPunch {
        user_id: "20156107".into(),
        time: at(2, 23, 10, 5),
        status: 15,
        punch: 255,
        workcode: Some("7".into()),
    };
    j.insert_punches("a", std::slice::from_ref(&p), now())
        .expect("insert");
    let got = &j
        .query_punches("a", &PunchFilter::default())
        .expect("q")
        .punches[0];
    assert_eq!(
        (got.status, got.punch, got.workcode.as_deref()),
        (15, 255, Some("7"))
    );
}

#[test]
fn a_time_that_cannot_be_stored_refuses_the_whole_batch() {
    let dir = TempDir::new();
    let j = open(&dir);
    let far = NaiveDate::from_ymd_opt(12026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    let err = j
        .insert_punches("a", &[punch("1", at(1, 8, 0, 0)), punch("2", far)], now())
        .expect_err("refused");
    assert!(matches!(err, JournalError::InvalidTime { .. }), "{err}");
    assert_eq!(j.count_punches("a").expect("count"), 0);
}

#[test]
fn a_stamp_commits_with_its_batch() {
    let dir = TempDir::new();
    let j = open(&dir);
    assert_eq!(j.stamp("a", StampTable::AttLog).expect("stamp"), None);
    j.insert_batch(
        "a",
        &[punch("1", at(1, 8, 0, 0))],
        now(),
        Some((StampTable::AttLog, "9999")),
    )
    .expect("insert");
    j.set_stamp("a", StampTable::OperLog, "12").expect("set");
    j.set_stamp("a", StampTable::OperLog, "13").expect("set");
    assert_eq!(
        j.stamp("a", StampTable::AttLog).expect("s").as_deref(),
        Some("9999")
    );
    assert_eq!(
        j.stamp("a", StampTable::OperLog).expect("s").as_deref(),
        Some("13")
    );
    assert_eq!(j.stamp("b", StampTable::AttLog).expect("s"), None);
}

// --- concurrency ------------------------------------------------------------------

#[test]
fn a_reader_is_not_blocked_by_an_open_write() {
    let dir = TempDir::new();
    let j = Arc::new(open(&dir));
    j.insert_punches("a", &[punch("1", at(1, 8, 0, 0))], now())
        .expect("insert");
    // Hold an uncommitted write transaction on the writer connection.
    let mut writer = j.writer.lock();
    let tx = writer.transaction().expect("begin");
    tx.execute_batch(
        "INSERT INTO punches (device, user_id, time, status, punch, received_at)
         VALUES ((SELECT id FROM devices WHERE name = 'a'), '2', '2026-03-01 09:00:00', 1, 0,
                 '2026-03-31 12:00:00');
         UPDATE devices SET punches = punches + 1 WHERE name = 'a';",
    )
    .expect("uncommitted insert");
    let reader = Arc::clone(&j);
    let (send, recv) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(
            reader
                .query_punches("a", &PunchFilter::default())
                .map(|p| p.total),
        );
    });
    // A generous limit: a blocked reader would wait on the writer forever
    // (the writer is held until after this check).
    let total = recv
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("reader answered while the write was open")
        .expect("query");
    assert_eq!(
        total, 1,
        "the reader sees the last commit, not the open write"
    );
    tx.commit().expect("commit");
    drop(writer);
    assert_eq!(j.count_punches("a").expect("count"), 2);
}

#[test]
fn readers_run_while_batches_are_ingested() {
    let dir = TempDir::new();
    let j = Arc::new(open(&dir));
    let writer = {
        let j = Arc::clone(&j);
        std::thread::spawn(move || {
            for b in 0..20i64 {
                let batch: Vec<NewPunch> = (0..500)
                    .map(|i| punch("1", at(1, 0, 0, 0) + Duration::seconds(b * 500 + i)))
                    .collect();
                j.insert_punches("a", &batch, now()).expect("insert");
            }
        })
    };
    let mut last = 0;
    while !writer.is_finished() {
        let n = j.count_punches("a").expect("count");
        assert!(
            n >= last && n.is_multiple_of(500),
            "whole batches only: {n}"
        );
        last = n;
    }
    writer.join().expect("writer");
    assert_eq!(j.count_punches("a").expect("count"), 10_000);
}

// --- users ------------------------------------------------------------------------

fn user(pin: &str, name: &str) -> JournalUser {
    JournalUser {
        user_id: pin.into(),
        name: name.into(),
        ..JournalUser::default()
    }
}

#[test]
fn users_are_upserted_listed_and_deleted() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.upsert_users("a", &[user("10", "Ana"), user("9", "Luis")], now())
        .expect("upsert");
    let mut pedro = user("10", "Pedro");
    pedro.privilege = 14;
    pedro.card = "123".into();
    pedro.password = Some("1".into());
    j.upsert_users("a", std::slice::from_ref(&pedro), now())
        .expect("upsert");
    j.upsert_users("b", &[user("1", "Otro")], now())
        .expect("upsert");
    let list = j.list_users("a").expect("list");
    assert_eq!(list, vec![user("9", "Luis"), pedro.clone()]);
    assert_eq!(j.get_user("a", "10").expect("get"), Some(pedro));
    assert!(j.delete_user("a", "9").expect("delete"));
    assert!(!j.delete_user("a", "9").expect("delete"));
    assert_eq!(j.list_users("a").expect("list").len(), 1);
    assert_eq!(j.list_users("b").expect("list").len(), 1);
}

// --- pending serials --------------------------------------------------------------

fn sighting(sn: &str, ip: &str, seen_at: NaiveDateTime) -> PendingSighting {
    PendingSighting {
        sn: sn.into(),
        ip: ip.into(),
        user_agent: "iClock Proxy/1.09".into(),
        pushver: "2.4.1".into(),
        seen_at,
    }
}

#[test]
fn pending_serials_are_recorded_and_adopted_without_duplicates() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.record_pending(&sighting("AB1", "10.0.0.5", at(1, 8, 0, 0)))
        .expect("record");
    j.record_pending(&sighting("AB1", "10.0.0.6", at(1, 9, 0, 0)))
        .expect("record");
    j.record_pending(&sighting("ZZ9", "10.0.0.7", at(2, 8, 0, 0)))
        .expect("record");
    let batch = [punch("1", at(1, 8, 0, 0)), punch("2", at(1, 8, 5, 0))];
    // An upload is a contact too; these came before the last one.
    let first = j
        .insert_pending_punches("AB1", &batch, at(1, 8, 30, 0))
        .expect("pending");
    let again = j
        .insert_pending_punches("AB1", &batch, at(1, 8, 31, 0))
        .expect("pending");
    assert_eq!((first.stored, again.stored, again.duplicates), (2, 0, 2));
    let list = j.list_pending().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].sn.as_str(), list[0].ip.as_str(), list[0].punches),
        ("AB1", "10.0.0.6", 2)
    );
    assert_eq!(
        (
            list[0].first_seen.to_string().as_str(),
            list[0].last_seen.to_string().as_str(),
        ),
        ("2026-03-01 08:00:00", "2026-03-01 09:00:00")
    );
    assert_eq!(j.pending_totals().expect("totals"), (2, 2));
    // The device already has one of them (e.g. sent again after registration).
    j.insert_punches("recepcion", &batch[..1], now())
        .expect("insert");
    let adopted = j.adopt_pending("AB1", "recepcion").expect("adopt").punches;
    assert_eq!((adopted.stored, adopted.duplicates), (1, 1));
    assert_eq!(adopted.last_seq, j.newest_seq("recepcion").expect("newest"));
    assert_eq!(j.count_punches("recepcion").expect("count"), 2);
    let all = j
        .query_punches("recepcion", &PunchFilter::default())
        .expect("query");
    assert_eq!((all.total, all.punches.len()), (2, 2));
    let list = j.list_pending().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].sn, "ZZ9");
    assert_eq!(j.pending_totals().expect("totals"), (1, 0));
    // Adopting an unknown serial stores nothing.
    let none = j.adopt_pending("NOPE", "recepcion").expect("adopt");
    assert_eq!(none, Adoption::default());
}

#[test]
fn users_a_pending_serial_uploaded_are_adopted_with_its_punches() {
    let dir = TempDir::new();
    let j = open(&dir);
    let user = |pin: &str, name: &str| JournalUser {
        user_id: pin.into(),
        name: name.into(),
        card: String::new(),
        ..JournalUser::default()
    };
    j.insert_pending_users(
        "SUC1",
        &[user("5", "Ana"), user("6", "Luis")],
        at(1, 8, 0, 0),
    )
    .expect("pending users");
    j.insert_pending_users("SUC1", &[user("6", "Luis Pérez")], at(1, 8, 1, 0))
        .expect("pending users");
    let list = j.list_pending().expect("list");
    assert_eq!((list[0].sn.as_str(), list[0].users), ("SUC1", 2));
    assert_eq!(j.pending_users_total().expect("total"), 2);
    // The device's copy already knows 5 by a newer name: it keeps it.
    j.upsert_users("sucursal", &[user("5", "Ana María")], at(2, 8, 0, 0))
        .expect("users");
    let adopted = j.adopt_pending("SUC1", "sucursal").expect("adopt");
    assert_eq!(adopted.users, 1);
    let names: Vec<String> = j
        .list_users("sucursal")
        .expect("users")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["Ana María", "Luis Pérez"]);
    assert!(j.list_pending().expect("list").is_empty());
    assert_eq!(j.pending_users_total().expect("total"), 0);
}

#[test]
fn pending_serials_can_be_removed_and_those_holding_nothing_expire_or_make_room() {
    let dir = TempDir::new();
    let j = open(&dir);
    for (sn, day) in [("HELLO1", 1), ("HELLO2", 2), ("DATA1", 1), ("USERS1", 1)] {
        j.record_pending(&sighting(sn, "10.0.0.5", at(day, 8, 0, 0)))
            .expect("record");
    }
    j.insert_pending_punches("DATA1", &[punch("1", at(1, 8, 0, 0))], at(1, 8, 0, 0))
        .expect("punches");
    let pin = JournalUser {
        user_id: "1".into(),
        ..JournalUser::default()
    };
    j.insert_pending_users("USERS1", &[pin], at(1, 8, 0, 0))
        .expect("users");
    // Room is made by the serial that holds nothing, seen longest ago.
    assert_eq!(
        j.evict_idle_pending().expect("evict").as_deref(),
        Some("HELLO1")
    );
    // Idle and holding nothing: expired; holding punches or users: kept.
    assert_eq!(
        j.expire_pending(at(3, 0, 0, 0)).expect("expire"),
        ["HELLO2"]
    );
    assert_eq!(j.evict_idle_pending().expect("evict"), None);
    let left: Vec<String> = j
        .list_pending()
        .expect("list")
        .into_iter()
        .map(|p| p.sn)
        .collect();
    assert_eq!(left, ["DATA1", "USERS1"]);
    // Removing one discards its data; a serial that is not pending: None.
    assert_eq!(
        j.remove_pending("DATA1").expect("remove"),
        Some(RemovedPending {
            punches: 1,
            users: 0
        })
    );
    assert_eq!(j.remove_pending("DATA1").expect("remove"), None);
    assert_eq!(j.pending_totals().expect("totals"), (1, 0));
    // Data uploaded after its serial was removed still has a serial.
    j.insert_pending_punches("DATA1", &[punch("2", at(4, 8, 0, 0))], at(4, 8, 0, 0))
        .expect("punches");
    let back = j.list_pending().expect("list");
    assert!(
        back.iter().any(|p| p.sn == "DATA1" && p.punches == 1),
        "{back:?}"
    );
}

#[test]
fn last_contacts_are_kept_with_uploads_and_saves() {
    let dir = TempDir::new();
    {
        let j = open(&dir);
        assert_eq!(j.last_contact("SN1").expect("read"), None);
        j.insert_upload(
            "rec",
            &[punch("1", at(1, 8, 0, 0))],
            at(1, 8, 0, 5),
            None,
            Some(("SN1", "10.0.0.9")),
        )
        .expect("upload");
        j.save_contacts(&[("SN1".into(), "10.0.0.8".into(), at(1, 7, 0, 0))])
            .expect("save an older one");
    }
    let j = open(&dir);
    let c = j.last_contact("SN1").expect("read").expect("kept");
    assert_eq!(
        (c.ip.as_str(), c.last_seen.to_string().as_str()),
        ("10.0.0.9", "2026-03-01 08:00:05")
    );
    j.save_contacts(&[("SN1".into(), "10.0.0.7".into(), at(1, 9, 0, 0))])
        .expect("save");
    let c = j.last_contact("SN1").expect("read").expect("kept");
    assert_eq!(
        (c.ip.as_str(), c.last_seen.to_string().as_str()),
        ("10.0.0.7", "2026-03-01 09:00:00")
    );
}

// --- commands ---------------------------------------------------------------------

#[test]
#[allow(clippy::too_many_lines)] // one flow, step by step
fn commands_flow_in_order_and_survive_reopening() {
    let dir = TempDir::new();
    let (c1, c2) = {
        let j = open(&dir);
        let c1 = j
            .enqueue_command("a", "CHECK", at(1, 8, 0, 0))
            .expect("enqueue");
        let c2 = j
            .enqueue_command("a", "DATA DELETE USERINFO PIN=5", at(1, 8, 0, 1))
            .expect("enqueue");
        j.enqueue_command("b", "CHECK", at(1, 8, 0, 2))
            .expect("enqueue");
        (c1, c2)
    };
    assert_eq!(c1.status, CommandStatus::Pending);
    assert_eq!(c1.created_at.to_string(), "2026-03-01 08:00:00");
    assert!(c2.id > c1.id);
    let j = open(&dir);
    let next = j.next_commands("a", 10).expect("next");
    assert_eq!(
        next.iter().map(|c| c.id).collect::<Vec<_>>(),
        [c1.id, c2.id]
    );
    assert_eq!(j.next_commands("a", 1).expect("next").len(), 1);
    // A result for a command never sent changes nothing.
    assert!(matches!(
        j.mark_result("a", c1.id, 0, at(1, 8, 0, 30)).expect("result"),
        MarkOutcome::NotSent(c) if c.status == CommandStatus::Pending
    ));
    assert_eq!(
        j.mark_sent("a", &[c1.id, c2.id], at(1, 8, 1, 0))
            .expect("sent"),
        2
    );
    assert!(j.next_commands("a", 10).expect("next").is_empty());
    match j
        .mark_result("a", c1.id, 0, at(1, 8, 2, 0))
        .expect("result")
    {
        MarkOutcome::Updated(c) => {
            assert_eq!(c.status, CommandStatus::Completed);
            assert_eq!(c.return_code, Some(0));
            assert_eq!(
                c.sent_at.map(|t| t.to_string()).as_deref(),
                Some("2026-03-01 08:01:00")
            );
            assert_eq!(
                c.done_at.map(|t| t.to_string()).as_deref(),
                Some("2026-03-01 08:02:00")
            );
        }
        other => panic!("{other:?}"),
    }
    match j
        .mark_result("a", c2.id, -10, at(1, 8, 2, 0))
        .expect("result")
    {
        MarkOutcome::Updated(c) => assert_eq!(
            (c.status, c.return_code),
            (CommandStatus::Failed, Some(-10))
        ),
        other => panic!("{other:?}"),
    }
    // A result reported twice leaves the first one.
    assert!(matches!(
        j.mark_result("a", c2.id, 0, at(1, 9, 0, 0)).expect("result"),
        MarkOutcome::AlreadyDone(c) if c.status == CommandStatus::Failed
    ));
    // Unknown ids, and another device's command, are unknown.
    assert_eq!(
        j.mark_result("a", 999, 0, now()).expect("r"),
        MarkOutcome::Unknown
    );
    let b = j.next_commands("b", 10).expect("next");
    assert_eq!(
        j.mark_result("a", b[0].id, 0, now()).expect("r"),
        MarkOutcome::Unknown
    );
    let list = j.list_commands("a").expect("list");
    assert_eq!(
        list.iter().map(|c| c.id).collect::<Vec<_>>(),
        [c2.id, c1.id]
    );
    assert_eq!(
        j.get_command("a", c1.id).expect("get").map(|c| c.status),
        Some(CommandStatus::Completed)
    );
    assert_eq!(j.get_command("b", c1.id).expect("get"), None);
}

#[test]
fn pending_commands_expire_after_the_age_limit() {
    let dir = TempDir::new();
    let j = open(&dir);
    let old = j
        .enqueue_command("a", "CHECK", at(1, 8, 0, 0))
        .expect("enqueue");
    let sent = j
        .enqueue_command("a", "INFO", at(1, 8, 0, 0))
        .expect("enqueue");
    j.mark_sent("a", &[sent.id], at(1, 8, 0, 5)).expect("sent");
    let fresh = j
        .enqueue_command("a", "LOG", at(8, 8, 0, 0))
        .expect("enqueue");
    let expired = j
        .expire_commands(at(8, 9, 0, 0), Duration::days(7))
        .expect("expire");
    assert_eq!(expired, 1);
    let status = |id| j.get_command("a", id).expect("get").map(|c| c.status);
    assert_eq!(status(old.id), Some(CommandStatus::Expired));
    assert_eq!(status(sent.id), Some(CommandStatus::Sent));
    assert_eq!(status(fresh.id), Some(CommandStatus::Pending));
    assert_eq!(
        j.next_commands("a", 10)
            .expect("next")
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        [fresh.id]
    );
    let counts = j.command_counts().expect("counts");
    assert!(counts.contains(&(CommandStatus::Expired, 1)));
    assert!(counts.contains(&(CommandStatus::Pending, 1)));
    assert!(counts.contains(&(CommandStatus::Sent, 1)));
}

// --- query plans --------------------------------------------------------------------

/// The plan SQLite picks for `sql`, one detail per line.
fn plan(j: &Journal, sql: &str) -> String {
    let conn = j.writer.lock();
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain");
    let rows = stmt
        .query_map(
            rusqlite::params![
                "a",
                "2026-03-01 00:00:00",
                "2026-03-01 23:59:59",
                "1",
                10,
                0
            ],
            |r| r.get::<_, String>(3),
        )
        .expect("plan");
    rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("\n")
}

#[test]
fn day_user_and_cursor_reads_use_indexes() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.insert_punches("a", &[punch("1", at(1, 8, 0, 0))], now())
        .expect("insert");
    let day = plan(
        &j,
        "SELECT seq FROM punches WHERE device = (SELECT id FROM devices WHERE name = ?1)
         AND time >= ?2 AND time <= ?3 AND ?4 IS NULL ORDER BY time DESC, seq ASC LIMIT ?5 OFFSET ?6",
    );
    assert!(day.contains("punches_by_time"), "{day}");
    assert!(!day.contains("TEMP B-TREE"), "no sort step: {day}");
    let user = plan(
        &j,
        "SELECT count(*) FROM punches WHERE device = (SELECT id FROM devices WHERE name = ?1)
         AND user_id = ?4 AND time >= ?2 AND time <= ?3 AND ?5 AND ?6",
    );
    assert!(user.contains("sqlite_autoindex_punches_1"), "{user}");
}

/// The plan SQLite picks for a period read (`?1`–`?4` of `punches::PERIOD`).
fn period_plan(j: &Journal, sql: &str, user: Option<&str>) -> String {
    let conn = j.writer.lock();
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain");
    let rows = stmt
        .query_map(
            rusqlite::params!["2026-03-01 00:00:00", "2026-03-02 00:00:00", user, 10],
            |r| r.get::<_, String>(3),
        )
        .expect("plan");
    rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("\n")
}

#[test]
fn period_reads_walk_each_devices_index_not_the_journal() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.insert_punches("a", &[punch("1", at(1, 8, 0, 0))], now())
        .expect("insert");
    j.insert_punches("b", &[punch("1", at(1, 9, 0, 0))], now())
        .expect("insert");
    let all = period_plan(&j, punches::PERIOD, None);
    assert!(all.contains("SCAN devices"), "{all}");
    assert!(
        all.contains("SEARCH punches USING INDEX punches_by_time (device=? AND time>? AND time<?)"),
        "{all}"
    );
    assert!(!all.contains("TEMP B-TREE"), "no sort step: {all}");
    let one = period_plan(&j, punches::PERIOD_OF_USER, Some("1"));
    assert!(!one.contains("TEMP B-TREE"), "no sort step: {one}");
    assert!(
        one.contains(
            "USING INDEX sqlite_autoindex_punches_1 (device=? AND user_id=? AND time>? AND time<?)"
        ),
        "{one}"
    );
}

// --- a full disk ----------------------------------------------------------------------

/// A small tmpfs mounted for one test (needs root and mount permission).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &TempDir, size: &str) -> Option<SmallDisk> {
        let point = dir.file("disk");
        std::fs::create_dir_all(&point).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&point)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(point))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system of `path` with a ballast file until it is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("ballast");
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_fails_the_batch_whole_and_the_batch_stores_later() {
    let dir = TempDir::new();
    let Some(disk) = SmallDisk::mount(&dir, "2m") else {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let j = Journal::open(disk.0.join("punches.db")).expect("open");
    j.insert_punches("a", &[punch("0", at(1, 7, 0, 0))], now())
        .expect("insert while there is room");
    let ballast = disk.0.join("ballast");
    fill(&ballast);
    let batch: Vec<NewPunch> = (0..5_000i64)
        .map(|i| punch(&i.to_string(), at(1, 8, 0, 0) + Duration::seconds(i)))
        .collect();
    let err = j.insert_punches("a", &batch, now()).expect_err("disk full");
    assert!(
        matches!(&err, JournalError::Sqlite { source, .. }
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)),
        "{err}"
    );
    assert!(err.to_string().contains("punches.db"), "{err}");
    assert_eq!(
        j.count_punches("a").expect("count"),
        1,
        "nothing of the batch stored"
    );
    std::fs::remove_file(&ballast).expect("free space");
    let later = j
        .insert_punches("a", &batch, now())
        .expect("stores once there is room");
    assert_eq!((later.stored, later.duplicates), (5_000, 0));
    assert_eq!(j.count_punches("a").expect("count"), 5_001);
    drop(j);
    drop(disk);
}

#[test]
fn waiters_wake_when_a_commit_stores_punches() {
    let dir = TempDir::new();
    let journal = Arc::new(open(&dir));
    let mut seen = journal.stored_commits();
    assert!(!journal.wait_stored(&mut seen, std::time::Duration::from_millis(1)));
    let writer = {
        let journal = journal.clone();
        std::thread::spawn(move || {
            let p = punch("7", at(2, 8, 0, 0));
            journal
                .insert_punches("a", std::slice::from_ref(&p), now())
                .unwrap();
            // The same punch again stores nothing and wakes no one.
            journal.insert_punches("a", &[p], now()).unwrap();
        })
    };
    assert!(journal.wait_stored(&mut seen, std::time::Duration::from_secs(30)));
    writer.join().unwrap();
    assert_eq!(seen, 1);
    assert_eq!(journal.stored_commits(), 1);
}

/// The journal holds keypad passwords: a new one and its -wal/-shm are
/// readable by zkserver's user only; an older one open to others is made
/// private; folders zkserver creates for it are 0700.
#[cfg(unix)]
#[test]
fn the_journal_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = TempDir::new();
    let folder = dir.file("a/b");
    create_private_dir(&folder).unwrap();
    assert_eq!((mode(&dir.file("a")), mode(&folder)), (0o700, 0o700));
    let path = folder.join("punches.db");
    let journal = Journal::open(&path).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    drop(journal);
    let old = dir.file("old.db");
    drop(Journal::open(&old).unwrap());
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Journal::open(&old).unwrap());
    assert_eq!(mode(&old), 0o600);
    // A file that is not a journal is left as it is, mode included.
    let other = dir.file("other.db");
    std::fs::write(&other, b"not a database at all, not at all, not at all").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Journal::open(&other).is_err());
    assert_eq!(mode(&other), 0o644);
}

#[test]
fn the_delivered_site_is_recorded_and_survives_reopening() {
    let dir = TempDir::new();
    let j = open(&dir);
    assert_eq!(j.recorded_site().unwrap(), None);
    j.record_site("norte").unwrap();
    j.record_site("sur").unwrap();
    drop(j);
    assert_eq!(open(&dir).recorded_site().unwrap().as_deref(), Some("sur"));
}

// --- the same terminal under a new id --------------------------------------------

#[test]
fn a_serial_under_a_new_id_moves_the_history_once_at_a_position_of_its_own() {
    let dir = TempDir::new();
    let j = open(&dir);
    assert_eq!(
        j.claim_serial("a", "SN1", |_| false).unwrap(),
        Claim::Recorded
    );
    let first = [punch("1", at(1, 8, 0, 0)), punch("2", at(1, 9, 0, 0))];
    j.insert_punches("a", &first, now()).unwrap();
    j.set_stamp("a", StampTable::AttLog, "99").unwrap();
    // The same terminal, now called "b" ("a" is gone from devices.json).
    assert_eq!(
        j.claim_serial("b", "SN1", |_| false).unwrap(),
        Claim::Moved { from: "a".into() }
    );
    assert_eq!(j.count_punches("b").unwrap(), 2);
    assert_eq!(j.count_punches("a").unwrap(), 0);
    assert_eq!(
        j.stamp("b", StampTable::AttLog).unwrap().as_deref(),
        Some("99")
    );
    assert_eq!(j.serial_of("b").unwrap().as_deref(), Some("SN1"));
    // Read again from the terminal: nothing is stored twice.
    let again = j.insert_punches("b", &first, now()).unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 2));
    let later = j
        .insert_punches("b", &[punch("3", at(2, 8, 0, 0))], now())
        .unwrap();
    let (punches, renames) = j.delivery_batch(0, 100).unwrap();
    assert_eq!(renames.len(), 1);
    let rename = &renames[0];
    assert_eq!((rename.old.as_str(), rename.new.as_str()), ("a", "b"));
    assert!(punches.iter().all(|p| p.device == "b"));
    assert!(punches[1].seq < rename.seq && rename.seq < later.last_seq.unwrap());
    // A full batch carries only the renames up to its last punch.
    let (punches, renames) = j.delivery_batch(0, 2).unwrap();
    assert_eq!((punches.len(), renames.len()), (2, 0));
    // Claimed again: nothing more happens.
    assert_eq!(
        j.claim_serial("b", "SN1", |_| false).unwrap(),
        Claim::Recorded
    );
    assert_eq!(j.delivery_batch(0, 100).unwrap().1.len(), 1);
}

#[test]
fn a_serial_of_a_registered_device_or_a_new_id_with_punches() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.claim_serial("a", "SN1", |_| false).unwrap();
    j.insert_punches("a", &[punch("1", at(1, 8, 0, 0))], now())
        .unwrap();
    // "a" still registered: two devices with one serial keep apart.
    assert_eq!(
        j.claim_serial("c", "SN1", |id| id == "a").unwrap(),
        Claim::HeldBy("a".into())
    );
    assert_eq!(j.count_punches("a").unwrap(), 1);
    // "b" stored punches before its serial was known: merged, once.
    let both = [punch("1", at(1, 8, 0, 0)), punch("2", at(1, 9, 0, 0))];
    j.insert_punches("b", &both, now()).unwrap();
    assert_eq!(
        j.claim_serial("b", "SN1", |_| false).unwrap(),
        Claim::Moved { from: "a".into() }
    );
    assert_eq!(j.count_punches("b").unwrap(), 2);
    assert_eq!(j.count_punches("a").unwrap(), 0);
    assert_eq!(j.punches_after_all(0, 100).unwrap().len(), 2);
}

#[test]
fn two_terminals_that_swap_ids_keep_their_own_histories() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.claim_serial("a", "SN1", |_| false).unwrap();
    j.claim_serial("b", "SN2", |_| false).unwrap();
    j.insert_punches("a", &[punch("1", at(1, 8, 0, 0))], now())
        .unwrap();
    let b_punches = [punch("2", at(1, 9, 0, 0)), punch("3", at(1, 10, 0, 0))];
    j.insert_punches("b", &b_punches, now()).unwrap();
    // devices.json now says a = SN2, b = SN1.
    let two_registered = |id: &str| id == "a" || id == "b";
    let claim = j.claim_serial("a", "SN2", |_| false).unwrap();
    assert_eq!(claim, Claim::Moved { from: "b".into() });
    assert_eq!(j.count_punches("a").unwrap(), 2);
    assert_eq!(j.count_punches("a#SN1").unwrap(), 1);
    assert_eq!(
        j.claim_serial("b", "SN1", two_registered).unwrap(),
        Claim::Moved {
            from: "a#SN1".into()
        }
    );
    assert_eq!(j.count_punches("b").unwrap(), 1);
    assert_eq!(j.count_punches("a#SN1").unwrap(), 0);
    // Read again from both terminals: nothing twice.
    assert_eq!(j.insert_punches("a", &b_punches, now()).unwrap().stored, 0);
    let renames: Vec<(String, String)> = j
        .delivery_batch(0, 100)
        .unwrap()
        .1
        .into_iter()
        .map(|r| (r.old, r.new))
        .collect();
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        renames,
        vec![pair("a", "a#SN1"), pair("b", "a"), pair("a#SN1", "b")]
    );
}
