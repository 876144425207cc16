//! `GET /devices/{id}/status`: counters and clock without disabling the
//! terminal; a busy terminal is answered from the last result; an
//! unreachable one says why; the last punch comes from the live feed.

use std::time::{Duration, Instant};

use crate::common::sse::SseClient;
use crate::common::*;
use zkserver::sim::SimConfig;

fn status(env: &Env, id: &str) -> serde_json::Value {
    let (code, body) = get(&format!("{}/devices/{id}/status", env.base));
    assert_eq!(code, 200, "{body}");
    body["data"].clone()
}

#[test]
fn status_reads_counters_and_clock_without_disabling() {
    let env = single(
        SimConfig {
            records: 1234,
            users: 7,
            ..SimConfig::default()
        },
        Link::default(),
    );
    let disables = env.sims[0].stats().disables;
    let s = status(&env, "principal");
    assert_eq!(s["online"], true, "{s}");
    assert_eq!(
        (s["records"].as_u64(), s["users"].as_u64()),
        (Some(1234), Some(7))
    );
    assert_eq!(s["records_capacity"], 200_000);
    assert!(s["clock_offset_s"].as_i64().unwrap().abs() <= 2, "{s}");
    assert!(s["device_time"].is_string() && s["server_time"].is_string());
    // A pull terminal keeps the server's time: the server's UTC offset.
    let minutes = chrono::Local::now().offset().local_minus_utc() / 60;
    let server_zone = format!(
        "{}{:02}:{:02}",
        if minutes < 0 { '-' } else { '+' },
        minutes.abs() / 60,
        minutes.abs() % 60
    );
    assert_eq!(s["timezone"], server_zone.as_str(), "{s}");
    assert_eq!(s["cached"], false);
    assert_eq!(
        env.sims[0].stats().disables,
        disables,
        "never disables the terminal"
    );
    assert!(!env.sims[0].is_disabled());
    let (code, _) = get(&format!("{}/devices/nadie/status", env.base));
    assert_eq!(code, 404);
}

#[test]
fn a_busy_terminal_is_answered_from_the_last_result() {
    let env = start_with(
        vec![(
            "principal",
            "Entrada Principal",
            slow_sim(60_000, Duration::from_millis(2)),
            Link::default(),
        )],
        Vec::new(),
        Duration::from_secs(30),
    );
    let first = status(&env, "principal");
    assert_eq!(first["online"], true);
    // A long download holds the terminal.
    let base = env.base.clone();
    let download =
        std::thread::spawn(move || get(&format!("{base}/devices/principal/attendance?limit=1")));
    wait_until("the download holds the terminal", || {
        env.sims[0].is_disabled()
    });
    let started = Instant::now();
    let busy = status(&env, "principal");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(busy["cached"], true, "{busy}");
    assert_eq!(busy["records"], first["records"]);
    assert!(busy["age_s"].is_u64());
    assert_eq!(download.join().unwrap().0, 200);
    assert!(!env.sims[0].is_disabled());
}

#[test]
fn an_unreachable_terminal_says_why() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let env = start_with(
        vec![],
        vec![(
            "muerto".into(),
            device_config("Muerto", port, &Link::default()),
        )],
        Duration::from_secs(30),
    );
    let s = status(&env, "muerto");
    assert_eq!(s["online"], false);
    assert!(
        s["error"].as_str().unwrap().contains("conexión rechazada"),
        "{s}"
    );
}

#[test]
fn the_last_punch_comes_from_the_live_feed() {
    let env = single(SimConfig::default(), Link::default());
    let mut stream = SseClient::connect(&env.base, "/devices/principal/events", None);
    assert!(stream.status("online", Duration::from_secs(10)).is_some());
    let last = env.sims[0].expected_attendance().last().cloned().unwrap();
    let mut before = serde_json::Value::Null;
    wait_until("the feed knows the last punch", || {
        before = status(&env, "principal");
        before["last_punch"]["user_id"] == last.user_id.as_str()
    });
    assert_eq!(
        before["last_punch"]["user_id"],
        last.user_id.as_str(),
        "{before}"
    );
    let made = env.sims[0].punch(None);
    assert_eq!(stream.punches(1, Duration::from_secs(10)).len(), 1);
    let after = status(&env, "principal");
    assert_eq!(after["last_punch"]["user_id"], made.user_id.as_str());
    assert_eq!(after["last_punch"]["timestamp"], made.time.to_string());
}
