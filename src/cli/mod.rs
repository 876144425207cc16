//! The command line's tools besides the server: `simulate`, `probe` and
//! `service` (Windows).
//! `main.rs` only parses arguments and dispatches here.

pub mod args;
pub mod probe;
pub mod service;
pub mod simulate;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Why a command-line tool stopped; [`crate::messages::cli`] says it.
#[derive(Debug)]
pub enum CliError {
    /// The handler of SIGTERM/SIGINT (Ctrl+C on Windows) could not be
    /// installed: the system's words.
    Signals(String),
    /// `simulate`: `--host` and `--port` make no socket address.
    BadAddress {
        /// `--host`.
        host: String,
        /// `--port`.
        port: u16,
    },
    /// `simulate`: the simulated terminal could not start.
    Simulator {
        /// Where it was to listen.
        bind: SocketAddr,
        /// Why not.
        error: std::io::Error,
    },
    /// `simulate --push`: `--sn` is no serial number.
    BadSerial(String),
    /// `simulate --push`: the server is no `http://` URL.
    BadPushServer(String),
    /// `simulate --push`: the push terminal could not start.
    PushSimulator(std::io::Error),
    /// `probe`: a step with the terminal failed.
    Probe {
        /// Which step.
        step: ProbeStep,
        /// The protocol's error.
        error: crate::zk::Error,
    },
}

/// A step of `probe` that ends it when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStep {
    /// Connecting.
    Connect,
    /// Disabling the terminal to read its log.
    Disable,
    /// Enabling it again.
    Enable,
    /// Saying goodbye.
    Exit,
    /// Registering for realtime events (`--watch`).
    RegisterEvents,
    /// Waiting for events (`--watch`).
    Watch,
}

impl std::fmt::Display for CliError {
    /// The catalogue's sentence.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::messages::cli::cli_error(self))
    }
}

impl std::error::Error for CliError {}

/// A flag that SIGTERM and SIGINT set.
#[cfg(unix)]
pub fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| CliError::Signals(e.to_string()))?;
    }
    Ok(stop)
}

/// A flag that the console's control events set: Ctrl+C, Ctrl+Break, the
/// console window closed, logoff and shutdown (`SetConsoleCtrlHandler`,
/// through the `ctrlc` crate). One handler per process: every call returns
/// the same flag.
#[cfg(windows)]
pub fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    use std::sync::atomic::Ordering;
    use std::sync::OnceLock;
    static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    if let Some(stop) = STOP.get() {
        return Ok(stop.clone());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| CliError::Signals(e.to_string()))?;
    Ok(STOP.get_or_init(|| stop).clone())
}
