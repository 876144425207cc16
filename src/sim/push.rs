//! A simulated push ("ADMS"/"iclock") terminal: an HTTP client that does
//! what a real one does (`../shared/protocol/push-protocol.md`) — handshake,
//! upload its backlog in batches (a batch is forgotten only after a
//! `200 OK…` answer; anything else is retried after `ErrorDelay`), punch
//! every few seconds, poll for commands every `Delay`, execute the ones it
//! knows and confirm them, batched, via `devicecmd`. Plain `http://` only.
//!
//! Templates (`../shared/protocol/templates-protocol.md` §5.2): it holds
//! synthetic fingerprints (ZKFinger 10 or 9) and faces, reports its
//! algorithm versions in `INFO` and `table=options`, executes `DATA
//! UPDATE/DELETE/QUERY` for `FINGERTMP`, `FACE` and `BIODATA` with the
//! firmware's return codes (unknown PIN −10, version −30, capacity −1001,
//! bad template −11), uploads what it is asked for (`FP` lines, or
//! `BIODATA` when configured so), and uploads a finger enrolled at its
//! keypad when the handshake's `TransFlag` asks for templates.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use parking_lot::Mutex;

use crate::push::protocol::{
    parse_command_line, parse_handshake, render_attlog_line, render_template_line,
    render_user_line, AlgorithmVersion, AttlogRecord, BioType, PushCommand, PushTemplate, PushUser,
    TemplateBytes, TemplateCommand, TemplateLine,
};

/// How the simulated push terminal behaves.
#[derive(Debug, Clone)]
pub struct PushSimConfig {
    /// The server's base URL (`http://127.0.0.1:5000`).
    pub server: String,
    /// Serial number.
    pub sn: String,
    /// Punches in the backlog uploaded after the first handshake.
    pub records: usize,
    /// Users of the backlog's punches (uploaded as OPERLOG `USER` lines).
    pub users: usize,
    /// Lines per ATTLOG upload.
    pub batch: usize,
    /// A new punch every this often.
    pub punch_every: Option<Duration>,
    /// Wait after a failed exchange (none: the handshake's `ErrorDelay`).
    pub retry_after: Option<Duration>,
    /// Command poll interval (none: the handshake's `Delay`).
    pub poll_every: Option<Duration>,
    /// Time of the first backlog punch (one a minute after it).
    pub start: NaiveDateTime,
    /// Fingerprints each user starts with (fingers 0, 1, …).
    pub fingers_per_user: usize,
    /// Fingerprint algorithm (10 or 9), reported as `FPVersion`.
    pub fp_version: u16,
    /// NIR face algorithm, reported as `FaceVersion`.
    pub face_version: u16,
    /// Fingerprints and faces travel as BIODATA (a newer unit reporting
    /// `MultiBioDataSupport`), else as `FP`/`FACE` lines.
    pub biodata: bool,
    /// Most fingerprints it holds (−1001 past it).
    pub finger_capacity: usize,
    /// Seed of its synthetic templates.
    pub seed: u64,
}

impl PushSimConfig {
    /// Defaults for `sn` pushing to `server`.
    pub fn new(server: &str, sn: &str) -> PushSimConfig {
        PushSimConfig {
            server: server.trim_end_matches('/').to_string(),
            sn: sn.to_string(),
            records: 0,
            users: 10,
            batch: 1000,
            punch_every: None,
            retry_after: None,
            poll_every: None,
            start: chrono::NaiveDate::from_ymd_opt(2025, 1, 2)
                .and_then(|d| d.and_hms_opt(7, 0, 0))
                .unwrap_or_default(),
            fingers_per_user: 0,
            fp_version: 10,
            face_version: 7,
            biodata: false,
            finger_capacity: 3000,
            seed: 1,
        }
    }
}

/// What the terminal holds.
#[derive(Debug, Default)]
struct State {
    /// Its attendance log.
    log: Vec<AttlogRecord>,
    /// Punches waiting to be uploaded (acknowledged ones leave).
    outbox: VecDeque<AttlogRecord>,
    /// Its users by PIN.
    users: BTreeMap<String, PushUser>,
    /// Results waiting to be confirmed (`devicecmd` lines).
    results: Vec<String>,
    /// The handshake is to be done again (`CHECK`, or after an error).
    handshake_due: bool,
    /// The users are to be uploaded (at start and on `DATA QUERY USERINFO`).
    users_due: bool,
    /// Its templates by (PIN, BIODATA type, `No`, `Index`).
    templates: BTreeMap<TemplateKey, PushTemplate>,
    /// The handshake's `TransFlag` asks for templates (`EnrollFP`).
    templates_asked: bool,
    /// Template uploads waiting: (table, query extra, body).
    template_outbox: VecDeque<(String, String, String)>,
    /// Its options (`table=options`) are to be uploaded.
    options_due: bool,
}

/// Where a template is kept: (PIN, BIODATA type number, `No`, `Index`).
type TemplateKey = (String, u8, u8, u8);

/// Counters a test reads.
#[derive(Debug, Default)]
pub struct PushSimStats {
    /// Punches acknowledged by the server.
    pub acknowledged: AtomicU64,
    /// Uploads answered with something other than `200 OK…`.
    pub refused: AtomicU64,
    /// Commands executed.
    pub commands: AtomicU64,
    /// Command polls answered.
    pub polls: AtomicU64,
}

/// A running simulated push terminal.
pub struct PushSim {
    /// Its fingerprint algorithm.
    version: u16,
    /// Templates travel as BIODATA.
    biodata: bool,
    state: Arc<Mutex<State>>,
    stats: Arc<PushSimStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PushSim {
    /// Starts the terminal on its own thread.
    pub fn start(cfg: PushSimConfig) -> std::io::Result<PushSim> {
        let state = Arc::new(Mutex::new(initial_state(&cfg)));
        let stats = Arc::new(PushSimStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut term = Terminal {
            // Terminals close every connection (`Connection: close`).
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .max_idle_connections(0)
                .build(),
            cfg,
            state: state.clone(),
            stats: stats.clone(),
            delay: Duration::from_secs(10),
            error_delay: Duration::from_secs(30),
            next_punch: 0,
        };
        let (version, biodata) = (term.cfg.fp_version, term.cfg.biodata);
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("push-sim".into())
            .spawn(move || term.run(&flag))?;
        Ok(PushSim {
            version,
            biodata,
            state,
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &PushSimStats {
        &self.stats
    }

    /// Punches still waiting for an acknowledgement.
    pub fn unsent(&self) -> usize {
        self.state.lock().outbox.len()
    }

    /// Punches in the terminal's log.
    pub fn log_len(&self) -> usize {
        self.state.lock().log.len()
    }

    /// The terminal's log as (user id, `YYYY-MM-DD HH:MM:SS`) pairs.
    pub fn log_keys(&self) -> Vec<(String, String)> {
        self.state
            .lock()
            .log
            .iter()
            .map(|r| (r.user_id.clone(), crate::time::format(&r.time)))
            .collect()
    }

    /// The templates of `pin`: (BIODATA type number, `No`, `Index`, bytes).
    pub fn templates_of(&self, pin: &str) -> Vec<(u8, u8, u8, Vec<u8>)> {
        self.state
            .lock()
            .templates
            .iter()
            .filter(|(k, _)| k.0 == pin)
            .map(|(k, t)| (k.1, k.2, k.3, t.bytes.0.clone()))
            .collect()
    }

    /// Whether its last handshake asked for template uploads.
    pub fn templates_asked(&self) -> bool {
        self.state.lock().templates_asked
    }

    /// How many fingerprints it holds.
    pub fn finger_count(&self) -> usize {
        let st = self.state.lock();
        st.templates.keys().filter(|k| k.1 == 1).count()
    }

    /// The PINs of its users.
    pub fn user_ids(&self) -> Vec<String> {
        self.state.lock().users.keys().cloned().collect()
    }

    /// The user `pin`, if it holds one.
    pub fn user(&self, pin: &str) -> Option<PushUser> {
        self.state.lock().users.get(pin).cloned()
    }

    /// A user enrolled at the keypad with finger `finger` (synthetic
    /// bytes from `seed`): uploaded (`USER`, `OPLOG 6`, `FP` or `BIODATA`)
    /// when the handshake asked for templates, like a real terminal.
    pub fn enroll(&self, pin: &str, name: &str, finger: u8, seed: u64) -> Vec<u8> {
        let mut st = self.state.lock();
        let user = PushUser {
            pin: pin.to_string(),
            name: name.to_string(),
            ..PushUser::default()
        };
        st.users.insert(pin.to_string(), user.clone());
        let bytes = synthetic_template(self.version, seed);
        let t = finger_template(pin, finger, bytes.clone(), self.version, self.biodata);
        st.templates.insert(key_of(&t), t.clone());
        if st.templates_asked {
            let mut body = render_user_line(&user) + "\n";
            body.push_str(&format!(
                "OPLOG 6\t{pin}\t{}\t{finger}\t{}\t0\t0\n",
                crate::time::format(&chrono::Local::now().naive_local().with_nanosecond_zero()),
                bytes.len()
            ));
            if self.biodata {
                st.template_outbox
                    .push_back(("OPERLOG".into(), String::new(), body));
                st.template_outbox.push_back((
                    "BIODATA".into(),
                    String::new(),
                    render_template_line(&t),
                ));
            } else {
                body.push_str(&render_template_line(&t));
                st.template_outbox
                    .push_back(("OPERLOG".into(), String::new(), body));
            }
        }
        bytes
    }

    /// Makes a punch now (uploaded at once).
    pub fn punch(&self, user_id: &str) {
        let record = AttlogRecord {
            user_id: user_id.to_string(),
            time: chrono::Local::now().naive_local().with_nanosecond_zero(),
            punch: 0,
            status: 1,
            workcode: None,
        };
        let mut st = self.state.lock();
        st.log.push(record.clone());
        st.outbox.push_back(record);
    }

    /// Stops the terminal (after the exchange in progress).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PushSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Drops sub-second precision (terminals keep whole seconds).
trait WholeSeconds {
    fn with_nanosecond_zero(self) -> Self;
}

impl WholeSeconds for NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap_or(self)
    }
}

/// The backlog and users a terminal starts with.
fn initial_state(cfg: &PushSimConfig) -> State {
    let users = cfg.users.max(1);
    let mut st = State {
        handshake_due: true,
        users_due: true,
        options_due: true,
        ..State::default()
    };
    let mut seed = cfg.seed;
    for u in 0..users {
        let pin = (u + 1).to_string();
        st.users.insert(
            pin.clone(),
            PushUser {
                pin: pin.clone(),
                name: format!("Usuario {}", u + 1),
                ..PushUser::default()
            },
        );
        for finger in 0..cfg.fingers_per_user.min(10) {
            seed = seed.wrapping_add(1);
            let bytes = synthetic_template(cfg.fp_version, seed);
            let t = finger_template(&pin, finger as u8, bytes, cfg.fp_version, cfg.biodata);
            st.templates.insert(key_of(&t), t);
        }
    }
    for i in 0..cfg.records {
        let record = AttlogRecord {
            user_id: ((i % users) + 1).to_string(),
            time: cfg.start + chrono::Duration::minutes(i as i64),
            punch: if i % 2 == 0 { 0 } else { 1 },
            status: 1,
            workcode: None,
        };
        st.log.push(record.clone());
        st.outbox.push_back(record);
    }
    st
}

/// Synthetic template bytes (ZKFinger `version`) from `seed`.
fn synthetic_template(version: u16, seed: u64) -> Vec<u8> {
    super::data::template_bytes(&mut super::data::Rng::new(seed), version)
}

/// A fingerprint as the terminal keeps and uploads it.
fn finger_template(
    pin: &str,
    finger: u8,
    bytes: Vec<u8>,
    version: u16,
    biodata: bool,
) -> PushTemplate {
    PushTemplate {
        pin: pin.to_string(),
        kind: BioType::Finger,
        no: finger,
        index: 0,
        valid: true,
        duress: false,
        version: biodata.then_some(AlgorithmVersion {
            major: version,
            minor: 0,
        }),
        format: biodata.then_some(0),
        line: if biodata {
            TemplateLine::BioData
        } else {
            TemplateLine::Fp
        },
        bytes: TemplateBytes(bytes),
        size_mismatch: None,
    }
}

/// Where template `t` is kept.
fn key_of(t: &PushTemplate) -> TemplateKey {
    (t.pin.clone(), t.kind.number(), t.no, t.index)
}

/// The terminal's side of the conversation.
struct Terminal {
    agent: ureq::Agent,
    cfg: PushSimConfig,
    state: Arc<Mutex<State>>,
    stats: Arc<PushSimStats>,
    delay: Duration,
    error_delay: Duration,
    next_punch: usize,
}

/// What an exchange got: the status and body, or a transport failure.
type Answer = Result<(u16, String), String>;

impl Terminal {
    fn run(&mut self, stop: &AtomicBool) {
        let mut next_poll = Instant::now();
        let mut next_punch = self.cfg.punch_every.map(|d| Instant::now() + d);
        while !stop.load(Ordering::SeqCst) {
            if self.state.lock().handshake_due && !self.handshake() {
                self.pause(stop, self.error_delay);
                continue;
            }
            if self.state.lock().users_due && self.upload_users() {
                self.state.lock().users_due = false;
            }
            if self.state.lock().options_due && self.upload_options() {
                self.state.lock().options_due = false;
            }
            self.upload_templates();
            if let Some(at) = next_punch.filter(|at| Instant::now() >= *at) {
                self.make_punch();
                next_punch = Some(at + self.cfg.punch_every.unwrap_or_default());
            }
            if !self.state.lock().outbox.is_empty() {
                if !self.upload_batch() {
                    self.pause(stop, self.error_delay);
                }
                if Instant::now() >= next_poll {
                    // Busy uploading: real terminals ping instead of polling.
                    let _ = self.get("/iclock/ping", "");
                    next_poll = Instant::now() + self.poll_interval();
                }
                continue;
            }
            if Instant::now() >= next_poll {
                self.poll();
                next_poll = Instant::now() + self.poll_interval();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn poll_interval(&self) -> Duration {
        self.cfg.poll_every.unwrap_or(self.delay)
    }

    /// Sleeps `d` unless stopped first.
    fn pause(&self, stop: &AtomicBool, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str, query: &str) -> String {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("{}{path}?SN={}{sep}{query}", self.cfg.server, self.cfg.sn)
    }

    fn answer(r: Result<ureq::Response, ureq::Error>) -> Answer {
        match r {
            Ok(resp) => {
                let status = resp.status();
                Ok((status, resp.into_string().map_err(|e| e.to_string())?))
            }
            Err(ureq::Error::Status(code, resp)) => {
                Ok((code, resp.into_string().unwrap_or_default()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn get(&self, path: &str, query: &str) -> Answer {
        Self::answer(
            self.agent
                .get(&self.url(path, query))
                .set("User-Agent", "iClock Proxy/1.09")
                .set("Connection", "close")
                .call(),
        )
    }

    fn post(&self, path: &str, query: &str, body: &str) -> Answer {
        Self::answer(
            self.agent
                .post(&self.url(path, query))
                .set("User-Agent", "iClock Proxy/1.09")
                .set("Connection", "close")
                .set("Content-Type", "text/plain")
                .send_bytes(body.as_bytes()),
        )
    }

    /// The handshake; reads `Delay` and `ErrorDelay`. True when answered.
    fn handshake(&mut self) -> bool {
        match self.get("/iclock/cdata", "options=all&pushver=2.4.1&language=69") {
            Ok((200, body)) => {
                let (_, options) = parse_handshake(&body);
                let secs = |k: &str| {
                    options
                        .iter()
                        .find(|(key, _)| key == k)
                        .and_then(|(_, v)| v.parse::<u64>().ok())
                };
                if let Some(d) = secs("Delay") {
                    self.delay = Duration::from_secs(d.max(1));
                }
                self.error_delay = self
                    .cfg
                    .retry_after
                    .or_else(|| secs("ErrorDelay").map(Duration::from_secs))
                    .unwrap_or(self.error_delay);
                let asked = options.iter().any(|(k, v)| {
                    k == "TransFlag" && v.split(['\t', ' ']).any(|f| f == "EnrollFP")
                });
                let mut st = self.state.lock();
                st.handshake_due = false;
                st.templates_asked = asked;
                drop(st);
                log::info!("push sim {}: handshake done", self.cfg.sn);
                true
            }
            other => {
                log::warn!("push sim {}: handshake failed: {other:?}", self.cfg.sn);
                if let Some(d) = self.cfg.retry_after {
                    self.error_delay = d;
                }
                false
            }
        }
    }

    /// Uploads the users as OPERLOG `USER` lines; true when acknowledged.
    fn upload_users(&self) -> bool {
        let body: String = self
            .state
            .lock()
            .users
            .values()
            .map(|u| render_user_line(u) + "\n")
            .collect();
        matches!(self.post("/iclock/cdata", "table=OPERLOG&Stamp=1", &body), Ok((200, b)) if b.starts_with("OK"))
    }

    /// Uploads its options (versions, multi-biometric support); true when
    /// acknowledged.
    fn upload_options(&self) -> bool {
        let support = if self.cfg.biodata {
            "0:1:1:0:0:0:0:0:0:0:0"
        } else {
            ""
        };
        let versions = if self.cfg.biodata {
            format!(
                "0:{}.0:{}.0:0:0:0:0:0:0:0:0",
                self.cfg.fp_version, self.cfg.face_version
            )
        } else {
            String::new()
        };
        let body = format!(
            "FPVersion={},FaceVersion={},MultiBioDataSupport={support},MultiBioVersion={versions}",
            self.cfg.fp_version, self.cfg.face_version
        );
        matches!(self.post("/iclock/cdata", "table=options", &body), Ok((200, b)) if b.starts_with("OK"))
    }

    /// Uploads the waiting template uploads in order (one kept on failure).
    fn upload_templates(&self) {
        loop {
            let Some((table, extra, body)) = self.state.lock().template_outbox.front().cloned()
            else {
                return;
            };
            let query = format!("table={table}&Stamp=9999{extra}");
            match self.post("/iclock/cdata", &query, &body) {
                Ok((200, b)) if b.starts_with("OK") => {
                    self.state.lock().template_outbox.pop_front();
                }
                other => {
                    log::warn!(
                        "push sim {}: template upload failed: {other:?}",
                        self.cfg.sn
                    );
                    return;
                }
            }
        }
    }

    /// Uploads the next batch; true when acknowledged (and forgotten).
    fn upload_batch(&self) -> bool {
        let batch: Vec<AttlogRecord> = {
            let st = self.state.lock();
            st.outbox
                .iter()
                .take(self.cfg.batch.max(1))
                .cloned()
                .collect()
        };
        let body: String = batch.iter().map(|r| render_attlog_line(r) + "\n").collect();
        let stamp = batch.len();
        match self.post(
            "/iclock/cdata",
            &format!("table=ATTLOG&Stamp={stamp}"),
            &body,
        ) {
            Ok((200, answer)) if answer.starts_with("OK") => {
                let mut st = self.state.lock();
                for _ in 0..batch.len() {
                    st.outbox.pop_front();
                }
                self.stats
                    .acknowledged
                    .fetch_add(batch.len() as u64, Ordering::SeqCst);
                true
            }
            other => {
                self.stats.refused.fetch_add(1, Ordering::SeqCst);
                log::warn!(
                    "push sim {}: upload of {} punch(es) not acknowledged ({other:?}); retrying after {:?}",
                    self.cfg.sn,
                    batch.len(),
                    self.error_delay
                );
                false
            }
        }
    }

    /// A new punch by the next user, now.
    fn make_punch(&mut self) {
        let users: Vec<String> = self.state.lock().users.keys().cloned().collect();
        let Some(user) = users.get(self.next_punch % users.len().max(1)).cloned() else {
            return;
        };
        self.next_punch += 1;
        let record = AttlogRecord {
            user_id: user,
            time: chrono::Local::now().naive_local().with_nanosecond_zero(),
            punch: 255,
            status: 15,
            workcode: None,
        };
        let mut st = self.state.lock();
        st.log.push(record.clone());
        st.outbox.push_back(record);
    }

    /// Polls for commands, executes them, confirms the results.
    fn poll(&mut self) {
        let info = {
            let st = self.state.lock();
            format!(
                "INFO=Ver%206.60,{},{},{},127.0.0.1,{},{}",
                st.users.len(),
                st.templates.keys().filter(|k| k.1 == 1).count(),
                st.log.len(),
                self.cfg.fp_version,
                self.cfg.face_version
            )
        };
        let body = match self.get("/iclock/getrequest", &info) {
            Ok((200, body)) => {
                self.stats.polls.fetch_add(1, Ordering::SeqCst);
                body
            }
            other => {
                log::warn!("push sim {}: poll failed: {other:?}", self.cfg.sn);
                return;
            }
        };
        for line in body.lines().filter(|l| l.starts_with("C:")) {
            let result = if let Some((id, cmd)) = parse_command_line(line) {
                self.execute(&id, cmd)
            } else if let Some((id, text)) = template_command_line(line) {
                self.execute_template(&id, text)
            } else {
                let id = line.split(':').nth(1).unwrap_or_default();
                format!("ID={id}&Return=-1002&CMD=UNKNOWN")
            };
            self.stats.commands.fetch_add(1, Ordering::SeqCst);
            self.state.lock().results.push(result);
        }
        self.confirm();
    }

    /// Sends the waiting results in one `devicecmd` (kept on failure).
    fn confirm(&self) {
        let body = {
            let st = self.state.lock();
            if st.results.is_empty() {
                return;
            }
            st.results.join("\n") + "\n"
        };
        if let Ok((200, b)) = self.post("/iclock/devicecmd", "", &body) {
            if b.starts_with("OK") {
                self.state.lock().results.clear();
            }
        }
    }

    /// Executes one command; returns its result line.
    fn execute(&mut self, id: &str, cmd: PushCommand) -> String {
        let mut st = self.state.lock();
        let (code, echo, extra) = match cmd {
            PushCommand::UpdateUser {
                pin,
                name,
                privilege,
                password,
                card,
            } => {
                let user = PushUser {
                    pin: pin.clone(),
                    name,
                    privilege,
                    password: Some(password).filter(|p| !p.is_empty()),
                    card,
                    group: None,
                };
                st.users.insert(pin, user);
                (0, "DATA", String::new())
            }
            PushCommand::DeleteUser { pin } => {
                st.users.remove(&pin);
                st.templates.retain(|k, _| k.0 != pin);
                (0, "DATA", String::new())
            }
            PushCommand::QueryAttlog { start, end } => {
                let found: Vec<AttlogRecord> = st
                    .log
                    .iter()
                    .filter(|r| r.time >= start && r.time <= end)
                    .cloned()
                    .collect();
                let code = if found.is_empty() { -1 } else { 0 };
                st.outbox.extend(found);
                (code, "DATA", String::new())
            }
            PushCommand::QueryUsers => {
                st.users_due = true;
                (0, "DATA", String::new())
            }
            PushCommand::Check => {
                st.handshake_due = true;
                (0, "CHECK", String::new())
            }
            PushCommand::Log => (0, "LOG", String::new()),
            PushCommand::Info => {
                let info = format!(
                    "\n~DeviceName=zkserver push simulator\nFWVersion=Ver 6.60 sim\nUserCount={}\nAttLogCount={}\nIPAddress=127.0.0.1\nFPVersion={}\nFaceVersion={}",
                    st.users.len(),
                    st.log.len(),
                    self.cfg.fp_version,
                    self.cfg.face_version
                );
                (0, "INFO", info)
            }
            PushCommand::ClearLog => {
                st.log.clear();
                (0, "CLEAR LOG", String::new())
            }
            PushCommand::Reboot => {
                st.handshake_due = true;
                (0, "REBOOT", String::new())
            }
        };
        log::info!("push sim {}: command {id} ({echo}) -> {code}", self.cfg.sn);
        format!("ID={id}&Return={code}&CMD={echo}{extra}")
    }
}

/// A poll answer line `C:<id>:<text>` holding a template command (or the
/// bare `DATA QUERY FINGERTMP` some servers send).
fn template_command_line(line: &str) -> Option<(String, &str)> {
    let rest = line.trim_end_matches(['\r', '\n']).strip_prefix("C:")?;
    let (id, text) = rest.split_once(':')?;
    let valid_id =
        !id.is_empty() && id.len() <= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    (valid_id && (text == "DATA QUERY FINGERTMP" || TemplateCommand::parse(text).is_some()))
        .then(|| (id.to_string(), text))
}

impl Terminal {
    /// Executes a template command as the firmware does; its result line.
    fn execute_template(&mut self, id: &str, text: &str) -> String {
        let code = if let Some(cmd) = TemplateCommand::parse(text) {
            self.template_command(id, cmd)
        } else {
            // The bare query: every user's fingerprints.
            let mut st = self.state.lock();
            let lines: String = st
                .templates
                .values()
                .filter(|t| t.kind == BioType::Finger)
                .map(render_template_line)
                .collect();
            queue_upload(&mut st, self.cfg.biodata, id, lines);
            0
        };
        log::info!("push sim {}: template command {id} -> {code}", self.cfg.sn);
        format!("ID={id}&Return={code}&CMD=DATA")
    }

    /// Runs one parsed template command; its return code.
    fn template_command(&mut self, id: &str, cmd: TemplateCommand) -> i64 {
        match cmd {
            TemplateCommand::UpdateFinger { .. }
            | TemplateCommand::UpdateBio { .. }
            | TemplateCommand::UpdateFace { .. } => self.write_template(cmd),
            other => self.remove_or_query(id, other),
        }
    }

    /// `DATA UPDATE FINGERTMP|BIODATA|FACE`; its return code.
    fn write_template(&mut self, cmd: TemplateCommand) -> i64 {
        let capacity = self.cfg.finger_capacity;
        let mut st = self.state.lock();
        match cmd {
            TemplateCommand::UpdateFinger {
                pin,
                finger,
                duress,
                template,
            } => {
                let t = PushTemplate {
                    duress,
                    ..finger_template(&pin, finger, template.0, self.cfg.fp_version, false)
                };
                store_template(&mut st, t, capacity)
            }
            TemplateCommand::UpdateBio {
                pin,
                kind,
                no,
                index,
                duress,
                version,
                format,
                template,
            } => {
                let own = match kind {
                    BioType::Finger => self.cfg.fp_version,
                    BioType::FaceNir => self.cfg.face_version,
                    _ => 0,
                };
                if version.major != own {
                    return -30;
                }
                let t = PushTemplate {
                    pin,
                    kind,
                    no,
                    index,
                    valid: true,
                    duress,
                    version: Some(version),
                    format: Some(format),
                    line: TemplateLine::BioData,
                    bytes: template,
                    size_mismatch: None,
                };
                store_template(&mut st, t, capacity)
            }
            TemplateCommand::UpdateFace {
                pin,
                index,
                template,
            } => {
                if !st.users.contains_key(&pin) {
                    return -2;
                }
                let t = PushTemplate {
                    pin,
                    kind: BioType::FaceNir,
                    no: index,
                    index: 0,
                    valid: true,
                    duress: false,
                    version: None,
                    format: None,
                    line: TemplateLine::Face,
                    bytes: template,
                    size_mismatch: None,
                };
                st.templates.insert(key_of(&t), t);
                0
            }
            _ => -1002,
        }
    }

    /// `DATA DELETE …` and `DATA QUERY …`; its return code.
    fn remove_or_query(&mut self, id: &str, cmd: TemplateCommand) -> i64 {
        let biodata = self.cfg.biodata;
        let mut st = self.state.lock();
        match cmd {
            TemplateCommand::DeleteFingers { pin, finger } => {
                st.templates
                    .retain(|k, _| !(k.0 == pin && k.1 == 1 && finger.is_none_or(|f| f == k.2)));
                0
            }
            TemplateCommand::DeleteFaces { pin } => {
                st.templates.retain(|k, _| !(k.0 == pin && k.1 == 2));
                0
            }
            TemplateCommand::DeleteBio { pin, kind, no } => {
                st.templates.retain(|k, _| {
                    !(k.0 == pin
                        && kind.is_none_or(|t| t.number() == k.1)
                        && no.is_none_or(|n| n == k.2))
                });
                0
            }
            TemplateCommand::QueryUser { .. } => {
                st.users_due = true;
                0
            }
            TemplateCommand::QueryFingers { pin, finger } => {
                let lines: String = st
                    .templates
                    .values()
                    .filter(|t| {
                        t.pin == pin
                            && t.kind == BioType::Finger
                            && finger.is_none_or(|f| f == t.no)
                    })
                    .map(render_template_line)
                    .collect();
                queue_upload(&mut st, biodata, id, lines);
                0
            }
            TemplateCommand::QueryBio { kind, pin, no } => {
                let lines: String = st
                    .templates
                    .values()
                    .filter(|t| {
                        t.kind == kind
                            && pin.as_ref().is_none_or(|p| *p == t.pin)
                            && no.is_none_or(|n| n == t.no)
                    })
                    .map(render_template_line)
                    .collect();
                queue_upload(&mut st, true, id, lines);
                0
            }
            _ => -1002,
        }
    }
}

/// Stores a written template: −10 for a PIN it does not hold, −11 for a
/// template of 100 bytes or less, −1001 past its fingerprint capacity.
fn store_template(st: &mut State, t: PushTemplate, capacity: usize) -> i64 {
    if !st.users.contains_key(&t.pin) {
        return -10;
    }
    if t.bytes.0.len() <= 100 {
        return -11;
    }
    let key = key_of(&t);
    let fingers = st.templates.keys().filter(|k| k.1 == 1).count();
    if t.kind == BioType::Finger && !st.templates.contains_key(&key) && fingers >= capacity {
        return -1001;
    }
    st.templates.insert(key, t);
    0
}

/// Queues the answer to a query: `lines` to `table=BIODATA` or OPERLOG,
/// with the command's id (`CmdId=`).
fn queue_upload(st: &mut State, biodata: bool, id: &str, lines: String) {
    if lines.is_empty() {
        return;
    }
    let table = if biodata { "BIODATA" } else { "OPERLOG" };
    st.template_outbox
        .push_back((table.to_string(), format!("&CmdId={id}"), lines));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_user(pin: &str) -> State {
        let mut st = State::default();
        st.users.insert(
            pin.to_string(),
            PushUser {
                pin: pin.to_string(),
                ..PushUser::default()
            },
        );
        st
    }

    #[test]
    fn written_templates_get_the_firmware_return_codes() {
        let mut st = state_with_user("1");
        let t = |pin: &str, finger: u8, len: usize| {
            finger_template(pin, finger, vec![7; len], 10, false)
        };
        assert_eq!(
            store_template(&mut st, t("2", 0, 900), 2),
            -10,
            "unknown PIN"
        );
        assert_eq!(store_template(&mut st, t("1", 0, 100), 2), -11, "too short");
        assert_eq!(store_template(&mut st, t("1", 0, 900), 2), 0);
        assert_eq!(store_template(&mut st, t("1", 1, 900), 2), 0);
        assert_eq!(store_template(&mut st, t("1", 2, 900), 2), -1001, "full");
        assert_eq!(
            store_template(&mut st, t("1", 1, 950), 2),
            0,
            "overwrite fits"
        );
        assert_eq!(st.templates.len(), 2);
    }

    #[test]
    fn template_command_lines_are_recognised() {
        let line = "C:12:DATA DELETE FINGERTMP PIN=1\tFID=3";
        assert_eq!(
            template_command_line(line).map(|(id, _)| id),
            Some("12".into())
        );
        assert!(template_command_line("C:13:DATA QUERY FINGERTMP").is_some());
        assert!(template_command_line("C:14:REBOOT").is_none());
        assert!(template_command_line("C:x y:DATA QUERY FINGERTMP").is_none());
    }

    #[test]
    fn a_query_answer_is_queued_with_its_command_id() {
        let mut st = State::default();
        queue_upload(&mut st, false, "9", "FP PIN=1\n".into());
        queue_upload(&mut st, true, "10", String::new());
        assert_eq!(
            st.template_outbox.len(),
            1,
            "nothing to upload: nothing queued"
        );
        let (table, extra, _) = &st.template_outbox[0];
        assert_eq!((table.as_str(), extra.as_str()), ("OPERLOG", "&CmdId=9"));
    }
}
