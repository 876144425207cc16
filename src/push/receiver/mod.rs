//! The push receiver: what zkserver answers a push terminal's `/iclock`
//! requests, end to end, with no HTTP types (the thin handlers live in
//! `http::iclock`). The caller is identified before a body is read: a
//! refused serial is answered without reading it. Uploads are read as they
//! arrive, in chunks of lines, each chunk's punches stored in one durable
//! transaction; `OK:<n>` is answered once every chunk is committed. A failed
//! journal write answers 503 (the terminal keeps the batch and sends it all
//! again; what was stored before is counted as already stored).
//!
//! Who is calling is decided by the serial: a registered push device, an
//! unknown serial kept as *pending* (capped), or a refused one. Last
//! contact, address, firmware and counts live in memory ([`contacts`]) and
//! are saved at most every few minutes and at shutdown, never per poll.

pub mod contacts;
mod repeats;
mod stats;
pub mod summary;

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::journal::{Journal, JournalError, JournalUser, MarkOutcome, NewPunch, StampTable};
use crate::push::people;
use crate::push::protocol::{
    self, parse_attlog_chunk, parse_devicecmd, parse_operlog_chunk, parse_options_body,
    render_handshake, render_poll, HandshakeOptions, IclockQuery, LineChunks, PushTimeZone,
    Skipped, Table, MAX_POLL_COMMANDS,
};
use crate::push::trust::Trust;
use crate::registry::{Device, Registry};
use crate::text::Encoding;
use crate::time::now;

pub use contacts::{Contact, Contacts};
use repeats::Repeats;
pub use stats::PushStats;
use summary::{Routine, Summary};

/// Most unknown serials kept pending at once.
pub const MAX_PENDING_SERIALS: u64 = 32;
/// Most punches kept for unknown serials, in all.
pub const MAX_PENDING_PUNCHES: u64 = 100_000;
/// Most users kept for unknown serials, in all.
pub const MAX_PENDING_USERS: u64 = 100_000;
/// A pending serial that holds nothing (it only shook hands) and was not
/// heard from for this long is forgotten.
pub const PENDING_IDLE_EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// Largest `/iclock` request body.
pub const MAX_PUSH_BODY: usize = 16 * 1024 * 1024;
/// `ErrorDelay` announced in the handshake (seconds).
pub const ERROR_DELAY: u32 = 30;

/// What to do with serials no device is registered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownSerials {
    /// Answer them and keep their punches as pending (the default).
    #[default]
    Pending,
    /// Answer them 403.
    Reject,
}

/// How the receiver is set up.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// `Delay`: seconds between a terminal's command polls (`--push-delay`).
    pub delay: u32,
    /// `ErrorDelay`: seconds a terminal waits after a failed exchange.
    pub error_delay: u32,
    /// Unknown serials (`--push-unknown`).
    pub unknown: UnknownSerials,
    /// Where contacts are saved (none: kept in memory only).
    pub contacts_file: Option<PathBuf>,
    /// The shortest time a terminal counts as online after its last
    /// contact (30 s; tests shorten it).
    pub min_online: Duration,
    /// How often a terminal's routine traffic (polls, acknowledged
    /// uploads) is summarised in one log line (60 s).
    pub log_summary_every: Duration,
    /// Where every registered terminal may be (`--push-allow-from`), for
    /// devices without their own `allow_from`; empty: each is pinned.
    pub allow_from: Vec<crate::ipnet::IpNet>,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            delay: 10,
            error_delay: ERROR_DELAY,
            unknown: UnknownSerials::Pending,
            contacts_file: None,
            min_online: Duration::from_secs(30),
            log_summary_every: summary::SUMMARY_EVERY,
            allow_from: Vec::new(),
        }
    }
}

/// One `/iclock` request as the receiver sees it.
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    /// The decoded query pairs, in order.
    pub query: &'a [(String, String)],
    /// The client's address (the terminal, or who a proxy forwarded for).
    pub ip: String,
    /// `User-Agent` (empty when absent).
    pub user_agent: String,
    /// The request body, if read in full; the `/iclock` handlers leave it
    /// empty and hand bodies to [`Receiver::upload`] and
    /// [`Receiver::results`] once the caller is identified.
    pub body: &'a [u8],
}

/// The answer to a terminal: status and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Plain-text body.
    pub body: String,
    /// How the body is written on the wire: the terminal's encoding for
    /// an answer carrying names (commands), else UTF-8.
    pub encoding: Encoding,
}

impl Reply {
    fn ok(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
            encoding: Encoding::Utf8,
        }
    }

    fn error(status: u16, detail: &str) -> Reply {
        Reply {
            status,
            body: format!("ERROR: {detail}"),
            encoding: Encoding::Utf8,
        }
    }

    /// The body as the terminal reads it (names in its encoding).
    pub fn bytes(&self) -> Vec<u8> {
        self.encoding.encode(&self.body)
    }

    /// The answer when the body could not be read (the connection answers
    /// the client itself: too slow, or gone).
    fn body_failed(sn: &str, e: &std::io::Error) -> Reply {
        log::warn!("push {sn}: upload body not received: {e}");
        Reply::error(400, "request body incomplete")
    }

    /// 503 for a journal that could not be written.
    fn journal_failed(e: &JournalError) -> Reply {
        log::error!("push: journal write failed, answering 503: {e}");
        stats::global().journal_failure();
        Reply::error(503, "journal unavailable, retry later")
    }
}

/// A request whose caller was accepted; its body is read next.
pub struct Identified {
    q: IclockQuery,
    caller: Caller,
    /// The terminal's address (see [`Exchange::ip`]).
    ip: String,
}

impl Identified {
    /// The terminal's serial number.
    pub fn serial(&self) -> &str {
        &self.q.sn
    }
}

/// Who sent a request.
enum Caller {
    /// A registered push device.
    Device(Arc<Device>),
    /// An unknown serial kept as pending.
    Pending,
}

/// The push receiver.
pub struct Receiver {
    journal: Arc<Journal>,
    registry: Arc<Registry>,
    settings: PushSettings,
    contacts: Contacts,
    last_save: parking_lot::Mutex<Instant>,
    summary: Summary,
    trust: Trust,
    /// Per device, the staff list's change count it last followed.
    people_seen: parking_lot::Mutex<std::collections::HashMap<String, u64>>,
}

/// Time between saves of the contacts.
const SAVE_EVERY: Duration = Duration::from_secs(300);

impl Receiver {
    /// A receiver storing into `journal` for the devices of `registry`.
    pub fn new(journal: Arc<Journal>, registry: Arc<Registry>, settings: PushSettings) -> Receiver {
        let contacts = Contacts::load(settings.contacts_file.as_deref());
        let summary = Summary::new(settings.log_summary_every);
        Receiver {
            journal,
            registry,
            settings,
            contacts,
            last_save: parking_lot::Mutex::new(Instant::now()),
            summary,
            trust: Trust::default(),
            people_seen: parking_lot::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &PushSettings {
        &self.settings
    }

    /// The in-memory contacts.
    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// How long after its last contact a terminal counts as online:
    /// 3 × `Delay`, at least 30 s.
    pub fn online_window(&self) -> Duration {
        Duration::from_secs(u64::from(self.settings.delay) * 3).max(self.settings.min_online)
    }

    /// The last contact of push device `device` (by its serial), if any.
    pub fn contact_of(&self, device: &Device) -> Option<Contact> {
        self.contacts.get(device.config.sn.as_deref()?)
    }

    /// Whether `contact` is recent enough to call the terminal online.
    pub fn is_online(&self, contact: &Contact) -> bool {
        contact.age().is_some_and(|a| a <= self.online_window())
    }

    /// `GET /iclock/cdata`: the handshake options.
    pub fn handshake(&self, ex: &Exchange<'_>) -> Reply {
        let (q, caller) = match self.identify(ex) {
            Ok(x) => x,
            Err(r) => return r,
        };
        if let Some(key) = &q.push_comm_key {
            self.contacts
                .update(&q.sn, |c| c.push_comm_key = Some(key.clone()));
        }
        let (att, oper, timezone) = match &caller {
            Caller::Device(d) => (
                self.stamp(&d.id, StampTable::AttLog),
                self.stamp(&d.id, StampTable::OperLog),
                device_timezone(d),
            ),
            Caller::Pending => (None, None, server_timezone()),
        };
        // Templates are asked of imported terminals only: biometric data
        // crosses the network only where the staff list keeps it.
        let templates = match &caller {
            Caller::Device(d) => people::is_imported(&self.journal, &d.id),
            Caller::Pending => false,
        };
        Reply::ok(render_handshake(&HandshakeOptions {
            serial: &q.sn,
            attlog_stamp: att.as_deref(),
            operlog_stamp: oper.as_deref(),
            error_delay: self.settings.error_delay,
            delay: self.settings.delay,
            timezone,
            templates,
        }))
    }

    /// Decides who sent a request with a body before the body is read;
    /// `Err` is the answer for a refused one (see [`Receiver::upload`] and
    /// [`Receiver::results`]).
    pub fn identify_request(&self, ex: &Exchange<'_>) -> Result<Identified, Reply> {
        self.identify(ex).map(|(q, caller)| Identified {
            q,
            caller,
            ip: ex.ip.clone(),
        })
    }

    /// `POST /iclock/cdata`: an upload (ATTLOG, OPERLOG, options, photos…)
    /// from an identified caller, its body read from `body` as it arrives.
    pub fn upload(&self, who: &Identified, body: &mut dyn BufRead) -> Reply {
        let (q, caller) = (&who.q, &who.caller);
        stats::global().upload();
        match q.table.clone().unwrap_or(Table::Other(String::new())) {
            Table::AttLog => self.attlog(q, caller, &who.ip, body),
            Table::OperLog => self.operlog(q, caller, body),
            Table::Options => self.options(q, body),
            Table::BioData => self.biodata(q, caller, body),
            Table::AttPhoto => match drain(body) {
                Ok(_) => {
                    self.routine_upload(&q.sn);
                    Reply::ok("OK")
                }
                Err(e) => Reply::body_failed(&q.sn, &e),
            },
            Table::Other(name) => {
                let bytes = match drain(body) {
                    Ok(n) => n,
                    Err(e) => return Reply::body_failed(&q.sn, &e),
                };
                log::info!(
                    "push {}: upload of table {:?} accepted, not stored ({bytes} bytes)",
                    q.sn,
                    crate::text::cut(&name, 40),
                );
                Reply::ok("OK")
            }
        }
    }

    /// `GET /iclock/getrequest`: the queued commands, or `OK`.
    pub fn poll(&self, ex: &Exchange<'_>) -> Reply {
        let (q, caller) = match self.identify(ex) {
            Ok(x) => x,
            Err(r) => return r,
        };
        self.note_info(&q);
        let Caller::Device(device) = caller else {
            self.summary.note(&q.sn, Routine::Poll);
            return Reply::ok("OK");
        };
        self.follow_people(&q, &device);
        let queued = match self
            .journal
            .next_commands(&device.id, MAX_POLL_COMMANDS as u32)
        {
            Ok(c) => c,
            Err(e) => return Reply::journal_failed(&e),
        };
        if queued.is_empty() {
            self.summary.note(&q.sn, Routine::Poll);
            return Reply::ok("OK");
        }
        let pairs: Vec<(i64, String)> = queued.into_iter().map(|c| (c.id, c.command)).collect();
        let (body, ids) = render_poll(&pairs);
        if ids.is_empty() {
            return Reply::ok(body);
        }
        // Marked before it is answered: a command is never sent twice.
        if let Err(e) = self.journal.mark_sent(&device.id, &ids, now()) {
            return Reply::journal_failed(&e);
        }
        log::info!(
            "push {}: sent {} command(s) to '{}'",
            q.sn,
            ids.len(),
            device.id
        );
        // Names in user commands go out in the terminal's encoding.
        Reply {
            encoding: crate::ops::users::encoding(&device),
            ..Reply::ok(body)
        }
    }

    /// `POST /iclock/devicecmd`: command results from an identified caller.
    pub fn results(&self, who: &Identified, body: &[u8]) -> Reply {
        let (q, caller) = (&who.q, &who.caller);
        let batch = parse_devicecmd(body);
        log_skipped(&q.sn, "devicecmd", &batch.skipped);
        let Caller::Device(device) = caller else {
            return Reply::ok("OK");
        };
        let mut never_sent = Repeats::new(&q.sn, "results for command ids zkserver never sent");
        let mut unknown = Repeats::new(&q.sn, "results for unknown command ids");
        let mut again = Repeats::new(&q.sn, "results for commands already done");
        for result in &batch.results {
            let Some(id) = result.numeric_id() else {
                never_sent.warn(|| {
                    format!(
                        "result for command id {:?} that zkserver never sent",
                        crate::text::cut(&result.id, 40)
                    )
                });
                continue;
            };
            match self
                .journal
                .mark_result(&device.id, id, result.return_code, now())
            {
                Ok(MarkOutcome::Updated(cmd)) => {
                    // What the terminal reports (INFO) is believed only in
                    // the result of a command it was sent.
                    if !result.info.is_empty() {
                        self.contacts
                            .update(&q.sn, |c| c.merge_options(&result.info));
                    }
                    log::info!(
                        "push {}: command {id} of '{}' -> {} (Return={})",
                        q.sn,
                        device.id,
                        cmd.status.as_str(),
                        result.return_code
                    );
                    // A completed user command changes the journal's copy.
                    if let Err(e) = super::commands::apply_completed(&self.journal, &cmd, now()) {
                        return Reply::journal_failed(&e);
                    }
                    let profile = people::PushProfile::of(self.contacts.get(&q.sn).as_ref());
                    let at = crate::time::WallTime::new(now());
                    if let Err(e) = people::on_result(&self.journal, &cmd, &profile, at) {
                        return Reply::journal_failed(&e);
                    }
                }
                Ok(MarkOutcome::AlreadyDone(cmd)) => again.warn(|| {
                    format!(
                        "result for command {id} ({}) again, ignored",
                        cmd.status.as_str()
                    )
                }),
                Ok(MarkOutcome::NotSent(_)) => never_sent.warn(|| {
                    format!(
                        "result for command {id} of '{}' that was never sent to it, ignored",
                        device.id
                    )
                }),
                Ok(MarkOutcome::Unknown) => unknown.warn(|| {
                    format!(
                        "result for unknown command id {id} of '{}' ignored",
                        device.id
                    )
                }),
                Err(e) => return Reply::journal_failed(&e),
            }
        }
        Reply::ok("OK")
    }

    /// `GET /iclock/ping`: the terminal is busy uploading; just `OK`.
    pub fn ping(&self, ex: &Exchange<'_>) -> Reply {
        match self.identify(ex) {
            Ok((q, _)) => {
                self.summary.note(&q.sn, Routine::Ping);
                Reply::ok("OK")
            }
            Err(r) => r,
        }
    }

    /// Keeps the `INFO=` a poll carries (firmware, counts) for the
    /// terminal's status.
    fn note_info(&self, q: &IclockQuery) {
        if let Some(info) = &q.info {
            self.contacts.update(&q.sn, |c| c.info = Some(info.clone()));
        }
    }

    /// A forwarded terminal's poll (the upstream answers it): notes the
    /// contact and the `INFO=` it carries (firmware, counts), as
    /// [`Receiver::poll`] does; delivers nothing.
    pub fn observe_poll(&self, ex: &Exchange<'_>) -> Reply {
        let (q, _) = match self.identify(ex) {
            Ok(x) => x,
            Err(r) => return r,
        };
        self.note_info(&q);
        self.summary.note(&q.sn, Routine::Poll);
        Reply::ok("OK")
    }

    /// A forwarded terminal's command results (for the upstream's
    /// commands, so no queue is touched): what its INFO replies tell of
    /// it (firmware, model, counts) is noted for its status.
    pub fn observe_results(&self, who: &Identified, body: &[u8]) -> Reply {
        let (q, caller) = (&who.q, &who.caller);
        if let Caller::Device(_) = caller {
            for result in parse_devicecmd(body).results {
                if !result.info.is_empty() {
                    self.contacts
                        .update(&q.sn, |c| c.merge_options(&result.info));
                }
            }
        }
        Reply::ok("OK")
    }

    /// Counts an acknowledged upload that stored no punches (users,
    /// options, photos) in the terminal's summary.
    fn routine_upload(&self, sn: &str) {
        self.summary.note(
            sn,
            Routine::Upload {
                stored: 0,
                duplicates: 0,
            },
        );
    }

    /// Saves the contacts (in the journal and the contacts file), refreshes
    /// pending serials and forgets the idle ones that hold nothing, if the
    /// last save is older than a few minutes; `force` saves now (shutdown).
    pub fn save(&self, force: bool) {
        if force {
            self.summary.flush();
        }
        {
            let mut last = self.last_save.lock();
            if !force && last.elapsed() < SAVE_EVERY {
                return;
            }
            *last = Instant::now();
        }
        self.contacts
            .save(self.settings.contacts_file.as_deref(), &self.journal);
        self.expire_idle_pending();
    }

    /// Forgets the pending serials that hold nothing and were not heard
    /// from for [`PENDING_IDLE_EXPIRY`].
    fn expire_idle_pending(&self) {
        let idle = chrono::Duration::from_std(PENDING_IDLE_EXPIRY).unwrap_or_default();
        match self.journal.expire_pending(now() - idle) {
            Ok(gone) => {
                for sn in gone {
                    log::info!("push: pending serial {sn} expired (idle, held nothing)");
                    self.contacts.unmark_pending(&sn);
                }
            }
            Err(e) => log::warn!("push: could not expire idle pending serials: {e}"),
        }
    }

    /// Removes pending serial `sn` with its punches and users (the API's
    /// `DELETE /push/pending/{sn}`); `None` when it was not pending. If
    /// the terminal calls again, it is pending again, from then on.
    pub fn remove_pending(
        &self,
        sn: &str,
    ) -> Result<Option<crate::journal::RemovedPending>, JournalError> {
        let removed = self.journal.remove_pending(sn)?;
        self.contacts.unmark_pending(sn);
        Ok(removed)
    }

    /// Parses the query, records the contact and decides who is calling;
    /// `Err` is the answer for a refused request.
    fn identify(&self, ex: &Exchange<'_>) -> Result<(IclockQuery, Caller), Reply> {
        let q = protocol::parse_query(ex.query).map_err(|e| {
            log::warn!("push request from {} refused: {e}", ex.ip);
            Reply::error(400, &e.to_string())
        })?;
        let caller = match self.registry.by_serial(&q.sn) {
            Some(device) => {
                self.trusted(&device, &q, ex)?;
                self.claim(&device, &q.sn)?;
                Caller::Device(device)
            }
            None => self.unknown(&q, ex)?,
        };
        let first = self.contacts.touch(&q.sn, ex, q.pushver.as_deref());
        if first {
            if let Caller::Device(d) = &caller {
                log::info!(
                    "push terminal '{}' (SN {}) in contact from {}",
                    d.id,
                    q.sn,
                    ex.ip
                );
                // Once a run: the contact survives a SIGKILL from now on.
                let contact = [(q.sn.clone(), ex.ip.clone(), now())];
                if let Err(e) = self.journal.save_contacts(&contact) {
                    log::warn!("push {}: could not save its first contact: {e}", q.sn);
                }
            }
        }
        self.save(false);
        Ok((q, caller))
    }

    /// Records the terminal's serial for `device` before anything of it is
    /// stored: the same terminal under a new id keeps its history (and its
    /// upload stamps, so it does not upload everything again).
    fn claim(&self, device: &Device, sn: &str) -> Result<(), Reply> {
        claim_serial(&self.journal, &self.registry, &device.id, sn)
            .map(drop)
            .map_err(|e| Reply::journal_failed(&e))
    }

    /// Refuses a request that may not speak for `device` (see [`crate::push::trust`]).
    fn trusted(&self, device: &Device, q: &IclockQuery, ex: &Exchange<'_>) -> Result<(), Reply> {
        self.trust
            .check(&self.journal, device, &ex.ip, q, &self.settings.allow_from)
            .map_err(|refusal| {
                log::warn!(
                    "push {}: request from {} for '{}' refused: {}",
                    q.sn,
                    ex.ip,
                    device.id,
                    refusal.reason()
                );
                Reply {
                    status: refusal.status(),
                    body: refusal.body(),
                    encoding: Encoding::Utf8,
                }
            })
    }

    /// Forgets where push device `id` was pinned (`PUT` with `allow_from`,
    /// a new registration): its next contact pins it again.
    pub fn forget_pin(&self, id: &str) {
        if let Err(e) = self.trust.forget(&self.journal, id) {
            log::error!("push: could not forget the pinned address of '{id}': {e}");
        }
    }

    /// Pins push device `device` to the address its serial was pending
    /// from, if it was (so registering it does not hand the pin to whoever
    /// speaks first afterwards).
    pub fn pin_where_pending(&self, device: &Device) {
        let Some(sn) = device
            .config
            .sn
            .as_deref()
            .filter(|_| device.config.is_push())
        else {
            return;
        };
        let pending = match self.journal.list_pending() {
            Ok(list) => list.into_iter().find(|p| p.sn == sn),
            Err(e) => {
                log::error!("push: could not read the pending serials: {e}");
                return;
            }
        };
        let Some(pending) = pending else {
            return;
        };
        let last = self
            .contacts
            .get(sn)
            .map(|c| c.ip)
            .filter(|ip| !ip.is_empty());
        let Ok(ip) = last.unwrap_or(pending.ip).parse() else {
            return;
        };
        match self.trust.pin_to(&self.journal, device, ip) {
            Ok(()) => log::info!(
                "push terminal '{}' pinned to {ip}, where its serial was pending from",
                device.id
            ),
            Err(e) => log::error!("push: could not pin '{}': {}", device.id, e.reason()),
        }
    }

    /// The address push device `device` is pinned to, if any.
    pub fn pinned_address(&self, device: &Device) -> Option<std::net::IpAddr> {
        self.trust.pinned(&self.journal, device)
    }

    /// Decides about an unknown serial: refused (`--push-unknown reject`,
    /// or the 33rd serial), or pending (recorded on its first request).
    fn unknown(&self, q: &IclockQuery, ex: &Exchange<'_>) -> Result<Caller, Reply> {
        if self.settings.unknown == UnknownSerials::Reject {
            log::warn!("push: unknown serial {} from {} refused", q.sn, ex.ip);
            return Err(Reply::error(403, "unknown serial number"));
        }
        if self.contacts.is_pending(&q.sn) {
            return Ok(Caller::Pending);
        }
        let pending = self
            .journal
            .list_pending()
            .map_err(|e| Reply::journal_failed(&e))?;
        if !pending.iter().any(|p| p.sn == q.sn) {
            if pending.len() as u64 >= MAX_PENDING_SERIALS && !self.make_room(q, ex)? {
                log::warn!(
                    "push: unknown serial {} from {} refused: {} serials already pending, all holding punches or users",
                    q.sn,
                    ex.ip,
                    pending.len()
                );
                return Err(Reply::error(403, "too many unknown serial numbers"));
            }
            let sighting = crate::journal::PendingSighting {
                sn: q.sn.clone(),
                ip: ex.ip.clone(),
                user_agent: ex.user_agent.clone(),
                pushver: q.pushver.clone().unwrap_or_default(),
                seen_at: now(),
            };
            self.journal
                .record_pending(&sighting)
                .map_err(|e| Reply::journal_failed(&e))?;
            log::warn!(
                "push: unknown serial {} from {} is pending; register a device with \"sn\": \"{}\" to adopt its punches",
                q.sn,
                ex.ip,
                q.sn
            );
        }
        self.contacts.mark_pending(&q.sn);
        Ok(Caller::Pending)
    }

    /// The pending list is full: forgets the idle serials that hold
    /// nothing, else the one of them seen longest ago (a serial that only
    /// shook hands never blocks one that uploads). False when every
    /// pending serial holds punches or users.
    fn make_room(&self, q: &IclockQuery, ex: &Exchange<'_>) -> Result<bool, Reply> {
        self.expire_idle_pending();
        let (serials, _) = self
            .journal
            .pending_totals()
            .map_err(|e| Reply::journal_failed(&e))?;
        if serials < MAX_PENDING_SERIALS {
            return Ok(true);
        }
        match self.journal.evict_idle_pending() {
            Ok(Some(sn)) => {
                log::info!(
                    "push: pending serial {sn} (held nothing) forgotten to make room for {} from {}",
                    q.sn,
                    ex.ip
                );
                self.contacts.unmark_pending(&sn);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(Reply::journal_failed(&e)),
        }
    }

    /// Stores an ATTLOG upload chunk by chunk (each chunk's punches in one
    /// durable transaction, with the terminal's last contact; the upload's
    /// stamp with the last), then answers `OK:<n>`.
    fn attlog(&self, q: &IclockQuery, caller: &Caller, ip: &str, body: &mut dyn BufRead) -> Reply {
        let st = stats::global();
        let received = now();
        let mut chunks = LineChunks::new(body);
        let (mut n, mut stored, mut duplicates) = (0, 0, 0);
        let mut skipped = SkipLog::default();
        loop {
            let chunk = match chunks.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Reply::body_failed(&q.sn, &e),
            };
            let batch = parse_attlog_chunk(&chunk);
            st.rejected(batch.skipped.len());
            skipped.add(&batch.skipped);
            let punches: Vec<NewPunch> = batch.records.into_iter().map(NewPunch::from).collect();
            n += punches.len();
            let started = Instant::now();
            let outcome = match caller {
                Caller::Device(d) => {
                    let stamp = q
                        .upload_stamp()
                        .filter(|_| chunk.last)
                        .map(|s| (StampTable::AttLog, s));
                    if punches.is_empty() && stamp.is_none() {
                        continue;
                    }
                    let contact = Some((q.sn.as_str(), ip));
                    self.journal
                        .insert_upload(&d.id, &punches, received, stamp, contact)
                }
                Caller::Pending => {
                    if punches.is_empty() {
                        continue;
                    }
                    if let Some(refusal) = self.pending_full(q, &punches) {
                        return refusal;
                    }
                    self.journal
                        .insert_pending_punches(&q.sn, &punches, received)
                }
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => return Reply::journal_failed(&e),
            };
            st.committed(outcome.stored, outcome.duplicates, started.elapsed());
            stored += outcome.stored;
            duplicates += outcome.duplicates;
        }
        if skipped.total == 0 {
            self.summary
                .note(&q.sn, Routine::Upload { stored, duplicates });
        } else {
            skipped.log(&q.sn, "ATTLOG");
            log::info!(
                "push {}: ATTLOG {n} line(s): {stored} new, {duplicates} already stored, {} skipped",
                q.sn,
                skipped.total
            );
        }
        Reply::ok(format!("OK:{n}"))
    }

    /// The 403 for a pending upload that would pass the pending cap (a
    /// batch whose punches are all stored already passes: it is answered
    /// OK, else the terminal would send it forever).
    fn pending_full(&self, q: &IclockQuery, batch: &[NewPunch]) -> Option<Reply> {
        let (_, punches) = match self.journal.pending_totals() {
            Ok(t) => t,
            Err(e) => return Some(Reply::journal_failed(&e)),
        };
        if punches + batch.len() as u64 <= MAX_PENDING_PUNCHES {
            return None;
        }
        let n = match self.journal.pending_missing(&q.sn, batch) {
            Ok(0) => return None,
            Ok(missing) => missing,
            Err(e) => return Some(Reply::journal_failed(&e)),
        };
        if punches + n as u64 <= MAX_PENDING_PUNCHES {
            return None;
        }
        log::warn!(
            "push: upload of {n} punch(es) from unknown serial {} refused: {punches} pending punches already (max {MAX_PENDING_PUNCHES})",
            q.sn
        );
        Some(Reply::error(403, "too many pending punches"))
    }

    /// Stores OPERLOG `USER` lines in the users copy chunk by chunk (a
    /// pending serial's wait for its adoption; the stamp after the last),
    /// then answers `OK:<n>`.
    fn operlog(&self, q: &IclockQuery, caller: &Caller, body: &mut dyn BufRead) -> Reply {
        // Names come in the terminal's own encoding, as on pull terminals.
        let encoding = match caller {
            Caller::Device(d) => crate::ops::users::encoding(d),
            Caller::Pending => Encoding::Utf8,
        };
        let mut chunks = LineChunks::new(body);
        let mut accepted = 0;
        let mut skipped = SkipLog::default();
        loop {
            let chunk = match chunks.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Reply::body_failed(&q.sn, &e),
            };
            let batch = parse_operlog_chunk(&chunk, encoding);
            skipped.add(&batch.skipped);
            accepted += batch.accepted();
            if let Err(refusal) = self.join_people(q, caller, &chunk, &batch.users) {
                return refusal;
            }
            let users: Vec<JournalUser> = batch.users.into_iter().map(JournalUser::from).collect();
            if users.is_empty() {
                continue;
            }
            let stored = match caller {
                Caller::Pending => self.pending_users(&q.sn, &users),
                Caller::Device(d) => self
                    .journal
                    .upsert_users(&d.id, &users, now())
                    .map_err(|e| Reply::journal_failed(&e)),
            };
            if let Err(refusal) = stored {
                return refusal;
            }
        }
        skipped.log(&q.sn, "OPERLOG");
        if let (Caller::Device(d), Some(stamp)) = (caller, q.upload_stamp()) {
            if let Err(e) = self.journal.set_stamp(&d.id, StampTable::OperLog, stamp) {
                return Reply::journal_failed(&e);
            }
        }
        if skipped.total == 0 {
            self.routine_upload(&q.sn);
        }
        Reply::ok(format!("OK:{accepted}"))
    }

    /// The imported terminal whose uploads join the staff list, if
    /// `caller` is one.
    fn imported<'c>(&self, caller: &'c Caller) -> Option<&'c Arc<Device>> {
        match caller {
            Caller::Device(d) if people::is_imported(&self.journal, &d.id) => Some(d),
            _ => None,
        }
    }

    /// Joins the users and templates of an upload chunk from an imported
    /// terminal to the staff list (templates counted, never logged).
    fn join_people(
        &self,
        q: &IclockQuery,
        caller: &Caller,
        chunk: &protocol::Chunk<'_>,
        users: &[protocol::PushUser],
    ) -> Result<(), Reply> {
        let Some(device) = self.imported(caller) else {
            return Ok(());
        };
        let templates = protocol::parse_templates(chunk.bytes);
        if users.is_empty() && templates.templates.is_empty() {
            return Ok(());
        }
        for (line, e) in templates.errors.iter().take(5) {
            log::warn!(
                "push {}: template line {} skipped: {e}",
                q.sn,
                chunk.lines_before + line
            );
        }
        let mismatched = templates
            .templates
            .iter()
            .filter(|t| t.size_mismatch.is_some())
            .count();
        if mismatched > 0 {
            log::info!(
                "push {}: {mismatched} template(s) whose Size is not their text's length, kept",
                q.sn
            );
        }
        let profile = people::PushProfile::of(self.contacts.get(&q.sn).as_ref());
        let at = crate::time::WallTime::new(now());
        let joined = people::join_upload(
            &self.journal,
            &device.id,
            &profile,
            users,
            &templates.templates,
            at,
        )
        .map_err(|e| Reply::journal_failed(&e))?;
        log::info!(
            "push {}: '{}' uploaded {} user(s), {} template(s): {} person(s) and {} template(s) joined the staff list, {} not taken",
            q.sn,
            device.id,
            users.len(),
            templates.templates.len(),
            joined.people,
            joined.templates,
            joined.ignored
        );
        Ok(())
    }

    /// A `table=BIODATA` upload: joins the staff list from an imported
    /// terminal, else is read and answered without being kept.
    fn biodata(&self, q: &IclockQuery, caller: &Caller, body: &mut dyn BufRead) -> Reply {
        let mut chunks = LineChunks::new(body);
        let mut lines = 0;
        loop {
            let chunk = match chunks.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Reply::body_failed(&q.sn, &e),
            };
            lines += chunk
                .bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.trim_ascii().is_empty())
                .count();
            if let Err(refusal) = self.join_people(q, caller, &chunk, &[]) {
                return refusal;
            }
        }
        self.routine_upload(&q.sn);
        Reply::ok(format!("OK:{lines}"))
    }

    /// At a poll of push `device`: when the staff list changed since its
    /// last look (or at its first poll), queues what it needs to match it.
    fn follow_people(&self, q: &IclockQuery, device: &Device) {
        let current = self.journal.people_changes().current();
        // One look at a time per device: two polls at once queue once.
        let mut seen = self.people_seen.lock();
        if seen.get(&device.id) == Some(&current) {
            return;
        }
        let profile = people::PushProfile::of(self.contacts.get(&q.sn).as_ref());
        let at = crate::time::WallTime::new(now());
        match people::sync_device(&self.journal, device, &profile, at) {
            Ok(_) => {
                seen.insert(device.id.clone(), current);
            }
            Err(e) => log::error!("people: sync of push terminal '{}' failed: {e}", device.id),
        }
    }

    /// Merges a `table=options` upload into the terminal's contact, chunk
    /// by chunk.
    fn options(&self, q: &IclockQuery, body: &mut dyn BufRead) -> Reply {
        let mut chunks = LineChunks::new(body);
        loop {
            match chunks.next_chunk() {
                Ok(Some(chunk)) => {
                    let options = parse_options_body(chunk.bytes);
                    self.contacts.update(&q.sn, |c| c.merge_options(&options));
                }
                Ok(None) => {
                    self.routine_upload(&q.sn);
                    return Reply::ok("OK");
                }
                Err(e) => return Reply::body_failed(&q.sn, &e),
            }
        }
    }

    /// Keeps the users a pending serial uploaded, for its adoption (403
    /// past [`MAX_PENDING_USERS`] in all, like punches).
    fn pending_users(&self, sn: &str, users: &[JournalUser]) -> Result<(), Reply> {
        let total = self
            .journal
            .pending_users_total()
            .map_err(|e| Reply::journal_failed(&e))?;
        if total + users.len() as u64 > MAX_PENDING_USERS {
            log::warn!(
                "push: {} user(s) from unknown serial {sn} refused: {total} pending users already (max {MAX_PENDING_USERS})",
                users.len()
            );
            return Err(Reply::error(403, "too many pending users"));
        }
        self.journal
            .insert_pending_users(sn, users, now())
            .map_err(|e| Reply::journal_failed(&e))?;
        log::info!("push {sn}: {} user(s) kept for its adoption", users.len());
        Ok(())
    }

    /// A stored stamp; a journal that cannot be read gives none (the
    /// terminal then sends everything again, which the journal dedupes).
    fn stamp(&self, device: &str, table: StampTable) -> Option<String> {
        self.journal.stamp(device, table).unwrap_or_else(|e| {
            log::warn!("push: could not read the {table:?} stamp of '{device}': {e}");
            None
        })
    }
}

/// Records that push device `id` is the terminal with serial `sn`; the
/// history the journal has for that serial under another id moves to `id`
/// unless that id is still registered as this terminal (a pull entry whose
/// serial is not known here counts as this terminal: kept apart).
pub fn claim_serial(
    journal: &Journal,
    registry: &Registry,
    id: &str,
    sn: &str,
) -> Result<crate::journal::Claim, JournalError> {
    journal.claim_serial(id, sn, |other| {
        registry
            .get(other)
            .is_some_and(|d| !d.config.is_push() || d.config.sn.as_deref() == Some(sn))
    })
}

/// The device's `timezone`, else the server's offset.
fn device_timezone(device: &Device) -> PushTimeZone {
    device
        .config
        .timezone
        .as_deref()
        .and_then(crate::registry::parse_utc_offset)
        .and_then(PushTimeZone::from_minutes)
        .unwrap_or_else(server_timezone)
}

/// The server's current UTC offset (UTC if it is not a real zone).
pub fn server_timezone() -> PushTimeZone {
    PushTimeZone::from_minutes(crate::time::server_offset_minutes()).unwrap_or(PushTimeZone::UTC)
}

/// Reads and discards a body (uploads that are not stored); its size.
fn drain(body: &mut dyn BufRead) -> std::io::Result<u64> {
    std::io::copy(body, &mut std::io::sink())
}

/// The skipped lines of a streamed upload: the first few kept for the
/// log, the rest only counted.
#[derive(Default)]
struct SkipLog {
    first: Vec<Skipped>,
    total: usize,
}

impl SkipLog {
    /// Lines logged in detail.
    const DETAILED: usize = 5;

    fn add(&mut self, skipped: &[Skipped]) {
        let room = Self::DETAILED.saturating_sub(self.first.len());
        self.first.extend(skipped.iter().take(room).cloned());
        self.total += skipped.len();
    }

    /// Logs the first few in detail and how many more there were.
    fn log(&self, sn: &str, what: &str) {
        log_skipped(sn, what, &self.first);
        if self.total > self.first.len() {
            log::warn!(
                "push {sn}: {what}: {} more lines skipped",
                self.total - self.first.len()
            );
        }
    }
}

/// Logs skipped lines (the first few in detail).
fn log_skipped(sn: &str, what: &str, skipped: &[Skipped]) {
    for s in skipped.iter().take(5) {
        log::warn!(
            "push {sn}: {what} line {} skipped: {}",
            s.line,
            s.reason.as_str()
        );
    }
    if skipped.len() > 5 {
        log::warn!(
            "push {sn}: {what}: {} more lines skipped",
            skipped.len() - 5
        );
    }
}
