//! The program itself, spawned as a child process: what a person gets on
//! each platform. With `ZKSERVER_EXE=zkserver.exe ZKSERVER_RUNNER=wine`
//! (`scripts/windows-test.sh`) these run the Windows build under Wine; the
//! simulated terminals and the webhook receiver stay in this process, and
//! every byte goes over 127.0.0.1. Covered: attendance, users, the devices
//! file written through the registry API, `since` sync, live punches (SSE),
//! webhooks, the panel, writes refused without a key, a graceful stop on
//! Ctrl+C, and the `service` command (the Windows service's life cycle under
//! Wine; its refusal elsewhere).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use zkserver::sim::{SimConfig, Simulator};

use crate::common::process::{command, host_path, signal, windows};
use crate::common::receiver::Receiver;
use crate::common::sse::SseClient;
use crate::common::{expected_rows, get, wait_until};

/// Generous limit for anything that waits (Wine starts slowly on 2 busy cores).
const WAIT: Duration = Duration::from_secs(60);

/// The API key the tests configure.
const KEY: &str = "clave-de-prueba-123";

/// A fresh scratch folder.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-exe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The program serving on 127.0.0.1, with every stderr line it writes.
struct Program {
    child: Child,
    base: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Program {
    /// Starts the program with `args` (on a free port of 127.0.0.1) and
    /// waits until it listens.
    fn start(args: &[&str]) -> Program {
        let mut child = command()
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the program starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut program = Program {
            child,
            base: String::new(),
            lines,
        };
        let marker = "listening on http://";
        let deadline = std::time::Instant::now() + WAIT;
        while program.base.is_empty() {
            if let Some(line) = program.find(marker) {
                let rest = &line[line.find(marker).unwrap() + marker.len()..];
                program.base = format!("http://{}", rest.split_whitespace().next().unwrap());
            } else if std::time::Instant::now() > deadline
                || program.child.try_wait().unwrap().is_some()
            {
                panic!("the program did not start: {:?}", program.lines());
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        program
    }

    /// Every line written so far.
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The first line written so far that contains `needle`.
    fn find(&self, needle: &str) -> Option<String> {
        self.lines().into_iter().find(|l| l.contains(needle))
    }

    /// Ctrl+C (SIGINT; under Wine the console's Ctrl+C event), then the
    /// exit code once it has stopped.
    fn ctrl_c(&mut self) -> i32 {
        signal(&self.child, "INT");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < deadline, "no stop after Ctrl+C");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it with Ctrl+C and asserts a graceful stop: exit code 0 after
    /// the server's own "stopped" line.
    fn stop_gracefully(mut self) -> Vec<String> {
        assert_eq!(self.ctrl_c(), 0, "exit code: {:?}", self.lines());
        wait_until("the last lines are read", || self.find("stopped").is_some());
        self.lines()
    }
}

/// A devices file with one terminal, `principal`, at `sim`, plus `extra`
/// fields (e.g. a webhook).
fn devices_file(dir: &Path, sim: &Simulator, extra: &Value) -> PathBuf {
    let mut device = json!({"ip": "127.0.0.1", "port": sim.port(), "timeout": 10,
                            "name": "Entrada Principal"});
    if let (Some(d), Some(e)) = (device.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    let path = dir.join("devices.json");
    std::fs::write(&path, json!({ "principal": device }).to_string()).unwrap();
    path
}

/// A write request with the API key (or none), returning (status, JSON body).
fn write(method: &str, url: &str, body: &Value, key: Option<&str>) -> (i32, Value) {
    let mut req = minreq::Request::new(minreq::Method::Custom(method.into()), url)
        .with_timeout(120)
        .with_header("Content-Type", "application/json")
        .with_body(body.to_string());
    if let Some(key) = key {
        req = req.with_header("X-API-Key", key);
    }
    let resp = req.send().expect("HTTP request");
    let body = serde_json::from_str(resp.as_str().unwrap()).expect("JSON body");
    (resp.status_code, body)
}

/// The devices file as JSON.
fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_program_serves_attendance_users_and_keeps_the_devices_file() {
    let sim = Simulator::start(SimConfig {
        records: 300,
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempdir("registry");
    let file = devices_file(&dir, &sim, &json!({}));
    let key = dir.join("api.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let program = Program::start(&[
        "--config",
        &host_path(&file),
        "--api-key-file",
        &host_path(&key),
    ]);
    let base = program.base.clone();

    let (status, body) = get(&format!("{base}/devices/principal/attendance"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"].as_array().unwrap(),
        &expected_rows(&sim, "principal", "Entrada Principal")
    );
    let (status, body) = get(&format!("{base}/devices/principal/users"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], sim.expected_users().len());

    // Users: a write reaches the terminal.
    let user = json!({"user_id": "9001", "name": "Ana Pérez"});
    let url = format!("{base}/devices/principal/users");
    assert_eq!(write("POST", &url, &user, None).0, 401, "no key, no write");
    let (status, body) = write("POST", &url, &user, Some(KEY));
    assert_eq!(status, 200, "{body}");
    assert!(sim
        .expected_users()
        .iter()
        .any(|u| u.user_id == "9001" && u.name == "Ana Pérez".as_bytes()));

    // The registry: each write replaces the devices file.
    let devices = format!("{base}/devices");
    let bodega =
        json!({"id": "bodega", "name": "Bodega", "ip": "127.0.0.1", "port": 4370, "password": 77});
    let (status, body) = write("POST", &devices, &bodega, Some(KEY));
    assert_eq!(status, 200, "{body}");
    assert_eq!(read_json(&file)["bodega"]["password"], 77);
    let (status, body) = write(
        "PUT",
        &format!("{devices}/bodega"),
        &json!({"name": "Bodega Sur"}),
        Some(KEY),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(read_json(&file)["bodega"]["name"], "Bodega Sur");
    assert_eq!(
        read_json(&file)["principal"]["port"],
        sim.port(),
        "other devices kept"
    );
    let (status, body) = write(
        "DELETE",
        &format!("{devices}/bodega"),
        &json!({}),
        Some(KEY),
    );
    assert_eq!(status, 200, "{body}");
    assert!(read_json(&file).get("bodega").is_none());
    let temps: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}");

    // The panel.
    let resp = minreq::get(format!("{base}/panel"))
        .with_timeout(60)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    assert!(resp.as_str().unwrap().contains("<html"), "an HTML page");

    let lines = program.stop_gracefully();
    assert!(
        lines.iter().all(|l| !l.contains(KEY)),
        "the key is never logged"
    );
    assert!(!sim.is_disabled(), "terminal left enabled");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_program_syncs_streams_live_punches_and_delivers_webhooks() {
    let sim = Simulator::start(SimConfig {
        records: 50,
        ..SimConfig::default()
    })
    .unwrap();
    let receiver = Receiver::start();
    let dir = tempdir("live");
    let file = devices_file(&dir, &sim, &json!({ "webhook": receiver.url }));
    let program = Program::start(&["--config", &host_path(&file), "--reconcile-interval", "2"]);
    let base = program.base.clone();

    let (status, body) = get(&format!("{base}/devices/principal/attendance"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 50);
    let cursor = body["cursor"].as_str().unwrap().to_string();

    let mut stream = SseClient::connect(&base, "/devices/principal/events", None);
    assert!(stream.status("online", WAIT).is_some(), "watcher online");
    let made = sim.punch(Some("4242"));
    let got = stream.punches(1, WAIT);
    assert_eq!(got.len(), 1, "a live punch");
    assert_eq!(got[0].data["user_id"], "4242");
    assert_eq!(got[0].data["timestamp"], made.time.to_string());

    let (status, body) = get(&format!(
        "{base}/devices/principal/attendance?since={cursor}"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1, "only the new punch: {body}");
    assert_eq!(body["data"][0]["user_id"], "4242");
    assert_eq!(body["reset"], false);

    assert!(
        receiver.wait_for(WAIT, |_| receiver
            .accepted_users()
            .contains(&"4242".to_string())),
        "webhook delivered: {:?}",
        receiver.posts()
    );
    drop(stream);
    program.stop_gracefully();
    let state = PathBuf::from(format!("{}.state.json", file.display()));
    assert!(state.exists(), "the webhook's position is kept");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_program_starts_on_an_empty_devices_file_and_refuses_writes_without_a_key() {
    let dir = tempdir("empty");
    let file = dir.join("devices.json");
    std::fs::write(&file, "{}").unwrap();
    let program = Program::start(&["--config", &host_path(&file)]);
    let (status, body) = get(&format!("{}/devices", program.base));
    assert_eq!((status, body["total"].clone()), (200, json!(0)), "{body}");
    let (status, body) = get(&format!("{}/health", program.base));
    assert_eq!((status, body["status"].clone()), (200, json!("ok")));
    let new = json!({"id": "x", "name": "X", "ip": "127.0.0.1"});
    let (status, body) = write("POST", &format!("{}/devices", program.base), &new, None);
    assert_eq!(status, 403, "writes need a key: {body}");
    assert!(program.find("writes disabled").is_some());
    program.stop_gracefully();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}", "untouched");
    assert!(
        dir.join("punches.db").exists(),
        "journal beside the devices file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctrl_c_during_a_download_lets_it_finish_and_stops_cleanly() {
    let faults = zkserver::sim::Faults {
        latency: Duration::from_millis(2),
        ..Default::default()
    };
    let sim = Simulator::start(SimConfig {
        records: 20_000,
        faults,
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempdir("ctrlc");
    // A quiet terminal: no collector reads it meanwhile (collecting
    // is the default), so the download is the only conversation.
    let file = devices_file(&dir, &sim, &json!({"collect": false}));
    let program = Program::start(&["--config", &host_path(&file)]);
    let url = format!("{}/devices/principal/attendance?pretty=0", program.base);
    let download = std::thread::spawn(move || minreq::get(url).with_timeout(180).send());
    wait_until("the terminal is being read", || sim.stats().chunk_reads > 0);
    let lines = program.stop_gracefully();
    let resp = download.join().unwrap().expect("the download completes");
    assert_eq!(resp.status_code, 200);
    let body: Value = serde_json::from_str(resp.as_str().unwrap()).unwrap();
    assert_eq!(body["total"], 20_000, "{lines:?}");
    assert!(sim.wait_idle(WAIT));
    assert!(!sim.is_disabled(), "terminal re-enabled");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `zkserver service <args>`; returns (exit code, stdout + stderr).
fn service(args: &[&str]) -> (i32, String) {
    let out = command()
        .arg("service")
        .args(args)
        .output()
        .expect("the program runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_service_command_exists_only_on_windows() {
    if windows() {
        return; // the life cycle test below covers Windows
    }
    for args in [&["install"][..], &["status"], &["run"], &[]] {
        let (code, text) = service(args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(
            text.contains("el servicio de Windows solo existe en Windows; en Linux use systemd (zkserver.service)"),
            "{text}"
        );
    }
}

/// A Linux path for a Windows one (`winepath -u`).
fn linux_path(windows_path: &str) -> PathBuf {
    let out = std::process::Command::new("winepath")
        .args(["-u", windows_path])
        .output()
        .expect("winepath runs");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Under Wine (needs `ZKSERVER_SERVICE_TEST=1`: the test script keeps a
/// Wine process open so that the services live): install with flags,
/// status, start (the data folder prepared, the server answering), a
/// graceful stop through the service manager, uninstall.
#[test]
fn the_windows_service_installs_starts_stops_and_uninstalls() {
    if !windows() || std::env::var_os("ZKSERVER_SERVICE_TEST").is_none() {
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let port_text = port.to_string();
    let _ = service(&["uninstall"]);
    let (code, text) = service(&["install", "--host", "127.0.0.1", "--port", &port_text]);
    assert_eq!(code, 0, "install: {text}");
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("datos: "))
        .unwrap_or_else(|| panic!("data folder named: {text}"))
        .trim()
        .to_string();
    let data = linux_path(&data);
    assert_eq!(
        std::fs::read_to_string(data.join("devices.json"))
            .unwrap()
            .trim(),
        "{}",
        "an empty devices file"
    );
    assert!(data.join("logs").is_dir());
    let (code, text) = service(&["status"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("detenido"), "{text}");
    assert!(
        text.contains(&format!("service run --host 127.0.0.1 --port {port}")),
        "{text}"
    );
    let (code, text) = service(&["install"]);
    assert_eq!(code, 1, "installed twice: {text}");
    assert!(text.contains("ya está instalado"), "{text}");

    let (code, text) = service(&["start"]);
    assert_eq!(code, 0, "start: {text}");
    let base = format!("http://127.0.0.1:{port}");
    wait_until("the service answers", || {
        minreq::get(format!("{base}/health"))
            .with_timeout(5)
            .send()
            .is_ok()
    });
    let (status, body) = get(&format!("{base}/devices"));
    assert_eq!((status, body["total"].clone()), (200, json!(0)), "{body}");
    let device = json!({"id": "x", "name": "X", "ip": "127.0.0.1"});
    let (status, _) = write("POST", &format!("{base}/devices"), &device, None);
    assert_eq!(status, 401, "writes need the key the service made");
    // Wine's services see another %ProgramData% (C:\users\Public) than
    // console programs; Windows gives both C:\ProgramData.
    let keys = [
        data.join("api.key"),
        linux_path(r"C:\users\Public\zkserver\api.key"),
    ];
    let accepted = keys
        .iter()
        .filter_map(|k| std::fs::read_to_string(k).ok())
        .any(|key| {
            let (status, _) = write(
                "POST",
                &format!("{base}/devices"),
                &device,
                Some(key.trim()),
            );
            (200..300).contains(&status)
        });
    assert!(accepted, "a write with the data folder's api.key");
    let (code, text) = service(&["status"]);
    assert!(code == 0 && text.contains("en ejecución"), "{text}");

    let (code, text) = service(&["stop"]);
    assert_eq!(code, 0, "stop: {text}");
    assert!(
        minreq::get(format!("{base}/health"))
            .with_timeout(5)
            .send()
            .is_err(),
        "stopped"
    );
    // Wine gives services another %ProgramData% (C:\users\Public) than
    // console programs; Windows gives both C:\ProgramData.
    let data = [data, linux_path(r"C:\users\Public\zkserver")]
        .into_iter()
        .find(|d| d.join("logs").join("zkserver.log").exists())
        .expect("the service's log file");
    let log = std::fs::read_to_string(data.join("logs").join("zkserver.log")).unwrap();
    for needle in [
        "listening on http://127.0.0.1",
        "service stop requested",
        "stopped",
    ] {
        assert!(log.contains(needle), "log lacks {needle:?}:\n{log}");
    }
    assert!(
        data.join("punches.db").exists(),
        "journal in the data folder"
    );

    let (code, text) = service(&["uninstall"]);
    assert_eq!(code, 0, "uninstall: {text}");
    let (code, text) = service(&["status"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no está instalado"), "{text}");
}
