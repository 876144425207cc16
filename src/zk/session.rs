//! An open conversation with a terminal: connect (and authenticate),
//! exchange commands, simple queries, EXIT on drop, and the `Disabled`
//! guard that re-enables the terminal on every path.

use std::time::{Duration, Instant};

use super::codec::{commkey, u32_at, until_nul, ZkTime};
use super::error::{Error, Phase, ProtocolError, Result};
use super::transport::{self, Transport};
use super::wire::{cmd, Packet};

/// Attempts for a UDP command or chunk before giving up.
pub(super) const UDP_ATTEMPTS: u32 = 3;

/// How to reach a terminal.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Host name or IP address.
    pub host: String,
    /// Port (4370 by default on terminals).
    pub port: u16,
    /// Comm key ("password"); 0 when none is set.
    pub password: u32,
    /// Per-phase timeout.
    pub timeout: Duration,
    /// Use UDP instead of TCP.
    pub udp: bool,
    /// How long one whole conversation may last, however steadily the
    /// terminal answers (so a trickling terminal cannot hold a device lock
    /// forever). Re-enabling the terminal afterwards gets its own time.
    pub operation_limit: Duration,
}

/// Default [`ConnectOptions::operation_limit`]: far above a full 200 000
/// record download from a slow terminal (about a minute).
pub const DEFAULT_OPERATION_LIMIT: Duration = Duration::from_secs(300);

/// How long a RESTART waits for an acknowledgement that may never come.
const RESTART_ACK_WAIT: Duration = Duration::from_secs(2);

impl ConnectOptions {
    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Counters reported by CMD_GET_FREE_SIZES (spec §3.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub users: u32,
    pub fingers: u32,
    pub records: u32,
    pub oplog: u32,
    pub admins: u32,
    pub passwords: u32,
    pub fingers_cap: u32,
    pub users_cap: u32,
    pub records_cap: u32,
    pub fingers_av: u32,
    pub users_av: u32,
    pub records_av: u32,
    pub faces: Option<u32>,
    pub faces_cap: Option<u32>,
}

impl Sizes {
    /// Parses the 80- or 92-byte payload.
    pub fn parse(data: &[u8]) -> Result<Sizes> {
        if data.len() < 80 {
            return Err(ProtocolError::ShortReply {
                command: cmd::GET_FREE_SIZES,
                len: data.len(),
            }
            .into());
        }
        let w = |i: usize| u32_at(data, i * 4).unwrap_or(0);
        Ok(Sizes {
            users: w(4),
            fingers: w(6),
            records: w(8),
            oplog: w(10),
            admins: w(12),
            passwords: w(13),
            fingers_cap: w(14),
            users_cap: w(15),
            records_cap: w(16),
            fingers_av: w(17),
            users_av: w(18),
            records_av: w(19),
            faces: u32_at(data, 80),
            faces_cap: u32_at(data, 88),
        })
    }
}

/// An open, authenticated conversation with a terminal. Sends EXIT when dropped.
pub struct Session {
    pub(super) transport: Box<dyn Transport>,
    pub(super) opts: ConnectOptions,
    pub(super) session_id: u16,
    reply_id: u16,
    /// Set when the stream can no longer be trusted (timeout or corrupt frame
    /// mid-exchange): nothing more is sent on it.
    pub(super) broken: bool,
    exited: bool,
    /// When the whole operation must have ended.
    limit: Instant,
    /// Events that arrived while waiting for a command's reply.
    pub(super) pending_events: std::collections::VecDeque<Packet>,
}

impl Session {
    /// Connects, and authenticates with the comm key when the terminal asks
    /// (some ask even with no key set; key 0 is sent then).
    pub fn connect(opts: &ConnectOptions) -> Result<Session> {
        let transport = transport::open(&opts.host, opts.port, opts.udp, opts.timeout)?;
        let mut s = Session {
            transport,
            opts: opts.clone(),
            session_id: 0,
            reply_id: 0,
            broken: false,
            exited: false,
            limit: Instant::now() + opts.operation_limit,
            pending_events: std::collections::VecDeque::new(),
        };
        let reply = s.exchange(cmd::CONNECT, &[], Phase::Connect, 0)?;
        s.session_id = reply.session;
        match reply.command {
            cmd::ACK_OK => {}
            cmd::ACK_UNAUTH => {
                let token = commkey(opts.password, s.session_id, 50);
                let auth = s.exchange(cmd::AUTH, &token, Phase::Connect, 1)?;
                match auth.command {
                    cmd::ACK_OK => {}
                    cmd::ACK_UNAUTH => {
                        s.exited = true;
                        return Err(Error::Unauthorized);
                    }
                    code => {
                        s.exited = true;
                        return Err(Error::Device {
                            command: cmd::AUTH,
                            code,
                        });
                    }
                }
            }
            code => {
                s.exited = true;
                return Err(Error::Device {
                    command: cmd::CONNECT,
                    code,
                });
            }
        }
        log::debug!(
            "connected to {} session {:#06x}",
            opts.address(),
            s.session_id
        );
        Ok(s)
    }

    pub(super) fn next_reply_id(&mut self) -> u16 {
        // pyzk/node wrap rule: after 65534 comes 0.
        self.reply_id = if self.reply_id >= 65534 {
            0
        } else {
            self.reply_id + 1
        };
        self.reply_id
    }

    /// Sends one command and waits for the reply carrying its reply id. UDP
    /// commands are retried; a TCP failure marks the stream broken.
    pub(super) fn exchange(
        &mut self,
        command: u16,
        data: &[u8],
        phase: Phase,
        reply_id: u16,
    ) -> Result<Packet> {
        if self.broken {
            return Err(Error::Closed(phase));
        }
        if Instant::now() >= self.limit {
            return Err(Error::OperationLimit);
        }
        let udp = self.transport.is_udp();
        let attempts = if udp { UDP_ATTEMPTS } else { 1 };
        let wait = self.attempt_wait();
        let mut last = Error::Timeout(phase);
        for attempt in 0..attempts {
            let id = if attempt == 0 {
                reply_id
            } else {
                self.next_reply_id()
            };
            let p = Packet::new(command, self.session_id, id, data.to_vec());
            if let Err(e) = self.transport.send(&p, phase) {
                self.broken = !udp;
                return Err(e);
            }
            match self.wait_reply(id, Instant::now() + wait, phase) {
                Ok(p) => return Ok(p),
                Err(e @ Error::Timeout(_)) if udp => {
                    log::debug!(
                        "UDP {} attempt {} timed out",
                        cmd::name(command),
                        attempt + 1
                    );
                    last = e;
                }
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
        Err(last)
    }

    /// How long one attempt waits for a reply: the whole timeout on TCP, a
    /// share of it on UDP so that all attempts fit in about the timeout.
    pub(super) fn attempt_wait(&self) -> Duration {
        if self.transport.is_udp() {
            (self.opts.timeout / UDP_ATTEMPTS).max(Duration::from_millis(200))
        } else {
            self.opts.timeout
        }
    }

    /// Waits for the packet with `reply_id` until `deadline` or the
    /// operation's limit, whichever comes first.
    pub(super) fn wait_reply(
        &mut self,
        reply_id: u16,
        deadline: Instant,
        phase: Phase,
    ) -> Result<Packet> {
        let capped = deadline.min(self.limit);
        loop {
            let p = match self.transport.recv(capped, phase) {
                Err(Error::Timeout(_)) if capped < deadline => {
                    self.broken = true;
                    return Err(Error::OperationLimit);
                }
                other => other?,
            };
            if p.command == cmd::REG_EVENT {
                // Kept for `next_event`; acknowledged now, as the terminal expects.
                self.ack_event()?;
                self.pending_events.push_back(p);
                continue;
            }
            if p.reply_id == reply_id {
                if !p.checksum_ok() {
                    log::debug!("checksum mismatch in {} reply", cmd::name(p.command));
                }
                return Ok(p);
            }
            log::debug!(
                "discarding stale packet {} reply id {} (want {reply_id})",
                cmd::name(p.command),
                p.reply_id
            );
        }
    }

    /// Sends `command` and returns the reply payload if the terminal accepted it.
    pub fn command(&mut self, command: u16, data: &[u8]) -> Result<Vec<u8>> {
        let id = self.next_reply_id();
        let reply = self.exchange(command, data, Phase::Reply, id)?;
        match reply.command {
            cmd::ACK_OK | cmd::ACK_DATA | cmd::DATA | cmd::PREPARE_DATA => Ok(reply.data),
            code => Err(Error::Device { command, code }),
        }
    }

    /// Starts a new operation on this session: it may last `limit` from now
    /// (long-lived sessions, such as a watcher's, call this per operation).
    pub fn limit_next(&mut self, limit: Duration) {
        self.limit = Instant::now() + limit;
    }

    /// `host:port` of the terminal, for messages.
    pub fn address(&self) -> String {
        self.opts.address()
    }

    /// Disables the terminal's keypad/sensor; the guard re-enables it.
    pub fn disable(&mut self) -> Result<Disabled<'_>> {
        self.command(cmd::DISABLE_DEVICE, &[])?;
        Ok(Disabled {
            session: self,
            armed: true,
        })
    }

    /// Re-enables the terminal: on this connection if it is healthy, else on a
    /// fresh one (bounded by the timeout).
    fn reenable(&mut self) -> Result<()> {
        // Re-enabling is never cut short by the operation's limit.
        self.limit = self.limit.max(Instant::now() + 2 * self.opts.timeout);
        if !self.broken {
            match self.command(cmd::ENABLE_DEVICE, &[]) {
                Ok(_) => return Ok(()),
                Err(e) => log::warn!(
                    "ENABLEDEVICE on {} failed ({e}); reconnecting",
                    self.opts.address()
                ),
            }
        }
        self.transport.shutdown();
        self.broken = true;
        self.exited = true;
        let mut fresh = Session::connect(&self.opts)?;
        fresh.command(cmd::ENABLE_DEVICE, &[])?;
        log::info!("re-enabled {} on a fresh connection", self.opts.address());
        fresh.exit()
    }

    /// Sends EXIT and closes.
    pub fn exit(mut self) -> Result<()> {
        self.exited = true;
        self.command(cmd::EXIT, &[]).map(|_| ())
    }

    /// Sends EXIT and returns once the terminal has closed its side (at
    /// most half a second), so that a terminal taking one connection at a
    /// time is free for the next one (a watcher handing over to a request).
    pub fn hand_over(mut self) -> Result<()> {
        self.exited = true;
        let out = self.command(cmd::EXIT, &[]).map(|_| ());
        if out.is_ok() {
            self.transport.wait_closed(Duration::from_millis(500));
        }
        out
    }

    /// Reads the counters of CMD_GET_FREE_SIZES.
    pub fn sizes(&mut self) -> Result<Sizes> {
        let data = self.command(cmd::GET_FREE_SIZES, &[])?;
        Sizes::parse(&data)
    }

    /// Firmware version string (`Ver 6.60 ...`).
    pub fn firmware_version(&mut self) -> Result<String> {
        let data = self.command(cmd::GET_VERSION, &[])?;
        Ok(String::from_utf8_lossy(until_nul(&data)).into_owned())
    }

    /// Reads an option such as `~SerialNumber`; `None` if the terminal does not know it.
    pub fn option(&mut self, key: &str) -> Result<Option<String>> {
        let mut req = key.as_bytes().to_vec();
        req.push(0);
        match self.command(cmd::OPTIONS_RRQ, &req) {
            Ok(data) => {
                let text = String::from_utf8_lossy(until_nul(&data)).into_owned();
                Ok(Some(match text.split_once('=') {
                    Some((_, v)) => v.to_string(),
                    None => text,
                }))
            }
            Err(Error::Device {
                code: cmd::ACK_ERROR,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The terminal's clock.
    pub fn get_time(&mut self) -> Result<ZkTime> {
        let data = self.command(cmd::GET_TIME, &[])?;
        u32_at(&data, 0).map(ZkTime::decode).ok_or(
            ProtocolError::ShortReply {
                command: cmd::GET_TIME,
                len: data.len(),
            }
            .into(),
        )
    }

    /// Sets the terminal's clock.
    pub fn set_time(&mut self, t: ZkTime) -> Result<()> {
        self.command(cmd::SET_TIME, &t.encode().to_le_bytes())
            .map(|_| ())
    }

    /// Restarts the terminal (CMD_RESTART). Some firmware acknowledges it,
    /// some just goes away: a short wait for the ACK, and a timeout or a
    /// closed connection count as done. The connection is over either way
    /// (no EXIT is sent on it); only a refusal (ACK_ERROR…) is an error.
    pub fn restart(&mut self) -> Result<()> {
        if self.broken {
            return Err(Error::Closed(Phase::Reply));
        }
        let id = self.next_reply_id();
        let p = Packet::new(cmd::RESTART, self.session_id, id, Vec::new());
        let sent = self.transport.send(&p, Phase::Reply);
        self.broken = true;
        self.exited = true;
        sent?;
        let wait = self.attempt_wait().min(RESTART_ACK_WAIT);
        match self.wait_reply(id, Instant::now() + wait, Phase::Reply) {
            Ok(reply) if reply.command == cmd::ACK_OK => Ok(()),
            Ok(reply) => Err(Error::Device {
                command: cmd::RESTART,
                code: reply.command,
            }),
            Err(e) => {
                log::debug!(
                    "RESTART to {}: no acknowledgement ({e}); taken as restarting",
                    self.opts.address()
                );
                Ok(())
            }
        }
    }

    /// Sets the terminal's clock and asks it to show the new time at once.
    pub fn sync_time(&mut self, t: ZkTime) -> Result<()> {
        self.set_time(t)?;
        self.refresh_data_quietly("SET_TIME");
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.exited && !self.broken {
            self.exited = true;
            if let Err(e) = self.command(cmd::EXIT, &[]) {
                log::debug!("EXIT to {} failed: {e}", self.opts.address());
            }
        }
        self.transport.shutdown();
    }
}

/// Proof that the terminal is disabled. Dropping it re-enables the terminal on
/// every path (error, timeout, panic); `finish` does so and reports failure.
pub struct Disabled<'a> {
    session: &'a mut Session,
    armed: bool,
}

impl Disabled<'_> {
    /// Re-enables the terminal now and surfaces any error.
    pub fn finish(mut self) -> Result<()> {
        self.armed = false;
        self.session.reenable()
    }
}

impl std::ops::Deref for Disabled<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session
    }
}

impl std::ops::DerefMut for Disabled<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session
    }
}

impl Drop for Disabled<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = self.session.reenable() {
                log::error!(
                    "could not re-enable terminal {}: {e} (it re-enables itself when its own timeout expires or on restart)",
                    self.session.opts.address()
                );
            }
        }
    }
}
