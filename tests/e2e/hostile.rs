//! Hostile HTTP input against the real binary: huge Content-Length, endless
//! header lines, idle and slow connections, garbage, chunked bodies, too many
//! connections, HTTP/1.0 and pipelining. The server must not crash and must
//! keep serving a legitimate client meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::process::{start_server, terminate, Running};
use crate::common::{connect_from, raw_exchange, small_env, status_line};

fn server(extra: &[&str]) -> (Running, String) {
    server_idle("2", extra)
}

/// A demo server whose idle connections are kept `idle` seconds.
fn server_idle(idle: &str, extra: &[&str]) -> (Running, String) {
    // Without the demo's push terminal: its polls would take connections
    // and descriptors these tests count.
    let mut args = vec![
        "--demo",
        "--no-demo-push",
        "--idle-timeout",
        idle,
        "--header-timeout",
        "2",
        "--log-level",
        "warn",
    ];
    args.extend_from_slice(extra);
    let (child, addr) = start_server(&args);
    // The demo terminals are collected (the default): once their first
    // read is in the journal, the collectors hold no connection and the
    // descriptors and memory these tests count are the requests' own.
    wait_demo_collected(&addr);
    (child, addr)
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
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 123456789012345678901234567890\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(
        status_of(&resp),
        Some(413),
        "too large, not malformed: {resp}"
    );
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
            read_until_close(&mut s, Duration::from_secs(15)),
            "",
            "idle connection closed quietly"
        );
    }
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

/// A demo server whose clients may be slow for a minute (heads, bodies,
/// idleness), so only the slot limits decide who is served.
fn patient_server(extra: &[&str]) -> (Running, String) {
    let mut args = vec![
        "--demo",
        "--no-demo-push",
        "--idle-timeout",
        "60",
        "--header-timeout",
        "60",
        "--request-timeout",
        "60",
        "--log-level",
        "error",
    ];
    args.extend_from_slice(extra);
    start_server(&args)
}

/// Sends a head announcing a body and waits for `100 Continue`: the
/// server has taken the request and waits for a body that never comes.
fn slow_body(from: [u8; 4], addr: &str, target: &str) -> TcpStream {
    let mut s = connect_from(from, addr);
    s.write_all(
        format!("POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(got.starts_with("HTTP/1.1 100"), "{target}: {got}");
    s
}

/// Opens an event stream; returns it with the status it got.
fn open_stream(from: [u8; 4], addr: &str, extra: &str) -> (TcpStream, Option<u16>) {
    let mut s = connect_from(from, addr);
    s.write_all(format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let status = status_of(&String::from_utf8_lossy(&head));
    (s, status)
}

#[test]
fn when_every_slot_does_work_a_new_request_gets_a_503() {
    // 4 slots: 1 for push terminals, 1 for streams, 2 for the API.
    let (mut child, addr) = patient_server(&["--max-connections", "4"]);
    let (stream, status) = open_stream([127, 0, 0, 2], &addr, "");
    assert_eq!(status, Some(200));
    let upload = slow_body(
        [127, 0, 0, 3],
        &addr,
        "/iclock/cdata?SN=DEMOPUSH0001&table=ATTLOG",
    );
    let api = slow_body([127, 0, 0, 4], &addr, "/devices");
    let api2 = slow_body([127, 0, 0, 5], &addr, "/devices");
    let health = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let resp = ask(&addr, health);
    assert_eq!(status_of(&resp), Some(503), "{resp}");
    assert!(body_of(&resp).contains("Servidor ocupado"), "{resp}");
    drop(api);
    crate::common::wait_until("a slot freed by a client that left", || {
        status_of(&ask(&addr, health)) == Some(200)
    });
    drop((upload, api2, stream));
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
    // The demo: two pull terminals and the push terminal.
    let second = resp.find("\"total\":3").unwrap();
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

/// One request on a fresh connection, answered within 10 s.
fn ask(addr: &str, bytes: &[u8]) -> String {
    exchange(addr, bytes, Duration::from_secs(10))
}

/// The body of a response (after the blank line), if complete.
fn body_of(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn framing_follows_rfc_9112() {
    let (mut child, addr) = server(&[]);
    // A sign is not part of a Content-Length.
    let resp = ask(
        &addr,
        b"POST /devices HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n{}\n",
    );
    assert_eq!(status_of(&resp), Some(400), "{resp}");
    // LF then CRLF ends a head, as it does for nginx: answered at once.
    let started = Instant::now();
    let resp = ask(
        &addr,
        b"GET /health HTTP/1.1\nHost: x\nConnection: close\n\r\n",
    );
    assert_eq!(status_of(&resp), Some(200), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(2), "not a timeout");
    // HTTP/1.1 needs exactly one Host.
    for bad in [
        &b"GET /health HTTP/1.1\r\n\r\n"[..],
        b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let resp = ask(&addr, bad);
        assert_eq!(status_of(&resp), Some(400), "{resp}");
        assert!(body_of(&resp).contains("Host"), "{resp}");
    }
    // Absolute-form targets are served by their path and query.
    let resp = ask(
        &addr,
        b"GET http://zk.example:5000/devices?pretty=0 HTTP/1.1\r\nHost: zk.example:5000\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&resp), Some(200), "{resp}");
    assert!(body_of(&resp).contains("\"total\":3"), "{resp}");
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn http10_keep_alive_is_announced_and_kept() {
    let (mut child, addr) = server(&[]);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let mut answers = Vec::new();
    for _ in 0..2 {
        s.write_all(req).unwrap();
        answers.push(read_one_response(&mut s));
    }
    for resp in &answers {
        assert_eq!(status_of(resp), Some(200), "{resp}");
        assert!(
            resp.to_ascii_lowercase()
                .contains("\r\nconnection: keep-alive\r\n"),
            "an HTTP/1.0 client is told the connection stays: {resp}"
        );
    }
    assert_eq!(terminate(&mut child), 0);
}

/// Reads one response with a Content-Length from `s`.
fn read_one_response(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("response head"), 1, "closed early");
        out.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&out).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn refusals_to_head_requests_carry_no_body() {
    let (mut child, addr) = server(&[]);
    for req in [
        &b"HEAD /health HTTP/1.1\r\n\r\n"[..],
        b"HEAD /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
        b"HEAD /health HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
    ] {
        let resp = ask(&addr, req);
        assert!(matches!(status_of(&resp), Some(400 | 413)), "{resp}");
        assert!(
            resp.ends_with("\r\n\r\n"),
            "no body after the head: {resp:?}"
        );
    }
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn an_encoded_slash_does_not_change_the_route() {
    let (mut child, addr) = server(&[]);
    let get = |path: &str| {
        ask(
            &addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    let resp = get("/devices/principal");
    assert_eq!(status_of(&resp), Some(200), "{resp}");
    let resp = get("/devices%2Fprincipal");
    assert_eq!(status_of(&resp), Some(404), "{resp}");
    assert!(body_of(&resp).contains("Ruta no encontrada"), "{resp}");
    // One segment, `principal/ping`: the device route, an unknown device.
    let resp = get("/devices/principal%2Fping");
    assert_eq!(status_of(&resp), Some(404), "{resp}");
    assert!(body_of(&resp).contains("principal/ping"), "{resp}");
    assert!(body_of(&resp).contains("disponibles"), "{resp}");
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn a_trickling_body_meets_the_request_deadline() {
    let (mut child, addr) = server(&["--request-timeout", "3"]);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /devices HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    // One byte every 300 ms: each piece well within the 2 s between pieces.
    let mut closed = false;
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(300));
        if s.write_all(b" ").is_err() {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    let resp = read_until_close(&mut s, Duration::from_secs(5));
    assert!(
        closed || status_of(&resp) == Some(408),
        "the request is cut at its deadline: {resp}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

/// The server's CPU time (user + system) in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Descriptors the process holds.
/// Waits until every demo pull terminal's first collecting read is in the
/// journal (its collector stores what it read after closing the
/// connection): then the collectors hold no connection for minutes.
fn wait_demo_collected(addr: &str) {
    let (_, devices) = crate::common::get(&format!("http://{addr}/devices"));
    let ids: Vec<String> = devices["data"]
        .as_array()
        .map(|d| {
            // Pull terminals (with an address; the push one is off here).
            d.iter()
                .filter(|x| x["ip"].as_str().is_some_and(|ip| !ip.is_empty()))
                .filter_map(|x| x["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(!ids.is_empty(), "{devices}");
    crate::common::wait_until("the demo terminals are collected", || {
        ids.iter().all(|id| {
            let url =
                format!("http://{addr}/devices/{id}/attendance?source=journal&limit=1&pretty=0");
            crate::common::get(&url).1["matched"].as_u64().unwrap_or(0) > 0
        })
    });
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn an_idle_keep_alive_connection_holds_one_descriptor() {
    if crate::common::process::windows() {
        return; // Linux descriptors (/proc, prlimit); Windows sockets are handles
    }
    let (mut child, addr) = server_idle("60", &[]);
    let pid = child.id();
    let before = open_fds(pid);
    let mut conns = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(status_of(&read_one_response(&mut s)), Some(200));
        conns.push(s);
    }
    // Now all 20 wait idle for a next request.
    let held = open_fds(pid) - before;
    assert!(held <= 22, "20 idle connections hold {held} descriptors");
    drop(conns);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn connections_are_capped_below_the_open_files_limit() {
    if crate::common::process::windows() {
        return; // ulimit, /proc
    }
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "ulimit -n 64 && exec \"$0\" \"$@\""])
        .arg(crate::common::process::BIN)
        .args([
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--log-level",
            "warn",
        ])
        .args(["--max-connections", "512", "--idle-timeout", "30"]);
    let (mut child, line) = crate::common::process::spawn_until(cmd, "listening on http://", false);
    let addr = crate::common::process::addr_after(&line, "listening on http://");
    let pid = child.id();
    // Far more idle connections than 64 descriptors allow: the oldest ones
    // are closed to make room (or, out of descriptors, answered 503); none
    // takes a descriptor the server does not have.
    let held: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // A new client is served promptly: an idle connection makes room.
    let started = Instant::now();
    let resp = ask(
        &addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&resp), Some(200), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(open_fds(pid) <= 64);
    let closed = held
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut buf = [0u8; 512];
            (&**s).read(&mut buf).is_ok()
        })
        .count();
    assert!(closed >= 40, "only {closed} of 80 idle connections closed");
    drop(held);
    assert!(child.try_wait().unwrap().is_none(), "server process died");
    let _ = cpu_ticks(pid);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn out_of_descriptors_the_server_answers_503_and_does_not_spin() {
    if crate::common::process::windows() {
        return; // Linux descriptors (/proc, prlimit); Windows sockets are handles
    }
    let (mut child, addr) = server_idle("60", &[]);
    let pid = child.id();
    // Leave the server three descriptors more than it holds now.
    let limit = open_fds(pid) + 3;
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(status.success());
    let mut held = Vec::new();
    let mut answered = 0;
    for _ in 0..10 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                assert!(
                    text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.1 503"),
                    "{text}"
                );
                answered += usize::from(text.starts_with("HTTP/1.1 503"));
            }
            Ok(_) => {}
            Err(e) => panic!("a client was left waiting: {e}"),
        }
        held.push(s);
    }
    assert!(answered >= 5, "only {answered} clients told 503");
    // At the limit, with nothing to accept, the server must sleep, not spin.
    let before = cpu_ticks(pid);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(pid) - before;
    let window = started.elapsed().as_secs_f64();
    assert!(
        (used as f64) < 0.25 * 100.0 * window,
        "{used} ticks of CPU in {window:.1} s: the accept loop spins"
    );
    assert!(child.try_wait().unwrap().is_none(), "server process died");
    drop(held);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn a_slow_reader_meets_the_response_deadline() {
    use std::sync::Arc;
    use zkserver::http::conn::Limits;
    use zkserver::http::App;
    use zkserver::registry::Registry;
    use zkserver::server::Server;
    use zkserver::services::{Services, Settings};
    use zkserver::sim::{SimConfig, Simulator};

    let sim = Simulator::start(SimConfig {
        records: 40_000,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let config =
        crate::common::device_config("Entrada", sim.port(), &crate::common::Link::default());
    let registry = Registry::in_memory(vec![("principal".to_string(), config)]);
    let services = Services::start(Arc::new(registry), Settings::default());
    let app = App::new(services, Default::default());
    // 2 s plus 1 s per MB: a ~7 MB answer must be taken within ~10 s of
    // blocked writes, however the client paces its reads.
    let limits = Limits {
        write_timeout: Duration::from_secs(2),
        min_send_rate: 1 << 20,
        ..Limits::default()
    };
    let server = Server::bind_with("127.0.0.1:0", app, limits).expect("server binds");
    let (addr, stop, handle) = server.spawn();

    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.write_all(
        b"GET /devices/principal/attendance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    // About 10 KB/s for 30 s: the whole answer would take over ten minutes.
    while started.elapsed() < Duration::from_secs(30) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("no data for 30 s after {} bytes", received.len())
            }
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then read fast: what the kernel still held arrives, and the stream
    // ends without its last chunk, because the server gave up on it.
    let _ = s.read_to_end(&mut received);
    assert!(received.starts_with(b"HTTP/1.1 200"), "the answer started");
    assert!(
        !received.ends_with(b"\r\n0\r\n\r\n"),
        "the whole answer ({} bytes) was sent to a client reading 10 KB/s",
        received.len()
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = handle.join();
}

#[test]
fn head_limits_are_the_documented_ones() {
    let env = small_env();
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

/// A line of `/proc/<pid>/status` in kB (`VmSize`, `VmRSS`).
fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// A demo server started with glibc's malloc limited to one arena, so its
/// address space follows what it allocates (not per-thread arenas).
fn server_one_arena(extra: &[&str]) -> (Running, String) {
    let (child, addr) = server_one_arena_with(&["--demo", "--no-demo-push"], extra);
    wait_demo_collected(&addr);
    (child, addr)
}

/// A server started with `args` and glibc's malloc limited to one arena.
fn server_one_arena_with(args: &[&str], extra: &[&str]) -> (Running, String) {
    let mut cmd = crate::common::process::command();
    cmd.env("MALLOC_ARENA_MAX", "1")
        .args(["--host", "127.0.0.1", "--port", "0", "--log-level", "warn"])
        .args(args)
        .args(extra);
    let (child, line) = crate::common::process::spawn_until(cmd, "listening on http://", false);
    let addr = crate::common::process::addr_after(&line, "listening on http://");
    (child, addr)
}

#[test]
fn a_declared_body_length_is_not_reserved_before_the_data_arrives() {
    if crate::common::process::windows() {
        return; // /proc
    }
    let (mut child, addr) = server_one_arena(&[]);
    let pid = child.id();
    assert_serves(&addr);
    let before = proc_status_kb(pid, "VmSize");
    let fds = open_fds(pid);
    // 40 uploads that declare 16 000 000 bytes and send 10: the server
    // reads a few of them as the data comes, the others wait for their turn.
    let mut held = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(
            b"POST /iclock/cdata?SN=NOPE&table=ATTLOG HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n0123456789",
        )
        .unwrap();
        held.push(s);
    }
    // The demo's collectors read their terminals every few seconds, each
    // read holding up to two descriptors per terminal for a moment: the
    // count before may have held four that are closed by now.
    crate::common::wait_until("the server holds the uploads", || {
        open_fds(pid) + 4 >= fds + 40
    });
    assert_serves(&addr);
    let grown_mb = proc_status_kb(pid, "VmSize").saturating_sub(before) / 1024;
    // Reserved up front, 40 × 16 MB = 640 MB; as data arrives, a few MB
    // (buffers and thread stacks).
    assert!(
        grown_mb < 200,
        "40 slow uploads grew the address space by {grown_mb} MB"
    );
    drop(held);
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn an_upload_path_gets_the_same_route_and_limit_however_it_is_spelled() {
    let (mut child, addr) = server(&[]);
    // ~100 KiB of punches: over the API's 64 KiB, within an upload's 16 MiB.
    let lines: String = (0..2000)
        .map(|i| {
            format!(
                "{}\t2024-03-01 08:{:02}:{:02}\t0\t1\t\t0\t0\n",
                700 + i,
                i / 60 % 60,
                i % 60
            )
        })
        .collect();
    let lines = lines.repeat(2);
    assert!(lines.len() > 64 * 1024, "{}", lines.len());
    for path in [
        "/iclock/cdata",
        "//iclock/cdata",
        "/%69clock/cdata",
        "/iclock//%63data",
    ] {
        let req = format!(
            "POST {path}?SN=DEMOPUSH0001&table=ATTLOG&Stamp=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{lines}",
            lines.len()
        );
        let resp = ask(&addr, req.as_bytes());
        assert_eq!(status_of(&resp), Some(200), "{path}: {resp}");
        assert!(body_of(&resp).starts_with("OK:"), "{path}: {resp}");
    }
    // Spelled any way, an API path keeps the API's limit.
    let req = format!(
        "POST //%64evices HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        lines.len()
    );
    let resp = ask(&addr, req.as_bytes());
    assert_eq!(status_of(&resp), Some(413), "{resp}");
    assert!(body_of(&resp).contains("64 KiB"), "{resp}");
    assert_eq!(terminate(&mut child), 0);
}

/// Threads of process `pid`.
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

#[test]
fn attendance_all_reads_terminals_with_a_bounded_pool_of_threads() {
    use zkserver::sim::Simulator;
    if crate::common::process::windows() {
        return; // /proc
    }
    let sims: Vec<Simulator> = (0..20)
        .map(|_| {
            Simulator::start(crate::common::slow_sim(20, Duration::from_millis(20)))
                .expect("simulator starts")
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("zk-attendance-pool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let devices: serde_json::Map<String, serde_json::Value> = sims
        .iter()
        .enumerate()
        .map(|(i, sim)| {
            let entry = serde_json::json!({"ip": "127.0.0.1", "port": sim.port(), "timeout": 20});
            (format!("t{i}"), entry)
        })
        .collect();
    let file = dir.join("devices.json");
    std::fs::write(&file, serde_json::Value::Object(devices).to_string()).unwrap();
    let (mut child, addr) =
        start_server(&["--config", file.to_str().unwrap(), "--log-level", "warn"]);
    let pid = child.id();
    let before = thread_count(pid);
    // 10 requests at once, each over 20 slow terminals: one thread per
    // terminal per request would be 200 more threads.
    let clients: Vec<_> = (0..10)
        .map(|_| {
            let url = format!("http://{addr}/attendance/all?pretty=0");
            std::thread::spawn(move || minreq::get(url).with_timeout(120).send())
        })
        .collect();
    let mut peak = 0;
    while clients.iter().any(|c| !c.is_finished()) {
        peak = peak.max(thread_count(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    for client in clients {
        let resp = client.join().unwrap().expect("answered");
        assert_eq!(resp.status_code, 200);
        let body: serde_json::Value = serde_json::from_str(resp.as_str().unwrap()).unwrap();
        assert_eq!(body["total"], 20 * 20, "every terminal read: {body}");
    }
    // 10 connection threads and at most 32 readers (plus what the server
    // keeps for the terminals it has met).
    let grown = peak.saturating_sub(before);
    assert!(grown <= 80, "{grown} more threads for 10 requests");
    assert_eq!(terminate(&mut child), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Like [`slow_body`], but the server may refuse: the status it answered.
fn try_slow_body(from: [u8; 4], addr: &str, target: &str) -> Result<TcpStream, Option<u16>> {
    let mut s = connect_from(from, addr);
    let head = format!("POST {target} HTTP/1.1\r\nHost: {addr}\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n");
    let _ = s.write_all(head.as_bytes());
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
    if got.starts_with("HTTP/1.1 100") {
        Ok(s)
    } else {
        Err(status_of(&got))
    }
}

#[test]
fn idle_slowloris_and_slow_upload_clients_cannot_lock_everyone_out() {
    // 60 slots: 15 for push terminals, 15 for streams, 30 for the API; at
    // most 30 doing nothing (16 per address). The demo's push terminal may
    // speak from any loopback address (else it is pinned to its first).
    let (mut child, addr) = patient_server(&[
        "--max-connections",
        "60",
        "--push-allow-from",
        "127.0.0.0/8",
    ]);
    let mut held = Vec::new();
    // 10 uploads to /iclock that never send their body.
    for i in 0..10u8 {
        held.push(slow_body(
            [127, 0, 0, 30 + i % 2],
            &addr,
            "/iclock/cdata?SN=DEMOPUSH0001&table=ATTLOG",
        ));
    }
    // 40 slowloris heads from 4 addresses.
    for i in 0..40u8 {
        let mut s = connect_from([127, 0, 0, 10 + i % 4], &addr);
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
        held.push(s);
    }
    // 40 idle keep-alive connections from 4 other addresses.
    for i in 0..40u8 {
        let mut s = connect_from([127, 0, 0, 20 + i % 4], &addr);
        let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        if s.write_all(request.as_bytes()).is_ok() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
        }
        held.push(s);
    }
    // Another client, a terminal's poll and the API are served at once.
    let from = [127, 0, 0, 40];
    let get = |path: &str| {
        let mut s = connect_from(from, &addr);
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).unwrap();
        read_until_close(&mut s, Duration::from_secs(10))
    };
    for path in [
        "/health",
        "/iclock/getrequest?SN=DEMOPUSH0001",
        "/devices?pretty=0",
    ] {
        let started = Instant::now();
        let resp = get(path);
        assert_eq!(status_of(&resp), Some(200), "{path}: {resp}");
        assert!(started.elapsed() < Duration::from_secs(3), "{path}");
    }
    // 10 more slow uploads: the push budget fills (503 for the extra ones)
    // and the API is still served.
    let refused = (0..10u8)
        .filter_map(|i| {
            match try_slow_body(
                [127, 0, 0, 32 + i % 2],
                &addr,
                "/iclock/cdata?SN=DEMOPUSH0001&table=ATTLOG",
            ) {
                Ok(s) => {
                    held.push(s);
                    None
                }
                Err(status) => Some(status),
            }
        })
        .collect::<Vec<_>>();
    assert_eq!(refused, vec![Some(503); 5], "15 uploads at once, no more");
    let resp = get("/health");
    assert_eq!(status_of(&resp), Some(200), "{resp}");
    drop(held);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn event_streams_are_capped_per_client_and_overall() {
    // 80 slots: 20 for streams, 8 per client.
    let (mut child, addr) = patient_server(&["--max-connections", "80"]);
    let mut open = Vec::new();
    // A refused stream first waits a second for room (a client
    // reconnecting may find its old stream not yet noticed as closed).
    let mut statuses = |from: [u8; 4], extra: &str, tries: usize| -> Vec<Option<u16>> {
        (0..tries)
            .map(|_| {
                let (s, status) = open_stream(from, &addr, extra);
                open.push(s);
                status
            })
            .collect()
    };
    let ok_then_refused = |ok: usize| {
        let mut v = vec![Some(200); ok];
        v.push(Some(503));
        v
    };
    assert_eq!(
        statuses([127, 0, 0, 2], "", 9),
        ok_then_refused(8),
        "one client"
    );
    // Through a trusted proxy (nginx on 127.0.0.1) each forwarded client
    // has its share, until the streams' budget is spent.
    let nginx = [127, 0, 0, 1];
    let client_a = "X-Forwarded-For: 198.51.100.7\r\n";
    assert_eq!(statuses(nginx, client_a, 9), ok_then_refused(8));
    let client_b = "X-Real-IP: 198.51.100.8\r\n";
    assert_eq!(
        statuses(nginx, client_b, 5),
        ok_then_refused(4),
        "20 in all"
    );
    // Everyone else is still served. The demo's push terminal polls from
    // 127.0.0.1 and is pinned to the address it first came from (which
    // it may already have done, the demo's pull terminals being collected
    // at start meanwhile): its poll comes from there.
    for (path, from) in [
        ("/health", [127, 0, 0, 3]),
        ("/iclock/getrequest?SN=DEMOPUSH0001", [127, 0, 0, 1]),
    ] {
        let mut s = connect_from(from, &addr);
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).unwrap();
        let resp = read_until_close(&mut s, Duration::from_secs(10));
        assert_eq!(status_of(&resp), Some(200), "{path}: {resp}");
    }
    drop(open);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn readers_that_stop_reading_are_dropped_with_what_their_answers_held() {
    use zkserver::sim::{SimConfig, Simulator};
    if crate::common::process::windows() {
        return; // /proc
    }
    let sim = Simulator::start(SimConfig {
        records: 100_000,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = std::env::temp_dir().join(format!("zk-stalled-readers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("devices.json");
    // A quiet terminal: no collector reads it meanwhile.
    let devices = format!(
        r#"{{"principal": {{"ip": "127.0.0.1", "port": {}, "timeout": 20, "collect": false}}}}"#,
        sim.port()
    );
    std::fs::write(&file, devices).unwrap();
    let (mut child, addr) = server_one_arena_with(
        &["--config", file.to_str().unwrap()],
        &["--write-timeout", "2"],
    );
    let pid = child.id();
    let url = format!("http://{addr}/devices/principal/attendance?limit=1");
    assert_eq!(
        minreq::get(url)
            .with_timeout(60)
            .send()
            .unwrap()
            .status_code,
        200
    );
    let (rss_before, fds_before) = (proc_status_kb(pid, "VmRSS"), open_fds(pid));
    // 16 clients ask for the 100 000 punches (~12 MB of JSON each) and
    // never read.
    let started = Instant::now();
    let readers: Vec<TcpStream> = (0..16)
        .map(|_| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            socket.connect(&addr.parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
            let mut s: TcpStream = socket.into();
            s.write_all(b"GET /devices/principal/attendance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut peak = 0;
    crate::common::wait_until("the readers are served", || {
        peak = peak.max(proc_status_kb(pid, "VmRSS"));
        open_fds(pid) >= fds_before + 16
    });
    crate::common::wait_until("the stalled readers are dropped", || {
        peak = peak.max(proc_status_kb(pid, "VmRSS"));
        open_fds(pid) <= fds_before
    });
    let held = started.elapsed();
    // A few seconds to download and prepare the answers, then 2 s without
    // progress drops each reader (it used to be held for minutes).
    assert!(held < Duration::from_secs(25), "held {held:?}");
    // The readers share one or two downloads and hold a few bytes per punch
    // each (a copy each was ~11 MB: 16 of them, over 170 MB).
    let grown_mb = peak.saturating_sub(rss_before) / 1024;
    assert!(grown_mb < 140, "16 stalled readers took {grown_mb} MB");
    drop(readers);
    assert_alive_plain(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server process is alive and answers `/health`.
fn assert_alive_plain(child: &mut Child, addr: &str) {
    assert!(child.try_wait().unwrap().is_none(), "server process died");
    let resp = minreq::get(format!("http://{addr}/health"))
        .with_timeout(10)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
}

/// A connection to `addr` with a small send buffer, so what the client has
/// sent is close to what the server has read.
fn connect_small_send_buffer(addr: &str) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_send_buffer_size(16 * 1024).unwrap();
    socket
        .connect(&addr.parse::<std::net::SocketAddr>().unwrap().into())
        .unwrap();
    socket.into()
}

/// Sends `body` in 16 KiB pieces from another thread, counting the bytes
/// the connection took, until it is all sent or the connection fails.
fn send_in_pieces(
    s: &TcpStream,
    body: std::sync::Arc<Vec<u8>>,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::thread::JoinHandle<()>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sent = std::sync::Arc::new(AtomicUsize::new(0));
    let mut writer = s.try_clone().unwrap();
    let counter = sent.clone();
    let thread = std::thread::spawn(move || {
        for piece in body.chunks(16 * 1024) {
            if writer.write_all(piece).is_err() {
                break;
            }
            counter.fetch_add(piece.len(), Ordering::SeqCst);
        }
    });
    (sent, thread)
}

#[test]
fn a_refused_serial_is_answered_before_its_body_is_read() {
    use std::sync::atomic::Ordering;
    let (mut child, addr) = server(&["--push-unknown", "reject"]);
    let len = 16_000_000;
    let head = format!(
        "POST /iclock/cdata?SN=STRANGER1&table=ATTLOG HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n"
    );
    let mut s = connect_small_send_buffer(&addr);
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let body = std::sync::Arc::new(b"1\t2026-03-01 08:00:00\t0\t1\n".repeat(len / 25));
    let (sent, writer) = send_in_pieces(&s, body);
    let resp = read_one_response(&mut s);
    let sent_then = sent.load(Ordering::SeqCst);
    assert_eq!(status_of(&resp), Some(403), "{resp}");
    assert!(body_of(&resp).contains("unknown serial"), "{resp}");
    // The server read a few pieces at most (it used to read all 16 MB
    // before looking at the serial).
    assert!(
        sent_then < len / 4,
        "the 403 came after {sent_then} of {len} bytes"
    );
    drop(s);
    writer.join().unwrap();
    // A client that waits for 100 Continue gets the 403 instead.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        format!(
            "POST /iclock/cdata?SN=STRANGER1&table=ATTLOG HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {len}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let resp = read_one_response(&mut s);
    assert_eq!(status_of(&resp), Some(403), "{resp}");
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn ten_large_uploads_at_once_hold_little_memory() {
    use std::sync::atomic::Ordering;
    if crate::common::process::windows() {
        return; // /proc
    }
    let (mut child, addr) = server_one_arena(&[]);
    let pid = child.id();
    assert_serves(&addr);
    // 16 MB of punches (long lines: few rows to store, the time stays small).
    let pad = "0".repeat(2000);
    let mut body = String::new();
    let mut i = 0;
    while body.len() < 16_000_000 {
        body.push_str(&format!(
            "{}\t2024-05-{:02} {:02}:{:02}:00\t0\t1\t\t0\t0\t0\t{pad}\n",
            1 + i % 50,
            1 + i / 1440 % 28,
            i / 60 % 24,
            i % 60
        ));
        i += 1;
    }
    let lines = i;
    let body = std::sync::Arc::new(body.into_bytes());
    let rss_before = proc_status_kb(pid, "VmRSS");
    let uploads: Vec<_> = (0..10)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
            let head = format!(
                "POST /iclock/cdata?SN=DEMOPUSH0001&table=ATTLOG&Stamp=9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            let (sent, writer) = send_in_pieces(&s, body.clone());
            let reader = std::thread::spawn(move || read_until_close(&mut s, Duration::from_secs(120)));
            (sent, writer, reader)
        })
        .collect();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    while !uploads.iter().all(|u| u.2.is_finished()) {
        peak = peak.max(proc_status_kb(pid, "VmRSS"));
        assert!(Instant::now() < deadline, "uploads still running");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stored = 0;
    for (sent, writer, reader) in uploads {
        let resp = reader.join().unwrap();
        writer.join().unwrap();
        match status_of(&resp) {
            Some(200) => {
                assert_eq!(body_of(&resp), format!("OK:{lines}"), "{resp}");
                assert_eq!(sent.load(Ordering::SeqCst), body.len());
                stored += 1;
            }
            // No turn within a few seconds: the terminal sends it again.
            Some(503) => assert!(body_of(&resp).contains("busy"), "{resp}"),
            _ => panic!("{resp}"),
        }
    }
    assert!(stored >= 1, "no upload was stored");
    // Held whole, ten bodies were 160 MB (and their parsed punches more).
    let grown_mb = peak.saturating_sub(rss_before) / 1024;
    assert!(grown_mb < 48, "ten 16 MB uploads took {grown_mb} MB");
    assert_alive(&mut child, &addr);
    assert_eq!(terminate(&mut child), 0);
}
