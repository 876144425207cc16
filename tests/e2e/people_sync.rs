//! The staff list on pull terminals (API Part 7): import from one
//! simulated terminal, sync to others over 127.0.0.1 — templates byte for
//! byte in the target's user layout, algorithm versions, a full terminal,
//! a dropped link, tombstones (an offline terminal too, once it is back),
//! enrolment at a terminal joining the list, idempotence (the simulator
//! counts writes) and dry runs. The library's sync first, then the server:
//! the engine wakes on a list change and the `/people/sync` routes.

use std::collections::BTreeMap;

use zkserver::journal::{Journal, PersonChanges, SyncState, TemplateKind};
use zkserver::ops::{Budget, Terminals};
use zkserver::people::sync::{sync_pull, Depth, TerminalReport};
use zkserver::registry::{Device, DeviceConfig};
use zkserver::services::people_import::{from_device, Imported};
use zkserver::sim::{Faults, SimConfig, Simulator};
use zkserver::time::WallTime;
use zkserver::zk::records::{User, UserFormat};
use zkserver::zk::wire::cmd;

use crate::common::store::Store;

fn device(id: &str, sim: &Simulator, area: Option<&str>) -> Device {
    let mut config = DeviceConfig::new(id);
    config.ip = "127.0.0.1".into();
    config.port = sim.port();
    config.timeout = 5.0;
    if let Some(area) = area {
        config.area = area.into();
    }
    Device {
        id: id.into(),
        config,
    }
}

/// A terminal holding no users nor templates.
fn empty_sim(config: SimConfig) -> Simulator {
    let sim = Simulator::start(config).unwrap();
    sim.with_state(|st| {
        st.users.clear();
        st.templates.clear();
    });
    sim
}

fn terminals() -> Terminals {
    Terminals::new(Budget::default())
}

fn now() -> WallTime {
    WallTime::new(zkserver::time::now())
}

/// Templates by (PIN, finger) with their bytes.
fn templates_by_pin(sim: &Simulator) -> BTreeMap<(String, u8), Vec<u8>> {
    sim.with_state(|st| {
        let pins: BTreeMap<u16, String> = st
            .users
            .iter()
            .map(|u| (u.uid, u.user_id.clone()))
            .collect();
        st.templates
            .iter()
            .map(|t| ((pins[&t.uid].clone(), t.finger), t.data.clone()))
            .collect()
    })
}

fn users_of(sim: &Simulator) -> Vec<User> {
    sim.with_state(|st| st.users.clone())
}

fn assert_enabled(sim: &Simulator) {
    let stats = sim.stats();
    assert!(!sim.is_disabled(), "terminal left disabled");
    assert_eq!(stats.disables, stats.enables, "every disable re-enabled");
}

fn sync(store: &Store, t: &Terminals, d: &Device, depth: Depth) -> TerminalReport {
    sync_pull(&store.journal, t, d, depth, false).unwrap()
}

fn import(store: &Store, t: &Terminals, d: &Device) -> (usize, usize) {
    match from_device(&store.journal, t, d).unwrap() {
        Imported::Pull {
            people, templates, ..
        } => (people, templates),
        Imported::Push => panic!("a pull terminal"),
    }
}

#[test]
fn people_import_then_sync_copies_byte_for_byte_in_the_targets_layout_and_only_once() {
    let store = Store::new("people-sync");
    let t = terminals();
    let a = Simulator::start(SimConfig::default()).unwrap();
    let b = empty_sim(SimConfig {
        seed: 2,
        user_format: UserFormat::Short28,
        ..SimConfig::default()
    });
    // One user of its own: its layout shows in the read (and it stays).
    b.with_state(|st| {
        st.users.push(User {
            uid: 1,
            user_id: "77".into(),
            name: b"Propio".to_vec(),
            ..User::default()
        });
    });
    let (da, db) = (device("a", &a, None), device("b", &b, None));
    let source = templates_by_pin(&a);
    assert!(source.len() >= 10);
    let (people, templates) = import(&store, &t, &da);
    assert_eq!((people, templates), (users_of(&a).len(), source.len()));
    let report = sync(&store, &t, &db, Depth::Quick);
    assert_eq!(report.state, "al_dia", "{report:?}");
    assert_eq!(templates_by_pin(&b), source, "templates byte for byte");
    let pins = |s: &Simulator| -> Vec<String> {
        let mut p: Vec<_> = users_of(s).into_iter().map(|u| u.user_id).collect();
        p.sort();
        p
    };
    let mut expected = pins(&a);
    expected.push("77".into());
    expected.sort();
    assert_eq!(
        pins(&b),
        expected,
        "the list's people, and its own user kept"
    );
    let mut s = zkserver::zk::Session::connect(&db.config.connect_options()).unwrap();
    assert_eq!(
        s.users().unwrap().1,
        Some(UserFormat::Short28),
        "layout kept"
    );
    drop(s);
    assert_enabled(&b);
    let writes = b.stats().writes;
    let a_writes = a.stats().writes;
    for depth in [Depth::Quick, Depth::Full] {
        let again = sync(&store, &t, &db, depth);
        assert_eq!(again.state, "al_dia");
        assert!(again.pending.is_empty());
        assert_eq!(b.stats().writes, writes, "{depth:?}: nothing rewritten");
    }
    let before = b.stats();
    sync(&store, &t, &db, Depth::Quick);
    let after = b.stats();
    assert_eq!(after.connections, before.connections + 1);
    assert_eq!(
        after.disables, before.disables,
        "the quick check only reads counters"
    );
    sync(&store, &t, &da, Depth::Full);
    assert_eq!(
        a.stats().writes,
        a_writes,
        "the source is not rewritten either"
    );
}

#[test]
fn people_sync_moves_only_the_changed_persons_bytes() {
    let store = Store::new("people-sync");
    let t = terminals();
    let a = Simulator::start(SimConfig::default()).unwrap();
    let b = empty_sim(SimConfig {
        seed: 3,
        ..SimConfig::default()
    });
    let (da, db) = (device("a", &a, None), device("b", &b, None));
    import(&store, &t, &da);
    sync(&store, &t, &db, Depth::Quick);
    let pin = users_of(&a)[0].user_id.clone();
    let mut tpl = store.journal.person_templates(&pin).unwrap().remove(0);
    tpl.data[20] ^= 0xFF;
    tpl.updated_at = now();
    store.journal.put_template(&tpl).unwrap();
    let before = b.stats();
    let report = sync(&store, &t, &db, Depth::Quick);
    assert_eq!(report.state, "al_dia");
    let after = b.stats();
    let moved = after.uploaded_bytes - before.uploaded_bytes;
    assert!(
        moved <= (tpl.data.len() + 200) as u64 && moved >= tpl.data.len() as u64,
        "moved {moved} bytes for one template of {}",
        tpl.data.len()
    );
    assert_eq!(templates_by_pin(&b)[&(pin, tpl.index)], tpl.data);
}

#[test]
fn people_sync_versions_capacity_and_a_dropped_link() {
    let store = Store::new("people-sync");
    let t = terminals();
    let a = Simulator::start(SimConfig::default()).unwrap();
    let old = empty_sim(SimConfig {
        seed: 4,
        fp_version: 9,
        ..SimConfig::default()
    });
    let small = empty_sim(SimConfig {
        seed: 5,
        finger_capacity: 3,
        ..SimConfig::default()
    });
    let fine = empty_sim(SimConfig {
        seed: 6,
        ..SimConfig::default()
    });
    let da = device("a", &a, None);
    import(&store, &t, &da);
    let count = templates_by_pin(&a).len();
    let report = sync(&store, &t, &device("old", &old, None), Depth::Quick);
    assert_eq!(report.incompatible, count, "{report:?}");
    assert_eq!(report.state, "al_dia");
    assert!(
        templates_by_pin(&old).is_empty(),
        "no v10 template on a v9 terminal"
    );
    assert_eq!(
        users_of(&old).len(),
        users_of(&a).len(),
        "people still go (card, PIN)"
    );
    let states = store.journal.sync_states("old").unwrap();
    assert!(states.iter().any(|r| r.state == SyncState::Incompatible));
    let full = sync(&store, &t, &device("small", &small, None), Depth::Quick);
    assert_eq!(full.state, "error", "{full:?}");
    let message = full.error.clone().unwrap();
    assert!(
        message.contains("'small'") && message.contains("espacio"),
        "{message}"
    );
    assert!(full.pending.templates_add > 0);
    assert_enabled(&small);
    let ok = sync(&store, &t, &device("fine", &fine, None), Depth::Quick);
    assert_eq!(ok.state, "al_dia", "the others go on");
    assert_eq!(templates_by_pin(&fine).len(), count);
    let flaky = empty_sim(SimConfig {
        seed: 7,
        faults: Faults {
            close_on: Some(cmd::UPDATE_FIRMWARE),
            ..Faults::default()
        },
        ..SimConfig::default()
    });
    let dropped = sync(&store, &t, &device("flaky", &flaky, None), Depth::Quick);
    assert_eq!(dropped.state, "error", "{dropped:?}");
    assert!(!flaky.is_disabled(), "re-enabled after the link dropped");
}

#[test]
fn people_tombstones_remove_everywhere_and_an_offline_terminal_once_back() {
    let store = Store::new("people-sync");
    let t = terminals();
    let a = Simulator::start(SimConfig::default()).unwrap();
    let b = empty_sim(SimConfig {
        seed: 8,
        ..SimConfig::default()
    });
    let (da, db) = (device("a", &a, None), device("b", &b, None));
    import(&store, &t, &da);
    sync(&store, &t, &db, Depth::Quick);
    let pin = users_of(&a)[1].user_id.clone();
    assert!(store.journal.delete_person(&pin, now()).unwrap());
    b.set_offline(true);
    assert_eq!(sync(&store, &t, &da, Depth::Quick).state, "al_dia");
    assert!(
        !users_of(&a).iter().any(|u| u.user_id == pin),
        "removed from a"
    );
    assert!(!templates_by_pin(&a).keys().any(|k| k.0 == pin));
    let offline = sync(&store, &t, &db, Depth::Quick);
    assert_eq!(offline.state, "error");
    assert_eq!(offline.pending.users_remove, 1, "{offline:?}");
    assert!(users_of(&b).iter().any(|u| u.user_id == pin));
    b.set_offline(false);
    assert_eq!(sync(&store, &t, &db, Depth::Quick).state, "al_dia");
    assert!(
        !users_of(&b).iter().any(|u| u.user_id == pin),
        "removed once back"
    );
    assert!(!templates_by_pin(&b).keys().any(|k| k.0 == pin));
}

#[test]
fn people_enrolled_at_an_imported_terminal_join_the_list_and_reach_the_others() {
    let store = Store::new("people-sync");
    let t = terminals();
    let a = Simulator::start(SimConfig::default()).unwrap();
    let b = empty_sim(SimConfig {
        seed: 9,
        ..SimConfig::default()
    });
    let c = Simulator::start(SimConfig {
        seed: 10,
        users: 3,
        ..SimConfig::default()
    })
    .unwrap();
    let (da, db, dc) = (
        device("a", &a, None),
        device("b", &b, None),
        device("c", &c, None),
    );
    import(&store, &t, &da);
    sync(&store, &t, &db, Depth::Quick);
    let strangers_of_c = users_of(&c).len();
    sync(&store, &t, &dc, Depth::Quick);
    assert!(
        store.journal.get_person("9001").unwrap().is_none(),
        "first contact adds nothing"
    );
    let finger = templates_by_pin(&a).into_values().next().unwrap();
    a.with_state(|st| {
        let uid = st.users.iter().map(|u| u.uid).max().unwrap() + 1;
        st.users.push(User {
            uid,
            user_id: "9001".into(),
            name: b"Nueva Persona".to_vec(),
            ..User::default()
        });
        st.templates.push(zkserver::zk::records::Template {
            uid,
            finger: 3,
            valid: 1,
            data: finger.clone(),
        });
    });
    sync(&store, &t, &da, Depth::Full);
    let joined = store
        .journal
        .get_person("9001")
        .unwrap()
        .expect("joined the list");
    assert_eq!(joined.name, "Nueva Persona");
    let tpl = store
        .journal
        .get_template("9001", TemplateKind::Finger, 3)
        .unwrap()
        .unwrap();
    assert_eq!(tpl.data, finger);
    sync(&store, &t, &db, Depth::Quick);
    assert_eq!(templates_by_pin(&b)[&("9001".to_string(), 3)], finger);
    assert!(users_of(&c).len() > strangers_of_c, "c got the list too");
    let writes = a.stats().writes;
    sync(&store, &t, &da, Depth::Full);
    assert_eq!(
        a.stats().writes,
        writes,
        "nothing written back to where it came from"
    );
}

#[test]
fn people_dry_run_changes_nothing_and_out_of_area_stays_off() {
    let store = Store::new("people-sync");
    let t = terminals();
    let a = Simulator::start(SimConfig::default()).unwrap();
    let b = empty_sim(SimConfig {
        seed: 11,
        ..SimConfig::default()
    });
    let da = device("a", &a, None);
    let db = device("b", &b, Some("almacen"));
    import(&store, &t, &da);
    let pin = users_of(&a)[0].user_id.clone();
    let areas = PersonChanges {
        areas: Some(vec!["oficina".into()]),
        ..PersonChanges::default()
    };
    store.journal.upsert_person(&pin, &areas, now()).unwrap();
    let plan = sync_pull(&store.journal, &t, &db, Depth::Full, true).unwrap();
    assert_eq!(plan.state, "pendiente");
    assert_eq!(plan.pending.users_add, users_of(&a).len() - 1, "{plan:?}");
    assert_eq!(b.stats().writes, 0, "a dry run writes nothing");
    assert!(users_of(&b).is_empty());
    sync(&store, &t, &db, Depth::Quick);
    assert!(
        !users_of(&b).iter().any(|u| u.user_id == pin),
        "out of area"
    );
    let states = store.journal.sync_states("b").unwrap();
    let state = states.iter().find(|r| r.user_id == pin).unwrap().state;
    assert_eq!(state, SyncState::OutOfArea);
}

// --- the server: the engine and the routes -----------------------------------

use std::sync::Arc;

use crate::common::{self, wait_until, Link};

/// A server with a journal over `specs`' simulators; the test keeps the
/// journal (the list's routes are another part's: the list is changed
/// through the journal here, and imports through the import function).
fn server(
    store: &Store,
    journal: Arc<Journal>,
    specs: Vec<(&str, &str, SimConfig, Link)>,
    areas: &[(&str, &str)],
) -> (common::Env, Vec<Device>) {
    let _ = store;
    let mut sims = Vec::new();
    let mut entries = Vec::new();
    let mut devices = Vec::new();
    for (id, name, config, link) in specs {
        let sim = Simulator::start(config).unwrap();
        let mut cfg = common::device_config(name, sim.port(), &link);
        if let Some((_, area)) = areas.iter().find(|(d, _)| *d == id) {
            cfg.area = (*area).to_string();
        }
        devices.push(Device {
            id: id.into(),
            config: cfg.clone(),
        });
        entries.push((id.to_string(), cfg));
        sims.push(sim);
    }
    let registry = zkserver::registry::Registry::in_memory(entries);
    let env = common::serve(sims, registry, |s| {
        s.services.journal = Some(journal);
        s.services.people_interval = std::time::Duration::from_secs(2);
    });
    (env, devices)
}

fn report<'a>(body: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["device_id"] == id)
        .unwrap_or_else(|| panic!("{id} in {body}"))
}

#[test]
fn people_engine_follows_the_list_within_seconds_and_the_routes_show_it() {
    let store = Store::new("people-sync");
    let journal = Arc::new(Journal::open(store.dir.join("server.db")).unwrap());
    let target = SimConfig {
        seed: 21,
        ..SimConfig::default()
    };
    let small = SimConfig {
        seed: 22,
        finger_capacity: 2,
        ..SimConfig::default()
    };
    let (env, devices) = server(
        &store,
        journal.clone(),
        vec![
            ("a", "Entrada", SimConfig::default(), Link::default()),
            ("b", "Bodega", target, Link::default()),
            ("c", "Chica", small, Link::default()),
        ],
        &[("b", "almacen")],
    );
    let (a, b, c) = (&env.sims[0], &env.sims[1], &env.sims[2]);
    for sim in [b, c] {
        sim.with_state(|st| {
            st.users.clear();
            st.templates.clear();
        });
    }
    // GET /devices keeps the original server's shape; a device shows its area.
    let areas: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            let (status, shown) = common::get(&format!("{}/devices/{id}", env.base));
            assert_eq!(status, 200);
            shown["data"]["area"].as_str().unwrap_or("?").to_string()
        })
        .collect();
    assert_eq!(areas, ["general", "almacen", "general"]);
    let t = terminals();
    let Imported::Pull { templates, .. } = from_device(&journal, &t, &devices[0]).unwrap() else {
        panic!("pull");
    };
    let source = templates_by_pin(a);
    assert_eq!(templates, source.len());
    wait_until("b follows the list", || templates_by_pin(b) == source);
    wait_until("c reports its full memory", || {
        let (_, body) = common::get(&format!("{}/people/sync", env.base));
        report(&body, "c")["state"] == "error"
    });
    let (status, body) = common::get(&format!("{}/people/sync", env.base));
    assert_eq!(status, 200);
    let rc = report(&body, "c");
    assert!(rc["error"].as_str().unwrap().contains("espacio"), "{rc}");
    assert!(rc["pending"]["templates_add"].as_u64().unwrap() > 0);
    // The report of b's sync, not the one from before the import (al día
    // with an empty list, never synced): it is stored once the sync has
    // recorded what it wrote, a moment after the templates are there.
    wait_until("b al día after its sync", || {
        let (_, body) = common::get(&format!("{}/people/sync", env.base));
        let rb = report(&body, "b");
        rb["state"] == "al_dia" && rb["last_sync"].is_string()
    });
    let (_, body) = common::get(&format!("{}/people/sync", env.base));
    let rb = report(&body, "b");
    assert_eq!(rb["pending"]["users_add"], 0, "{rb}");
    assert!(
        rb["last_sync"].is_string() && rb.get("error").is_none(),
        "{rb}"
    );
    // Deleted: removed everywhere within seconds.
    let gone = users_of(a)[2].user_id.clone();
    journal.delete_person(&gone, now()).unwrap();
    wait_until("removed from a and b", || {
        !users_of(a).iter().any(|u| u.user_id == gone)
            && !users_of(b).iter().any(|u| u.user_id == gone)
    });
    // A finger deleted at b's keypad: a dry run shows it, changes nothing.
    let (pin, finger) = templates_by_pin(b).into_keys().next().unwrap();
    let uid = users_of(b).iter().find(|u| u.user_id == pin).unwrap().uid;
    b.with_state(|st| {
        st.templates
            .retain(|t| !(t.uid == uid && t.finger == finger));
    });
    let writes = b.stats().writes;
    let body = serde_json::json!({"device_id": "b", "dry_run": true});
    let (status, plan) = common::send("POST", &format!("{}/people/sync", env.base), &body);
    assert_eq!(status, 200, "{plan}");
    let rb = report(&plan, "b");
    assert_eq!(rb["state"], "pendiente", "{rb}");
    assert_eq!(rb["pending"]["templates_add"], 1, "{rb}");
    assert_eq!(b.stats().writes, writes, "a dry run writes nothing");
    let body = serde_json::json!({"device_id": "b"});
    let (status, done) = common::send("POST", &format!("{}/people/sync", env.base), &body);
    assert_eq!(status, 200, "{done}");
    assert_eq!(report(&done, "b")["state"], "al_dia", "{done}");
    assert!(
        templates_by_pin(b).keys().any(|k| k.0 == pin),
        "the list wins"
    );
    let writes = b.stats().writes;
    let (_, again) = common::send("POST", &format!("{}/people/sync", env.base), &body);
    assert_eq!(report(&again, "b")["state"], "al_dia");
    assert_eq!(b.stats().writes, writes, "the second sync writes nothing");
    let unknown = serde_json::json!({"device_id": "nadie"});
    let (status, _) = common::send("POST", &format!("{}/people/sync", env.base), &unknown);
    assert_eq!(status, 404);
    let bad = serde_json::json!({"dry_run": "sí"});
    let (status, err) = common::send("POST", &format!("{}/people/sync", env.base), &bad);
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("dry_run"), "{err}");
}

#[test]
fn people_engine_syncs_an_offline_terminal_once_it_is_back() {
    let store = Store::new("people-sync");
    let journal = Arc::new(Journal::open(store.dir.join("server.db")).unwrap());
    let (env, devices) = server(
        &store,
        journal.clone(),
        vec![
            ("a", "Entrada", SimConfig::default(), Link::default()),
            (
                "b",
                "Bodega",
                SimConfig {
                    seed: 31,
                    ..SimConfig::default()
                },
                Link {
                    timeout: 0.5,
                    ..Link::default()
                },
            ),
        ],
        &[],
    );
    let (a, b) = (&env.sims[0], &env.sims[1]);
    b.with_state(|st| {
        st.users.clear();
        st.templates.clear();
    });
    b.set_offline(true);
    from_device(&journal, &terminals(), &devices[0]).unwrap();
    wait_until("b reported offline", || {
        let (_, body) = common::get(&format!("{}/people/sync", env.base));
        report(&body, "b")["state"] == "error"
    });
    assert!(users_of(b).is_empty());
    b.set_offline(false);
    let source = templates_by_pin(a);
    wait_until("b follows once back", || templates_by_pin(b) == source);
    // Enrolled at a's keypad: the periodic check (--people-interval, 2 s
    // here) takes it into the list, and it reaches b.
    let finger = source.values().next().unwrap().clone();
    a.with_state(|st| {
        let uid = st.users.iter().map(|u| u.uid).max().unwrap() + 1;
        st.users.push(User {
            uid,
            user_id: "9100".into(),
            name: b"En Teclado".to_vec(),
            ..User::default()
        });
        st.templates.push(zkserver::zk::records::Template {
            uid,
            finger: 1,
            valid: 1,
            data: finger.clone(),
        });
    });
    wait_until("enrolled at a reaches b", || {
        templates_by_pin(b).get(&("9100".to_string(), 1)) == Some(&finger)
    });
    assert_eq!(
        journal.get_person("9100").unwrap().unwrap().name,
        "En Teclado"
    );
}

#[test]
fn people_ten_terminals_are_synced_at_once_not_one_after_another() {
    let store = Store::new("people-sync");
    let journal = Arc::new(Journal::open(store.dir.join("engine.db")).unwrap());
    let t = Arc::new(terminals());
    let source = Simulator::start(SimConfig::default()).unwrap();
    from_device(&journal, &t, &device("source", &source, None)).unwrap();
    let slow = Faults {
        latency: std::time::Duration::from_millis(15),
        ..Faults::default()
    };
    let sims: Vec<Simulator> = (0..10)
        .map(|i| {
            empty_sim(SimConfig {
                seed: 40 + i,
                faults: slow.clone(),
                ..SimConfig::default()
            })
        })
        .collect();
    let devices: Vec<Arc<Device>> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| Arc::new(device(&format!("t{i}"), s, None)))
        .collect();
    let registry = zkserver::registry::Registry::in_memory(Vec::new());
    let shutdown = zkserver::signal::Shutdown::default();
    let engine = zkserver::people::engine::PeopleSync::start(
        journal.clone(),
        t.clone(),
        Arc::new(registry),
        std::time::Duration::from_secs(600),
        shutdown.clone(),
    );
    let reports = engine.sync_all(&devices, Depth::Quick, false);
    assert!(reports
        .iter()
        .all(|(_, r)| r.as_ref().unwrap().state == "al_dia"));
    let expected = templates_by_pin(&source);
    assert!(sims.iter().all(|s| templates_by_pin(s) == expected));
    // Each terminal's conversation (connect … exit): the latest start is
    // before the earliest end when they all ran at once.
    let spans: Vec<_> = sims
        .iter()
        .map(|s| {
            let iv = s.stats().intervals;
            (
                iv.iter().map(|i| i.0).min().unwrap(),
                iv.iter().map(|i| i.1).max().unwrap(),
            )
        })
        .collect();
    let latest_start = spans.iter().map(|s| s.0).max().unwrap();
    let earliest_end = spans.iter().map(|s| s.1).min().unwrap();
    assert!(latest_start < earliest_end, "the ten syncs overlapped");
    shutdown.stop();
    engine.stop();
}

#[test]
fn people_sync_leaves_terminals_alone_while_the_list_is_empty() {
    let store = Store::new("people-sync");
    let t = terminals();
    let a = Simulator::start(SimConfig::default()).unwrap();
    for depth in [Depth::Quick, Depth::Full] {
        let report = sync(&store, &t, &device("a", &a, None), depth);
        assert_eq!(report.state, "al_dia");
    }
    assert_eq!(a.stats().connections, 0, "not read, not disabled");
}
