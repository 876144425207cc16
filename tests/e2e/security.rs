//! Write protection: 403 without a configured key (unless open writes are
//! allowed), 401 without the right key, both header forms, protected reads.

use crate::common::*;
use serde_json::{json, Value};
use zkserver::sim::SimConfig;

fn env(key: Option<&str>, open: bool, protect_reads: bool) -> Env {
    let key = key.map(str::to_string);
    start_app(
        vec![("principal", "P", SimConfig::default(), Link::default())],
        vec![],
        move |app| {
            app.security.api_key = key;
            app.security.allow_open_writes = open;
            app.security.protect_reads = protect_reads;
        },
    )
}

fn post_device(env: &Env, headers: &[(&str, &str)]) -> (i32, Value) {
    let mut req = minreq::post(format!("{}/devices", env.base))
        .with_body(json!({"id": "nuevo", "name": "N", "ip": "10.0.0.1"}).to_string());
    for (k, v) in headers {
        req = req.with_header(*k, *v);
    }
    let resp = req.send().unwrap();
    (
        resp.status_code,
        serde_json::from_str(resp.as_str().unwrap()).unwrap(),
    )
}

#[test]
fn writes_without_a_configured_key_are_refused_with_instructions() {
    let env = env(None, false, false);
    let (status, body) = post_device(&env, &[]);
    assert_eq!(status, 403);
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("--api-key-file")
            && msg.contains("API_KEY")
            && msg.contains("--allow-open-writes"),
        "{msg}"
    );
    for (method, path) in [
        ("PUT", "/devices/principal"),
        ("DELETE", "/devices/principal"),
        ("POST", "/devices/principal/sync-time"),
        ("POST", "/devices/principal/users"),
    ] {
        let (status, _) = send(method, &format!("{}{path}", env.base), json!({}));
        assert_eq!(status, 403, "{method} {path}");
    }
    let (status, _) = get(&format!("{}/devices/principal/attendance", env.base));
    assert_eq!(status, 200, "reads stay open");
}

#[test]
fn open_writes_when_allowed() {
    let env = env(None, true, false);
    assert_eq!(post_device(&env, &[]).0, 200);
}

#[test]
fn the_key_is_required_and_checked() {
    let env = env(Some("s3creta-clave"), false, false);
    let (status, body) = post_device(&env, &[]);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("No autorizado."))
    );
    assert_eq!(
        post_device(&env, &[("Authorization", "Bearer s3creta-clavE")]).0,
        401
    );
    assert_eq!(post_device(&env, &[("X-API-Key", "s3creta")]).0, 401);
    assert_eq!(
        post_device(&env, &[("Authorization", "Basic s3creta-clave")]).0,
        401
    );
    assert_eq!(
        post_device(&env, &[("Authorization", "Bearer s3creta-clave")]).0,
        200
    );
    let resp = minreq::delete(format!("{}/devices/nuevo", env.base))
        .with_header("X-API-Key", "s3creta-clave")
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    assert_eq!(
        get(&format!("{}/devices", env.base)).0,
        200,
        "reads open by default"
    );
}

#[test]
fn protected_reads_need_the_key_but_health_does_not() {
    let env = env(Some("s3creta-clave"), false, true);
    let (status, body) = get(&format!("{}/devices", env.base));
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("No autorizado."))
    );
    assert_eq!(
        get(&format!("{}/devices/principal/attendance", env.base)).0,
        401
    );
    assert_eq!(get(&format!("{}/health", env.base)).0, 200);
    let resp = minreq::get(format!("{}/devices", env.base))
        .with_header("Authorization", "bearer s3creta-clave")
        .send()
        .unwrap();
    assert_eq!(resp.status_code, 200);
    assert_eq!(get(&format!("{}/no/such/route", env.base)).0, 404);
}
