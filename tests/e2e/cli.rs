//! The `zkserver` binary: start-up errors, `--demo`, `simulate` + `probe`,
//! environment variables and SIGTERM.

use std::process::Command;
use std::time::Duration;

use crate::common::process::{addr_after, spawn_until, terminate, BIN};

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn invalid_devices_file_is_a_clear_startup_error() {
    let dir = tempdir("bad");
    let file = dir.join("devices.json");
    std::fs::write(
        &file,
        r#"{"principal": {"ip": "10.0.0.1", "port": "muchos"}}"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .arg("--port")
        .arg("0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("devices.json") && err.contains("'port'"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    std::fs::write(&file, "{not json").unwrap();
    let out = Command::new(BIN)
        .env("DEVICES_FILE", &file)
        .env("API_PORT", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("JSON inválido"), "{err}");
}

/// Starts the server on `file`; its exit code (None: still running after
/// 30 s, then killed) and its stderr.
fn start_with(file: &std::path::Path) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(file)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map(crate::common::process::Running)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (code, err)
}

/// An id twice used to start with the last entry, and the first API write
/// then rewrote the file without the other terminal. Now the start fails,
/// naming the file and the id, and no start ever rewrites the file.
#[test]
fn a_devices_file_with_an_id_twice_is_refused_and_never_rewritten() {
    let dir = tempdir("dup");
    let file = dir.join("devices.json");
    let text = "{\n  \"principal\": {\"ip\": \"10.0.0.1\", \"name\": \"Entrada\"},\n  \"principal\": {\"ip\": \"10.0.0.2\", \"name\": \"Salida\"}\n}\n";
    std::fs::write(&file, text).unwrap();
    let (code, err) = start_with(&file);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("'principal' aparece más de una vez"), "{err}");
    assert!(err.contains("renombre o borre"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    for (bad, needle) in [
        (
            r#"{"Entrada Principal": {"ip": "10.0.0.1"}}"#,
            "'entrada_principal'",
        ),
        (r#"[{"ip": "10.0.0.1"}]"#, "contiene un array"),
        (
            "{\"a\": {\"ip\": \"10.0.0.1\"} \"b\": 1}",
            "se esperaba ',' o '}'",
        ),
    ] {
        std::fs::write(&file, bad).unwrap();
        let (code, err) = start_with(&file);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(needle), "{err}");
        // One language in what the admin is told (serde's detail paraphrased).
        assert!(
            !err.contains("expected") && !err.contains(" at line"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), bad);
    }

    // A valid file, however it is laid out, is read and left byte for byte.
    let odd = "{ \"a\":{\"ip\":\"10.0.0.1\",\"port\":\"4371\", \"color\": \"red\"} }";
    std::fs::write(&file, odd).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&file)
        .args(["--host", "127.0.0.1", "--port", "0"]);
    let (mut child, _) = spawn_until(cmd, "listening on http://", false);
    assert_eq!(terminate(&mut child), 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), odd);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn busy_port_is_a_clear_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempdir("busy");
    let out = Command::new(BIN)
        .args(["--host", "127.0.0.1", "--port", &port, "--config"])
        .arg(dir.join("none.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "no se pudo escuchar en 127.0.0.1:{port}: la dirección ya está en uso"
        )),
        "{err}"
    );
    assert!(!err.contains("Address already in use"), "{err}");
}

#[test]
fn demo_serves_real_data_and_sigterm_exits_cleanly() {
    let mut cmd = Command::new(BIN);
    cmd.args(["--demo", "--host", "127.0.0.1", "--port", "0"]);
    let (mut child, line) = spawn_until(cmd, "listening on http://", false);
    let addr = addr_after(&line, "listening on http://");
    let resp = minreq::get(format!("http://{addr}/devices/principal/attendance"))
        .with_timeout(30)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    let body: serde_json::Value = serde_json::from_str(resp.as_str().unwrap()).unwrap();
    assert_eq!(body["total"], 3000);
    let resp = minreq::get(format!("http://{addr}/attendance/all?limit=5"))
        .with_timeout(30)
        .send()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(resp.as_str().unwrap()).unwrap();
    // The two pull terminals hold 3 000 + 2 400 punches; the push terminal
    // "recepcion" adds what it has uploaded so far (it keeps punching).
    assert_eq!(
        body["errors"].as_object().map(serde_json::Map::len),
        Some(0),
        "{body}"
    );
    assert!(body["matched"].as_u64().unwrap_or(0) >= 5400, "{body}");
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn probe_diagnoses_a_simulated_terminal() {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "simulate",
        "--port",
        "0",
        "--records",
        "1234",
        "--att-format",
        "49",
        "--comm-key",
        "77",
    ]);
    let (mut sim, line) = spawn_until(cmd, "simulated terminal on", true);
    let addr = addr_after(&line, "simulated terminal on ");
    let port = addr.rsplit(':').next().unwrap();
    for udp in [false, true] {
        let mut args = vec!["probe", "127.0.0.1", "--port", port, "--password", "77"];
        if udp {
            args.push("--udp");
        }
        let out = Command::new(BIN).args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("SerialNumber     SIM0000000001"), "{text}");
        assert!(text.contains("1234 records of 49 bytes"), "{text}");
    }
    let out = Command::new(BIN)
        .args(["probe", "127.0.0.1", "--port", port, "--password", "78"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("comm key rejected"));
    assert_eq!(terminate(&mut sim), 0);
}

#[test]
fn devices_file_stays_valid_after_sigkill_during_writes() {
    let dir = tempdir("kill");
    let file = dir.join("devices.json");
    std::fs::write(
        &file,
        r#"{"base": {"ip": "10.0.0.1", "name": "Base", "extra": {"keep": true}}}"#,
    )
    .unwrap();
    for round in 0..3 {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--allow-open-writes",
            "--log-level",
            "warn",
            "--config",
        ])
        .arg(&file);
        let (mut child, line) = spawn_until(cmd, "listening on http://", false);
        let addr = addr_after(&line, "listening on http://");
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let body = format!(
                            r#"{{"id": "r{round}_{t}_{i}", "name": "Reloj", "ip": "10.0.0.2"}}"#
                        );
                        let sent = minreq::post(format!("http://{addr}/devices"))
                            .with_header("Content-Type", "application/json")
                            .with_body(body)
                            .with_timeout(5)
                            .send();
                        if sent.is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + 100 * round));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for w in writers {
            let _ = w.join();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&text).expect("valid JSON after SIGKILL");
        assert_eq!(value["base"]["extra"]["keep"], true);
        assert!(
            value.as_object().unwrap().len() > 1,
            "some writes landed before the kill"
        );
        let reloaded = zkserver::registry::Registry::load(&file).expect("loads after SIGKILL");
        assert_eq!(reloaded.ids().len(), value.as_object().unwrap().len());
    }
}

#[test]
fn sigterm_during_a_download_finishes_it_and_exits_zero() {
    use zkserver::sim::{Faults, SimConfig, Simulator};
    let faults = Faults {
        latency: Duration::from_micros(700),
        ..Faults::default()
    };
    let sim = Simulator::start(SimConfig {
        records: 100_000,
        faults,
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempdir("sigterm");
    let file = dir.join("devices.json");
    std::fs::write(
        &file,
        format!(
            // A quiet terminal: no collector reads it meanwhile.
            r#"{{"principal": {{"ip": "127.0.0.1", "port": {}, "timeout": 10, "collect": false}}}}"#,
            sim.port()
        ),
    )
    .unwrap();
    let (mut child, addr) =
        crate::common::process::start_server(&["--config", file.to_str().unwrap()]);
    let url = format!("http://{addr}/devices/principal/attendance?pretty=0");
    let download = std::thread::spawn(move || minreq::get(url).with_timeout(120).send());
    // Wait until the terminal is being read, then ask the server to stop.
    let started = std::time::Instant::now();
    while sim.stats().chunk_reads == 0 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sim.is_disabled(), "download in progress");
    crate::common::process::signal(&child, "TERM");
    crate::common::wait_until("no new connections once stopping", || {
        std::net::TcpStream::connect(&addr).is_err()
    });
    let resp = download
        .join()
        .unwrap()
        .expect("the download in flight completes");
    assert_eq!(resp.status_code, 200);
    let body: serde_json::Value = serde_json::from_str(resp.as_str().unwrap()).unwrap();
    assert_eq!(body["total"], 100_000);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!sim.is_disabled(), "terminal re-enabled");
}

#[test]
fn api_key_settings_are_checked_at_startup() {
    let dir = tempdir("keys");
    let devices = dir.join("devices.json");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--host", "127.0.0.1", "--port", "0", "--config"])
            .arg(&devices)
            .args(args);
        cmd.env_remove("API_KEY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--protect-reads"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--protect-reads requiere una clave API"),
        "{err}"
    );
    let (code, err) = run(&[], &[("API_KEY", "corta")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("al menos 8 caracteres"), "{err}");
    let empty = dir.join("empty-key");
    std::fs::write(&empty, "\n").unwrap();
    let (code, err) = run(&["--api-key-file", empty.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("está vacío"), "{err}");
    assert!(!err.contains("panicked"));
    // The OS's English reason is not quoted in a Spanish startup error.
    let missing = dir.join("no-such-key");
    let (code, err) = run(&["--api-key-file", missing.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no existe (código del sistema 2)"), "{err}");
    assert!(!err.contains("No such file"), "{err}");
}

/// `POST /demo/punch`: the demo terminal records a punch now (a write:
/// the API key rule applies); without `--demo` the route does not exist.
#[test]
fn demo_punch_on_demand() {
    let post = |addr: &str, body: &str, key: Option<&str>| {
        let mut req = minreq::post(format!("http://{addr}/demo/punch"))
            .with_header("Content-Type", "application/json")
            .with_body(body)
            .with_timeout(30);
        if let Some(key) = key {
            req = req.with_header("X-API-Key", key);
        }
        let resp = req.send().unwrap();
        let body: serde_json::Value = serde_json::from_str(resp.as_str().unwrap()).unwrap();
        (resp.status_code, body)
    };
    // The demo also punches by itself every few seconds: look among the
    // newest few records, not only at the newest.
    let recorded = |addr: &str, device: &str, punch: &serde_json::Value| {
        let url = format!("http://{addr}/devices/{device}/attendance?limit=10&pretty=0");
        let resp = minreq::get(url).with_timeout(30).send().unwrap();
        let body: serde_json::Value = serde_json::from_str(resp.as_str().unwrap()).unwrap();
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["user_id"] == punch["user_id"] && r["timestamp"] == punch["timestamp"])
    };

    let mut cmd = Command::new(BIN);
    cmd.args(["--demo", "--port", "0"])
        .env("API_KEY", "clave-demo");
    let (mut child, line) = spawn_until(cmd, "listening on http://", false);
    let addr = addr_after(&line, "listening on http://");
    assert_eq!(post(&addr, "", None).0, 401);

    let (status, body) = post(&addr, "", Some("clave-demo"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["device_id"], "principal");
    assert!(recorded(&addr, "principal", &body["data"]), "{body}");

    let (status, body) = post(
        &addr,
        r#"{"device_id": "bodega", "user_id": 1005}"#,
        Some("clave-demo"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["data"]["user_id"], &body["data"]["device_name"]),
        (&serde_json::json!("1005"), &serde_json::json!("Bodega"))
    );
    assert!(recorded(&addr, "bodega", &body["data"]), "{body}");

    let (status, body) = post(&addr, r#"{"device_id": "nada"}"#, Some("clave-demo"));
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["disponibles"],
        serde_json::json!(["principal", "bodega"])
    );
    let (status, body) = post(&addr, r#"{"user_id": "99999"}"#, Some("clave-demo"));
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("'99999'"),
        "{body}"
    );
    let (status, _) = post(&addr, "[1]", Some("clave-demo"));
    assert_eq!(status, 400);
    assert_eq!(terminate(&mut child), 0);

    // Without --demo there is nothing to punch.
    let dir = tempdir("nodemo");
    let mut cmd = Command::new(BIN);
    cmd.args(["--host", "127.0.0.1", "--port", "0", "--allow-open-writes"])
        .arg("--config")
        .arg(dir.join("devices.json"));
    let (mut child, line) = spawn_until(cmd, "listening on http://", false);
    let addr = addr_after(&line, "listening on http://");
    assert_eq!(post(&addr, "{}", None).0, 404);
    assert_eq!(terminate(&mut child), 0);
}

/// The .deb names its maintainer once, the same in `control` and in the
/// changelog's trailer, with an address lintian accepts (`.local` is a
/// `bogus-mail-host` error) that is not a documentation placeholder
/// (`example.org`): `.invalid` says plainly that no mailbox is published yet.
#[test]
fn the_package_names_one_maintainer_lintian_accepts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb");
    let control = std::fs::read_to_string(dir.join("control")).unwrap();
    let changelog = std::fs::read_to_string(dir.join("changelog")).unwrap();
    let maintainer = control
        .lines()
        .find_map(|l| l.strip_prefix("Maintainer: "))
        .expect("a Maintainer field");
    assert!(
        changelog.contains(&format!(" -- {maintainer}  ")),
        "{maintainer} / {changelog}"
    );
    let host = maintainer
        .rsplit_once('@')
        .and_then(|(_, h)| h.strip_suffix('>'))
        .expect("name <user@host>");
    for placeholder in [
        "example.org",
        "example.com",
        "example.net",
        ".local",
        "localhost",
    ] {
        assert!(!host.ends_with(placeholder), "{maintainer}");
    }
}

#[test]
fn a_journal_that_is_not_ours_is_refused_and_left_alone() {
    let dir = tempdir("journal");
    let file = dir.join("devices.json");
    std::fs::write(&file, "{}").unwrap();
    // The default journal sits beside the devices file.
    let journal = dir.join("punches.db");
    let garbage = b"these are not the punches you are looking for".repeat(100);
    std::fs::write(&journal, &garbage).unwrap();
    let (code, err) = start_with(&file);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&journal.display().to_string()), "{err}");
    assert!(err.contains("no es una base de datos SQLite"), "{err}");
    assert_eq!(std::fs::read(&journal).unwrap(), garbage);

    // A fresh folder gets a new journal at the default place.
    std::fs::remove_file(&journal).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&file)
        .args(["--host", "127.0.0.1", "--port", "0"]);
    let (mut child, _) = spawn_until(cmd, "listening on http://", false);
    assert_eq!(terminate(&mut child), 0);
    assert!(journal.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_listens_on_loopback_and_logs_in_one_format() {
    let mut cmd = Command::new(BIN);
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
    let out = Command::new(BIN)
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

/// Runs the server with `args` and `env` (no devices file, nothing else
/// from the environment); its exit code and stderr.
fn run_flags(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempdir("flags");
    let mut cmd = Command::new(BIN);
    cmd.args(["--host", "127.0.0.1", "--config"])
        .arg(dir.join("devices.json"))
        .args(args);
    for var in [
        "API_PORT",
        "POSTGRES_URL",
        "POSTGRES_FILE",
        "PUSH_PORT",
        "LOG_LEVEL",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// clap's own errors (a value that does not parse, flags that conflict)
/// are Spanish and say what to change, naming the environment variable
/// when the value came from there; exit code 2 as before.
#[test]
fn flag_errors_are_spanish_and_name_the_variable() {
    let (code, err) = run_flags(&["--port", "abc"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("valor inválido 'abc' para --port: se espera un número entero de 0 a 65535"),
        "{err}"
    );
    let (code, err) = run_flags(&[], &[("API_PORT", "cinco")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("'cinco' en la variable de entorno API_PORT (--port)"),
        "{err}"
    );
    let (code, err) = run_flags(&[], &[("POSTGRES_URL", "x"), ("POSTGRES_FILE", "y")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("POSTGRES_URL") && err.contains("POSTGRES_FILE"),
        "{err}"
    );
    assert!(err.contains("no pueden usarse a la vez"), "{err}");
    let (code, err) = run_flags(&["--idle-timeout", "mucho"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--idle-timeout: se espera un número"), "{err}");
    for english in [
        "invalid value",
        "cannot be used",
        "error:",
        "For more information",
    ] {
        assert!(!err.contains(english), "{err}");
    }
}

/// `--push-port` equal to `--port` names both flags (it used to be the
/// second bind's "address in use"); `--push-delay 0` names the range.
#[test]
fn push_port_and_push_delay_errors_name_the_flags() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    drop(taken);
    let (code, err) = run_flags(&["--port", &port, "--push-port", &port], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("--push-port ({port}) es igual a --port ({port})")),
        "{err}"
    );
    assert!(!err.contains("en uso"), "{err}");
    let (code, err) = run_flags(&["--port", "0", "--push-delay", "0"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--push-delay inválido: 0 (use de 1 a 3600 segundos)"),
        "{err}"
    );
}

/// `--help` says what `--demo` runs (three terminals: two pull, one push)
/// and the flag table (docs/configuration.md, linked from the README)
/// lists every flag `--help` shows.
#[test]
fn help_and_the_readme_flag_table_agree() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    let demo = help
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--demo"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        demo.contains("three built-in simulated terminals"),
        "{help}"
    );
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split([' ', '<']).next())
        .filter(|f| !["help", "version"].contains(f))
        .collect();
    assert!(flags.len() > 20, "{help}");
    for flag in flags {
        assert!(
            readme.contains(&format!("| `--{flag}` |")),
            "--{flag} is missing from the flag table in docs/configuration.md"
        );
    }
}

/// The journal holds keypad passwords: `--journal` in folders that do not
/// exist yet makes them 0700 and the journal (and its -wal/-shm) 0600.
#[cfg(unix)]
#[test]
fn the_journal_and_the_folders_made_for_it_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempdir("private");
    let journal = dir.join("datos/diario/punches.db");
    let mut cmd = Command::new(BIN);
    cmd.args(["--host", "127.0.0.1", "--port", "0", "--config"])
        .arg(dir.join("devices.json"))
        .arg("--journal")
        .arg(&journal);
    let (mut child, _) = spawn_until(cmd, "listening on http://", false);
    for folder in [dir.join("datos"), dir.join("datos/diario")] {
        assert_eq!(mode(&folder), 0o700, "{}", folder.display());
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", journal.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(terminate(&mut child), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU time (user + system) the process `pid` has used, from
/// `/proc/<pid>/stat` (clock ticks of 1/100 s, as on every Linux).
#[cfg(target_os = "linux")]
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces: count after its ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Watches `pid` for `window` of wall time: its CPU time must stay under
/// `bound` (a spinning loop burns a whole core, ~3 s in 3 s).
#[cfg(target_os = "linux")]
fn assert_idle(pid: u32, what: &str) {
    let window = Duration::from_secs(3);
    let bound = Duration::from_millis(500);
    let start = cpu_time(pid);
    let began = std::time::Instant::now();
    while began.elapsed() < window {
        let used = cpu_time(pid).saturating_sub(start);
        assert!(used < bound, "{what} used {used:?} of CPU while idle");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn idle_simulators_with_stdin_closed_use_no_cpu() {
    use std::process::Stdio;
    let mut cmd = Command::new(BIN);
    cmd.args(["simulate", "--port", "0", "--records", "10"])
        .stdin(Stdio::null());
    let mut sim = spawn_until(cmd, "simulated terminal on", true).0;
    assert_idle(sim.0.id(), "simulate");
    assert_eq!(terminate(&mut sim.0), 0);

    // A push terminal whose server is down waits between attempts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "simulate",
        "--records",
        "10",
        "--sn",
        "IDLE1",
        "--retry-after",
        "1",
    ])
    .arg("--push")
    .arg(format!("http://127.0.0.1:{port}"))
    .stdin(Stdio::null());
    let mut push = spawn_until(cmd, "simulated push terminal", true).0;
    assert_idle(push.0.id(), "simulate --push");
    assert_eq!(terminate(&mut push.0), 0);
}
