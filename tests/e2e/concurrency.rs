//! One conversation per terminal at a time; different terminals in parallel;
//! a request that waits too long for a busy terminal gets a 503.

use std::time::Duration;

use crate::common::*;
use zkserver::sim::{Faults, SimConfig};

fn slow(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        ..slow_sim(2000, Duration::from_millis(1))
    }
}

#[test]
fn ten_requests_to_one_device_are_served_one_at_a_time() {
    let env = single(slow(1), Link::default());
    let base = format!("{}/devices/principal", env.base);
    let paths = [
        "users", "time", "info", "users", "time", "info", "users", "time", "info", "users",
    ];
    let handles: Vec<_> = paths
        .iter()
        .map(|p| {
            let url = format!("{base}/{p}");
            std::thread::spawn(move || get(&url))
        })
        .collect();
    for h in handles {
        let (status, body) = h.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let stats = env.sims[0].stats();
    assert_eq!(
        stats.max_active, 1,
        "never two conversations at once: {stats:?}"
    );
    assert_eq!(stats.intervals.len(), 10);
    assert!(!env.sims[0].is_disabled());
}

#[test]
fn concurrent_attendance_requests_share_downloads() {
    let faults = Faults {
        latency: Duration::from_millis(5),
        ..Faults::default()
    };
    let env = single(
        SimConfig {
            records: 2000,
            faults,
            ..SimConfig::default()
        },
        Link::default(),
    );
    let url = format!("{}/devices/principal/attendance", env.base);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let url = format!("{url}?limit={}", i + 1);
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                get(&url)
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let (status, body) = h.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["matched"].as_u64(), body["total"].as_u64()),
            (Some(2000), Some(i as u64 + 1))
        );
    }
    let stats = env.sims[0].stats();
    assert!(
        (1..=2).contains(&stats.attendance_reads),
        "10 requests, {} downloads",
        stats.attendance_reads
    );
    assert_eq!(stats.max_active, 1);
    assert!(!env.sims[0].is_disabled());
}

#[test]
fn a_request_arriving_mid_download_sees_punches_made_before_it_arrived() {
    let env = single(slow(1), Link::default());
    let url = format!("{}/devices/principal/attendance?limit=1", env.base);
    let first = {
        let url = url.clone();
        std::thread::spawn(move || get(&url))
    };
    let started = std::time::Instant::now();
    while env.sims[0].stats().chunk_reads == 0 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(2));
    }
    // A punch happens during the first download; then a second request arrives.
    env.sims[0].with_state(|st| {
        let mut p = st.punches.last().unwrap().clone();
        p.time.year += 1;
        st.punches.push(p);
    });
    let (_, second) = get(&url);
    let (_, first) = first.join().unwrap();
    assert_eq!(
        first["matched"], 2000,
        "the first download began before the punch"
    );
    assert_eq!(
        second["matched"], 2001,
        "the second request got a download that began after it arrived"
    );
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
    let sim = slow_sim(3000, Duration::from_millis(3));
    let env = start_with(
        vec![("principal", "Entrada Principal", sim, Link::default())],
        vec![],
        Duration::from_millis(200),
    );
    let url = format!("{}/devices/principal/attendance?limit=1", env.base);
    let first = {
        let url = url.clone();
        std::thread::spawn(move || get(&url))
    };
    wait_until("the download holds the terminal", || {
        env.sims[0].is_disabled()
    });
    // Another operation on the same terminal gives up after the lock timeout.
    let time_url = format!("{}/devices/principal/time", env.base);
    let resp = minreq::get(&time_url).with_timeout(60).send().unwrap();
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

#[test]
fn a_burst_of_requests_is_served_in_parallel() {
    // Pings take no device lock: twelve at once must all be talking to the
    // terminal at the same time (no request left queued in the HTTP layer).
    let faults = Faults {
        latency: Duration::from_millis(100),
        ..Faults::default()
    };
    let env = single(
        SimConfig {
            records: 10,
            faults,
            ..SimConfig::default()
        },
        Link::default(),
    );
    let url = format!("{}/devices/principal/ping", env.base);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                get(&url).0
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    assert_eq!(env.sims[0].stats().max_active, 12);
}
