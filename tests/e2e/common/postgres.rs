//! A real, throwaway PostgreSQL for end-to-end tests of the `--postgres`
//! delivery: one cluster per test, in its own temporary directory, listening
//! only on 127.0.0.1 on a free port (and on a unix socket in that directory).
//!
//! The programs come from the PostgreSQL bin directory (`ZKSERVER_PG_BINDIR`,
//! else `pg_config --bindir`, else the highest `/usr/lib/postgresql/*/bin`,
//! else wherever `initdb` on `PATH` really lives); `scripts/pg-bindir.sh`
//! searches the same way. `initdb` refuses to run as root, so when the tests
//! run as root (CI does) the server programs run as the `postgres` system
//! user through `runuser`. Everything waits on readiness (`pg_ctl -w`),
//! never on time.
//!
//! Tests call [`available_or_skip`] first: without PostgreSQL they fail,
//! unless `ZKSERVER_SKIP_POSTGRES=1` (set by `scripts/test.sh` outside CI
//! when PostgreSQL is missing) makes them return early with a note.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The superuser every cluster is created with.
pub const ADMIN_USER: &str = "zk_admin";
/// Its password (URL-special characters on purpose: [`PgCluster::url`]
/// must percent-encode them).
pub const ADMIN_PASSWORD: &str = "zk:adm@n/pw%1";
/// The system user the server runs as when the tests run as root.
const SERVER_USER: &str = "postgres";
/// Programs the harness needs from the bin directory.
const PROGRAMS: [&str; 4] = ["initdb", "pg_ctl", "postgres", "psql"];
/// Seconds `pg_ctl` may wait for a start or a stop (loaded CI machines).
const PG_CTL_WAIT: &str = "60";
/// Attempts at a fresh free port when another process takes ours first.
const PORT_ATTEMPTS: usize = 5;

/// Characters left as they are in URL user, password and path parts.
const URL_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Whether PostgreSQL's programs (and, as root, `runuser` and the `postgres`
/// user) are here; the error names what is missing.
pub fn available() -> Result<(), String> {
    bin_dir()?;
    if is_root() {
        if !on_path("runuser") {
            return Err("running as root, but `runuser` (util-linux) is not on PATH".into());
        }
        server_uid()?;
    }
    Ok(())
}

/// Like [`available`], plus the `openssl` CLI that TLS clusters need.
pub fn available_tls() -> Result<(), String> {
    available()?;
    if on_path("openssl") {
        Ok(())
    } else {
        Err("the `openssl` CLI is not on PATH (apt-get install openssl)".into())
    }
}

/// For tests: true when PostgreSQL is usable. Without it, panics with what is
/// missing, unless `ZKSERVER_SKIP_POSTGRES=1`, in which case it notes the
/// skip on stderr and returns false (the test then returns early).
pub fn available_or_skip(test: &str) -> bool {
    match available() {
        Ok(()) => true,
        Err(e) if std::env::var("ZKSERVER_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("SKIPPED {test}: no PostgreSQL ({e}); ZKSERVER_SKIP_POSTGRES=1");
            false
        }
        Err(e) => panic!(
            "{test} needs PostgreSQL: {e}. Install Debian's `postgresql`, or set \
             ZKSERVER_SKIP_POSTGRES=1 to skip the PostgreSQL tests"
        ),
    }
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `psql`.
pub fn bin_dir() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(find_bin_dir).clone()
}

fn find_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("ZKSERVER_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return match missing_programs(&dir) {
            None => Ok(dir),
            Some(m) => Err(format!("ZKSERVER_PG_BINDIR={} lacks {m}", dir.display())),
        };
    }
    let mut candidates: Vec<PathBuf> = pg_config_bindir().into_iter().collect();
    candidates.extend(debian_bin_dirs());
    candidates.extend(path_bin_dir());
    candidates
        .into_iter()
        .find(|d| missing_programs(d).is_none())
        .ok_or_else(|| {
            "PostgreSQL server programs (initdb, pg_ctl, postgres, psql) not found: \
             not in `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH \
             (apt-get install postgresql)"
                .to_string()
        })
}

/// The programs of [`PROGRAMS`] missing from `dir`, if any.
fn missing_programs(dir: &Path) -> Option<String> {
    let missing: Vec<&str> = PROGRAMS
        .iter()
        .copied()
        .filter(|p| !dir.join(p).is_file())
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

fn pg_config_bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !dir.trim().is_empty()).then(|| PathBuf::from(dir.trim()))
}

/// `/usr/lib/postgresql/<version>/bin`, highest version first.
fn debian_bin_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key: Option<Vec<u32>> = name.split('.').map(|p| p.parse().ok()).collect();
            Some((key?, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|v| v.1).collect()
}

/// The real directory of `initdb` found on PATH (symlinks resolved).
fn path_bin_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let initdb = std::env::split_paths(&path)
        .map(|d| d.join("initdb"))
        .find(|p| p.is_file())?;
    fs::canonicalize(initdb)
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

/// Whether the tests run as root (asked of `id -u`: no unsafe code here).
fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    })
}

/// The uid and gid of the `postgres` system user.
fn server_uid() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, SERVER_USER])
            .output()
            .map_err(|e| format!("cannot run `id`: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                format!("running as root, but there is no `{SERVER_USER}` system user to run PostgreSQL as")
            })
    };
    Ok((id("-u")?, id("-g")?))
}

/// How a cluster is set up.
#[derive(Clone, Copy, Debug, Default)]
pub struct PgOptions {
    /// TLS on (`ssl=on`, a server certificate signed by [`PgCluster::ca_file`]).
    pub tls: bool,
    /// With `tls`, still accept plain (non-TLS) TCP connections. When false
    /// (the default) plain TCP connections are rejected by pg_hba.
    pub allow_plain: bool,
}

/// A running (or stopped) throwaway PostgreSQL cluster; dropping it stops
/// the server and removes its directory.
pub struct PgCluster {
    root: PathBuf,
    port: u16,
    options: PgOptions,
    running: bool,
}

impl PgCluster {
    /// Creates and starts a cluster; with `tls`, TLS is on and plain TCP
    /// connections are refused. Panics (naming the cause) when it cannot.
    pub fn start(tls: bool) -> PgCluster {
        PgCluster::start_with(PgOptions {
            tls,
            allow_plain: false,
        })
    }

    /// Creates and starts a cluster set up as `options` says.
    pub fn start_with(options: PgOptions) -> PgCluster {
        if let Err(e) = available() {
            panic!("PostgreSQL is not usable here: {e}");
        }
        sweep_stale_clusters();
        let mut cluster = PgCluster {
            root: unique_dir(),
            port: 0,
            options,
            running: false,
        };
        cluster.init().unwrap_or_else(|e| panic!("{e}"));
        cluster.start_on_free_port();
        cluster
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (PGDATA).
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The directory of the unix socket (`host=` this path also connects).
    pub fn socket_dir(&self) -> PathBuf {
        self.root.clone()
    }

    /// The PEM of the CA that signed the server certificate (TLS clusters).
    pub fn ca_file(&self) -> PathBuf {
        self.tls_dir().join("ca.pem")
    }

    /// The PEM of another CA, unrelated to the server certificate: verifying
    /// against it must fail (TLS clusters).
    pub fn other_ca_file(&self) -> PathBuf {
        self.tls_dir().join("other-ca.pem")
    }

    /// Whether the server is running (as far as this handle knows).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The server's log so far (connections are logged, with their TLS use).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Stops the server (`pg_ctl -m fast -w stop`); the data stays.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let out = self.pg_ctl(&["-m", "fast", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}\n{}",
            text(&out),
            self.log_tail()
        );
        self.running = false;
    }

    /// Starts the stopped server again on the same port and data directory.
    pub fn start_again(&mut self) {
        if self.running {
            return;
        }
        if let Err(e) = self.pg_ctl_start() {
            panic!("PostgreSQL did not start again on port {}: {e}", self.port);
        }
    }

    /// Stops the server and starts it again on the same port.
    pub fn restart_same_port(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Runs `sql` (one or more statements) in database `db` as the
    /// superuser over TCP; returns the trimmed output (unaligned, tuples
    /// only, `|` between columns) or the error text.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={ADMIN_USER} dbname={}",
            self.port,
            conninfo_value(db)
        );
        self.psql_conn(&conninfo, Some(ADMIN_PASSWORD), sql)
    }

    /// Runs `sql` through `psql` connecting with `conninfo` (a libpq
    /// `key=value` string or a `postgresql://` URL) and optional password.
    pub fn psql_conn(
        &self,
        conninfo: &str,
        password: Option<&str>,
        sql: &str,
    ) -> Result<String, String> {
        psql_run(conninfo, password, sql)
    }

    /// Creates database `name`, owned by the superuser.
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        self.psql("postgres", &format!("CREATE DATABASE {}", ident(name)))
            .map(drop)
    }

    /// Creates a login role `name` with `password` (no other rights).
    pub fn create_role(&self, name: &str, password: &str) -> Result<(), String> {
        let sql = format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            ident(name),
            literal(password)
        );
        self.psql("postgres", &sql).map(drop)
    }

    /// `postgresql://user:password@127.0.0.1:PORT/db`, percent-encoded.
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgresql://{}:{}@127.0.0.1:{}/{}",
            enc(user),
            enc(password),
            self.port,
            enc(db)
        )
    }

    /// [`url`](Self::url) with query parameters, e.g.
    /// `&[("sslmode", "verify-full"), ("sslrootcert", ca)]` (values encoded).
    pub fn url_with(
        &self,
        user: &str,
        password: &str,
        db: &str,
        params: &[(&str, &str)],
    ) -> String {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        let base = self.url(user, password, db);
        if query.is_empty() {
            base
        } else {
            format!("{base}?{}", query.join("&"))
        }
    }

    /// The superuser's URL for `db` with `sslmode` (and, for the verifying
    /// modes, `sslrootcert` = [`ca_file`](Self::ca_file)).
    pub fn admin_url_ssl(&self, db: &str, sslmode: &str) -> String {
        let ca = self.ca_file().display().to_string();
        let mut params = vec![("sslmode", sslmode)];
        if sslmode.starts_with("verify") {
            params.push(("sslrootcert", ca.as_str()));
        }
        self.url_with(ADMIN_USER, ADMIN_PASSWORD, db, &params)
    }

    // ---- setup ----

    fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// initdb, configuration, pg_hba and (with TLS) certificates.
    fn init(&self) -> Result<(), String> {
        let pwfile = self.root.join("pwfile");
        fs::write(&pwfile, format!("{ADMIN_PASSWORD}\n")).map_err(|e| io_err(&pwfile, &e))?;
        self.give_to_server(&self.root)?;
        let data = self.data_dir();
        let mut initdb = self.server_cmd("initdb");
        initdb.args([
            "-D".as_ref(),
            data.as_os_str(),
            "-U".as_ref(),
            ADMIN_USER.as_ref(),
            format!("--pwfile={}", pwfile.display()).as_ref(),
            "-A".as_ref(),
            "scram-sha-256".as_ref(),
            "--auth-local=trust".as_ref(),
            "-E".as_ref(),
            "UTF8".as_ref(),
            "--locale=C".as_ref(),
            "--no-sync".as_ref(),
            "--no-instructions".as_ref(),
        ]);
        let out = run(&mut initdb)?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", text(&out)));
        }
        let _ = fs::remove_file(&pwfile);
        if self.options.tls {
            self.make_certificates()?;
        }
        self.write_config()
    }

    /// Appends the test settings to postgresql.conf and writes pg_hba.conf.
    fn write_config(&self) -> Result<(), String> {
        let mut conf = format!(
            "\n# zkserver test harness\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = {}\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_buffers = 16MB\nmax_connections = 40\n\
             autovacuum = off\nmax_parallel_workers_per_gather = 0\n\
             dynamic_shared_memory_type = mmap\n\
             log_connections = on\nlc_messages = 'C'\n",
            literal(&self.socket_dir().display().to_string())
        );
        if self.options.tls {
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = {}\nssl_key_file = {}\n",
                literal(&self.tls_dir().join("server.crt").display().to_string()),
                literal(&self.tls_dir().join("server.key").display().to_string()),
            ));
        }
        let path = self.data_dir().join("postgresql.conf");
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(|e| io_err(&path, &e))?;
        let hba_path = self.data_dir().join("pg_hba.conf");
        fs::write(&hba_path, self.hba()).map_err(|e| io_err(&hba_path, &e))
    }

    fn hba(&self) -> String {
        let mut hba = String::from("# zkserver test harness\nlocal all all trust\n");
        if self.options.tls {
            hba.push_str("hostssl all all 127.0.0.1/32 scram-sha-256\n");
            if self.options.allow_plain {
                hba.push_str("hostnossl all all 127.0.0.1/32 scram-sha-256\n");
            } else {
                hba.push_str("hostnossl all all 127.0.0.1/32 reject\n");
            }
        } else {
            hba.push_str("host all all 127.0.0.1/32 scram-sha-256\n");
        }
        hba
    }

    /// A CA, a server certificate (CN `localhost`, SAN `localhost` and
    /// 127.0.0.1) signed by it, and an unrelated second CA.
    fn make_certificates(&self) -> Result<(), String> {
        available_tls()?;
        let dir = self.tls_dir();
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, &e))?;
        new_ca(&dir, "ca", "zkserver test CA")?;
        new_ca(&dir, "other-ca", "unrelated test CA")?;
        let ext = dir.join("server.ext");
        fs::write(
            &ext,
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:localhost, IP:127.0.0.1\n",
        )
        .map_err(|e| io_err(&ext, &e))?;
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        )?;
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        )?;
        let key = dir.join("server.key");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
            .map_err(|e| io_err(&key, &e))?;
        self.give_to_server(&dir)
    }

    /// Hands `path` (recursively) to the server's user when running as root.
    fn give_to_server(&self, path: &Path) -> Result<(), String> {
        if !is_root() {
            return Ok(());
        }
        let (uid, gid) = server_uid()?;
        chown_tree(path, uid, gid)
    }

    // ---- running ----

    /// A command running `program` from the bin directory as the server's
    /// user, in the cluster directory, with C messages.
    fn server_cmd(&self, program: &str) -> Command {
        let path = bin_dir().unwrap_or_default().join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVER_USER, "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.current_dir(&self.root)
            .env("LC_ALL", "C")
            .env_remove("PGDATA")
            .env_remove("PGPORT")
            .stdin(Stdio::null());
        cmd
    }

    /// `pg_ctl -D data -w -t 60 <args>`.
    fn pg_ctl(&self, args: &[&str]) -> Output {
        let mut cmd = self.server_cmd("pg_ctl");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-w", "-t", PG_CTL_WAIT])
            .args(args);
        run(&mut cmd).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts on a fresh free port, trying another when one is taken.
    fn start_on_free_port(&mut self) {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            self.port = super::free_port();
            match self.pg_ctl_start() {
                Ok(()) => return,
                Err(e) if e.contains("Address already in use") => last = e,
                Err(e) => panic!("PostgreSQL did not start: {e}"),
            }
        }
        panic!("PostgreSQL found no free port in {PORT_ATTEMPTS} attempts: {last}");
    }

    /// `pg_ctl start` on `self.port`; the error carries the log's tail.
    fn pg_ctl_start(&mut self) -> Result<(), String> {
        let log = self.log_file().display().to_string();
        let port = format!("-p {}", self.port);
        let out = self.pg_ctl(&["-l", &log, "-o", &port, "start"]);
        if out.status.success() {
            self.running = true;
            Ok(())
        } else {
            Err(format!("{}\n{}", text(&out), self.log_tail()))
        }
    }

    /// The last lines of the server log, for failure messages.
    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(20);
        format!("server log (tail):\n{}", lines[start..].join("\n"))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let mut cmd = self.server_cmd("pg_ctl");
            cmd.arg("-D").arg(self.data_dir()).args([
                "-w",
                "-t",
                PG_CTL_WAIT,
                "-m",
                "immediate",
                "stop",
            ]);
            let _ = run(&mut cmd);
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

// ---- helpers ----

/// A new empty directory under the temp dir, unique per cluster.
fn unique_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("zkserver-pg-{}-{n}-{nanos:x}", std::process::id()));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("{}", io_err(&dir, &e)));
    dir
}

/// Once per test process: stops and removes clusters left behind by test
/// processes that died without dropping them (killed mid-run); clusters of
/// live processes are left alone.
fn sweep_stale_clusters() {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        if !Path::new("/proc/self").exists() {
            return; // no way to tell dead processes from live ones
        }
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("zkserver-pg-")
                .and_then(|rest| rest.split('-').next())
            else {
                continue;
            };
            // Only clusters' folders (`zkserver-pg-<pid>-…`): the tests' own
            // folders (`zkserver-pg-<name>-<pid>`) are in use by running tests.
            let is_pid = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
            if is_pid && !Path::new("/proc").join(pid).exists() {
                remove_stale(&entry.path());
            }
        }
    });
}

/// Stops (immediately) a left-behind cluster and removes its directory.
fn remove_stale(root: &Path) {
    let stale = PgCluster {
        root: root.to_path_buf(),
        port: 0,
        options: PgOptions::default(),
        running: root.join("data").join("postmaster.pid").exists(),
    };
    drop(stale);
}

/// A self-signed CA: `<name>.key`, `<name>.pem` in `dir`.
fn new_ca(dir: &Path, name: &str, cn: &str) -> Result<(), String> {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    let subj = format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    let out = run(&mut cmd)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("openssl {} failed: {}", args.join(" "), text(&out)))
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| io_err(path, &e))?;
    if path.is_dir() {
        for entry in fs::read_dir(path).map_err(|e| io_err(path, &e))? {
            let entry = entry.map_err(|e| io_err(path, &e))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Runs `psql -X -A -t -q -v ON_ERROR_STOP=1` with `sql` on stdin.
fn psql_run(conninfo: &str, password: Option<&str>, sql: &str) -> Result<String, String> {
    let bin = bin_dir()?.join("psql");
    let mut cmd = Command::new(bin);
    cmd.args([
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        "-",
        "-d",
    ])
    .arg(conninfo)
    .env("PGCONNECT_TIMEOUT", "30")
    .env("LC_ALL", "C")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for var in [
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSERVICE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGOPTIONS",
    ] {
        cmd.env_remove(var);
    }
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run psql: {e}"))?;
    let mut stdin = child.stdin.take().expect("psql stdin");
    let input = sql.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("psql did not finish: {e}"))?;
    let _ = writer.join();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(text(&out))
    }
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    cmd.output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))
}

/// stderr and stdout of a finished command, trimmed.
fn text(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let std = String::from_utf8_lossy(&out.stdout);
    format!("{} {}", err.trim(), std.trim()).trim().to_string()
}

fn io_err(path: &Path, e: &std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, URL_SAFE).to_string()
}

/// A SQL identifier, double-quoted.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal, single-quoted.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A libpq conninfo value, single-quoted with `\` and `'` escaped.
pub fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}
