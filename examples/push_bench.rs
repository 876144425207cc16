//! Benchmark of the push receiver (`/iclock/*`) and its journal, against the
//! release binary (`target/release/zkserver`, a child process, or the path
//! given as the first argument), with 500 push devices in a devices file and a
//! journal in a temporary directory; everything on 127.0.0.1, bounded in
//! count and time:
//!
//! 1. one 10 000-line ATTLOG POST until `OK:10000` (median of 5, new punches
//!    each time; target <= 200 ms);
//! 2. sustained ingest: 4 terminals at once, each POSTing 10 batches of
//!    10 000 lines (400 000 punches; target >= 20 000 punches/s);
//! 3. 500 terminals polling `GET /iclock/getrequest` once a second for 20 s,
//!    one connection per request (HTTP/1.0 or `Connection: close`, as real
//!    terminals do), driven by 16 client threads on a fixed schedule: request
//!    latency p50/p99 (target p99 <= 20 ms), errors (target 0), server RSS
//!    (target <= 64 MB). This runs first, on a fresh process, so that VmHWM is
//!    the polling peak and not the ingest peak;
//! 4. a 1-line ATTLOG POST until its event arrives on `/devices/<id>/events`
//!    (median of 21; target <= 50 ms);
//! 5. one terminal's uploads of 1, 100 and 1 000 lines per POST, one after
//!    the other, each on a new connection (1 line also on one kept-alive
//!    connection), side by side with the floor: a
//!    bare SQLite loop in this process running the journal's statements
//!    for each batch (one transaction per POST, WAL, `synchronous=FULL`, a
//!    file in the same directory) — punches per second of each and the
//!    ratio (target >= 90 %). Each server POST is followed by the same
//!    batch on the floor, so both meet the same load; 3 rounds, the
//!    median round's ratio. After each round, as many no-op exchanges of
//!    the same kind (`GET /iclock/ping` of the same terminal: HTTP and the
//!    terminal's identification, no body, no commit): the floor has no
//!    network round trip, so floor / (floor + no-op) is the most the
//!    server could reach (printed as the ceiling).
//!
//! Run by `scripts/bench.sh`; `cargo run --release --example push_bench`
//! (`-- <binary> floor` runs part 5 alone).

#[allow(dead_code)]
#[path = "../tests/e2e/common/sse.rs"]
mod sse;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Push devices in the devices file (and polling terminals in part 3).
const TERMINALS: usize = 500;
/// Client threads that drive the 500 polling terminals.
const POLL_THREADS: usize = 16;
/// Seconds of polling.
const POLL_SECONDS: u64 = 20;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`-quantile (0..=1) of `v`.
fn quantile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn sn(i: usize) -> String {
    format!("PBENCH{i:03}")
}

/// VmRSS and VmHWM of a process, in MB.
fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One terminal-style exchange on a new connection (closed by the server):
/// the status code and body, or an error.
fn exchange(
    addr: &str,
    method: &str,
    target: &str,
    body: &[u8],
    http10: bool,
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let (version, conn) = if http10 {
        ("HTTP/1.0", "")
    } else {
        ("HTTP/1.1", "Connection: close\r\n")
    };
    let mut req = format!(
        "{method} {target} {version}\r\nHost: 127.0.0.1\r\nUser-Agent: iClock Proxy/1.09\r\n{conn}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no complete answer")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_string()))
}

/// An ATTLOG body of `n` lines for users 1..=200, at consecutive seconds
/// from `first` (seconds after 2025-01-01 00:00:00): never seen before as
/// long as `first` moves on by `n` each time.
fn attlog(first: u64, n: u64) -> Vec<u8> {
    let epoch = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mut out = String::with_capacity(n as usize * 48);
    for k in first..first + n {
        let t = epoch + chrono::Duration::seconds(k as i64);
        out.push_str(&format!(
            "{}\t{}\t0\t1\t\t0\t0\n",
            1 + k % 200,
            t.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    out.into_bytes()
}

/// POSTs an ATTLOG batch for terminal `i` and checks the `OK:<n>` answer.
fn post(addr: &str, i: usize, body: &[u8], n: u64) {
    let target = format!("/iclock/cdata?SN={}&table=ATTLOG&Stamp=1", sn(i));
    let (status, answer) = exchange(addr, "POST", &target, body, false).expect("POST answered");
    assert!(
        status == 200 && answer.trim() == format!("OK:{n}"),
        "ATTLOG POST answered {status} {answer:?}"
    );
}

/// The release binary with the 500 push devices, on a free port.
fn start(bin: &str, dir: &std::path::Path, journal: &str) -> (Child, String) {
    let mut child = Command::new(bin)
        .args(["--config", dir.join("devices.json").to_str().unwrap()])
        .args(["--journal", dir.join(journal).to_str().unwrap()])
        .args(["--host", "127.0.0.1", "--port", "0", "--log-level", "error"])
        .args(["--max-connections", "2048", "--allow-open-writes"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("zkserver runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("listening line").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("zkserver: {line}");
        }
    });
    (child, addr)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// Part 3: 500 terminals polling once a second. Terminal `i` polls at
/// `i * 2 ms + n s`; thread `t` serves terminals `i % POLL_THREADS == t` in
/// schedule order, one blocking connection per request.
fn polling(addr: &str, pid: u32) {
    let t0 = Instant::now() + Duration::from_millis(500);
    let errors = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_ms(pid);
    let mut peak_rss = 0.0f64;
    let threads: Vec<_> = (0..POLL_THREADS)
        .map(|t| {
            let addr = addr.to_string();
            let errors = errors.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut late = Duration::ZERO;
                for round in 0..POLL_SECONDS {
                    for i in (t..TERMINALS).step_by(POLL_THREADS) {
                        let at =
                            t0 + Duration::from_secs(round) + Duration::from_millis(2 * i as u64);
                        let now = Instant::now();
                        if at > now {
                            std::thread::sleep(at - now);
                        } else {
                            late = late.max(now - at);
                        }
                        let target = format!("/iclock/getrequest?SN={}", sn(i));
                        let start = Instant::now();
                        match exchange(&addr, "GET", &target, b"", i % 2 == 0) {
                            Ok((200, body)) if body.starts_with("OK") => {}
                            other => {
                                if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                    eprintln!("poll {} failed: {other:?}", sn(i));
                                }
                            }
                        }
                        lat.push(ms(start.elapsed()));
                    }
                }
                (lat, late)
            })
        })
        .collect();
    while !threads.iter().all(std::thread::JoinHandle::is_finished) {
        peak_rss = peak_rss.max(rss(pid).0);
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut lat = Vec::new();
    let mut late = Duration::ZERO;
    for t in threads {
        let (l, d) = t.join().unwrap();
        lat.extend(l);
        late = late.max(d);
    }
    let n = lat.len();
    let p50 = quantile(&mut lat, 0.5);
    let p99 = quantile(&mut lat, 0.99);
    let max = quantile(&mut lat, 1.0);
    let (now, hwm) = rss(pid);
    let cpu = (cpu_ms(pid) - cpu0) / 1000.0;
    println!(
        "500 terminals polling 1/s for {POLL_SECONDS} s ({n} requests, {POLL_THREADS} client threads, new connection each): \
         p50 {p50:.1} ms, p99 {p99:.1} ms (target <= 20 ms), max {max:.1} ms, errors {} (target 0), \
         client lag max {:.0} ms, server CPU {cpu:.1} s",
        errors.load(Ordering::Relaxed),
        ms(late)
    );
    println!(
        "server RSS while polling: VmRSS {now:.1} MB (sampled max {peak_rss:.1} MB), VmHWM {hwm:.1} MB (target <= 64 MB)"
    );
}

/// Part 4: a 1-line ATTLOG POST until its SSE event arrives, 21 times.
fn push_to_sse(addr: &str) {
    let base = format!("http://{addr}");
    let dev = 5;
    let mut stream = sse::SseClient::connect(&base, &format!("/devices/p{dev:03}/events"), None);
    assert!(stream.head.contains(" 200 "), "events: {}", stream.head);
    std::thread::sleep(Duration::from_millis(500));
    let mut lat = Vec::new();
    for r in 0..21u64 {
        let body = attlog(r, 1);
        let a = addr.to_string();
        let t0 = Instant::now();
        let poster = std::thread::spawn(move || post(&a, dev, &body, 1));
        let got = stream.punches(1, Duration::from_secs(10));
        let took = t0.elapsed();
        poster.join().unwrap();
        assert_eq!(got.len(), 1, "no event within 10 s");
        assert_eq!(got[0].data["user_id"], (1 + r % 200).to_string().as_str());
        lat.push(ms(took));
        std::thread::sleep(Duration::from_millis(50));
    }
    let med = quantile(&mut lat, 0.5);
    let max = quantile(&mut lat, 1.0);
    println!(
        "push punch -> SSE event (1-line ATTLOG POST until the event is read): median {med:.1} ms of 21, max {max:.1} ms (target <= 50 ms)"
    );
}

/// Part 5: sequential uploads of one terminal against the bare SQLite floor.
fn against_the_floor(addr: &str, dir: &std::path::Path) {
    let floor_path = dir.join("floor.db");
    // The journal's schema, then a plain connection as the journal sets it up.
    drop(zkserver::journal::Journal::open(&floor_path).expect("floor journal"));
    let mut floor = rusqlite::Connection::open(&floor_path).expect("floor opens");
    floor
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .expect("floor pragmas");
    // Punch times far from parts 1, 2 and 4 (new punches every time).
    let mut first = 50_000_000u64;
    for (lines, posts, keep_alive) in [
        (1u64, 300u64, false),
        (1, 300, true),
        (100, 100, false),
        (1000, 30, false),
    ] {
        let mut conn = keep_alive.then(|| TcpStream::connect(addr).expect("connect"));
        let mut rounds = Vec::new();
        for _ in 0..3 {
            let bodies: Vec<Vec<u8>> = (0..posts)
                .map(|p| attlog(first + p * lines, lines))
                .collect();
            let (mut server, mut bare, mut noop) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
            for (p, body) in (0..posts).zip(&bodies) {
                let t0 = Instant::now();
                match conn.as_mut() {
                    Some(conn) => post_on(conn, 7, body, lines),
                    None => post(addr, 7, body, lines),
                }
                server += t0.elapsed();
                // Other punches than the server's (the same would be
                // duplicates), their text made before the clock starts.
                let rows = floor_rows(first + p * lines, lines);
                let t0 = Instant::now();
                floor_batch(&mut floor, &rows);
                bare += t0.elapsed();
            }
            // The no-op exchanges after the round, so that the POSTs and
            // the floor's batches alternate as they always did.
            for _ in 0..posts {
                let t0 = Instant::now();
                match conn.as_mut() {
                    Some(conn) => ping_on(conn, 7),
                    None => ping(addr, 7),
                }
                noop += t0.elapsed();
            }
            first += posts * lines;
            let rate = |d: Duration| (posts * lines) as f64 / d.as_secs_f64();
            let ceiling = bare.as_secs_f64() / (bare + noop).as_secs_f64();
            rounds.push((
                rate(server) / rate(bare),
                rate(server),
                rate(bare),
                ms(noop) / posts as f64,
                ceiling,
            ));
        }
        rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ratio, server, bare, noop, ceiling) = rounds[1];
        let how = if keep_alive {
            "on one kept-alive connection"
        } else {
            "a new connection each"
        };
        println!(
            "one terminal, {lines}-line ATTLOG POSTs ({posts} in a row, {how}, each followed by the floor's batch; median of 3 rounds): \
             server {server:.0} punches/s, bare SQLite {bare:.0} punches/s = {:.0} % of the floor (target >= 90 %); \
             a no-op exchange (GET /iclock/ping) {noop:.3} ms, so at most {:.0} % (floor / (floor + no-op))",
            100.0 * ratio,
            100.0 * ceiling
        );
    }
}

/// POSTs an ATTLOG batch for terminal `i` on the kept-alive connection
/// `conn` and checks the `OK:<n>` answer.
fn post_on(conn: &mut TcpStream, i: usize, body: &[u8], n: u64) {
    let target = format!("/iclock/cdata?SN={}&table=ATTLOG&Stamp=1", sn(i));
    let (head, answer) = exchange_on(conn, "POST", &target, body);
    assert!(
        head.starts_with("HTTP/1.1 200") && answer.trim() == format!("OK:{n}"),
        "ATTLOG POST answered {head} {answer:?}"
    );
}

/// `GET /iclock/ping` of terminal `i` on a new connection: the exchange
/// with no body and no commit (checks the `OK`).
fn ping(addr: &str, i: usize) {
    let target = format!("/iclock/ping?SN={}", sn(i));
    let (status, answer) = exchange(addr, "GET", &target, b"", false).expect("ping answered");
    assert!(
        status == 200 && answer.trim() == "OK",
        "ping answered {status} {answer:?}"
    );
}

/// [`ping`] on the kept-alive connection `conn`.
fn ping_on(conn: &mut TcpStream, i: usize) {
    let target = format!("/iclock/ping?SN={}", sn(i));
    let (head, answer) = exchange_on(conn, "GET", &target, b"");
    assert!(
        head.starts_with("HTTP/1.1 200") && answer.trim() == "OK",
        "ping answered {head} {answer:?}"
    );
}

/// One request on the kept-alive connection `conn`: the answer's head and
/// body. Read through a buffer, as a terminal reads it (the server sends
/// nothing unasked, so nothing of a next answer is left in it).
fn exchange_on(conn: &mut TcpStream, method: &str, target: &str, body: &[u8]) -> (String, String) {
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: iClock Proxy/1.09\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    conn.write_all(&req).expect("request sent");
    let mut reader = BufReader::new(&*conn);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let read = reader.read_line(&mut head).expect("answer");
        assert!(read > 0, "connection closed mid-answer: {head:?}");
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("Content-Length");
    let mut answer = vec![0u8; len];
    reader.read_exact(&mut answer).expect("answer body");
    assert!(reader.buffer().is_empty(), "bytes after the answer");
    (head, String::from_utf8_lossy(&answer).to_string())
}

/// The user and time texts of punches `first..first + n`, as [`attlog`]
/// makes them.
fn floor_rows(first: u64, n: u64) -> Vec<(String, String)> {
    let epoch = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    (first..first + n)
        .map(|k| {
            let t = epoch + chrono::Duration::seconds(k as i64);
            (
                (1 + k % 200).to_string(),
                t.format("%Y-%m-%d %H:%M:%S").to_string(),
            )
        })
        .collect()
}

/// What the journal runs for one upload: one transaction (the device's
/// number, an `INSERT OR IGNORE` per punch, the device's count and the
/// stamp), committed to disk.
fn floor_batch(conn: &mut rusqlite::Connection, rows: &[(String, String)]) {
    let received = "2026-01-01 00:00:00";
    let tx = conn.transaction().unwrap();
    tx.prepare_cached("INSERT INTO devices (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")
        .unwrap()
        .execute(["p007"])
        .unwrap();
    let id: i64 = tx
        .prepare_cached("SELECT id FROM devices WHERE name = ?1")
        .unwrap()
        .query_row(["p007"], |r| r.get(0))
        .unwrap();
    let mut stored = 0i64;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO punches
                     (device, user_id, time, status, punch, workcode, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .unwrap();
        for (user, time) in rows {
            stored += insert
                .execute(rusqlite::params![
                    id,
                    user,
                    time,
                    1,
                    0,
                    None::<String>,
                    received
                ])
                .unwrap() as i64;
        }
    }
    tx.prepare_cached("UPDATE devices SET punches = punches + ?2 WHERE id = ?1")
        .unwrap()
        .execute(rusqlite::params![id, stored])
        .unwrap();
    tx.prepare_cached(
        "INSERT INTO stamps (device, tbl, stamp) VALUES (?1, ?2, ?3)
         ON CONFLICT (device, tbl) DO UPDATE SET stamp = excluded.stamp",
    )
    .unwrap()
    .execute(["p007", "ATTLOG", "1"])
    .unwrap();
    tx.commit().unwrap();
}

/// CPU time (user + system) a process has used so far, in ms.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
    ticks * 10.0 // USER_HZ is 100 on Linux
}

fn main() {
    let bin = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/zkserver".into());
    let dir = std::env::temp_dir().join(format!("zkserver-push-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let devices: serde_json::Map<String, serde_json::Value> = (0..TERMINALS)
        .map(|i| {
            (
                format!("p{i:03}"),
                serde_json::json!({"mode": "push", "sn": sn(i), "name": format!("Push {i}")}),
            )
        })
        .collect();
    std::fs::write(
        dir.join("devices.json"),
        serde_json::Value::Object(devices).to_string(),
    )
    .unwrap();
    println!(
        "\npush receiver ({TERMINALS} push devices, journal in {}):",
        dir.display()
    );
    if std::env::args().nth(2).as_deref() == Some("floor") {
        let (child, addr) = start(&bin, &dir, "punches.db");
        against_the_floor(&addr, &dir);
        stop(child);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // 3 first, on a fresh process (its VmHWM is then the polling peak).
    let (child, addr) = start(&bin, &dir, "poll.db");
    polling(&addr, child.id());
    stop(child);

    let (child, addr) = start(&bin, &dir, "punches.db");
    // 1. One 10 000-line POST, 5 times with new punches (terminal 0).
    let mut one = Vec::new();
    let cpu0 = cpu_ms(child.id());
    for r in 0..5u64 {
        let body = attlog(r * 10_000, 10_000);
        let t0 = Instant::now();
        post(&addr, 0, &body, 10_000);
        one.push(ms(t0.elapsed()));
    }
    let med = quantile(&mut one, 0.5);
    let min = quantile(&mut one, 0.0);
    let cpu = (cpu_ms(child.id()) - cpu0) / 5.0;
    println!(
        "one 10 000-line ATTLOG POST until OK:10000: median {med:.1} ms of 5, min {min:.1} ms (target <= 200 ms); server CPU {cpu:.0} ms per POST"
    );

    // 2. Sustained: terminals 1..=4, 10 batches of 10 000 each, bodies built first.
    let bodies: Vec<Vec<Vec<u8>>> = (0..4)
        .map(|_| (0..10u64).map(|b| attlog(b * 10_000, 10_000)).collect())
        .collect();
    let t0 = Instant::now();
    let cpu0 = cpu_ms(child.id());
    let workers: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(w, batches)| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                for body in batches {
                    post(&addr, w + 1, &body, 10_000);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let took = t0.elapsed().as_secs_f64();
    let cpu = (cpu_ms(child.id()) - cpu0) / 1000.0;
    println!(
        "sustained ingest, 4 terminals x 10 POSTs x 10 000 lines: 400000 punches in {took:.2} s = {:.0} punches/s (target >= 20000/s); server CPU {cpu:.1} s",
        400_000.0 / took
    );

    // 4.
    push_to_sse(&addr);
    // 5.
    against_the_floor(&addr, &dir);
    let (now, hwm) = rss(child.id());
    println!("server RSS after ingest: VmRSS {now:.1} MB, VmHWM {hwm:.1} MB (for information)");
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
