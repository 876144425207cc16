//! The command line's tools besides the server: `simulate`, `probe` and
//! `service` (Windows).
//! `main.rs` only parses arguments and dispatches here.

pub mod args;
pub mod probe;
pub mod service;
pub mod simulate;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A flag that SIGTERM and SIGINT set.
#[cfg(unix)]
pub fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("no se pudo instalar el manejador de señales: {e}"))?;
    }
    Ok(stop)
}

/// A flag that the console's control events set: Ctrl+C, Ctrl+Break, the
/// console window closed, logoff and shutdown (`SetConsoleCtrlHandler`,
/// through the `ctrlc` crate). One handler per process: every call returns
/// the same flag.
#[cfg(windows)]
pub fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    use std::sync::atomic::Ordering;
    use std::sync::OnceLock;
    static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    if let Some(stop) = STOP.get() {
        return Ok(stop.clone());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| format!("no se pudo instalar el manejador de Ctrl+C: {e}"))?;
    Ok(STOP.get_or_init(|| stop).clone())
}
