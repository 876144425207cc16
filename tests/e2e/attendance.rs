//! End to end: `GET /devices/{id}/attendance` against simulated terminals over
//! real sockets, for every record format, both transports, with and without a
//! comm key, and for logs of 0 to 100 000 records.

use crate::common::*;
use zkserver::sim::{Faults, SimConfig, TcpFraming};
use zkserver::zk::{AttFormat, UserFormat};

fn sim(records: usize, format: usize) -> SimConfig {
    SimConfig {
        records,
        attendance_format: AttFormat::from_size(format).unwrap(),
        seed: records as u64 + format as u64,
        ..SimConfig::default()
    }
}

#[test]
fn every_format_transport_and_comm_key_returns_the_whole_log() {
    for format in [8, 16, 40, 49] {
        for udp in [false, true] {
            for key in [0u32, 123_456] {
                for records in [0, 1, 1000] {
                    let config = SimConfig {
                        comm_key: key,
                        user_format: if format == 8 {
                            UserFormat::Short28
                        } else {
                            UserFormat::Long72
                        },
                        ..sim(records, format)
                    };
                    let env = single(
                        config,
                        Link {
                            udp,
                            password: key,
                            ..Link::default()
                        },
                    );
                    println!("format {format} udp {udp} key {key} records {records}");
                    assert_complete(&env, 0, "principal", "Entrada Principal");
                }
            }
        }
    }
}

#[test]
fn hundred_thousand_records_over_tcp_and_udp() {
    for (udp, format) in [(false, 40), (true, 40), (false, 49), (true, 16)] {
        let env = single(
            sim(100_000, format),
            Link {
                udp,
                ..Link::default()
            },
        );
        assert_complete(&env, 0, "principal", "Entrada Principal");
        let stats = env.sims[0].stats();
        assert_eq!(stats.attendance_reads, 1, "one download");
        assert!(stats.chunk_reads > 10, "large logs are read in chunks");
    }
}

#[test]
fn small_logs_come_inline_and_large_ones_chunked() {
    let env = single(sim(20, 40), Link::default());
    assert_complete(&env, 0, "principal", "Entrada Principal");
    assert_eq!(env.sims[0].stats().chunk_reads, 0, "20 × 40 B fits inline");

    let env = single(sim(2000, 40), Link::default());
    assert_complete(&env, 0, "principal", "Entrada Principal");
    assert_eq!(
        env.sims[0].stats().chunk_reads,
        2,
        "80 004 B = 2 chunks of ≤ 65 472 B"
    );
}

#[test]
fn tcp_replies_split_into_tiny_segments_and_single_frames() {
    for split in [1, 3, 700] {
        let config = SimConfig {
            faults: Faults {
                split_writes: split,
                ..Faults::default()
            },
            ..sim(400, 40)
        };
        let env = single(config, Link::default());
        assert_complete(&env, 0, "principal", "Entrada Principal");
    }
    let config = SimConfig {
        tcp_framing: TcpFraming::Single,
        ..sim(5000, 49)
    };
    let env = single(config, Link::default());
    assert_complete(&env, 0, "principal", "Entrada Principal");
}

#[test]
fn stale_record_count_does_not_lose_or_invent_records() {
    for skew in [-1, 1, -500, 250, 9999] {
        for format in [8, 16, 40, 49] {
            let config = SimConfig {
                faults: Faults {
                    count_skew: skew,
                    ..Faults::default()
                },
                user_format: UserFormat::Short28,
                ..sim(1000, format)
            };
            let env = single(config, Link::default());
            assert_complete(&env, 0, "principal", "Entrada Principal");
        }
    }
    // The terminal reports 0 records but holds some: they are still returned.
    let config = SimConfig {
        faults: Faults {
            count_skew: -3,
            ..Faults::default()
        },
        ..sim(3, 40)
    };
    assert_complete(
        &single(config, Link::default()),
        0,
        "principal",
        "Entrada Principal",
    );
}

#[test]
fn terminal_demanding_auth_without_key_gets_key_zero() {
    let config = SimConfig {
        faults: Faults {
            always_auth: true,
            ..Faults::default()
        },
        ..sim(300, 40)
    };
    for udp in [false, true] {
        let env = single(
            config.clone(),
            Link {
                udp,
                ..Link::default()
            },
        );
        assert_complete(&env, 0, "principal", "Entrada Principal");
    }
}

/// The whole log over UDP while every `drop`-th datagram is lost and every
/// `dup`-th sent twice, for each (drop, dup) case.
fn assert_complete_over_lossy_udp(cases: &[(u32, u32)], udp_frame_index: bool) {
    for &(drop, dup) in cases {
        let faults = Faults {
            udp_drop_every: drop,
            udp_duplicate_every: dup,
            ..Faults::default()
        };
        let config = SimConfig {
            faults,
            udp_frame_index,
            ..sim(3000, 40)
        };
        let env = single(
            config,
            Link {
                udp: true,
                timeout: 2.0,
                ..Link::default()
            },
        );
        assert_complete(&env, 0, "principal", "Entrada Principal");
    }
}

#[test]
fn udp_survives_dropped_and_duplicated_datagrams() {
    assert_complete_over_lossy_udp(&[(25, 0), (0, 7), (31, 5)], true);
}

#[test]
fn udp_without_frame_indexes_survives_drops_and_duplicates() {
    // Terminals may put the session id, not a frame index, in UDP DATA.
    assert_complete_over_lossy_udp(&[(25, 0), (0, 7), (0, 2)], false);
}

#[test]
fn impossible_dates_are_returned_raw() {
    let config = SimConfig {
        bad_date_every: 10,
        ..sim(100, 40)
    };
    let env = single(config, Link::default());
    assert_complete(&env, 0, "principal", "Entrada Principal");
    // Asking for an impossible day is a 400; the month finds them, printed
    // as stored.
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?date=2025-02&pretty=0",
        env.base
    ));
    let feb31 = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["timestamp"].as_str().unwrap().starts_with("2025-02-31"))
        .count();
    assert_eq!(feb31, 10, "{body}");
}

#[test]
fn per_packet_latency_is_tolerated() {
    let faults = Faults {
        latency: std::time::Duration::from_millis(2),
        ..Faults::default()
    };
    for udp in [false, true] {
        let env = single(
            SimConfig {
                faults: faults.clone(),
                ..sim(1500, 40)
            },
            Link {
                udp,
                ..Link::default()
            },
        );
        assert_complete(&env, 0, "principal", "Entrada Principal");
    }
}

#[test]
fn impossible_days_and_reversed_ranges_are_refused() {
    let env = small_env();
    let url = |q: &str| format!("{}/devices/principal/attendance?{q}", env.base);
    for (query, param) in [
        ("date=2026-02-30", "'date'"),
        ("date=2025-02-29", "'date'"),
        ("from=2026-03-07&to=2026-03-06", "'from'"),
        ("from=2026-02-30", "'from'"),
    ] {
        let (status, body) = get(&url(query));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(param),
            "{query}: {body}"
        );
    }
    let resp = minreq::get(url("format=CSV&limit=2"))
        .with_timeout(30)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    assert_eq!(
        resp.headers.get("content-type").map(String::as_str),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(resp.as_str().unwrap().lines().count(), 3, "header + 2 rows");
}
