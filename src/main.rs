//! `zkserver`: command line, logging, signals and the server loop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use zkserver::http::{App, Settings};
use zkserver::registry::Registry;
use zkserver::server::Server;
use zkserver::sim::{Faults, OffsetMode, SimConfig, Simulator, TcpFraming};
use zkserver::zk::{AttFormat, ConnectOptions, Session, UserFormat};

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
    /// Serve two built-in simulated terminals instead of the devices file.
    #[arg(long)]
    demo: bool,
    /// File holding the API key required for writes (POST/PUT/DELETE).
    #[arg(long, env = "API_KEY_FILE")]
    api_key_file: Option<PathBuf>,
    /// Accept writes without an API key when none is configured (trusted LANs only).
    #[arg(long)]
    allow_open_writes: bool,
    /// Require the API key for reads too (`/health` stays open).
    #[arg(long)]
    protect_reads: bool,
    /// Most client connections open at once (more get a 503).
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Seconds a client connection may stay idle between requests.
    #[arg(long, default_value_t = 60.0)]
    idle_timeout: f64,
    /// Seconds a client may take to send a request's headers (and between body pieces).
    #[arg(long, default_value_t = 15.0)]
    header_timeout: f64,
    /// Seconds a client may take to send a whole request, head and body.
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
    /// Seconds between reads of a watched terminal's log when no event came.
    #[arg(long, env = "RECONCILE_INTERVAL", default_value_t = 60.0)]
    reconcile_interval: f64,
    /// Webhook for every terminal without its own "webhook" (http:// or https://).
    #[arg(long, env = "WEBHOOK_URL")]
    webhook: Option<String>,
}

/// The API key from `--api-key-file`, else the `API_KEY` variable.
fn load_api_key(file: Option<&PathBuf>) -> Result<Option<String>, String> {
    let key = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("no se pudo leer la clave API de {}: {e}", path.display()))?;
            let key = text.trim().to_string();
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
    Simulate(SimulateArgs),
    /// Diagnose a real terminal: connect, read its identity, counters and clock.
    Probe(ProbeArgs),
}

#[derive(Args, Debug)]
struct SimulateArgs {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 4370)]
    port: u16,
    /// Number of punches.
    #[arg(long, default_value_t = 1000)]
    records: usize,
    /// Number of users.
    #[arg(long, default_value_t = 20)]
    users: usize,
    /// Attendance record size: 8, 16, 40 or 49.
    #[arg(long, default_value = "40", value_parser = attendance_format)]
    att_format: AttFormat,
    /// User record size: 28 or 72.
    #[arg(long, default_value = "72", value_parser = user_format)]
    user_format: UserFormat,
    /// Comm key (0 = none).
    #[arg(long, default_value_t = 0)]
    comm_key: u32,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Datasets up to this many bytes are answered inline.
    #[arg(long, default_value_t = 1024)]
    inline_threshold: usize,
    /// Send each READ_BUFFER chunk as one DATA frame instead of 1008-byte frames.
    #[arg(long)]
    single_frame: bool,
    /// Put an impossible date (Feb 31) on every n-th punch.
    #[arg(long, default_value_t = 0)]
    bad_date_every: usize,
    /// Fault: write TCP replies in random pieces of 1..=N bytes.
    #[arg(long, default_value_t = 0)]
    split_writes: usize,
    /// Fault: delay before every packet, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fault: stall this many seconds in the middle of a transfer.
    #[arg(long)]
    stall_secs: Option<f64>,
    /// Fault: close the connection in the middle of a transfer.
    #[arg(long)]
    close_mid_transfer: bool,
    /// Fault: answer ACK_ERROR to this command code (e.g. 1503).
    #[arg(long)]
    ack_error: Option<u16>,
    /// Fault: never answer this command code (e.g. 1503, like firmware without it).
    #[arg(long)]
    no_reply_to: Option<u16>,
    /// Fault: drop every n-th UDP datagram.
    #[arg(long, default_value_t = 0)]
    udp_drop_every: u32,
    /// Fault: duplicate every n-th UDP datagram.
    #[arg(long, default_value_t = 0)]
    udp_duplicate_every: u32,
    /// Fault: add this to the record count GET_FREE_SIZES reports.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    count_skew: i32,
    /// Fault: demand AUTH even without a comm key (newer firmware).
    #[arg(long)]
    always_auth: bool,
    /// Print the users and punches a client must read, as JSON, and exit.
    #[arg(long)]
    dump: bool,
    /// Make a punch every this many seconds (live punches for streams).
    #[arg(long)]
    punch_every: Option<f64>,
    /// Serve one TCP connection at a time, as many terminals do.
    #[arg(long)]
    one_connection: bool,
    /// Accept REG_EVENT but never send realtime events (old firmware).
    #[arg(long)]
    no_events: bool,
    /// Unaligned READ_BUFFER offsets: exact, refuse or round-down.
    #[arg(long, default_value = "exact", value_parser = offset_mode)]
    offsets: OffsetMode,
}

#[derive(Args, Debug)]
struct ProbeArgs {
    /// Terminal IP address or host name.
    ip: String,
    #[arg(long, default_value_t = 4370)]
    port: u16,
    /// Comm key.
    #[arg(long, default_value_t = 0)]
    password: u32,
    /// Use UDP.
    #[arg(long)]
    udp: bool,
    /// Seconds per phase.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// After the checks, print punches as they happen (until Ctrl+C).
    #[arg(long)]
    watch: bool,
}

fn attendance_format(s: &str) -> Result<AttFormat, String> {
    s.parse()
        .ok()
        .and_then(|n: usize| AttFormat::KNOWN.into_iter().find(|f| f.size() == n))
        .ok_or_else(|| "use 8, 16, 40 or 49".into())
}

fn offset_mode(s: &str) -> Result<OffsetMode, String> {
    match s {
        "exact" => Ok(OffsetMode::Exact),
        "refuse" => Ok(OffsetMode::RefuseUnaligned),
        "round-down" => Ok(OffsetMode::RoundDown),
        _ => Err("use exact, refuse or round-down".into()),
    }
}

fn user_format(s: &str) -> Result<UserFormat, String> {
    s.parse()
        .ok()
        .and_then(UserFormat::from_size)
        .ok_or_else(|| "use 28 or 72".into())
}

/// `<devices file>.state.json`: where webhook positions are kept.
fn state_file_for(devices: &std::path::Path) -> PathBuf {
    let mut name = devices.as_os_str().to_os_string();
    name.push(".state.json");
    PathBuf::from(name)
}

/// A flag that SIGTERM and SIGINT set.
fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("no se pudo instalar el manejador de señales: {e}"))?;
    }
    Ok(stop)
}

/// Writes an INFO line in the logger's format whatever the log level:
/// people and scripts need to see where the server listens.
fn announce(message: &str) {
    eprintln!("{} [INFO] {message}", log_time());
}

/// The time as the logger writes it.
fn log_time() -> impl std::fmt::Display {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ")
}

fn main() {
    let cli = Cli::parse();
    let _log = zkserver::logging::init(cli.log_level);
    let result = match cli.command {
        Some(Command::Simulate(args)) => simulate(args),
        Some(Command::Probe(args)) => probe(args),
        None => serve(cli.serve),
    };
    if let Err(msg) = result {
        // One line, in the log's format, whatever the log level.
        zkserver::logging::flush();
        eprintln!("{} [ERROR] zkserver: {msg}", log_time());
        std::process::exit(1);
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let mut _demo = None;
    let registry = if args.demo {
        let demo =
            zkserver::demo::start().map_err(|e| format!("no se pudo iniciar el modo demo: {e}"))?;
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
    let webhook = args.webhook.filter(|w| !w.trim().is_empty());
    if let Some(url) = &webhook {
        zkserver::url::validate_webhook_url(url).map_err(|e| format!("--webhook: {e}"))?;
    }
    let mut settings = Settings {
        reconcile_interval: seconds("reconcile-interval", args.reconcile_interval)?,
        webhook,
        // Beside the devices file; the demo keeps positions in memory.
        state_file: (!args.demo).then(|| state_file_for(&args.config)),
        ..Settings::default()
    };
    settings.budget.lock_timeout = Duration::from_secs_f64(args.lock_timeout);
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
    settings.security = zkserver::http::auth::Security {
        api_key,
        allow_open_writes: args.allow_open_writes,
        protect_reads: args.protect_reads,
    };
    let app = App::new(registry, settings);
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
        ..Default::default()
    };
    let server = Server::bind_with(&addr, app, limits)?;
    let stop = stop_flag()?;
    announce(&format!(
        "zkserver {} listening on http://{} with {} device(s): {}",
        env!("CARGO_PKG_VERSION"),
        server.addr(),
        ids.len(),
        ids.join(", ")
    ));
    server.run_until(&stop);
    log::info!("stopped");
    Ok(())
}

fn simulate(a: SimulateArgs) -> Result<(), String> {
    let bind = format!("{}:{}", a.host, a.port)
        .parse()
        .map_err(|e| format!("dirección inválida {}:{}: {e}", a.host, a.port))?;
    let config = SimConfig {
        bind,
        records: a.records,
        users: a.users,
        attendance_format: a.att_format,
        user_format: a.user_format,
        comm_key: a.comm_key,
        seed: a.seed,
        inline_threshold: a.inline_threshold,
        tcp_framing: if a.single_frame {
            TcpFraming::Single
        } else {
            TcpFraming::Multi
        },
        bad_date_every: a.bad_date_every,
        faults: Faults {
            split_writes: a.split_writes,
            latency: Duration::from_millis(a.latency_ms),
            stall: a.stall_secs.map(Duration::from_secs_f64),
            close_mid_transfer: a.close_mid_transfer,
            ack_error_for: a.ack_error,
            no_reply_to: a.no_reply_to,
            udp_drop_every: a.udp_drop_every,
            udp_duplicate_every: a.udp_duplicate_every,
            count_skew: a.count_skew,
            always_auth: a.always_auth,
            silent: false,
        },
        punch_every: a
            .punch_every
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64),
        one_connection: a.one_connection,
        events: !a.no_events,
        offset_mode: a.offsets,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config)
        .map_err(|e| format!("no se pudo iniciar el simulador en {bind}: {e}"))?;
    if a.dump {
        println!("{}", dump_json(&sim));
        return Ok(());
    }
    let stop = stop_flag()?;
    println!(
        "simulated terminal on {} (TCP+UDP): {} punches ({}-byte), {} users ({}-byte), comm key {}",
        sim.addr(),
        a.records,
        a.att_format.size(),
        a.users,
        a.user_format.size(),
        a.comm_key
    );
    // Lines on standard input act on the terminal: `punch [user_id]`.
    let (lines, commands) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    while !stop.load(Ordering::SeqCst) {
        let Ok(line) = commands.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["punch"] => println!("punch {}", sim.punch(None).user_id),
            ["punch", user] => println!("punch {}", sim.punch(Some(user)).user_id),
            [] => {}
            _ => println!("unknown command (use: punch [user_id])"),
        }
    }
    if sim.is_disabled() {
        println!("note: the terminal was left DISABLED by a client");
    }
    Ok(())
}

/// The simulator's contents as a client must read them (for conformance checks).
fn dump_json(sim: &Simulator) -> serde_json::Value {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let users: Vec<serde_json::Value> = sim
        .expected_users()
        .iter()
        .map(|u| {
            serde_json::json!({"uid": u.uid, "user_id": u.user_id, "name_hex": hex(&u.name),
                               "privilege": u.privilege, "card": u.card})
        })
        .collect();
    let attendance: Vec<serde_json::Value> = sim
        .expected_attendance()
        .iter()
        .map(|a| {
            serde_json::json!({"user_id": a.user_id, "timestamp": a.time.to_string(),
                               "status": a.status, "punch": a.punch})
        })
        .collect();
    serde_json::json!({"users": users, "attendance": attendance})
}

fn probe(a: ProbeArgs) -> Result<(), String> {
    let opts = ConnectOptions {
        host: a.ip.clone(),
        port: a.port,
        password: a.password,
        timeout: Duration::from_secs_f64(a.timeout.clamp(0.1, 300.0)),
        udp: a.udp,
        operation_limit: zkserver::zk::DEFAULT_OPERATION_LIMIT,
    };
    let transport = if a.udp { "UDP" } else { "TCP" };
    println!(
        "probing {} over {transport} (timeout {}s)",
        opts.address(),
        a.timeout
    );
    let started = std::time::Instant::now();
    let mut s = Session::connect(&opts).map_err(|e| format!("connect failed: {e}"))?;
    println!("  connected in {:?}", started.elapsed());
    let show = |label: &str, v: Result<Option<String>, zkserver::zk::Error>| match v {
        Ok(Some(v)) => println!("  {label:<16} {v}"),
        Ok(None) => println!("  {label:<16} (not reported)"),
        Err(e) => println!("  {label:<16} error: {e}"),
    };
    show("firmware", s.firmware_version().map(Some));
    for key in ["~SerialNumber", "~DeviceName", "~Platform", "~ZKFPVersion"] {
        let v = s.option(key);
        show(key.trim_start_matches('~'), v);
    }
    show("device time", s.get_time().map(|t| Some(t.to_string())));
    match s.sizes() {
        Ok(z) => println!(
            "  users {}/{}  fingers {}/{}  records {}/{}",
            z.users, z.users_cap, z.fingers, z.fingers_cap, z.records, z.records_cap
        ),
        Err(e) => println!("  sizes error: {e}"),
    }
    let t = std::time::Instant::now();
    let log = {
        let mut d = s.disable().map_err(|e| format!("disable failed: {e}"))?;
        let log = d.read_attendance();
        d.finish().map_err(|e| format!("re-enable failed: {e}"))?;
        log
    };
    match log {
        Ok(log) => println!(
            "  attendance       {} records of {} bytes downloaded in {:?}",
            log.records.len(),
            log.format.size(),
            t.elapsed()
        ),
        Err(e) => println!("  attendance       error: {e}"),
    }
    if a.watch {
        return watch(s);
    }
    s.exit().map_err(|e| format!("exit failed: {e}"))?;
    println!("ok");
    Ok(())
}

/// `probe --watch`: registers for realtime attendance events and prints
/// each punch as it happens, until Ctrl+C (then unregisters and exits).
fn watch(mut s: Session) -> Result<(), String> {
    use zkserver::zk::events::EF_ATTLOG;
    let stop = stop_flag()?;
    s.register_events(u32::from(EF_ATTLOG))
        .map_err(|e| format!("the terminal refused realtime events: {e}"))?;
    println!(
        "watching {}: punch at the terminal (Ctrl+C to stop)",
        s.address()
    );
    while !stop.load(Ordering::SeqCst) {
        match s.next_event(Duration::from_millis(200)) {
            Ok(Some(event)) if event.flag == EF_ATTLOG && event.punches.is_empty() => {
                println!("  attendance event with an unknown payload");
            }
            Ok(Some(event)) => {
                for p in event.punches {
                    println!(
                        "  {}  user {:<10} verify {:<3} state {}",
                        p.time, p.user_id, p.status, p.punch
                    );
                }
            }
            Ok(None) => {}
            Err(e) => return Err(format!("the link to the terminal failed: {e}")),
        }
    }
    let _ = s.register_events(0);
    s.exit().map_err(|e| format!("exit failed: {e}"))?;
    println!("stopped");
    Ok(())
}
