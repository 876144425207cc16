//! Write protection: 403 without a configured key (unless open writes are
//! allowed), 401 without the right key, both header forms, protected reads.

use crate::common::*;
use serde_json::{json, Value};
use zkserver::sim::SimConfig;

fn env(key: Option<&str>, open: bool, protect_reads: bool) -> Env {
    let key = key.map(str::to_string);
    start_app(
        vec![("principal", "P", SimConfig::default(), Link::default())],
        vec![],
        move |app| {
            app.security.api_key = key;
            app.security.allow_open_writes = open;
            app.security.protect_reads = protect_reads;
        },
    )
}

fn post_device(env: &Env, headers: &[(&str, &str)]) -> (i32, Value) {
    let mut req = minreq::post(format!("{}/devices", env.base))
        .with_header("Content-Type", "application/json")
        .with_body(json!({"id": "nuevo", "name": "N", "ip": "10.0.0.1"}).to_string());
    for (k, v) in headers {
        req = req.with_header(*k, *v);
    }
    let resp = req.send().unwrap();
    (
        resp.status_code,
        serde_json::from_str(resp.as_str().unwrap()).unwrap(),
    )
}

#[test]
fn writes_without_a_configured_key_are_refused_with_instructions() {
    let env = env(None, false, false);
    let (status, body) = post_device(&env, &[]);
    assert_eq!(status, 403);
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("--api-key-file")
            && msg.contains("API_KEY")
            && msg.contains("--allow-open-writes"),
        "{msg}"
    );
    for (method, path) in [
        ("PUT", "/devices/principal"),
        ("DELETE", "/devices/principal"),
        ("POST", "/devices/principal/sync-time"),
        ("POST", "/devices/principal/users"),
    ] {
        let (status, _) = send(method, &format!("{}{path}", env.base), json!({}));
        assert_eq!(status, 403, "{method} {path}");
    }
    let (status, _) = get(&format!("{}/devices/principal/attendance", env.base));
    assert_eq!(status, 200, "reads stay open");
}

#[test]
fn open_writes_when_allowed() {
    let env = env(None, true, false);
    assert_eq!(post_device(&env, &[]).0, 200);
}

#[test]
fn the_key_is_required_and_checked() {
    let env = env(Some("s3creta-clave"), false, false);
    let (status, body) = post_device(&env, &[]);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("No autorizado."))
    );
    assert_eq!(
        post_device(&env, &[("Authorization", "Bearer s3creta-clavE")]).0,
        401
    );
    assert_eq!(post_device(&env, &[("X-API-Key", "s3creta")]).0, 401);
    assert_eq!(
        post_device(&env, &[("Authorization", "Basic s3creta-clave")]).0,
        401
    );
    assert_eq!(
        post_device(&env, &[("Authorization", "Bearer s3creta-clave")]).0,
        200
    );
    let resp = minreq::delete(format!("{}/devices/nuevo", env.base))
        .with_header("X-API-Key", "s3creta-clave")
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    assert_eq!(
        get(&format!("{}/devices", env.base)).0,
        200,
        "reads open by default"
    );
}

#[test]
fn protected_reads_need_the_key_but_health_does_not() {
    let env = env(Some("s3creta-clave"), false, true);
    let (status, body) = get(&format!("{}/devices", env.base));
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("No autorizado."))
    );
    assert_eq!(
        get(&format!("{}/devices/principal/attendance", env.base)).0,
        401
    );
    assert_eq!(get(&format!("{}/health", env.base)).0, 200);
    let resp = minreq::get(format!("{}/devices", env.base))
        .with_header("Authorization", "bearer s3creta-clave")
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    assert_eq!(get(&format!("{}/no/such/route", env.base)).0, 404);
}

/// The binary with `API_KEY` set, at log level info, and every line it
/// writes to stderr.
fn logged_server(
    extra: &[&str],
) -> (
    process::Running,
    String,
    std::thread::JoinHandle<Vec<String>>,
) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(process::BIN)
        .args([
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--log-level",
            "info",
        ])
        .args(extra)
        .env("API_KEY", SECRET)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map(process::Running)
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stderr).split(b'\n') {
            let line = String::from_utf8_lossy(&line.unwrap()).into_owned();
            if line.contains("listening on http://") {
                let _ = tx.send(line.clone());
            }
            lines.push(line);
        }
        lines
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("startup line");
    let addr = process::addr_after(&line, "listening on http://");
    (child, addr, reader)
}

const SECRET: &str = "s3creta-clave-larga";

/// Sends raw bytes and returns the answer (the server closes after it).
fn raw_exchange(addr: &str, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn odd_authorization_headers_neither_panic_nor_log_the_key() {
    let (mut child, addr, reader) = logged_server(&[]);
    for auth in [
        format!("Beareré {SECRET}"),
        format!("Bearé {SECRET}"),
        format!("ééééé{SECRET}"),
        format!("Bearer {SECRET}é"),
    ] {
        let req = format!(
            "POST /devices HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        let resp = raw_exchange(&addr, req.as_bytes());
        assert!(resp.starts_with("HTTP/1.1 401"), "{auth}: {resp}");
    }
    process::terminate(&mut child);
    let lines = reader.join().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("refused (missing or wrong API key)")),
        "refusals are logged: {lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains(SECRET), "the key reached the log: {line}");
        assert!(!line.contains("panic"), "{line}");
    }
}

#[test]
fn client_input_cannot_forge_log_lines() {
    let (mut child, addr, reader) = logged_server(&["--protect-reads"]);
    let forged = "2026-01-01T00:00:00.000000000Z [ERROR] FORGED";
    let path = format!(
        "/devices/x%0a{}%1b%5b2K%e2%80%ae/attendance",
        forged.replace(' ', "%20")
    );
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\u{85}\u{202e}FORGED-XFF\r\nConnection: close\r\n\r\n"
    );
    let resp = raw_exchange(&addr, req.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    let resp = raw_exchange(
        &addr,
        b"GET /nope%0aFORGED-404%1b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    // A push terminal's key in its handshake's query stays out of the log.
    let _ = raw_exchange(
        &addr,
        b"GET /iclock/cdata?SN=LOGKEY1&options=all&pushcommkey=PUSHSECRET42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    process::terminate(&mut child);
    let lines = reader.join().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("pushcommkey=***")),
        "the handshake is logged: {lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("PUSHSECRET42")),
        "a push key in the log: {lines:#?}"
    );
    let with_forgery: Vec<&String> = lines.iter().filter(|l| l.contains("FORGED")).collect();
    assert!(with_forgery.len() >= 2, "requests are logged: {lines:#?}");
    for line in &lines {
        assert!(
            !line.starts_with("2026-01-01T00:00:00") && !line.starts_with("FORGED"),
            "a client forged a log line: {line:?}"
        );
        assert!(
            !line.contains(['\x1b', '\u{85}', '\u{202e}', '\r']),
            "raw control character in the log: {line:?}"
        );
    }
}

/// Sends `request` from the loopback address `from` (127.0.0.x: another
/// client than 127.0.0.1) and reads the answer until the server closes.
fn exchange_from(from: [u8; 4], addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = connect_from(from, addr);
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw response.
fn status_code(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A write with `headers` and `body` to `path`, from 127.0.0.2.
fn write_from_browser(addr: &str, path: &str, headers: &str, body: &str) -> String {
    exchange_from(
        [127, 0, 0, 2],
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn pages_on_other_sites_cannot_write_through_a_browser() {
    let (mut child, addr) = process::start_server(&[
        "--demo",
        "--no-demo-push",
        "--allow-open-writes",
        "--log-level",
        "warn",
    ]);
    let device = |id: &str| format!(r#"{{"id": "{id}", "name": "N", "ip": "192.0.2.1"}}"#);
    // A form or a "simple" fetch can send text/plain: refused.
    let resp = write_from_browser(
        &addr,
        "/devices",
        "Content-Type: text/plain\r\n",
        &device("a"),
    );
    assert_eq!(status_code(&resp), 415, "{resp}");
    assert!(resp.contains("application/json"), "{resp}");
    let resp = write_from_browser(&addr, "/devices", "", &device("a"));
    assert_eq!(status_code(&resp), 415, "no Content-Type: {resp}");
    // JSON from another site's page: refused by its Origin.
    for origin in [
        "http://evil.example",
        "null",
        &format!("http://{addr}.evil.example"),
    ] {
        let headers = format!("Content-Type: application/json\r\nOrigin: {origin}\r\n");
        let resp = write_from_browser(&addr, "/devices", &headers, &device("b"));
        assert_eq!(status_code(&resp), 403, "{origin}: {resp}");
        assert!(resp.contains("Origin"), "{resp}");
    }
    // A body-less write from another site too; without Origin it goes on.
    let resp = write_from_browser(
        &addr,
        "/devices/principal/sync-time",
        "Origin: http://evil.example\r\n",
        "",
    );
    assert_eq!(status_code(&resp), 403, "{resp}");
    let resp = write_from_browser(&addr, "/devices/principal/sync-time", "", "");
    assert_eq!(status_code(&resp), 200, "{resp}");
    // The office panel's own origin, and programs (no Origin), may write.
    let headers =
        format!("Content-Type: application/json; charset=utf-8\r\nOrigin: http://{addr}\r\n");
    let resp = write_from_browser(&addr, "/devices", &headers, &device("c"));
    assert!(matches!(status_code(&resp), 200 | 201), "{resp}");
    let resp = write_from_browser(
        &addr,
        "/devices",
        "Content-Type: application/json\r\n",
        &device("d"),
    );
    assert!(matches!(status_code(&resp), 200 | 201), "{resp}");
    // Push terminals are no browsers: /iclock keeps taking what they send.
    let resp = write_from_browser(
        &addr,
        "/iclock/cdata?SN=DEMOPUSH0001&table=ATTLOG&Stamp=1",
        "Content-Type: text/plain\r\nOrigin: http://evil.example\r\n",
        "1\t2024-03-01 08:00:00\t0\t1\t\t0\t0\n",
    );
    assert_eq!(status_code(&resp), 200, "{resp}");
    assert_eq!(process::terminate(&mut child), 0);
}

#[test]
fn a_foreign_host_name_is_refused_unless_configured_or_proxied() {
    let (mut child, addr) = process::start_server(&[
        "--demo",
        "--no-demo-push",
        "--host-name",
        "relojes.lan",
        "--log-level",
        "warn",
    ]);
    let port = addr.rsplit(':').next().unwrap();
    let get = |from: [u8; 4], path: &str, host: &str| {
        exchange_from(
            from,
            &addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    };
    // A page of evil.example, re-resolved to this server (DNS rebinding).
    let resp = get([127, 0, 0, 2], "/devices", &format!("evil.example:{port}"));
    assert_eq!(status_code(&resp), 403, "{resp}");
    assert!(resp.contains("--host-name"), "{resp}");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("RELOJES.lan:{port}"),
        format!("[::1]:{port}"),
    ] {
        let resp = get([127, 0, 0, 2], "/devices", &host);
        assert_eq!(status_code(&resp), 200, "{host}: {resp}");
    }
    // Through the trusted proxy (nginx on 127.0.0.1), the proxy checks names.
    let resp = get([127, 0, 0, 1], "/devices", "relojes.example.com");
    assert_eq!(status_code(&resp), 200, "{resp}");
    // Terminals name the server as configured on them; health checks too.
    let resp = get(
        [127, 0, 0, 2],
        "/iclock/cdata?SN=DEMOPUSH0001&options=all",
        "relojes.example.com",
    );
    assert_eq!(status_code(&resp), 200, "{resp}");
    let resp = get([127, 0, 0, 2], "/health", "monitor.example");
    assert_eq!(status_code(&resp), 200, "{resp}");
    assert_eq!(process::terminate(&mut child), 0);
}

/// `/devices/{id}/status` shows the PostgreSQL connection (role, host, port,
/// database) only to a request with the API key; without it, the state in a
/// word and the counters.
#[test]
fn status_shows_the_database_connection_only_with_the_key() {
    use crate::common::process::{start_server, terminate};
    let dir = std::env::temp_dir().join(format!("zkserver-pgmask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let devices = dir.join("devices.json");
    std::fs::write(
        &devices,
        r#"{"rec": {"mode": "push", "sn": "CKJ0000009", "name": "Recepción"}}"#,
    )
    .unwrap();
    let key_file = dir.join("key");
    std::fs::write(&key_file, "clave-de-prueba\n").unwrap();
    // Nothing listens there: delivery keeps failing, naming the host.
    let port = free_port();
    let url = format!("postgresql://rolsecreto:pw@127.0.0.1:{port}/basesecreta?sslmode=disable");
    let (mut child, addr) = start_server(&[
        "--config",
        devices.to_str().unwrap(),
        "--api-key-file",
        key_file.to_str().unwrap(),
        "--postgres",
        &url,
        "--site",
        "norte",
    ]);
    let status = |key: Option<&str>| {
        let mut req = minreq::get(format!("http://{addr}/devices/rec/status")).with_timeout(30);
        if let Some(key) = key {
            req = req.with_header("X-API-Key", key);
        }
        let resp = req.send().unwrap();
        assert_eq!(resp.status_code, 200);
        serde_json::from_str::<Value>(resp.as_str().unwrap()).unwrap()
    };
    wait_until("delivery to fail", || {
        status(Some("clave-de-prueba"))["data"]["postgres"]["state"]
            .as_str()
            .is_some_and(|s| s != "ok" && !s.starts_with("conectando"))
    });
    let open = status(None);
    let text = open.to_string();
    for secret in [
        "rolsecreto",
        "basesecreta",
        &format!(":{port}"),
        "127.0.0.1",
    ] {
        assert!(!text.contains(secret), "{secret}: {text}");
    }
    assert_eq!(open["data"]["postgres"]["state"], "error", "{open}");
    assert_eq!(open["data"]["postgres"]["site"], "norte", "{open}");
    assert!(open["data"]["postgres"]["backlog"].is_u64(), "{open}");
    let wrong = status(Some("otra-clave-mala")).to_string();
    assert!(!wrong.contains("basesecreta"), "{wrong}");
    let admin = status(Some("clave-de-prueba"));
    assert_eq!(
        admin["data"]["postgres"]["database"],
        format!("rolsecreto@127.0.0.1:{port}/basesecreta"),
        "{admin}"
    );
    // /health too: the state in a word without the key, the sentence with it.
    let health = |key: Option<&str>| {
        let mut req = minreq::get(format!("http://{addr}/health")).with_timeout(30);
        if let Some(key) = key {
            req = req.with_header("X-API-Key", key);
        }
        let resp = req.send().unwrap();
        assert_eq!(resp.status_code, 200);
        serde_json::from_str::<Value>(resp.as_str().unwrap()).unwrap()
    };
    let open = health(None);
    assert_eq!(open["postgres"], "error", "{open}");
    let text = open.to_string();
    for secret in ["rolsecreto", "basesecreta", &format!(":{port}")] {
        assert!(!text.contains(secret), "{secret}: {text}");
    }
    let admin = health(Some("clave-de-prueba")).to_string();
    assert!(admin.contains("127.0.0.1"), "{admin}");
    assert_eq!(terminate(&mut child), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
