//! The device registry over HTTP: create/read/update/delete, validation with
//! messages naming the field, the comm key never shown, atomic file writes,
//! concurrent writers, ping, and hostile bodies.

use std::path::PathBuf;

use crate::common::*;
use serde_json::{json, Value};
use zkserver::registry::Registry;
use zkserver::sim::{SimConfig, Simulator};

fn temp_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-regapi-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("devices.json");
    std::fs::write(&path, content).unwrap();
    path
}

fn file_env(name: &str, content: &str) -> (Env, PathBuf) {
    let path = temp_file(name, content);
    let env = serve(vec![], Registry::load(&path).unwrap(), |_| {});
    (env, path)
}

fn file_json(path: &PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("devices file is valid JSON")
}

#[test]
fn create_read_update_delete_round_trip() {
    let (env, path) = file_env(
        "crud",
        r#"{"old": {"ip": "10.0.0.9", "password": 77, "color": "azul"}}"#,
    );
    let url = format!("{}/devices", env.base);
    let (status, body) = send(
        "POST",
        &url,
        json!({"id": "  Entrada Norte ", "name": "Entrada Norte", "ip": "192.168.1.50", "password": 1234}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Dispositivo 'entrada_norte' registrado.");
    assert_eq!(body["data"]["id"], "entrada_norte");
    assert_eq!(body["data"]["port"], 4370);
    assert_eq!(body["data"]["password_set"], true);
    assert!(body["data"].get("password").is_none());

    let (status, body) = get(&format!("{url}/entrada_norte"));
    assert_eq!(status, 200);
    assert_eq!(body["data"]["ip"], "192.168.1.50");
    assert!(body["data"].get("password").is_none());
    let keys: Vec<&String> = body["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys.last().unwrap().as_str(), "id");

    let (status, body) = send(
        "PUT",
        &format!("{url}/entrada_norte"),
        json!({"port": 4371, "timeout": 2.5, "force_udp": true, "encoding": "latin1"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Dispositivo 'entrada_norte' actualizado.");
    assert_eq!(body["data"]["port"], 4371);
    assert!(body["data"]["updated_at"].is_string());

    let file = file_json(&path);
    assert_eq!(
        file["entrada_norte"]["password"], 1234,
        "the file keeps the comm key"
    );
    assert_eq!(file["entrada_norte"]["force_udp"], true);
    assert_eq!(file["old"]["color"], "azul", "unknown fields are kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let (_, list) = get(&url);
    assert_eq!(list["total"], 2);
    assert_eq!(list["data"][1]["id"], "entrada_norte");

    let (status, body) = send("DELETE", &format!("{url}/old"), Value::Null);
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Dispositivo 'old' eliminado."))
    );
    let (status, body) = send("DELETE", &format!("{url}/old"), Value::Null);
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("Dispositivo 'old' no encontrado."))
    );
    assert_eq!(
        file_json(&path)
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["entrada_norte"]
    );
}

#[test]
fn validation_names_the_problem() {
    let (env, path) = file_env("valid", r#"{"taken": {"ip": "10.0.0.1"}}"#);
    let url = format!("{}/devices", env.base);
    let cases: Vec<(Value, i32, &str)> = vec![
        (
            json!({"name": "x", "ip": "10.0.0.2"}),
            400,
            "id, name e ip son requeridos.",
        ),
        (
            json!({"id": "a", "ip": "10.0.0.2"}),
            400,
            "id, name e ip son requeridos.",
        ),
        (
            json!({"id": "", "name": "x", "ip": "10.0.0.2"}),
            400,
            "id, name e ip son requeridos.",
        ),
        (
            json!({"id": "a/b", "name": "x", "ip": "10.0.0.2"}),
            400,
            "'id'",
        ),
        (
            json!({"id": "a", "name": "x", "ip": "999.1.1.1"}),
            400,
            "'ip'",
        ),
        (json!({"id": "a", "name": "x", "ip": 12}), 400, "'ip'"),
        (
            json!({"id": "a", "name": "x", "ip": "10.0.0.2", "port": 70000}),
            400,
            "'port'",
        ),
        (
            json!({"id": "a", "name": "x", "ip": "10.0.0.2", "port": "abc"}),
            400,
            "'port'",
        ),
        (
            json!({"id": "a", "name": "x", "ip": "10.0.0.2", "password": -1}),
            400,
            "'password'",
        ),
        (
            json!({"id": "a", "name": "x", "ip": "10.0.0.2", "timeout": 0}),
            400,
            "'timeout'",
        ),
        (
            json!({"id": "a", "name": "x", "ip": "10.0.0.2", "force_udp": "yes"}),
            400,
            "'force_udp'",
        ),
        (
            json!({"id": "a", "name": "x", "ip": "10.0.0.2", "encoding": "klingon"}),
            400,
            "'encoding'",
        ),
        (
            json!({"id": "Taken", "name": "x", "ip": "10.0.0.2"}),
            409,
            "El id 'taken' ya existe.",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, resp) = send("POST", &url, body.clone());
        assert_eq!(got, status, "{body} -> {resp}");
        assert!(
            resp["error"].as_str().unwrap().contains(needle),
            "{body} -> {resp}"
        );
    }
    let (status, resp) = send(
        "POST",
        &url,
        json!({"id": "ok", "name": "Ok", "ip": "10.0.0.3", "port": "4370", "unknown": [1, 2]}),
    );
    assert_eq!(status, 200, "{resp}");
    let (status, resp) = send("PUT", &format!("{url}/ok"), json!({"port": 0}));
    assert_eq!(status, 400);
    assert!(resp["error"].as_str().unwrap().contains("'port'"));
    let (status, _) = send("PUT", &format!("{url}/missing"), json!({"port": 1}));
    assert_eq!(status, 404);
    assert_eq!(
        file_json(&path)["ok"]["port"],
        4370,
        "a refused PUT changes nothing"
    );
}

#[test]
fn hostile_bodies_get_json_4xx_and_the_server_keeps_serving() {
    let (env, _) = file_env("hostile", "{}");
    let url = format!("{}/devices", env.base);
    let cases: Vec<(Option<String>, i32, &str)> = vec![
        (None, 400, "Body JSON requerido."),
        (Some("   ".into()), 400, "Body JSON requerido."),
        (Some("{\"id\": ".into()), 400, "Body JSON inválido"),
        (Some("[1, 2]".into()), 400, "objeto JSON"),
        (Some("\"text\"".into()), 400, "objeto JSON"),
        (
            Some(format!("{{\"id\": \"{}\"}}", "x".repeat(70_000))),
            413,
            "64 KiB",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, resp) = request("POST", &url, body.as_deref());
        assert_eq!(got, status, "{resp}");
        assert!(resp["error"].as_str().unwrap().contains(needle), "{resp}");
    }
    let (status, _) = get(&format!("{}/health", env.base));
    assert_eq!(status, 200);
}

#[test]
fn two_hundred_concurrent_writes_keep_the_file_valid_and_complete() {
    let (env, path) = file_env("concurrent", "{}");
    let url = format!("{}/devices", env.base);
    let handles: Vec<_> = (0..20)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let id = format!("d{t}_{i}");
                    match i % 3 {
                        0 | 1 => {
                            let (s, b) = send("POST", &url, json!({"id": id, "name": format!("Reloj {t} {i}"), "ip": "10.1.1.1"}));
                            assert_eq!(s, 200, "{b}");
                            if i % 3 == 1 {
                                let (s, b) = send("PUT", &format!("{url}/{id}"), json!({"port": 4000 + i}));
                                assert_eq!(s, 200, "{b}");
                            }
                        }
                        _ => {
                            let prev = format!("d{t}_{}", i - 2);
                            let (s, b) = send("DELETE", &format!("{url}/{prev}"), Value::Null);
                            assert_eq!(s, 200, "{b}");
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let file = file_json(&path);
    let (_, list) = get(&url);
    let mut listed: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let mut in_file: Vec<String> = file.as_object().unwrap().keys().cloned().collect();
    listed.sort();
    in_file.sort();
    assert_eq!(listed, in_file);
    // Per thread: POST at i = 0,1,3,4,6,7,9 (7 devices); DELETE at i = 2,5,8 removes 0,3,6.
    assert_eq!(in_file.len(), 20 * 4);
    for t in 0..20 {
        assert_eq!(file[format!("d{t}_4")]["port"], 4004);
    }
    let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary files left behind");
}

#[test]
fn ping_reports_time_or_503() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let port = sim.port();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        r#"{{"vivo": {{"ip": "127.0.0.1", "port": {port}}}, "muerto": {{"ip": "127.0.0.1", "port": {dead}, "timeout": 1}}}}"#
    );
    let path = temp_file("ping", &text);
    let env = serve(vec![sim], Registry::load(&path).unwrap(), |_| {});
    let (status, body) = get(&format!("{}/devices/vivo/ping", env.base));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Conexion exitosa con 'vivo'.");
    assert_eq!(body["ip"], "127.0.0.1");
    assert_eq!(body["device_time"].as_str().unwrap().len(), 19);
    assert_eq!(env.sims[0].stats().disables, 0, "ping never disables");
    let (status, body) = get(&format!("{}/devices/muerto/ping", env.base));
    assert_eq!(status, 503);
    assert_eq!(body["success"], false);
    assert_eq!(body["ip"], "127.0.0.1");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("conexión rechazada"));
}

#[test]
fn deleting_a_device_in_use_is_safe() {
    let env = single(
        slow_sim(3000, std::time::Duration::from_millis(2)),
        Link::default(),
    );
    let url = format!("{}/devices/principal/attendance", env.base);
    let download = std::thread::spawn(move || get(&url));
    std::thread::sleep(std::time::Duration::from_millis(50));
    let (status, _) = send(
        "DELETE",
        &format!("{}/devices/principal", env.base),
        Value::Null,
    );
    assert_eq!(status, 200);
    let (status, body) = download.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["total"], 3000);
    assert!(!env.sims[0].is_disabled());
    let (status, _) = get(&format!("{}/devices/principal/attendance", env.base));
    assert_eq!(status, 404);
}
