//! One conversation per terminal at a time; different terminals in parallel;
//! a request that waits too long for a busy terminal gets a 503.

mod common;

use std::time::Duration;

use common::*;
use zkserver::sim::{Faults, SimConfig};

fn slow(seed: u64) -> SimConfig {
    let faults = Faults {
        latency: Duration::from_millis(1),
        ..Faults::default()
    };
    SimConfig {
        records: 2000,
        seed,
        faults,
        ..SimConfig::default()
    }
}

#[test]
fn ten_requests_to_one_device_are_served_one_at_a_time() {
    let env = single(slow(1), Link::default());
    let url = format!("{}/devices/principal/attendance?limit=1", env.base);
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url))
        })
        .collect();
    for h in handles {
        let (status, body) = h.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["matched"], 2000);
    }
    let stats = env.sims[0].stats();
    assert_eq!(
        stats.max_active, 1,
        "never two connections at once: {stats:?}"
    );
    assert_eq!(stats.intervals.len(), 10);
    assert!(!env.sims[0].is_disabled());
}

#[test]
fn requests_to_two_devices_overlap_in_time() {
    let env = start(vec![
        ("principal", "Entrada Principal", slow(1), Link::default()),
        ("bodega", "Bodega", slow(2), Link::default()),
    ]);
    let urls = [
        format!("{}/devices/principal/attendance?limit=1", env.base),
        format!("{}/devices/bodega/attendance?limit=1", env.base),
    ];
    let handles: Vec<_> = urls
        .iter()
        .cloned()
        .map(|u| std::thread::spawn(move || get(&u)))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().0, 200);
    }
    let a = env.sims[0].stats().intervals;
    let b = env.sims[1].stats().intervals;
    assert_eq!((a.len(), b.len()), (1, 1));
    let (a, b) = (a[0], b[0]);
    assert!(a.0 < b.1 && b.0 < a.1, "conversations overlap: {a:?} {b:?}");
}

#[test]
fn busy_device_answers_503_after_the_lock_timeout() {
    let faults = Faults {
        latency: Duration::from_millis(3),
        ..Faults::default()
    };
    let env = start_with(
        vec![(
            "principal",
            "Entrada Principal",
            SimConfig {
                records: 3000,
                faults,
                ..SimConfig::default()
            },
            Link::default(),
        )],
        vec![],
        Duration::from_millis(200),
    );
    let url = format!("{}/devices/principal/attendance?limit=1", env.base);
    let first = {
        let url = url.clone();
        std::thread::spawn(move || get(&url))
    };
    std::thread::sleep(Duration::from_millis(50));
    let resp = minreq::get(&url).with_timeout(60).send().unwrap();
    assert_eq!(resp.status_code, 503, "{}", resp.as_str().unwrap());
    assert!(resp.headers.contains_key("retry-after"));
    let body: serde_json::Value = serde_json::from_str(resp.as_str().unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Dispositivo 'principal' ocupado"),
        "{body}"
    );
    assert_eq!(first.join().unwrap().0, 200);
    assert!(!env.sims[0].is_disabled());
}
