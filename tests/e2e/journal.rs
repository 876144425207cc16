//! The punch journal over HTTP: `?source=journal`, journal cursors, live
//! streams and webhooks of journal punches, collected pull terminals,
//! backfill and clearing. Push punches are stored straight through
//! `Journal::insert_punches` (as the `/iclock` receiver does).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::Settings;
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use zkserver::collect::CollectSettings;
use zkserver::journal::{Journal, NewPunch};
use zkserver::registry::{DeviceConfig, DeviceMode, Registry};
use zkserver::sim::{SimConfig, Simulator};

use crate::common::receiver::Receiver;
use crate::common::sse::SseClient;
use crate::common::{device_config, get, request, send, serve, Env, Link};

const WAIT: Duration = Duration::from_secs(30);

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "zkserver-journal-{name}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A push device `recepcion`, a collected pull terminal `principal` and an
/// uncollected one `bodega`, served with a journal in `dir`.
struct Setup {
    env: Env,
    journal: Arc<Journal>,
}

fn push_config() -> DeviceConfig {
    let mut c = DeviceConfig::new("Recepción");
    c.mode = DeviceMode::Push;
    c.sn = Some("SNRECEP1".into());
    c
}

fn setup(dir: &Path, sims: Vec<Simulator>, configure: impl FnOnce(&mut Settings)) -> Setup {
    let journal = Arc::new(Journal::open(dir.join("punches.db")).unwrap());
    let mut entries = vec![("recepcion".to_string(), push_config())];
    let names = [
        ("principal", "Entrada Principal", true),
        ("bodega", "Bodega", false),
    ];
    for (sim, (id, name, collect)) in sims.iter().zip(names) {
        let mut c = device_config(name, sim.port(), &Link::default());
        c.set_collect(collect);
        entries.push((id.to_string(), c));
    }
    let j = journal.clone();
    let state = dir.join("devices.json.state.json");
    let env = serve(sims, Registry::in_memory(entries), move |s| {
        s.journal = Some(j);
        s.state_file = Some(state);
        s.collect = CollectSettings {
            interval: Duration::from_secs(3600),
            ..CollectSettings::default()
        };
        configure(s);
    });
    Setup { env, journal }
}

fn time(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

/// Stores push punches of `recepcion` (user, time).
fn push(journal: &Journal, punches: &[(&str, &str)]) -> usize {
    let batch: Vec<NewPunch> = punches
        .iter()
        .map(|(user, t)| NewPunch {
            user_id: user.to_string(),
            time: time(t),
            status: 15,
            punch: 0,
            workcode: None,
        })
        .collect();
    journal
        .insert_punches("recepcion", &batch, chrono::Local::now().naive_local())
        .unwrap()
        .stored
}

fn users(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|r| {
            format!(
                "{}@{}",
                r["user_id"].as_str().unwrap(),
                r["timestamp"].as_str().unwrap()
            )
        })
        .collect()
}

/// Distinct storable punches of a simulated terminal.
fn distinct(sim: &Simulator) -> usize {
    sim.expected_attendance()
        .iter()
        .filter(|a| a.time.is_valid())
        .map(|a| (a.user_id.clone(), a.time))
        .collect::<HashSet<_>>()
        .len()
}

/// Waits until `device` holds `n` punches in the journal.
fn wait_count(journal: &Journal, device: &str, n: u64) {
    let until = Instant::now() + WAIT;
    let mut seen = journal.stored_commits();
    while journal.count_punches(device).unwrap() != n {
        assert!(
            Instant::now() < until,
            "{device}: {} punches in the journal, not {n}",
            journal.count_punches(device).unwrap()
        );
        journal.wait_stored(&mut seen, Duration::from_millis(500));
    }
}

fn two_sims() -> Vec<Simulator> {
    vec![
        Simulator::start(SimConfig::default()).unwrap(),
        Simulator::start(SimConfig::default()).unwrap(),
    ]
}

#[test]
fn source_journal_answers_push_and_collected_terminals_and_refuses_the_others() {
    let dir = tempdir("source");
    let Setup { env, journal } = setup(&dir, two_sims(), |_| {});
    let stored = push(
        &journal,
        &[
            ("1", "2026-03-05 08:00:00"),
            ("2", "2026-03-05 17:00:00"),
            ("1", "2026-03-06 08:01:00"),
            ("2", "2026-03-06 08:02:00"),
            ("1", "2026-03-06 17:30:00"),
        ],
    );
    assert_eq!(stored, 5);
    // A push device is always answered from the journal.
    let (status, body) = get(&format!("{}/devices/recepcion/attendance", env.base));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "journal");
    assert_eq!(body["total"], 5);
    assert_eq!(body["data"][0]["device_name"], "Recepción");
    assert_eq!(body["data"][0]["timestamp"], "2026-03-06 17:30:00");
    assert_eq!(body["data"][0]["status"], 15);
    let cursor = body["cursor"].as_str().unwrap().to_string();
    // Filters and paging.
    let q = |query: &str| {
        get(&format!(
            "{}/devices/recepcion/attendance?{query}",
            env.base
        ))
        .1
    };
    assert_eq!(q("user_id=2")["total"], 2);
    assert_eq!(q("date=2026-03-06")["total"], 3);
    assert_eq!(q("date=2026-03")["total"], 5);
    assert_eq!(q("date=2026-04")["total"], 0);
    assert_eq!(
        q("from=2026-03-05%2012:00:00&to=2026-03-06%2008:01:00")["total"],
        2
    );
    let page = q("limit=2&offset=1");
    assert_eq!(
        (page["total"].as_u64(), page["matched"].as_u64()),
        (Some(2), Some(5))
    );
    assert_eq!(
        users(&page),
        ["2@2026-03-06 08:02:00", "1@2026-03-06 08:01:00"]
    );
    // CSV, with the cursor and the source in headers.
    let resp = ureq::get(&format!(
        "{}/devices/recepcion/attendance?format=csv&date=2026-03-06",
        env.base
    ))
    .call()
    .unwrap();
    assert_eq!(resp.header("X-Source"), Some("journal"));
    assert!(resp.header("X-Cursor").is_some());
    let text = resp.into_string().unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    // since: only what was stored after the cursor.
    push(
        &journal,
        &[("3", "2026-03-07 09:00:00"), ("3", "2026-03-04 09:00:00")],
    );
    let body = q(&format!("since={cursor}"));
    assert_eq!(body["reset"], false, "{body}");
    assert_eq!(
        users(&body),
        ["3@2026-03-07 09:00:00", "3@2026-03-04 09:00:00"]
    );
    let next = body["cursor"].as_str().unwrap().to_string();
    assert_eq!(q(&format!("since={next}"))["total"], 0);
    // A journal cursor is refused by another device.
    let (status, body) = get(&format!(
        "{}/devices/principal/attendance?source=journal&since={cursor}",
        env.base
    ));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("Cursor inválido"));
    // An uncollected pull terminal: 409.
    let (status, body) = get(&format!(
        "{}/devices/bodega/attendance?source=journal",
        env.base
    ));
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"],
        "El dispositivo 'bodega' no guarda sus marcaciones en el diario; active \"collect\"."
    );
    let (status, _) = get(&format!(
        "{}/devices/recepcion/attendance?source=nada",
        env.base
    ));
    assert_eq!(status, 400);
    // A collected pull terminal: its log, from the journal.
    let n = distinct(&env.sims[0]);
    wait_count(&journal, "principal", n as u64);
    let (status, body) = get(&format!(
        "{}/devices/principal/attendance?source=journal",
        env.base
    ));
    assert_eq!(
        (status, body["total"].as_u64()),
        (200, Some(n as u64)),
        "{body}"
    );
    assert_eq!(body["source"], "journal");
    // Every device: bodega fails in `errors`, the rest is merged.
    let (status, body) = get(&format!("{}/attendance/all?source=journal", env.base));
    assert_eq!(status, 200);
    assert!(body["errors"]["bodega"].is_string(), "{body}");
    assert_eq!(body["total"].as_u64(), Some(n as u64 + 7));
    let all_cursor = body["cursor"].as_str().unwrap().to_string();
    push(&journal, &[("4", "2026-03-08 10:00:00")]);
    let (_, body) = get(&format!(
        "{}/attendance/all?source=journal&since={all_cursor}",
        env.base
    ));
    assert_eq!(users(&body), ["4@2026-03-08 10:00:00"], "{body}");
    assert_eq!(body["reset"], false);
    // Without source=journal, the push device is still answered from it.
    let (_, body) = get(&format!("{}/attendance/all?user_id=4", env.base));
    assert_eq!(users(&body), ["4@2026-03-08 10:00:00"], "{body}");
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A page read from the journal (which returns only the rows a page can
/// take) is that slice of the whole listing, with the whole count in
/// `matched`: for one device and for every device, with and without a
/// cursor.
#[test]
fn journal_pages_are_slices_of_the_whole_listing() {
    let dir = tempdir("pages");
    let Setup { env, journal } = setup(&dir, two_sims(), |_| {});
    push(
        &journal,
        &[
            ("1", "2026-03-05 08:00:00"),
            ("2", "2026-03-05 08:00:00"),
            ("1", "2026-03-06 08:01:00"),
            ("3", "2026-03-06 08:01:00"),
            ("2", "2026-03-06 17:30:00"),
        ],
    );
    wait_count(&journal, "principal", distinct(&env.sims[0]) as u64);
    let listing = |path: &str| {
        let (status, body) = get(&format!("{}{path}", env.base));
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let check_pages = |path: &str| {
        let whole = listing(path);
        let rows = whole["data"].as_array().unwrap().clone();
        assert!(rows.len() >= 3, "{whole}");
        for (offset, limit) in [(0, 1), (1, 2), (2, 100), (rows.len() - 1, 5)] {
            let page = listing(&format!("{path}&offset={offset}&limit={limit}"));
            let end = (offset + limit).min(rows.len());
            assert_eq!(
                page["data"].as_array().unwrap()[..],
                rows[offset..end],
                "{path} offset={offset} limit={limit}"
            );
            assert_eq!(page["matched"].as_u64(), Some(rows.len() as u64));
            assert_eq!(page["cursor"], whole["cursor"]);
        }
    };
    check_pages("/devices/recepcion/attendance?source=journal");
    check_pages("/attendance/all?source=journal");
    check_pages("/attendance/all?source=journal&date=2026-03-06");
    let device_cursor = listing("/devices/recepcion/attendance?source=journal")["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let all_cursor = listing("/attendance/all?source=journal")["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    push(
        &journal,
        &[
            ("4", "2026-03-07 09:00:00"),
            ("4", "2026-03-04 09:00:00"),
            ("5", "2026-03-07 09:00:00"),
        ],
    );
    check_pages(&format!(
        "/devices/recepcion/attendance?source=journal&since={device_cursor}"
    ));
    check_pages(&format!(
        "/attendance/all?source=journal&since={all_cursor}"
    ));
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn journal_punches_stream_live_and_resume_without_gap_or_duplicate() {
    let dir = tempdir("sse");
    let Setup { env, journal } = setup(&dir, Vec::new(), |_| {});
    push(&journal, &[("0", "2026-03-01 07:00:00")]);
    for path in ["/devices/recepcion/events", "/events"] {
        let mut sse = SseClient::connect(&env.base, path, None);
        let t = |i: u32| format!("2026-03-02 08:{:02}:{:02}", i / 60, i % 60);
        let offset = if path == "/events" { 100 } else { 0 };
        let stamp = t(offset);
        let made = Instant::now();
        push(&journal, &[("1", stamp.as_str())]);
        let first = sse.punches(1, WAIT);
        let latency = made.elapsed();
        assert_eq!(first.len(), 1, "{path}: the punch arrives");
        assert_eq!(first[0].data["timestamp"], stamp.as_str());
        assert_eq!(first[0].data["device_id"], "recepcion");
        assert!(latency < WAIT, "{path}: {latency:?}");
        eprintln!("{path}: journal commit to SSE in {latency:?}");
        let more: Vec<String> = (1..4).map(|i| t(offset + i)).collect();
        for s in &more {
            push(&journal, &[("1", s.as_str())]);
        }
        let got = sse.punches(3, WAIT);
        assert_eq!(got.len(), 3);
        let last_id = got[2].id.clone();
        drop(sse);
        // Made while disconnected.
        let missed: Vec<String> = (4..6).map(|i| t(offset + i)).collect();
        for s in &missed {
            push(&journal, &[("2", s.as_str())]);
        }
        let mut sse = SseClient::connect(&env.base, path, Some(&last_id));
        let replay = sse.punches(2, WAIT);
        let stamps: Vec<&str> = replay
            .iter()
            .map(|e| e.data["timestamp"].as_str().unwrap())
            .collect();
        assert_eq!(stamps, missed, "{path}: replayed once, in order");
        let after = t(offset + 6);
        push(&journal, &[("3", after.as_str())]);
        let next = sse.punches(1, WAIT);
        assert_eq!(
            next[0].data["timestamp"],
            after.as_str(),
            "{path}: no duplicate"
        );
        // ?since= with the same id replays the same punches.
        let (status, _) = get(&format!(
            "{}/devices/recepcion/attendance?since={}",
            env.base,
            if path == "/events" { "x" } else { &last_id }
        ));
        assert_eq!(status, if path == "/events" { 400 } else { 200 });
    }
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn accepted(posts: &[crate::common::receiver::Post]) -> usize {
    posts
        .iter()
        .filter(|p| p.accepted)
        .map(|p| p.body["data"].as_array().map_or(0, Vec::len))
        .sum()
}

#[test]
fn a_push_devices_webhook_gets_every_punch_once_in_order_across_an_outage_and_a_restart() {
    let dir = tempdir("webhook");
    let receiver = Receiver::start();
    let url = receiver.url.clone();
    let state = dir.join("devices.json.state.json");
    let Setup { env, journal } = setup(&dir, Vec::new(), |s| s.webhook = Some(url.clone()));
    // The start is stored once the webhook is running.
    let until = Instant::now() + WAIT;
    while !std::fs::read_to_string(&state).is_ok_and(|t| t.contains("recepcion")) {
        assert!(Instant::now() < until, "the starting position is stored");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stamp = |i: u32| format!("2026-03-02 09:00:{i:02}");
    let mut made = Vec::new();
    for i in 0..3 {
        push(&journal, &[("1", stamp(i).as_str())]);
        made.push(stamp(i));
    }
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 3));
    receiver.set_failing(true);
    for i in 3..6 {
        push(&journal, &[("1", stamp(i).as_str())]);
        made.push(stamp(i));
    }
    assert!(receiver.wait_for(WAIT, |p| p.iter().any(|p| !p.accepted)));
    drop(env);
    drop(journal);
    // Stored while zkserver was down (e.g. by another process).
    let journal = Journal::open(dir.join("punches.db")).unwrap();
    for i in 6..8 {
        push(&journal, &[("1", stamp(i).as_str())]);
        made.push(stamp(i));
    }
    drop(journal);
    receiver.set_failing(false);
    let Setup { env, journal } = setup(&dir, Vec::new(), |s| s.webhook = Some(url.clone()));
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 8));
    let got = receiver.accepted_field("timestamp");
    assert_eq!(got, made, "every punch once, in order");
    let post = &receiver.posts()[0];
    assert_eq!(post.body["device_id"], "recepcion");
    assert_eq!(post.key, post.body["cursor"].as_str().unwrap());
    // A clear at the newest position, with the webhook caught up: queued.
    let (_, body) = get(&format!("{}/devices/recepcion/attendance", env.base));
    let cursor = body["cursor"].as_str().unwrap().to_string();
    let clear = format!("{}/devices/recepcion/attendance/clear", env.base);
    let (status, body) = send("POST", &clear, json!({ "cursor": cursor }));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["command"]["status"], "pendiente");
    let commands = journal.list_commands("recepcion").unwrap();
    assert_eq!(commands[0].command, "CLEAR LOG");
    // Newer punches than the cursor: 409, nothing queued.
    push(&journal, &[("9", "2026-03-09 09:00:00")]);
    let (status, body) = send("POST", &clear, json!({ "cursor": cursor }));
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("1 marcación nueva"));
    assert_eq!(journal.list_commands("recepcion").unwrap().len(), 1);
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_collected_terminal_keeps_its_history_after_its_log_is_cleared() {
    let dir = tempdir("clear");
    let Setup { env, journal } = setup(&dir, two_sims(), |_| {});
    let n = distinct(&env.sims[0]) as u64;
    wait_count(&journal, "principal", n);
    // A punch made after the collector's first read is journaled by the
    // read before the clear.
    env.sims[0].punch(None);
    let (_, body) = get(&format!("{}/devices/principal/attendance", env.base));
    let cursor = body["cursor"].as_str().unwrap().to_string();
    let (status, body) = send(
        "POST",
        &format!("{}/devices/principal/attendance/clear", env.base),
        json!({ "cursor": cursor }),
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = get(&format!("{}/devices/principal/attendance", env.base));
    assert_eq!(body["total"], 0, "the terminal's log is empty");
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?source=journal",
        env.base
    ));
    assert_eq!(body["total"].as_u64(), Some(n + 1), "history kept");
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn backfill_reads_a_collected_terminal_once_and_queues_a_push_query() {
    let dir = tempdir("backfill");
    let Setup { env, journal } = setup(&dir, two_sims(), |_| {});
    let n = distinct(&env.sims[0]) as u64;
    wait_count(&journal, "principal", n);
    // Punches the collector has not read yet (its next read is an hour away).
    let made: Vec<_> = (0..3).map(|_| env.sims[0].punch(None)).collect();
    let day = made[0].time.to_string()[..10].to_string();
    let url = format!("{}/devices/principal/attendance/backfill", env.base);
    let (status, body) = send("POST", &url, json!({"from": day, "to": day}));
    assert_eq!(status, 200, "{body}");
    let fresh = made
        .iter()
        .map(|a| (a.user_id.clone(), a.time))
        .collect::<HashSet<_>>()
        .len();
    assert_eq!(body["stored"].as_u64(), Some(fresh as u64), "{body}");
    let (status, body) = send("POST", &url, json!({"from": day, "to": day}));
    assert_eq!(
        (status, body["stored"].as_u64()),
        (200, Some(0)),
        "no duplicates"
    );
    assert_eq!(
        journal.count_punches("principal").unwrap(),
        n + fresh as u64
    );
    // A push terminal is asked to upload the range again.
    let (status, body) = send(
        "POST",
        &format!("{}/devices/recepcion/attendance/backfill", env.base),
        json!({"from": "2026-03-01", "to": "2026-03-02"}),
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["message"], "Comando encolado para 'recepcion'.");
    let command = journal
        .get_command("recepcion", body["command"]["id"].as_i64().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        command.command,
        "DATA QUERY ATTLOG StartTime=2026-03-01 00:00:00\tEndTime=2026-03-02 23:59:59"
    );
    // Not collected, or a bad range.
    let (status, _) = send(
        "POST",
        &format!("{}/devices/bodega/attendance/backfill", env.base),
        json!({"from": "2026-03-01", "to": "2026-03-02"}),
    );
    assert_eq!(status, 409);
    let (status, body) = send(
        "POST",
        &url,
        json!({"from": "03/01/2026", "to": "2026-03-02"}),
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = request("POST", &url, Some("{\"to\": \"2026-03-02\"}"));
    assert_eq!(status, 400);
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_collected_terminal_streams_its_punches_through_the_journal() {
    let dir = tempdir("collected-sse");
    let Setup { env, journal } = setup(&dir, two_sims(), |_| {});
    let n = distinct(&env.sims[0]) as u64;
    wait_count(&journal, "principal", n);
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?source=journal",
        env.base
    ));
    let cursor = body["cursor"].as_str().unwrap().to_string();
    let mut sse = SseClient::connect(&env.base, "/devices/principal/events?source=journal", None);
    // The watcher the stream started sees it; the collector journals it.
    let made = env.sims[0].punch(None);
    let got = sse.punches(1, WAIT);
    assert_eq!(
        got.len(),
        1,
        "the punch arrives (journal: {} of {n}; head {:?})",
        journal.count_punches("principal").unwrap(),
        sse.head
    );
    assert_eq!(got[0].data["user_id"], made.user_id.as_str());
    assert_eq!(got[0].data["timestamp"], made.time.to_string());
    // Its id is a journal cursor: the same punch follows the listing's.
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?since={cursor}",
        env.base
    ));
    assert_eq!(body["source"], "journal", "{body}");
    assert_eq!(body["total"], 1);
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?since={}",
        env.base, got[0].id
    ));
    assert_eq!(body["total"], 0, "{body}");
    drop(sse);
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_journal_stream_resumes_across_a_server_restart() {
    let dir = tempdir("sse-restart");
    let Setup { env, journal } = setup(&dir, Vec::new(), |_| {});
    let mut sse = SseClient::connect(&env.base, "/devices/recepcion/events", None);
    push(&journal, &[("1", "2026-03-03 08:00:00")]);
    let got = sse.punches(1, WAIT);
    assert_eq!(got.len(), 1);
    let id = got[0].id.clone();
    drop(sse);
    drop(env);
    // Stored while the server is down.
    push(
        &journal,
        &[("2", "2026-03-03 08:00:01"), ("3", "2026-03-03 08:00:02")],
    );
    drop(journal);
    let Setup { env, journal } = setup(&dir, Vec::new(), |_| {});
    let mut sse = SseClient::connect(&env.base, "/devices/recepcion/events", Some(&id));
    let replay = sse.punches(2, WAIT);
    let users: Vec<&str> = replay
        .iter()
        .map(|e| e.data["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["2", "3"], "no gap, no duplicate");
    push(&journal, &[("4", "2026-03-03 08:00:03")]);
    assert_eq!(sse.punches(1, WAIT)[0].data["user_id"], "4");
    drop(sse);
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_push_clear_waits_for_the_webhook() {
    let dir = tempdir("clear-webhook");
    let receiver = Receiver::start();
    receiver.set_failing(true);
    let url = receiver.url.clone();
    let Setup { env, journal } = setup(&dir, Vec::new(), |s| s.webhook = Some(url));
    // The webhook started before the punch: it must deliver it.
    let state = dir.join("devices.json.state.json");
    let until = Instant::now() + WAIT;
    while !std::fs::read_to_string(&state).is_ok_and(|t| t.contains("recepcion")) {
        assert!(Instant::now() < until, "the starting position is stored");
        std::thread::sleep(Duration::from_millis(20));
    }
    push(&journal, &[("1", "2026-03-03 08:00:00")]);
    assert!(receiver.wait_for(WAIT, |p| p.iter().any(|p| !p.accepted)));
    let (_, body) = get(&format!("{}/devices/recepcion/attendance", env.base));
    let cursor = body["cursor"].as_str().unwrap().to_string();
    let clear = format!("{}/devices/recepcion/attendance/clear", env.base);
    let (status, body) = send("POST", &clear, json!({ "cursor": cursor }));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("webhook"),
        "{body}"
    );
    assert!(journal.list_commands("recepcion").unwrap().is_empty());
    receiver.set_failing(false);
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 1));
    let until = Instant::now() + WAIT;
    loop {
        let (status, body) = send("POST", &clear, json!({ "cursor": cursor }));
        if status == 202 {
            break;
        }
        assert!(Instant::now() < until, "{status} {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A terminal-log cursor is not a journal position.
    let (status, _) = send(
        "POST",
        &clear,
        json!({ "cursor": "AQAAAAAAAAAAAAAAAAAAAAAAAA" }),
    );
    assert_eq!(status, 400);
    drop(env);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_binary_collects_every_terminal_with_collect_each_interval() {
    use crate::common::process::{start_server, terminate};
    let dir = tempdir("cli-collect");
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let devices = dir.join("devices.json");
    std::fs::write(
        &devices,
        json!({"principal": {"ip": "127.0.0.1", "port": sim.port(), "name": "Entrada Principal"}})
            .to_string(),
    )
    .unwrap();
    let args = [
        "--config",
        devices.to_str().unwrap(),
        "--log-level",
        "warn",
        "--collect",
        "--collect-interval",
        "1",
    ];
    let (mut child, addr) = start_server(&args);
    let url = format!("http://{addr}/devices/principal/attendance?source=journal");
    let total = || get(&url).1["total"].as_u64().unwrap_or(0);
    let wait_total = |n: u64| {
        let until = Instant::now() + WAIT;
        while total() != n {
            assert!(
                Instant::now() < until,
                "{} in the journal, not {n}",
                total()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let n = distinct(&sim) as u64;
    wait_total(n);
    // Nobody watches the terminal: the interval's since read brings it.
    sim.punch(None);
    wait_total(n + 1);
    assert_eq!(terminate(&mut child), 0);
    // The journal file is where it belongs, and keeps them after a restart.
    assert!(dir.join("punches.db").exists());
    // Without --collect, a terminal without "collect" is still collected
    // (the default); one with "collect": false is not.
    let (mut child, addr) = start_server(&args[..4]);
    let (status, body) = get(&format!(
        "http://{addr}/devices/principal/attendance?source=journal"
    ));
    assert_eq!(status, 200, "collected by default: {body}");
    assert_eq!(terminate(&mut child), 0);
    std::fs::write(
        &devices,
        json!({"principal": {"ip": "127.0.0.1", "port": sim.port(), "name": "Entrada Principal",
                             "collect": false}})
        .to_string(),
    )
    .unwrap();
    let (mut child, addr) = start_server(&args[..4]);
    let (status, body) = get(&format!(
        "http://{addr}/devices/principal/attendance?source=journal"
    ));
    assert_eq!(status, 409, "not collected any more: {body}");
    assert_eq!(terminate(&mut child), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_server_on_the_same_journal_is_refused_until_the_first_is_gone() {
    use crate::common::process::{
        command, host_path, signal, start_server, terminate, windows, Running,
    };
    let dir = tempdir("held");
    let devices = dir.join("devices.json");
    std::fs::write(&devices, "{}").unwrap();
    let journal = dir.join("punches.db");
    let (config, journal_arg) = (host_path(&devices), host_path(&journal));
    let args = [
        "--config",
        config.as_str(),
        "--journal",
        journal_arg.as_str(),
    ];
    let mut first = start_server(&args).0;

    // The second start (systemd's and one by hand) fails at once, in
    // Spanish, naming the journal; it never touches the file.
    let mut second = Running(
        command()
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let until = Instant::now() + WAIT;
    let code = loop {
        if let Some(status) = second.0.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            Instant::now() < until,
            "a second server started on a journal another one holds"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.0.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("está en uso por otro zkserver") && err.contains("punches.db"),
        "{err}"
    );
    assert!(!err.contains("migrating failed"), "{err}");

    // The lock is the operating system's: a holder killed outright (no
    // chance to clean up) leaves nothing that blocks the next start.
    if windows() {
        assert_eq!(terminate(&mut first.0), 0);
    } else {
        signal(&first.0, "KILL");
        first.0.wait().unwrap();
    }
    let (again, addr) = start_server(&args);
    let mut again = again;
    let (status, body) = get(&format!("http://{addr}/"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(terminate(&mut again.0), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
