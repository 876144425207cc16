//! A simulated push ("ADMS"/"iclock") terminal: an HTTP client that does
//! what a real one does (`../shared/protocol/push-protocol.md`) — handshake,
//! upload its backlog in batches (a batch is forgotten only after a
//! `200 OK…` answer; anything else is retried after `ErrorDelay`), punch
//! every few seconds, poll for commands every `Delay`, execute the ones it
//! knows and confirm them, batched, via `devicecmd`. Plain `http://` only.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use parking_lot::Mutex;

use crate::push::protocol::{
    parse_command_line, parse_handshake, render_attlog_line, render_user_line, AttlogRecord,
    PushCommand, PushUser,
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
}

/// Counters a test reads.
#[derive(Debug, Default)]
pub struct PushSimStats {
    /// Punches acknowledged by the server.
    pub acknowledged: AtomicU64,
    /// Uploads answered with something other than `200 OK…`.
    pub refused: AtomicU64,
    /// Commands executed.
    pub commands: AtomicU64,
}

/// A running simulated push terminal.
pub struct PushSim {
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
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("push-sim".into())
            .spawn(move || term.run(&flag))?;
        Ok(PushSim {
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
        ..State::default()
    };
    for u in 0..users {
        let pin = (u + 1).to_string();
        st.users.insert(
            pin.clone(),
            PushUser {
                pin,
                name: format!("Usuario {}", u + 1),
                ..PushUser::default()
            },
        );
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
                self.state.lock().handshake_due = false;
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
                "INFO=Ver%206.60,{},0,{},127.0.0.1",
                st.users.len(),
                st.log.len()
            )
        };
        let body = match self.get("/iclock/getrequest", &info) {
            Ok((200, body)) => body,
            other => {
                log::warn!("push sim {}: poll failed: {other:?}", self.cfg.sn);
                return;
            }
        };
        for line in body.lines().filter(|l| l.starts_with("C:")) {
            let result = if let Some((id, cmd)) = parse_command_line(line) {
                self.execute(&id, cmd)
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
                    "\n~DeviceName=zkserver push simulator\nFWVersion=Ver 6.60 sim\nUserCount={}\nAttLogCount={}\nIPAddress=127.0.0.1",
                    st.users.len(),
                    st.log.len()
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
