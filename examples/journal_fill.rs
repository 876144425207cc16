//! Fills a punch journal for benchmarks: `N` punches of device `ID` over
//! 365 days from 2025-01-01 (500 users in turn), in 10 000-punch
//! transactions, through the journal's own API.
//!
//! `cargo run --release --example journal_fill PATH ID N`; prints the
//! busiest day's date (for a one-day query).

use std::time::Instant;

use chrono::{Duration, NaiveDate};
use zkserver::journal::{Journal, NewPunch};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(id), Some(n)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: journal_fill PATH DEVICE_ID N");
        std::process::exit(2);
    };
    let n: i64 = n.parse().expect("N is a number");
    let journal = Journal::open(&path).expect("journal opens");
    let start = NaiveDate::from_ymd_opt(2025, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date");
    let step = (365 * 86_400 / n.max(1)).max(1);
    let t = Instant::now();
    let mut stored = 0;
    let mut i = 0;
    while i < n {
        let batch: Vec<NewPunch> = (i..(i + 10_000).min(n))
            .map(|k| NewPunch {
                user_id: (1 + k % 500).to_string(),
                time: start + Duration::seconds(k * step),
                status: 1,
                punch: (k % 2) as u8,
                workcode: None,
            })
            .collect();
        i += batch.len() as i64;
        stored += journal
            .insert_punches(&id, &batch, start)
            .expect("punches stored")
            .stored;
    }
    eprintln!(
        "{stored} punches of {id} stored in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    println!("2025-06-15");
}
