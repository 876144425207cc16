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
            "schedule",
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

/// The export without its moment (`exported_at`), for comparisons.
fn export_without_time(base: &str) -> Value {
    let (status, mut export) = keyed("GET", &format!("{base}/people/export"), None);
    assert_eq!(status, 200, "{export}");
    export
        .as_object_mut()
        .expect("an object")
        .remove("exported_at");
    export
}

/// Three people (a password, a card, areas), templates and a tombstone.
pub fn fill(base: &str, template: &[u8]) {
    for person in [
        json!({"user_id": "1", "name": "Ana", "password": "9876", "card": 12_345}),
        json!({"user_id": "22", "name": "Bea Muñoz", "privilege": 14, "areas": ["bodega"]}),
        json!({"user_id": "333", "name": "Ciro"}),
    ] {
        let (status, body) = keyed("POST", &format!("{base}/people"), Some(&person));
        assert_eq!(status, 201, "{body}");
    }
    for (path, data) in [
        ("1/templates/finger/0", STANDARD.encode(template)),
        (
            "1/templates/finger/5",
            STANDARD.encode(v10_template(900, 8)),
        ),
        ("22/templates/face/0", STANDARD.encode([4u8; 2000])),
        (
            "22/templates/finger/3",
            STANDARD.encode(v10_template(1000, 9)),
        ),
    ] {
        let (status, body) = keyed(
            "PUT",
            &format!("{base}/people/{path}"),
            Some(&json!({"data": data})),
        );
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, _) = keyed(
        "DELETE",
        &format!("{base}/people/1/templates/finger/5"),
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = keyed("DELETE", &format!("{base}/people/333"), None);
    assert_eq!(status, 200);
}

#[test]
fn an_export_restored_into_a_new_journal_exports_the_same() {
    let dir = tempdir("export");
    let (env, _journal) = server(&dir);
    let base = env.base.clone();
    let template = v10_template(1300, 5);
    fill(&base, &template);
    let (status, _) = call("GET", &format!("{base}/people/export"), None, false);
    assert_eq!(status, 401, "an export holds secrets: it needs the key");
    let first = export_without_time(&base);
    assert_eq!(first["format"], "zkserver-people");
    assert_eq!(first["people"].as_array().unwrap().len(), 3, "{first}");
    assert_eq!(first["templates"].as_array().unwrap().len(), 4, "{first}");
    assert_eq!(
        first["people"][0]["password"], "9876",
        "the export restores passwords"
    );
    assert!(first.to_string().contains(&STANDARD.encode(&template)));
    drop(env);

    // A new server with a new journal: restore, export again.
    let dir2 = tempdir("export-restored");
    let (env, _journal) = server(&dir2);
    let base = env.base.clone();
    let (status, body) = keyed(
        "POST",
        &format!("{base}/people/import"),
        Some(&json!({"people": "x"})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = keyed(
        "POST",
        &format!("{base}/people/import"),
        Some(&json!({"algo": 1})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("device_id"),
        "{body}"
    );
    let mut broken = first.clone();
    broken["templates"][0]["data"] = json!("%%%");
    let (status, body) = keyed("POST", &format!("{base}/people/import"), Some(&broken));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("templates[0]"),
        "{body}"
    );
    let (_, empty) = keyed("GET", &format!("{base}/people"), None);
    assert_eq!(empty["total"], 0, "a refused restore writes nothing");
    let (status, _) = call(
        "POST",
        &format!("{base}/people/import"),
        Some(&first),
        false,
    );
    assert_eq!(status, 401, "a restore needs the key");
    let (status, body) = keyed("POST", &format!("{base}/people/import"), Some(&first));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["people"].clone(), body["templates"].clone()),
        (json!(3), json!(4))
    );
    assert!(!body.to_string().contains("9876"));
    assert_eq!(
        export_without_time(&base),
        first,
        "the same list, byte for byte"
    );
    let (_, ana) = keyed("GET", &format!("{base}/people/1"), None);
    assert_eq!(ana["data"]["password_set"], true);
    assert_eq!(ana["data"]["templates"].as_array().unwrap().len(), 1);
}

#[test]
fn an_import_from_a_terminal_is_dispatched_on_the_body() {
    let dir = tempdir("import-device");
    let (env, _journal) = server(&dir);
    let (status, body) = keyed(
        "POST",
        &format!("{}/people/import", env.base),
        Some(&json!({"device_id": "principal"})),
    );
    // The body chose the terminal's import, not a restore (which would
    // refuse it as a document without 'people').
    assert_ne!(status, 400, "{body}");
    assert!(!body.to_string().contains("exportación"), "{body}");
    // Nothing listens on the terminal's port: the import tried it and
    // says so, naming the terminal (the success path is in people_push).
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("'principal'"),
        "{body}"
    );
}

/// A push terminal `rec` (serial `SNNAMES1`) with a journal in `dir`,
/// every punch POSTed to `webhook`, open writes.
fn push_server(dir: &Path, webhook: &str) -> Env {
    let journal = Arc::new(Journal::open(dir.join("punches.db")).expect("journal"));
    let mut rec = zkserver::registry::DeviceConfig::new("Recepción");
    rec.mode = zkserver::registry::DeviceMode::Push;
    rec.sn = Some("SNNAMES1".into());
    let url = webhook.to_string();
    common::serve(
        vec![],
        Registry::in_memory(vec![("rec".into(), rec)]),
        move |s| {
            s.journal = Some(journal);
            s.webhook = Some(url);
        },
    )
}

/// The webhook's punches of `user`, in order.
fn hooked<'a>(posts: &'a [common::receiver::Post], user: &str) -> Vec<&'a Value> {
    posts
        .iter()
        .filter(|p| p.accepted)
        .flat_map(|p| p.body["data"].as_array().into_iter().flatten())
        .filter(|r| r["user_id"] == user)
        .collect()
}

#[test]
fn a_person_added_through_the_api_is_named_at_once_in_streams_webhooks_and_attendance() {
    let dir = tempdir("names");
    let hook = common::receiver::Receiver::start();
    let env = push_server(&dir, &hook.url);
    let base = &env.base;
    let mut stream = common::sse::SseClient::connect(base, "/events", None);
    let (status, body) = common::send(
        "POST",
        &format!("{base}/people"),
        json!({"user_id": "1005", "name": "Sofía Moreno"}),
    );
    assert_eq!(status, 201, "{body}");

    let attlog = "1005\t2026-03-02 08:00:00\t1\t0\t\t0\t0\n77\t2026-03-02 08:01:00\t1\t0\t\t0\t0\n";
    let (status, answer) = common::iclock_text(
        base,
        "POST",
        "/iclock/cdata?SN=SNNAMES1&table=ATTLOG&Stamp=1",
        attlog,
    );
    assert_eq!((status, answer.as_str()), (200, "OK:2"));

    // The stream: the person of the list by name, the other as before.
    let punches = stream.punches(2, std::time::Duration::from_secs(30));
    assert_eq!(punches.len(), 2, "{punches:?}");
    let sofia = punches
        .iter()
        .find(|e| e.data["user_id"] == "1005")
        .expect("1005");
    assert_eq!(sofia.data["name"], "Sofía Moreno", "{:?}", sofia.data);
    let other = punches
        .iter()
        .find(|e| e.data["user_id"] == "77")
        .expect("77");
    assert!(
        other.data.get("name").is_none(),
        "not in the list: {:?}",
        other.data
    );

    // The webhook.
    assert!(hook.wait_for(std::time::Duration::from_secs(30), |posts| {
        !hooked(posts, "1005").is_empty() && !hooked(posts, "77").is_empty()
    }));
    let posts = hook.posts();
    assert_eq!(hooked(&posts, "1005")[0]["name"], "Sofía Moreno");
    assert!(hooked(&posts, "77")[0].get("name").is_none());

    // Attendance answers (JSON: named; CSV keeps its columns).
    let (status, att) = common::get(&format!("{base}/devices/rec/attendance"));
    assert_eq!(status, 200, "{att}");
    let rows = att["data"].as_array().expect("rows");
    let row = rows.iter().find(|r| r["user_id"] == "1005").expect("1005");
    assert_eq!(row["name"], "Sofía Moreno");
    assert!(rows
        .iter()
        .find(|r| r["user_id"] == "77")
        .unwrap()
        .get("name")
        .is_none());
    let (_, compact) = common::get(&format!("{base}/devices/rec/attendance?pretty=0"));
    assert_eq!(compact["data"], att["data"], "compact rows say the same");
    let csv = minreq::get(format!("{base}/devices/rec/attendance?format=csv"))
        .send()
        .expect("csv");
    let csv = csv.as_str().expect("utf-8");
    assert!(
        csv.starts_with("user_id,timestamp,status,punch,device_id,device_name\r\n"),
        "{csv}"
    );

    // A renamed person: the next punch has the new name.
    let (status, _) = common::send(
        "PUT",
        &format!("{base}/people/1005"),
        json!({"name": "Sofía Moreno Díaz"}),
    );
    assert_eq!(status, 200);
    let (status, _) = common::iclock_text(
        base,
        "POST",
        "/iclock/cdata?SN=SNNAMES1&table=ATTLOG&Stamp=2",
        "1005\t2026-03-02 17:00:00\t1\t1\t\t0\t0\n",
    );
    assert_eq!(status, 200);
    let next = stream.punches(1, std::time::Duration::from_secs(30));
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].data["name"], "Sofía Moreno Díaz");
}

/// The binary with a journal, a push terminal `rec` and the API key,
/// logging at debug into `log`; returns it and its base URL.
fn start_logged_binary(dir: &Path, log: &Path) -> (common::process::Running, String) {
    std::fs::write(
        dir.join("devices.json"),
        r#"{"rec": {"mode": "push", "sn": "SNPRIV1", "name": "Recepción"}}"#,
    )
    .expect("devices file");
    std::fs::write(dir.join("key"), KEY).expect("key file");
    let key = dir.join("key");
    let key = key.to_str().expect("UTF-8 path");
    common::process::start_logging(dir, log, &["--log-level", "debug", "--api-key-file", key])
}

/// Every answer of a full cycle but the two that may hold secrets.
struct Answers(Vec<(String, String)>);

impl Answers {
    fn call(
        &mut self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        keyed: bool,
    ) -> (i32, String) {
        let (status, text) = call(method, url, body, keyed);
        self.0
            .push((format!("{method} {url} -> {status}"), text.clone()));
        (status, text)
    }
}

#[test]
fn passwords_and_templates_appear_in_no_log_answer_listing_or_metric_after_a_full_cycle() {
    let dir = tempdir("privacy");
    let log = dir.join("server.log");
    let (mut child, base) = start_logged_binary(&dir, &log);
    let template = v10_template(1400, 77);
    let b64 = STANDARD.encode(&template);
    let (first_password, second_password) = ("k8642q", "z97531w");
    let mut answers = Answers(Vec::new());
    let people = format!("{base}/people");
    let mut stream = common::sse::SseClient::connect(&base, "/events", None);

    let person = json!({"user_id": "314", "name": "Eva Secreta", "password": first_password});
    assert_eq!(answers.call("POST", &people, Some(&person), true).0, 201);
    let change = json!({"password": second_password});
    assert_eq!(
        answers
            .call("PUT", &format!("{people}/314"), Some(&change), true)
            .0,
        200
    );
    let slot = format!("{people}/314/templates/finger/4");
    let put = json!({"data": b64});
    assert_eq!(answers.call("PUT", &slot, Some(&put), true).0, 200);
    // Refusals never quote what they refuse.
    for bad in [
        json!({"data": b64, "version": "9"}),
        json!({"data": format!("{b64}!")}),
    ] {
        let (status, text) = answers.call("PUT", &slot, Some(&bad), true);
        assert_eq!(status, 400, "{text}");
    }
    let refused = json!({"user_id": "315", "name": "X", "password": format!("{second_password} ")});
    assert_eq!(answers.call("POST", &people, Some(&refused), true).0, 400);
    assert_eq!(
        answers.call("GET", &format!("{people}/314"), None, false).0,
        200
    );
    assert_eq!(answers.call("GET", &people, None, false).0, 200);
    assert_eq!(
        answers
            .call("GET", &format!("{people}/314/templates"), None, false)
            .0,
        401
    );
    assert_eq!(
        answers
            .call("GET", &format!("{people}/export"), None, false)
            .0,
        401
    );

    // The two keyed answers that may hold them (and do).
    let (status, templates) = call("GET", &format!("{people}/314/templates"), None, true);
    assert_eq!(status, 200);
    assert!(templates.contains(&b64));
    let (status, export) = call("GET", &format!("{people}/export"), None, true);
    assert_eq!(status, 200);
    assert!(export.contains(&b64) && export.contains(second_password));
    let restore: Value = serde_json::from_str(&export).expect("export is JSON");
    assert_eq!(
        answers
            .call("POST", &format!("{people}/import"), Some(&restore), true)
            .0,
        200
    );

    // A push user with a keypad password: the command listing masks it.
    let user = json!({"user_id": "314", "name": "Eva", "password": second_password});
    assert_eq!(
        answers
            .call(
                "POST",
                &format!("{base}/devices/rec/users"),
                Some(&user),
                true
            )
            .0,
        202
    );
    let (_, listing) = answers.call("GET", &format!("{base}/devices/rec/commands"), None, true);
    assert!(listing.contains("Passwd=***"), "{listing}");

    // A punch of the person, on the stream, then the offboarding.
    let (status, _) = common::iclock_text(
        &base,
        "POST",
        "/iclock/cdata?SN=SNPRIV1&table=ATTLOG&Stamp=1",
        "314\t2026-03-02 08:00:00\t1\t0\t\t0\t0\n",
    );
    assert_eq!(status, 200);
    let punch = stream.punches(1, std::time::Duration::from_secs(30));
    assert_eq!(punch.len(), 1);
    answers
        .0
        .push(("the stream".into(), punch[0].data.to_string()));
    assert_eq!(
        answers
            .call(
                "GET",
                &format!("{base}/devices/rec/attendance"),
                None,
                false
            )
            .0,
        200
    );
    assert_eq!(answers.call("DELETE", &slot, None, true).0, 200);
    assert_eq!(
        answers
            .call("DELETE", &format!("{people}/314"), None, true)
            .0,
        200
    );
    assert_eq!(
        answers
            .call("GET", &format!("{base}/metrics"), None, false)
            .0,
        200
    );
    assert_eq!(
        answers
            .call("GET", &format!("{base}/health"), None, false)
            .0,
        200
    );
    common::process::terminate(&mut child);

    // A piece of the base64 is enough to find it; so are the passwords.
    let needles = [
        first_password,
        second_password,
        &b64[..40],
        &b64[b64.len() - 40..],
    ];
    for (what, text) in &answers.0 {
        for needle in needles {
            assert!(!text.contains(needle), "{what} holds a secret: {text}");
        }
    }
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(
        logged.contains("people: 314"),
        "the cycle was logged: {logged}"
    );
    for needle in needles {
        assert!(
            !logged.contains(needle),
            "the log holds a secret ({needle}): {logged}"
        );
    }
}

#[test]
fn a_queued_template_command_is_listed_with_tmp_masked() {
    let dir = tempdir("tmp-mask");
    let hook = common::receiver::Receiver::start();
    let env = push_server(&dir, &hook.url);
    let journal = Journal::open(dir.join("punches.db")).expect("journal");
    let b64 = STANDARD.encode(v10_template(1200, 11));
    let text = format!(
        "DATA UPDATE FINGERTMP PIN=1\tFID=6\tSize={}\tValid=1\tTMP={b64}",
        b64.len()
    );
    let queued = journal
        .enqueue_command("rec", &text, zkserver::time::now())
        .expect("queued");
    drop(journal);
    for url in [
        format!("{}/devices/rec/commands", env.base),
        format!("{}/devices/rec/commands/{}", env.base, queued.id),
    ] {
        let (status, body) = call("GET", &url, None, false);
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("TMP=***"), "{body}");
        assert!(!body.contains(&b64[..40]), "{body}");
    }
}

#[test]
fn a_person_carries_their_own_schedule_which_the_reports_use() {
    let dir = tempdir("person-schedule");
    let (env, _journal) = server(&dir);
    let people = format!("{}/people", env.base);
    let night = json!({"start": "22:00", "end": "06:00", "tolerance": 5, "days": [1, 2, 3]});
    // A bad schedule is refused, naming its field, and nobody is added.
    let (status, body) = keyed(
        "POST",
        &people,
        Some(
            &json!({"user_id": "77", "name": "Noche", "schedule": {"start": "25:00", "end": "06:00"}}),
        ),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("'start'"),
        "{body}"
    );
    let (status, _) = keyed("GET", &format!("{people}/77"), None);
    assert_eq!(status, 404);
    // Given at creation: shown in the person and in the reports' schedules.
    let (status, body) = keyed(
        "POST",
        &people,
        Some(&json!({"user_id": "77", "name": "Noche", "schedule": night})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["schedule"], night, "{body}");
    let (_, schedules) = keyed("GET", &format!("{}/reports/schedule", env.base), None);
    assert_eq!(schedules["people"]["77"], night, "{schedules}");
    // A person without one shows null; `null` in a PUT removes it.
    let (_, body) = keyed(
        "POST",
        &people,
        Some(&json!({"user_id": "78", "name": "Día"})),
    );
    assert_eq!(body["data"]["schedule"], Value::Null, "{body}");
    let (status, body) = keyed(
        "PUT",
        &format!("{people}/77"),
        Some(&json!({"schedule": null})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["schedule"], Value::Null, "{body}");
    let (_, schedules) = keyed("GET", &format!("{}/reports/schedule", env.base), None);
    assert_eq!(schedules["people"], json!({}), "{schedules}");
    // A tombstone takes the person's schedule with it.
    keyed(
        "PUT",
        &format!("{people}/78"),
        Some(&json!({"schedule": night})),
    );
    let (status, _) = keyed("DELETE", &format!("{people}/78"), None);
    assert_eq!(status, 200);
    let (_, schedules) = keyed("GET", &format!("{}/reports/schedule", env.base), None);
    assert_eq!(schedules["people"], json!({}), "{schedules}");
}
