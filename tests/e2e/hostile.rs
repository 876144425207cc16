//! Hostile HTTP input against the real binary: huge Content-Length, endless
//! header lines, idle and slow connections, garbage, chunked bodies, too many
//! connections, HTTP/1.0 and pipelining. The server must not crash and must
//! keep serving a legitimate client meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::process::{start_server, terminate};

fn server(extra: &[&str]) -> (Child, String) {
    let mut args = vec![
        "--demo",
        "--idle-timeout",
        "2",
        "--header-timeout",
        "2",
        "--log-level",
        "warn",
    ];
    args.extend_from_slice(extra);
    start_server(&args)
}

/// Writes `bytes` (ignoring errors: the server may close early) and reads
/// everything until the server closes or `wait` passes.
fn exchange(addr: &str, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(bytes);
    read_until_close(&mut s, wait)
}

fn read_until_close(s: &mut TcpStream, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let _ = s.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A legitimate client is served, quickly.
fn assert_serves(addr: &str) {
    let started = Instant::now();
    let resp = minreq::get(format!(
        "http://{addr}/devices/principal/attendance?limit=1"
    ))
    .with_timeout(10)
    .send()
    .expect("legitimate request served");
    assert_eq!(resp.status_code, 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

fn assert_alive(child: &mut Child, addr: &str) {
    assert!(child.try_wait().unwrap().is_none(), "server process died");
    assert_serves(addr);
}

fn status_of(response: &str) -> Option<u16> {
    response.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn huge_content_length_is_refused_without_crashing() {
    let (mut child, addr) = server(&[]);
    for method in ["GET /health", "POST /devices", "PUT /devices/principal"] {
        for length in ["99999999999", "18446744073709551615", "65537"] {
            let req =
                format!("{method} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}");
            let resp = exchange(&addr, req.as_bytes(), Duration::from_secs(5));
            assert_eq!(status_of(&resp), Some(413), "{method} {length}: {resp}");
            assert!(
                resp.contains("\"success\": false") && resp.contains("64 KiB"),
                "{resp}"
            );
        }
    }
    let resp = exchange(
        &addr,
        b"GET /health HTTP/1.1\r\nContent-Length: 123456789012345678901234567890\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&resp), Some(400), "{resp}");
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn endless_header_lines_and_garbage_get_json_errors() {
    let (mut child, addr) = server(&[]);
    let mut endless = b"GET /health HTTP/1.1\r\nX-Long: ".to_vec();
    endless.extend(std::iter::repeat_n(b'a', 4 << 20));
    let resp = exchange(&addr, &endless, Duration::from_secs(5));
    assert_eq!(
        status_of(&resp),
        Some(431),
        "{}",
        &resp[..resp.len().min(200)]
    );
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let resp = exchange(
        &addr,
        format!("GET /health HTTP/1.1\r\n{many}\r\n").as_bytes(),
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&resp), Some(431), "{resp}");

    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for junk in [
        &garbage[..],
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
        b"\0\0\0\0\r\n\r\n",
        b"GET\r\n\r\n",
    ] {
        let resp = exchange(&addr, junk, Duration::from_secs(5));
        assert!(resp.is_empty() || status_of(&resp) == Some(400), "{resp}");
    }
    let resp = exchange(
        &addr,
        b"POST /devices HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&resp), Some(411), "{resp}");
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn idle_and_slow_connections_do_not_starve_other_clients() {
    let (mut child, addr) = server(&["--max-connections", "1000"]);
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let slow: Vec<_> = (0..40)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                let _ = s.write_all(b"GET /health HTTP/1.1\r\n");
                for _ in 0..20 {
                    std::thread::sleep(Duration::from_millis(250));
                    if s.write_all(b"X").is_err() {
                        break;
                    }
                }
                read_until_close(&mut s, Duration::from_secs(6))
            })
        })
        .collect();
    for _ in 0..10 {
        assert_serves(&addr);
    }
    for h in slow {
        let resp = h.join().unwrap();
        assert_eq!(
            status_of(&resp),
            Some(408),
            "slow header gets a timeout: {resp}"
        );
    }
    // Idle connections are closed after the idle timeout (2 s here).
    std::thread::sleep(Duration::from_millis(500));
    for mut s in idle.into_iter().take(20) {
        assert_eq!(
            read_until_close(&mut s, Duration::from_secs(3)),
            "",
            "idle connection closed quietly"
        );
    }
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn too_many_connections_get_a_503() {
    let (mut child, addr) = server(&["--max-connections", "5"]);
    let held: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let resp = exchange(
        &addr,
        b"GET /health HTTP/1.1\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&resp), Some(503), "{resp}");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn http10_and_pipelined_requests() {
    let (mut child, addr) = server(&[]);
    let resp = exchange(
        &addr,
        b"GET /health HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(
        resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
        "{resp}"
    );
    assert!(resp.contains("\"status\": \"ok\""), "{resp}");

    let pipelined = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /devices?pretty=0 HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let resp = exchange(&addr, pipelined, Duration::from_secs(5));
    let statuses: Vec<&str> = resp
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &resp[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "404"], "{resp}");
    let first_body = resp.find("\"ok\"").unwrap();
    let second = resp.find("\"total\":2").unwrap();
    let third = resp.find("Ruta no encontrada: GET /nope.").unwrap();
    assert!(first_body < second && second < third, "responses in order");

    // A body sent with Expect: 100-continue, as curl does for larger bodies.
    let body = format!("{{\"id\": \"x\", \"pad\": \"{}\"}}", "p".repeat(2000));
    let req = format!(
        "POST /devices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let resp = exchange(&addr, req.as_bytes(), Duration::from_secs(5));
    assert!(
        resp.contains("HTTP/1.1 403"),
        "writes are disabled without a key: {resp}"
    );
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}
