//! The command line: the flags as clap parses them ([`Cli`], [`ServeArgs`];
//! [`crate::config`] checks them once), and clap's own errors (a flag's
//! value that does not parse, flags that cannot go together, an unknown
//! flag) said in Spanish, like zkserver's other startup errors: what is
//! wrong and what to change, naming the environment variable when that is
//! where the value came from.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Args, Parser, Subcommand};

/// HTTP/JSON server for ZKTeco time clocks.
#[derive(Parser, Debug)]
#[command(name = "zkserver", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: log::LevelFilter,
}

/// The server's flags (`zkserver [flags]`, `service install|run [flags]`),
/// as clap parsed them: [`crate::config::ServeConfig`] checks them.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Devices file (JSON object keyed by device id).
    #[arg(long, env = "DEVICES_FILE", default_value = "devices.json")]
    pub config: PathBuf,
    /// Address to listen on [default: 0.0.0.0; 127.0.0.1 with --demo].
    #[arg(long, env = "API_HOST")]
    pub host: Option<String>,
    /// Port to listen on.
    #[arg(long, env = "API_PORT", default_value_t = 5000)]
    pub port: u16,
    /// Seconds a request waits for a busy device before answering 503.
    #[arg(long, env = "LOCK_TIMEOUT", default_value_t = 30.0)]
    pub lock_timeout: f64,
    /// Serve three built-in simulated terminals (two pull, one push) instead of the devices file.
    #[arg(long)]
    pub demo: bool,
    /// With --demo, leave the push terminal silent (tests that count connections).
    #[arg(long, hide = true)]
    pub no_demo_push: bool,
    /// File holding the API key required for writes (POST/PUT/DELETE).
    #[arg(long, env = "API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Accept writes without an API key when none is configured (trusted LANs only).
    #[arg(long)]
    pub allow_open_writes: bool,
    /// Require the API key for reads too (`/health` stays open).
    #[arg(long)]
    pub protect_reads: bool,
    /// A reverse proxy (address or network, e.g. 127.0.0.1, 10.0.0.0/8) whose
    /// X-Real-IP / X-Forwarded-For name the client and whose Host is not
    /// checked; repeatable [default: 127.0.0.1 and ::1].
    #[arg(
        long = "trusted-proxy",
        env = "TRUSTED_PROXIES",
        value_name = "IP[/BITS]",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// Where push terminals may connect from (address or network, e.g.
    /// 203.0.113.7, 10.2.0.0/16), for devices without their own "allow_from";
    /// repeatable [default: each terminal is pinned to its first address].
    #[arg(
        long = "push-allow-from",
        env = "PUSH_ALLOW_FROM",
        value_name = "IP[/BITS]",
        value_delimiter = ','
    )]
    pub push_allow_from: Vec<String>,
    /// A name browsers reach this server by (besides IP addresses and
    /// localhost), e.g. relojes.lan; repeatable. Other names are refused.
    #[arg(
        long = "host-name",
        env = "HOST_NAMES",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub host_names: Vec<String>,
    /// Most client connections open at once: a quarter for push terminals, a
    /// quarter for event streams, the rest for API calls (a full share
    /// answers 503); the longest idle connection is closed to make room.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Event streams (/events) one client may hold open at once; all streams
    /// together take at most a quarter of --max-connections.
    #[arg(long, default_value_t = 8)]
    pub max_streams_per_client: usize,
    /// Seconds a client connection may stay idle between requests.
    #[arg(long, default_value_t = 60.0)]
    pub idle_timeout: f64,
    /// Seconds a client may take to send a request's headers (and between body pieces).
    #[arg(long, default_value_t = 15.0)]
    pub header_timeout: f64,
    /// Seconds a client may take no byte of an answer before it is dropped
    /// (also the base of the time allowed for a whole answer).
    #[arg(long, default_value_t = 30.0)]
    pub write_timeout: f64,
    /// Seconds a client may take to send a whole request, head and body.
    #[arg(long, default_value_t = 30.0)]
    pub request_timeout: f64,
    /// Seconds between reads of a watched terminal's log when no event came.
    #[arg(long, env = "RECONCILE_INTERVAL", default_value_t = 60.0)]
    pub reconcile_interval: f64,
    /// The punch journal (SQLite) [default: punches.db beside the devices file].
    #[arg(long, env = "JOURNAL_FILE")]
    pub journal: Option<PathBuf>,
    /// Webhook for every terminal without its own "webhook" (http:// or https://).
    #[arg(long, env = "WEBHOOK_URL")]
    pub webhook: Option<String>,
    /// Relay every push terminal's /iclock exchanges to this server (e.g. BioTime), which then sends their commands.
    #[arg(long, env = "PUSH_FORWARD")]
    pub push_forward: Option<String>,
    /// Seconds between push terminals' command polls (the handshake's Delay).
    #[arg(long, env = "PUSH_DELAY", default_value_t = 10)]
    pub push_delay: u32,
    /// Unknown push serials: "pending" (kept until registered) or "reject" (403).
    #[arg(long, env = "PUSH_UNKNOWN", default_value = "pending")]
    pub push_unknown: String,
    /// A second port serving only /iclock/* (push terminals), e.g. to publish through nginx.
    #[arg(long, env = "PUSH_PORT")]
    pub push_port: Option<u16>,
    /// Keep every pull terminal's punches in the journal (as "collect": true does for one).
    #[arg(long)]
    pub collect: bool,
    /// Seconds between two reads of a collected terminal's log.
    #[arg(long, default_value_t = 300.0)]
    pub collect_interval: f64,
    /// Seconds between two full checks of a pull terminal against the staff
    /// list (changes made at the terminal); list changes go at once.
    #[arg(long, default_value_t = 600.0)]
    pub people_interval: f64,
    /// Deliver every punch into this PostgreSQL database
    /// (postgresql://user:pass@host:port/db?sslmode=verify-full&sslrootcert=ca.pem).
    /// Prefer POSTGRES_URL or --postgres-file: a password here shows in `ps`.
    #[arg(long, env = "POSTGRES_URL", hide_env_values = true)]
    pub postgres: Option<String>,
    /// File holding the PostgreSQL URL (instead of --postgres).
    #[arg(long, env = "POSTGRES_FILE", conflicts_with = "postgres")]
    pub postgres_file: Option<PathBuf>,
    /// This server's name in the shared database [default: the host name].
    #[arg(long, env = "ZK_SITE")]
    pub site: Option<String>,
    /// The site name this journal was delivered as before: its rows in the
    /// database move to --site in one transaction (once; harmless after).
    #[arg(long, value_name = "OLD_SITE")]
    pub rename_site_from: Option<String>,
}

/// The subcommands besides serving.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a simulated terminal (TCP and UDP on one port); `punch [user_id]` on
    /// standard input makes a punch.
    Simulate(Box<super::simulate::SimulateArgs>),
    /// Diagnose a real terminal: connect, read its identity, counters and clock.
    Probe(super::probe::ProbeArgs),
    /// Print the SQL of the PostgreSQL tables (for an administrator who
    /// creates them before giving zkserver a role without CREATE rights).
    PostgresSchema,
    /// Windows service `zkserver`: install [server flags], uninstall, start,
    /// stop, status; `run` is what the service manager starts.
    Service(ServiceArgs),
}

/// `zkserver service <action>`.
#[derive(Args, Debug)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: Option<ServiceAction>,
}

/// What `zkserver service` does.
#[derive(Subcommand, Debug)]
pub enum ServiceAction {
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

/// The Spanish startup error for clap's `err`; `cmd` is the program's
/// command (`Cli::command()`), `argv` the arguments as typed (program
/// name first) and `env` reads an environment variable.
pub fn spanish(
    err: &clap::Error,
    cmd: &clap::Command,
    argv: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> String {
    let ctx = Context {
        err,
        cmd: active_command(cmd, argv),
        root: cmd,
        argv,
        env,
    };
    let text = match err.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => ctx.bad_value(),
        ErrorKind::ArgumentConflict => ctx.conflict(),
        ErrorKind::UnknownArgument => ctx.unknown("opción desconocida"),
        ErrorKind::InvalidSubcommand => ctx.unknown("subcomando desconocido"),
        ErrorKind::NoEquals => format!("{} necesita su valor tras '='", ctx.invalid_arg()),
        ErrorKind::TooManyValues => format!(
            "{} no admite el valor '{}'",
            ctx.invalid_arg(),
            ctx.string(ContextKind::InvalidValue)
        ),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!("{}: número de valores incorrecto", ctx.invalid_arg())
        }
        ErrorKind::MissingRequiredArgument => {
            format!("falta {}", ctx.strings(ContextKind::InvalidArg).join(", "))
        }
        ErrorKind::MissingSubcommand => format!(
            "falta la acción de '{}': use {}",
            ctx.string(ContextKind::InvalidSubcommand),
            ctx.strings(ContextKind::ValidSubcommand).join(", ")
        ),
        ErrorKind::InvalidUtf8 => "un argumento no es texto UTF-8 válido".into(),
        _ => "argumentos inválidos".into(),
    };
    format!("{text}. Vea zkserver --help.")
}

/// The subcommand `argv` runs (e.g. `simulate`), else the program itself.
fn active_command<'a>(root: &'a clap::Command, argv: &[OsString]) -> &'a clap::Command {
    let mut current = root;
    for word in argv.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(sub) = current.find_subcommand(word) {
            current = sub;
        }
    }
    current
}

/// An error and where to look up what it names.
struct Context<'a> {
    err: &'a clap::Error,
    cmd: &'a clap::Command,
    root: &'a clap::Command,
    argv: &'a [OsString],
    env: &'a dyn Fn(&str) -> Option<OsString>,
}

impl<'a> Context<'a> {
    /// One piece of the error's context, as text ("" when absent).
    fn string(&self, kind: ContextKind) -> String {
        self.strings(kind).join(", ")
    }

    /// A piece of the error's context that may hold several names.
    fn strings(&self, kind: ContextKind) -> Vec<String> {
        match self.err.get(kind) {
            Some(ContextValue::String(s)) => vec![s.clone()],
            Some(ContextValue::Strings(list)) => list.clone(),
            Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
            Some(ContextValue::Number(n)) => vec![n.to_string()],
            _ => Vec::new(),
        }
    }

    /// The flag the error is about, described with where its value came from.
    fn invalid_arg(&self) -> String {
        self.describe(&self.string(ContextKind::InvalidArg))
    }

    /// `--port` as typed, or `la variable de entorno API_PORT (--port)`
    /// when the value came from there; `shown` is clap's `--port <PORT>`.
    fn describe(&self, shown: &str) -> String {
        let flag = shown.split_whitespace().next().unwrap_or(shown);
        match self.env_source(flag) {
            Some(var) => format!("la variable de entorno {var} ({flag})"),
            None => flag.to_string(),
        }
    }

    /// The environment variable that gave `flag` its value: the flag has
    /// one, it is set and the flag is not on the command line.
    fn env_source(&self, flag: &str) -> Option<String> {
        let long = flag.strip_prefix("--")?;
        let arg = self.find_arg(long)?;
        let var = arg.get_env()?.to_str()?.to_string();
        let typed = self
            .argv
            .iter()
            .skip(1)
            .filter_map(|a| a.to_str())
            .any(|a| {
                a == flag
                    || a.strip_prefix(flag)
                        .is_some_and(|rest| rest.starts_with('='))
            });
        ((self.env)(&var).is_some() && !typed).then_some(var)
    }

    /// The argument named `--long`, in the subcommand or the program.
    fn find_arg(&self, long: &str) -> Option<&Arg> {
        let named =
            |cmd: &'a clap::Command| cmd.get_arguments().find(|a| a.get_long() == Some(long));
        named(self.cmd).or_else(|| named(self.root))
    }

    /// A value that is not one the flag takes: which, and what it takes.
    fn bad_value(&self) -> String {
        let shown = self.string(ContextKind::InvalidArg);
        let flag = shown
            .split_whitespace()
            .next()
            .unwrap_or(&shown)
            .to_string();
        let value = self.string(ContextKind::InvalidValue);
        let hint = self.expected(&flag);
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(": {hint}")
        };
        match self.env_source(&flag) {
            Some(var) if value.is_empty() => format!(
                "la variable de entorno {var} ({flag}) está vacía{hint}; corríjala o bórrela"
            ),
            Some(var) => format!(
                "valor inválido '{value}' en la variable de entorno {var} ({flag}){hint}; corríjala o bórrela"
            ),
            None if value.is_empty() => format!("falta el valor de {flag}{hint}"),
            None => format!("valor inválido '{value}' para {flag}{hint}"),
        }
    }

    /// What the flag takes: its possible values, else what its type reads.
    fn expected(&self, flag: &str) -> String {
        let valid = self.strings(ContextKind::ValidValue);
        if !valid.is_empty() {
            return format!("use {}", valid.join(", "));
        }
        let by_type = flag
            .strip_prefix("--")
            .and_then(|long| self.find_arg(long))
            .and_then(expected_by_type);
        if let Some(text) = by_type {
            return text.into();
        }
        // A value parser of our own explains itself.
        std::error::Error::source(self.err)
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Two flags that cannot go together (or one given twice).
    fn conflict(&self) -> String {
        let first = self.invalid_arg();
        let others: Vec<String> = self
            .strings(ContextKind::PriorArg)
            .iter()
            .map(|o| self.describe(o))
            .collect();
        if others.is_empty() || others.contains(&first) {
            return format!("{first} se indicó más de una vez: déjelo una sola vez");
        }
        format!(
            "{first} y {} no pueden usarse a la vez: deje uno de los dos",
            others.join(", ")
        )
    }

    /// An unknown flag or word, with clap's suggestion if it has one.
    fn unknown(&self, what: &str) -> String {
        let word = match self.err.kind() {
            ErrorKind::InvalidSubcommand => self.string(ContextKind::InvalidSubcommand),
            _ => self.string(ContextKind::InvalidArg),
        };
        let suggested = [ContextKind::SuggestedArg, ContextKind::SuggestedSubcommand]
            .into_iter()
            .map(|k| self.string(k))
            .find(|s| !s.is_empty());
        match suggested {
            Some(s) => format!("{what}: '{word}' (¿quiso decir {s}?)"),
            None => format!("{what}: '{word}'"),
        }
    }
}

/// What a value of the argument's type looks like, in Spanish.
fn expected_by_type(arg: &Arg) -> Option<&'static str> {
    use std::any::TypeId;
    let id = arg.get_value_parser().type_id();
    let table: [(TypeId, &'static str); 7] = [
        (
            TypeId::of::<u16>(),
            "se espera un número entero de 0 a 65535",
        ),
        (
            TypeId::of::<u32>(),
            "se espera un número entero de 0 a 4294967295",
        ),
        (TypeId::of::<u64>(), "se espera un número entero positivo"),
        (TypeId::of::<usize>(), "se espera un número entero positivo"),
        (TypeId::of::<i32>(), "se espera un número entero"),
        (
            TypeId::of::<f64>(),
            "se espera un número, por ejemplo 30 o 2.5",
        ),
        (
            TypeId::of::<log::LevelFilter>(),
            "use off, error, warn, info, debug o trace",
        ),
    ];
    table
        .into_iter()
        .find(|(t, _)| id == *t)
        .map(|(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(name = "zkserver")]
    struct Demo {
        #[arg(long, env = "ZK_TEST_PORT", default_value_t = 5000)]
        port: u16,
        #[arg(long, default_value_t = 1.0)]
        timeout: f64,
        #[arg(long, env = "ZK_TEST_URL")]
        url: Option<String>,
        #[arg(long, env = "ZK_TEST_FILE", conflicts_with = "url")]
        file: Option<String>,
        #[arg(long, default_value = "info")]
        level: log::LevelFilter,
    }

    /// What zkserver says for `args` typed on the command line, with
    /// `vars` as the environment this module sees.
    fn said(args: &[&str], vars: &[(&str, &str)]) -> String {
        let argv: Vec<OsString> = std::iter::once("zkserver")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        };
        let cmd = <Demo as clap::CommandFactory>::command();
        let err = cmd
            .clone()
            .try_get_matches_from_mut(argv.clone())
            .expect_err("a clap error");
        spanish(&err, &cmd, &argv, &env)
    }

    #[test]
    fn a_value_that_does_not_parse_says_what_the_flag_takes() {
        let text = said(&["--port", "abc"], &[]);
        assert_eq!(
            text,
            "valor inválido 'abc' para --port: se espera un número entero de 0 a 65535. Vea zkserver --help."
        );
        let text = said(&["--timeout=mucho"], &[]);
        assert!(
            text.contains("'mucho' para --timeout: se espera un número"),
            "{text}"
        );
        let text = said(&["--level", "todo"], &[]);
        assert!(text.contains("use off, error, warn"), "{text}");
        let text = said(&["--port", ""], &[]);
        assert!(text.contains("--port"), "{text}");
        assert!(!text.contains("invalid"), "{text}");
    }

    #[test]
    fn a_typed_value_is_not_blamed_on_the_environment() {
        let text = said(&["--port", "x"], &[("ZK_TEST_PORT", "1")]);
        assert!(!text.contains("ZK_TEST_PORT"), "{text}");
        let text = said(&["--port=x"], &[("ZK_TEST_PORT", "1")]);
        assert!(!text.contains("ZK_TEST_PORT"), "{text}");
    }

    #[test]
    fn conflicts_and_unknown_flags_are_spanish() {
        let text = said(&["--url", "a", "--file", "b"], &[]);
        assert!(text.contains("no pueden usarse a la vez"), "{text}");
        assert!(text.contains("--url") && text.contains("--file"), "{text}");
        let text = said(&["--prot", "1"], &[]);
        assert!(text.contains("opción desconocida: '--prot'"), "{text}");
        assert!(text.contains("--port"), "suggested: {text}");
        for english in ["cannot be used", "unexpected", "invalid"] {
            assert!(!text.contains(english), "{text}");
        }
    }
}
