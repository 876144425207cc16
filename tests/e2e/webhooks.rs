//! Webhook delivery: new punches POSTed oldest first in batches of at most
//! 500 with `Idempotency-Key`, retried in order through receiver outages,
//! resumed after a zkserver restart from the state file; the registry
//! field is validated.

use std::time::{Duration, Instant};

use crate::common::receiver::Receiver;
use crate::common::*;
use serde_json::json;
use zkserver::sim::{SimConfig, Simulator};

/// How long anything may take on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// The text of `/metrics`.
pub(crate) fn metrics(base: &str) -> String {
    minreq::get(format!("{base}/metrics"))
        .with_timeout(30)
        .send()
        .map(|r| r.as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Waits until `/metrics` holds the line `line`; panics (with the metrics)
/// when it does not within 30 s.
pub(crate) fn wait_metric(base: &str, line: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    let mut text = metrics(base);
    while !text.lines().any(|l| l == line) {
        assert!(Instant::now() < until, "never {line:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
        text = metrics(base);
    }
}

/// Waits until the watcher of `principal` is online: it has read the log's
/// end, so every punch made from now on is delivered (the webhook took its
/// interest in the terminal before: it started the watcher).
pub(crate) fn wait_watching(base: &str) {
    wait_metric(base, "zkserver_watcher_online{device=\"principal\"} 1");
}

/// Accepted punches so far.
fn accepted(p: &[receiver::Post]) -> usize {
    p.iter()
        .filter(|p| p.accepted)
        .map(|p| p.body["data"].as_array().unwrap().len())
        .sum()
}

#[test]
fn new_punches_are_posted_oldest_first_with_idempotency_keys() {
    let receiver = Receiver::start();
    let env = with_webhook(&receiver.url);
    wait_watching(&env.base);
    let made: Vec<String> = (0..3).map(|_| env.sims[0].punch(None).user_id).collect();
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 3));
    assert_eq!(
        receiver.accepted_users(),
        made,
        "only new punches, oldest first"
    );
    for post in receiver.posts() {
        assert_eq!(post.body["device_id"], "principal");
        assert_eq!(post.body["device_name"], "Entrada Principal");
        assert_eq!(
            post.key,
            post.body["cursor"].as_str().unwrap(),
            "Idempotency-Key is the cursor"
        );
        let row = &post.body["data"][0];
        assert!(row["timestamp"].is_string() && row["status"].is_u64() && row["punch"].is_u64());
    }
    // Counted once the 2xx is back (just after the receiver recorded it).
    wait_metric(
        &env.base,
        "zkserver_webhook_delivered_total{device=\"principal\"} 3",
    );
}

#[test]
fn a_receiver_outage_is_retried_in_order_in_batches_of_500() {
    let receiver = Receiver::start();
    let env = with_webhook(&receiver.url);
    wait_watching(&env.base);
    receiver.set_failing(true);
    let made: Vec<String> = (0..1200)
        .map(|i| {
            let id = format!("{}", 5000 + i);
            env.sims[0].punch(Some(&id)).user_id
        })
        .collect();
    assert!(
        receiver.wait_for(WAIT, |p| p.len() >= 2),
        "retried while failing"
    );
    receiver.set_failing(false);
    assert!(receiver.wait_for(Duration::from_secs(90), |p| accepted(p) >= 1200));
    assert_eq!(
        receiver.accepted_users(),
        made,
        "every punch, once, in order"
    );
    let sizes: Vec<usize> = receiver
        .posts()
        .iter()
        .filter(|p| p.accepted)
        .map(|p| p.body["data"].as_array().unwrap().len())
        .collect();
    assert!(sizes.iter().all(|n| *n <= 500), "{sizes:?}");
    // Retries repeat the same batch with the same key.
    let failed: Vec<String> = receiver
        .posts()
        .iter()
        .filter(|p| !p.accepted)
        .map(|p| p.key.clone())
        .collect();
    let first_ok = receiver
        .posts()
        .iter()
        .find(|p| p.accepted)
        .unwrap()
        .key
        .clone();
    assert!(
        failed.iter().all(|k| *k == failed[0]) && failed[0] == first_ok,
        "{failed:?} then {first_ok}"
    );
}

#[test]
fn delivery_survives_a_receiver_outage_and_a_zkserver_restart() {
    use crate::common::process::{start_server, terminate};
    let receiver = Receiver::start();
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("zkserver-webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let devices = dir.join("devices.json");
    std::fs::write(
        &devices,
        json!({"principal": {"ip": "127.0.0.1", "port": sim.port(), "name": "Entrada Principal",
                             "webhook": receiver.url}})
        .to_string(),
    )
    .unwrap();
    let state = dir.join("devices.json.state.json");
    let args = ["--config", devices.to_str().unwrap(), "--log-level", "warn"];
    let (mut child, addr) = start_server(&args);
    wait_watching(&format!("http://{addr}"));
    let until = Instant::now() + WAIT;
    while !state.exists() {
        assert!(Instant::now() < until, "the starting position is stored");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut made: Vec<String> = (0..3).map(|_| sim.punch(None).user_id).collect();
    assert!(receiver.wait_for(WAIT, |p| p.iter().filter(|p| p.accepted).count() >= 1));
    receiver.set_failing(true);
    made.extend((0..3).map(|_| sim.punch(None).user_id));
    assert!(receiver.wait_for(WAIT, |p| p.iter().any(|p| !p.accepted)));
    assert_eq!(
        terminate(&mut child),
        0,
        "a graceful stop does not wait for retries"
    );
    // Punches made while zkserver is down.
    made.extend((0..2).map(|_| sim.punch(None).user_id));
    receiver.set_failing(false);
    let (mut child, _) = start_server(&args);
    assert!(receiver.wait_for(Duration::from_secs(60), |p| accepted(p) >= 8));
    let got = receiver.accepted_users();
    assert_eq!(got, made, "every punch delivered, in order");
    let text = std::fs::read_to_string(&state).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).expect("state file is JSON");
    assert!(
        value["webhooks"]["principal"]["cursor"].is_string(),
        "{text}"
    );
    assert_eq!(terminate(&mut child), 0);
    assert!(!sim.is_disabled());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_registry_validates_webhooks() {
    let env = single(SimConfig::default(), Link::default());
    let url = format!("{}/devices/principal", env.base);
    let (status, body) = send("PUT", &url, json!({"webhook": "ftp://x"}));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("'webhook'"));
    let (status, body) = send("PUT", &url, json!({"webhook": "http://127.0.0.1:9/h"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["webhook"], "http://127.0.0.1:9/h");
    let (status, body) = send("PUT", &url, json!({"webhook": null}));
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].get("webhook").is_none(), "removed: {body}");
}

#[test]
fn a_safe_clear_does_not_repeat_deliveries() {
    let receiver = Receiver::start();
    let env = with_webhook(&receiver.url);
    wait_watching(&env.base);
    let mut made = vec![env.sims[0].punch(None).user_id];
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 1));
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?limit=1",
        env.base
    ));
    let cursor = body["cursor"].as_str().unwrap().to_string();
    let clear_url = format!("{}/devices/principal/attendance/clear", env.base);
    // The 2xx is recorded just after the receiver answered it.
    let until = Instant::now() + WAIT;
    loop {
        let (status, body) = send("POST", &clear_url, json!({ "cursor": cursor }));
        if status == 200 {
            break;
        }
        assert!(status == 409 && Instant::now() < until, "{status} {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    for n in 2..=3 {
        made.push(env.sims[0].punch(None).user_id);
        assert!(receiver.wait_for(WAIT, |p| accepted(p) >= n), "{n}");
    }
    assert_eq!(receiver.accepted_users(), made, "each punch once");
    assert_eq!(receiver.posts().len(), 3, "{:?}", receiver.posts());
}

#[test]
fn a_new_webhook_starts_with_punches_made_after_it_was_set() {
    let receiver = Receiver::start();
    let env = single(SimConfig::default(), Link::default());
    // A stream came and went: the server knew the log's end once.
    {
        let mut s = sse::SseClient::connect(&env.base, "/devices/principal/events", None);
        assert!(s.status("online", WAIT).is_some());
    }
    wait_metric(
        &env.base,
        "zkserver_watcher_running{device=\"principal\"} 0",
    );
    env.sims[0].punch(None);
    let url = format!("{}/devices/principal", env.base);
    let (status, body) = send("PUT", &url, json!({ "webhook": receiver.url }));
    assert_eq!(status, 200, "{body}");
    wait_watching(&env.base);
    let made: Vec<String> = (0..2).map(|_| env.sims[0].punch(None).user_id).collect();
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 2));
    assert_eq!(
        receiver.accepted_users(),
        made,
        "only punches made after the PUT"
    );
}

#[test]
fn the_backlog_counts_every_waiting_punch() {
    let receiver = Receiver::start();
    receiver.set_failing(true);
    let env = with_webhook(&receiver.url);
    wait_watching(&env.base);
    env.sims[0].punch(None);
    // The first punch is being retried when the others are made.
    assert!(receiver.wait_for(WAIT, |p| !p.is_empty()));
    for _ in 0..4 {
        env.sims[0].punch(None);
    }
    wait_metric(
        &env.base,
        "zkserver_webhook_backlog{device=\"principal\"} 5",
    );
    receiver.set_failing(false);
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 5));
    wait_metric(
        &env.base,
        "zkserver_webhook_backlog{device=\"principal\"} 0",
    );
}

#[test]
fn an_empty_log_clears_with_a_webhook_set() {
    let receiver = Receiver::start();
    let env = start_app(
        vec![(
            "principal",
            "Entrada Principal",
            SimConfig {
                records: 0,
                ..SimConfig::default()
            },
            Link::default(),
        )],
        Vec::new(),
        |s| s.webhook = Some(receiver.url.clone()),
    );
    wait_watching(&env.base);
    let (_, body) = get(&format!("{}/devices/principal/attendance", env.base));
    let clear_url = format!("{}/devices/principal/attendance/clear", env.base);
    let (status, body) = send("POST", &clear_url, json!({ "cursor": body["cursor"] }));
    assert_eq!((status, body["cleared"].as_u64()), (200, Some(0)), "{body}");
    let made = env.sims[0].punch(None).user_id;
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 1));
    assert_eq!(receiver.accepted_users(), [made]);
}

#[test]
fn a_punch_made_as_soon_as_a_webhook_is_set_is_delivered() {
    let receiver = Receiver::start();
    let env = single(SimConfig::default(), Link::default());
    let url = format!("{}/devices/principal", env.base);
    let mut made = Vec::new();
    for round in 0..5 {
        // No watcher runs: setting the webhook starts one.
        crate::live::wait_no_watcher(&env.base);
        let hook = format!("{}?round={round}", receiver.url);
        let (status, body) = send("PUT", &url, json!({ "webhook": hook }));
        assert_eq!(status, 200, "{body}");
        made.push(env.sims[0].punch(None).user_id);
        assert!(
            receiver.wait_for(WAIT, |p| accepted(p) >= made.len()),
            "round {round}"
        );
        let (status, body) = send("PUT", &url, json!({ "webhook": null }));
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(receiver.accepted_users(), made, "each once, in order");
    // A device registered with a webhook, the same way.
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let (status, body) = send(
        "POST",
        &format!("{}/devices", env.base),
        json!({"id": "segundo", "name": "Segundo", "ip": "127.0.0.1",
               "port": sim.port(), "webhook": receiver.url}),
    );
    assert_eq!(status, 200, "{body}");
    made.push(sim.punch(None).user_id);
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= made.len()));
    assert_eq!(receiver.accepted_users(), made);
}

#[test]
fn a_punch_made_as_soon_as_the_server_with_a_webhook_is_up_is_delivered() {
    for round in 0..5 {
        let receiver = Receiver::start();
        let env = with_webhook(&receiver.url);
        let made = env.sims[0].punch(None).user_id;
        assert!(
            receiver.wait_for(WAIT, |p| accepted(p) >= 1),
            "round {round}"
        );
        assert_eq!(receiver.accepted_users(), [made]);
    }
}

#[test]
fn a_webhook_set_again_after_the_log_was_replaced_sends_each_punch_once() {
    let receiver = Receiver::start();
    let env = start_app(
        vec![(
            "principal",
            "Entrada Principal",
            SimConfig {
                records: 0,
                ..SimConfig::default()
            },
            Link {
                timeout: 1.0,
                ..Link::default()
            },
        )],
        Vec::new(),
        |_| {},
    );
    let url = format!("{}/devices/principal", env.base);
    let set = |hook: serde_json::Value| {
        let (status, body) = send("PUT", &url, json!({ "webhook": hook }));
        assert_eq!(status, 200, "{body}");
    };
    set(json!(receiver.url));
    let mut made: Vec<String> = ["9001", "9002", "9003"]
        .iter()
        .map(|id| env.sims[0].punch(Some(id)).user_id)
        .collect();
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 3));
    // Removed: nobody watches; the server's copy of the log goes stale.
    set(json!(null));
    crate::live::wait_no_watcher(&env.base);
    // The log is replaced behind zkserver's back (cleared at the terminal).
    env.sims[0].with_state(|st| st.punches.clear());
    made.push(env.sims[0].punch(Some("9101")).user_id);
    // The watcher cannot follow the log for now (no answer to its event
    // registration): the server's copy stays stale while the webhook,
    // set again, reads the terminal itself. It resumes from its stored
    // position, which the new log does not continue: the whole new log
    // follows, once.
    env.sims[0].set_faults(zkserver::sim::Faults {
        no_reply_to: Some(zkserver::zk::wire::cmd::REG_EVENT),
        ..Default::default()
    });
    set(json!(receiver.url));
    assert!(receiver.wait_for(WAIT, |p| accepted(p) >= 4));
    env.sims[0].set_faults(zkserver::sim::Faults::default());
    wait_watching(&env.base);
    made.push(env.sims[0].punch(Some("9102")).user_id);
    assert!(receiver.wait_for(WAIT, |p| p
        .iter()
        .any(|p| p.accepted && p.body["data"].to_string().contains("9102"))));
    assert_eq!(receiver.accepted_users(), made, "each punch once, in order");
}
