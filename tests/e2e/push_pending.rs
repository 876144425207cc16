//! Pending serials, in process over 127.0.0.1: what a terminal uploaded
//! before it was registered (punches and users) reaches every consumer
//! once it is adopted, junk serials never lock a terminal out, and a
//! pending serial can be removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zkserver::journal::Journal;
use zkserver::registry::Registry;

use crate::common::receiver::Receiver as Hook;
use crate::common::{self, get, iclock_text, send, wait_until, Env};

/// A fresh folder for one test.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-pend-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An in-process server with a journal in `dir`, no devices, and the
/// settings `configure` adjusts.
fn server(dir: &Path, configure: impl FnOnce(&mut common::Settings)) -> (Env, Arc<Journal>) {
    let journal = Arc::new(Journal::open(dir.join("punches.db")).expect("journal opens"));
    let j = journal.clone();
    let env = common::serve(vec![], Registry::in_memory(vec![]), move |s| {
        s.journal = Some(j);
        configure(s);
    });
    (env, journal)
}

/// A sample's value in `/metrics` (0 when absent).
fn metric(base: &str, sample: &str) -> f64 {
    let resp = minreq::get(format!("{base}/metrics"))
        .with_timeout(30)
        .send()
        .unwrap();
    resp.as_str()
        .unwrap()
        .lines()
        .find(|l| l.starts_with(sample) && l[sample.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn adopted_punches_reach_the_webhook_like_any_others() {
    let dir = tempdir("hook");
    let hook = Hook::start();
    hook.set_failing(true);
    let url = hook.url.clone();
    let (env, journal) = server(&dir, move |s| s.webhook = Some(url));
    let (code, answer) = iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SUCPEND1&table=ATTLOG&Stamp=1",
        "41\t2026-12-01 08:00:00\t0\t1\n42\t2026-12-01 08:01:00\t0\t1\n",
    );
    assert_eq!((code, answer.as_str()), (200, "OK:2"));
    let (code, body) = send(
        "POST",
        &format!("{}/devices", env.base),
        json!({"id": "sucursal", "name": "Sucursal", "mode": "push", "sn": "SUCPEND1"}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(journal.count_punches("sucursal").unwrap(), 2);
    // While the receiver is down they wait, and the backlog says so.
    wait_until("a backlog of 2 adopted punches", || {
        metric(&env.base, "zkserver_webhook_backlog{device=\"sucursal\"}") == 2.0
    });
    hook.set_failing(false);
    let (code, answer) = iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SUCPEND1&table=ATTLOG&Stamp=2",
        "43\t2026-12-01 08:02:00\t0\t1\n",
    );
    assert_eq!((code, answer.as_str()), (200, "OK:1"));
    assert!(
        hook.wait_for(Duration::from_secs(30), |_| hook.accepted_users().len()
            >= 3),
        "delivered: {:?}",
        hook.accepted_users()
    );
    assert_eq!(hook.accepted_users(), ["41", "42", "43"]);
    wait_until("an empty backlog", || {
        metric(&env.base, "zkserver_webhook_backlog{device=\"sucursal\"}") == 0.0
    });
}

/// DELETE with the API key (or without one when `key` is empty).
fn delete(url: &str, key: &str) -> (i32, serde_json::Value) {
    let mut req = minreq::delete(url).with_timeout(60);
    if !key.is_empty() {
        req = req.with_header("X-API-Key", key);
    }
    let resp = req.send().unwrap();
    let body = serde_json::from_str(resp.as_str().unwrap()).unwrap();
    (resp.status_code, body)
}

/// The serials `GET /push/pending` lists.
fn pending_serials(base: &str) -> Vec<String> {
    let (code, body) = get(&format!("{base}/push/pending"));
    assert_eq!(code, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sn"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn junk_serials_never_lock_out_a_terminal_and_a_pending_serial_can_be_removed() {
    let dir = tempdir("junk");
    let (env, journal) = server(&dir, |s| s.security.api_key = Some("clave-1".into()));
    // Anyone on the internet can shake hands with 40 made-up serials…
    for i in 0..40 {
        let (code, _) = iclock_text(
            &env.base,
            "GET",
            &format!("/iclock/cdata?SN=JUNK{i:02}"),
            "",
        );
        assert_eq!(code, 200, "junk {i}");
    }
    assert_eq!(pending_serials(&env.base).len(), 32);
    // …and a real terminal still gets in, with its punches.
    let (code, _) = iclock_text(
        &env.base,
        "GET",
        "/iclock/cdata?SN=REAL0001&options=all",
        "",
    );
    assert_eq!(code, 200);
    let (code, answer) = iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=REAL0001&table=ATTLOG",
        "7\t2026-12-01 08:00:00\t0\t1\n",
    );
    assert_eq!((code, answer.as_str()), (200, "OK:1"));
    let listed = pending_serials(&env.base);
    assert_eq!(listed.len(), 32);
    assert!(listed.contains(&"REAL0001".to_string()), "{listed:?}");
    // More handshakes push out junk, never a serial holding punches.
    for i in 40..80 {
        iclock_text(
            &env.base,
            "GET",
            &format!("/iclock/cdata?SN=JUNK{i:02}"),
            "",
        );
    }
    assert!(pending_serials(&env.base).contains(&"REAL0001".to_string()));
    // Removing one is a write: the key is needed.
    let url = format!("{}/push/pending/JUNK79", env.base);
    let (code, body) = delete(&url, "");
    assert_eq!(code, 401, "{body}");
    let (code, body) = delete(&url, "clave-1");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["success"], true);
    assert!(!pending_serials(&env.base).contains(&"JUNK79".to_string()));
    let (code, body) = delete(&url, "clave-1");
    assert_eq!(code, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("JUNK79"), "{body}");
    // Removing a serial that holds punches discards them, and says how many.
    let (code, body) = delete(&format!("{}/push/pending/REAL0001", env.base), "clave-1");
    assert_eq!((code, body["punches"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(journal.pending_totals().unwrap().1, 0);
    // A terminal that calls again after its removal is pending again.
    let (code, _) = iclock_text(&env.base, "GET", "/iclock/getrequest?SN=REAL0001", "");
    assert_eq!(code, 200);
    assert!(pending_serials(&env.base).contains(&"REAL0001".to_string()));
    // When all 32 hold punches, a new serial is refused.
    for i in 0..40 {
        let (code, _) = iclock_text(
            &env.base,
            "POST",
            &format!("/iclock/cdata?SN=DATA{i:02}&table=ATTLOG"),
            "1\t2026-12-01 08:00:00\t0\t1\n",
        );
        if i >= 32 {
            assert_eq!(code, 403, "serial {i} past 32 holding punches");
        }
    }
    let (code, _) = iclock_text(&env.base, "GET", "/iclock/cdata?SN=LATE0001", "");
    assert_eq!(code, 403);
}

#[test]
fn users_uploaded_while_pending_are_adopted_and_can_be_asked_for_again() {
    let dir = tempdir("users");
    let (env, journal) = server(&dir, |_| {});
    let operlog = "USER PIN=5\tName=Ana Pérez\tPri=0\tPasswd=\tCard=\tGrp=1\n\
                   USER PIN=6\tName=Luis Díaz\tPri=14\tPasswd=\tCard=123\tGrp=1\n";
    let (code, answer) = iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SUCUSR1&table=OPERLOG&Stamp=1",
        operlog,
    );
    assert_eq!((code, answer.as_str()), (200, "OK:2"));
    let (code, answer) = iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SUCUSR1&table=ATTLOG&Stamp=1",
        "5\t2026-12-01 08:00:00\t0\t1\n",
    );
    assert_eq!((code, answer.as_str()), (200, "OK:1"));
    let (_, pending) = get(&format!("{}/push/pending", env.base));
    assert_eq!(pending["data"][0]["users"], 2, "{pending}");
    let (code, body) = send(
        "POST",
        &format!("{}/devices", env.base),
        json!({"id": "sucursal", "name": "Sucursal", "mode": "push", "sn": "SUCUSR1"}),
    );
    assert_eq!(code, 200, "{body}");
    // The names are there at once: no bare PINs until the terminal re-sends.
    let (code, users) = get(&format!("{}/devices/sucursal/users", env.base));
    assert_eq!(code, 200, "{users}");
    let names: Vec<&str> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ana Pérez", "Luis Díaz"], "{users}");
    // Asking the terminal for its users again is a queued command.
    let (code, body) = send(
        "POST",
        &format!("{}/devices/sucursal/users/refresh", env.base),
        serde_json::Value::Null,
    );
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["command"]["status"], "pendiente");
    let cmd = body["command"]["id"].as_i64().unwrap();
    let (_, poll) = iclock_text(&env.base, "GET", "/iclock/getrequest?SN=SUCUSR1", "");
    assert_eq!(poll, format!("C:{cmd}:DATA QUERY USERINFO\n"));
    let (_, shown) = get(&format!("{}/devices/sucursal/commands/{cmd}", env.base));
    assert_eq!(shown["data"]["status"], "enviado", "{shown}");
    // The terminal answers with its users: the copy follows.
    iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SUCUSR1&table=OPERLOG",
        "USER PIN=7\tName=Nueva\tPri=0\tPasswd=\tCard=\tGrp=1\n",
    );
    assert!(journal.get_user("sucursal", "7").unwrap().is_some());
    // A pull terminal has no queue to ask.
    send(
        "POST",
        &format!("{}/devices", env.base),
        json!({"id": "bodega", "name": "Bodega", "ip": "127.0.0.1", "port": 9}),
    );
    let (code, body) = send(
        "POST",
        &format!("{}/devices/bodega/users/refresh", env.base),
        serde_json::Value::Null,
    );
    assert_eq!(code, 409, "{body}");
}
