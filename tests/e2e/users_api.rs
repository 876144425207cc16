//! Users, fingers and terminal data over HTTP against the simulator, over TCP
//! and UDP, in the 72- and 28-byte user layouts.

use crate::common::*;
use serde_json::{json, Value};
use zkserver::sim::SimConfig;
use zkserver::text::Encoding;

fn env(user_format: usize, udp: bool) -> Env {
    let config = SimConfig {
        records: 50,
        users: 12,
        user_format: zkserver::zk::UserFormat::from_size(user_format).unwrap(),
        ..SimConfig::default()
    };
    single(
        config,
        Link {
            udp,
            ..Link::default()
        },
    )
}

fn users_url(env: &Env) -> String {
    format!("{}/devices/principal/users", env.base)
}

#[test]
fn lists_users_as_the_terminal_holds_them() {
    for (format, udp) in [(72, false), (72, true), (28, false), (28, true)] {
        let env = env(format, udp);
        let (status, body) = get(&users_url(&env));
        assert_eq!(status, 200, "{body}");
        let want = env.sims[0].expected_users();
        assert_eq!(body["total"], want.len());
        for (got, u) in body["data"].as_array().unwrap().iter().zip(&want) {
            let name = String::from_utf8_lossy(&u.name).trim().to_string();
            let name = if name.is_empty() {
                format!("NN-{}", u.user_id)
            } else {
                name
            };
            assert_eq!(
                got,
                &json!({"uid": u.uid, "user_id": u.user_id, "name": name, "privilege": u.privilege, "card": u.card, "device_id": "principal"})
            );
        }
        assert!(!env.sims[0].is_disabled());
    }
}

#[test]
fn create_update_delete_user_on_the_terminal() {
    for (format, udp) in [(72, false), (28, true)] {
        let env = env(format, udp);
        let url = users_url(&env);
        let (status, body) = send(
            "POST",
            &url,
            json!({"user_id": "4242", "name": "Iñigo", "privilege": 14, "card": 998877, "password": "123"}),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["message"], "Usuario registrado.");
        assert_eq!(body["data"]["user_id"], "4242");
        assert_eq!(body["data"]["uid"], 13);
        let stored = env.sims[0]
            .with_state(|s| s.users.iter().find(|u| u.user_id == "4242").cloned())
            .unwrap();
        assert_eq!(
            (stored.uid, stored.privilege, stored.card),
            (13, 14, 998877)
        );
        assert_eq!(stored.name, "Iñigo".as_bytes());
        assert_eq!(stored.password, b"123");

        let (status, body) = send("POST", &url, json!({"user_id": 4242, "name": "Otro"}));
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("user_id '4242' ya existe."))
        );
        let (status, body) = send("POST", &url, json!({"name": "Sin id"}));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("user_id y name son requeridos."))
        );
        let (status, body) = send(
            "POST",
            &url,
            json!({"user_id": "12", "name": 5.5, "privilege": "x"}),
        );
        assert_eq!(status, 400, "{body}");

        let (status, body) = send(
            "PUT",
            &format!("{url}/4242"),
            json!({"name": "Iñigo B", "card": 1}),
        );
        assert_eq!(
            (status, body["message"].as_str()),
            (200, Some("Usuario '4242' actualizado.")),
            "{body}"
        );
        let stored = env.sims[0]
            .with_state(|s| s.users.iter().find(|u| u.user_id == "4242").cloned())
            .unwrap();
        assert_eq!(
            (stored.name.as_slice(), stored.card, stored.privilege),
            ("Iñigo B".as_bytes(), 1, 14)
        );
        let (status, body) = send("PUT", &format!("{url}/nadie"), json!({"name": "x"}));
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("Usuario 'nadie' no encontrado."))
        );

        let (status, body) = send("DELETE", &format!("{url}/4242"), Value::Null);
        assert_eq!(
            (status, body["message"].as_str()),
            (200, Some("Usuario '4242' eliminado."))
        );
        assert!(env.sims[0].with_state(|s| s.users.iter().all(|u| u.user_id != "4242")));
        let (status, _) = send("DELETE", &format!("{url}/4242"), Value::Null);
        assert_eq!(status, 404);
        assert!(!env.sims[0].is_disabled());
    }
}

#[test]
fn the_small_layout_refuses_what_it_cannot_hold() {
    let env = env(28, false);
    let url = users_url(&env);
    let (status, body) = send("POST", &url, json!({"user_id": "A12", "name": "Ana"}));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("numéricos"),
        "{body}"
    );
    let (status, body) = send(
        "POST",
        &url,
        json!({"user_id": "77", "name": "Maximiliano"}),
    );
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("'name'"), "{body}");
    assert!(!env.sims[0].is_disabled());
}

#[test]
fn names_use_the_device_encoding() {
    let sim = SimConfig {
        users: 3,
        records: 5,
        ..SimConfig::default()
    };
    let env = start_app(
        vec![("principal", "P", sim, Link::default())],
        vec![],
        |_| {},
    );
    // Re-register the device with latin1 names.
    let port = env.sims[0].port();
    let (s, _) = send(
        "DELETE",
        &format!("{}/devices/principal", env.base),
        Value::Null,
    );
    assert_eq!(s, 200);
    let (s, b) = send(
        "POST",
        &format!("{}/devices", env.base),
        json!({"id": "principal", "name": "P", "ip": "127.0.0.1", "port": port, "encoding": "latin1"}),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = send(
        "POST",
        &users_url(&env),
        json!({"user_id": "50", "name": "José Peña"}),
    );
    assert_eq!(s, 200, "{b}");
    let stored = env.sims[0]
        .with_state(|s| s.users.iter().find(|u| u.user_id == "50").cloned())
        .unwrap();
    assert_eq!(stored.name, Encoding::Latin1.encode("José Peña"));
    // A name that is not valid latin1 text on the terminal never fails a read.
    env.sims[0].with_state(|s| s.users[0].name = vec![0xFF, 0xFE, b'x']);
    let (s, b) = get(&users_url(&env));
    assert_eq!(s, 200);
    let names: Vec<&str> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"José Peña"), "{names:?}");
}

#[test]
fn enroll_finger_and_list_fingers() {
    for udp in [false, true] {
        let env = env(72, udp);
        let url = users_url(&env);
        let (status, body) = send(
            "POST",
            &format!("{url}/1002/enroll-finger"),
            json!({"finger_index": 6}),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["message"],
            "Modo enrolamiento activado. El usuario debe poner el dedo 3 veces."
        );
        assert_eq!(
            body["data"],
            json!({"user_id": "1002", "device_id": "principal", "finger_index": 6, "finger_name": "Indice izquierdo"})
        );
        assert_eq!(
            env.sims[0].with_state(|s| s.enrolling.clone()),
            Some(("1002".to_string(), 6))
        );
        assert!(
            !env.sims[0].is_disabled(),
            "enrolment runs with the terminal enabled"
        );

        let (status, body) = send("POST", &format!("{url}/1003/enroll-finger"), Value::Null);
        assert_eq!(
            (status, body["data"]["finger_index"].as_u64()),
            (200, Some(0))
        );
        for bad in [
            json!({"finger_index": 10}),
            json!({"finger_index": "x"}),
            json!({"finger_index": -1}),
        ] {
            let (status, body) = send("POST", &format!("{url}/1002/enroll-finger"), bad);
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("finger_index debe ser 0-9."))
            );
        }
        let (status, _) = send("POST", &format!("{url}/9999/enroll-finger"), json!({}));
        assert_eq!(status, 404);

        // Generated templates: uid 2 has fingers 1 and 6; uid 4 none.
        let (status, body) = get(&format!("{url}/1002/fingers"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total_fingers"], 2);
        assert_eq!(
            body["data"],
            json!([
                {"finger_index": 1, "finger_name": "Indice derecho", "valid": 1},
                {"finger_index": 6, "finger_name": "Indice izquierdo", "valid": 1}
            ])
        );
        assert_eq!(
            (body["user_id"].as_str(), body["device_id"].as_str()),
            (Some("1002"), Some("principal"))
        );
        let (_, body) = get(&format!("{url}/1004/fingers"));
        assert_eq!(
            (
                body["total_fingers"].as_u64(),
                body["data"].as_array().map(Vec::len)
            ),
            (Some(0), Some(0))
        );
        let (status, _) = get(&format!("{url}/9999/fingers"));
        assert_eq!(status, 404);
        assert!(!env.sims[0].is_disabled());
    }
}

#[test]
fn info_time_and_sync_time() {
    let env = env(72, false);
    let base = format!("{}/devices/principal", env.base);
    let (status, body) = get(&format!("{base}/info"));
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["serialnumber"], "SIM0000000001");
    assert_eq!(d["device_name"], "ZK Simulator");
    assert_eq!(d["platform"], "ZEM560_TFT");
    assert_eq!(d["firmware_version"], "Ver 6.60 Apr 28 2015");
    assert_eq!(
        (d["users_count"].as_u64(), d["records_count"].as_u64()),
        (Some(12), Some(50))
    );
    assert_eq!(
        d["fingers_count"].as_u64(),
        Some(env.sims[0].with_state(|s| s.templates.len()) as u64)
    );
    assert_eq!(d["records_capacity"], 200_000);
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(
        &keys[..9],
        [
            "id",
            "name",
            "ip",
            "serialnumber",
            "device_name",
            "platform",
            "firmware_version",
            "users_count",
            "device_time"
        ]
    );

    let (status, body) = send(
        "POST",
        &format!("{base}/sync-time"),
        json!({"timestamp": "2031-05-06 07:08:09"}),
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("[principal] Hora sincronizada.")),
        "{body}"
    );
    let (status, body) = get(&format!("{base}/time"));
    assert_eq!(status, 200);
    assert_eq!(body["device_id"], "principal");
    let t = body["device_time"].as_str().unwrap();
    assert!(t.starts_with("2031-05-06 07:08:"), "{t}");

    let (status, _) = send("POST", &format!("{base}/sync-time"), Value::Null);
    assert_eq!(status, 200);
    let (_, body) = get(&format!("{base}/time"));
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M").to_string();
    assert!(
        body["device_time"].as_str().unwrap()[..13] == now[..13],
        "{body} vs {now}"
    );
    for bad in [
        json!({"timestamp": "06/05/2031"}),
        json!({"timestamp": "2031-02-30 00:00:00"}),
        json!({"timestamp": 5}),
    ] {
        let (status, body) = send("POST", &format!("{base}/sync-time"), bad);
        assert_eq!(status, 400);
        assert!(
            body["error"].as_str().unwrap().contains("'timestamp'"),
            "{body}"
        );
    }
    assert_eq!(env.sims[0].stats().disables, 1, "only /info disables");
    assert!(!env.sims[0].is_disabled());
}
