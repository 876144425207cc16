//! `zkserver`: command line, logging, signals and the server loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use zkserver::cli::{self, probe, simulate};
use zkserver::http::App;
use zkserver::journal::{Journal, JournalLock};
use zkserver::registry::Registry;
use zkserver::server::Server;
use zkserver::services::{Services, Settings};

/// HTTP/JSON server for ZKTeco time clocks.
#[derive(Parser, Debug)]
#[command(name = "zkserver", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    log_level: log::LevelFilter,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Devices file (JSON object keyed by device id).
    #[arg(long, env = "DEVICES_FILE", default_value = "devices.json")]
    config: PathBuf,
    /// Address to listen on [default: 0.0.0.0; 127.0.0.1 with --demo].
    #[arg(long, env = "API_HOST")]
    host: Option<String>,
    /// Port to listen on.
    #[arg(long, env = "API_PORT", default_value_t = 5000)]
    port: u16,
    /// Seconds a request waits for a busy device before answering 503.
    #[arg(long, env = "LOCK_TIMEOUT", default_value_t = 30.0)]
    lock_timeout: f64,
    /// Serve three built-in simulated terminals (two pull, one push) instead of the devices file.
    #[arg(long)]
    demo: bool,
    /// With --demo, leave the push terminal silent (tests that count connections).
    #[arg(long, hide = true)]
    no_demo_push: bool,
    /// File holding the API key required for writes (POST/PUT/DELETE).
    #[arg(long, env = "API_KEY_FILE")]
    api_key_file: Option<PathBuf>,
    /// Accept writes without an API key when none is configured (trusted LANs only).
    #[arg(long)]
    allow_open_writes: bool,
    /// Require the API key for reads too (`/health` stays open).
    #[arg(long)]
    protect_reads: bool,
    /// A reverse proxy (address or network, e.g. 127.0.0.1, 10.0.0.0/8) whose
    /// X-Real-IP / X-Forwarded-For name the client and whose Host is not
    /// checked; repeatable [default: 127.0.0.1 and ::1].
    #[arg(
        long = "trusted-proxy",
        env = "TRUSTED_PROXIES",
        value_name = "IP[/BITS]",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// Where push terminals may connect from (address or network, e.g.
    /// 203.0.113.7, 10.2.0.0/16), for devices without their own "allow_from";
    /// repeatable [default: each terminal is pinned to its first address].
    #[arg(
        long = "push-allow-from",
        env = "PUSH_ALLOW_FROM",
        value_name = "IP[/BITS]",
        value_delimiter = ','
    )]
    push_allow_from: Vec<String>,
    /// A name browsers reach this server by (besides IP addresses and
    /// localhost), e.g. relojes.lan; repeatable. Other names are refused.
    #[arg(
        long = "host-name",
        env = "HOST_NAMES",
        value_name = "NAME",
        value_delimiter = ','
    )]
    host_names: Vec<String>,
    /// Most client connections open at once: a quarter for push terminals, a
    /// quarter for event streams, the rest for API calls (a full share
    /// answers 503); the longest idle connection is closed to make room.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Event streams (/events) one client may hold open at once; all streams
    /// together take at most a quarter of --max-connections.
    #[arg(long, default_value_t = 8)]
    max_streams_per_client: usize,
    /// Seconds a client connection may stay idle between requests.
    #[arg(long, default_value_t = 60.0)]
    idle_timeout: f64,
    /// Seconds a client may take to send a request's headers (and between body pieces).
    #[arg(long, default_value_t = 15.0)]
    header_timeout: f64,
    /// Seconds a client may take no byte of an answer before it is dropped
    /// (also the base of the time allowed for a whole answer).
    #[arg(long, default_value_t = 30.0)]
    write_timeout: f64,
    /// Seconds a client may take to send a whole request, head and body.
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
    /// Seconds between reads of a watched terminal's log when no event came.
    #[arg(long, env = "RECONCILE_INTERVAL", default_value_t = 60.0)]
    reconcile_interval: f64,
    /// The punch journal (SQLite) [default: punches.db beside the devices file].
    #[arg(long, env = "JOURNAL_FILE")]
    journal: Option<PathBuf>,
    /// Webhook for every terminal without its own "webhook" (http:// or https://).
    #[arg(long, env = "WEBHOOK_URL")]
    webhook: Option<String>,
    /// Relay every push terminal's /iclock exchanges to this server (e.g. BioTime), which then sends their commands.
    #[arg(long, env = "PUSH_FORWARD")]
    push_forward: Option<String>,
    /// Seconds between push terminals' command polls (the handshake's Delay).
    #[arg(long, env = "PUSH_DELAY", default_value_t = 10)]
    push_delay: u32,
    /// Unknown push serials: "pending" (kept until registered) or "reject" (403).
    #[arg(long, env = "PUSH_UNKNOWN", default_value = "pending")]
    push_unknown: String,
    /// A second port serving only /iclock/* (push terminals), e.g. to publish through nginx.
    #[arg(long, env = "PUSH_PORT")]
    push_port: Option<u16>,
    /// Keep every pull terminal's punches in the journal (as "collect": true does for one).
    #[arg(long)]
    collect: bool,
    /// Seconds between two reads of a collected terminal's log.
    #[arg(long, default_value_t = 300.0)]
    collect_interval: f64,
    /// Deliver every punch into this PostgreSQL database
    /// (postgresql://user:pass@host:port/db?sslmode=verify-full&sslrootcert=ca.pem).
    /// Prefer POSTGRES_URL or --postgres-file: a password here shows in `ps`.
    #[arg(long, env = "POSTGRES_URL", hide_env_values = true)]
    postgres: Option<String>,
    /// File holding the PostgreSQL URL (instead of --postgres).
    #[arg(long, env = "POSTGRES_FILE", conflicts_with = "postgres")]
    postgres_file: Option<PathBuf>,
    /// This server's name in the shared database [default: the host name].
    #[arg(long, env = "ZK_SITE")]
    site: Option<String>,
    /// The site name this journal was delivered as before: its rows in the
    /// database move to --site in one transaction (once; harmless after).
    #[arg(long, value_name = "OLD_SITE")]
    rename_site_from: Option<String>,
}

/// The API key from `--api-key-file`, else the `API_KEY` variable.
fn load_api_key(file: Option<&PathBuf>) -> Result<Option<String>, String> {
    let key = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "no se pudo leer la clave API de {}: {}",
                    path.display(),
                    zkserver::registry::io_error_es(&e)
                )
            })?;
            let key = zkserver::registry::without_bom(&text).trim().to_string();
            if key.is_empty() {
                return Err(format!(
                    "el archivo de clave API {} está vacío",
                    path.display()
                ));
            }
            Some(key)
        }
        None => std::env::var("API_KEY")
            .ok()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty()),
    };
    if key.as_ref().is_some_and(|k| k.len() < 8) {
        return Err("la clave API debe tener al menos 8 caracteres".into());
    }
    Ok(key)
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a simulated terminal (TCP and UDP on one port); `punch [user_id]` on
    /// standard input makes a punch.
    Simulate(Box<simulate::SimulateArgs>),
    /// Diagnose a real terminal: connect, read its identity, counters and clock.
    Probe(probe::ProbeArgs),
    /// Print the SQL of the PostgreSQL tables (for an administrator who
    /// creates them before giving zkserver a role without CREATE rights).
    PostgresSchema,
    /// Windows service `zkserver`: install [server flags], uninstall, start,
    /// stop, status; `run` is what the service manager starts.
    Service(ServiceArgs),
}

#[derive(Args, Debug)]
struct ServiceArgs {
    #[command(subcommand)]
    action: Option<ServiceAction>,
}

#[derive(Subcommand, Debug)]
enum ServiceAction {
    /// Install the service (automatic start) with these server flags;
    /// relative paths are relative to %ProgramData%\zkserver.
    Install(Box<ServeArgs>),
    /// Stop and remove the service (its data folder stays).
    Uninstall,
    /// Start the service.
    Start,
    /// Stop the service (a graceful stop).
    Stop,
    /// Show the service's state.
    Status,
    /// The service's entry point (run by the service manager, not by hand).
    Run(Box<ServeArgs>),
}

/// `<devices file><suffix>`: where delivery positions are kept
/// (`.state.json` for webhooks, `.postgres.json` for the database).
fn state_file_for(devices: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = devices.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The PostgreSQL delivery settings from `--postgres`/`--postgres-file`
/// and `--site`; `None` when no database is configured.
fn postgres_settings(args: &ServeArgs) -> Result<Option<zkserver::postgres::PgSettings>, String> {
    let url = match (&args.postgres, &args.postgres_file) {
        (_, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| {
                format!(
                    "no se pudo leer la URL de PostgreSQL de {}: {}",
                    path.display(),
                    zkserver::registry::io_error_es(&e)
                )
            })
            .map(|text| zkserver::registry::without_bom(&text).trim().to_string())?,
        (Some(url), None) => url.trim().to_string(),
        (None, None) if args.rename_site_from.is_some() => {
            return Err("--rename-site-from requiere --postgres (o POSTGRES_URL)".into())
        }
        (None, None) => return Ok(None),
    };
    if url.is_empty() {
        return Ok(None);
    }
    let target = zkserver::postgres::Target::parse(&url).map_err(|e| format!("--postgres: {e}"))?;
    let site = match &args.site {
        Some(site) => site.trim().to_string(),
        None => host_name(),
    };
    check_site_name("--site", &site)?;
    let rename_from = args.rename_site_from.as_deref().map(str::trim);
    if let Some(old) = rename_from {
        check_site_name("--rename-site-from", old)?;
    }
    Ok(Some(zkserver::postgres::PgSettings {
        target,
        rename_from: rename_from.filter(|old| *old != site).map(str::to_string),
        site,
        state_file: (!args.demo).then(|| state_file_for(&args.config, ".postgres.json")),
    }))
}

/// Refuses a site name that is empty, too long or has control characters.
fn check_site_name(flag: &str, site: &str) -> Result<(), String> {
    if site.is_empty() || site.len() > 100 || site.chars().any(char::is_control) {
        return Err(format!(
            "{flag} inválido: '{}' (un nombre de 1 a 100 caracteres)",
            site.escape_debug()
        ));
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

/// Locks and opens the journal (creating it and its folder if needed); a
/// journal another zkserver holds, or a file that is not a zkserver
/// journal, is a startup error naming it, never replaced. The lock is
/// held as long as the returned guard lives.
fn open_journal(path: &std::path::Path) -> Result<(Arc<Journal>, JournalLock), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        zkserver::journal::create_private_dir(dir).map_err(|e| {
            format!(
                "no se pudo crear la carpeta del diario {}: {}",
                dir.display(),
                zkserver::registry::io_error_es(&e)
            )
        })?;
    }
    let lock = JournalLock::acquire(path).map_err(|e| {
        log::error!("{e}");
        zkserver::messages::journal_locked(&e)
    })?;
    let journal = Journal::open(path).map_err(|e| {
        log::error!("{e}");
        zkserver::messages::journal_not_opened(&e)
    })?;
    log::info!(
        "punch journal: {} (held by this process: {})",
        path.display(),
        lock.path().display()
    );
    Ok((Arc::new(journal), lock))
}

/// The push receiver's settings from the command line; contacts are
/// saved beside the journal (`<journal>.contacts.json`).
fn push_settings(
    args: &ServeArgs,
    journal: &std::path::Path,
) -> Result<zkserver::push::receiver::PushSettings, String> {
    use zkserver::push::receiver::{PushSettings, UnknownSerials};
    let unknown = match args.push_unknown.as_str() {
        "pending" => UnknownSerials::Pending,
        "reject" => UnknownSerials::Reject,
        other => {
            return Err(format!(
                "--push-unknown inválido: '{other}'. Use pending o reject."
            ))
        }
    };
    if !(1..=3600).contains(&args.push_delay) {
        return Err(format!(
            "--push-delay inválido: {} (use de 1 a 3600 segundos)",
            args.push_delay
        ));
    }
    let allow_from = args
        .push_allow_from
        .iter()
        .map(|text| {
            zkserver::http::proxy::ProxyNet::parse_network(text).ok_or_else(|| {
                format!(
                    "--push-allow-from '{}' no es una dirección IP ni una red (ej. 203.0.113.7, 10.2.0.0/16).",
                    text.trim()
                )
            })
        })
        .collect::<Result<_, _>>()?;
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

/// Writes an INFO line in the logger's format whatever the log level:
/// people and scripts need to see where the server listens.
fn announce(message: &str) {
    zkserver::logging::announce(message);
}

/// The time as the logger writes it.
fn log_time() -> impl std::fmt::Display {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ")
}

fn main() {
    let cli = parse_command_line();
    let _log = zkserver::logging::init(cli.log_level);
    let result = match cli.command {
        Some(Command::Simulate(args)) => simulate::run(&args),
        Some(Command::Probe(args)) => probe::run(&args),
        Some(Command::PostgresSchema) => {
            print!("{}", zkserver::postgres::schema::sql());
            Ok(())
        }
        Some(Command::Service(args)) => service(args.action),
        None => cli::stop_flag().and_then(|stop| serve(cli.serve, &stop)),
    };
    if let Err(msg) = result {
        // One line, in the log's format, whatever the log level.
        zkserver::logging::flush();
        eprintln!("{} [ERROR] zkserver: {msg}", log_time());
        std::process::exit(1);
    }
}

/// The command line; clap's errors said in Spanish (naming the environment
/// variable a bad value came from), exit code 2; help and version as usual.
fn parse_command_line() -> Cli {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if !e.use_stderr()
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            let argv: Vec<_> = std::env::args_os().collect();
            let env = |name: &str| std::env::var_os(name);
            let msg =
                cli::args::spanish(&e, &<Cli as clap::CommandFactory>::command(), &argv, &env);
            eprintln!("{} [ERROR] zkserver: {msg}", log_time());
            std::process::exit(2);
        }
    }
}

/// `--push-port` is a second listener: on `--port` itself it could only
/// fail to bind, so say which two flags collide.
fn check_push_port(args: &ServeArgs) -> Result<(), String> {
    match args.push_port {
        Some(push) if push == args.port && push != 0 => Err(format!(
            "--push-port ({push}) es igual a --port ({}): use otro puerto para los terminales push, o quite --push-port (los terminales también pueden usar --port)",
            args.port
        )),
        _ => Ok(()),
    }
}

/// `zkserver service …` outside Windows: a clear error, exit code 2.
#[cfg(not(windows))]
fn service(_action: Option<ServiceAction>) -> Result<(), String> {
    zkserver::logging::flush();
    eprintln!(
        "{} [ERROR] zkserver: {}",
        log_time(),
        cli::service::NOT_WINDOWS
    );
    std::process::exit(2);
}

/// `zkserver service …`: the Windows service.
#[cfg(windows)]
fn service(action: Option<ServiceAction>) -> Result<(), String> {
    use zkserver::cli::service as svc;
    let done = match action {
        Some(ServiceAction::Install(_)) => svc::install(&install_flags())?,
        Some(ServiceAction::Uninstall) => svc::uninstall()?,
        Some(ServiceAction::Start) => svc::start()?,
        Some(ServiceAction::Stop) => svc::stop()?,
        Some(ServiceAction::Status) => svc::status()?,
        Some(ServiceAction::Run(args)) => {
            let mut args = *args;
            // Writes need the data folder's key unless the service was
            // installed with its own key or with open writes.
            let own_key = args.api_key_file.is_some() || std::env::var_os("API_KEY").is_some();
            if !own_key && !args.allow_open_writes {
                args.api_key_file = Some(PathBuf::from(svc::API_KEY_FILE));
            }
            return svc::run(Box::new(move |stop| serve(args, &stop)));
        }
        None => {
            return Err(
                "falta la acción: zkserver service install|uninstall|start|stop|status".into(),
            )
        }
    };
    println!("{done}");
    Ok(())
}

/// The server flags of `service install …`, as typed (after `install`),
/// to be stored as the service's arguments; clap has checked them.
#[cfg(windows)]
fn install_flags() -> Vec<std::ffi::OsString> {
    let args: Vec<_> = std::env::args_os().collect();
    let service = args.iter().position(|a| a == "service").unwrap_or(0);
    let install = args
        .iter()
        .skip(service)
        .position(|a| a == "install")
        .map_or(args.len(), |i| service + i + 1);
    args[install..].to_vec()
}

fn serve(args: ServeArgs, stop: &std::sync::atomic::AtomicBool) -> Result<(), String> {
    check_push_port(&args)?;
    let mut _demo = None;
    let registry = if args.demo {
        let demo = zkserver::demo::start().map_err(|e| {
            format!(
                "no se pudo iniciar el modo demo: {}",
                zkserver::registry::io_error_es(&e)
            )
        })?;
        let registry = demo.registry.clone();
        _demo = Some(demo);
        registry
    } else {
        Arc::new(Registry::load(&args.config)?)
    };
    if !(args.lock_timeout > 0.0 && args.lock_timeout <= 3600.0) {
        return Err(format!("--lock-timeout inválido: {}", args.lock_timeout));
    }
    let api_key = load_api_key(args.api_key_file.as_ref())?;
    if args.protect_reads && api_key.is_none() {
        return Err("--protect-reads requiere una clave API (--api-key-file o API_KEY)".into());
    }
    let ids = registry.ids();
    let seconds = |name: &str, v: f64| {
        if v > 0.0 && v <= 86_400.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(format!("--{name} inválido: {v}"))
        }
    };
    let postgres = postgres_settings(&args)?;
    let journal_file = journal_path(&args);
    let push = push_settings(&args, &journal_file)?;
    let (journal, _journal_lock) = open_journal(&journal_file)?;
    let webhook = args.webhook.filter(|w| !w.trim().is_empty());
    if let Some(url) = &webhook {
        zkserver::url::validate_webhook_url(url).map_err(|e| format!("--webhook: {e}"))?;
    }
    let push_forward = args.push_forward.filter(|u| !u.trim().is_empty());
    if let Some(url) = &push_forward {
        zkserver::url::validate_webhook_url(url).map_err(|e| {
            format!(
                "--push-forward: {}",
                e.replace("Campo 'webhook' inválido", "URL inválida")
            )
        })?;
    }
    let mut settings = Settings {
        push_forward,
        journal: Some(journal),
        push,
        reconcile_interval: seconds("reconcile-interval", args.reconcile_interval)?,
        webhook,
        // Beside the devices file; the demo keeps positions in memory.
        state_file: (!args.demo).then(|| state_file_for(&args.config, ".state.json")),
        demo: _demo
            .as_ref()
            .map(|d: &zkserver::demo::Demo| d.terminals.clone()),
        ..Settings::default()
    };
    settings.budget.lock_timeout = Duration::from_secs_f64(args.lock_timeout);
    settings.collect = zkserver::collect::CollectSettings {
        all: args.collect,
        // A database wants every punch: pull terminals too, unless one says
        // "collect": false.
        by_default: postgres.is_some(),
        interval: seconds("collect-interval", args.collect_interval)?,
    };
    settings.postgres = postgres;
    let writes = match (&api_key, args.allow_open_writes) {
        (Some(_), _) => "writes need the API key",
        (None, true) => "writes OPEN to anyone (--allow-open-writes)",
        (None, false) => "writes disabled (no API key configured)",
    };
    log::info!(
        "{writes}; reads {}",
        if args.protect_reads {
            "need the API key"
        } else {
            "open"
        }
    );
    let trusted_proxies = if args.trusted_proxies.is_empty() {
        zkserver::http::proxy::default_trusted()
    } else {
        args.trusted_proxies
            .iter()
            .map(|p| zkserver::http::proxy::ProxyNet::parse(p))
            .collect::<Result<_, _>>()?
    };
    let security = zkserver::http::auth::Security {
        api_key,
        allow_open_writes: args.allow_open_writes,
        protect_reads: args.protect_reads,
        trusted_proxies: trusted_proxies.clone(),
        host_names: args
            .host_names
            .iter()
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect(),
    };
    let app = App::new(Services::start(registry, settings), security);
    // The demo opens writes easily: keep it on this machine unless asked.
    let default_host = if args.demo { "127.0.0.1" } else { "0.0.0.0" };
    let host = args.host.as_deref().unwrap_or(default_host);
    let addr = format!("{host}:{}", args.port);
    let limits = zkserver::http::conn::Limits {
        max_connections: args.max_connections.max(1),
        idle_timeout: seconds("idle-timeout", args.idle_timeout)?,
        head_timeout: seconds("header-timeout", args.header_timeout)?,
        body_timeout: seconds("header-timeout", args.header_timeout)?,
        request_timeout: seconds("request-timeout", args.request_timeout)?,
        write_timeout: seconds("write-timeout", args.write_timeout)?,
        trusted_proxies,
        streams_per_client: args.max_streams_per_client.max(1),
        ..Default::default()
    };
    let mut server = Server::bind_with(&addr, app, limits)?;
    if let Some(port) = args.push_port {
        let push_addr = server.add_push_listener(&format!("{host}:{port}"))?;
        announce(&format!(
            "push terminals (/iclock only) also on http://{push_addr}"
        ));
    }
    let _push_demo = if args.demo && !args.no_demo_push {
        let sim = zkserver::demo::start_push(server.addr())
            .map_err(|e| format!("no se pudo iniciar el terminal push de la demo: {e}"))?;
        Some(sim)
    } else {
        None
    };
    announce(&format!(
        "zkserver {} listening on http://{} with {} device(s): {}",
        env!("CARGO_PKG_VERSION"),
        server.addr(),
        ids.len(),
        ids.join(", ")
    ));
    server.run_until(stop);
    log::info!("stopped");
    Ok(())
}
