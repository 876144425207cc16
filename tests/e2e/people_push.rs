//! The staff list on push terminals (API Part 7): handshakes that ask
//! imported terminals for templates, uploads joining the list, import from
//! a push terminal, the list reaching push terminals by commands (version
//! gating, capacity errors, tombstones, idempotence), and template bytes
//! kept out of the log — against the push simulator and raw HTTP posts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use zkserver::journal::{Journal, PeopleFilter, PersonChanges, SyncState, Template, TemplateKind};
use zkserver::registry::{DeviceConfig, DeviceMode};
use zkserver::sim::push::{PushSim, PushSimConfig};
use zkserver::time::WallTime;

use crate::common::{self, iclock_text, send, Env};

/// A fresh folder for one test.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-ppush-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A push device with serial `sn`.
fn push_device(name: &str, sn: &str) -> DeviceConfig {
    let mut cfg = DeviceConfig::new(name);
    cfg.mode = DeviceMode::Push;
    cfg.sn = Some(sn.to_string());
    cfg
}

/// An in-process server with a journal in `dir` and these push devices.
fn push_env(dir: &Path, devices: Vec<(&str, DeviceConfig)>) -> (Env, Arc<Journal>) {
    common::push_env(dir, devices, |_| {})
}

/// A push simulator polling every 200 ms.
fn sim(base: &str, sn: &str, configure: impl FnOnce(&mut PushSimConfig)) -> PushSim {
    let mut cfg = PushSimConfig::new(base, sn);
    cfg.poll_every = Some(Duration::from_millis(200));
    cfg.retry_after = Some(Duration::from_millis(200));
    configure(&mut cfg);
    PushSim::start(cfg).expect("push sim starts")
}

/// Waits (generously, for a loaded machine) for `cond`.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every live person of the list.
fn people(journal: &Journal) -> Vec<zkserver::journal::Person> {
    journal
        .list_people(&PeopleFilter::default())
        .unwrap()
        .people
}

/// The state of `user_id` on `device`.
fn state(journal: &Journal, device: &str, user_id: &str) -> Option<SyncState> {
    journal
        .sync_states(device)
        .unwrap()
        .into_iter()
        .find(|r| r.user_id == user_id)
        .map(|r| r.state)
}

/// Synthetic ZKFinger 10 bytes (never a real person's).
fn v10_template(seed: u8) -> Vec<u8> {
    let mut data = vec![0x4D, seed, b'S', b'S', b'2', b'1', 0, 0, 4, 0xDB, 0xDA];
    data.extend_from_slice(&[4, 8, 5, 7, 9, 0xCE, 0xD0]);
    data.extend((0..1100u32).map(|i| (i as u8).wrapping_mul(seed | 1)));
    data
}

/// Adds person `user_id` with finger `finger` (v10 bytes) to the list.
fn add_person(journal: &Journal, user_id: &str, name: &str, finger: u8, data: &[u8]) {
    let at = WallTime::new(zkserver::time::now());
    let changes = PersonChanges {
        name: Some(name.to_string()),
        ..PersonChanges::default()
    };
    journal.upsert_person(user_id, &changes, at).unwrap();
    journal
        .put_template(&Template {
            user_id: user_id.to_string(),
            kind: TemplateKind::Finger,
            index: finger,
            version: "10".into(),
            flag: 1,
            data: data.to_vec(),
            updated_at: at,
            deleted: false,
        })
        .unwrap();
}

#[test]
fn a_handshake_asks_for_templates_once_the_terminal_was_imported() {
    let dir = tempdir("handshake");
    let (env, _journal) = push_env(&dir, vec![("rec", push_device("Rec", "SNPPH1"))]);
    let handshake = || iclock_text(&env.base, "GET", "/iclock/cdata?SN=SNPPH1&options=all", "").1;
    let before = handshake();
    assert!(before.contains("TransFlag=TransData AttLog\tOpLog\tEnrollUser\tChgUser\n"));
    assert!(!before.contains("EnrollFP"), "{before}");
    let (status, body) = send(
        "POST",
        &format!("{}/people/import", env.base),
        json!({"device_id": "rec"}),
    );
    assert_eq!(status, 202, "{body}");
    assert!(body["data"]["commands"].as_u64().unwrap() >= 2, "{body}");
    let after = handshake();
    assert!(
        after.contains(
            "\nTransFlag=TransData AttLog\tOpLog\tEnrollUser\tChgUser\tEnrollFP\tChgFP\tFACE\n"
        ),
        "{after}"
    );
    // An unknown serial is never asked for templates.
    let pending = iclock_text(
        &env.base,
        "GET",
        "/iclock/cdata?SN=SNUNKNOWN&options=all",
        "",
    )
    .1;
    assert!(!pending.contains("EnrollFP"), "{pending}");
    // The import answered the commands' shape: CHECK and the queries.
    let poll = iclock_text(&env.base, "GET", "/iclock/getrequest?SN=SNPPH1", "").1;
    assert!(poll.contains(":CHECK\n"), "{poll}");
    assert!(poll.contains(":DATA QUERY USERINFO\n"), "{poll}");
    assert!(poll.contains(":DATA QUERY FINGERTMP"), "{poll}");
}

#[test]
fn uploads_join_the_list_only_from_an_imported_terminal() {
    let dir = tempdir("uploads");
    let (env, journal) = push_env(&dir, vec![("rec", push_device("Rec", "SNPPU1"))]);
    let data = v10_template(7);
    let tmp = base64::engine::general_purpose::STANDARD.encode(&data);
    let body = format!(
        "USER PIN=41\tName=Ana Ruiz\tPri=0\tPasswd=\tCard=123\tGrp=1\nOPLOG 6\t41\t2025-01-02 08:00:00\t3\t{}\t0\t0\nFP PIN=41\tFID=3\tSize={}\tValid=1\tTMP={tmp}\n",
        data.len(),
        tmp.len()
    );
    // The terminal reports its algorithms at a poll (INFO v6/v7).
    iclock_text(
        &env.base,
        "GET",
        "/iclock/getrequest?SN=SNPPU1&INFO=Ver%206.60,1,1,0,127.0.0.1,10,7",
        "",
    );
    // Not imported: the users copy only (today's behaviour).
    let (status, answer) = iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SNPPU1&table=OPERLOG&Stamp=1",
        &body,
    );
    assert_eq!((status, answer.as_str()), (200, "OK:3"));
    assert!(journal.get_user("rec", "41").unwrap().is_some());
    assert!(people(&journal).is_empty(), "first contact adds nothing");
    let bio = format!(
        "BIODATA Pin=41\tNo=4\tIndex=0\tValid=1\tDuress=0\tType=1\tMajorVer=10\tMinorVer=0\tFormat=0\tTmp={tmp}\n"
    );
    iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SNPPU1&table=BIODATA&Stamp=1",
        &bio,
    );
    assert!(people(&journal).is_empty());

    // Imported: the same uploads join the list.
    let (status, _) = send(
        "POST",
        &format!("{}/people/import", env.base),
        json!({"device_id": "rec"}),
    );
    assert_eq!(status, 202);
    let (_, answer) = iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SNPPU1&table=OPERLOG&Stamp=2",
        &body,
    );
    assert_eq!(answer, "OK:3");
    let (_, answer) = iclock_text(
        &env.base,
        "POST",
        "/iclock/cdata?SN=SNPPU1&table=BIODATA&Stamp=2",
        &bio,
    );
    assert_eq!(answer, "OK:1");
    let person = journal.get_person("41").unwrap().expect("joined the list");
    assert_eq!((person.name.as_str(), person.card), ("Ana Ruiz", Some(123)));
    let finger3 = journal
        .get_template("41", TemplateKind::Finger, 3)
        .unwrap()
        .expect("FP kept");
    assert_eq!(finger3.data, data, "bytes as uploaded");
    assert_eq!(finger3.version, "10", "the terminal's FPVersion");
    let finger4 = journal
        .get_template("41", TemplateKind::Finger, 4)
        .unwrap()
        .expect("BIODATA kept");
    assert_eq!(finger4.data, data);
    // The terminal holds them: nothing goes back to it.
    assert_eq!(state(&journal, "rec", "41"), Some(SyncState::UpToDate));
    let sent = journal.templates_sent("rec", "41").unwrap();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].hash, finger3.content_hash());
    let first = iclock_text(&env.base, "GET", "/iclock/getrequest?SN=SNPPU1", "").1;
    assert!(!first.contains("DATA UPDATE"), "{first}");
    let second = iclock_text(&env.base, "GET", "/iclock/getrequest?SN=SNPPU1", "").1;
    assert_eq!(second, "OK");
}

#[test]
fn import_from_a_push_sim_fills_the_list_with_its_users_and_templates() {
    let dir = tempdir("import");
    let (env, journal) = push_env(&dir, vec![("rec", push_device("Rec", "SNPPI1"))]);
    let term = sim(&env.base, "SNPPI1", |c| {
        c.users = 3;
        c.fingers_per_user = 2;
    });
    wait_for("the users copy", || {
        journal.list_users("rec").unwrap().len() == 3
    });
    assert!(people(&journal).is_empty());
    let (status, body) = send(
        "POST",
        &format!("{}/people/import", env.base),
        json!({"device_id": "rec"}),
    );
    assert_eq!(status, 202, "{body}");
    wait_for("3 people and 6 templates", || {
        let p = people(&journal);
        p.len() == 3
            && p.iter().all(|p| {
                journal.person_templates(&p.user_id).unwrap().len() == 2 && !p.name.is_empty()
            })
    });
    for pin in ["1", "2", "3"] {
        let mut held = term.templates_of(pin);
        held.sort();
        let list = journal.person_templates(pin).unwrap();
        for (t, (_, no, _, bytes)) in list.iter().zip(&held) {
            assert_eq!(t.index, *no);
            assert_eq!(&t.data, bytes, "byte-identical");
            assert_eq!(t.version, "10");
        }
        assert_eq!(
            journal.get_person(pin).unwrap().unwrap().name,
            format!("Usuario {pin}")
        );
    }
    term.stop();
}

#[test]
fn the_list_reaches_push_terminals_by_their_version_and_capacity_and_only_once() {
    let dir = tempdir("sync");
    let (env, journal) = push_env(
        &dir,
        vec![
            ("a", push_device("A", "SNPPA")),
            ("b", push_device("B v9", "SNPPB")),
            ("c", push_device("C llena", "SNPPC")),
        ],
    );
    let a = sim(&env.base, "SNPPA", |c| c.users = 1);
    let b = sim(&env.base, "SNPPB", |c| {
        c.users = 1;
        c.fp_version = 9;
    });
    let c = sim(&env.base, "SNPPC", |c| {
        c.users = 1;
        c.fingers_per_user = 1;
        c.finger_capacity = 1;
    });
    wait_for("three terminals polled", || {
        ["a", "b", "c"]
            .iter()
            .all(|d| journal.list_users(d).unwrap().len() == 1)
    });
    let data = v10_template(9);
    add_person(&journal, "500", "Sofía Moreno", 6, &data);

    // A (v10): the person and the byte-identical template.
    wait_for("500 at A", || a.templates_of("500").len() == 1);
    assert_eq!(a.user("500").unwrap().name, "Sofía Moreno");
    assert_eq!(a.templates_of("500")[0], (1, 6, 0, data.clone()));
    wait_for("al_dia at A", || {
        state(&journal, "a", "500") == Some(SyncState::UpToDate)
    });
    // B (v9): the person, no template.
    wait_for("500 at B", || b.user("500").is_some());
    wait_for("incompatible at B", || {
        state(&journal, "b", "500") == Some(SyncState::Incompatible)
    });
    assert!(b.templates_of("500").is_empty());
    // C (full): error with the Spanish reason; A and B went on.
    wait_for("error at C", || {
        state(&journal, "c", "500") == Some(SyncState::Error)
    });
    let row = journal
        .sync_states("c")
        .unwrap()
        .into_iter()
        .find(|r| r.user_id == "500")
        .unwrap();
    let message = row.message.unwrap();
    assert!(
        message.contains("'c'") && message.contains("-1001"),
        "{message}"
    );
    assert!(message.contains("Capacidad"), "{message}");
    assert!(c.templates_of("500").is_empty());
    // GET /people/sync shows each push terminal's state.
    let (status, sync) = common::get(&format!("{}/people/sync", env.base));
    assert_eq!(status, 200, "{sync}");
    let line = |id: &str| {
        sync["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {sync}"))
    };
    assert_eq!(line("a")["state"], "al_dia", "{sync}");
    assert_eq!(line("b")["incompatible"], 1, "{sync}");
    assert_eq!(line("c")["state"], "error", "{sync}");
    assert!(
        line("c")["error"].as_str().unwrap().contains("-1001"),
        "{sync}"
    );

    // Command listings never show a template.
    let listing = common::get(&format!("{}/devices/a/commands", env.base))
        .1
        .to_string();
    assert!(listing.contains("TMP=***"), "{listing}");
    let tmp = base64::engine::general_purpose::STANDARD.encode(&data);
    assert!(!listing.contains(&tmp[..40]), "template bytes in a listing");

    // Idempotent: another look queues nothing anywhere.
    let counts = |d: &str| journal.list_commands(d).unwrap().len();
    let before = (counts("a"), counts("b"), counts("c"));
    let polls = |t: &PushSim| t.stats().polls.load(std::sync::atomic::Ordering::SeqCst);
    let seen = (polls(&a), polls(&b), polls(&c));
    journal.people_changes().notify();
    wait_for("two more polls of each", || {
        polls(&a) >= seen.0 + 2 && polls(&b) >= seen.1 + 2 && polls(&c) >= seen.2 + 2
    });
    assert_eq!(
        (counts("a"), counts("b"), counts("c")),
        before,
        "a second round queues nothing"
    );

    // A tombstone removes the person (and templates) from the terminals.
    let at = WallTime::new(zkserver::time::now());
    assert!(journal.delete_person("500", at).unwrap());
    wait_for("500 gone from A", || {
        a.user("500").is_none() && a.templates_of("500").is_empty()
    });
    wait_for("500 gone from B", || b.user("500").is_none());
    wait_for("removal confirmed", || {
        journal
            .sync_states("a")
            .unwrap()
            .iter()
            .any(|r| r.user_id == "500" && r.hash.is_none() && r.state == SyncState::UpToDate)
    });
    a.stop();
    b.stop();
    c.stop();
}

#[test]
fn enrolled_at_an_imported_push_sim_joins_the_list_and_reaches_the_others() {
    let dir = tempdir("enrol");
    let (env, journal) = push_env(
        &dir,
        vec![
            ("a", push_device("A", "SNPPE1")),
            ("b", push_device("B", "SNPPE2")),
        ],
    );
    let a = sim(&env.base, "SNPPE1", |c| c.users = 1);
    let b = sim(&env.base, "SNPPE2", |c| c.users = 1);
    wait_for("both polled", || {
        ["a", "b"]
            .iter()
            .all(|d| journal.list_users(d).unwrap().len() == 1)
    });
    let (status, _) = send(
        "POST",
        &format!("{}/people/import", env.base),
        json!({"device_id": "a"}),
    );
    assert_eq!(status, 202);
    wait_for("person 1 imported", || {
        journal.get_person("1").unwrap().is_some()
    });
    // The import's CHECK makes the next handshake ask for templates.
    wait_for("a handshake asking for templates", || a.templates_asked());
    let bytes = a.enroll("900", "Nuevo Ingreso", 2, 77);
    wait_for("900 joined the list", || {
        journal
            .get_template("900", TemplateKind::Finger, 2)
            .unwrap()
            .is_some_and(|t| t.data == bytes)
    });
    assert_eq!(
        journal.get_person("900").unwrap().unwrap().name,
        "Nuevo Ingreso"
    );
    wait_for("900 at B", || {
        b.templates_of("900") == vec![(1, 2, 0, bytes.clone())]
    });
    assert_eq!(b.user("900").unwrap().name, "Nuevo Ingreso");
    // Nothing went back to A.
    assert!(journal
        .list_commands("a")
        .unwrap()
        .iter()
        .all(|c| !c.command.contains("PIN=900")));
    a.stop();
    b.stop();
}

#[test]
fn template_bytes_never_reach_the_log() {
    let dir = tempdir("log");
    std::fs::write(
        dir.join("devices.json"),
        r#"{"a": {"mode": "push", "sn": "SNPPL1", "name": "A"},
            "b": {"mode": "push", "sn": "SNPPL2", "name": "B"}}"#,
    )
    .unwrap();
    let (mut child, base) = common::process::start_logging(
        &dir,
        &dir.join("log.txt"),
        &["--allow-open-writes", "--log-level", "debug"],
    );
    let a = sim(&base, "SNPPL1", |c| {
        c.users = 2;
        c.fingers_per_user = 1;
    });
    let b = sim(&base, "SNPPL2", |c| c.users = 1);
    let (status, _) = send(
        "POST",
        &format!("{base}/people/import"),
        json!({"device_id": "a"}),
    );
    assert_eq!(status, 202);
    wait_for("A's templates at B", || b.templates_of("2").len() == 1);
    let bytes = a.enroll("77", "Eva", 5, 5);
    wait_for("the enrolment at B", || b.templates_of("77").len() == 1);
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    assert!(
        text.contains("joined the staff list"),
        "the uploads were logged (as counts)"
    );
    let std64 = base64::engine::general_purpose::STANDARD;
    for t in [a.templates_of("1")[0].3.clone(), bytes] {
        let tmp = std64.encode(&t);
        for piece in tmp.as_bytes().chunks(24).skip(1).take(20) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(!text.contains(piece), "template text in the log");
        }
    }
    a.stop();
    b.stop();
}

#[test]
fn a_biodata_terminal_is_imported_and_written_in_biodata_and_areas_are_kept() {
    let dir = tempdir("biodata");
    let mut north = push_device("Norte", "SNPPN1");
    north.area = "norte".into();
    let (env, journal) = push_env(
        &dir,
        vec![("bio", push_device("Bio", "SNPPD1")), ("norte", north)],
    );
    let bio = sim(&env.base, "SNPPD1", |c| {
        c.users = 2;
        c.fingers_per_user = 1;
        c.biodata = true;
    });
    let n = sim(&env.base, "SNPPN1", |c| c.users = 1);
    wait_for("both polled", || {
        ["bio", "norte"]
            .iter()
            .all(|d| !journal.list_users(d).unwrap().is_empty())
    });
    let (status, body) = send(
        "POST",
        &format!("{}/people/import", env.base),
        json!({"device_id": "bio"}),
    );
    assert_eq!(status, 202, "{body}");
    let poll_texts = || -> Vec<String> {
        journal
            .list_commands("bio")
            .unwrap()
            .into_iter()
            .map(|c| c.command)
            .collect()
    };
    assert!(
        poll_texts()
            .iter()
            .any(|c| c == "DATA QUERY BIODATA Type=1"),
        "{:?}",
        poll_texts()
    );
    assert!(!poll_texts()
        .iter()
        .any(|c| c.starts_with("DATA QUERY FINGERTMP")));
    wait_for("BIODATA templates joined", || {
        ["1", "2"]
            .iter()
            .all(|p| journal.person_templates(p).unwrap().len() == 1)
    });
    assert_eq!(
        journal.person_templates("1").unwrap()[0].data,
        bio.templates_of("1")[0].3
    );

    // A person of area "norte" reaches only the terminal of that area.
    let data = v10_template(3);
    add_person(&journal, "600", "Luis Díaz", 1, &data);
    journal
        .upsert_person(
            "600",
            &PersonChanges {
                areas: Some(vec!["norte".into()]),
                ..PersonChanges::default()
            },
            WallTime::new(zkserver::time::now()),
        )
        .unwrap();
    wait_for("600 at the north terminal", || {
        n.templates_of("600") == vec![(1, 1, 0, data.clone())]
    });
    wait_for("out of area at bio", || {
        state(&journal, "bio", "600") == Some(SyncState::OutOfArea)
    });
    assert!(bio.user("600").is_none());
    // A person of every area reaches the BIODATA terminal as BIODATA.
    let data7 = v10_template(5);
    add_person(&journal, "700", "Marta Gil", 2, &data7);
    wait_for("700 at bio", || {
        bio.templates_of("700") == vec![(1, 2, 0, data7.clone())]
    });
    assert!(poll_texts()
        .iter()
        .any(|c| c.starts_with("DATA UPDATE BIODATA Pin=700\tNo=2")));
    bio.stop();
    n.stop();
}

#[test]
fn an_upload_does_not_undo_a_change_still_on_its_way_to_the_terminal() {
    let dir = tempdir("inflight");
    let (env, journal) = push_env(&dir, vec![("rec", push_device("Rec", "SNPPF1"))]);
    let (status, _) = send(
        "POST",
        &format!("{}/people/import", env.base),
        json!({"device_id": "rec"}),
    );
    assert_eq!(status, 202);
    let upload = |name: &str| {
        let body = format!("USER PIN=41\tName={name}\tPri=0\tPasswd=\tCard=\n");
        iclock_text(
            &env.base,
            "POST",
            "/iclock/cdata?SN=SNPPF1&table=OPERLOG&Stamp=1",
            &body,
        )
        .1
    };
    assert_eq!(upload("Ana Ruiz"), "OK:1");
    assert_eq!(journal.get_person("41").unwrap().unwrap().name, "Ana Ruiz");
    // The list renames her; the rename is queued for the terminal.
    let at = WallTime::new(zkserver::time::now());
    let rename = PersonChanges {
        name: Some("Ana Ruiz Gil".into()),
        ..PersonChanges::default()
    };
    journal.upsert_person("41", &rename, at).unwrap();
    let poll = iclock_text(&env.base, "GET", "/iclock/getrequest?SN=SNPPF1", "").1;
    let line = poll
        .lines()
        .find(|l| l.contains("DATA UPDATE USERINFO PIN=41"))
        .unwrap_or_else(|| panic!("rename queued: {poll}"));
    assert!(line.contains("Name=Ana Ruiz Gil"), "{line}");
    // Before it confirms, the terminal uploads its stale copy: ignored.
    assert_eq!(upload("Ana Ruiz"), "OK:1");
    assert_eq!(
        journal.get_person("41").unwrap().unwrap().name,
        "Ana Ruiz Gil"
    );
    assert_eq!(state(&journal, "rec", "41"), Some(SyncState::Pending));
    // Confirmed: al_dia.
    let id = line.split(':').nth(1).unwrap();
    iclock_text(
        &env.base,
        "POST",
        "/iclock/devicecmd?SN=SNPPF1",
        &format!("ID={id}&Return=0&CMD=DATA\n"),
    );
    assert_eq!(state(&journal, "rec", "41"), Some(SyncState::UpToDate));
    let again = iclock_text(&env.base, "GET", "/iclock/getrequest?SN=SNPPF1", "").1;
    assert_eq!(again, "OK", "nothing queued when up to date");
}

#[test]
fn the_import_route_reads_a_pull_terminal_at_once() {
    let dir = tempdir("pullimport");
    let journal = Arc::new(Journal::open(dir.join("punches.db")).expect("journal opens"));
    let j = journal.clone();
    let config = zkserver::sim::SimConfig {
        users: 4,
        ..zkserver::sim::SimConfig::default()
    };
    let env = common::start_app(
        vec![("principal", "Principal", config, common::Link::default())],
        Vec::new(),
        move |s| s.journal = Some(j),
    );
    let (status, body) = send(
        "POST",
        &format!("{}/people/import", env.base),
        json!({"device_id": "principal"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["users_read"], 4, "{body}");
    assert_eq!(people(&journal).len(), 4);
    let (status, body) = send("POST", &format!("{}/people/import", env.base), json!({}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("device_id")
            || body.to_string().contains("device_id"),
        "{body}"
    );
}

#[test]
fn a_push_terminal_that_has_not_polled_since_a_change_shows_it_pending() {
    let dir = tempdir("report-before-poll");
    let (env, journal) = push_env(&dir, vec![("caja", push_device("Caja", "SNREPORT1"))]);
    let sync_state = || {
        let (status, body) = common::get(&format!("{}/people/sync", env.base));
        assert_eq!(status, 200, "{body}");
        body["data"][0].clone()
    };
    assert_eq!(
        sync_state()["state"],
        "al_dia",
        "an empty list asks nothing"
    );
    add_person(&journal, "1005", "Sofía Moreno", 6, &v10_template(3));
    // The terminal never polled: nothing is queued yet, but the person and
    // the finger still have to reach it.
    let line = sync_state();
    assert_eq!(line["state"], "pendiente", "{line}");
    assert_eq!(line["pending"]["users_add"], 1, "{line}");
    assert_eq!(line["pending"]["templates_add"], 1, "{line}");
    // Its next poll queues them: counted once, not twice.
    let (status, _) = iclock_text(&env.base, "GET", "/iclock/getrequest?SN=SNREPORT1", "");
    assert_eq!(status, 200);
    let line = sync_state();
    assert_eq!(line["state"], "pendiente", "{line}");
    assert_eq!(line["pending"]["users_add"], 1, "{line}");
    assert_eq!(line["pending"]["templates_add"], 1, "{line}");
}
