//! What a new user ran into, each pinned by a test: head and request-line
//! limits, echoed ids, impossible dates and ranges, format case, 405 with
//! `Allow`, HEAD, the demo's address, log lines, and a terminal that
//! trickles bytes forever.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::process::{addr_after, spawn_until, terminate, BIN};
use crate::common::*;
use zkserver::sim::{Faults, SimConfig};

fn env() -> Env {
    single(
        SimConfig {
            records: 300,
            ..SimConfig::default()
        },
        Link::default(),
    )
}

/// Sends raw bytes and reads the answer until the server closes.
fn raw_exchange(base: &str, bytes: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

#[test]
fn head_limits_are_the_documented_ones() {
    let env = env();
    // A 20 KB header is over the 16 KiB head limit, even though it fits
    // in the buffer a read fills.
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(20_000)
    );
    let resp = raw_exchange(&env.base, big.as_bytes());
    assert!(status_line(&resp).starts_with("HTTP/1.1 431"), "{resp}");
    assert!(resp.contains("\"success\": false"), "JSON error: {resp}");
    // A 17 000-byte request line is a URI that is too long.
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(17_000));
    let resp = raw_exchange(&env.base, long.as_bytes());
    assert!(status_line(&resp).starts_with("HTTP/1.1 414"), "{resp}");
    // Just under the limits is served.
    let fine = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
        "v".repeat(15_000)
    );
    let resp = raw_exchange(&env.base, fine.as_bytes());
    assert!(status_line(&resp).starts_with("HTTP/1.1 200"), "{resp}");
}

#[test]
fn unknown_ids_are_not_echoed_in_full() {
    let env = env();
    let id = "x".repeat(7_000);
    let (status, body) = get(&format!("{}/devices/{id}/attendance", env.base));
    assert_eq!(status, 404);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.len() < 150, "{} bytes", msg.len());
    assert!(
        msg.starts_with("Dispositivo 'xxxx") && msg.contains('…'),
        "{msg}"
    );
    let (status, body) = get(&format!("{}/{id}", env.base));
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().len() < 200);
}

#[test]
fn impossible_days_and_reversed_ranges_are_refused() {
    let env = env();
    let url = |q: &str| format!("{}/devices/principal/attendance?{q}", env.base);
    for (query, param) in [
        ("date=2026-02-30", "'date'"),
        ("date=2025-02-29", "'date'"),
        ("from=2026-03-07&to=2026-03-06", "'from'"),
        ("from=2026-02-30", "'from'"),
    ] {
        let (status, body) = get(&url(query));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(param),
            "{query}: {body}"
        );
    }
    let resp = minreq::get(url("format=CSV&limit=2"))
        .with_timeout(30)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    assert_eq!(
        resp.headers.get("content-type").map(String::as_str),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(resp.as_str().unwrap().lines().count(), 3, "header + 2 rows");
}

#[test]
fn wrong_methods_say_what_is_allowed_and_head_has_no_body() {
    let env = env();
    let resp = minreq::delete(format!("{}/devices/principal/users", env.base))
        .with_timeout(30)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 405);
    assert_eq!(
        resp.headers.get("allow").map(String::as_str),
        Some("GET, POST, HEAD")
    );
    let resp = minreq::post(format!("{}/health", env.base))
        .with_timeout(30)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 405);
    assert_eq!(
        resp.headers.get("allow").map(String::as_str),
        Some("GET, HEAD")
    );

    let resp = raw_exchange(
        &env.base,
        b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: "),
        "{head}"
    );
    assert!(body.is_empty(), "HEAD has no body: {body:?}");
}

#[test]
fn a_trickling_terminal_cannot_hold_the_lock_forever() {
    // Every packet arrives well within the per-phase timeout, but a whole
    // download would take about 15 s; the operation limit ends it.
    let config = SimConfig {
        records: 10_000,
        faults: Faults {
            latency: Duration::from_millis(40),
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let env = start_app(
        vec![("principal", "Entrada Principal", config, Link::default())],
        Vec::new(),
        |s| s.budget.operation_limit = Duration::from_secs(2),
    );
    let started = Instant::now();
    let body = assert_fails_enabled(&env, "demasiado lento");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "took {took:?}: {body}");
    // The lock is free again: a quick operation is served at once.
    let (status, _) = get(&format!("{}/devices/principal/time", env.base));
    assert_eq!(status, 200);
}

#[test]
fn demo_listens_on_loopback_and_logs_in_one_format() {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["--demo", "--port", "0", "--log-level", "warn"]);
    let (mut child, line) = spawn_until(cmd, "listening on http://", false);
    let addr = addr_after(&line, "listening on http://");
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    let stamp = line.split_whitespace().next().unwrap();
    assert!(
        stamp.len() > 20 && stamp.ends_with('Z') && stamp.contains('T'),
        "timestamped: {line}"
    );
    assert!(line.contains(" [INFO] "), "with a level: {line}");
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn probe_reports_a_failure_once_in_english() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port().to_string();
    drop(dead);
    let out = std::process::Command::new(BIN)
        .args(["probe", "127.0.0.1", "--port", &port, "--timeout", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}{stderr}");
    assert_eq!(
        all.matches("connection refused").count(),
        1,
        "said once: {all}"
    );
    assert!(stderr.contains("[ERROR]"), "{stderr}");
    assert!(!all.contains("no se pudo"), "one language: {all}");
}
