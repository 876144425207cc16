//! The staff list's API (Part 7) against the real server over 127.0.0.1:
//! CRUD with the users API's validation, tombstones listed until removed
//! everywhere, templates (keyed reads, version from the bytes, bounded
//! sizes, tombstones), export and restore round trip.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use zkserver::journal::{Journal, SyncRow, SyncState};
use zkserver::registry::Registry;
use zkserver::time::WallTime;

use crate::common::{self, Env, Link};

/// The API key of these tests.
pub const KEY: &str = "clave-personal-1";

/// A fresh folder for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-people-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A server with a journal in `dir`, the API key [`KEY`] and one pull
/// terminal `principal` (nothing listens there: nothing here talks to it).
pub fn server(dir: &Path) -> (Env, Arc<Journal>) {
    let journal = Arc::new(Journal::open(dir.join("punches.db")).expect("journal"));
    let j = journal.clone();
    let port = common::free_port();
    let entries = vec![(
        "principal".to_string(),
        common::device_config("Entrada Principal", port, &Link::default()),
    )];
    let env = common::serve(vec![], Registry::in_memory(entries), move |s| {
        s.journal = Some(j);
        s.security.api_key = Some(KEY.into());
        s.security.allow_open_writes = false;
    });
    (env, journal)
}

/// A request with or without the key: (status, body text).
pub fn call(method: &str, url: &str, body: Option<&Value>, keyed: bool) -> (i32, String) {
    let mut req = minreq::Request::new(minreq::Method::Custom(method.into()), url).with_timeout(60);
    if keyed {
        req = req.with_header("X-API-Key", KEY);
    }
    if let Some(b) = body {
        req = req
            .with_header("Content-Type", "application/json")
            .with_body(b.to_string());
    }
    let resp = req.send().expect("HTTP request");
    (
        resp.status_code,
        resp.as_str().expect("utf-8 body").to_string(),
    )
}

/// [`call`] with the key, the body parsed.
pub fn keyed(method: &str, url: &str, body: Option<&Value>) -> (i32, Value) {
    let (status, text) = call(method, url, body, true);
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    (status, value)
}

/// Synthetic ZKFinger 10 bytes (the signature, then filler) of `len`.
pub fn v10_template(len: usize, seed: u8) -> Vec<u8> {
    let mut data = vec![seed, 0x98, 0x53, 0x53, 0x32, 0x31, 0x00, 0x00, 0x04];
    let mut x = u32::from(seed) | 1;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push((x & 0xFF) as u8);
    }
    data
}

/// Synthetic ZKFinger 9 bytes of `len`.
fn v9_template(len: usize) -> Vec<u8> {
    let mut data = vec![0xA1, 0xCA];
    data.resize(len, 0x5A);
    data
}

/// The keys of a JSON object, in order.
fn keys(v: &Value) -> Vec<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

#[test]
fn people_crud_validates_like_the_users_api_and_lists_tombstones_until_removed_everywhere() {
    let dir = tempdir("crud");
    let (env, journal) = server(&dir);
    let base = &env.base;
    let sofia = json!({"user_id": "1005", "name": "Sofía Moreno", "card": 998_877,
                       "password": "4321", "privilege": 0, "areas": ["oficina"]});
    let (status, _) = call("POST", &format!("{base}/people"), Some(&sofia), false);
    assert_eq!(status, 401, "writes need the key");

    let (status, body) = keyed("POST", &format!("{base}/people"), Some(&sofia));
    assert_eq!(status, 201, "{body}");
    let p = &body["data"];
    assert_eq!(
        keys(p),
        [
            "user_id",
            "name",
            "card",
            "password_set",
            "privilege",
            "areas",
            "templates",
            "terminals",
            "updated_at"
        ]
    );
    assert_eq!(p["password_set"], true);
    assert_eq!(p["card"], 998_877);
    assert_eq!(p["areas"], json!(["oficina"]));
    assert_eq!(p["terminals"], json!({"principal": "fuera_de_area"}));
    assert!(
        !body.to_string().contains("4321"),
        "the password is never shown"
    );
    let (status, body) = keyed("POST", &format!("{base}/people"), Some(&sofia));
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("ya existe"));

    let (status, body) = keyed(
        "POST",
        &format!("{base}/people"),
        Some(&json!({"user_id": "7", "name": "Ana Núñez"})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["areas"], json!(["*"]), "every area by default");
    assert_eq!(body["data"]["card"], Value::Null);
    assert_eq!(body["data"]["password_set"], false);
    assert_eq!(body["data"]["terminals"], json!({"principal": "pendiente"}));

    // Every bad field: a Spanish 400 naming it, nothing stored.
    for (bad, field) in [
        (
            json!({"user_id": "8", "name": "Jefe\u{2028}Falso"}),
            "'name'",
        ),
        (json!({"user_id": "8", "name": "Jefe\u{2029}"}), "'name'"),
        (json!({"user_id": "8", "name": "x".repeat(25)}), "'name'"),
        (
            json!({"user_id": "8", "name": "A", "password": "12 4"}),
            "'password'",
        ),
        (
            json!({"user_id": "8", "name": "A", "password": "1=2"}),
            "'password'",
        ),
        (json!({"user_id": "8", "name": "A", "card": -1}), "'card'"),
        (
            json!({"user_id": "8", "name": "A", "privilege": 3}),
            "'privilege'",
        ),
        (json!({"user_id": "8", "name": "A", "areas": []}), "'areas'"),
        (
            json!({"user_id": "8", "name": "A", "areas": ["", "x"]}),
            "'areas'",
        ),
        (json!({"user_id": "8 Pri=14", "name": "A"}), "'user_id'"),
        (json!({"name": "A"}), "'user_id'"),
    ] {
        let (status, body) = keyed("POST", &format!("{base}/people"), Some(&bad));
        assert_eq!(status, 400, "{bad}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(field), "{bad}: {error}");
        assert!(!error.contains("12 4") && !error.contains("1=2"), "{error}");
    }
    let (_, list) = keyed("GET", &format!("{base}/people"), None);
    assert_eq!(list["total"], 2, "{list}");

    // Search ignores accents and case; areas; paging like attendance.
    let (_, found) = keyed("GET", &format!("{base}/people?q=SOFIA"), None);
    assert_eq!(found["data"][0]["user_id"], "1005", "{found}");
    let (_, found) = keyed("GET", &format!("{base}/people?q=nunez"), None);
    assert_eq!(found["total"], 1);
    let (_, bodega) = keyed("GET", &format!("{base}/people?area=bodega"), None);
    assert_eq!(bodega["data"][0]["user_id"], "7", "'*' is in every area");
    assert_eq!(bodega["total"], 1);
    let (_, page) = keyed("GET", &format!("{base}/people?limit=1&offset=1"), None);
    assert_eq!(
        (page["total"].clone(), page["matched"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(page["data"][0]["user_id"], "1005", "numeric order: 7, 1005");
    let (status, body) = keyed("GET", &format!("{base}/people?limit=x"), None);
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("'limit'"));
    let (status, _) = keyed("GET", &format!("{base}/people?deleted=quizas"), None);
    assert_eq!(status, 400);

    // PUT merges.
    let (status, body) = keyed(
        "PUT",
        &format!("{base}/people/1005"),
        Some(&json!({"card": null, "privilege": 14})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["name"], "Sofía Moreno");
    assert_eq!(body["data"]["card"], Value::Null);
    assert_eq!(body["data"]["privilege"], 14);
    assert_eq!(body["data"]["password_set"], true);
    let (status, _) = keyed(
        "PUT",
        &format!("{base}/people/999"),
        Some(&json!({"name": "X"})),
    );
    assert_eq!(status, 404);

    // DELETE: a tombstone; listed while a terminal still holds the person.
    let (status, body) = keyed("DELETE", &format!("{base}/people/1005"), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = keyed("GET", &format!("{base}/people/1005"), None);
    assert_eq!(status, 404, "on no terminal: gone");
    assert!(
        body["error"].as_str().unwrap().contains("no encontrada"),
        "{body}"
    );
    let now = WallTime::new(zkserver::time::now());
    journal
        .set_sync_states(&[SyncRow {
            device: "principal".into(),
            user_id: "1005".into(),
            hash: Some("escrito".into()),
            state: SyncState::UpToDate,
            message: None,
            synced_at: now,
        }])
        .expect("sync state");
    let (status, body) = keyed("GET", &format!("{base}/people/1005"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["deleted"], true);
    assert_eq!(body["data"]["password_set"], false);
    assert_eq!(body["data"]["terminals"], json!({"principal": "pendiente"}));
    let (_, tombs) = keyed("GET", &format!("{base}/people?deleted=true"), None);
    assert_eq!(tombs["total"], 1, "{tombs}");
    assert_eq!(tombs["data"][0]["user_id"], "1005");
    let (_, live) = keyed("GET", &format!("{base}/people"), None);
    assert_eq!(live["total"], 1);
    let (status, _) = keyed("DELETE", &format!("{base}/people/1005"), None);
    assert_eq!(status, 404, "deleted already");
    let (status, body) = keyed("POST", &format!("{base}/people"), Some(&sofia));
    assert_eq!(
        status, 201,
        "a tombstone does not block a new start: {body}"
    );
}

#[test]
fn templates_need_the_key_take_the_version_from_the_bytes_and_are_bounded() {
    let dir = tempdir("templates");
    let (env, _journal) = server(&dir);
    let base = &env.base;
    let (status, _) = keyed(
        "POST",
        &format!("{base}/people"),
        Some(&json!({"user_id": "42", "name": "Luis Peña"})),
    );
    assert_eq!(status, 201);
    let finger = v10_template(1190, 3);
    let url = format!("{base}/people/42/templates/finger/6");
    let (status, body) = keyed(
        "PUT",
        &url,
        Some(&json!({"data": STANDARD.encode(&finger)})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["version"], "10", "told by the bytes");
    let (status, body) = keyed(
        "PUT",
        &format!("{base}/people/42/templates/finger/1"),
        Some(&json!({"data": STANDARD.encode(v9_template(400))})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["version"], "9");
    let face = vec![9u8; 2560];
    let (status, body) = keyed(
        "PUT",
        &format!("{base}/people/42/templates/face/14"),
        Some(&json!({"data": STANDARD.encode(&face)})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["version"], "7");

    for (path, data, want, needle) in [
        ("finger/10", STANDARD.encode(&finger), 400, "0 a 9"),
        ("face/15", STANDARD.encode(&face), 400, "0 a 14"),
        ("palm/0", STANDARD.encode(&face), 400, "finger o face"),
        ("finger/2", "no es base64!".to_string(), 400, "base64"),
        ("finger/2", STANDARD.encode([1u8; 500]), 400, "'version'"),
        ("finger/2", STANDARD.encode([1u8; 10]), 400, "'data'"),
        (
            "finger/2",
            STANDARD.encode(v10_template(3000, 1)),
            413,
            "'data'",
        ),
        ("face/2", STANDARD.encode([1u8; 2577]), 413, "'data'"),
    ] {
        let (status, body) = keyed(
            "PUT",
            &format!("{base}/people/42/templates/{path}"),
            Some(&json!({"data": data})),
        );
        assert_eq!(status, want, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    let (status, body) = keyed(
        "PUT",
        &format!("{base}/people/42/templates/finger/2"),
        Some(&json!({"data": STANDARD.encode(&finger), "version": "9"})),
    );
    assert_eq!(status, 400, "the bytes say 10: {body}");
    let (status, _) = keyed(
        "PUT",
        &format!("{base}/people/77/templates/finger/2"),
        Some(&json!({"data": STANDARD.encode(&finger)})),
    );
    assert_eq!(status, 404, "no such person");

    // The person shows summaries, no bytes; reads are open here.
    let (status, text) = call("GET", &format!("{base}/people/42"), None, false);
    assert_eq!(status, 200, "reads are open");
    let person: Value = serde_json::from_str(&text).unwrap();
    let summaries = person["data"]["templates"].as_array().unwrap().clone();
    assert_eq!(summaries.len(), 3, "{person}");
    assert_eq!(
        keys(&summaries[0]),
        ["kind", "index", "version", "size", "updated_at"]
    );
    assert_eq!(
        (summaries[0]["index"].clone(), summaries[0]["size"].clone()),
        (json!(1), json!(400))
    );
    assert!(
        !text.contains(&STANDARD.encode(&finger)),
        "no bytes in a person"
    );

    // Template bytes need the key even with open reads.
    let (status, _) = call("GET", &format!("{base}/people/42/templates"), None, false);
    assert_eq!(status, 401, "bytes need the key");
    let (status, all) = keyed("GET", &format!("{base}/people/42/templates"), None);
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 3);
    let six = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["index"] == 6)
        .expect("finger 6");
    assert_eq!(six["data"], STANDARD.encode(&finger), "the bytes as stored");

    // DELETE: a tombstone, gone from the reads.
    let (status, body) = keyed("DELETE", &url, None);
    assert_eq!(status, 200, "{body}");
    let (status, _) = keyed("DELETE", &url, None);
    assert_eq!(status, 404, "deleted already");
    let (_, all) = keyed("GET", &format!("{base}/people/42/templates"), None);
    assert_eq!(all["total"], 2);
    let (_, person) = keyed("GET", &format!("{base}/people/42"), None);
    assert_eq!(person["data"]["templates"].as_array().unwrap().len(), 2);
}
