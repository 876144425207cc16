//! Benchmark of the working-day reports (API Part 8) on a journal of
//! 1 000 000 punches: 500 people on the staff list, two terminals in two
//! time zones, four punches per person per weekday over about two years,
//! ending today. Measures, through the same code the routes run (inputs
//! read from the journal, one period query, the sheet, its JSON or xlsx):
//!
//! - a day sheet for 500 people (target ≤ 50 ms);
//! - presence, who is inside now (target ≤ 20 ms);
//! - a month xlsx for 500 people, the last whole month (target ≤ 1 s,
//!   ≤ 50 MB RSS), in a child
//!   process of its own so its peak RSS is the report's, not the build's;
//! - the same day sheet on a 100 000-punch journal holding the same day:
//!   the cost follows the period's punches, not the journal's size.
//!
//! `cargo run --release --example report_bench [DIR]` (default: the
//! system temporary directory). Not a test: numbers for docs/performance.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Weekday};
use zkserver::journal::{Journal, NewPunch, PersonChanges};
use zkserver::reports::day::Filter;
use zkserver::reports::export;
use zkserver::reports::month::month_days;
use zkserver::reports::presence::Terminal;
use zkserver::reports::rules::{DayStart, DoublePunch};
use zkserver::reports::source::Inputs;
use zkserver::time::WallTime;

/// People on the list.
const PEOPLE: u32 = 500;

/// The two terminals: id, name, UTC offset in minutes.
fn terminals() -> Vec<Terminal> {
    vec![
        Terminal {
            id: "madrid".into(),
            name: "Oficina Madrid".into(),
            offset_minutes: 60,
        },
        Terminal {
            id: "canarias".into(),
            name: "Almacén Canarias".into(),
            offset_minutes: 0,
        },
    ]
}

/// A small deterministic generator (no dependency).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The four punches of `user` on `day`: about 08:00, 13:00, 14:00, 17:00.
fn day_of(user: u32, day: NaiveDate, rng: &mut Lcg) -> Vec<NewPunch> {
    let at = |h: u32, spread: u64, rng: &mut Lcg| {
        day.and_hms_opt(h, 0, 0).unwrap_or_default()
            + TimeDelta::seconds(rng.below(spread * 60) as i64)
            - TimeDelta::minutes(spread as i64 / 2)
    };
    [(8, 30), (13, 10), (14, 10), (17, 30)]
        .iter()
        .map(|(h, spread)| NewPunch {
            user_id: user.to_string(),
            time: at(*h, *spread, rng),
            status: 1,
            punch: 0,
            workcode: None,
        })
        .collect()
}

/// The weekdays of the history: `days` weekdays ending today.
fn weekdays(today: NaiveDate, days: usize) -> Vec<NaiveDate> {
    let mut out = Vec::with_capacity(days);
    let mut d = today;
    while out.len() < days {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            out.push(d);
        }
        d = d.pred_opt().unwrap_or(d);
    }
    out.reverse();
    out
}

/// A journal at `path` with the list and `days` weekdays of punches
/// (4 × 500 per day); made once, reused by later runs.
fn build(path: &Path, today: NaiveDate, days: usize) -> Journal {
    let exists = path.exists();
    let j = Journal::open(path).expect("open journal");
    if exists {
        return j;
    }
    let t = Instant::now();
    let at = WallTime::parse("2024-01-01 00:00:00").expect("time");
    for user in 1..=PEOPLE {
        let changes = PersonChanges {
            name: Some(format!("Persona {user}")),
            areas: Some(vec![
                if user % 2 == 0 { "oficina" } else { "almacen" }.into()
            ]),
            ..PersonChanges::default()
        };
        j.upsert_person(&user.to_string(), &changes, at)
            .expect("person");
    }
    let office = serde_json::json!({"start": "08:00", "end": "17:00", "tolerance": 10});
    j.set_schedule(
        &zkserver::journal::ScheduleScope::Default,
        Some(&office),
        at,
    )
    .expect("schedule");
    let mut rng = Lcg(7);
    let received = NaiveDateTime::default();
    let mut batch: Vec<NewPunch> = Vec::new();
    for (i, day) in weekdays(today, days).into_iter().enumerate() {
        for device in ["madrid", "canarias"] {
            batch.clear();
            let half = if device == "madrid" { 0 } else { 1 };
            for user in (1..=PEOPLE).filter(|u| u % 2 == half) {
                let mut punches = day_of(user, day, &mut rng);
                // Today, one person in three is still inside (no exit yet).
                if day == today && user % 3 == 0 {
                    punches.pop();
                }
                batch.extend(punches);
            }
            j.insert_punches(device, &batch, received).expect("insert");
        }
        if i % 100 == 0 {
            eprintln!("  built {i}/{days} days");
        }
    }
    eprintln!(
        "  built {} in {:.1} s",
        path.display(),
        t.elapsed().as_secs_f64()
    );
    j
}

/// Median and worst of `runs` timings of `f`.
fn time_it(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut all: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    all.sort();
    (all[runs / 2], all[runs - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn inputs(j: &Journal) -> Inputs {
    Inputs::load(j, DayStart::default(), DoublePunch::default(), terminals()).expect("inputs")
}

/// The day sheet of `day` as the route makes it, to JSON bytes.
fn day_report(j: &Journal, day: NaiveDate) -> usize {
    let rows = inputs(j).day(j, day, &Filter::default()).expect("day");
    serde_json::to_vec(&rows).expect("json").len()
}

/// Presence now, as the route makes it.
fn presence(j: &Journal) -> usize {
    let now = chrono::Utc::now().naive_utc();
    let rows = inputs(j)
        .presence(j, now, &Filter::default())
        .expect("presence");
    serde_json::to_vec(&rows).expect("json").len()
}

/// The month before `today`'s (a whole month of punches) as an xlsx, as
/// the route makes it.
fn month_xlsx(j: &Journal, today: NaiveDate) -> usize {
    let inputs = inputs(j);
    let previous = today
        .with_day(1)
        .and_then(|d| d.pred_opt())
        .expect("a month");
    let days = month_days(&previous.format("%Y-%m").to_string()).expect("month");
    let sheet = inputs.month(j, days, &Filter::default()).expect("month");
    drop(inputs);
    let sheets = export::month_sheets(&sheet);
    drop(sheet);
    export::xlsx(sheets).len()
}

/// Peak resident memory of this process (Linux), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let today = chrono::Local::now().date_naive();
    if args.get(1).map(String::as_str) == Some("--month") {
        let path = PathBuf::from(&args[2]);
        let j = Journal::open(&path).expect("open");
        let base = peak_rss_mb();
        let t = Instant::now();
        let bytes = month_xlsx(&j, today);
        let took = t.elapsed();
        println!(
            "month xlsx (500 people): {} , {bytes} bytes, peak RSS {:.1} MB (process before: {base:.1} MB)",
            ms(took),
            peak_rss_mb()
        );
        return;
    }
    let dir = args.get(1).map_or_else(std::env::temp_dir, PathBuf::from);
    let big = build(&dir.join("report-bench-1m.db"), today, 500);
    let small = build(&dir.join("report-bench-100k.db"), today, 50);
    let day = weekdays(today, 3)[0];
    println!("day sheet {day}: {} bytes of JSON", day_report(&big, day));
    let (median, worst) = time_it(30, || {
        day_report(&big, day);
    });
    println!(
        "day sheet, 500 people, 1 000 000-punch journal: median {}, worst {}",
        ms(median),
        ms(worst)
    );
    let (median, worst) = time_it(30, || {
        day_report(&small, day);
    });
    println!(
        "day sheet, 500 people, 100 000-punch journal:   median {}, worst {}",
        ms(median),
        ms(worst)
    );
    println!("inside now: {} bytes of JSON", presence(&big));
    let (median, worst) = time_it(30, || {
        presence(&big);
    });
    println!(
        "presence, 1 000 000-punch journal: median {}, worst {}",
        ms(median),
        ms(worst)
    );
    for _ in 0..3 {
        let out = std::process::Command::new(std::env::current_exe().expect("exe"))
            .arg("--month")
            .arg(dir.join("report-bench-1m.db"))
            .output()
            .expect("child");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
