//! The working day (API Part 8) over HTTP: day sheets, month, presence and
//! schedules, computed from the journal only. Punches reach the journal as
//! the receiver stores them (`Journal::insert_punches`) or from a
//! simulated pull terminal through the collector. Every expectation is
//! computed by hand in the comments.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use chrono::{NaiveDateTime, TimeDelta, Timelike};
use serde_json::{json, Value};
use zkserver::collect::CollectSettings;
use zkserver::journal::{Journal, JournalUser, NewPunch, PersonChanges};
use zkserver::registry::{DeviceConfig, DeviceMode, Registry};
use zkserver::reports::rules::DayStart;
use zkserver::services::WorkdayRules;
use zkserver::sim::{SimConfig, Simulator};
use zkserver::time::WallTime;
use zkserver::zk::codec::ZkTime;
use zkserver::zk::records::Attendance;

use crate::common::{device_config, get, send, serve, Env, Link, Settings};

const WAIT: Duration = Duration::from_secs(30);

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "zkserver-reports-{name}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn time(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

/// A push terminal at UTC offset `timezone`.
fn push_terminal(name: &str, sn: &str, timezone: &str) -> DeviceConfig {
    let mut c = DeviceConfig::new(name);
    c.mode = DeviceMode::Push;
    c.sn = Some(sn.into());
    c.timezone = Some(timezone.into());
    c
}

/// Two push terminals, `madrid` (+01:00) and `canarias` (+00:00), a
/// journal in a fresh folder, and `workday` rules.
fn two_zones(workday: WorkdayRules) -> (Env, Arc<Journal>, PathBuf) {
    let dir = tempdir("zones");
    let journal = Arc::new(Journal::open(dir.join("punches.db")).unwrap());
    let entries = vec![
        (
            "madrid".to_string(),
            push_terminal("Oficina Madrid", "SNMAD001", "+01:00"),
        ),
        (
            "canarias".to_string(),
            push_terminal("Almacén Canarias", "SNCAN001", "+00:00"),
        ),
    ];
    let j = journal.clone();
    let env = serve(Vec::new(), Registry::in_memory(entries), move |s| {
        s.journal = Some(j);
        s.workday = workday;
    });
    (env, journal, dir)
}

/// Stores punches of `device` (user, local time) as the receiver does.
fn punch(journal: &Journal, device: &str, punches: &[(&str, &str)]) {
    let batch: Vec<NewPunch> = punches
        .iter()
        .map(|(user, t)| NewPunch {
            user_id: (*user).to_string(),
            time: time(t),
            status: 1,
            punch: 0,
            workcode: None,
        })
        .collect();
    let stored = journal
        .insert_punches(device, &batch, chrono::Local::now().naive_local())
        .unwrap();
    assert_eq!(stored.stored, punches.len());
}

/// Adds a person of the staff list.
fn person(journal: &Journal, user_id: &str, name: &str, areas: &[&str]) {
    let changes = PersonChanges {
        name: Some(name.into()),
        areas: Some(areas.iter().map(|a| (*a).to_string()).collect()),
        ..PersonChanges::default()
    };
    let at = WallTime::parse("2026-11-01 09:00:00").unwrap();
    journal.upsert_person(user_id, &changes, at).unwrap();
}

/// The office schedule as the server default.
fn office_default(env: &Env) {
    let office = json!({"start": "08:00", "end": "17:00", "tolerance": 10, "days": [1,2,3,4,5]});
    let (status, body) = send("PUT", &format!("{}/reports/schedule", env.base), &office);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["schedule"], office);
}

/// The rows of a report answer by `user_id`.
fn row<'a>(body: &'a Value, user_id: &str) -> &'a Value {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .find(|r| r["user_id"] == user_id)
        .unwrap_or_else(|| panic!("no row of {user_id} in {body}"))
}

/// A GET answering bytes: (status, content type, body).
fn get_bytes(url: &str) -> (i32, String, Vec<u8>) {
    let resp = minreq::get(url).with_timeout(60).send().expect("HTTP");
    let content_type = resp
        .headers
        .get("content-type")
        .cloned()
        .unwrap_or_default();
    (resp.status_code, content_type, resp.into_bytes())
}

/// The office day of Monday 7 December 2026 (see the test's comments).
fn office_day(journal: &Journal) {
    for (id, name, area) in [
        ("1", "Ana Pérez", "oficina"),
        ("2", "Luis Gómez", "oficina"),
        ("3", "Eva Ruiz", "almacen"),
        ("4", "Pablo Díaz", "almacen"),
        ("5", "Marta Sanz", "*"),
    ] {
        person(journal, id, name, &[area]);
    }
    punch(
        journal,
        "madrid",
        &[
            ("1", "2026-12-07 08:09:00"),
            ("1", "2026-12-07 17:00:00"),
            ("2", "2026-12-07 08:12:00"),
            ("2", "2026-12-07 16:45:00"),
            ("3", "2026-12-07 08:00:00"),
            ("3", "2026-12-07 08:00:40"),
            ("3", "2026-12-07 12:00:00"),
            ("3", "2026-12-07 13:00:00"),
            ("5", "2026-12-07 08:05:00"),
            ("2", "2026-12-08 08:30:00"),
            ("2", "2026-12-08 17:00:00"),
            ("1", "2026-12-12 10:00:00"),
            ("1", "2026-12-12 12:30:00"),
        ],
    );
    punch(
        journal,
        "canarias",
        &[("5", "2026-12-07 15:05:00"), ("99", "2026-12-07 10:00:00")],
    );
    let visitor = JournalUser {
        user_id: "99".into(),
        name: "Visitante Uno".into(),
        ..JournalUser::default()
    };
    journal
        .upsert_users("canarias", &[visitor], time("2026-12-07 09:00:00"))
        .unwrap();
}

#[test]
fn the_day_sheet_applies_every_rule_of_the_working_day() {
    let (env, journal, _dir) = two_zones(WorkdayRules::default());
    office_default(&env);
    office_day(&journal);
    let (status, body) = get(&format!("{}/reports/day?date=2026-12-07", env.base));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["date"], "2026-12-07");
    // The five people of the list, then PIN 99 who punched.
    let order: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["1", "2", "3", "4", "5", "99"]);
    assert_eq!(body["total"], 6);
    // Ana: 08:09 → 17:00 = 8 h 51 = 531 min; late 9 ≤ 10 → 0; early 0.
    assert_eq!(
        row(&body, "1"),
        &json!({"date": "2026-12-07", "user_id": "1", "name": "Ana Pérez",
                "areas": ["oficina"], "first_in": "2026-12-07 08:09:00",
                "last_out": "2026-12-07 17:00:00",
                "punches": ["2026-12-07 08:09:00", "2026-12-07 17:00:00"],
                "worked": 531, "state": "completo", "late_minutes": 0,
                "early_leave_minutes": 0, "devices": ["madrid"]})
    );
    // Luis: 08:12 → 16:45 = 513 min; late 12 > 10 → 12; early 15 > 10 → 15.
    let luis = row(&body, "2");
    assert_eq!(
        (
            &luis["worked"],
            &luis["late_minutes"],
            &luis["early_leave_minutes"]
        ),
        (&json!(513), &json!(12), &json!(15))
    );
    // Eva: 08:00:40 is a double of 08:00:00 (40 s ≤ 60 s, the first
    // counts); 08:00 → 12:00 = 240, then 13:00 with no exit: incompleto,
    // last_out null, early leave not computed.
    let eva = row(&body, "3");
    assert_eq!(
        eva["punches"],
        json!([
            "2026-12-07 08:00:00",
            "2026-12-07 12:00:00",
            "2026-12-07 13:00:00"
        ])
    );
    assert_eq!(
        (&eva["worked"], &eva["state"], &eva["last_out"]),
        (&json!(240), &json!("incompleto"), &Value::Null)
    );
    assert_eq!(
        (&eva["late_minutes"], &eva["early_leave_minutes"]),
        (&json!(0), &Value::Null)
    );
    // Pablo: no punch on a working day.
    let pablo = row(&body, "4");
    assert_eq!(
        (
            &pablo["state"],
            &pablo["worked"],
            &pablo["first_in"],
            &pablo["late_minutes"]
        ),
        (&json!("ausente"), &json!(0), &Value::Null, &Value::Null)
    );
    // Marta: in at Madrid 08:05 (+01:00 = 07:05 UTC), out at Canarias
    // 15:05 (+00:00 = 15:05 UTC): 8 h = 480 min (not the 420 of the two
    // local clocks); late 5 ≤ 10 → 0; early 17:00 − 15:05 = 115.
    let marta = row(&body, "5");
    assert_eq!(
        (&marta["worked"], &marta["state"], &marta["devices"]),
        (
            &json!(480),
            &json!("completo"),
            &json!(["madrid", "canarias"])
        )
    );
    assert_eq!(
        (&marta["late_minutes"], &marta["early_leave_minutes"]),
        (&json!(0), &json!(115))
    );
    // PIN 99, off the list, named from the terminal's users copy: in at
    // 10:00 only: incompleto, 120 min late.
    let visitor = row(&body, "99");
    assert_eq!(
        (
            &visitor["name"],
            &visitor["state"],
            &visitor["late_minutes"]
        ),
        (&json!("Visitante Uno"), &json!("incompleto"), &json!(120))
    );
    assert_eq!(visitor["areas"], json!([]));
}

#[test]
fn a_weekend_is_free_and_filters_pick_people() {
    let (env, journal, _dir) = two_zones(WorkdayRules::default());
    office_default(&env);
    office_day(&journal);
    // Saturday 12 December: Ana worked 10:00 → 12:30 = 150 min, with no
    // late or early minutes (not a scheduled day); the others are libre.
    let (status, body) = get(&format!("{}/reports/day?date=2026-12-12", env.base));
    assert_eq!(status, 200, "{body}");
    let ana = row(&body, "1");
    assert_eq!(
        (&ana["state"], &ana["worked"], &ana["late_minutes"]),
        (&json!("completo"), &json!(150), &Value::Null)
    );
    for id in ["2", "3", "4", "5"] {
        assert_eq!(row(&body, id)["state"], "libre", "{id}");
    }
    // area=almacen: Eva and Pablo, and Marta (every area); not PIN 99.
    let (_, body) = get(&format!(
        "{}/reports/day?date=2026-12-07&area=almacen",
        env.base
    ));
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["3", "4", "5"]);
    let (_, body) = get(&format!(
        "{}/reports/day?date=2026-12-07&user_id=2",
        env.base
    ));
    assert_eq!(body["total"], 1);
    assert_eq!(body["data"][0]["worked"], 513);
}

#[test]
fn bad_dates_months_and_formats_are_400_naming_the_parameter() {
    let (env, _journal, _dir) = two_zones(WorkdayRules::default());
    let cases = [
        ("/reports/day?date=2026-13-01", "'date'"),
        ("/reports/day?date=07/12/2026", "'date'"),
        ("/reports/day", "'date'"),
        ("/reports/day?date=2026-12-07&format=pdf", "'format'"),
        ("/reports/month?month=2026-1", "'month'"),
        ("/reports/month?month=2026-12-01", "'month'"),
        ("/reports/month?month=2026-12&format=ods", "'format'"),
        ("/reports/presence?format=html", "'format'"),
    ];
    for (path, name) in cases {
        let (status, body) = get(&format!("{}{path}", env.base));
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["success"], false);
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(name), "{path}: {error}");
    }
    let (status, body) = get(&format!("{}/reports/day?date=2026-02-30", env.base));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        "Parámetro 'date' inválido: '2026-02-30'. Use YYYY-MM-DD, por ejemplo 2026-12-07."
    );
}

/// A number in a workbook cell (dates and durations included).
fn number(cell: &Data) -> f64 {
    match cell {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        Data::DateTime(d) => d.as_f64(),
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn a_month_has_every_day_totals_and_opens_as_csv_and_xlsx() {
    let (env, journal, _dir) = two_zones(WorkdayRules::default());
    office_default(&env);
    office_day(&journal);
    // Luis in December 2026: Mon 7th 08:12-16:45 (513, late 12), Tue 8th
    // 08:30-17:00 (510, late 30); 21 other weekdays absent, 8 weekend days
    // libre. days_worked 2, worked 1023, late_count 2, late_minutes 42.
    let url = format!("{}/reports/month?month=2026-12&user_id=2", env.base);
    let (status, body) = get(&url);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["month"], "2026-12");
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 31);
    let states = |s: &str| rows.iter().filter(|r| r["state"] == s).count();
    assert_eq!(
        (states("completo"), states("ausente"), states("libre")),
        (2, 21, 8)
    );
    assert_eq!(
        body["totals"],
        json!([{"user_id": "2", "name": "Luis Gómez", "days_worked": 2, "worked": 1023,
                "late_count": 2, "late_minutes": 42}])
    );
    // The whole list: 6 people (5 listed + PIN 99) × 31 days.
    let (_, all) = get(&format!("{}/reports/month?month=2026-12", env.base));
    assert_eq!(all["data"].as_array().unwrap().len(), 6 * 31);
    assert_eq!(all["totals"].as_array().unwrap().len(), 6);

    // CSV: BOM, `;`, the day rows, an empty line, the totals.
    let (status, content_type, bytes) = get_bytes(&format!("{url}&format=csv"));
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with('\u{feff}'));
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert_eq!(
        lines[0],
        "Fecha;ID;Nombre;Áreas;Entrada;Salida;Marcaciones;Trabajado (min);Estado;\
         Retraso (min);Salida anticipada (min);Terminales"
    );
    assert_eq!(
        lines[7],
        "2026-12-07;2;Luis Gómez;oficina;2026-12-07 08:12:00;2026-12-07 16:45:00;2;513;completo;12;15;madrid"
    );
    assert_eq!(lines[32], "");
    assert_eq!(
        lines[33],
        "ID;Nombre;Días trabajados;Trabajado (min);Retrasos;Retraso (min)"
    );
    assert_eq!(lines[34], "2;Luis Gómez;2;1023;2;42");

    // xlsx: a workbook with the days and the totals as Excel values.
    let (status, content_type, bytes) = get_bytes(&format!("{url}&format=xlsx"));
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("an xlsx");
    assert_eq!(book.sheet_names(), ["Días", "Totales"]);
    let days = book.worksheet_range("Días").unwrap();
    assert_eq!(days.height(), 32, "a header and 31 days");
    assert_eq!(days.get((0, 7)), Some(&Data::String("Trabajado".into())));
    let monday = days.rows().nth(7).unwrap();
    // 2026-12-07 is Excel day 46363; 08:12 is 0.341666…; 513 min = 513/1440 days.
    assert!(
        (number(&monday[0]) - 46363.0).abs() < 1e-9,
        "{:?}",
        monday[0]
    );
    assert_eq!(monday[1], Data::String("2".into()));
    assert!((number(&monday[4]) - (46363.0 + 492.0 / 1440.0)).abs() < 1e-6);
    assert!((number(&monday[7]) - 513.0 / 1440.0).abs() < 1e-9);
    assert_eq!(monday[8], Data::String("completo".into()));
    assert!((number(&monday[9]) - 12.0).abs() < 1e-9);
    // An absent day has no entry time and no late minutes: empty cells.
    let absent = days.rows().nth(3).unwrap();
    assert_eq!((&absent[4], &absent[9]), (&Data::Empty, &Data::Empty));
    // The worked column sums to the total: 1023 minutes.
    let sum: f64 = days.rows().skip(1).map(|r| number(&r[7])).sum();
    assert!((sum * 1440.0 - 1023.0).abs() < 1e-6, "{sum}");
    let totals = book.worksheet_range("Totales").unwrap();
    let luis = totals.rows().nth(1).unwrap();
    assert_eq!(luis[1], Data::String("Luis Gómez".into()));
    assert!((number(&luis[2]) - 2.0).abs() < 1e-9);
    assert!((number(&luis[3]) * 1440.0 - 1023.0).abs() < 1e-6);
    assert!((number(&luis[5]) - 42.0).abs() < 1e-9);
}

#[test]
fn a_night_shift_belongs_to_the_day_it_started_and_the_narrowest_schedule_wins() {
    let rules = WorkdayRules {
        day_start: DayStart::parse("06:00").unwrap(),
        ..WorkdayRules::default()
    };
    let (env, journal, _dir) = two_zones(rules);
    office_default(&env);
    let night = json!({"start": "22:00", "end": "06:00", "tolerance": 5, "days": [1,2,3,4,5]});
    let (status, body) = send(
        "PUT",
        &format!("{}/reports/schedule?area=noche", env.base),
        &night,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["area"], "noche");
    // Juan (area noche) works nights; Rosa too, but her own schedule
    // starts at 23:00 (the person's is narrower than the area's).
    person(&journal, "10", "Juan Mora", &["noche"]);
    person(&journal, "11", "Rosa León", &["noche"]);
    let own = json!({"start": "23:00", "end": "07:00", "tolerance": 0, "days": [1,2,3,4,5]});
    let (status, body) = send(
        "PUT",
        &format!("{}/reports/schedule?user_id=11", env.base),
        &own,
    );
    assert_eq!(status, 200, "{body}");
    // Monday 30 November 22:07 in, Tuesday 1 December 05:40 out (before
    // the 06:00 day start: Monday's workday). Juan: 22:07 → 05:40 =
    // 453 min; late 7 > 5 → 7; early 06:00 − 05:40 = 20 > 5 → 20.
    // Rosa: 23:00 → 07:00 on time: late 0, early 0, worked 480.
    punch(
        &journal,
        "canarias",
        &[
            ("10", "2026-11-30 22:07:00"),
            ("10", "2026-12-01 05:40:00"),
            ("11", "2026-11-30 23:00:00"),
            ("11", "2026-12-01 07:00:00"),
        ],
    );
    let (status, body) = get(&format!("{}/reports/day?date=2026-11-30", env.base));
    assert_eq!(status, 200, "{body}");
    let juan = row(&body, "10");
    assert_eq!(
        (&juan["worked"], &juan["state"], &juan["last_out"]),
        (
            &json!(453),
            &json!("completo"),
            &json!("2026-12-01 05:40:00")
        )
    );
    assert_eq!(
        (&juan["late_minutes"], &juan["early_leave_minutes"]),
        (&json!(7), &json!(20))
    );
    let rosa = row(&body, "11");
    // 07:00 is past the 06:00 day start: Rosa's exit starts Tuesday's
    // workday, so Monday is open (incompleto, 0 worked) — a site with
    // shifts ending at 07:00 sets --day-start later; with 06:00 it shows.
    assert_eq!(
        (&rosa["state"], &rosa["late_minutes"]),
        (&json!("incompleto"), &json!(0))
    );
    // Tuesday's workday holds none of Juan's shift.
    let (_, tuesday) = get(&format!(
        "{}/reports/day?date=2026-12-01&user_id=10",
        env.base
    ));
    assert_eq!(tuesday["data"][0]["state"], "ausente");
    // The listing shows each scope; removing the person's schedule falls
    // back to the area's (23:00 is 60 min late against 22:00).
    let (_, listing) = get(&format!("{}/reports/schedule", env.base));
    assert_eq!(listing["day_start"], "06:00");
    assert_eq!(listing["areas"]["noche"], night);
    assert_eq!(listing["people"]["11"], own);
    assert_eq!(listing["default"]["start"], "08:00");
    let (status, _) = send(
        "DELETE",
        &format!("{}/reports/schedule?user_id=11", env.base),
        Value::Null,
    );
    assert_eq!(status, 200);
    let (_, body) = get(&format!(
        "{}/reports/day?date=2026-11-30&user_id=11",
        env.base
    ));
    assert_eq!(body["data"][0]["late_minutes"], 60);
}

#[test]
fn schedules_are_refused_with_spanish_errors_and_need_the_key() {
    let (env, _journal, _dir) = two_zones(WorkdayRules::default());
    let url = format!("{}/reports/schedule", env.base);
    let (status, body) = send("PUT", &url, json!({"start": "8", "end": "17:00"}));
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "Campo 'start' inválido: \"8\". Use HH:MM, por ejemplo 08:00."
    );
    let (status, body) = send(
        "PUT",
        &format!("{url}?area=a&user_id=1"),
        json!({"start": "08:00", "end": "17:00"}),
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = send("DELETE", &url, Value::Null);
    assert_eq!(status, 404);
    // With an API key, writing a schedule needs it.
    let dir = tempdir("key");
    let journal = Arc::new(Journal::open(dir.join("punches.db")).unwrap());
    let env = serve(
        Vec::new(),
        Registry::in_memory(Vec::new()),
        move |s: &mut Settings| {
            s.journal = Some(journal);
            s.security.api_key = Some("secreto-123".into());
            s.security.allow_open_writes = false;
        },
    );
    let (status, _) = send(
        "PUT",
        &format!("{}/reports/schedule", env.base),
        json!({"start": "08:00", "end": "17:00"}),
    );
    assert_eq!(status, 401);
}

/// Now minus `minutes` on a terminal at UTC offset `offset` (minutes).
fn ago(now_utc: NaiveDateTime, offset: i64, minutes: i64) -> String {
    (now_utc + TimeDelta::minutes(offset) - TimeDelta::minutes(minutes))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[test]
fn presence_lists_who_is_inside_since_when_and_where() {
    // The workday starts about 12 hours from now, so punches of the last
    // minutes are in every terminal's current workday whatever the hour.
    let now = chrono::Utc::now().naive_utc();
    let start = (now + TimeDelta::hours(12)).hour();
    let rules = WorkdayRules {
        day_start: DayStart::parse(&format!("{start:02}:00")).unwrap(),
        ..WorkdayRules::default()
    };
    let (env, journal, _dir) = two_zones(rules);
    person(&journal, "1", "Ana Pérez", &["oficina"]);
    person(&journal, "2", "Luis Gómez", &["oficina"]);
    person(&journal, "3", "Eva Ruiz", &["almacen"]);
    // Ana: in at Madrid 10 min ago, out 6 min ago, in again 3 min ago:
    // inside since then. Luis: in 9 min ago, out 5 min ago: not inside.
    // Eva: in at Canarias 4 min ago: inside. PIN 77 (off the list): in at
    // Canarias 2 min ago: inside.
    let (ana_in, eva_in, visitor_in) = (ago(now, 60, 3), ago(now, 0, 4), ago(now, 0, 2));
    punch(
        &journal,
        "madrid",
        &[
            ("1", &ago(now, 60, 10)),
            ("1", &ago(now, 60, 6)),
            ("1", &ana_in),
            ("2", &ago(now, 60, 9)),
            ("2", &ago(now, 60, 5)),
        ],
    );
    punch(&journal, "canarias", &[("3", &eva_in), ("77", &visitor_in)]);
    let (status, body) = get(&format!("{}/reports/presence", env.base));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "total": 3, "data": [
            {"user_id": "1", "name": "Ana Pérez", "since": ana_in,
             "device_id": "madrid", "device_name": "Oficina Madrid"},
            {"user_id": "3", "name": "Eva Ruiz", "since": eva_in,
             "device_id": "canarias", "device_name": "Almacén Canarias"},
            {"user_id": "77", "name": null, "since": visitor_in,
             "device_id": "canarias", "device_name": "Almacén Canarias"},
        ]})
    );
    // The evacuation list as CSV.
    let (status, _, bytes) = get_bytes(&format!("{}/reports/presence?format=csv", env.base));
    assert_eq!(status, 200);
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "\u{feff}ID;Nombre;Desde;Terminal;Nombre del terminal"
    );
    assert_eq!(
        lines[1],
        format!("1;Ana Pérez;{ana_in};madrid;Oficina Madrid")
    );
    assert_eq!(lines.len(), 5, "3 rows, a header and the final break");
    // Filtered by area.
    let (_, body) = get(&format!("{}/reports/presence?area=almacen", env.base));
    assert_eq!(body["total"], 1);
    assert_eq!(body["data"][0]["user_id"], "3");
}

/// A pull terminal's record at `t`.
fn record(user_id: &str, t: &str) -> Attendance {
    Attendance {
        uid: 0,
        user_id: user_id.into(),
        time: ZkTime::from_naive(&time(t)),
        status: 1,
        punch: 0,
    }
}

#[test]
fn reports_come_from_the_journal_and_answer_while_the_terminal_is_offline() {
    // A collected pull terminal holding one day of Ana: 08:00 → 16:30 =
    // 510 min. Once the collector has read it, the terminal goes offline
    // and the day sheet still answers, at once, from the journal.
    let sim = Simulator::start(SimConfig {
        records: 0,
        ..SimConfig::default()
    })
    .unwrap();
    sim.with_state(|st| {
        st.punches.push(record("1", "2026-12-07 08:00:00"));
        st.punches.push(record("1", "2026-12-07 16:30:00"));
    });
    let dir = tempdir("offline");
    let journal = Arc::new(Journal::open(dir.join("punches.db")).unwrap());
    person(&journal, "1", "Ana Pérez", &["*"]);
    let mut config = device_config("Entrada Principal", sim.port(), &Link::default());
    config.set_collect(true);
    let j = journal.clone();
    let env = serve(
        vec![sim],
        Registry::in_memory(vec![("principal".to_string(), config)]),
        move |s| {
            s.journal = Some(j);
            s.collect = CollectSettings {
                interval: Duration::from_secs(3600),
                ..CollectSettings::default()
            };
        },
    );
    let url = format!("{}/reports/day?date=2026-12-07", env.base);
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = get(&url);
        assert_eq!(status, 200, "{body}");
        if body["data"][0]["worked"] == 510 {
            assert_eq!(body["data"][0]["devices"], json!(["principal"]));
            break;
        }
        assert!(Instant::now() < deadline, "never collected: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Online, a report opens no connection to the terminal.
    let before = env.sims[0].stats().connections;
    for path in [
        "/reports/day?date=2026-12-07",
        "/reports/month?month=2026-12",
        "/reports/presence",
    ] {
        let (status, body) = get(&format!("{}{path}", env.base));
        assert_eq!(status, 200, "{path}: {body}");
    }
    assert_eq!(
        env.sims[0].stats().connections,
        before,
        "a report never speaks to a terminal"
    );
    // Offline, the same answers, at once.
    env.sims[0].set_offline(true);
    let asked = Instant::now();
    let (status, body) = get(&url);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["state"], "completo");
    assert_eq!(body["data"][0]["worked"], 510);
    let (status, _) = get(&format!("{}/reports/month?month=2026-12", env.base));
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(5), "no terminal wait");
}

#[test]
fn every_pull_terminal_is_collected_by_default_and_a_since_read_stays_small() {
    // A terminal with 20 000 punches and no "collect" setting: collected
    // (the default). Its first read takes the whole log; after one new
    // punch, each interval's `since` read sends about one record (40
    // bytes) plus the framing, not the log again (800 000 bytes).
    let sim = Simulator::start(SimConfig {
        records: 20_000,
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempdir("default");
    let journal = Arc::new(Journal::open(dir.join("punches.db")).unwrap());
    let config = device_config("Entrada Principal", sim.port(), &Link::default());
    assert!(!config.raw.contains_key("collect"));
    let j = journal.clone();
    let env = serve(
        vec![sim],
        Registry::in_memory(vec![("principal".to_string(), config)]),
        move |s| {
            s.journal = Some(j);
            s.collect.interval = Duration::from_secs(1);
        },
    );
    let stored = || journal.count_punches("principal").unwrap();
    let all = env.sims[0]
        .expected_attendance()
        .iter()
        .filter(|a| a.time.is_valid())
        .map(|a| (a.user_id.clone(), a.time))
        .collect::<std::collections::HashSet<_>>()
        .len() as u64;
    crate::common::wait_until("the whole log is collected", || stored() == all);
    let before = env.sims[0].stats();
    env.sims[0].punch(Some("1"));
    crate::common::wait_until("the new punch is collected", || stored() == all + 1);
    let after = env.sims[0].stats();
    let reads = after.attendance_reads - before.attendance_reads;
    let bytes = after.attendance_bytes - before.attendance_bytes;
    assert!(reads >= 1, "{before:?} {after:?}");
    assert!(bytes / reads <= 1024, "{bytes} bytes in {reads} reads");
}

#[test]
fn a_stop_during_a_collecting_read_leaves_the_terminal_enabled() {
    // Collecting is the default, so a server stopped at any time may be
    // in the middle of a collector's first (whole) read: the stop waits
    // for it, and the terminal is re-enabled.
    let sim = Simulator::start(SimConfig {
        records: 100_000,
        faults: zkserver::sim::Faults {
            latency: Duration::from_millis(2),
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempdir("stop");
    let journal = Arc::new(Journal::open(dir.join("punches.db")).unwrap());
    let config = device_config("Entrada Principal", sim.port(), &Link::default());
    let env = serve(
        Vec::new(),
        Registry::in_memory(vec![("principal".to_string(), config)]),
        move |s| s.journal = Some(journal),
    );
    crate::common::wait_until("the collector is reading", || sim.stats().chunk_reads > 0);
    assert!(sim.is_disabled(), "read in progress");
    drop(env);
    assert!(!sim.is_disabled(), "terminal re-enabled");
}
