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
use crate::common::{self, send, wait_until, Env};

/// A fresh folder for one test.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-pend-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An in-process server with a journal in `dir`, no devices, and the
/// settings `configure` adjusts.
fn server(
    dir: &Path,
    configure: impl FnOnce(&mut zkserver::http::Settings),
) -> (Env, Arc<Journal>) {
    let journal = Arc::new(Journal::open(dir.join("punches.db")).expect("journal opens"));
    let j = journal.clone();
    let env = common::serve(vec![], Registry::in_memory(vec![]), move |s| {
        s.journal = Some(j);
        configure(s);
    });
    (env, journal)
}

/// Sends an `/iclock` request as a terminal does; returns (status, body).
fn iclock(base: &str, method: &str, target: &str, body: &str) -> (i32, String) {
    let resp = minreq::Request::new(
        minreq::Method::Custom(method.into()),
        format!("{base}{target}"),
    )
    .with_header("User-Agent", "iClock Proxy/1.09")
    .with_body(body)
    .with_timeout(60)
    .send()
    .unwrap();
    (
        resp.status_code,
        resp.as_str().unwrap_or_default().to_string(),
    )
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
    let (code, answer) = iclock(
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
    let (code, answer) = iclock(
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
