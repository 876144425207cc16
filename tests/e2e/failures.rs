//! End to end: every failure answers a JSON 500 with a specific Spanish
//! message, the terminal ends enabled, and the server keeps serving.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::common::*;
use zkserver::sim::{Faults, SimConfig};
use zkserver::zk::wire::cmd;

fn sim(records: usize) -> SimConfig {
    SimConfig {
        records,
        ..SimConfig::default()
    }
}

fn with_fault(faults: Faults, udp: bool, timeout: f64) -> Env {
    single(
        SimConfig {
            faults,
            ..sim(5000)
        },
        Link {
            udp,
            timeout,
            ..Link::default()
        },
    )
}

/// After a failure is cleared the same server serves the full log again.
fn recovers(env: &Env) {
    env.sims[0].set_faults(Faults::default());
    assert_complete(env, 0, "principal", "Entrada Principal");
}

#[test]
fn ack_error_on_any_step_is_a_500_and_leaves_the_terminal_enabled() {
    for udp in [false, true] {
        for command in [
            cmd::PREPARE_BUFFER,
            cmd::READ_BUFFER,
            cmd::GET_FREE_SIZES,
            cmd::FREE_DATA,
            cmd::DISABLE_DEVICE,
        ] {
            let env = with_fault(
                Faults {
                    ack_error_for: Some(command),
                    ..Faults::default()
                },
                udp,
                2.0,
            );
            let body = if command == cmd::FREE_DATA {
                // Releasing the buffer is best effort: the data is complete.
                assert_complete(&env, 0, "principal", "Entrada Principal");
                continue;
            } else {
                assert_fails_enabled(&env, "respondió con error")
            };
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains(&command.to_string()),
                "{body}"
            );
            recovers(&env);
        }
    }
}

#[test]
fn stall_past_the_timeout_is_a_timeout_message_and_terminal_reenabled() {
    for udp in [false, true] {
        let env = with_fault(
            Faults {
                stall: Some(Duration::from_secs(3)),
                ..Faults::default()
            },
            udp,
            1.0,
        );
        let started = Instant::now();
        assert_fails_enabled(&env, "Tiempo de espera agotado");
        assert!(started.elapsed() < Duration::from_secs(15));
        let stats = env.sims[0].stats();
        assert!(stats.enables >= 1, "ENABLEDEVICE was sent: {stats:?}");
        recovers(&env);
    }
}

#[test]
fn connection_closed_mid_transfer_is_reported_and_terminal_reenabled() {
    let env = with_fault(
        Faults {
            close_mid_transfer: true,
            ..Faults::default()
        },
        false,
        2.0,
    );
    assert_fails_enabled(&env, "cerró la conexión");
    assert!(
        env.sims[0].stats().connections >= 2,
        "re-enabled on a fresh connection"
    );
    recovers(&env);
}

#[test]
fn udp_transfer_cut_short_is_re_requested_and_completed() {
    // Over UDP a cut transfer just stops sending: the client re-requests the
    // missing bytes and completes the log.
    let env = with_fault(
        Faults {
            close_mid_transfer: true,
            ..Faults::default()
        },
        true,
        1.0,
    );
    assert_complete(&env, 0, "principal", "Entrada Principal");
}

#[test]
fn wrong_comm_key_is_named() {
    for udp in [false, true] {
        let config = SimConfig {
            comm_key: 4321,
            ..sim(10)
        };
        let env = single(
            config,
            Link {
                udp,
                password: 1234,
                ..Link::default()
            },
        );
        let started = Instant::now();
        let body = assert_fails_enabled(&env, "rechazó la clave de comunicación");
        assert!(started.elapsed() < Duration::from_secs(6), "{body}");
    }
}

#[test]
fn closed_port_is_refused_quickly() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = device_config(
        "Muerto",
        port,
        &Link {
            timeout: 3.0,
            ..Link::default()
        },
    );
    let dead_udp = device_config(
        "Muerto UDP",
        port,
        &Link {
            udp: true,
            timeout: 3.0,
            ..Link::default()
        },
    );
    let env = start_with(
        vec![],
        vec![("muerto".into(), dead), ("muerto_udp".into(), dead_udp)],
        Duration::from_secs(30),
    );
    for id in ["muerto", "muerto_udp"] {
        let started = Instant::now();
        let (status, body) = get(&format!("{}/devices/{id}/attendance", env.base));
        assert_eq!(status, 500);
        let msg = body["error"].as_str().unwrap();
        assert!(
            msg.contains("conexión rechazada") && msg.contains(&format!("127.0.0.1:{port}")),
            "{msg}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{id}: {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn silent_terminal_times_out_within_about_the_timeout() {
    for udp in [false, true] {
        let env = with_fault(
            Faults {
                silent: true,
                ..Faults::default()
            },
            udp,
            1.0,
        );
        let started = Instant::now();
        let (status, body) = get(&format!("{}/devices/principal/attendance", env.base));
        assert_eq!(status, 500);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Tiempo de espera agotado al conectar con 'principal'"),
            "{body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        recovers(&env);
    }
}

#[test]
fn one_failing_device_does_not_fail_attendance_all() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = start_with(
        vec![
            ("principal", "Entrada Principal", sim(300), Link::default()),
            (
                "bodega",
                "Bodega",
                SimConfig {
                    seed: 9,
                    attendance_format: zkserver::zk::AttFormat::Pin16,
                    ..sim(200)
                },
                Link {
                    udp: true,
                    ..Link::default()
                },
            ),
        ],
        vec![(
            "muerto".into(),
            device_config("Muerto", port, &Link::default()),
        )],
        Duration::from_secs(30),
    );
    let (status, body) = get(&format!("{}/attendance/all", env.base));
    assert_eq!(status, 200);
    assert_eq!(body["total"], 500);
    let errors = body["errors"].as_object().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(errors["muerto"]
        .as_str()
        .unwrap()
        .contains("conexión rechazada"));
    let mut want = expected_rows(&env.sims[0], "principal", "Entrada Principal");
    want.extend(expected_rows(&env.sims[1], "bodega", "Bodega"));
    let mut got = body["data"].as_array().unwrap().clone();
    let key = |v: &serde_json::Value| (v["timestamp"].as_str().unwrap().to_string(), v.to_string());
    let timestamps: Vec<String> = got
        .iter()
        .map(|v| v["timestamp"].as_str().unwrap().to_string())
        .collect();
    assert!(timestamps.windows(2).all(|w| w[0] >= w[1]), "newest first");
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
    assert!(!env.sims[0].is_disabled() && !env.sims[1].is_disabled());
}

/// A loopback port whose accept queue is full: connection attempts get no
/// answer at all, like an unroutable address (without leaving loopback).
fn black_hole() -> (socket2::Socket, u16, Vec<std::net::TcpStream>) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(0).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    // Fill the queue; later SYNs are dropped.
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(
            &format!("127.0.0.1:{port}").parse().unwrap(),
            Duration::from_millis(200),
        ) {
            fillers.push(s);
        }
    }
    (socket, port, fillers)
}

#[test]
fn unanswered_connect_is_a_connect_timeout_within_about_the_timeout() {
    let (listener, port, _fillers) = black_hole();
    let dead = device_config(
        "Sin respuesta",
        port,
        &Link {
            timeout: 1.0,
            ..Link::default()
        },
    );
    let env = start_with(
        vec![],
        vec![("principal".into(), dead)],
        Duration::from_secs(30),
    );
    let started = Instant::now();
    let (status, body) = get(&format!("{}/devices/principal/attendance", env.base));
    let took = started.elapsed();
    assert_eq!(status, 500);
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.starts_with("Tiempo de espera agotado al conectar con 'principal' (127.0.0.1:"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    drop(listener);
}

#[test]
fn an_empty_log_is_empty_even_when_the_terminal_will_not_prepare_it() {
    for faults in [
        Faults {
            ack_error_for: Some(cmd::PREPARE_BUFFER),
            ..Faults::default()
        },
        Faults {
            no_reply_to: Some(cmd::PREPARE_BUFFER),
            ..Faults::default()
        },
    ] {
        for udp in [false, true] {
            let env = single(
                SimConfig {
                    records: 0,
                    faults: faults.clone(),
                    ..sim(0)
                },
                Link {
                    udp,
                    timeout: 1.0,
                    ..Link::default()
                },
            );
            let (status, body) = get(&format!("{}/devices/principal/attendance", env.base));
            assert_eq!((status, body["total"].as_u64()), (200, Some(0)), "{body}");
            env.sims[0].wait_idle(Duration::from_secs(5));
            assert!(!env.sims[0].is_disabled());
        }
    }
    // With records the same silence is a timeout, reported as such.
    let env = with_fault(
        Faults {
            no_reply_to: Some(cmd::PREPARE_BUFFER),
            ..Faults::default()
        },
        false,
        1.0,
    );
    assert_fails_enabled(&env, "Tiempo de espera agotado al comunicarse");
}

#[test]
fn a_trickling_terminal_cannot_hold_the_lock_forever() {
    // Every packet arrives well within the per-phase timeout, but a whole
    // download would take over a minute; the 2 s operation limit ends it
    // long before (the bound below leaves room for a loaded machine).
    let config = SimConfig {
        records: 10_000,
        faults: Faults {
            latency: Duration::from_millis(200),
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let env = start_app(
        vec![("principal", "Entrada Principal", config, Link::default())],
        Vec::new(),
        |s| s.budget.operation_limit = Duration::from_secs(2),
    );
    let started = Instant::now();
    let body = assert_fails_enabled(&env, "demasiado lento");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(40), "took {took:?}: {body}");
    // The lock is free again: a quick operation is served at once.
    let (status, _) = get(&format!("{}/devices/principal/time", env.base));
    assert_eq!(status, 200);
}
