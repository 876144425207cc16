//! Micro-benchmark of the punch journal (SQLite, WAL, synchronous=FULL) on
//! the disk of the directory given as the first argument (default: the
//! system temporary directory):
//!
//! - ingest: 100 000 punches in 10 000-line transactions (punches/s), and
//!   the same batches sent again (all duplicates);
//! - query: one day of one device out of a 1 000 000-punch journal (ms,
//!   median and worst of 30 different days).
//!
//! `cargo run --release --example journal_bench [DIR]`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use zkserver::journal::{Journal, NewPunch, PunchFilter};

/// Start of the simulated history.
fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date")
}

/// `n` punches from `start`, `step` seconds apart, 500 users in turn.
fn punches(n: i64, start: NaiveDateTime, step: i64) -> Vec<NewPunch> {
    (0..n)
        .map(|i| NewPunch {
            user_id: (1 + i % 500).to_string(),
            time: start + Duration::seconds(i * step),
            status: 1,
            punch: (i % 2) as u8,
            workcode: None,
        })
        .collect()
}

/// Inserts `all` into `device` in `batch`-line transactions; returns punches/s.
fn ingest(j: &Journal, device: &str, all: &[NewPunch], batch: usize) -> (usize, f64) {
    let now = epoch();
    let t = Instant::now();
    let mut stored = 0;
    for chunk in all.chunks(batch) {
        stored += j.insert_punches(device, chunk, now).expect("insert").stored;
    }
    (stored, all.len() as f64 / t.elapsed().as_secs_f64())
}

fn fresh(dir: &Path, name: &str) -> (PathBuf, Journal) {
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let j = Journal::open(&path).expect("open journal");
    (path, j)
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = dir.join(format!("zkserver-journal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");

    // --- ingest -------------------------------------------------------------------
    let (path, j) = fresh(&dir, "ingest.db");
    let all = punches(100_000, epoch(), 30);
    let (stored, rate) = ingest(&j, "principal", &all, 10_000);
    assert_eq!(stored, 100_000, "every punch stored once");
    println!("ingest: 100000 punches in 10000-line transactions: {rate:.0} punches/s");
    let (stored, rate) = ingest(&j, "principal", &all, 10_000);
    assert_eq!(stored, 0, "re-sent batches store nothing");
    println!("ingest: the same batches again (all duplicates): {rate:.0} punches/s");
    let (_, rate) = ingest(&j, "otro", &all[..10_000], 100);
    println!("ingest: 10000 punches in 100-line transactions: {rate:.0} punches/s");
    drop(j);
    remove(&path);

    // --- query: one day out of 1 000 000 punches ----------------------------------
    let (path, j) = fresh(&dir, "query.db");
    // One device, 1 000 000 punches over 365 days (about 2 740 a day).
    let step = 365 * 86_400 / 1_000_000;
    let t = Instant::now();
    let big = punches(1_000_000, epoch(), step.max(1));
    let (stored, rate) = ingest(&j, "principal", &big, 10_000);
    assert_eq!(stored, 1_000_000);
    println!(
        "built a 1000000-punch journal in {:.1} s ({rate:.0} punches/s), {:.1} MB",
        t.elapsed().as_secs_f64(),
        file_mb(&path)
    );
    drop(big);
    let mut times = Vec::new();
    let mut rows = 0;
    for day in 0..30 {
        let from = epoch() + Duration::days(10 * day + 3);
        let filter = PunchFilter {
            from: Some(from),
            to: Some(from + Duration::seconds(86_399)),
            ..PunchFilter::default()
        };
        let t = Instant::now();
        let page = j.query_punches("principal", &filter).expect("query");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        rows = page.punches.len();
        assert_eq!(page.total as usize, rows);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "query: one day ({rows} punches) out of 1000000: median {:.2} ms, worst {:.2} ms (30 days)",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    let t = Instant::now();
    let page = j
        .query_punches(
            "principal",
            &PunchFilter {
                limit: Some(100),
                ..PunchFilter::default()
            },
        )
        .expect("query");
    println!(
        "query: newest 100 of 1000000 (with total {}): {:.2} ms",
        page.total,
        t.elapsed().as_secs_f64() * 1000.0
    );
    drop(j);
    remove(&path);
    let _ = std::fs::remove_dir(&dir);
}

fn file_mb(path: &Path) -> f64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len() as f64 / 1_048_576.0)
        .sum()
}
