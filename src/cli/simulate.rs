//! `zkserver simulate`: a simulated terminal on a port, for tests, demos and
//! trying clients without hardware.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::messages::cli::Choices;

use crate::sim::{Faults, OffsetMode, SimConfig, Simulator, TcpFraming};
use crate::zk::{AttFormat, UserFormat};

/// Options of `zkserver simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
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
    /// Run a push (ADMS/iclock) terminal instead, uploading to this server URL (http://host:port).
    #[arg(long, requires = "sn")]
    push: Option<String>,
    /// The push terminal's serial number (with --push).
    #[arg(long)]
    sn: Option<String>,
    /// Lines per ATTLOG upload of the push terminal.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Seconds the push terminal waits after a refused upload [default: the server's ErrorDelay].
    #[arg(long)]
    retry_after: Option<f64>,
    /// Seconds between the push terminal's command polls [default: the server's Delay].
    #[arg(long)]
    poll_every: Option<f64>,
}

fn attendance_format(s: &str) -> Result<AttFormat, Choices> {
    s.parse()
        .ok()
        .and_then(|n: usize| AttFormat::KNOWN.into_iter().find(|f| f.size() == n))
        .ok_or(Choices::AttendanceSizes)
}

fn offset_mode(s: &str) -> Result<OffsetMode, Choices> {
    match s {
        "exact" => Ok(OffsetMode::Exact),
        "refuse" => Ok(OffsetMode::RefuseUnaligned),
        "round-down" => Ok(OffsetMode::RoundDown),
        _ => Err(Choices::OffsetModes),
    }
}

fn user_format(s: &str) -> Result<UserFormat, Choices> {
    s.parse()
        .ok()
        .and_then(UserFormat::from_size)
        .ok_or(Choices::UserSizes)
}

/// Runs the simulated terminal until SIGTERM/SIGINT (or prints its data with `--dump`).
pub fn run(a: &SimulateArgs) -> Result<(), CliError> {
    if let Some(server) = &a.push {
        return run_push(a, server);
    }
    let bind = format!("{}:{}", a.host, a.port)
        .parse()
        .map_err(|_| CliError::BadAddress {
            host: a.host.clone(),
            port: a.port,
        })?;
    let config = sim_config(a, bind);
    let sim = Simulator::start(config).map_err(|error| CliError::Simulator { bind, error })?;
    if a.dump {
        println!("{}", dump_json(&sim));
        return Ok(());
    }
    let stop = super::stop_flag()?;
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
    let commands = stdin_lines();
    while !stop.load(Ordering::SeqCst) {
        let Some(line) = next_line(&commands) else {
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

/// The simulated terminal the flags describe, listening on `bind`.
fn sim_config(a: &SimulateArgs, bind: std::net::SocketAddr) -> SimConfig {
    SimConfig {
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
            close_on: None,
        },
        punch_every: a
            .punch_every
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64),
        one_connection: a.one_connection,
        events: !a.no_events,
        offset_mode: a.offsets,
        ..SimConfig::default()
    }
}

/// Runs a simulated push terminal until SIGTERM/SIGINT; `punch [user_id]`
/// on standard input makes a punch.
fn run_push(a: &SimulateArgs, server: &str) -> Result<(), CliError> {
    let sn = a.sn.clone().unwrap_or_default();
    if !crate::registry::valid_serial(&sn) {
        return Err(CliError::BadSerial(sn));
    }
    if !server.starts_with("http://") {
        return Err(CliError::BadPushServer(server.to_string()));
    }
    let secs = |v: Option<f64>| v.filter(|s| *s > 0.0).map(Duration::from_secs_f64);
    let mut cfg = crate::sim::push::PushSimConfig::new(server, &sn);
    cfg.records = a.records;
    cfg.users = a.users;
    cfg.batch = a.batch.max(1);
    cfg.punch_every = secs(a.punch_every);
    cfg.retry_after = secs(a.retry_after);
    cfg.poll_every = secs(a.poll_every);
    let stop = super::stop_flag()?;
    let sim = crate::sim::push::PushSim::start(cfg).map_err(CliError::PushSimulator)?;
    println!(
        "simulated push terminal SN {sn} -> {server}: {} punches in the backlog, {} users",
        a.records, a.users
    );
    let commands = stdin_lines();
    let mut reported = u64::MAX;
    while !stop.load(Ordering::SeqCst) {
        let acknowledged = sim.stats().acknowledged.load(Ordering::SeqCst);
        if acknowledged != reported && sim.unsent() == 0 {
            println!("acknowledged {acknowledged}");
            reported = acknowledged;
        }
        let Some(line) = next_line(&commands) else {
            continue;
        };
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["punch"] => sim.punch("1"),
            ["punch", user] => sim.punch(user),
            [] => {}
            _ => println!("unknown command (use: punch [user_id])"),
        }
    }
    sim.stop();
    Ok(())
}

/// The lines of standard input, read by a thread of their own.
fn stdin_lines() -> Receiver<String> {
    let (lines, commands) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    commands
}

/// How long the command loop waits for a line before it looks at the stop
/// flag again.
const LINE_WAIT: Duration = Duration::from_millis(100);

/// The next line of standard input, waiting at most [`LINE_WAIT`]. Once
/// standard input is closed (a service, `&`, `</dev/null`) the channel
/// answers at once, so it sleeps instead: an idle simulator uses no CPU.
fn next_line(commands: &Receiver<String>) -> Option<String> {
    match commands.recv_timeout(LINE_WAIT) {
        Ok(line) => Some(line),
        Err(RecvTimeoutError::Timeout) => None,
        Err(RecvTimeoutError::Disconnected) => {
            std::thread::sleep(LINE_WAIT);
            None
        }
    }
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
    // Synthetic templates (never a person's), for pyzk to compare byte for byte.
    let templates: Vec<serde_json::Value> = sim.with_state(|st| {
        st.templates
            .iter()
            .map(|t| {
                serde_json::json!({"uid": t.uid, "finger": t.finger, "valid": t.valid,
                                   "template_hex": hex(&t.data)})
            })
            .collect()
    });
    serde_json::json!({"users": users, "attendance": attendance, "templates": templates})
}
