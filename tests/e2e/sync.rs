//! Only new punches: cursors, `since` tail reads (exact, chunk-aligned and
//! full fallbacks), resets, composite cursors, and safe clearing — over TCP
//! and UDP, every record format, against the simulator.

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};
use zkserver::sim::{Faults, OffsetMode, SimConfig};
use zkserver::zk::AttFormat;

/// How long anything may take on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

fn url(env: &Env, query: &str) -> String {
    format!("{}/devices/principal/attendance?pretty=0&{query}", env.base)
}

/// The cursor of a full read, and its body.
fn full(env: &Env) -> (String, Value) {
    let (status, body) = get(&url(env, "limit=1"));
    assert_eq!(status, 200, "{body}");
    (body["cursor"].as_str().unwrap().to_string(), body)
}

fn since(env: &Env, cursor: &str) -> Value {
    let (status, body) = get(&url(env, &format!("since={cursor}")));
    assert_eq!(status, 200, "{body}");
    body
}

/// User ids of a listing, oldest first (listings are newest first, and
/// punches of the same second keep device order).
fn users_oldest_first(body: &Value) -> Vec<String> {
    let mut v: Vec<(String, String)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let t = r["timestamp"].as_str().unwrap().to_string();
            (t, r["user_id"].as_str().unwrap().to_string())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, u)| u).collect()
}

/// Punches `n` times at the simulator, each by a different user, returning
/// the user ids in order.
fn punch(env: &Env, n: usize) -> Vec<String> {
    (0..n).map(|_| env.sims[0].punch(None).user_id).collect()
}

#[test]
fn a_hundred_thousand_records_and_ten_new_ones_move_under_2_kb() {
    let env = single(
        SimConfig {
            records: 100_000,
            users: 50,
            ..SimConfig::default()
        },
        Link::default(),
    );
    let (cursor, _) = full(&env);
    let made = punch(&env, 10);
    let before = env.sims[0].stats().attendance_bytes;
    let body = since(&env, &cursor);
    let moved = env.sims[0].stats().attendance_bytes - before;
    assert_eq!(body["reset"], false);
    assert_eq!(body["total"], 10);
    assert_eq!(users_oldest_first(&body), made);
    assert!(moved <= 2048, "{moved} bytes of attendance moved");
    assert!(!env.sims[0].is_disabled());
    // Nothing new: one record re-read to confirm, nothing returned.
    let next = body["cursor"].as_str().unwrap().to_string();
    let again = since(&env, &next);
    assert_eq!(
        (again["total"].as_u64(), again["reset"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(again["cursor"], next.as_str(), "the cursor does not move");
}

#[test]
fn every_format_and_transport_returns_exactly_the_new_records() {
    for format in AttFormat::KNOWN {
        for udp in [false, true] {
            for records in [0usize, 3, 2000] {
                let env = single(
                    SimConfig {
                        records,
                        attendance_format: format,
                        user_format: if format == AttFormat::Uid8 {
                            zkserver::zk::UserFormat::Short28
                        } else {
                            zkserver::zk::UserFormat::Long72
                        },
                        seed: records as u64 + 3,
                        ..SimConfig::default()
                    },
                    Link {
                        udp,
                        ..Link::default()
                    },
                );
                let (cursor, _) = full(&env);
                let made = punch(&env, 3);
                let body = since(&env, &cursor);
                assert_eq!(
                    body["reset"], false,
                    "{format:?} udp={udp} records={records}"
                );
                assert_eq!(
                    users_oldest_first(&body),
                    made,
                    "{format:?} udp={udp} records={records}"
                );
                let again = since(&env, body["cursor"].as_str().unwrap());
                assert_eq!(again["total"], 0, "{format:?} udp={udp} records={records}");
                assert!(!env.sims[0].is_disabled());
            }
        }
    }
}

#[test]
fn csv_carries_the_cursor_in_headers() {
    let env = single(SimConfig::default(), Link::default());
    let (cursor, _) = full(&env);
    let made = punch(&env, 2);
    let resp = minreq::get(url(&env, &format!("since={cursor}&format=csv")))
        .with_timeout(30)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    let next = resp.headers.get("x-cursor").expect("X-Cursor").clone();
    assert_eq!(
        resp.headers.get("x-reset").map(String::as_str),
        Some("false")
    );
    let text = resp.as_str().unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains(&made[0]) && text.contains(&made[1]));
    assert_ne!(next, cursor);
}

#[test]
fn firmware_that_refuses_or_rounds_offsets_still_gets_the_right_tail() {
    for mode in [OffsetMode::RefuseUnaligned, OffsetMode::RoundDown] {
        for udp in [false, true] {
            let env = single(
                SimConfig {
                    records: 20_000,
                    offset_mode: mode,
                    ..SimConfig::default()
                },
                Link {
                    udp,
                    ..Link::default()
                },
            );
            let (cursor, _) = full(&env);
            let made = punch(&env, 4);
            let body = since(&env, &cursor);
            assert_eq!(body["reset"], false, "{mode:?} udp={udp}");
            assert_eq!(users_oldest_first(&body), made, "{mode:?} udp={udp}");
            // The next read starts with the method that worked: it moves
            // at most one aligned chunk, not the whole log.
            let made = punch(&env, 1);
            let before = env.sims[0].stats().attendance_bytes;
            let body = since(&env, body["cursor"].as_str().unwrap());
            let moved = env.sims[0].stats().attendance_bytes - before;
            assert_eq!(users_oldest_first(&body), made, "{mode:?} udp={udp}");
            let chunk = if udp { 16_384 } else { 65_472 };
            assert!(moved <= chunk + 100, "{mode:?} udp={udp}: {moved} bytes");
        }
    }
}

#[test]
fn stale_counters_and_inline_answers_do_not_matter() {
    for skew in [-3, 0, 5] {
        let env = single(
            SimConfig {
                records: 10,
                faults: Faults {
                    count_skew: skew,
                    ..Faults::default()
                },
                // Small logs come inline, larger ones buffered.
                inline_threshold: 600,
                ..SimConfig::default()
            },
            Link::default(),
        );
        let (cursor, _) = full(&env);
        let made = punch(&env, 20);
        let body = since(&env, &cursor);
        assert_eq!(body["reset"], false, "skew {skew}");
        assert_eq!(users_oldest_first(&body), made, "skew {skew}");
    }
}

#[test]
fn a_cleared_or_replaced_log_is_a_reset() {
    let env = single(
        SimConfig {
            records: 500,
            ..SimConfig::default()
        },
        Link::default(),
    );
    let (cursor, _) = full(&env);
    env.sims[0].with_state(|st| st.punches.clear());
    let made = punch(&env, 2);
    let body = since(&env, &cursor);
    assert_eq!(body["reset"], true);
    assert_eq!(users_oldest_first(&body), made, "the whole (new) log");
    // A log replaced by another of the same length.
    let (cursor, _) = full(&env);
    env.sims[0].with_state(|st| {
        for p in &mut st.punches {
            p.status = p.status.wrapping_add(1);
        }
    });
    let body = since(&env, &cursor);
    assert_eq!(
        (body["reset"].as_bool(), body["total"].as_u64()),
        (Some(true), Some(2))
    );
}

#[test]
fn bad_cursors_are_400s() {
    let env = start(vec![
        (
            "principal",
            "Entrada Principal",
            SimConfig::default(),
            Link::default(),
        ),
        ("bodega", "Bodega", SimConfig::default(), Link::default()),
    ]);
    let (status, other) = get(&format!("{}/devices/bodega/attendance?limit=1", env.base));
    assert_eq!(status, 200);
    let other = other["cursor"].as_str().unwrap();
    for (cursor, why) in [
        ("nope!", "no es un cursor"),
        ("AAAA", "no es un cursor"),
        (other, "otro dispositivo"),
    ] {
        let (status, body) = get(&url(&env, &format!("since={cursor}")));
        assert_eq!(status, 400, "{body}");
        let msg = body["error"].as_str().unwrap();
        assert!(
            msg.starts_with("Cursor inválido: ") && msg.contains(why),
            "{msg}"
        );
    }
    let (status, body) = get(&format!("{}/attendance/all?since={other}", env.base));
    assert_eq!(
        status, 400,
        "a device cursor is not a composite one: {body}"
    );
    // Well formed, but past any log: the whole log, as a reset.
    let absurd = zkserver::cursor::encode(
        "principal",
        &zkserver::zk::LogPosition {
            format: AttFormat::Full40,
            count: u32::MAX,
            digest: 1,
        },
    );
    let body = since(&env, &absurd);
    assert_eq!(
        (body["reset"].as_bool(), body["total"].as_u64()),
        (Some(true), Some(100))
    );
}

#[test]
fn all_devices_share_one_composite_cursor() {
    let env = two_terminals(9);
    let (status, body) = get(&format!("{}/attendance/all?limit=1", env.base));
    assert_eq!(status, 200);
    let cursor = body["cursor"].as_str().unwrap().to_string();
    let a = env.sims[0].punch(None).user_id;
    let b = env.sims[1].punch(None).user_id;
    let (_, body) = get(&format!(
        "{}/attendance/all?pretty=0&since={cursor}",
        env.base
    ));
    assert_eq!(body["reset"], false, "{body}");
    assert_eq!(body["reset_devices"], json!([]));
    let mut got: Vec<(String, String)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["device_id"].as_str().unwrap().into(),
                r["user_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![("bodega".into(), b), ("principal".into(), a)]);
    // A terminal the cursor did not know starts over.
    let (_, one) = get(&format!(
        "{}/devices/principal/attendance?limit=1",
        env.base
    ));
    let partial = {
        let p = zkserver::cursor::decode("principal", one["cursor"].as_str().unwrap()).unwrap();
        zkserver::cursor::encode_composite(&[("principal".into(), p)])
    };
    let (_, body) = get(&format!(
        "{}/attendance/all?pretty=0&since={partial}",
        env.base
    ));
    assert_eq!(body["reset_devices"], json!(["bodega"]));
    assert_eq!(body["reset"], true);
}

#[test]
fn clearing_is_safe() {
    let env = single(
        SimConfig {
            records: 300,
            ..SimConfig::default()
        },
        Link::default(),
    );
    let clear_url = format!("{}/devices/principal/attendance/clear", env.base);
    let (status, body) = send("POST", &clear_url, json!({}));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("Cursor requerido."))
    );
    let (status, body) = send("POST", &clear_url, json!({"cursor": "xyz"}));
    assert_eq!(status, 400, "{body}");

    let (cursor, _) = full(&env);
    punch(&env, 3);
    let (status, body) = send("POST", &clear_url, json!({"cursor": cursor}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"],
        "Hay 3 marcaciones nuevas desde el cursor; descárguelas antes de borrar."
    );
    assert_eq!(
        env.sims[0].with_state(|st| st.punches.len()),
        303,
        "nothing cleared"
    );
    assert!(!env.sims[0].is_disabled());

    let (cursor, _) = full(&env);
    let (status, body) = send("POST", &clear_url, json!({"cursor": cursor}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["message"],
        "[principal] Registros de asistencia borrados."
    );
    assert_eq!(body["cleared"], 303);
    assert_eq!(env.sims[0].with_state(|st| st.punches.len()), 0);
    assert!(!env.sims[0].is_disabled(), "re-enabled after clearing");
    // The cursor of the empty log follows new punches.
    let made = punch(&env, 2);
    let after = since(&env, body["cursor"].as_str().unwrap());
    assert_eq!(after["reset"], false);
    assert_eq!(users_oldest_first(&after), made);
    // An old cursor no longer matches the log.
    let (status, body) = send("POST", &clear_url, json!({"cursor": cursor}));
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("no corresponde"));
}

#[test]
fn clearing_waits_for_the_webhook() {
    let receiver = receiver::Receiver::start();
    receiver.set_failing(true);
    let env = with_webhook(&receiver.url);
    // The webhook starts at the log's end; then a punch it cannot deliver.
    crate::webhooks::wait_watching(&env.base);
    punch(&env, 1);
    assert!(receiver.wait_for(WAIT, |p| !p.is_empty()));
    let (cursor, _) = full(&env);
    let clear_url = format!("{}/devices/principal/attendance/clear", env.base);
    let (status, body) = send("POST", &clear_url, json!({"cursor": cursor}));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("webhook"),
        "{body}"
    );
    assert_eq!(env.sims[0].with_state(|st| st.punches.len()), 101);
    receiver.set_failing(false);
    assert!(receiver.wait_for(WAIT, |p| p.iter().any(|p| p.accepted)));
    // The 2xx is recorded just after the receiver answered it: until then
    // the webhook is still behind.
    let until = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = send("POST", &clear_url, json!({"cursor": cursor}));
        if status == 200 {
            break;
        }
        assert!(
            status == 409 && std::time::Instant::now() < until,
            "{status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!env.sims[0].is_disabled());
}
