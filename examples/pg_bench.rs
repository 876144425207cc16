//! Benchmark of the delivery into PostgreSQL (`--postgres`), against the
//! release binary (`target/release/zkserver`, or the path given as the first
//! argument) and the database whose URL is the second argument (a fresh,
//! empty database: `scripts/bench.sh` starts a throwaway cluster on
//! 127.0.0.1 for it); the journal goes in the folder given as the third
//! argument (default: a new one in the temp dir), removed at the end. Everything runs on 127.0.0.1, bounded in time:
//!
//! 1. backlog drain: a journal of 200 000 punches is filled through the push
//!    receiver by a simulated push terminal (`PushSim`, 10 000-line ATTLOG
//!    uploads) with zkserver running *without* `--postgres`; then zkserver
//!    starts *with* `--postgres` on that journal and the time from its start
//!    until `zkserver_postgres_backlog` is 0 is measured, and the rows are
//!    counted (target >= 20 000 punches/s);
//! 2. punch -> row: with delivery caught up, 50 one-line ATTLOG POSTs, each
//!    timed from just before sending (and from the `OK:1` answer) until the
//!    row is visible in `zk_punches` through a persistent connection polled
//!    every millisecond (median and p95; target <= 100 ms median).
//!
//! Run by `scripts/bench.sh`; `cargo run --release --example pg_bench -- BIN URL [DIR]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use zkserver::sim::push::{PushSim, PushSimConfig};

/// Punches in the journal for part 1.
const BACKLOG: u64 = 200_000;
/// Lines per ATTLOG upload while filling.
const FILL_BATCH: usize = 10_000;
/// Punch -> row samples.
const SAMPLES: usize = 50;
/// The push terminal's serial number and device id.
const SN: &str = "PGBENCH1";
const DEVICE: &str = "bench";
const SITE: &str = "bench";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`-quantile (0..=1) of `v`.
fn quantile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A running zkserver and the `PostgreSQL:` lines of its log.
struct Zk {
    child: Child,
    addr: String,
    pg_lines: Arc<Mutex<Vec<String>>>,
}

/// Starts the binary on a free port with `dir`'s devices file and journal;
/// with `url`, delivering into it (the URL goes in `POSTGRES_URL`).
fn start(bin: &str, dir: &Path, url: Option<&str>) -> Zk {
    let mut cmd = Command::new(bin);
    cmd.args(["--config", dir.join("devices.json").to_str().unwrap()])
        .args(["--journal", dir.join("punches.db").to_str().unwrap()])
        .args(["--host", "127.0.0.1", "--port", "0", "--log-level", "info"])
        .args(["--allow-open-writes", "--site", SITE, "--push-delay", "1"])
        .env_remove("POSTGRES_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = url {
        cmd.env("POSTGRES_URL", url);
    }
    let mut child = cmd.spawn().expect("zkserver runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("listening line").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let pg_lines = Arc::new(Mutex::new(Vec::new()));
    let kept = pg_lines.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("PostgreSQL") {
                kept.lock().push(line.clone());
            }
            if line.contains("ERROR") || line.contains("WARN") {
                eprintln!("zkserver: {line}");
            }
        }
    });
    Zk {
        child,
        addr,
        pg_lines,
    }
}

fn stop(mut zk: Zk) {
    let _ = Command::new("kill").arg(zk.child.id().to_string()).status();
    let _ = zk.child.wait();
}

/// One HTTP exchange on a new connection: status and body.
fn exchange(addr: &str, method: &str, target: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("zkserver accepts");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).expect("request sent");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("answer read");
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete answer");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
    (status, body.to_string())
}

/// One sample of a `/metrics` value (none when absent).
fn metric(addr: &str, name: &str) -> Option<f64> {
    let (status, text) = exchange(addr, "GET", "/metrics", b"");
    assert_eq!(status, 200, "/metrics answered {status}");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Part 1, the fill: a simulated push terminal uploads `BACKLOG` punches
/// to zkserver without `--postgres`.
fn fill(bin: &str, dir: &Path) {
    let zk = start(bin, dir, None);
    let mut cfg = PushSimConfig::new(&format!("http://{}", zk.addr), SN);
    cfg.records = BACKLOG as usize;
    cfg.batch = FILL_BATCH;
    cfg.users = 200;
    let t0 = Instant::now();
    let sim = PushSim::start(cfg).expect("push simulator starts");
    let deadline = t0 + Duration::from_secs(600);
    while sim.unsent() > 0 {
        assert!(Instant::now() < deadline, "fill: not uploaded in 600 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed().as_secs_f64();
    sim.stop();
    stop(zk);
    println!(
        "fill: {BACKLOG} punches uploaded by a simulated push terminal ({FILL_BATCH}-line ATTLOG POSTs) into a zkserver without --postgres in {took:.1} s"
    );
}

/// `123.4ms`, `1.2s`, `950µs`, `12ns` (a `Duration`'s Debug) in ms.
fn debug_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (value, unit) = text.split_at(split);
    let v: f64 = value.parse().ok()?;
    Some(match unit {
        "s" => v * 1000.0,
        "ms" => v,
        "µs" | "us" => v / 1000.0,
        "ns" => v / 1e6,
        _ => return None,
    })
}

/// Batches and the time spent in their INSERT + COMMIT, from the log lines
/// `PostgreSQL: N punch(es) committed up to journal position P in D`.
fn commit_times(lines: &[String]) -> (usize, f64) {
    let times: Vec<f64> = lines
        .iter()
        .filter(|l| l.contains("committed up to journal position"))
        .filter_map(|l| l.rsplit(" in ").next().and_then(debug_ms))
        .collect();
    (times.len(), times.iter().sum())
}

/// Part 1, the drain: zkserver with `--postgres` on the filled journal,
/// until the backlog is 0; the rows are counted. Returns the running server.
fn drain(bin: &str, dir: &Path, url: &str, db: &mut postgres::Client) -> Zk {
    let t0 = Instant::now();
    let zk = start(bin, dir, Some(url));
    let listening = t0.elapsed();
    let deadline = t0 + Duration::from_secs(600);
    let mut first_commit = None;
    loop {
        let position = metric(&zk.addr, "zkserver_postgres_position").unwrap_or(0.0);
        if first_commit.is_none() && position > 0.0 {
            first_commit = Some(t0.elapsed());
        }
        if position > 0.0 && metric(&zk.addr, "zkserver_postgres_backlog") == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "drain: backlog not 0 in 600 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed();
    let rows: i64 = db
        .query_one("SELECT count(*) FROM zk_punches", &[])
        .expect("rows counted")
        .get(0);
    assert_eq!(rows as u64, BACKLOG, "zk_punches holds {rows} rows");
    // The last batch's log line follows its position by a moment.
    std::thread::sleep(Duration::from_millis(300));
    let (batches, commit_ms) = commit_times(&zk.pg_lines.lock());
    println!(
        "backlog drain: {rows} punches in zk_punches {:.2} s after zkserver started = {:.0} punches/s (target >= 20000/s)",
        took.as_secs_f64(),
        BACKLOG as f64 / took.as_secs_f64()
    );
    println!(
        "  of which: listening after {:.0} ms, first batch committed by {:.0} ms; {batches} batches, {:.2} s inside INSERT + COMMIT ({:.0} ms per batch)",
        ms(listening),
        first_commit.map_or(0.0, ms),
        commit_ms / 1000.0,
        commit_ms / batches.max(1) as f64
    );
    zk
}

/// Part 2: one-line ATTLOG POSTs until their row is visible.
fn punch_to_row(zk: &Zk, db: &mut postgres::Client) {
    let seen = db
        .prepare(
            "SELECT 1 FROM zk_punches
              WHERE site = $1 AND device_id = $2 AND user_id = $3 AND punched_at = $4::text::timestamp",
        )
        .expect("query prepared");
    let epoch = chrono::NaiveDate::from_ymd_opt(2025, 9, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap();
    let target = format!("/iclock/cdata?SN={SN}&table=ATTLOG&Stamp=1");
    let mut from_send = Vec::new();
    let mut from_answer = Vec::new();
    for k in 0..SAMPLES {
        let user = (9000 + k % 7).to_string();
        let time = (epoch + chrono::Duration::seconds(k as i64 * 61))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let body = format!("{user}\t{time}\t0\t1\t\t0\t0\n");
        let t0 = Instant::now();
        let (status, answer) = exchange(&zk.addr, "POST", &target, body.as_bytes());
        let answered = Instant::now();
        assert!(
            status == 200 && answer.trim() == "OK:1",
            "ATTLOG POST answered {status} {answer:?}"
        );
        let deadline = t0 + Duration::from_secs(30);
        loop {
            let rows = db
                .query(&seen, &[&SITE, &DEVICE, &user, &time])
                .expect("row looked up");
            if !rows.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "punch {k}: no row in 30 s");
            std::thread::sleep(Duration::from_millis(1));
        }
        from_send.push(ms(t0.elapsed()));
        from_answer.push(ms(answered.elapsed()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let send_med = quantile(&mut from_send, 0.5);
    let send_p95 = quantile(&mut from_send, 0.95);
    let send_max = quantile(&mut from_send, 1.0);
    let ans_med = quantile(&mut from_answer, 0.5);
    let ans_p95 = quantile(&mut from_answer, 0.95);
    println!(
        "punch -> row (1-line ATTLOG POST, {SAMPLES} samples, row polled every 1 ms): from sending median {send_med:.1} ms, p95 {send_p95:.1} ms, max {send_max:.1} ms (target <= 100 ms median); from the OK:1 answer median {ans_med:.1} ms, p95 {ans_p95:.1} ms"
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/zkserver".into());
    let Some(url) = args.next() else {
        eprintln!("usage: pg_bench ZKSERVER_BINARY POSTGRES_URL [WORK_DIR] (an empty database)");
        std::process::exit(2);
    };
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("zkserver-pg-bench-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("devices.json"),
        serde_json::json!({DEVICE: {"mode": "push", "sn": SN, "name": "Bench"}}).to_string(),
    )
    .unwrap();
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("database reachable");
    println!(
        "\nPostgreSQL delivery (journal in {}, database on 127.0.0.1):",
        dir.display()
    );
    fill(&bin, &dir);
    let zk = drain(&bin, &dir, &url, &mut db);
    punch_to_row(&zk, &mut db);
    stop(zk);
    let _ = std::fs::remove_dir_all(&dir);
}
