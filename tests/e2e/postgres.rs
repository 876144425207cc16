//! Delivery into a real PostgreSQL (`--postgres`), the binary against
//! throwaway clusters on 127.0.0.1: two sites at once, the database down
//! and back, zkserver killed mid-delivery, altered tables and a newer
//! schema, TLS modes, an upgrade and a least-privilege role. The final
//! table is checked against the terminals' logs, row for row.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use zkserver::sim::push::{PushSim, PushSimConfig};
use zkserver::sim::{SimConfig, Simulator};

use crate::common::postgres::{available_or_skip, PgCluster, ADMIN_PASSWORD, ADMIN_USER};
use crate::common::process::{signal, BIN};
use crate::common::{expected_rows, free_port, get, send};

/// A fresh folder for one test.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkserver-pg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits (up to `limit`) for `cond`, checking often.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A zkserver process with its log in a file.
struct Zk {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Zk {
    /// Starts the binary with `dir`'s devices file and journal, the
    /// database URL in `POSTGRES_URL` (never on the command line) and `extra`.
    fn start(dir: &Path, url: Option<&str>, site: &str, extra: &[&str]) -> Zk {
        let port = free_port();
        let log = dir.join(format!("zkserver-{port}.log"));
        let mut cmd = Command::new(BIN);
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--config")
            .arg(dir.join("devices.json"))
            .arg("--journal")
            .arg(dir.join("punches.db"))
            .args(["--allow-open-writes", "--site", site, "--push-delay", "1"])
            .args(extra)
            .env_remove("POSTGRES_URL")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        if let Some(url) = url {
            cmd.env("POSTGRES_URL", url);
        }
        let child = cmd.spawn().unwrap();
        let zk = Zk {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        wait_for("zkserver to listen", Duration::from_secs(30), || {
            zk.log_text().contains("listening on http://")
        });
        zk
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/health`'s `postgres` field.
    fn health(&self) -> String {
        let (code, body) = get(&format!("{}/health", self.base));
        assert_eq!(code, 200, "{body}");
        body["postgres"].as_str().unwrap_or_default().to_string()
    }

    /// One sample of `/metrics`.
    fn metric(&self, name: &str) -> f64 {
        let text = minreq::get(format!("{}/metrics", self.base))
            .send()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1.0)
    }

    fn kill(mut self) {
        signal(&self.child, "KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Zk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cluster with database `zk`.
fn cluster(tls: bool) -> PgCluster {
    let cluster = PgCluster::start(tls);
    cluster.create_database("zk").unwrap();
    cluster
}

/// The superuser's URL of database `zk`, plain TCP.
fn admin_url(cluster: &PgCluster) -> String {
    cluster.url_with(ADMIN_USER, ADMIN_PASSWORD, "zk", &[("sslmode", "disable")])
}

/// `SELECT` through psql.
fn query(cluster: &PgCluster, sql: &str) -> String {
    cluster.psql("zk", sql).unwrap()
}

/// Rows of `zk_punches` (0 while the table does not exist yet).
fn count(cluster: &PgCluster, site: &str) -> usize {
    cluster
        .psql(
            "zk",
            &format!("SELECT count(*) FROM zk_punches WHERE site = '{site}'"),
        )
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// (device, user, time) of every row of `site`.
fn rows(cluster: &PgCluster, site: &str) -> BTreeSet<(String, String, String)> {
    let text = query(
        cluster,
        &format!(
            "SELECT device_id, user_id, to_char(punched_at, 'YYYY-MM-DD HH24:MI:SS')
               FROM zk_punches WHERE site = '{site}'"
        ),
    );
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.split('|').map(str::to_string);
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        })
        .collect()
}

/// The push simulator's log as table rows of `device`.
fn push_rows(sim: &PushSim, device: &str) -> BTreeSet<(String, String, String)> {
    sim.log_keys()
        .into_iter()
        .map(|(user, time)| (device.to_string(), user, time))
        .collect()
}

/// A push terminal `rec` (serial `sn`) in `dir`'s devices file.
fn push_site(dir: &Path, sn: &str) {
    std::fs::write(
        dir.join("devices.json"),
        format!(r#"{{"rec": {{"mode": "push", "sn": "{sn}", "name": "Recepción"}}}}"#),
    )
    .unwrap();
}

/// A push simulator uploading `records` punches to `zk`.
fn push_sim(zk: &Zk, sn: &str, records: usize) -> PushSim {
    let mut cfg = PushSimConfig::new(&zk.base, sn);
    cfg.records = records;
    cfg.batch = 2000;
    cfg.retry_after = Some(Duration::from_millis(300));
    cfg.poll_every = Some(Duration::from_millis(200));
    PushSim::start(cfg).unwrap()
}

#[test]
fn two_sites_deliver_the_union_of_their_terminals_once() {
    if !available_or_skip("two_sites_deliver_the_union_of_their_terminals_once") {
        return;
    }
    let db = cluster(false);
    let url = admin_url(&db);
    // Site "norte": a push terminal. Site "sur": a pull terminal, collected
    // because a database is configured.
    let north = tempdir("north");
    push_site(&north, "SNNORTE");
    let south = tempdir("south");
    let pull = Simulator::start(SimConfig {
        records: 2000,
        ..SimConfig::default()
    })
    .unwrap();
    std::fs::write(
        south.join("devices.json"),
        format!(
            r#"{{"reloj": {{"ip": "127.0.0.1", "port": {}, "name": "Reloj Sur", "timeout": 10}}}}"#,
            pull.port()
        ),
    )
    .unwrap();
    // Both start at once: the schema is created by one of them.
    let (zn, _zs) = std::thread::scope(|s| {
        let n = s.spawn(|| Zk::start(&north, Some(&url), "norte", &[]));
        let z = s.spawn(|| Zk::start(&south, Some(&url), "sur", &["--collect-interval", "1"]));
        (n.join().unwrap(), z.join().unwrap())
    });
    let push = push_sim(&zn, "SNNORTE", 3000);
    wait_for("both sites delivered", Duration::from_secs(180), || {
        count(&db, "norte") == 3000 && count(&db, "sur") >= 2000
    });
    assert_eq!(rows(&db, "norte"), push_rows(&push, "rec"));
    let want_south: BTreeSet<_> = expected_rows(&pull, "reloj", "Reloj Sur")
        .iter()
        .map(|r| {
            (
                "reloj".to_string(),
                r["user_id"].as_str().unwrap().to_string(),
                r["timestamp"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    wait_for("the south terminal's log", Duration::from_secs(60), || {
        rows(&db, "sur") == want_south
    });
    // New punches arrive on both sites.
    push.punch("501");
    pull.punch(Some("502"));
    wait_for("the new punches", Duration::from_secs(60), || {
        count(&db, "norte") == 3001 && count(&db, "sur") == want_south.len() + 1
    });
    assert_eq!(rows(&db, "norte"), push_rows(&push, "rec"));
    // The terminals' rows: names, modes, serial, online.
    let devices = query(
        &db,
        "SELECT site, device_id, name, mode, coalesce(serial, ''), online, registered
           FROM zk_devices ORDER BY site",
    );
    assert_eq!(
        devices, "norte|rec|Recepción|push|SNNORTE|t|t\nsur|reloj|Reloj Sur|pull||t|t",
        "{devices}"
    );
    assert_eq!(query(&db, "SELECT version FROM zk_schema_version"), "4");
    assert_eq!(zn.health(), "ok");
    assert_eq!(zn.metric("zkserver_postgres_backlog"), 0.0);
    let (_, status) = get(&format!("{}/devices/rec/status", zn.base));
    assert_eq!(status["data"]["postgres"]["backlog"], 0, "{status}");
    assert_eq!(status["data"]["postgres"]["site"], "norte", "{status}");
    // The password never reaches the log.
    assert!(!zn.log_text().contains(ADMIN_PASSWORD));
    push.stop();
}

#[test]
fn a_database_outage_loses_nothing_and_is_logged_once_per_change() {
    if !available_or_skip("a_database_outage_loses_nothing_and_is_logged_once_per_change") {
        return;
    }
    let mut db = cluster(false);
    let dir = tempdir("outage");
    push_site(&dir, "SNOUT");
    let zk = Zk::start(&dir, Some(&admin_url(&db)), "central", &[]);
    let push = push_sim(&zk, "SNOUT", 500);
    wait_for("the first punches", Duration::from_secs(120), || {
        count(&db, "central") == 500
    });
    db.stop();
    wait_for("/health to tell", Duration::from_secs(60), || {
        zk.health() != "ok"
    });
    let down = zk.health();
    assert!(down.contains("PostgreSQL"), "{down}");
    for i in 0..40 {
        push.punch(&format!("9{i:02}"));
    }
    wait_for("the journal to hold them", Duration::from_secs(60), || {
        push.unsent() == 0
    });
    wait_for("the backlog to show", Duration::from_secs(30), || {
        zk.metric("zkserver_postgres_backlog") == 40.0
    });
    db.start_again();
    wait_for(
        "delivery after the outage",
        Duration::from_secs(120),
        || count(&db, "central") == 540,
    );
    assert_eq!(rows(&db, "central"), push_rows(&push, "rec"));
    wait_for("/health ok", Duration::from_secs(30), || {
        zk.health() == "ok"
    });
    // Each state was logged once, not once per retry.
    let log = zk.log_text();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[ERROR]") && l.contains("PostgreSQL"))
        .map(|l| l.split_once("PostgreSQL ").map_or(l, |x| x.1))
        .collect();
    assert!(!errors.is_empty(), "{log}");
    for pair in errors.windows(2) {
        assert_ne!(pair[0], pair[1], "the same state logged twice:\n{log}");
    }
    assert!(zk.metric("zkserver_postgres_failures_total") >= errors.len() as f64);
    push.stop();
}

#[test]
fn sigkill_during_delivery_then_restart_gives_every_punch_exactly_once() {
    if !available_or_skip("sigkill_during_delivery_then_restart_gives_every_punch_exactly_once") {
        return;
    }
    let db = cluster(false);
    let dir = tempdir("kill");
    push_site(&dir, "SNKILLPG");
    // A journal of 100 000 punches, taken in while no database was set.
    let zk = Zk::start(&dir, None, "central", &[]);
    let mut cfg = PushSimConfig::new(&zk.base, "SNKILLPG");
    cfg.records = 100_000;
    cfg.batch = 5000;
    let push = PushSim::start(cfg).unwrap();
    wait_for("the journal to fill", Duration::from_secs(300), || {
        push.unsent() == 0
    });
    assert_eq!(push.stats().acknowledged.load(Ordering::SeqCst), 100_000);
    zk.kill();
    let url = admin_url(&db);
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    wait_for("delivery under way", Duration::from_secs(120), || {
        zk.metric("zkserver_postgres_position") > 0.0
    });
    zk.kill();
    let at_kill = count(&db, "central");
    assert!(at_kill < 100_000, "killed before the end ({at_kill})");
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    wait_for("the whole journal", Duration::from_secs(300), || {
        count(&db, "central") == 100_000
    });
    assert_eq!(rows(&db, "central"), push_rows(&push, "rec"));
    wait_for("backlog 0", Duration::from_secs(30), || {
        zk.metric("zkserver_postgres_backlog") == 0.0
    });
    push.stop();
}

#[test]
fn altered_tables_and_a_newer_schema_stop_delivery_clearly_and_lose_nothing() {
    if !available_or_skip("altered_tables_and_a_newer_schema_stop_delivery_clearly") {
        return;
    }
    let db = cluster(false);
    let dir = tempdir("altered");
    push_site(&dir, "SNALT");
    let url = admin_url(&db);
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    let push = push_sim(&zk, "SNALT", 100);
    wait_for("the first punches", Duration::from_secs(120), || {
        count(&db, "central") == 100
    });
    query(
        &db,
        "ALTER TABLE zk_punches RENAME COLUMN workcode TO codigo",
    );
    for i in 0..10 {
        push.punch(&format!("7{i}"));
    }
    wait_for("/health to name the table", Duration::from_secs(60), || {
        zk.health().contains("zk_punches")
    });
    let message = zk.health();
    assert!(message.contains("workcode"), "{message}");
    wait_for("the journal to hold them", Duration::from_secs(60), || {
        push.unsent() == 0
    });
    assert_eq!(count(&db, "central"), 100);
    query(
        &db,
        "ALTER TABLE zk_punches RENAME COLUMN codigo TO workcode",
    );
    wait_for("delivery after the fix", Duration::from_secs(120), || {
        count(&db, "central") == 110
    });
    // A schema from a newer zkserver: nothing is written, /health says why.
    zk.kill();
    query(&db, "UPDATE zk_schema_version SET version = 99");
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    wait_for(
        "/health to name the version",
        Duration::from_secs(60),
        || zk.health().contains("99"),
    );
    let push2 = push_sim(&zk, "SNALT", 0);
    for i in 0..5 {
        push2.punch(&format!("8{i}"));
    }
    wait_for("the journal to hold them", Duration::from_secs(60), || {
        push2.unsent() == 0
    });
    assert_eq!(count(&db, "central"), 110);
    query(&db, "UPDATE zk_schema_version SET version = 4");
    wait_for("delivery after the fix", Duration::from_secs(400), || {
        count(&db, "central") == 115
    });
    let mut want = push_rows(&push, "rec");
    want.extend(push_rows(&push2, "rec"));
    assert_eq!(rows(&db, "central"), want);
    push.stop();
    push2.stop();
}

#[test]
fn tls_verify_full_works_and_refusals_are_explained() {
    if !available_or_skip("tls_verify_full_works_and_refusals_are_explained") {
        return;
    }
    let db = cluster(true);
    let ca = db.ca_file().display().to_string();
    let other = db.other_ca_file().display().to_string();
    let dir = tempdir("tls");
    push_site(&dir, "SNTLS");
    let full = db.url_with(
        ADMIN_USER,
        ADMIN_PASSWORD,
        "zk",
        &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
    );
    let zk = Zk::start(&dir, Some(&full), "central", &[]);
    let push = push_sim(&zk, "SNTLS", 200);
    wait_for("delivery over TLS", Duration::from_secs(120), || {
        count(&db, "central") == 200
    });
    // /health says ok once the batch's position is stored too (just after
    // the rows are visible).
    wait_for("/health ok", Duration::from_secs(30), || {
        zk.health() == "ok"
    });
    zk.kill();
    push.stop();
    let refused = |params: &[(&str, &str)], needle: &str| {
        let dir = tempdir(&format!("tls-{}", needle.len()));
        push_site(&dir, "SNTLS2");
        let url = db.url_with(ADMIN_USER, ADMIN_PASSWORD, "zk", params);
        let zk = Zk::start(&dir, Some(&url), "otro", &[]);
        wait_for(needle, Duration::from_secs(60), || {
            zk.health().contains(needle)
        });
        // Still serving, not crash-looping.
        assert_eq!(get(&format!("{}/health", zk.base)).0, 200);
    };
    // A plain connection is refused by the server (it requires TLS).
    refused(&[("sslmode", "disable")], "pg_hba");
    // The server's certificate is not from this CA.
    refused(
        &[("sslmode", "verify-full"), ("sslrootcert", &other)],
        "no está firmado por la CA",
    );
    // require: encrypted without checking the certificate (libpq's meaning).
    let dir = tempdir("tls-require");
    push_site(&dir, "SNTLS3");
    let url = db.url_with(ADMIN_USER, ADMIN_PASSWORD, "zk", &[("sslmode", "require")]);
    let zk = Zk::start(&dir, Some(&url), "tres", &[]);
    wait_for("connected with require", Duration::from_secs(60), || {
        zk.health() == "ok"
    });
}

#[test]
fn sslmode_require_refuses_a_server_without_tls() {
    if !available_or_skip("sslmode_require_refuses_a_server_without_tls") {
        return;
    }
    let db = cluster(false);
    let dir = tempdir("notls");
    push_site(&dir, "SNNOTLS");
    let url = db.url_with(ADMIN_USER, ADMIN_PASSWORD, "zk", &[("sslmode", "require")]);
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    wait_for("/health to tell", Duration::from_secs(60), || {
        zk.health().contains("no acepta TLS")
    });
    // A wrong password and a missing database, in plain words.
    let dir = tempdir("wrongpw");
    push_site(&dir, "SNPW");
    let url = db.url_with(
        ADMIN_USER,
        "not-the-password",
        "zk",
        &[("sslmode", "disable")],
    );
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    wait_for("/health to tell", Duration::from_secs(60), || {
        zk.health().contains("rechazó la contraseña")
    });
    assert!(!zk.log_text().contains("not-the-password"));
    let dir = tempdir("nodb");
    push_site(&dir, "SNNODB");
    let url = db.url_with(
        ADMIN_USER,
        ADMIN_PASSWORD,
        "nada",
        &[("sslmode", "disable")],
    );
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    wait_for("/health to tell", Duration::from_secs(60), || {
        zk.health().contains("la base de datos 'nada' no existe")
    });
}

#[test]
fn an_old_schema_is_upgraded_and_a_least_privilege_role_delivers() {
    if !available_or_skip("an_old_schema_is_upgraded_and_a_least_privilege_role_delivers") {
        return;
    }
    let db = cluster(false);
    // Version 1 as an older zkserver left it, with a row.
    let sql = String::from_utf8(
        Command::new(BIN)
            .arg("postgres-schema")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let v1 = &sql[..sql.find("-- version 2").unwrap()];
    query(
        &db,
        &format!("{v1} UPDATE zk_schema_version SET version = 1;"),
    );
    query(
        &db,
        "INSERT INTO zk_punches VALUES ('viejo', 'x', '1', '2025-01-01 08:00:00', 1, 0, NULL, 'X', now())",
    );
    let dir = tempdir("upgrade");
    push_site(&dir, "SNUP");
    let zk = Zk::start(&dir, Some(&admin_url(&db)), "central", &[]);
    wait_for("the upgrade", Duration::from_secs(60), || {
        zk.health() == "ok"
    });
    assert_eq!(query(&db, "SELECT version FROM zk_schema_version"), "4");
    assert_eq!(count(&db, "viejo"), 1, "old rows kept");
    wait_for("the upgrade in the log", Duration::from_secs(30), || {
        zk.log_text().contains("schema brought from version 1 to 4")
    });
    zk.kill();
    // A role that may only read, insert and update zkserver's tables.
    db.create_role("zk_sitio", "clave-sitio").unwrap();
    query(
        &db,
        "GRANT CONNECT ON DATABASE zk TO zk_sitio;
         GRANT SELECT, INSERT, UPDATE ON zk_punches, zk_devices, zk_sites, zk_people, zk_schema_version TO zk_sitio;",
    );
    let dir = tempdir("role");
    push_site(&dir, "SNROLE");
    let url = db.url_with("zk_sitio", "clave-sitio", "zk", &[("sslmode", "disable")]);
    let zk = Zk::start(&dir, Some(&url), "limitado", &[]);
    let push = push_sim(&zk, "SNROLE", 300);
    wait_for(
        "delivery as the limited role",
        Duration::from_secs(120),
        || count(&db, "limitado") == 300,
    );
    // /health says ok once the batch's position is stored too (just after
    // the rows are visible).
    wait_for("/health ok", Duration::from_secs(30), || {
        zk.health() == "ok"
    });
    assert_eq!(
        query(
            &db,
            "SELECT count(*) FROM zk_devices WHERE site = 'limitado'"
        ),
        "1"
    );
    push.stop();
}

#[test]
fn the_readme_setup_and_queries_run_on_a_real_database() {
    if !available_or_skip("the_readme_setup_and_queries_run_on_a_real_database") {
        return;
    }
    let db = cluster(false);
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/postgresql.md"))
        .unwrap();
    let section = &guide[guide.find("## Queries people need").unwrap()..];
    let start = section.find("```sql\n").unwrap() + 7;
    let queries = &section[start..start + section[start..].find("```").unwrap()];
    let schema = Command::new(BIN).arg("postgres-schema").output().unwrap();
    query(&db, &String::from_utf8(schema.stdout).unwrap());
    query(
        &db,
        "INSERT INTO zk_punches VALUES
           ('norte', 'rec', '5', current_date + time '08:01', 1, 0, NULL, 'Recepción', now()),
           ('norte', 'rec', '5', current_date + time '17:30', 1, 1, NULL, 'Recepción', now()),
           ('sur', 'reloj', '7', current_date - 1 + time '08:00', 1, 0, NULL, 'Reloj', now());
         INSERT INTO zk_devices VALUES
           ('sur', 'reloj', 'Reloj', 'pull', NULL, false, now(), true, now());",
    );
    let statements: Vec<&str> = queries
        .split(';')
        .map(str::trim)
        .filter(|q| {
            q.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        })
        .collect();
    assert_eq!(statements.len(), 5, "{queries}");
    let answers: Vec<String> = statements.iter().map(|q| query(&db, q)).collect();
    assert!(
        answers[0].contains("norte|5|08:01:00|Recepción|entrada"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("|08:01:00|17:30:00|2"),
        "{}",
        answers[1]
    );
    assert_eq!(answers[2], "sur|7", "who has not punched today");
    assert!(answers[3].starts_with("norte|"), "{}", answers[3]);
    assert!(answers[4].starts_with("sur|reloj|Reloj|"), "{}", answers[4]);
}

#[test]
fn a_batch_the_database_refuses_is_retried_with_backoff_and_logged_once() {
    if !available_or_skip("a_batch_the_database_refuses_is_retried_with_backoff") {
        return;
    }
    let db = cluster(false);
    let dir = tempdir("refused");
    push_site(&dir, "SNREF");
    let zk = Zk::start(&dir, Some(&admin_url(&db)), "central", &[]);
    let push = push_sim(&zk, "SNREF", 20);
    wait_for("the first punches", Duration::from_secs(120), || {
        count(&db, "central") == 20
    });
    // The connection works, the batch never does (a rule the DBA added).
    query(
        &db,
        "ALTER TABLE zk_punches ADD CONSTRAINT zk_no_999 CHECK (user_id <> '999') NOT VALID",
    );
    push.punch("999");
    wait_for("four failed attempts", Duration::from_secs(120), || {
        zk.metric("zkserver_postgres_failures_total") >= 4.0
    });
    let health = zk.health();
    assert!(health.contains("23514"), "{health}");
    let log = zk.log_text();
    let lines = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        lines("23514"),
        1,
        "one line per change, not per retry:\n{log}"
    );
    assert_eq!(lines("connected, delivering"), 1, "{log}");
    query(&db, "ALTER TABLE zk_punches DROP CONSTRAINT zk_no_999");
    wait_for("delivery after the fix", Duration::from_secs(120), || {
        count(&db, "central") == 21
    });
    push.stop();
}

#[test]
fn the_readme_puts_the_url_where_the_service_reads_it() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/docs/postgresql.md")).unwrap();
    let unit = std::fs::read_to_string(format!("{root}/scripts/zkserver.service")).unwrap();
    // The comment above the guide's example (docs/postgresql.md) names the
    // settings file.
    let at = readme.find("\nPOSTGRES_URL=postgresql://").unwrap();
    let line = readme[..at].lines().last().unwrap();
    let file = line.trim_start_matches("# ").split(' ').next().unwrap();
    assert!(
        unit.contains(&format!("EnvironmentFile=-{file}\n")),
        "README says {file}; the service reads:\n{unit}"
    );
}

#[test]
fn a_server_that_accepts_and_never_answers_is_a_failure_not_connecting_forever() {
    // Accepts TCP, never says a word (a hung server, a wrong service).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            keep.lock().unwrap().push(stream);
        }
    });
    let dir = tempdir("silent");
    push_site(&dir, "SNSILENT");
    let url = format!("postgresql://zk:pw@127.0.0.1:{port}/zk?sslmode=disable");
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    wait_for("/health to tell", Duration::from_secs(120), || {
        zk.health().contains("no responde")
    });
    assert!(zk.metric("zkserver_postgres_failures_total") >= 1.0);
    assert!(!held.lock().unwrap().is_empty());
}

#[test]
fn health_tells_a_database_went_away_while_there_was_nothing_to_write() {
    if !available_or_skip("health_tells_a_database_went_away_while_idle") {
        return;
    }
    let mut db = cluster(false);
    let dir = tempdir("idle");
    std::fs::write(dir.join("devices.json"), "{}").unwrap();
    let zk = Zk::start(&dir, Some(&admin_url(&db)), "central", &[]);
    wait_for("/health ok", Duration::from_secs(60), || {
        zk.health() == "ok"
    });
    db.stop();
    wait_for("/health to tell", Duration::from_secs(60), || {
        zk.health() != "ok"
    });
    assert_eq!(zk.metric("zkserver_postgres_up"), 0.0);
    db.start_again();
    wait_for("/health ok again", Duration::from_secs(120), || {
        zk.health() == "ok"
    });
}

#[test]
fn a_database_restored_from_an_older_backup_gets_again_what_it_lost() {
    if !available_or_skip("a_database_restored_from_an_older_backup_gets_again_what_it_lost") {
        return;
    }
    let mut db = cluster(false);
    let dir = tempdir("restored");
    push_site(&dir, "SNREST");
    let zk = Zk::start(&dir, Some(&admin_url(&db)), "central", &[]);
    let push = push_sim(&zk, "SNREST", 300);
    wait_for("the punches", Duration::from_secs(120), || {
        count(&db, "central") == 300
    });
    assert_eq!(
        query(&db, "SELECT position FROM zk_sites WHERE site = 'central'"),
        "300"
    );
    // The database as a backup taken 100 punches earlier has it (rows and
    // the site's position from one moment), e.g. a replica promoted while
    // it lagged. zkserver's own position still says 300.
    query(
        &db,
        "DELETE FROM zk_punches WHERE site = 'central' AND punched_at IN
           (SELECT punched_at FROM zk_punches WHERE site = 'central'
             ORDER BY punched_at DESC LIMIT 100);
         UPDATE zk_sites SET position = 200 WHERE site = 'central';",
    );
    assert_eq!(count(&db, "central"), 200);
    db.restart_same_port();
    wait_for("the lost punches again", Duration::from_secs(120), || {
        count(&db, "central") == 300
    });
    assert_eq!(rows(&db, "central"), push_rows(&push, "rec"));
    wait_for("the resend in the log", Duration::from_secs(30), || {
        zk.log_text().contains("delivering again from there")
    });
    push.stop();
}

#[test]
fn a_position_from_another_journal_is_never_taken_for_this_one() {
    if !available_or_skip("a_position_from_another_journal_is_never_taken_for_this_one") {
        return;
    }
    let db = cluster(false);
    let url = admin_url(&db);
    // Site "central" delivers 300 punches from its journal A.
    let a = tempdir("journal-a");
    push_site(&a, "SNJA");
    let zk = Zk::start(&a, Some(&url), "central", &[]);
    let push = push_sim(&zk, "SNJA", 300);
    wait_for("journal A delivered", Duration::from_secs(120), || {
        count(&db, "central") == 300
    });
    // The position file is written just after the commit.
    wait_for("A's position file", Duration::from_secs(30), || {
        std::fs::read_to_string(a.join("devices.json.postgres.json"))
            .is_ok_and(|t| t.contains("\"position\": 300"))
    });
    push.stop();
    zk.kill();
    // Another machine's folder: journal B with 500 other punches, taken in
    // without a database...
    let b = tempdir("journal-b");
    push_site(&b, "SNJB");
    let zk = Zk::start(&b, None, "central", &[]);
    let mut cfg = PushSimConfig::new(&zk.base, "SNJB");
    cfg.records = 500;
    cfg.start = chrono::NaiveDate::from_ymd_opt(2025, 6, 1)
        .and_then(|d| d.and_hms_opt(7, 0, 0))
        .unwrap();
    let other = PushSim::start(cfg).unwrap();
    wait_for("journal B to fill", Duration::from_secs(120), || {
        other.unsent() == 0
    });
    other.stop();
    zk.kill();
    // ...then given A's position file (copied along with the configuration).
    std::fs::copy(
        a.join("devices.json.postgres.json"),
        b.join("devices.json.postgres.json"),
    )
    .unwrap();
    let _zk = Zk::start(&b, Some(&url), "central", &[]);
    wait_for("all of journal B", Duration::from_secs(120), || {
        count(&db, "central") == 800
    });
}

/// What `zkserver postgres-schema` prints.
fn printed_schema() -> String {
    let out = Command::new(BIN).arg("postgres-schema").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_printed_schema_can_be_run_again_at_every_upgrade() {
    if !available_or_skip("the_printed_schema_can_be_run_again_at_every_upgrade") {
        return;
    }
    let db = cluster(false);
    let sql = printed_schema();
    // The README's upgrade step, twice (psql stops at the first error).
    query(&db, &sql);
    query(&db, "INSERT INTO zk_punches VALUES ('s', 'd', '1', '2025-01-01 08:00:00', 1, 0, NULL, 'D', now())");
    let again = db.psql("zk", &sql);
    assert!(again.is_ok(), "second run: {again:?}");
    assert_eq!(
        query(&db, "SELECT count(*), max(version) FROM zk_schema_version"),
        "1|4"
    );
    assert_eq!(count(&db, "s"), 1, "rows kept");
    // A database a newer zkserver already migrated keeps its version.
    query(&db, "UPDATE zk_schema_version SET version = 99");
    query(&db, &sql);
    assert_eq!(query(&db, "SELECT version FROM zk_schema_version"), "99");
}

#[test]
fn health_speaks_spanish_and_an_empty_database_asks_for_the_schema() {
    if !available_or_skip("health_speaks_spanish_and_an_empty_database_asks_for_the_schema") {
        return;
    }
    let db = cluster(false);
    // A role that may connect, nothing else; the database has no tables.
    db.create_role("zk_sitio", "clave-sitio").unwrap();
    query(&db, "GRANT CONNECT ON DATABASE zk TO zk_sitio");
    let dir = tempdir("spanish");
    push_site(&dir, "SNES");
    let url = db.url_with("zk_sitio", "clave-sitio", "zk", &[("sslmode", "disable")]);
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    wait_for(
        "/health to ask for the schema",
        Duration::from_secs(60),
        || zk.health().contains("zkserver postgres-schema"),
    );
    let health = zk.health();
    assert!(!health.contains("permission denied"), "{health}");
    assert!(health.contains("no tiene las tablas"), "{health}");
    // The server's own words stay in the log, for the admin.
    wait_for("the detail in the log", Duration::from_secs(30), || {
        zk.log_text().contains("permission denied")
    });
    // The tables, but a grant missing on one of them.
    query(&db, &printed_schema());
    query(
        &db,
        "GRANT SELECT, INSERT, UPDATE ON zk_punches, zk_devices, zk_schema_version TO zk_sitio;
         GRANT SELECT ON zk_sites TO zk_sitio;",
    );
    wait_for(
        "/health to name the table",
        Duration::from_secs(120),
        || zk.health().contains("INSERT sobre la tabla zk_sites"),
    );
    query(
        &db,
        "GRANT INSERT, UPDATE ON zk_sites TO zk_sitio;
         GRANT SELECT, INSERT, UPDATE ON zk_people TO zk_sitio;",
    );
    let push = push_sim(&zk, "SNES", 10);
    wait_for("delivery", Duration::from_secs(120), || {
        count(&db, "central") == 10
    });
    // A grant taken away while delivering: said in Spanish too.
    query(&db, "REVOKE INSERT ON zk_punches FROM zk_sitio");
    push.punch("77");
    wait_for("/health to tell", Duration::from_secs(60), || {
        zk.health()
            .contains("no tiene permiso sobre la tabla zk_punches")
    });
    assert!(!zk.health().contains("permission denied"));
    push.stop();
}

#[test]
fn a_journal_keeps_its_site_name_until_an_explicit_rename_moves_its_rows() {
    if !available_or_skip("a_journal_keeps_its_site_name_until_an_explicit_rename") {
        return;
    }
    let db = cluster(false);
    let url = admin_url(&db);
    let dir = tempdir("site-rename");
    push_site(&dir, "SNSITE");
    let zk = Zk::start(&dir, Some(&url), "norte", &[]);
    let push = push_sim(&zk, "SNSITE", 200);
    wait_for("site norte delivered", Duration::from_secs(120), || {
        count(&db, "norte") == 200
    });
    let mut want = push_rows(&push, "rec");
    push.stop();
    zk.kill();
    // Another name (a changed --site, or a renamed machine without one):
    // refused, in words naming both; the API keeps serving.
    let zk = Zk::start(&dir, Some(&url), "sur", &[]);
    wait_for("/health to refuse", Duration::from_secs(60), || {
        zk.health().contains("--rename-site-from norte")
    });
    let health = zk.health();
    assert!(
        health.contains("'norte'") && health.contains("'sur'"),
        "{health}"
    );
    let push = push_sim(&zk, "SNSITE", 0);
    for i in 0..5 {
        push.punch(&format!("6{i}"));
    }
    wait_for("the journal to hold them", Duration::from_secs(60), || {
        push.unsent() == 0
    });
    wait_for("the refusal in the log", Duration::from_secs(30), || {
        zk.log_text().contains("PostgreSQL delivery stopped")
    });
    assert_eq!(count(&db, "sur"), 0);
    assert_eq!(count(&db, "norte"), 200);
    assert_eq!(zk.metric("zkserver_postgres_up"), 0.0);
    want.extend(push_rows(&push, "rec"));
    push.stop();
    zk.kill();
    // The explicit rename: every row moves, nothing is sent twice.
    let zk = Zk::start(&dir, Some(&url), "sur", &["--rename-site-from", "norte"]);
    wait_for(
        "the rows under the new name",
        Duration::from_secs(120),
        || count(&db, "sur") == 205,
    );
    assert_eq!(count(&db, "norte"), 0);
    assert_eq!(
        query(
            &db,
            "SELECT site FROM zk_devices UNION ALL SELECT site FROM zk_sites"
        ),
        "sur\nsur"
    );
    assert_eq!(rows(&db, "sur"), want);
    assert!(zk.log_text().contains("site 'norte' renamed to 'sur'"));
    wait_for("/health ok", Duration::from_secs(30), || {
        zk.health() == "ok"
    });
    zk.kill();
    // From then on the new name is the journal's: no flag needed, nothing
    // delivered again (the position was kept).
    let zk = Zk::start(&dir, Some(&url), "sur", &[]);
    wait_for("/health ok", Duration::from_secs(60), || {
        zk.health() == "ok"
    });
    assert_eq!(zk.metric("zkserver_postgres_delivered_total"), 0.0);
    assert_eq!(count(&db, "sur"), 205);
    zk.kill();
    // A journal from before sites were recorded (an older zkserver): the
    // database's zk_sites still knows which site it was delivered as.
    rusqlite::Connection::open(dir.join("punches.db"))
        .unwrap()
        .execute("DELETE FROM meta WHERE key = 'postgres_site'", [])
        .unwrap();
    let zk = Zk::start(&dir, Some(&url), "oeste", &[]);
    wait_for("/health to refuse", Duration::from_secs(60), || {
        zk.health().contains("--rename-site-from sur")
    });
    assert_eq!(count(&db, "oeste"), 0);
}

/// (device, user, time) rows of a pull simulator's log under id `device`.
fn pull_rows(sim: &Simulator, device: &str) -> BTreeSet<(String, String, String)> {
    expected_rows(sim, device, "")
        .iter()
        .map(|r| {
            (
                device.to_string(),
                r["user_id"].as_str().unwrap().to_string(),
                r["timestamp"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A pull terminal at `port` as device `id` in `dir`'s devices file.
fn pull_site(dir: &Path, id: &str, port: u16) {
    std::fs::write(
        dir.join("devices.json"),
        format!(
            r#"{{"{id}": {{"ip": "127.0.0.1", "port": {port}, "name": "Reloj", "timeout": 10}}}}"#
        ),
    )
    .unwrap();
}

#[test]
fn a_collected_terminal_renamed_in_devices_json_keeps_its_history_once() {
    if !available_or_skip("a_collected_terminal_renamed_in_devices_json_keeps_its_history_once") {
        return;
    }
    let db = cluster(false);
    let url = admin_url(&db);
    let pull = Simulator::start(SimConfig {
        records: 215,
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempdir("pull-rename");
    pull_site(&dir, "reloj", pull.port());
    let zk = Zk::start(&dir, Some(&url), "central", &["--collect-interval", "1"]);
    wait_for("the terminal's log", Duration::from_secs(120), || {
        count(&db, "central") == 215
    });
    assert_eq!(rows(&db, "central"), pull_rows(&pull, "reloj"));
    zk.kill();
    // The same terminal (same serial), now called "entrada".
    pull_site(&dir, "entrada", pull.port());
    let zk = Zk::start(&dir, Some(&url), "central", &["--collect-interval", "1"]);
    wait_for(
        "its history under the new id",
        Duration::from_secs(120),
        || rows(&db, "central") == pull_rows(&pull, "entrada"),
    );
    pull.punch(Some("901"));
    wait_for("a new punch", Duration::from_secs(60), || {
        count(&db, "central") == 216
    });
    assert_eq!(rows(&db, "central"), pull_rows(&pull, "entrada"));
    wait_for("the move in the log", Duration::from_secs(30), || {
        zk.log_text().contains("now 'entrada'")
    });
    assert_eq!(zk.metric("zkserver_postgres_backlog"), 0.0);
}

#[test]
fn a_push_terminal_renamed_in_devices_json_keeps_its_history_and_stamp() {
    if !available_or_skip("a_push_terminal_renamed_in_devices_json_keeps_its_history") {
        return;
    }
    let db = cluster(false);
    let url = admin_url(&db);
    let dir = tempdir("push-rename");
    push_site(&dir, "SNREN");
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    let push = push_sim(&zk, "SNREN", 300);
    wait_for("the punches", Duration::from_secs(120), || {
        count(&db, "central") == 300
    });
    push.stop();
    zk.kill();
    std::fs::write(
        dir.join("devices.json"),
        r#"{"entrada": {"mode": "push", "sn": "SNREN", "name": "Entrada"}}"#,
    )
    .unwrap();
    let zk = Zk::start(&dir, Some(&url), "central", &[]);
    // The terminal's handshake under its new id: its upload stamp came along.
    let handshake = minreq::get(format!(
        "{}/iclock/cdata?SN=SNREN&options=all&pushver=2.4.1",
        zk.base
    ))
    .send()
    .unwrap();
    let text = handshake.as_str().unwrap().to_string();
    assert!(text.contains("ATTLOGStamp=300"), "{text}");
    // A terminal that uploads its whole log again anyway: stored once.
    let push = push_sim(&zk, "SNREN", 300);
    wait_for(
        "the history under the new id",
        Duration::from_secs(120),
        || rows(&db, "central") == push_rows(&push, "entrada"),
    );
    push.punch("902");
    wait_for("a new punch", Duration::from_secs(60), || {
        count(&db, "central") == 301
    });
    assert_eq!(rows(&db, "central"), push_rows(&push, "entrada"));
    let (_, status) = get(&format!("{}/devices/entrada/status", zk.base));
    assert_eq!(status["data"]["journal_punches"], 301, "{status}");
    push.stop();
}

#[test]
fn two_collected_terminals_that_swap_ids_keep_their_own_histories() {
    if !available_or_skip("two_collected_terminals_that_swap_ids_keep_their_own_histories") {
        return;
    }
    let db = cluster(false);
    let url = admin_url(&db);
    let sim = |records: usize, serial: &str, seed: u64| {
        Simulator::start(SimConfig {
            records,
            serial: serial.into(),
            seed,
            ..SimConfig::default()
        })
        .unwrap()
    };
    let (one, two) = (sim(120, "SIMUNO", 1), sim(80, "SIMDOS", 2));
    let dir = tempdir("pull-swap");
    let write = |a: u16, b: u16| {
        std::fs::write(
            dir.join("devices.json"),
            format!(
                r#"{{"a": {{"ip": "127.0.0.1", "port": {a}, "timeout": 10}},
                    "b": {{"ip": "127.0.0.1", "port": {b}, "timeout": 10}}}}"#
            ),
        )
        .unwrap();
    };
    let both = |a: &Simulator, b: &Simulator| {
        let mut want = pull_rows(a, "a");
        want.extend(pull_rows(b, "b"));
        want
    };
    write(one.port(), two.port());
    let zk = Zk::start(&dir, Some(&url), "central", &["--collect-interval", "1"]);
    wait_for("both logs", Duration::from_secs(120), || {
        count(&db, "central") == 200
    });
    assert_eq!(rows(&db, "central"), both(&one, &two));
    zk.kill();
    // The terminals swap ids in devices.json.
    write(two.port(), one.port());
    let zk = Zk::start(&dir, Some(&url), "central", &["--collect-interval", "1"]);
    wait_for(
        "each history under its terminal's new id",
        Duration::from_secs(120),
        || rows(&db, "central") == both(&two, &one),
    );
    one.punch(Some("903"));
    wait_for("a new punch", Duration::from_secs(60), || {
        count(&db, "central") == 201
    });
    assert_eq!(rows(&db, "central"), both(&two, &one));
    drop(zk);
}

/// `zk_people` of `site`: `user_id|name|card|areas|deleted` lines by PIN.
fn people_rows(cluster: &PgCluster, site: &str) -> String {
    cluster
        .psql(
            "zk",
            &format!(
                "SELECT user_id, name, coalesce(card::text, ''), array_to_string(areas, ','), deleted
                   FROM zk_people WHERE site = '{site}' ORDER BY length(user_id), user_id"
            ),
        )
        .unwrap_or_default()
}

#[test]
fn the_staff_list_reaches_zk_people_without_secrets_across_an_outage_and_a_restart() {
    if !available_or_skip("the_staff_list_reaches_zk_people_without_secrets") {
        return;
    }
    let mut db = cluster(false);
    let dir = tempdir("people");
    push_site(&dir, "SNPEOPLE");
    let zk = Zk::start(&dir, Some(&admin_url(&db)), "central", &[]);
    let people = format!("{}/people", zk.base);
    let template = STANDARD.encode(
        [0x4d, 0x98, 0x53, 0x53, 0x32, 0x31, 0, 0]
            .into_iter()
            .chain(std::iter::repeat_n(0x6b, 1100))
            .collect::<Vec<u8>>(),
    );
    for body in [
        json!({"user_id": "1005", "name": "Sofía Moreno", "card": 998_877, "password": "clave77",
               "areas": ["oficina", "bodega"]}),
        json!({"user_id": "7", "name": "Ana"}),
    ] {
        let (status, answer) = send("POST", &people, body);
        assert_eq!(status, 201, "{answer}");
    }
    let (status, _) = send(
        "PUT",
        &format!("{people}/1005/templates/finger/6"),
        json!({"data": template}),
    );
    assert_eq!(status, 200);
    wait_for("the people in zk_people", Duration::from_secs(60), || {
        people_rows(&db, "central") == "7|Ana||*|f\n1005|Sofía Moreno|998877|oficina,bodega|f"
    });
    // No column, no value holds a password or a template.
    let columns = query(
        &db,
        "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position)
           FROM information_schema.columns WHERE table_name = 'zk_people'",
    );
    assert_eq!(columns, "site,user_id,name,card,areas,deleted,updated_at");
    let dump = query(&db, "SELECT zk_people::text FROM zk_people");
    assert!(
        !dump.contains("clave77") && !dump.contains(&template[..40]),
        "{dump}"
    );

    // Changes while the database is down arrive when it is back.
    db.stop();
    wait_for("/health to tell", Duration::from_secs(60), || {
        zk.health() != "ok"
    });
    let (status, _) = send("PUT", &format!("{people}/7"), json!({"name": "Ana Díaz"}));
    assert_eq!(status, 200);
    let (status, _) = send("DELETE", &format!("{people}/1005"), Value::Null);
    assert_eq!(status, 200);
    db.start_again();
    wait_for(
        "the changes after the outage",
        Duration::from_secs(120),
        || {
            people_rows(&db, "central")
                == "7|Ana Díaz||*|f\n1005|Sofía Moreno|998877|oficina,bodega|t"
        },
    );

    // A change made while zkserver is down (another process wrote the
    // journal) arrives after the restart; nothing is duplicated.
    zk.kill();
    {
        let journal = zkserver::journal::Journal::open(dir.join("punches.db")).unwrap();
        let changes = zkserver::journal::PersonChanges {
            name: Some("Beto".into()),
            ..Default::default()
        };
        journal
            .upsert_person(
                "8",
                &changes,
                zkserver::time::WallTime::new(zkserver::time::now()),
            )
            .unwrap();
    }
    let zk = Zk::start(&dir, Some(&admin_url(&db)), "central", &[]);
    wait_for("the restart's changes", Duration::from_secs(120), || {
        people_rows(&db, "central")
            == "7|Ana Díaz||*|f\n8|Beto||*|f\n1005|Sofía Moreno|998877|oficina,bodega|t"
    });
    assert!(!zk.log_text().contains("clave77"));
    assert!(!zk.log_text().contains(&template[..40]));
}
