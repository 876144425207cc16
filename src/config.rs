//! The server's configuration, checked once: the flags as clap parsed them
//! ([`ServeArgs`], which only knows types) become a [`ServeConfig`] whose
//! every value is within its rules (ranges, combinations, addresses, the
//! key and database URL files read), or a typed [`ConfigError`] that
//! [`crate::messages::config`] says in Spanish. Nothing here starts a
//! server, opens the journal or loads the devices file: `main.rs` does that
//! with a configuration that is known to be good.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::args::ServeArgs;
use crate::collect::CollectSettings;
use crate::http::auth::Security;
use crate::http::conn::Limits;
use crate::http::proxy;
use crate::ipnet::IpNet;
use crate::postgres::{PgSettings, Target, TargetError};
use crate::push::receiver::{PushSettings, UnknownSerials};
use crate::url::UrlError;

/// The longest a request may wait for a busy device (`--lock-timeout`).
const MAX_LOCK_TIMEOUT: f64 = 3600.0;
/// The longest of the other time flags (a day).
const MAX_SECONDS: f64 = 86_400.0;
/// The shortest API key.
const MIN_API_KEY: usize = 8;
/// The longest site name (`--site`, `--rename-site-from`).
const MAX_SITE: usize = 100;
/// The range of `--push-delay`, in seconds.
const PUSH_DELAY: std::ops::RangeInclusive<u32> = 1..=3600;

/// Everything the server needs from its flags, checked.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The devices file (`--config`); not read with `--demo`.
    pub devices_file: PathBuf,
    /// `--demo`: the built-in simulated terminals instead of the devices file.
    pub demo: Option<DemoMode>,
    /// The address to listen on (`--host`; with `--demo`, this machine only).
    pub host: String,
    /// `--port`.
    pub port: u16,
    /// `--push-port`: a second listener for push terminals only.
    pub push_port: Option<u16>,
    /// `--lock-timeout`: how long a request waits for a busy device.
    pub lock_timeout: Duration,
    /// API key, open writes, protected reads, trusted proxies, host names.
    pub security: Security,
    /// PostgreSQL delivery, when a database is configured.
    pub postgres: Option<PgSettings>,
    /// The punch journal (SQLite).
    pub journal_file: PathBuf,
    /// The push receiver's settings.
    pub push: PushSettings,
    /// `--webhook`: the default webhook.
    pub webhook: Option<String>,
    /// `--push-forward`: the server push exchanges are relayed to.
    pub push_forward: Option<String>,
    /// `--reconcile-interval`.
    pub reconcile_interval: Duration,
    /// Which pull terminals are collected, and how often.
    pub collect: CollectSettings,
    /// `--people-interval`: between two full checks of a pull terminal
    /// against the staff list.
    pub people_interval: Duration,
    /// Connection limits and timeouts of the HTTP server.
    pub limits: Limits,
    /// Where webhook delivery positions are kept (none with `--demo`).
    pub state_file: Option<PathBuf>,
}

/// How the demo runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoMode {
    /// Whether the demo's push terminal talks to the server (not with
    /// the hidden `--no-demo-push`).
    pub push_terminal: bool,
}

/// A flag whose value is a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlFlag {
    /// `--webhook`.
    Webhook,
    /// `--push-forward`.
    PushForward,
}

/// A file the configuration reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFile {
    /// `--api-key-file`.
    ApiKey,
    /// `--postgres-file`.
    PostgresUrl,
}

/// Why the flags do not make a configuration.
#[derive(Debug)]
pub enum ConfigError {
    /// `--push-port` is the same port as `--port`.
    PushPortIsPort(u16),
    /// A time flag (named without its dashes) is out of its range.
    Seconds {
        /// The flag, e.g. `idle-timeout`.
        flag: &'static str,
        /// Its value.
        value: f64,
    },
    /// A file named by a flag could not be read.
    Unreadable {
        /// Which file.
        file: SecretFile,
        /// Where it is.
        path: PathBuf,
        /// Why not (English, for the log).
        error: io::Error,
    },
    /// The API key file has only blanks.
    EmptyApiKeyFile(PathBuf),
    /// The API key is too short.
    ShortApiKey,
    /// `--protect-reads` without an API key.
    ProtectReadsWithoutKey,
    /// `--rename-site-from` without a database.
    RenameWithoutPostgres,
    /// The PostgreSQL URL is not usable.
    Postgres(TargetError),
    /// A site name is empty, too long or has control characters.
    SiteName {
        /// `--site` or `--rename-site-from`.
        flag: &'static str,
        /// The name given.
        name: String,
    },
    /// `--push-unknown` is neither `pending` nor `reject`.
    PushUnknown(String),
    /// `--push-delay` is out of its range.
    PushDelay(u32),
    /// A `--push-allow-from` entry is no address or network.
    PushAllowFrom(String),
    /// A `--trusted-proxy` entry is no address or network.
    TrustedProxy(String),
    /// A URL flag's value is not a usable URL.
    Url {
        /// Which flag.
        flag: UrlFlag,
        /// What is wrong with it.
        error: UrlError,
    },
}

impl std::fmt::Display for ConfigError {
    /// The Spanish sentence of the catalogue.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::messages::config::config_error(self))
    }
}

impl std::error::Error for ConfigError {}

/// Why the server did not start (after its flags were read).
#[derive(Debug)]
pub enum StartupError {
    /// The flags do not make a configuration.
    Config(ConfigError),
    /// The demo's terminals could not start.
    Demo(io::Error),
    /// The demo's push terminal could not start.
    DemoPush(io::Error),
    /// The devices file could not be loaded (its typed error).
    Devices(crate::registry::LoadError),
    /// The journal's folder could not be created.
    JournalFolder {
        /// The folder.
        path: PathBuf,
        /// Why not.
        error: io::Error,
    },
    /// Another zkserver holds the journal, or its lock failed.
    JournalLocked(crate::journal::LockError),
    /// The journal could not be opened.
    JournalNotOpened(crate::journal::JournalError),
    /// A listener could not be bound.
    Bind(crate::server::BindError),
}

impl From<ConfigError> for StartupError {
    fn from(e: ConfigError) -> Self {
        StartupError::Config(e)
    }
}

impl From<crate::server::BindError> for StartupError {
    fn from(e: crate::server::BindError) -> Self {
        StartupError::Bind(e)
    }
}

impl std::fmt::Display for StartupError {
    /// The Spanish sentence of the catalogue.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::messages::config::startup_error(self))
    }
}

impl std::error::Error for StartupError {}

impl ServeConfig {
    /// Checks `args` in the order a person reads the flags' rules; the
    /// first rule broken is the error.
    pub fn from_args(args: ServeArgs) -> Result<ServeConfig, ConfigError> {
        ServeConfig::check(args, std::env::var("API_KEY").ok(), host_name)
    }

    /// [`ServeConfig::from_args`] with the `API_KEY` variable's value and
    /// the default site name given.
    fn check(
        args: ServeArgs,
        env_api_key: Option<String>,
        default_site: fn() -> String,
    ) -> Result<ServeConfig, ConfigError> {
        check_push_port(&args)?;
        let lock_timeout = seconds("lock-timeout", args.lock_timeout, MAX_LOCK_TIMEOUT)?;
        let api_key = load_api_key(args.api_key_file.as_deref(), env_api_key)?;
        if args.protect_reads && api_key.is_none() {
            return Err(ConfigError::ProtectReadsWithoutKey);
        }
        let postgres = postgres_settings(&args, default_site)?;
        let journal_file = journal_path(&args);
        let push = push_settings(&args, &journal_file)?;
        let webhook = url_flag(UrlFlag::Webhook, args.webhook.as_deref())?;
        let push_forward = url_flag(UrlFlag::PushForward, args.push_forward.as_deref())?;
        let reconcile_interval =
            seconds("reconcile-interval", args.reconcile_interval, MAX_SECONDS)?;
        let collect = CollectSettings {
            all: args.collect,
            // A database wants every punch: pull terminals too, unless one
            // says "collect": false.
            by_default: postgres.is_some(),
            interval: seconds("collect-interval", args.collect_interval, MAX_SECONDS)?,
        };
        let people_interval = seconds("people-interval", args.people_interval, MAX_SECONDS)?;
        let security = security(&args, api_key)?;
        let limits = limits(&args, security.trusted_proxies.clone())?;
        let demo = args.demo.then_some(DemoMode {
            push_terminal: !args.no_demo_push,
        });
        // The demo opens writes easily: keep it on this machine unless asked.
        let default_host = if args.demo { "127.0.0.1" } else { "0.0.0.0" };
        Ok(ServeConfig {
            host: args.host.unwrap_or_else(|| default_host.into()),
            port: args.port,
            push_port: args.push_port,
            lock_timeout,
            security,
            postgres,
            journal_file,
            push,
            webhook,
            push_forward,
            reconcile_interval,
            collect,
            people_interval,
            limits,
            // Beside the devices file; the demo keeps positions in memory.
            state_file: (!args.demo).then(|| state_file_for(&args.config, ".state.json")),
            devices_file: args.config,
            demo,
        })
    }

    /// Who may write and read, for the log.
    pub fn access(&self) -> String {
        let security = &self.security;
        let writes = match (&security.api_key, security.allow_open_writes) {
            (Some(_), _) => "writes need the API key",
            (None, true) => "writes OPEN to anyone (--allow-open-writes)",
            (None, false) => "writes disabled (no API key configured)",
        };
        let reads = if security.protect_reads {
            "need the API key"
        } else {
            "open"
        };
        format!("{writes}; reads {reads}")
    }

    /// `host:port` of the main listener.
    pub fn listen_addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `host:port` of the push terminals' listener, with `--push-port`.
    pub fn push_addr(&self) -> Option<String> {
        self.push_port.map(|port| format!("{}:{port}", self.host))
    }
}

/// `--push-port` is a second listener: on `--port` itself it could only
/// fail to bind, so say which two flags collide.
fn check_push_port(args: &ServeArgs) -> Result<(), ConfigError> {
    match args.push_port {
        Some(push) if push == args.port && push != 0 => Err(ConfigError::PushPortIsPort(push)),
        _ => Ok(()),
    }
}

/// A time flag's value, more than 0 and at most `max` seconds.
fn seconds(flag: &'static str, value: f64, max: f64) -> Result<Duration, ConfigError> {
    if value > 0.0 && value <= max {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(ConfigError::Seconds { flag, value })
    }
}

/// The API key from `--api-key-file`, else `from_env` (the `API_KEY`
/// variable); blanks around it do not count.
fn load_api_key(
    file: Option<&Path>,
    from_env: Option<String>,
) -> Result<Option<String>, ConfigError> {
    let key = match file {
        Some(path) => {
            let key = read_trimmed(SecretFile::ApiKey, path)?;
            if key.is_empty() {
                return Err(ConfigError::EmptyApiKeyFile(path.to_path_buf()));
            }
            Some(key)
        }
        None => from_env
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty()),
    };
    if key.as_ref().is_some_and(|k| k.len() < MIN_API_KEY) {
        return Err(ConfigError::ShortApiKey);
    }
    Ok(key)
}

/// A file's text without a BOM or surrounding blanks.
fn read_trimmed(file: SecretFile, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
        file,
        path: path.to_path_buf(),
        error,
    })?;
    Ok(crate::registry::without_bom(&text).trim().to_string())
}

/// `<devices file><suffix>`: where delivery positions are kept
/// (`.state.json` for webhooks, `.postgres.json` for the database).
fn state_file_for(devices: &Path, suffix: &str) -> PathBuf {
    let mut name = devices.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The PostgreSQL delivery settings from `--postgres`/`--postgres-file`
/// and `--site` (else `default_site()`); `None` when no database is
/// configured.
fn postgres_settings(
    args: &ServeArgs,
    default_site: fn() -> String,
) -> Result<Option<PgSettings>, ConfigError> {
    let url = match (&args.postgres, &args.postgres_file) {
        (_, Some(path)) => read_trimmed(SecretFile::PostgresUrl, path)?,
        (Some(url), None) => url.trim().to_string(),
        (None, None) if args.rename_site_from.is_some() => {
            return Err(ConfigError::RenameWithoutPostgres)
        }
        (None, None) => return Ok(None),
    };
    if url.is_empty() {
        return Ok(None);
    }
    let target = Target::parse(&url).map_err(ConfigError::Postgres)?;
    let site = match &args.site {
        Some(site) => site.trim().to_string(),
        None => default_site(),
    };
    check_site_name("--site", &site)?;
    let rename_from = args.rename_site_from.as_deref().map(str::trim);
    if let Some(old) = rename_from {
        check_site_name("--rename-site-from", old)?;
    }
    Ok(Some(PgSettings {
        target,
        rename_from: rename_from.filter(|old| *old != site).map(str::to_string),
        site,
        state_file: (!args.demo).then(|| state_file_for(&args.config, ".postgres.json")),
    }))
}

/// Refuses a site name that is empty, too long or has control characters.
fn check_site_name(flag: &'static str, site: &str) -> Result<(), ConfigError> {
    if site.is_empty() || site.len() > MAX_SITE || site.chars().any(char::is_control) {
        return Err(ConfigError::SiteName {
            flag,
            name: site.to_string(),
        });
    }
    Ok(())
}

/// This machine's name (the default site name).
fn host_name() -> String {
    let from_file = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok();
    from_file
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "zkserver".into())
}

/// Where the journal lives: `--journal`, else `punches.db` beside the
/// devices file; the demo keeps one in a scratch folder of its own.
fn journal_path(args: &ServeArgs) -> PathBuf {
    if let Some(path) = &args.journal {
        return path.clone();
    }
    if args.demo {
        return std::env::temp_dir()
            .join(format!("zkserver-demo-{}", std::process::id()))
            .join("punches.db");
    }
    match args.config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("punches.db"),
        _ => PathBuf::from("punches.db"),
    }
}

/// The push receiver's settings; contacts are saved beside the journal
/// (`<journal>.contacts.json`).
fn push_settings(args: &ServeArgs, journal: &Path) -> Result<PushSettings, ConfigError> {
    let unknown = match args.push_unknown.as_str() {
        "pending" => UnknownSerials::Pending,
        "reject" => UnknownSerials::Reject,
        other => return Err(ConfigError::PushUnknown(other.to_string())),
    };
    if !PUSH_DELAY.contains(&args.push_delay) {
        return Err(ConfigError::PushDelay(args.push_delay));
    }
    let allow_from = networks(&args.push_allow_from, ConfigError::PushAllowFrom)?;
    let mut contacts = journal.as_os_str().to_os_string();
    contacts.push(".contacts.json");
    Ok(PushSettings {
        delay: args.push_delay,
        unknown,
        contacts_file: Some(PathBuf::from(contacts)),
        allow_from,
        ..PushSettings::default()
    })
}

/// Addresses or networks; the first that is neither is `error(its text)`.
fn networks(texts: &[String], error: fn(String) -> ConfigError) -> Result<Vec<IpNet>, ConfigError> {
    texts
        .iter()
        .map(|text| IpNet::parse(text).ok_or_else(|| error(text.trim().to_string())))
        .collect()
}

/// A URL flag's value: none when absent or blank, else a checked URL.
fn url_flag(flag: UrlFlag, value: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(url) = value.filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    crate::url::check_http_url(url).map_err(|error| ConfigError::Url { flag, error })?;
    Ok(Some(url.to_string()))
}

/// Who may read and write, and through which proxies and names.
fn security(args: &ServeArgs, api_key: Option<String>) -> Result<Security, ConfigError> {
    let trusted_proxies = if args.trusted_proxies.is_empty() {
        proxy::default_trusted()
    } else {
        networks(&args.trusted_proxies, ConfigError::TrustedProxy)?
    };
    Ok(Security {
        api_key,
        allow_open_writes: args.allow_open_writes,
        protect_reads: args.protect_reads,
        trusted_proxies,
        host_names: args
            .host_names
            .iter()
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect(),
    })
}

/// The HTTP server's connection limits and timeouts.
fn limits(args: &ServeArgs, trusted_proxies: Vec<IpNet>) -> Result<Limits, ConfigError> {
    let header_timeout = seconds("header-timeout", args.header_timeout, MAX_SECONDS)?;
    Ok(Limits {
        max_connections: args.max_connections.max(1),
        idle_timeout: seconds("idle-timeout", args.idle_timeout, MAX_SECONDS)?,
        head_timeout: header_timeout,
        body_timeout: header_timeout,
        request_timeout: seconds("request-timeout", args.request_timeout, MAX_SECONDS)?,
        write_timeout: seconds("write-timeout", args.write_timeout, MAX_SECONDS)?,
        trusted_proxies,
        streams_per_client: args.max_streams_per_client.max(1),
        ..Limits::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The server flags of `zkserver <flags>`.
    fn args(flags: &[&str]) -> ServeArgs {
        let argv = std::iter::once("zkserver").chain(flags.iter().copied());
        crate::cli::args::Cli::try_parse_from(argv)
            .expect("flags clap accepts")
            .serve
    }

    /// The configuration of `flags`, without an `API_KEY` variable, on a
    /// machine named `reloj-1`.
    fn config(flags: &[&str]) -> Result<ServeConfig, ConfigError> {
        ServeConfig::check(args(flags), None, || "reloj-1".into())
    }

    /// The Spanish sentence for the error `flags` make.
    fn refused(flags: &[&str]) -> String {
        config(flags)
            .expect_err("a refused configuration")
            .to_string()
    }

    /// A file named `name` holding `text` in a folder of this test's own.
    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zkserver-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("scratch file");
        path
    }

    #[test]
    fn no_flags_make_the_documented_defaults() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.listen_addr(), "0.0.0.0:5000");
        assert_eq!(c.push_addr(), None);
        assert_eq!(c.lock_timeout, Duration::from_secs(30));
        assert_eq!(c.reconcile_interval, Duration::from_secs(60));
        assert_eq!(c.collect.interval, Duration::from_secs(300));
        assert!(!c.collect.all && !c.collect.by_default);
        assert_eq!(c.journal_file, PathBuf::from("punches.db"));
        assert_eq!(c.state_file, Some(PathBuf::from("devices.json.state.json")));
        assert_eq!(c.push.delay, 10);
        assert_eq!(c.push.unknown, UnknownSerials::Pending);
        assert_eq!(
            c.push.contacts_file,
            Some(PathBuf::from("punches.db.contacts.json"))
        );
        assert_eq!(c.security.api_key, None);
        assert_eq!(c.security.trusted_proxies, proxy::default_trusted());
        assert_eq!(c.limits.max_connections, 512);
        assert_eq!(c.limits.head_timeout, Duration::from_secs(15));
        assert_eq!(c.limits.body_timeout, Duration::from_secs(15));
        assert!(c.postgres.is_none() && c.webhook.is_none() && c.demo.is_none());
    }

    #[test]
    fn the_demo_stays_on_this_machine_and_keeps_no_positions() {
        let c = config(&["--demo"]).expect("demo");
        assert_eq!(c.listen_addr(), "127.0.0.1:5000");
        assert_eq!(c.state_file, None);
        assert_eq!(
            c.demo,
            Some(DemoMode {
                push_terminal: true
            })
        );
        assert!(c.journal_file.ends_with("punches.db"));
        assert_ne!(c.journal_file, PathBuf::from("punches.db"));
        let c = config(&["--demo", "--no-demo-push", "--host", "0.0.0.0"]).expect("demo");
        assert_eq!(
            c.demo,
            Some(DemoMode {
                push_terminal: false
            })
        );
        assert_eq!(c.listen_addr(), "0.0.0.0:5000");
    }

    #[test]
    fn files_beside_the_devices_file_unless_named() {
        let c = config(&["--config", "/etc/zk/devices.json"]).expect("valid");
        assert_eq!(c.journal_file, PathBuf::from("/etc/zk/punches.db"));
        assert_eq!(
            c.state_file,
            Some(PathBuf::from("/etc/zk/devices.json.state.json"))
        );
        let c = config(&["--journal", "/var/zk/j.db"]).expect("valid");
        assert_eq!(c.journal_file, PathBuf::from("/var/zk/j.db"));
        assert_eq!(
            c.push.contacts_file,
            Some(PathBuf::from("/var/zk/j.db.contacts.json"))
        );
    }

    #[test]
    fn a_push_port_equal_to_the_port_is_refused() {
        assert_eq!(
            refused(&["--port", "6000", "--push-port", "6000"]),
            "--push-port (6000) es igual a --port (6000): use otro puerto para los terminales push, o quite --push-port (los terminales también pueden usar --port)"
        );
        // Port 0 twice is two free ports.
        assert!(config(&["--port", "0", "--push-port", "0"]).is_ok());
        let c = config(&["--host", "10.0.0.2", "--push-port", "7000"]).expect("valid");
        assert_eq!(c.push_addr().as_deref(), Some("10.0.0.2:7000"));
    }

    #[test]
    fn time_flags_keep_to_their_ranges() {
        assert_eq!(
            refused(&["--lock-timeout", "0"]),
            "--lock-timeout inválido: 0"
        );
        assert_eq!(
            refused(&["--lock-timeout", "3600.5"]),
            "--lock-timeout inválido: 3600.5"
        );
        assert!(config(&["--lock-timeout", "3600"]).is_ok());
        for flag in [
            "--reconcile-interval",
            "--collect-interval",
            "--people-interval",
            "--idle-timeout",
            "--header-timeout",
            "--request-timeout",
            "--write-timeout",
        ] {
            for bad in ["0", "-1", "86401", "NaN", "inf"] {
                let text = refused(&[&format!("{flag}={bad}")]);
                assert_eq!(
                    text,
                    format!("{flag} inválido: {}", bad.parse::<f64>().unwrap())
                );
            }
            assert!(config(&[flag, "86400"]).is_ok(), "{flag}");
            assert!(config(&[flag, "0.5"]).is_ok(), "{flag}");
        }
        let c = config(&["--header-timeout", "2.5", "--idle-timeout", "9"]).expect("valid");
        assert_eq!(c.limits.head_timeout, Duration::from_millis(2500));
        assert_eq!(c.limits.body_timeout, Duration::from_millis(2500));
        assert_eq!(c.limits.idle_timeout, Duration::from_secs(9));
    }

    #[test]
    fn the_api_key_comes_from_its_file_or_the_environment() {
        let good = file("good.key", "\u{feff}  s3cr3t-key-1 \n");
        let good = good.to_str().expect("utf-8 path");
        let c = config(&["--api-key-file", good]).expect("valid");
        assert_eq!(c.security.api_key.as_deref(), Some("s3cr3t-key-1"));
        let from_env =
            ServeConfig::check(args(&[]), Some(" envkey99 ".into()), String::new).expect("valid");
        assert_eq!(from_env.security.api_key.as_deref(), Some("envkey99"));
        let blank_env =
            ServeConfig::check(args(&[]), Some("  ".into()), String::new).expect("valid");
        assert_eq!(blank_env.security.api_key, None);
        let short = ServeConfig::check(args(&[]), Some("short".into()), String::new);
        assert!(matches!(short, Err(ConfigError::ShortApiKey)));
    }

    #[test]
    fn a_bad_api_key_file_is_refused_naming_it() {
        let empty = file("empty.key", " \n");
        let empty = empty.to_str().expect("utf-8 path");
        assert_eq!(
            refused(&["--api-key-file", empty]),
            format!("el archivo de clave API {empty} está vacío")
        );
        let short = file("short.key", "1234567");
        assert_eq!(
            refused(&["--api-key-file", short.to_str().expect("utf-8 path")]),
            "la clave API debe tener al menos 8 caracteres"
        );
        let missing = refused(&["--api-key-file", "/nonexistent/zk/api.key"]);
        assert!(
            missing
                .starts_with("no se pudo leer la clave API de /nonexistent/zk/api.key: no existe"),
            "{missing}"
        );
    }

    #[test]
    fn protected_reads_need_a_key() {
        assert_eq!(
            refused(&["--protect-reads"]),
            "--protect-reads requiere una clave API (--api-key-file o API_KEY)"
        );
        let key = file("reads.key", "0123456789");
        let key = key.to_str().expect("utf-8 path");
        let c = config(&["--protect-reads", "--api-key-file", key]).expect("valid");
        assert!(c.security.protect_reads);
        assert_eq!(
            c.access(),
            "writes need the API key; reads need the API key"
        );
        let closed = config(&[]).expect("valid").access();
        assert_eq!(
            closed,
            "writes disabled (no API key configured); reads open"
        );
    }

    #[test]
    fn the_database_url_is_checked_and_its_site_named() {
        let c = config(&["--postgres", " postgresql://zk@db/asistencia "]).expect("valid");
        let pg = c.postgres.expect("a database");
        assert_eq!(pg.site, "reloj-1");
        assert_eq!(pg.rename_from, None);
        assert_eq!(
            pg.state_file,
            Some(PathBuf::from("devices.json.postgres.json"))
        );
        assert!(
            c.collect.by_default,
            "a database collects every pull terminal"
        );
        assert_eq!(
            refused(&["--postgres", "mysql://zk@db/x"]),
            "--postgres: la URL de PostgreSQL debe empezar con postgresql:// (por ejemplo postgresql://usuario@servidor:5432/base)"
        );
        assert!(matches!(
            config(&["--postgres", "postgresql://zk@db/x?sslmode=a"]),
            Err(ConfigError::Postgres(TargetError::SslMode(_)))
        ));
        // A blank URL is no database.
        assert!(config(&["--postgres", "  "])
            .expect("valid")
            .postgres
            .is_none());
        let from_file = file("pg.url", "\u{feff}postgresql://zk@db/x\n");
        let from_file = from_file.to_str().expect("utf-8 path");
        let c = config(&["--postgres-file", from_file]).expect("valid");
        assert!(c.postgres.is_some());
        let missing = refused(&["--postgres-file", "/nonexistent/zk/pg.url"]);
        assert!(
            missing.starts_with("no se pudo leer la URL de PostgreSQL de /nonexistent/zk/pg.url: "),
            "{missing}"
        );
    }

    #[test]
    fn site_names_and_renames_follow_their_rules() {
        let pg = ["--postgres", "postgresql://zk@db/x"];
        assert_eq!(
            refused(&["--rename-site-from", "vieja"]),
            "--rename-site-from requiere --postgres (o POSTGRES_URL)"
        );
        assert_eq!(
            refused(&[&pg[..], &["--site", " "]].concat()),
            "--site inválido: '' (un nombre de 1 a 100 caracteres)"
        );
        let long = "x".repeat(101);
        assert!(refused(&[&pg[..], &["--site", &long]].concat()).starts_with("--site inválido"));
        assert_eq!(
            refused(&[&pg[..], &["--rename-site-from", "a\tb"]].concat()),
            "--rename-site-from inválido: 'a\\tb' (un nombre de 1 a 100 caracteres)"
        );
        let c = config(&[&pg[..], &["--site", " Norte ", "--rename-site-from", "Sur"]].concat())
            .expect("valid");
        let pg_settings = c.postgres.expect("a database");
        assert_eq!(pg_settings.site, "Norte");
        assert_eq!(pg_settings.rename_from.as_deref(), Some("Sur"));
        // Renaming a site to itself is nothing to do.
        let c = config(&[&pg[..], &["--rename-site-from", "reloj-1"]].concat()).expect("valid");
        assert_eq!(c.postgres.expect("a database").rename_from, None);
    }

    #[test]
    fn push_flags_keep_to_their_values() {
        assert_eq!(
            refused(&["--push-unknown", "maybe"]),
            "--push-unknown inválido: 'maybe'. Use pending o reject."
        );
        assert_eq!(
            refused(&["--push-delay", "0"]),
            "--push-delay inválido: 0 (use de 1 a 3600 segundos)"
        );
        assert!(refused(&["--push-delay", "3601"]).starts_with("--push-delay inválido: 3601"));
        assert_eq!(
            refused(&["--push-allow-from", "10.0.0.0/8, red-de-la-sede"]),
            "--push-allow-from 'red-de-la-sede' no es una dirección IP ni una red (ej. 203.0.113.7, 10.2.0.0/16)."
        );
        let c = config(&[
            "--push-unknown",
            "reject",
            "--push-delay",
            "3600",
            "--push-allow-from",
            "10.2.0.0/16,203.0.113.7",
        ])
        .expect("valid");
        assert_eq!(c.push.unknown, UnknownSerials::Reject);
        assert_eq!(c.push.delay, 3600);
        assert_eq!(c.push.allow_from.len(), 2);
        assert!(c.push.allow_from[0].contains("10.2.3.4".parse().expect("ip")));
    }

    #[test]
    fn url_flags_are_http_urls() {
        assert_eq!(
            refused(&["--webhook", "ftp://nomina/x"]),
            "--webhook: Campo 'webhook' inválido: use una URL http:// o https://."
        );
        assert_eq!(
            refused(&["--push-forward", "http://"]),
            "--push-forward: URL inválida: la URL no tiene un host válido."
        );
        let c =
            config(&["--webhook", " ", "--push-forward", "http://biotime:8081"]).expect("valid");
        assert_eq!(c.webhook, None);
        assert_eq!(c.push_forward.as_deref(), Some("http://biotime:8081"));
    }

    #[test]
    fn proxies_names_and_limits_are_read() {
        assert_eq!(
            refused(&["--trusted-proxy", "nginx"]),
            "--trusted-proxy 'nginx' no es una dirección IP ni una red (ej. 127.0.0.1, 10.0.0.0/8, ::1)"
        );
        let c = config(&[
            "--trusted-proxy",
            "10.0.0.0/8",
            "--host-name",
            " Relojes.LAN. ,otro",
            "--max-connections",
            "0",
            "--max-streams-per-client",
            "0",
            "--allow-open-writes",
        ])
        .expect("valid");
        assert_eq!(c.security.host_names, ["relojes.lan", "otro"]);
        assert_eq!(c.security.trusted_proxies, c.limits.trusted_proxies);
        assert_eq!(c.security.trusted_proxies.len(), 1);
        assert_eq!(c.limits.max_connections, 1);
        assert_eq!(c.limits.streams_per_client, 1);
        assert!(c.security.allow_open_writes);
        assert_eq!(
            c.access(),
            "writes OPEN to anyone (--allow-open-writes); reads open"
        );
    }

    #[test]
    fn the_first_broken_rule_is_the_error() {
        // Flags are checked in the order of their rules, as before.
        assert!(refused(&["--push-port", "5000", "--lock-timeout", "0"]).starts_with("--push-port"));
        assert!(refused(&["--lock-timeout", "0", "--protect-reads"]).starts_with("--lock-timeout"));
        assert!(refused(&["--push-delay", "0", "--webhook", "x"]).starts_with("--push-delay"));
    }
}
