//! `zkserver`: the entry. Parses the command line ([`zkserver::cli::args`]),
//! checks the server's flags once ([`zkserver::config`]), starts what they
//! describe and serves until a signal; the other subcommands run in `cli`.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use zkserver::cli::args::{Cli, Command, ServeArgs, ServiceAction};
use zkserver::cli::{self, probe, simulate};
use zkserver::config::{ServeConfig, StartupError};
use zkserver::demo::Demo;
use zkserver::http::App;
use zkserver::journal::{Journal, JournalLock};
use zkserver::registry::Registry;
use zkserver::server::Server;
use zkserver::services::{Services, Settings};

/// The time as the logger writes it.
fn log_time() -> impl std::fmt::Display {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ")
}

fn main() {
    let cli = parse_command_line();
    let _log = zkserver::logging::init(cli.log_level);
    let result = match cli.command {
        Some(Command::Simulate(args)) => simulate::run(&args).map_err(|e| e.to_string()),
        Some(Command::Probe(args)) => probe::run(&args).map_err(|e| e.to_string()),
        Some(Command::PostgresSchema) => {
            print!("{}", zkserver::postgres::schema::sql());
            Ok(())
        }
        Some(Command::Service(args)) => service(args.action),
        None => cli::stop_flag()
            .map_err(|e| e.to_string())
            .and_then(|stop| serve(cli.serve, &stop).map_err(|e| e.to_string())),
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

/// `zkserver service …` outside Windows: a clear error, exit code 2.
#[cfg(not(windows))]
fn service(_action: Option<ServiceAction>) -> Result<(), String> {
    zkserver::logging::flush();
    eprintln!(
        "{} [ERROR] zkserver: {}",
        log_time(),
        zkserver::messages::cli::SERVICE_NOT_WINDOWS
    );
    std::process::exit(2);
}

/// `zkserver service …`: the Windows service.
#[cfg(windows)]
fn service(action: Option<ServiceAction>) -> Result<(), String> {
    use zkserver::cli::service as svc;
    let done = match action {
        Some(ServiceAction::Install(_)) => svc::install(&svc::install_flags()),
        Some(ServiceAction::Uninstall) => svc::uninstall(),
        Some(ServiceAction::Start) => svc::start(),
        Some(ServiceAction::Stop) => svc::stop(),
        Some(ServiceAction::Status) => svc::status(),
        Some(ServiceAction::Run(args)) => {
            let args = svc::with_data_key(*args);
            let run = svc::run(Box::new(move |stop| {
                serve(args, &stop).map_err(|e| e.to_string())
            }));
            return run.map_err(|e| e.to_string());
        }
        None => return Err(zkserver::messages::cli::SERVICE_MISSING_ACTION.into()),
    };
    println!("{}", done.map_err(|e| e.to_string())?);
    Ok(())
}

/// Serves what `args` describe until `stop` becomes true.
fn serve(args: ServeArgs, stop: &AtomicBool) -> Result<(), StartupError> {
    let config = ServeConfig::from_args(args)?;
    let demo = config.demo.map(|_| zkserver::demo::start());
    let demo = demo.transpose().map_err(StartupError::Demo)?;
    let registry = match &demo {
        Some(demo) => demo.registry.clone(),
        None => Arc::new(Registry::load(&config.devices_file).map_err(StartupError::Devices)?),
    };
    let (journal, _journal_lock) = open_journal(&config.journal_file)?;
    log::info!("{}", config.access());
    let ids = registry.ids();
    let app = app(&config, registry, journal, demo.as_ref());
    let mut server = Server::bind_with(&config.listen_addr(), app, config.limits.clone())?;
    if let Some(addr) = config.push_addr() {
        let push_addr = server.add_push_listener(&addr)?;
        zkserver::logging::announce(&format!(
            "push terminals (/iclock only) also on http://{push_addr}"
        ));
    }
    let _push_demo = match config.demo {
        Some(mode) if mode.push_terminal => {
            Some(zkserver::demo::start_push(server.addr()).map_err(StartupError::DemoPush)?)
        }
        _ => None,
    };
    // People and scripts need to see where the server listens.
    zkserver::logging::announce(&format!(
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

/// The HTTP application over `registry` and `journal`, as `config` says.
fn app(
    config: &ServeConfig,
    registry: Arc<Registry>,
    journal: Arc<Journal>,
    demo: Option<&Demo>,
) -> App {
    let mut settings = Settings {
        push_forward: config.push_forward.clone(),
        journal: Some(journal),
        push: config.push.clone(),
        reconcile_interval: config.reconcile_interval,
        webhook: config.webhook.clone(),
        state_file: config.state_file.clone(),
        demo: demo.map(|d| d.terminals.clone()),
        collect: config.collect,
        postgres: config.postgres.clone(),
        people_interval: config.people_interval,
        ..Settings::default()
    };
    settings.budget.lock_timeout = config.lock_timeout;
    App::new(Services::start(registry, settings), config.security.clone())
}

/// Locks and opens the journal (creating it and its folder if needed); a
/// journal another zkserver holds, or a file that is not a zkserver
/// journal, is a startup error naming it, never replaced. The lock is
/// held as long as the returned guard lives.
fn open_journal(path: &Path) -> Result<(Arc<Journal>, JournalLock), StartupError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        zkserver::journal::create_private_dir(dir).map_err(|error| {
            StartupError::JournalFolder {
                path: dir.to_path_buf(),
                error,
            }
        })?;
    }
    let lock = JournalLock::acquire(path).map_err(|e| {
        log::error!("{e}");
        StartupError::JournalLocked(e)
    })?;
    let journal = Journal::open(path).map_err(|e| {
        log::error!("{e}");
        StartupError::JournalNotOpened(e)
    })?;
    let held = lock.path().display();
    log::info!(
        "punch journal: {} (held by this process: {held})",
        path.display()
    );
    Ok((Arc::new(journal), lock))
}
