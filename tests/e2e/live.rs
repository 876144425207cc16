//! Live punches over Server-Sent Events against the simulator: realtime
//! events in every payload variant, coalesced events, a terminal that
//! takes one connection at a time, dropped links and offline periods,
//! reconnection with `Last-Event-ID`, reconciliation without events, and
//! no thread or descriptor leak after many streams.

use std::time::{Duration, Instant};

use crate::common::sse::SseClient;
use crate::common::*;
use zkserver::sim::{EventFormat, SimConfig};

/// How long anything may take on a loaded machine (the watcher's own
/// reconciliation, 60 s by default, never serves a punch in this time).
const WAIT: Duration = Duration::from_secs(30);

fn users(events: &[sse::Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.data["user_id"].as_str().unwrap().to_string())
        .collect()
}

/// Opens a device stream and waits until its watcher is online: it has
/// read the log's end with realtime events registered, so every punch made
/// from then on reaches the stream.
fn stream(env: &Env, last_event_id: Option<&str>) -> SseClient {
    let mut s = SseClient::connect(&env.base, "/devices/principal/events", last_event_id);
    assert!(s.head.starts_with("HTTP/1.1 200"), "{}", s.head);
    assert!(s.head.contains("text/event-stream"), "{}", s.head);
    assert!(s.status("online", WAIT).is_some(), "watcher online");
    s
}

/// Waits until `/metrics` holds `line`.
fn wait_metric(env: &Env, line: &str) {
    crate::webhooks::wait_metric(&env.base, line);
}

#[test]
fn punches_arrive_live_in_every_event_payload_variant() {
    for format in EventFormat::ALL {
        let env = single(
            SimConfig {
                event_format: format,
                ..SimConfig::default()
            },
            Link::default(),
        );
        let mut s = stream(&env, None);
        let made = env.sims[0].punch(None);
        let got = s.punches(1, WAIT);
        assert_eq!(users(&got), vec![made.user_id.clone()], "{format:?}");
        // Delivered by the event, not by a periodic read.
        wait_metric(
            &env,
            "zkserver_reconciliations_total{device=\"principal\"} 0",
        );
        let row = &got[0].data;
        assert_eq!(row["device_id"], "principal");
        assert_eq!(row["device_name"], "Entrada Principal");
        assert_eq!(row["timestamp"], made.time.to_string());
        // The id is a cursor: the attendance endpoint continues from it.
        let (status, body) = get(&format!(
            "{}/devices/principal/attendance?since={}",
            env.base, got[0].id
        ));
        assert_eq!((status, body["total"].as_u64()), (200, Some(0)), "{body}");
        assert!(!env.sims[0].is_disabled());
        assert!(
            env.sims[0].stats().event_acks >= 1,
            "events are acknowledged"
        );
    }
}

#[test]
fn several_events_in_one_segment_all_arrive_in_order() {
    let env = single(SimConfig::default(), Link::default());
    let mut s = stream(&env, None);
    // Made within microseconds: the simulator sends their events together,
    // in one write (so several arrive in one TCP segment).
    let made: Vec<String> = (0..5).map(|_| env.sims[0].punch(None).user_id).collect();
    assert_eq!(users(&s.punches(5, WAIT)), made);
}

#[test]
fn a_one_connection_terminal_keeps_serving_the_api_while_streaming() {
    let env = single(
        SimConfig {
            one_connection: true,
            records: 2000,
            ..SimConfig::default()
        },
        Link::default(),
    );
    let mut s = stream(&env, None);
    for path in ["attendance?limit=1", "users", "info", "time", "ping"] {
        // A watcher that did not step aside would hold the terminal past
        // the lock timeout (30 s): 503.
        let (status, body) = get(&format!("{}/devices/principal/{path}", env.base));
        assert_eq!(status, 200, "{path}: {body}");
    }
    let made = env.sims[0].punch(None).user_id;
    assert_eq!(users(&s.punches(1, WAIT)), [made]);
    let stats = env.sims[0].stats();
    assert_eq!(stats.refused, 0, "never two connections at once");
    assert_eq!(stats.max_active, 1);
    assert!(!env.sims[0].is_disabled());
}

#[test]
fn punches_made_while_the_link_was_down_arrive_after_it_returns() {
    let env = single(SimConfig::default(), Link::default());
    let mut s = stream(&env, None);
    let first = env.sims[0].punch(None).user_id;
    assert_eq!(users(&s.punches(1, WAIT)), [first]);
    env.sims[0].set_offline(true);
    let offline = s.status("offline", WAIT).expect("offline status");
    assert!(
        offline.data["error"]
            .as_str()
            .unwrap()
            .contains("principal"),
        "{:?}",
        offline.data
    );
    let made: Vec<String> = (0..3).map(|_| env.sims[0].punch(None).user_id).collect();
    env.sims[0].set_offline(false);
    // The punches read on reconnecting may come before or after `online`.
    let (got, online) = s.punches_and_status(3, "online", Duration::from_secs(60));
    assert!(online, "back online");
    assert_eq!(users(&got), made);
    // A cut connection (the terminal stays up) is caught up the same way.
    env.sims[0].drop_connections();
    let made = env.sims[0].punch(None).user_id;
    assert_eq!(users(&s.punches(1, Duration::from_secs(60))), [made]);
}

#[test]
fn reconnecting_with_last_event_id_replays_without_gap_or_duplicate() {
    let env = single(SimConfig::default(), Link::default());
    let mut a = stream(&env, None);
    let first: Vec<String> = (0..2).map(|_| env.sims[0].punch(None).user_id).collect();
    let got = a.punches(2, WAIT);
    assert_eq!(users(&got), first);
    let last_id = got[1].id.clone();
    drop(a);
    let missed: Vec<String> = (0..3).map(|_| env.sims[0].punch(None).user_id).collect();
    let mut b = SseClient::connect(&env.base, "/devices/principal/events", Some(&last_id));
    assert_eq!(users(&b.punches(3, WAIT)), missed);
    let next = env.sims[0].punch(None).user_id;
    assert_eq!(
        users(&b.punches(1, WAIT)),
        vec![next],
        "then live, no duplicate"
    );
    // ?since= with a cursor from the attendance endpoint works the same.
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?limit=1",
        env.base
    ));
    let cursor = body["cursor"].as_str().unwrap().to_string();
    let later: Vec<String> = (0..2).map(|_| env.sims[0].punch(None).user_id).collect();
    let mut c = SseClient::connect(
        &env.base,
        &format!("/devices/principal/events?since={cursor}"),
        None,
    );
    assert_eq!(users(&c.punches(2, WAIT)), later);
}

#[test]
fn a_stream_of_all_devices_resumes_each_one() {
    let env = two_terminals(4);
    let mut s = SseClient::connect(&env.base, "/events", None);
    let mut online = Vec::new();
    while online.len() < 2 {
        let e = s.status("online", WAIT).expect("both watchers online");
        online.push(e.data["device_id"].as_str().unwrap().to_string());
        online.dedup();
    }
    let a = env.sims[0].punch(None).user_id;
    let got = s.punches(1, WAIT);
    assert_eq!(users(&got), [a]);
    let b = env.sims[1].punch(None).user_id;
    let got_b = s.punches(1, WAIT);
    assert_eq!(
        (users(&got_b), got_b[0].data["device_id"].as_str()),
        (vec![b], Some("bodega"))
    );
    let last = got_b[0].id.clone();
    drop(s);
    let a2 = env.sims[0].punch(None).user_id;
    let b2 = env.sims[1].punch(None).user_id;
    let mut again = SseClient::connect(&env.base, "/events", Some(&last));
    let mut got = users(&again.punches(2, WAIT));
    got.sort();
    let mut want = vec![a2, b2];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn punches_arrive_by_reconciliation_when_the_terminal_sends_no_events() {
    let env = start_app(
        vec![(
            "principal",
            "Entrada Principal",
            SimConfig {
                events: false,
                ..SimConfig::default()
            },
            Link::default(),
        )],
        Vec::new(),
        |s| s.reconcile_interval = Duration::from_millis(300),
    );
    let mut s = stream(&env, None);
    let made: Vec<String> = (0..2).map(|_| env.sims[0].punch(None).user_id).collect();
    assert_eq!(users(&s.punches(2, WAIT)), made);
    assert_eq!(env.sims[0].stats().events_sent, 0);
}

#[test]
fn udp_terminals_stream_too() {
    let env = single(
        SimConfig {
            attendance_format: zkserver::zk::AttFormat::Pin16,
            ..SimConfig::default()
        },
        Link {
            udp: true,
            ..Link::default()
        },
    );
    let mut s = stream(&env, None);
    let made = env.sims[0].punch(None).user_id;
    assert_eq!(users(&s.punches(1, WAIT)), [made]);
}

#[test]
fn bad_stream_cursors_are_400s() {
    let env = single(SimConfig::default(), Link::default());
    let (status, body) = get(&format!("{}/devices/principal/events?since=zzz", env.base));
    assert_eq!(status, 400, "{body}");
    let (status, _) = get(&format!("{}/devices/nadie/events", env.base));
    assert_eq!(status, 404);
}

/// Threads and descriptors of a process.
fn resources(pid: u32) -> (usize, usize) {
    let count = |dir: String| std::fs::read_dir(dir).map_or(0, Iterator::count);
    (
        count(format!("/proc/{pid}/task")),
        count(format!("/proc/{pid}/fd")),
    )
}

#[test]
fn a_thousand_streams_opened_and_closed_leak_nothing() {
    use crate::common::process::{start_server, terminate};
    use std::io::{Read, Write};
    // Streams closed one after another are noticed a moment later: more
    // than the default 8 of this client's may still be open.
    let (mut child, addr) = start_server(&[
        "--demo",
        "--log-level",
        "warn",
        "--max-streams-per-client",
        "100",
    ]);
    let pid = child.id();
    // One stream first, so the lazily started parts exist in the baseline.
    let base = format!("http://{addr}");
    {
        let mut s = SseClient::connect(&base, "/devices/principal/events", None);
        assert!(s.status("online", WAIT).is_some());
    }
    crate::webhooks::wait_metric(&base, "zkserver_watcher_running{device=\"principal\"} 0");
    let before = resources(pid);
    for _ in 0..1000 {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        c.write_all(b"GET /devices/principal/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut head = [0u8; 64];
        let _ = c.set_read_timeout(Some(WAIT));
        let n = c.read(&mut head).unwrap();
        assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    }
    // Closed streams are noticed at their next write (a keep-alive at most
    // 15 s later).
    let until = Instant::now() + Duration::from_secs(60);
    let mut after = resources(pid);
    while (after.0 > before.0 + 2 || after.1 > before.1 + 2) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        after = resources(pid);
    }
    assert!(after.0 <= before.0 + 2, "threads {before:?} -> {after:?}");
    assert!(
        after.1 <= before.1 + 2,
        "descriptors {before:?} -> {after:?}"
    );
    assert_eq!(terminate(&mut child), 0);
}

#[test]
fn probe_watch_prints_punches_as_they_happen() {
    use std::io::{BufRead, BufReader};
    let sim = zkserver::sim::Simulator::start(SimConfig::default()).unwrap();
    let mut child = std::process::Command::new(process::BIN)
        .args([
            "probe",
            "127.0.0.1",
            "--port",
            &sim.port().to_string(),
            "--watch",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map(process::Running)
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("watching") {
            break;
        }
    }
    let made = sim.punch(None);
    let line = lines.next().unwrap().unwrap();
    assert!(
        line.contains(&made.user_id) && line.contains(&made.time.to_string()),
        "{line}"
    );
    process::signal(&child, "INT");
    assert!(child.wait().unwrap().success());
    assert!(!sim.is_disabled());
}

#[test]
fn a_stream_open_across_a_clear_keeps_streaming() {
    let env = single(SimConfig::default(), Link::default());
    let mut s = stream(&env, None);
    let first = env.sims[0].punch(None).user_id;
    assert_eq!(users(&s.punches(1, WAIT)), [first]);
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?limit=1",
        env.base
    ));
    let clear_url = format!("{}/devices/principal/attendance/clear", env.base);
    let (status, body) = send(
        "POST",
        &clear_url,
        serde_json::json!({ "cursor": body["cursor"] }),
    );
    assert_eq!(status, 200, "{body}");
    let made: Vec<String> = (0..2).map(|_| env.sims[0].punch(None).user_id).collect();
    assert_eq!(users(&s.punches(2, WAIT)), made, "the new log streams");
}

#[test]
fn a_new_stream_starts_with_punches_made_from_then_on() {
    let env = single(SimConfig::default(), Link::default());
    {
        let mut a = stream(&env, None);
        let first = env.sims[0].punch(None).user_id;
        assert_eq!(users(&a.punches(1, WAIT)), [first]);
    }
    crate::webhooks::wait_metric(
        &env.base,
        "zkserver_watcher_running{device=\"principal\"} 0",
    );
    // Made while nobody watched, before the next stream opens.
    env.sims[0].punch(None);
    let mut b = stream(&env, None);
    let made: Vec<String> = (0..2).map(|_| env.sims[0].punch(None).user_id).collect();
    assert_eq!(users(&b.punches(2, WAIT)), made, "no replay");
}

#[test]
fn a_punch_made_as_soon_as_a_new_stream_answers_arrives() {
    let env = single(SimConfig::default(), Link::default());
    for round in 0..20 {
        // No watcher runs: the stream's own opening starts one.
        wait_no_watcher(&env.base);
        let mut s = SseClient::connect(&env.base, "/devices/principal/events", None);
        assert!(s.head.starts_with("HTTP/1.1 200"), "{}", s.head);
        // The client saw the headers: from now on starts before this punch.
        let made = env.sims[0].punch(None).user_id;
        assert_eq!(users(&s.punches(1, WAIT)), [made], "round {round}");
    }
}

/// Waits until no watcher runs for `principal` (none started yet, or the
/// last one stopped).
pub(crate) fn wait_no_watcher(base: &str) {
    let running = "zkserver_watcher_running{device=\"principal\"} 1";
    let until = Instant::now() + WAIT;
    while crate::webhooks::metrics(base).lines().any(|l| l == running) {
        assert!(Instant::now() < until, "the watcher never stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stream_resuming_in_a_replaced_log_sends_the_new_log_once() {
    let env = single(
        SimConfig {
            records: 2,
            ..SimConfig::default()
        },
        Link {
            timeout: 1.0,
            ..Link::default()
        },
    );
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?limit=1",
        env.base
    ));
    let cursor = body["cursor"].as_str().unwrap().to_string();
    {
        let mut a = stream(&env, None);
        let made: Vec<String> = ["9001", "9002", "9003"]
            .iter()
            .map(|id| env.sims[0].punch(Some(id)).user_id)
            .collect();
        assert_eq!(users(&a.punches(3, WAIT)), made);
    }
    wait_no_watcher(&env.base);
    // Replaced behind zkserver's back; the watcher the next stream starts
    // cannot follow it for now, so the server's copy stays stale while the
    // stream reads the terminal itself (its cursor is older than the copy).
    env.sims[0].with_state(|st| st.punches.clear());
    let mut made: Vec<String> = ["9101", "9102"]
        .iter()
        .map(|id| env.sims[0].punch(Some(id)).user_id)
        .collect();
    env.sims[0].set_faults(zkserver::sim::Faults {
        no_reply_to: Some(zkserver::zk::wire::cmd::REG_EVENT),
        ..Default::default()
    });
    let mut b = SseClient::connect(&env.base, "/devices/principal/events", Some(&cursor));
    let mut got = b.punches(2, WAIT);
    env.sims[0].set_faults(zkserver::sim::Faults::default());
    assert!(b.status("online", WAIT).is_some(), "watcher online");
    made.push(env.sims[0].punch(Some("9103")).user_id);
    got.extend(b.punches(1, WAIT));
    assert_eq!(users(&got), made, "the new log, once");
}
