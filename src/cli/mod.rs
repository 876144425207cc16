//! The command line's tools besides the server: `simulate` and `probe`.
//! `main.rs` only parses arguments and dispatches here.

pub mod probe;
pub mod simulate;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A flag that SIGTERM and SIGINT set.
pub fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("no se pudo instalar el manejador de señales: {e}"))?;
    }
    Ok(stop)
}
