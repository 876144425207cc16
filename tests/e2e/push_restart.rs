//! Restarts with push terminals, as the real binary: the server starts on
//! every devices file its API wrote (pull and push entries mixed), and a
//! push terminal's last punch and last contact survive a SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::process::{self, addr_after, signal, BIN};
use crate::common::{get, iclock_text, request, send, wait_until};

/// A fresh folder for one test.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-pushre-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running binary (killed when dropped) and its base URL.
struct Running {
    child: process::Running,
    base: String,
}

/// Starts the binary on `dir`'s devices file and journal (plus `extra`
/// arguments). `Err` is what it printed when it exited instead of
/// listening.
fn start(dir: &Path, extra: &[&str]) -> Result<Running, String> {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["--host", "127.0.0.1", "--port", "0"])
        .arg("--config")
        .arg(dir.join("devices.json"))
        .arg("--journal")
        .arg(dir.join("punches.db"))
        .args(["--allow-open-writes", "--log-level", "info"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = process::Running(cmd.spawn().unwrap());
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut printed = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on http://") {
                let _ = tx.send(Ok(addr_after(&line, "listening on http://")));
            }
            printed.push(line);
        }
        let _ = tx.send(Err(printed.join("\n")));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(addr)) => Ok(Running {
            child,
            base: format!("http://{addr}"),
        }),
        Ok(Err(printed)) => {
            let _ = child.wait();
            Err(printed)
        }
        Err(_) => {
            let _ = child.kill();
            Err("no startup line within 60 s".into())
        }
    }
}

/// The ids `GET /devices` lists.
fn ids(base: &str) -> Vec<String> {
    let (code, body) = get(&format!("{base}/devices"));
    assert_eq!(code, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

/// A second server started on a copy of the devices file `dir` holds now
/// starts and lists the same devices as `base`.
fn restarts_on_the_file(dir: &Path, base: &str, after: &str) {
    let copy = dir.join(format!("restart-{}", after.replace(' ', "-")));
    std::fs::create_dir_all(&copy).unwrap();
    let text = std::fs::read_to_string(dir.join("devices.json")).unwrap();
    std::fs::write(copy.join("devices.json"), &text).unwrap();
    let again = start(&copy, &[]).unwrap_or_else(|printed| {
        panic!("the server does not start on the file written by {after}:\n{text}\n{printed}")
    });
    assert_eq!(ids(&again.base), ids(base), "after {after}");
    let written: Value = serde_json::from_str(&text).unwrap();
    for (id, entry) in written.as_object().unwrap() {
        if entry["mode"] == "push" {
            for field in ["ip", "port", "password", "timeout"] {
                assert!(entry.get(field).is_none(), "{id} has {field}: {text}");
            }
        }
    }
}

#[test]
fn the_server_restarts_on_every_devices_file_its_api_wrote() {
    let dir = tempdir("files");
    std::fs::write(
        dir.join("devices.json"),
        r#"{"principal": {"ip": "127.0.0.1", "port": 9, "name": "Principal"},
            "sucursal": {"mode": "push", "sn": "SUC0001", "name": "Sucursal", "timezone": "-04:00"}}"#,
    )
    .unwrap();
    let server = start(&dir, &[]).expect("starts");
    let base = server.base.clone();
    // A terminal nobody registered yet uploads a punch: it is pending.
    let (code, _) = iclock_text(&base, "GET", "/iclock/cdata?SN=NUEVO01&options=all", "");
    assert_eq!(code, 200);
    let (code, answer) = iclock_text(
        &base,
        "POST",
        "/iclock/cdata?SN=NUEVO01&table=ATTLOG",
        "31\t2026-12-01 08:00:00\t0\t1\n",
    );
    assert_eq!((code, answer.as_str()), (200, "OK:1"));
    let url = format!("{base}/devices");
    let writes: Vec<(&str, &str, String, Value)> = vec![
        (
            "POST of a push terminal",
            "POST",
            url.clone(),
            json!({"id": "recepcion", "name": "Recepción", "mode": "push", "sn": "REC0001", "timezone": "-03:00"}),
        ),
        (
            "POST of a pull terminal",
            "POST",
            url.clone(),
            json!({"id": "bodega", "name": "Bodega", "ip": "127.0.0.1", "port": 9}),
        ),
        (
            "PUT of a push terminal",
            "PUT",
            format!("{url}/sucursal"),
            json!({"name": "Sucursal Norte", "timezone": "-05:00"}),
        ),
        (
            "PUT of a pull terminal",
            "PUT",
            format!("{url}/bodega"),
            json!({"port": 10, "timeout": 2.5}),
        ),
        (
            "registration of a pending serial",
            "POST",
            url.clone(),
            json!({"id": "nuevo", "name": "Nuevo", "mode": "push", "sn": "NUEVO01"}),
        ),
        (
            "DELETE of a pull terminal",
            "DELETE",
            format!("{url}/principal"),
            Value::Null,
        ),
        (
            "DELETE of a push terminal",
            "DELETE",
            format!("{url}/recepcion"),
            Value::Null,
        ),
    ];
    for (what, method, target, body) in writes {
        let (code, answer) = send(method, &target, body);
        assert_eq!(code, 200, "{what}: {answer}");
        restarts_on_the_file(&dir, &base, what);
    }
    // The server itself comes back on its file, with the adopted punch.
    drop(server);
    let server = start(&dir, &[]).expect("restarts on its own file");
    assert_eq!(ids(&server.base), ["sucursal", "bodega", "nuevo"]);
    let (code, body) = request(
        "GET",
        &format!("{}/devices/nuevo/attendance", server.base),
        None,
    );
    assert_eq!((code, body["total"].as_u64()), (200, Some(1)), "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_with_empty_addresses_on_push_entries_still_starts() {
    // What 0.x wrote for push terminals before it was fixed: it must start,
    // and the next write drops the connection fields.
    let dir = tempdir("legacy");
    std::fs::write(
        dir.join("devices.json"),
        r#"{"sucursal": {"name": "Sucursal", "ip": "", "port": 4370, "password": 0,
                         "timeout": 5, "mode": "push", "sn": "SUC0002"}}"#,
    )
    .unwrap();
    let server = start(&dir, &[]).unwrap_or_else(|p| panic!("refused the file:\n{p}"));
    let (code, body) = send(
        "PUT",
        &format!("{}/devices/sucursal", server.base),
        json!({"name": "Sucursal Sur"}),
    );
    assert_eq!(code, 200, "{body}");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("devices.json")).unwrap()).unwrap();
    assert!(written["sucursal"].get("ip").is_none(), "{written}");
    assert!(written["sucursal"].get("port").is_none(), "{written}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn last_punch_and_last_contact_come_from_the_journal_and_survive_a_sigkill() {
    let dir = tempdir("sigkill");
    std::fs::write(
        dir.join("devices.json"),
        r#"{"sucursal": {"mode": "push", "sn": "SUCKILL1", "name": "Sucursal"},
            "norte": {"mode": "push", "sn": "NORKILL1", "name": "Norte"}}"#,
    )
    .unwrap();
    let server = start(&dir, &[]).expect("starts");
    // One terminal uploads (the newest punch by time is not the last line),
    // the other only polls.
    let (code, answer) = iclock_text(
        &server.base,
        "POST",
        "/iclock/cdata?SN=SUCKILL1&table=ATTLOG&Stamp=1",
        "8\t2026-12-01 09:00:00\t0\t1\n7\t2026-12-01 08:00:00\t0\t1\n",
    );
    assert_eq!((code, answer.as_str()), (200, "OK:2"));
    let (code, _) = iclock_text(&server.base, "GET", "/iclock/getrequest?SN=NORKILL1", "");
    assert_eq!(code, 200);
    let (_, before) = get(&format!("{}/devices/sucursal/status", server.base));
    assert_eq!(before["data"]["last_punch"]["user_id"], "8", "{before}");
    assert_eq!(
        before["data"]["last_punch"]["timestamp"],
        "2026-12-01 09:00:00"
    );
    kill(server);
    let server = start(&dir, &[]).expect("restarts");
    for id in ["sucursal", "norte"] {
        let (code, status) = get(&format!("{}/devices/{id}/status", server.base));
        assert_eq!(code, 200, "{status}");
        let data = &status["data"];
        assert_eq!(data["online"], false, "{status}");
        assert!(data["last_seen"].is_string(), "{id}: {status}");
        assert_eq!(data["ip"], "127.0.0.1", "{id}: {status}");
        assert!(
            data["seconds_since_contact"]
                .as_u64()
                .is_some_and(|s| s < 3600),
            "{id}: {status}"
        );
    }
    let (_, status) = get(&format!("{}/devices/sucursal/status", server.base));
    let last = &status["data"]["last_punch"];
    assert_eq!(
        (last["user_id"].as_str(), last["timestamp"].as_str()),
        (Some("8"), Some("2026-12-01 09:00:00")),
        "{status}"
    );
    assert_eq!(last["device_id"], "sucursal");
    let (_, status) = get(&format!("{}/devices/norte/status", server.base));
    assert!(status["data"]["last_punch"].is_null(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGKILLs the server, waits until it no longer answers, and reaps it.
fn kill(server: Running) {
    signal(&server.child, "KILL");
    wait_until("the server to die", || {
        minreq::get(format!("{}/health", server.base))
            .with_timeout(2)
            .send()
            .is_err()
    });
    drop(server);
}
