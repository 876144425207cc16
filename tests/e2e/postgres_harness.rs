//! The PostgreSQL test harness (`common::postgres`) itself: throwaway
//! clusters start, keep data across a stop and start, and with TLS verify
//! their certificate and refuse plain connections.

use crate::common::postgres::{self, PgCluster, PgOptions, ADMIN_PASSWORD, ADMIN_USER};

/// The `key=value` conninfo of the superuser through `host` with `sslmode`.
fn conninfo(pg: &PgCluster, host: &str, sslmode: &str, ca: &std::path::Path) -> String {
    format!(
        "host={host} port={} user={ADMIN_USER} dbname=postgres sslmode={sslmode} sslrootcert={}",
        pg.port(),
        postgres::conninfo_value(&ca.display().to_string())
    )
}

#[test]
fn cluster_starts_and_psql_reads_back_a_table() {
    if !postgres::available_or_skip("cluster_starts_and_psql_reads_back_a_table") {
        return;
    }
    let pg = PgCluster::start(false);
    assert!(pg.data_dir().join("PG_VERSION").is_file());
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY, name text); INSERT INTO t VALUES (1, 'uno'), (2, 'dos');",
    )
    .unwrap();
    let rows = pg
        .psql("postgres", "SELECT id, name FROM t ORDER BY id")
        .unwrap();
    assert_eq!(rows, "1|uno\n2|dos");
    let err = pg.psql("postgres", "SELECT * FROM missing").unwrap_err();
    assert!(err.contains("missing"), "{err}");
    // Only 127.0.0.1, and the port is the one we were given.
    let listen = pg.psql("postgres", "SHOW listen_addresses").unwrap();
    assert_eq!(listen, "127.0.0.1");
    let port = pg.psql("postgres", "SHOW port").unwrap();
    assert_eq!(port, pg.port().to_string());
}

#[test]
fn roles_databases_and_urls_work() {
    if !postgres::available_or_skip("roles_databases_and_urls_work") {
        return;
    }
    let pg = PgCluster::start(false);
    pg.create_database("zk data").unwrap();
    let pass = "p@ss:w/rd %x";
    pg.create_role("zk writer", pass).unwrap();
    let url = pg.url("zk writer", pass, "zk data");
    assert!(url.starts_with("postgresql://zk%20writer:p%40ss%3Aw%2Frd%20%25x@127.0.0.1:"));
    let who = pg
        .psql_conn(
            &url,
            None,
            "SELECT current_user || '/' || current_database()",
        )
        .unwrap();
    assert_eq!(who, "zk writer/zk data");
    let admin = pg.url(ADMIN_USER, ADMIN_PASSWORD, "zk data");
    assert_eq!(pg.psql_conn(&admin, None, "SELECT 1").unwrap(), "1");
    let wrong = pg.url("zk writer", "wrong", "zk data");
    let err = pg.psql_conn(&wrong, None, "SELECT 1").unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");
}

#[test]
fn stopped_cluster_refuses_and_start_again_keeps_data() {
    if !postgres::available_or_skip("stopped_cluster_refuses_and_start_again_keeps_data") {
        return;
    }
    let mut pg = PgCluster::start(false);
    let port = pg.port();
    pg.psql(
        "postgres",
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('antes');",
    )
    .unwrap();
    pg.stop();
    assert!(!pg.is_running());
    let err = pg.psql("postgres", "SELECT 1").unwrap_err();
    assert!(err.contains("Connection refused"), "{err}");
    pg.start_again();
    assert_eq!(pg.port(), port);
    assert_eq!(pg.psql("postgres", "SELECT v FROM kept").unwrap(), "antes");
    pg.restart_same_port();
    assert_eq!(pg.port(), port);
    assert_eq!(
        pg.psql("postgres", "SELECT count(*) FROM kept").unwrap(),
        "1"
    );
}

#[test]
fn tls_cluster_verifies_its_certificate_and_refuses_plain() {
    if !postgres::available_or_skip("tls_cluster_verifies_its_certificate_and_refuses_plain") {
        return;
    }
    let pg = PgCluster::start(true);
    let ssl_used = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let ca = pg.ca_file();
    for host in ["localhost", "127.0.0.1"] {
        let ok = pg.psql_conn(
            &conninfo(&pg, host, "verify-full", &ca),
            Some(ADMIN_PASSWORD),
            ssl_used,
        );
        assert_eq!(ok.as_deref(), Ok("t"), "verify-full via {host}");
    }
    for mode in ["require", "verify-full"] {
        let url = pg.admin_url_ssl("postgres", mode);
        assert_eq!(
            pg.psql_conn(&url, None, ssl_used).as_deref(),
            Ok("t"),
            "{url}"
        );
    }
    assert_eq!(pg.psql("postgres", ssl_used).as_deref(), Ok("t"));

    let plain = pg.psql_conn(
        &conninfo(&pg, "127.0.0.1", "disable", &ca),
        Some(ADMIN_PASSWORD),
        "SELECT 1",
    );
    let err = plain.unwrap_err();
    assert!(err.contains("rejects connection"), "{err}");

    let other = conninfo(&pg, "localhost", "verify-full", &pg.other_ca_file());
    let err = pg
        .psql_conn(&other, Some(ADMIN_PASSWORD), "SELECT 1")
        .unwrap_err();
    assert!(err.contains("certificate verify failed"), "{err}");
    assert!(pg.log().contains("SSL enabled"), "{}", pg.log());
}

#[test]
fn tls_cluster_may_also_accept_plain() {
    if !postgres::available_or_skip("tls_cluster_may_also_accept_plain") {
        return;
    }
    let pg = PgCluster::start_with(PgOptions {
        tls: true,
        allow_plain: true,
    });
    let url = pg.url_with(
        ADMIN_USER,
        ADMIN_PASSWORD,
        "postgres",
        &[("sslmode", "disable")],
    );
    let ssl_used = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    assert_eq!(pg.psql_conn(&url, None, ssl_used).as_deref(), Ok("f"));
    let url = pg.admin_url_ssl("postgres", "verify-full");
    assert_eq!(pg.psql_conn(&url, None, ssl_used).as_deref(), Ok("t"));
}

#[test]
fn dropping_a_cluster_stops_it_and_removes_its_directory() {
    if !postgres::available_or_skip("dropping_a_cluster_stops_it_and_removes_its_directory") {
        return;
    }
    let pg = PgCluster::start(false);
    let dir = pg.socket_dir();
    let url = pg.url(ADMIN_USER, ADMIN_PASSWORD, "postgres");
    assert!(dir.is_dir());
    drop(pg);
    assert!(!dir.exists(), "{} left behind", dir.display());
    let err = std::process::Command::new(postgres::bin_dir().unwrap().join("psql"))
        .args(["-X", "-c", "SELECT 1", &url])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    assert!(!err.status.success(), "server still answers after drop");
}
