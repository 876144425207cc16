//! The HTTP contract: shapes, filters, paging, CSV, pretty printing, and JSON
//! errors for unknown devices, routes and methods.

use crate::common::*;
use serde_json::Value;
use zkserver::sim::SimConfig;

fn env() -> Env {
    start(vec![
        (
            "principal",
            "Entrada Principal",
            SimConfig {
                records: 1500,
                ..SimConfig::default()
            },
            Link::default(),
        ),
        (
            "bodega",
            "Bodega",
            SimConfig {
                records: 700,
                seed: 5,
                attendance_format: zkserver::zk::AttFormat::Pin16,
                ..SimConfig::default()
            },
            Link::default(),
        ),
    ])
}

fn raw(url: &str) -> minreq::Response {
    minreq::get(url).with_timeout(60).send().unwrap()
}

#[test]
fn root_health_and_device_list() {
    let env = env();
    let (status, root) = get(&format!("{}/", env.base));
    assert_eq!(status, 200);
    assert_eq!(root["status"], "online");
    assert_eq!(root["total_dispositivos"], 2);
    assert_eq!(root["dispositivos"]["bodega"]["name"], "Bodega");
    assert!(root.get("success").is_none());
    let keys: Vec<&String> = root.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["status", "timestamp", "total_dispositivos", "dispositivos"]
    );

    let (status, health) = get(&format!("{}/health", env.base));
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert!(health["uptime_s"].is_u64());

    let (_, list) = get(&format!("{}/devices", env.base));
    assert_eq!(list["total"], 2);
    assert_eq!(list["data"][0]["id"], "principal");
    let keys: Vec<&String> = list["data"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "name", "ip", "port", "created_at"]);
}

#[test]
fn filters_by_user_and_date_prefix() {
    let env = env();
    let all = expected_rows(&env.sims[0], "principal", "Entrada Principal");
    let user = all[17]["user_id"].as_str().unwrap().to_string();
    let day = all[17]["timestamp"].as_str().unwrap()[..10].to_string();
    for (query, pred) in [
        (
            format!("user_id={user}"),
            Box::new(|r: &Value| r["user_id"] == user.as_str()) as Box<dyn Fn(&Value) -> bool>,
        ),
        (
            format!("date={day}"),
            Box::new(|r: &Value| r["timestamp"].as_str().unwrap().starts_with(&day)),
        ),
        (
            format!("date={}", &day[..7]),
            Box::new(|r: &Value| r["timestamp"].as_str().unwrap().starts_with(&day[..7])),
        ),
        (
            format!("date={}&user_id={user}", &day[..4]),
            Box::new(|r: &Value| r["user_id"] == user.as_str()),
        ),
        ("user_id=&date=".to_string(), Box::new(|_: &Value| true)),
        ("user_id=nobody".to_string(), Box::new(|_: &Value| false)),
    ] {
        let (status, body) = get(&format!(
            "{}/devices/principal/attendance?{query}",
            env.base
        ));
        assert_eq!(status, 200, "{query}");
        let want: Vec<&Value> = all.iter().filter(|r| pred(r)).collect();
        let got: Vec<&Value> = body["data"].as_array().unwrap().iter().collect();
        assert_eq!(got, want, "{query}");
        assert_eq!(body["total"], want.len());
        assert!(body.get("matched").is_none());
    }
}

#[test]
fn date_range_and_paging() {
    let env = env();
    let all = expected_rows(&env.sims[0], "principal", "Entrada Principal");
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?limit=50",
        env.base
    ));
    assert_eq!(body["total"], 50);
    assert_eq!(body["matched"], 1500);
    assert_eq!(body["data"].as_array().unwrap()[..], all[..50]);
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?limit=10&offset=1495",
        env.base
    ));
    assert_eq!(body["data"].as_array().unwrap()[..], all[1495..]);
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?offset=9999",
        env.base
    ));
    assert_eq!(
        (body["total"].as_u64(), body["matched"].as_u64()),
        (Some(0), Some(1500))
    );

    let from = all[300]["timestamp"].as_str().unwrap().to_string();
    let to_day = all[100]["timestamp"].as_str().unwrap()[..10].to_string();
    let (_, body) = get(&format!(
        "{}/devices/principal/attendance?from={}&to={to_day}",
        env.base,
        from.replace(' ', "%20")
    ));
    let want: Vec<&Value> = all
        .iter()
        .filter(|r| {
            let t = r["timestamp"].as_str().unwrap();
            t >= from.as_str() && t[..10] <= *to_day
        })
        .collect();
    assert_eq!(
        body["data"].as_array().unwrap().iter().collect::<Vec<_>>(),
        want
    );
}

#[test]
fn csv_output() {
    let env = env();
    let resp = raw(&format!(
        "{}/devices/bodega/attendance?format=csv",
        env.base
    ));
    assert_eq!(resp.status_code, 200);
    assert_eq!(resp.headers["content-type"], "text/csv; charset=utf-8");
    let text = resp.as_str().unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "user_id,timestamp,status,punch,device_id,device_name"
    );
    assert_eq!(lines.len(), 701);
    let first = &expected_rows(&env.sims[1], "bodega", "Bodega")[0];
    assert_eq!(
        lines[1],
        format!(
            "{},{},{},{},bodega,Bodega",
            first["user_id"].as_str().unwrap(),
            first["timestamp"].as_str().unwrap(),
            first["status"],
            first["punch"]
        )
    );
}

#[test]
fn pretty_by_default_compact_on_request() {
    let env = env();
    let pretty = raw(&format!(
        "{}/devices/principal/attendance?limit=2",
        env.base
    ));
    assert_eq!(
        pretty.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(pretty
        .as_str()
        .unwrap()
        .starts_with("{\n  \"success\": true,\n  \"total\": 2,"));
    let compact = raw(&format!(
        "{}/devices/principal/attendance?limit=2&pretty=0",
        env.base
    ));
    assert!(compact
        .as_str()
        .unwrap()
        .starts_with("{\"success\":true,\"total\":2,"));
    let a: Value = serde_json::from_str(pretty.as_str().unwrap()).unwrap();
    let b: Value = serde_json::from_str(compact.as_str().unwrap()).unwrap();
    assert_eq!(a, b);
    let keys: Vec<&String> = a["data"][0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "user_id",
            "timestamp",
            "status",
            "punch",
            "device_id",
            "device_name"
        ]
    );
}

#[test]
fn errors_are_json_with_spanish_messages() {
    let env = env();
    let (status, body) = get(&format!("{}/devices/nope/attendance", env.base));
    assert_eq!(status, 404);
    assert_eq!(body["error"], "Dispositivo 'nope' no encontrado.");
    assert_eq!(
        body["disponibles"],
        serde_json::json!(["principal", "bodega"])
    );
    let (status, _) = get(&format!("{}/devices/Principal/attendance", env.base));
    assert_eq!(status, 404, "ids are case-sensitive");

    let (status, body) = get(&format!(
        "{}/devices/principal/attendance?date=03/06/2026",
        env.base
    ));
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "Parámetro 'date' inválido: '03/06/2026'. Use YYYY, YYYY-MM o YYYY-MM-DD."
    );
    let (status, body) = get(&format!("{}/attendance/all?limit=x", env.base));
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("'limit'"));

    let (status, body) = get(&format!("{}/foo", env.base));
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "Ruta no encontrada: GET /foo.")
    );
    let (status, body) = request("DELETE", &format!("{}/attendance/all", env.base), None);
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (405, "Método no permitido.")
    );
    let (status, body) = request(
        "POST",
        &format!("{}/devices/principal/attendance", env.base),
        Some("{}"),
    );
    assert_eq!((status, body["success"].as_bool()), (405, Some(false)));
    // The server still serves after all that.
    assert_complete(&env, 1, "bodega", "Bodega");
}

#[test]
fn metrics_in_prometheus_format() {
    let env = env();
    get(&format!(
        "{}/devices/principal/attendance?limit=1",
        env.base
    ));
    get(&format!("{}/devices/nope/attendance", env.base));
    let resp = raw(&format!("{}/metrics", env.base));
    assert_eq!(resp.status_code, 200);
    assert_eq!(
        resp.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.as_str().unwrap();
    for needle in [
        "# TYPE zkserver_requests_total counter",
        "zkserver_requests_total{route=\"/devices/{id}/attendance\",status=\"200\"}",
        "zkserver_requests_total{route=\"/devices/{id}/attendance\",status=\"404\"}",
        "zkserver_device_operation_seconds_count{device=\"principal\",operation=\"attendance download\"}",
        "zkserver_records_fetched_total{device=\"principal\"}",
        "zkserver_lock_wait_seconds_count{device=\"principal\"}",
        "zkserver_uptime_seconds ",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    // Every sample line is `name{labels} value` or `name value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn too_large_counts_and_missing_days_are_named() {
    let env = env();
    let (status, body) = get(&format!(
        "{}/devices/principal/attendance?limit=99999999999999999999",
        env.base
    ));
    assert_eq!(status, 400);
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("'limit'") && msg.contains("demasiado grande"),
        "{msg}"
    );
    let (status, body) = get(&format!("{}/attendance/all?date=2026-02-30", env.base));
    assert_eq!(status, 400);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("'date'") && msg.contains("no existe"), "{msg}");
}

#[test]
fn unknown_ids_are_not_echoed_in_full() {
    let env = small_env();
    let id = "x".repeat(7_000);
    let (status, body) = get(&format!("{}/devices/{id}/attendance", env.base));
    assert_eq!(status, 404);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.len() < 150, "{} bytes", msg.len());
    assert!(
        msg.starts_with("Dispositivo 'xxxx") && msg.contains('…'),
        "{msg}"
    );
    let (status, body) = get(&format!("{}/{id}", env.base));
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().len() < 200);
}

#[test]
fn wrong_methods_say_what_is_allowed_and_head_has_no_body() {
    let env = small_env();
    let resp = minreq::delete(format!("{}/devices/principal/users", env.base))
        .with_timeout(30)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 405);
    assert_eq!(
        resp.headers.get("allow").map(String::as_str),
        Some("GET, POST, HEAD")
    );
    let resp = minreq::post(format!("{}/health", env.base))
        .with_timeout(30)
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 405);
    assert_eq!(
        resp.headers.get("allow").map(String::as_str),
        Some("GET, HEAD")
    );

    let resp = raw_exchange(
        &env.base,
        b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: "),
        "{head}"
    );
    assert!(body.is_empty(), "HEAD has no body: {body:?}");
}
