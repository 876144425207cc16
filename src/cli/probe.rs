//! `zkserver probe`: diagnoses a real terminal (identity, counters, clock, a
//! full download) and optionally prints its punches live.

use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Args;

use super::{CliError, ProbeStep};

use crate::zk::{ConnectOptions, Session};

/// Options of `zkserver probe`.
#[derive(Args, Debug)]
pub struct ProbeArgs {
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

/// The error of `step` failing with the protocol's `error`.
fn failed(step: ProbeStep) -> impl Fn(crate::zk::Error) -> CliError {
    move |error| CliError::Probe { step, error }
}

/// Connects to the terminal, prints what it reports, then exits (or watches).
pub fn run(a: &ProbeArgs) -> Result<(), CliError> {
    let opts = ConnectOptions {
        host: a.ip.clone(),
        port: a.port,
        password: a.password,
        timeout: Duration::from_secs_f64(a.timeout.clamp(0.1, 300.0)),
        udp: a.udp,
        operation_limit: crate::zk::DEFAULT_OPERATION_LIMIT,
    };
    let transport = if a.udp { "UDP" } else { "TCP" };
    println!(
        "probing {} over {transport} (timeout {}s)",
        opts.address(),
        a.timeout
    );
    let started = std::time::Instant::now();
    let mut s = Session::connect(&opts).map_err(failed(ProbeStep::Connect))?;
    println!("  connected in {:?}", started.elapsed());
    let show = |label: &str, v: Result<Option<String>, crate::zk::Error>| match v {
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
        let mut d = s.disable().map_err(failed(ProbeStep::Disable))?;
        let log = d.read_attendance();
        d.finish().map_err(failed(ProbeStep::Enable))?;
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
    s.exit().map_err(failed(ProbeStep::Exit))?;
    println!("ok");
    Ok(())
}

/// `probe --watch`: registers for realtime attendance events and prints
/// each punch as it happens, until Ctrl+C (then unregisters and exits).
fn watch(mut s: Session) -> Result<(), CliError> {
    use crate::zk::events::EF_ATTLOG;
    let stop = super::stop_flag()?;
    s.register_events(u32::from(EF_ATTLOG))
        .map_err(failed(ProbeStep::RegisterEvents))?;
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
            Err(e) => return Err(failed(ProbeStep::Watch)(e)),
        }
    }
    let _ = s.register_events(0);
    s.exit().map_err(failed(ProbeStep::Exit))?;
    println!("stopped");
    Ok(())
}
