//! A ZKTeco terminal simulator: TCP and UDP on one port, configurable record
//! formats and comm key, deterministic data, and fault injection. Used by the
//! tests, the benchmark, `--demo` and `zkserver simulate`.

mod answer;
mod data;
mod device;
pub mod faces;
mod net;
pub mod push;
mod templates;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub use data::Rng;

use crate::zk::records::{self, AttFormat, Attendance, Template, User, UserFormat};

/// How DATA replies to READ_BUFFER are framed over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFraming {
    /// Frames of at most 1008 bytes, frame index in the session field (pyzk captures).
    Multi,
    /// One DATA frame carrying the whole chunk (pyzatt's F19).
    Single,
}

/// Faults to inject; can be changed while the simulator runs.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Write TCP replies in random segments of 1..=n bytes (0 = whole writes).
    pub split_writes: usize,
    /// Delay before each outgoing packet.
    pub latency: Duration,
    /// Stall for this long in the middle of the first READ_BUFFER transfer.
    pub stall: Option<Duration>,
    /// Close the connection in the middle of the first READ_BUFFER transfer.
    pub close_mid_transfer: bool,
    /// Answer ACK_ERROR to this command code.
    pub ack_error_for: Option<u16>,
    /// Never answer this command code (firmware without it, pyzk#79).
    pub no_reply_to: Option<u16>,
    /// Drop every n-th outgoing UDP datagram (0 = never).
    pub udp_drop_every: u32,
    /// Send every n-th outgoing UDP datagram twice (0 = never).
    pub udp_duplicate_every: u32,
    /// Added to the record count reported by GET_FREE_SIZES.
    pub count_skew: i32,
    /// Reply ACK_UNAUTH to CONNECT even without a comm key (pyzk#1).
    pub always_auth: bool,
    /// Ignore commands entirely (never reply): a dead device.
    pub silent: bool,
    /// Close the connection, unanswered, when this command arrives (a link
    /// dropped in the middle of a write).
    pub close_on: Option<u16>,
}

/// What the simulated terminal holds and how it talks.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind TCP and UDP (port 0 = pick a free one).
    pub bind: SocketAddr,
    /// Number of punches.
    pub records: usize,
    /// Number of users.
    pub users: usize,
    /// Attendance record layout.
    pub attendance_format: AttFormat,
    /// User record layout.
    pub user_format: UserFormat,
    /// Comm key (0 = none).
    pub comm_key: u32,
    /// Seed of the generated data.
    pub seed: u64,
    /// Day of the first generated punch.
    pub start_date: chrono::NaiveDate,
    /// Datasets up to this many bytes are answered inline to PREPARE_BUFFER.
    pub inline_threshold: usize,
    /// TCP DATA framing.
    pub tcp_framing: TcpFraming,
    /// Put the frame index in the session field of UDP DATA datagrams (as in
    /// TCP captures); false puts the session id there.
    pub udp_frame_index: bool,
    /// Put one punch with an impossible date (Feb 31) every n records (0 = none).
    pub bad_date_every: usize,
    /// Serial number reported by `~SerialNumber`.
    pub serial: String,
    /// Device name reported by `~DeviceName`.
    pub device_name: String,
    /// Faults to start with.
    pub faults: Faults,
    /// How READ_BUFFER treats offsets that are not chunk-aligned.
    pub offset_mode: OffsetMode,
    /// Payload layout of realtime attendance events.
    pub event_format: EventFormat,
    /// Send realtime events to registered connections (false: firmware
    /// that accepts REG_EVENT but never sends anything).
    pub events: bool,
    /// Serve one TCP connection at a time; further ones are closed at once
    /// (counted in `Stats::refused`), as many terminals do.
    pub one_connection: bool,
    /// Make a punch this often by itself (the demo's live terminals).
    pub punch_every: Option<Duration>,
    /// Fingerprint algorithm major version (`~ZKFPVersion`): 10 (TFT
    /// units, large-data single reads) or 9 (older units: smaller
    /// templates, single reads answered inline).
    pub fp_version: u16,
    /// Fingerprint templates the terminal can hold.
    pub finger_capacity: u32,
    /// How long a batch save (110/12) takes to answer.
    pub batch_delay: Duration,
    /// NIR face records the terminal can hold; 0 (the default) = no face
    /// unit: none generated, none reported by GET_FREE_SIZES. Otherwise
    /// every third user starts with an enrolment of 15 faces.
    pub face_capacity: u32,
}

/// How READ_BUFFER treats an offset that is not a multiple of the chunk
/// size clients use (65 472 over TCP, 16 384 over UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetMode {
    /// Any offset is served.
    Exact,
    /// Unaligned offsets are answered ACK_ERROR.
    RefuseUnaligned,
    /// Unaligned offsets are silently rounded down to the chunk boundary.
    RoundDown,
}

/// Payload layout of EF_ATTLOG events (spec §3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// Follow the attendance format: 10 bytes for 8-byte records, 12 for
    /// 16-byte ones, 32 for 40/49-byte ones.
    Auto,
    /// u16 user id, status, punch, time.
    Short10,
    /// u32 user id, status, punch, time.
    Pin12,
    /// As 10, plus 4 unknown bytes.
    Short14,
    /// 24-byte user id text, status, punch, time.
    Text32,
    /// As 32 plus 4 bytes.
    Text36,
    /// As 32 plus 5 bytes.
    Text37,
    /// As 32 plus 20 bytes.
    Text52,
}

impl EventFormat {
    /// Every explicit layout (all but `Auto`).
    pub const ALL: [EventFormat; 7] = [
        EventFormat::Short10,
        EventFormat::Pin12,
        EventFormat::Short14,
        EventFormat::Text32,
        EventFormat::Text36,
        EventFormat::Text37,
        EventFormat::Text52,
    ];
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: ([127, 0, 0, 1], 0).into(),
            records: 100,
            users: 20,
            attendance_format: AttFormat::Full40,
            user_format: UserFormat::Long72,
            comm_key: 0,
            seed: 1,
            start_date: chrono::NaiveDate::from_ymd_opt(2025, 1, 2).unwrap_or_default(),
            inline_threshold: 1024,
            tcp_framing: TcpFraming::Multi,
            udp_frame_index: true,
            bad_date_every: 0,
            serial: "SIM0000000001".into(),
            device_name: "ZK Simulator".into(),
            faults: Faults::default(),
            offset_mode: OffsetMode::Exact,
            event_format: EventFormat::Auto,
            events: true,
            one_connection: false,
            punch_every: None,
            fp_version: 10,
            finger_capacity: 3000,
            batch_delay: Duration::from_millis(100),
            face_capacity: 0,
        }
    }
}

/// Observable counters (for tests that assert how the client behaved).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// TCP connections accepted plus UDP sessions opened.
    pub connections: u64,
    /// TCP connections open right now.
    pub open: u64,
    /// TCP conversations (CONNECT … EXIT) in progress right now.
    pub active: u64,
    /// Most conversations ever in progress at once.
    pub max_active: u64,
    /// DISABLEDEVICE commands received.
    pub disables: u64,
    /// ENABLEDEVICE commands received.
    pub enables: u64,
    /// PREPARE_BUFFER requests for the attendance log.
    pub attendance_reads: u64,
    /// READ_BUFFER requests.
    pub chunk_reads: u64,
    /// Packets with a wrong checksum.
    pub bad_checksums: u64,
    /// Attendance data bytes sent (inline datasets and READ_BUFFER chunks).
    pub attendance_bytes: u64,
    /// Connections closed at once (one-connection mode, offline).
    pub refused: u64,
    /// Realtime events sent.
    pub events_sent: u64,
    /// Event ACKs received.
    pub event_acks: u64,
    /// RESTART commands obeyed.
    pub restarts: u64,
    /// Batch template rows dropped because the terminal was full.
    pub batch_capacity_stops: u64,
    /// Commands that change users or templates (user write or delete,
    /// template write, batch save, template delete): what wears the flash.
    pub writes: u64,
    /// Bytes received into the upload buffer (DATA pieces).
    pub uploaded_bytes: u64,
    /// (CONNECT, EXIT or close) instants of finished TCP conversations.
    pub intervals: Vec<(Instant, Instant)>,
}

/// Mutable terminal state shared by all connections.
#[derive(Debug)]
pub struct State {
    /// Users on the terminal.
    pub users: Vec<User>,
    /// Punches, in device order.
    pub punches: Vec<Attendance>,
    /// Fingerprint templates.
    pub templates: Vec<Template>,
    /// NIR face records (`sim::faces`).
    pub faces: Vec<crate::zk::faces::Face>,
    /// (user id, finger) of the last enrolment started, if any.
    pub enrolling: Option<(String, u8)>,
    /// True while some client has the terminal disabled.
    pub disabled: bool,
    /// Clock offset from the host's local time, in seconds.
    pub clock_offset: i64,
    /// Fault injection settings.
    pub faults: Faults,
    /// Counters.
    pub stats: Stats,
    /// Bumped to cut every open connection (`drop_connections`).
    pub link_generation: u64,
    /// While true, connections are refused and datagrams ignored.
    pub offline: bool,
    /// The punches encoded in the configured layout, kept while only new
    /// punches are appended (a real terminal has its log ready; encoding
    /// 100 000 records per read would make the simulator the bottleneck).
    pub encoded_punches: Option<Vec<u8>>,
}

/// A running simulator. Dropping it stops accepting connections.
pub struct Simulator {
    addr: SocketAddr,
    config: SimConfig,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Simulator {
    /// Binds TCP and UDP on the same port and starts serving in background threads.
    pub fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let mut users = data::users(config.users);
        if config.user_format == UserFormat::Short28 {
            // The old layout holds 8-byte names: cut at a character boundary.
            for u in &mut users {
                let name = String::from_utf8_lossy(&u.name).into_owned();
                let mut end = name.len().min(8);
                while !name.is_char_boundary(end) {
                    end -= 1;
                }
                u.name = name[..end].trim_end().as_bytes().to_vec();
            }
        }
        let mut punches = data::punches(config.records, &users, config.seed, config.start_date);
        if config.bad_date_every > 0 {
            for p in punches.iter_mut().step_by(config.bad_date_every) {
                p.time.month = 2;
                p.time.day = 31;
            }
        }
        let templates = data::templates(&users, config.seed, config.fp_version);
        let faces = if config.face_capacity > 0 {
            users
                .iter()
                .filter(|u| u.uid % 3 == 1)
                .flat_map(|u| faces::face_set(u.uid, config.seed))
                .collect()
        } else {
            Vec::new()
        };
        let state = Arc::new(Mutex::new(State {
            users,
            punches,
            templates,
            faces,
            enrolling: None,
            disabled: false,
            clock_offset: 0,
            faults: config.faults.clone(),
            stats: Stats::default(),
            link_generation: 0,
            offline: false,
            encoded_punches: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (tcp, udp) = net::bind_pair(config.bind)?;
        let addr = tcp.local_addr()?;
        let device = Arc::new(device::Device::new(config.clone(), state.clone()));
        net::spawn_tcp(tcp, device.clone(), stop.clone());
        net::spawn_udp(udp, device, stop.clone());
        if let Some(every) = config.punch_every {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = Instant::now() + every;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                    if Instant::now() >= next {
                        next += every;
                        punch_now(&mut state.lock(), None);
                    }
                }
            });
        }
        Ok(Simulator {
            addr,
            config,
            state,
            stop,
        })
    }

    /// The bound address (TCP and UDP share the port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Whether the terminal is disabled right now.
    pub fn is_disabled(&self) -> bool {
        self.state.lock().disabled
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        self.state.lock().stats.clone()
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        self.state.lock().faults = faults;
    }

    /// Makes a punch now, as a person at the terminal would: `user_id` (or
    /// the next user in turn), the terminal's clock, fingerprint. Returns it.
    pub fn punch(&self, user_id: Option<&str>) -> Attendance {
        punch_now(&mut self.state.lock(), user_id)
    }

    /// Cuts every open connection now (a dropped link); new ones work.
    pub fn drop_connections(&self) {
        self.state.lock().link_generation += 1;
    }

    /// Starts or ends an offline period: while offline, connections are
    /// refused, datagrams ignored, and open connections are cut.
    pub fn set_offline(&self, offline: bool) {
        let mut st = self.state.lock();
        st.offline = offline;
        st.link_generation += 1;
    }

    /// Runs `f` with the state locked (to add punches, inspect users, …).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.state.lock();
        // `f` may change the punches in any way.
        st.encoded_punches = None;
        f(&mut st)
    }

    /// The punches as the API must report them, in device order, with
    /// user ids as the configured record format exposes them.
    pub fn expected_attendance(&self) -> Vec<Attendance> {
        let st = self.state.lock();
        st.punches
            .iter()
            .map(|p| device::as_seen_in_format(p, self.config.attendance_format, &st.users))
            .collect()
    }

    /// The users as a client reading the configured user format must see
    /// them (names and PINs cut to the layout's field widths).
    pub fn expected_users(&self) -> Vec<User> {
        let format = self.config.user_format;
        let st = self.state.lock();
        st.users
            .iter()
            .filter_map(|u| records::parse_user_record(&records::encode_user(u, format), format))
            .collect()
    }

    /// Waits until no connection is open (the client finished), at most `max`.
    pub fn wait_idle(&self, max: Duration) -> bool {
        let until = Instant::now() + max;
        while Instant::now() < until {
            if self.state.lock().stats.open == 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

/// Appends a punch of `user_id` (or the next user in turn) at the
/// terminal's current time.
fn punch_now(st: &mut State, user_id: Option<&str>) -> Attendance {
    let n = st.punches.len();
    let user = match user_id {
        Some(id) => st.users.iter().find(|u| u.user_id == id).cloned(),
        None if st.users.is_empty() => None,
        None => Some(st.users[n % st.users.len()].clone()),
    };
    let (uid, pin) = match (user, user_id) {
        (Some(u), _) => (u.uid, u.user_id),
        (None, Some(id)) => (0, id.to_string()),
        (None, None) => (0, "1".to_string()),
    };
    let now = chrono::Local::now().naive_local() + chrono::Duration::seconds(st.clock_offset);
    let a = Attendance {
        uid,
        user_id: pin,
        time: crate::zk::ZkTime::from_naive(&now),
        status: 1,
        punch: (n % 2) as u8,
    };
    // Appended: the encoded cache stays valid for the punches before it.
    st.punches.push(a.clone());
    a
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
