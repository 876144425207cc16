//! The staff list: people (merge, tombstones, search, areas, paging),
//! templates (newest wins, tombstones), terminals' sync states, export and
//! restore, the schema step that adds them, and secrets kept out of `Debug`.

use rusqlite::Connection;

use super::{at, now, open, punch, TempDir};
use crate::journal::{
    fold_for_search, Journal, PeopleExport, PeopleFilter, Person, PersonChanges, SyncRow,
    SyncState, Template, TemplateKind, TemplateSent, TemplateWrite, APPLICATION_ID,
    CURRENT_VERSION,
};
use crate::time::WallTime;

fn wall(day: u32, h: u32) -> WallTime {
    WallTime::new(at(day, h, 0, 0))
}

fn named(name: &str) -> PersonChanges {
    PersonChanges {
        name: Some(name.into()),
        ..PersonChanges::default()
    }
}

fn in_areas(name: &str, areas: &[&str]) -> PersonChanges {
    PersonChanges {
        areas: Some(areas.iter().map(ToString::to_string).collect()),
        ..named(name)
    }
}

/// A v10-shaped template of `size` bytes.
fn template(user_id: &str, index: u8, fill: u8, when: WallTime) -> Template {
    let mut data = vec![0x4D, 0x98, b'S', b'S', b'2', b'1', 0, 0];
    data.resize(1190, fill);
    Template {
        user_id: user_id.into(),
        kind: TemplateKind::Finger,
        index,
        version: "10".into(),
        flag: 1,
        data,
        updated_at: when,
        deleted: false,
    }
}

fn ids(people: &[Person]) -> Vec<&str> {
    people.iter().map(|p| p.user_id.as_str()).collect()
}

fn filter(q: Option<&str>, area: Option<&str>) -> PeopleFilter {
    PeopleFilter {
        q: q.map(str::to_string),
        area: area.map(str::to_string),
        ..PeopleFilter::default()
    }
}

// --- the schema step ------------------------------------------------------------

/// A journal file at schema version 4 (before the staff list) with a
/// punch, a users copy row and a queued command.
fn journal_at_version_4(path: &std::path::Path) {
    let conn = Connection::open(path).expect("open");
    for step in &crate::journal::schema::MIGRATIONS[..4] {
        conn.execute_batch(step).expect("old step");
    }
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 4;
         INSERT INTO devices (id, name, punches, serial) VALUES (1, 'a', 1, 'SN1');
         INSERT INTO punches (device, user_id, time, status, punch, workcode, received_at)
             VALUES (1, '7', '2026-03-01 08:00:00', 1, 0, NULL, '2026-03-01 08:00:01');
         INSERT INTO users (device, user_id, uid, name, privilege, card, password, grp, updated_at)
             VALUES ('a', '7', 1, 'Ana', 0, '', NULL, NULL, '2026-03-01 08:00:00');
         INSERT INTO commands (device, command, status, created_at)
             VALUES ('a', 'CHECK', 'pendiente', '2026-03-01 08:00:00');"
    ))
    .expect("old data");
}

#[test]
fn a_version_4_journal_gains_the_staff_list_and_keeps_its_data() {
    const { assert!(CURRENT_VERSION >= 5) };
    let dir = TempDir::new();
    let path = dir.file("punches.db");
    journal_at_version_4(&path);
    let j = Journal::open(&path).expect("migrates");
    let version: i64 = j
        .writer
        .lock()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, CURRENT_VERSION);
    assert_eq!(j.count_punches("a").expect("count"), 1);
    assert_eq!(j.list_users("a").expect("users")[0].name, "Ana");
    assert_eq!(j.list_commands("a").expect("commands").len(), 1);
    j.insert_punches("a", &[punch("8", at(2, 9, 0, 0))], now())
        .expect("insert after migration");
    j.upsert_person("7", &named("Ana"), wall(2, 9))
        .expect("the new tables work");
    drop(j);
    let j = Journal::open(&path).expect("reopens");
    assert_eq!(j.count_punches("a").expect("count"), 2);
    assert_eq!(j.get_person("7").expect("get").expect("kept").name, "Ana");
}

// --- people -------------------------------------------------------------------------

#[test]
fn a_merge_changes_only_the_given_fields() {
    let dir = TempDir::new();
    let j = open(&dir);
    let full = PersonChanges {
        name: Some("Sofía Moreno".into()),
        card: Some(Some(998_877)),
        password: Some(Some("4321".into())),
        privilege: Some(14),
        areas: Some(vec!["almacen".into()]),
    };
    let created = j.upsert_person("1005", &full, wall(1, 8)).expect("create");
    assert_eq!(created.updated_at, wall(1, 8));
    let merged = j
        .upsert_person("1005", &named("Sofía Moreno Ruiz"), wall(1, 9))
        .expect("merge");
    assert_eq!(merged.name, "Sofía Moreno Ruiz");
    assert_eq!(merged.card, Some(998_877));
    assert_eq!(merged.password.as_deref(), Some("4321"));
    assert_eq!(merged.privilege, 14);
    assert_eq!(merged.areas, vec!["almacen".to_string()]);
    assert_eq!(merged.updated_at, wall(1, 9));
    assert_eq!(j.get_person("1005").expect("get"), Some(merged.clone()));
    let unchanged = j
        .upsert_person("1005", &named("Sofía Moreno Ruiz"), wall(1, 10))
        .expect("same");
    assert_eq!(
        unchanged.updated_at,
        wall(1, 9),
        "nothing changed, nothing written"
    );
    let cleared = PersonChanges {
        card: Some(None),
        password: Some(None),
        ..PersonChanges::default()
    };
    let p = j
        .upsert_person("1005", &cleared, wall(1, 11))
        .expect("clear");
    assert_eq!((p.card, p.password_set()), (None, false));
    assert_eq!(p.name, "Sofía Moreno Ruiz");
    let new = j
        .upsert_person("1006", &named("Luis"), wall(1, 8))
        .expect("new");
    assert_eq!(new.areas, vec!["*".to_string()], "every area by default");
    assert_eq!(
        (new.privilege, new.card, new.password_set()),
        (0, None, false)
    );
}

#[test]
fn a_deleted_person_is_a_tombstone_and_can_be_created_again() {
    let dir = TempDir::new();
    let j = open(&dir);
    let secret = PersonChanges {
        password: Some(Some("4321".into())),
        card: Some(Some(5)),
        ..named("Ana")
    };
    j.upsert_person("7", &secret, wall(1, 8)).expect("create");
    j.put_template(&template("7", 6, 1, wall(1, 8)))
        .expect("template");
    assert!(j.delete_person("7", wall(2, 8)).expect("delete"));
    assert!(!j.delete_person("7", wall(2, 9)).expect("again"));
    assert!(!j.delete_person("nobody", wall(2, 9)).expect("unknown"));
    let tomb = j.get_person("7").expect("get").expect("tombstone");
    assert!(tomb.is_deleted());
    assert_eq!(tomb.deleted_at, Some(wall(2, 8)));
    assert!(!tomb.password_set(), "the password goes with the person");
    let gone = j
        .get_template("7", TemplateKind::Finger, 6)
        .expect("get")
        .expect("tombstone");
    assert!(gone.deleted && gone.data.is_empty(), "{gone:?}");
    assert!(j.person_templates("7").expect("live").is_empty());
    let live = j.list_people(&PeopleFilter::default()).expect("live");
    assert_eq!(live.total, 0);
    let deleted = PeopleFilter {
        deleted: true,
        ..PeopleFilter::default()
    };
    assert_eq!(
        j.list_people(&deleted).expect("deleted").total,
        0,
        "on no terminal: removed everywhere already"
    );
    let held = SyncRow {
        device: "a".into(),
        user_id: "7".into(),
        hash: Some("h".into()),
        state: SyncState::UpToDate,
        message: None,
        synced_at: wall(1, 9),
    };
    j.set_sync_states(std::slice::from_ref(&held))
        .expect("held");
    assert_eq!(
        ids(&j.list_people(&deleted).expect("deleted").people),
        ["7"],
        "still on terminal a"
    );
    j.set_sync_states(&[SyncRow { hash: None, ..held }])
        .expect("removed");
    assert_eq!(j.list_people(&deleted).expect("deleted").total, 0);
    j.set_sync_states(&[SyncRow {
        device: "a".into(),
        user_id: "7".into(),
        hash: Some("h".into()),
        state: SyncState::Pending,
        message: None,
        synced_at: wall(1, 9),
    }])
    .expect("held again");

    let again = j
        .upsert_person("7", &named("Ana B"), wall(3, 8))
        .expect("again");
    assert!(!again.is_deleted());
    assert_eq!(
        (again.card, again.password_set()),
        (None, false),
        "a fresh start"
    );
    assert_eq!(
        ids(&j.list_people(&PeopleFilter::default()).expect("l").people),
        ["7"]
    );
    assert_eq!(j.list_people(&deleted).expect("deleted").total, 0);
}

#[test]
fn search_ignores_accents_and_case_in_names_and_ids() {
    let dir = TempDir::new();
    let j = open(&dir);
    for (id, name) in [
        ("1005", "Sofía Moreno"),
        ("12", "ÍÑIGO MUÑOZ"),
        ("3", "Raúl Güemes"),
        ("4", "100% Pérez_x"),
    ] {
        j.upsert_person(id, &named(name), wall(1, 8))
            .expect("create");
    }
    let found = |q: &str| ids(&j.list_people(&filter(Some(q), None)).expect("q").people).join(",");
    assert_eq!(found("sofia"), "1005");
    assert_eq!(found("SOFÍA"), "1005");
    assert_eq!(found("inigo munoz"), "12");
    assert_eq!(found("guemes"), "3");
    assert_eq!(found("100"), "4,1005", "ids are searched too");
    assert_eq!(found("%"), "4", "% is a character, not a wildcard");
    assert_eq!(found("z_x"), "4");
    assert_eq!(found("e_x"), "");
    assert_eq!(fold_for_search("Áéíóú Üñ"), "aeiou un");
}

#[test]
fn the_area_filter_counts_every_area_people_in_each_area() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.upsert_person("1", &in_areas("Todos", &["*"]), wall(1, 8))
        .expect("1");
    j.upsert_person("2", &in_areas("Almacén", &["almacen"]), wall(1, 8))
        .expect("2");
    j.upsert_person(
        "3",
        &in_areas("Oficina", &["oficina", "general"]),
        wall(1, 8),
    )
    .expect("3");
    let in_area =
        |a: &str| ids(&j.list_people(&filter(None, Some(a))).expect("area").people).join(",");
    assert_eq!(in_area("almacen"), "1,2");
    assert_eq!(in_area("general"), "1,3");
    assert_eq!(in_area("nadie"), "1");
    let p = j.get_person("3").expect("get").expect("3");
    assert!(p.in_area("general") && !p.in_area("almacen"));
    let both = PeopleFilter {
        q: Some("almacen".into()),
        area: Some("almacen".into()),
        ..PeopleFilter::default()
    };
    assert_eq!(ids(&j.list_people(&both).expect("both").people), ["2"]);
}

#[test]
fn pages_are_bounded_and_in_pin_order() {
    let dir = TempDir::new();
    let j = open(&dir);
    for id in ["10", "9", "100", "2", "1"] {
        j.upsert_person(id, &named("x"), wall(1, 8))
            .expect("create");
    }
    let page = |offset, limit| {
        j.list_people(&PeopleFilter {
            offset,
            limit,
            ..PeopleFilter::default()
        })
        .expect("page")
    };
    let all = page(0, None);
    assert_eq!(
        (all.total, ids(&all.people)),
        (5, vec!["1", "2", "9", "10", "100"])
    );
    let second = page(2, Some(2));
    assert_eq!((second.total, ids(&second.people)), (5, vec!["9", "10"]));
    assert!(page(5, Some(2)).people.is_empty());
}

// --- templates ----------------------------------------------------------------------

#[test]
fn the_newest_template_wins_per_person_kind_and_index() {
    let dir = TempDir::new();
    let j = open(&dir);
    let first = template("7", 6, 1, wall(2, 8));
    assert_eq!(j.put_template(&first).expect("put"), TemplateWrite::Stored);
    let older = template("7", 6, 2, wall(1, 8));
    assert_eq!(j.put_template(&older).expect("put"), TemplateWrite::Older);
    let got = j.get_template("7", TemplateKind::Finger, 6).expect("get");
    assert_eq!(got, Some(first.clone()), "the older write was ignored");
    let newer = template("7", 6, 3, wall(3, 8));
    assert_eq!(j.put_template(&newer).expect("put"), TemplateWrite::Stored);
    let other_index = template("7", 5, 4, wall(1, 8));
    assert_eq!(
        j.put_template(&other_index).expect("put"),
        TemplateWrite::Stored
    );
    let face = Template {
        kind: TemplateKind::Face,
        version: "7".into(),
        ..template("7", 6, 5, wall(1, 8))
    };
    assert_eq!(j.put_template(&face).expect("put"), TemplateWrite::Stored);
    assert_eq!(
        j.person_templates("7").expect("live"),
        vec![other_index, newer.clone(), face]
    );
    let listed = j.list_templates("7").expect("list");
    assert_eq!(listed.len(), 3);
    assert_eq!((listed[1].size, listed[1].index), (1190, 6));
    assert_eq!(listed[1].hash, newer.content_hash());
}

#[test]
fn a_deleted_template_is_a_tombstone_that_newest_wins_too() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.put_template(&template("7", 6, 1, wall(2, 8)))
        .expect("put");
    let finger = TemplateKind::Finger;
    assert_eq!(
        j.delete_template("7", finger, 6, wall(1, 8))
            .expect("older delete"),
        TemplateWrite::Older
    );
    assert_eq!(
        j.delete_template("7", finger, 6, wall(3, 8))
            .expect("delete"),
        TemplateWrite::Stored
    );
    assert_eq!(
        j.delete_template("7", finger, 6, wall(4, 8))
            .expect("again"),
        TemplateWrite::Missing
    );
    assert_eq!(
        j.delete_template("7", finger, 1, wall(4, 8)).expect("none"),
        TemplateWrite::Missing
    );
    let info = &j.list_templates("7").expect("list")[0];
    assert!(info.deleted && info.size == 0, "{info:?}");
    assert_eq!(
        j.put_template(&template("7", 6, 9, wall(2, 9)))
            .expect("stale"),
        TemplateWrite::Older,
        "an enrolment older than the delete does not bring it back"
    );
    let back = template("7", 6, 9, wall(5, 8));
    assert_eq!(j.put_template(&back).expect("put"), TemplateWrite::Stored);
    assert_eq!(j.person_templates("7").expect("live"), vec![back]);
}

// --- sync states --------------------------------------------------------------------

#[test]
fn sync_states_and_templates_sent_are_kept_per_terminal() {
    let dir = TempDir::new();
    let j = open(&dir);
    let person = j.upsert_person("7", &named("Ana"), wall(1, 8)).expect("p");
    let t = template("7", 6, 1, wall(1, 8));
    let row = |device: &str, state, message: Option<&str>| SyncRow {
        device: device.into(),
        user_id: "7".into(),
        hash: Some(person.content_hash()),
        state,
        message: message.map(str::to_string),
        synced_at: wall(1, 9),
    };
    j.set_sync_states(&[
        row("a", SyncState::UpToDate, None),
        row("b", SyncState::Error, Some("full")),
    ])
    .expect("states");
    j.set_sync_states(&[row("a", SyncState::OutOfArea, None)])
        .expect("again");
    assert_eq!(
        j.sync_states("a").expect("a"),
        vec![row("a", SyncState::OutOfArea, None)]
    );
    assert_eq!(
        j.sync_states("b").expect("b")[0].message.as_deref(),
        Some("full")
    );
    let sent = TemplateSent {
        device: "a".into(),
        user_id: "7".into(),
        kind: TemplateKind::Finger,
        index: 6,
        hash: t.content_hash(),
        written_at: wall(1, 9),
    };
    j.record_templates_sent(std::slice::from_ref(&sent), &[])
        .expect("sent");
    j.record_templates_sent(std::slice::from_ref(&sent), &[])
        .expect("idempotent");
    assert_eq!(j.templates_sent("a", "7").expect("read"), vec![sent]);
    j.record_templates_sent(&[], &[("a".into(), "7".into(), TemplateKind::Finger, 6)])
        .expect("removed");
    assert!(j.templates_sent("a", "7").expect("read").is_empty());
    assert_eq!(j.forget_sync("a").expect("forget"), 1);
    assert!(j.sync_states("a").expect("a").is_empty());
    assert_eq!(j.sync_states("b").expect("b").len(), 1);
    for s in [
        SyncState::UpToDate,
        SyncState::Pending,
        SyncState::Incompatible,
        SyncState::OutOfArea,
        SyncState::Error,
    ] {
        assert_eq!(SyncState::parse(s.as_str()), Some(s));
    }
}

#[test]
fn content_hashes_change_with_what_a_terminal_holds() {
    let p = Person::new("7", wall(1, 8));
    let mut q = p.clone();
    q.updated_at = wall(2, 8);
    assert_eq!(p.content_hash(), q.content_hash(), "times are not content");
    q.password = Some("1".into());
    assert_ne!(p.content_hash(), q.content_hash());
    let t = template("7", 6, 1, wall(1, 8));
    let mut u = t.clone();
    u.data[100] ^= 1;
    assert_ne!(t.content_hash(), u.content_hash());
    assert_eq!(t.content_hash().len(), 64);
}

// --- export, restore, secrets ------------------------------------------------------------

/// A list with a live person (password, card, areas, two templates), a
/// deleted one, and a deleted template.
fn filled(j: &Journal) {
    let full = PersonChanges {
        name: Some("Sofía Moreno".into()),
        card: Some(Some(998_877)),
        password: Some(Some("4321".into())),
        privilege: Some(14),
        areas: Some(vec!["almacen".into(), "oficina".into()]),
    };
    j.upsert_person("1005", &full, wall(1, 8)).expect("p");
    j.put_template(&template("1005", 6, 7, wall(1, 8)))
        .expect("t");
    let face = Template {
        kind: TemplateKind::Face,
        version: "7".into(),
        ..template("1005", 0, 0xFF, wall(1, 9))
    };
    j.put_template(&face).expect("face");
    j.put_template(&template("1005", 2, 3, wall(1, 8)))
        .expect("t");
    j.delete_template("1005", TemplateKind::Finger, 2, wall(1, 10))
        .expect("del");
    j.upsert_person("9", &named("Ex"), wall(1, 8)).expect("p");
    j.delete_person("9", wall(2, 8)).expect("del");
}

#[test]
fn an_export_restores_byte_for_byte_in_another_journal() {
    let (one, two) = (TempDir::new(), TempDir::new());
    let source = open(&one);
    filled(&source);
    let export = source.export_people().expect("export");
    assert_eq!((export.people.len(), export.templates.len()), (2, 3));
    assert_eq!(
        export.people[1].password.as_deref(),
        Some("4321"),
        "{export:?}"
    );
    let target = open(&two);
    target
        .upsert_person("1005", &named("stale"), wall(9, 8))
        .expect("stale");
    let counts = target.import_people(&export).expect("import");
    assert_eq!((counts.people, counts.templates), (2, 3));
    let restored = target.export_people().expect("export again");
    assert_eq!(restored, export);
    let a = source
        .get_template("1005", TemplateKind::Face, 0)
        .expect("a");
    let b = target
        .get_template("1005", TemplateKind::Face, 0)
        .expect("b");
    assert_eq!(a.map(|t| t.data), b.map(|t| t.data));
    assert_eq!(
        source.list_templates("1005").expect("a"),
        target.list_templates("1005").expect("b"),
        "sizes and hashes too"
    );
    assert_eq!(
        target
            .import_people(&PeopleExport::default())
            .expect("empty")
            .people,
        0
    );
}

#[test]
fn a_restore_that_fails_writes_nothing() {
    let dir = TempDir::new();
    let j = open(&dir);
    let mut bad = Person::new("2", wall(1, 8));
    bad.card = Some(u64::MAX);
    let export = PeopleExport {
        people: vec![Person::new("1", wall(1, 8)), bad],
        templates: vec![template("1", 6, 1, wall(1, 8))],
    };
    let err = j
        .import_people(&export)
        .expect_err("a card SQLite cannot hold");
    assert!(!format!("{err}").is_empty());
    assert_eq!(j.export_people().expect("export"), PeopleExport::default());
}

#[test]
fn debug_output_shows_neither_passwords_nor_template_bytes() {
    let dir = TempDir::new();
    let j = open(&dir);
    filled(&j);
    let export = j.export_people().expect("export");
    let person = &export.people[1];
    let shown = format!("{export:?} {person:?} {:#?}", export.templates);
    assert!(shown.contains("password_set: true"), "{shown}");
    assert!(shown.contains("size: 1190"), "{shown}");
    assert!(!shown.contains("4321"), "a password in {shown}");
    for t in &export.templates {
        if let Some(bytes) = t.data.get(8..16) {
            let as_list = format!("{bytes:?}");
            assert!(
                !shown.contains(&as_list[1..as_list.len() - 1]),
                "bytes in {shown}"
            );
        }
    }
    assert!(
        !shown.contains("83, 83, 50, 49"),
        "template bytes in {shown}"
    );
    let changes = PersonChanges {
        password: Some(Some("4321".into())),
        ..PersonChanges::default()
    };
    let shown = format!("{changes:?}");
    assert!(!shown.contains("4321") && shown.contains("set"), "{shown}");
}

#[test]
fn every_change_to_a_person_is_in_the_outbox_once_in_its_latest_state() {
    let dir = TempDir::new();
    let j = open(&dir);
    j.upsert_person("7", &named("Ana"), wall(1, 8)).expect("7");
    j.upsert_person("8", &named("Beto"), wall(1, 8)).expect("8");
    j.upsert_person("7", &named("Ana María"), wall(1, 9))
        .expect("7 again");
    let (changed, last) = j.people_changed_after(0, 100).expect("changes");
    let names: Vec<&str> = changed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["Beto", "Ana María"],
        "each once, latest state, by last change"
    );
    let last = last.expect("a position");
    assert_eq!(
        j.people_changed_after(last, 100).expect("none"),
        (vec![], None)
    );
    // A tombstone and a restore are changes too; `limit` bounds a batch.
    assert!(j.delete_person("8", wall(1, 10)).expect("delete"));
    let export = j.export_people().expect("export");
    j.import_people(&export).expect("restore");
    let (changed, next) = j.people_changed_after(last, 1).expect("changes");
    assert_eq!(changed.len(), 1);
    let (rest, _) = j
        .people_changed_after(next.expect("next"), 100)
        .expect("rest");
    assert_eq!(rest.len(), 1);
    let tomb = changed
        .iter()
        .chain(&rest)
        .find(|p| p.user_id == "8")
        .expect("8");
    assert!(tomb.is_deleted());
}

#[test]
fn an_export_lists_templates_by_pin_length_pin_fingers_then_faces_by_index() {
    let dir = TempDir::new();
    let j = open(&dir);
    let face = |id: &str, index| Template {
        kind: TemplateKind::Face,
        version: "7".into(),
        ..template(id, index, 1, wall(1, 8))
    };
    let stored = [
        face("10", 1),
        template("10", 3, 1, wall(1, 8)),
        template("9", 5, 1, wall(1, 8)),
        face("10", 0),
        template("10", 0, 1, wall(1, 8)),
        template("100", 0, 1, wall(1, 8)),
    ];
    for t in &stored {
        j.put_template(t).expect("put");
    }
    let order: Vec<(String, &str, u8)> = j
        .export_people()
        .expect("export")
        .templates
        .iter()
        .map(|t| (t.user_id.clone(), t.kind.as_str(), t.index))
        .collect();
    let want = [
        ("9", "finger", 5),
        ("10", "finger", 0),
        ("10", "finger", 3),
        ("10", "face", 0),
        ("10", "face", 1),
        ("100", "finger", 0),
    ];
    let want: Vec<(String, &str, u8)> = want
        .iter()
        .map(|(u, k, i)| (u.to_string(), *k, *i))
        .collect();
    assert_eq!(order, want);
}

/// A terminal `device`'s import of one person with one template.
fn one_import(device: &str) -> crate::journal::TerminalImport {
    use crate::journal::{SyncCounters, TerminalImport};
    let mut ana = Person::new("1005", wall(1, 8));
    ana.name = "Ana".into();
    let t = template("1005", 1, 4, wall(1, 8));
    let hash = t.content_hash();
    TerminalImport {
        device: device.into(),
        rows: vec![SyncRow {
            device: device.into(),
            user_id: "1005".into(),
            hash: Some(ana.content_hash()),
            state: SyncState::UpToDate,
            message: None,
            synced_at: wall(1, 8),
        }],
        sent: vec![TemplateSent {
            device: device.into(),
            user_id: "1005".into(),
            kind: TemplateKind::Finger,
            index: 1,
            hash: hash.clone(),
            written_at: wall(1, 8),
        }],
        people: vec![ana],
        templates: vec![(t, hash)],
        counters: Some(SyncCounters {
            users: 1,
            fingers: 1,
            fp_version: 10,
            record_size: 72,
        }),
    }
}

#[test]
fn a_terminal_import_is_stored_whole_in_one_call() {
    let dir = TempDir::new();
    let j = open(&dir);
    let import = one_import("entrada");
    let (t, hash) = import.templates[0].clone();
    let seen = j.people_changes().current();
    j.store_terminal_import(&import).expect("store");
    assert!(
        j.people_changes().current() > seen,
        "the sync engine is woken"
    );
    let ana = j.get_person("1005").expect("get");
    assert_eq!(ana.map(|p| p.name), Some("Ana".into()));
    let stored = j.get_template("1005", TemplateKind::Finger, 1).expect("t");
    assert_eq!(stored.map(|s| s.data), Some(t.data));
    let info = j.list_templates("1005").expect("list");
    assert_eq!(info[0].hash, hash, "the hash given is the one stored");
    assert!(j.people_imported("entrada").expect("imported"));
    assert_eq!(
        j.sync_counters("entrada").expect("counters"),
        import.counters
    );
    assert_eq!(j.sync_states("entrada").expect("states"), import.rows);
    assert_eq!(j.all_templates_sent("entrada").expect("sent"), import.sent);
    let names = j.person_names().expect("names");
    assert_eq!(names.get("1005").map(String::as_str), Some("Ana"));
}

#[test]
fn a_terminal_import_with_one_bad_time_stores_nothing() {
    let dir = TempDir::new();
    let j = open(&dir);
    let mut bad = one_import("salida");
    bad.sent[0].written_at = WallTime::new(
        chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("time"),
    );
    let seen = j.people_changes().current();
    assert!(j.store_terminal_import(&bad).is_err());
    assert_eq!(j.get_person("1005").expect("get"), None);
    assert!(!j.people_imported("salida").expect("imported"));
    assert_eq!(j.sync_counters("salida").expect("counters"), None);
    assert_eq!(j.people_changes().current(), seen);
}

/// A sync of `device` that wrote `one_import`'s person and template.
fn one_sync(device: &str, users: u32) -> crate::journal::SyncRecord {
    let import = one_import(device);
    crate::journal::SyncRecord {
        device: device.into(),
        rows: import.rows,
        written: import.sent,
        removed: Vec::new(),
        counters: import
            .counters
            .map(|c| crate::journal::SyncCounters { users, ..c }),
        state: format!("{{\"users\":{users}}}"),
    }
}

#[test]
fn a_sync_record_is_stored_whole_and_a_bad_one_leaves_the_last() {
    let dir = TempDir::new();
    let j = open(&dir);
    let first = one_sync("caja", 1);
    j.store_sync_record(&first).expect("store");
    assert_eq!(j.sync_states("caja").expect("states"), first.rows);
    assert_eq!(j.all_templates_sent("caja").expect("sent"), first.written);
    assert_eq!(j.sync_counters("caja").expect("counters"), first.counters);
    let state = j.terminal_sync_state("caja").expect("state");
    assert_eq!(state.as_deref(), Some("{\"users\":1}"));

    let mut bad = one_sync("caja", 2);
    bad.rows[0].state = SyncState::Error;
    bad.written[0].written_at = WallTime::new(
        chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("time"),
    );
    assert!(j.store_sync_record(&bad).is_err());
    assert_eq!(j.sync_states("caja").expect("states"), first.rows);
    assert_eq!(j.sync_counters("caja").expect("counters"), first.counters);
    let state = j.terminal_sync_state("caja").expect("state");
    assert_eq!(state.as_deref(), Some("{\"users\":1}"));

    let mut gone = one_sync("caja", 0);
    gone.rows.clear();
    gone.written.clear();
    gone.removed = vec![("caja".into(), "1005".into(), TemplateKind::Finger, 1)];
    gone.counters = None;
    j.store_sync_record(&gone).expect("store");
    assert_eq!(j.all_templates_sent("caja").expect("sent"), Vec::new());
    assert_eq!(j.sync_counters("caja").expect("counters"), None);
}
