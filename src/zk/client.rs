//! Blocking ZK client over `std::net`: transports (TCP stream reassembly, UDP
//! with retries), the `Session` (EXIT on drop), the `Disabled` guard (ENABLE on
//! drop, reconnecting if the link died) and the buffered bulk read.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::codec::{commkey, u32_at, until_nul, ZkTime};
use super::error::{Error, Phase, Result};
use super::records::{self, Attendance, Template, User};
use super::wire::{cmd, parse_tcp_frame, Packet};

/// Largest chunk requested per READ_BUFFER over TCP (spec §1.8).
pub const TCP_CHUNK: usize = 0xFFC0;
/// Largest chunk requested per READ_BUFFER over UDP.
pub const UDP_CHUNK: usize = 16 * 1024;
/// Data bytes terminals put in one UDP datagram.
const UDP_DATAGRAM: usize = 1024;
/// Attempts for a UDP command or chunk before giving up.
const UDP_ATTEMPTS: u32 = 3;
/// Largest dataset accepted (a full 200 000-record, 49-byte log is ~10 MB).
const MAX_DATASET: usize = 64 << 20;

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
}

impl ConnectOptions {
    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn resolve(&self) -> Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| Error::Unreachable(format!("{}: {e}", self.host)))?
            .next()
            .ok_or_else(|| Error::Unreachable(format!("{}: sin direcciones", self.host)))
    }
}

/// A connected socket that moves whole ZK packets.
enum Transport {
    Tcp {
        stream: TcpStream,
        buf: Vec<u8>,
        start: usize,
    },
    Udp {
        sock: UdpSocket,
        buf: Vec<u8>,
    },
}

impl Transport {
    fn open(opts: &ConnectOptions) -> Result<Transport> {
        let addr = opts.resolve()?;
        if opts.udp {
            let local: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let sock = UdpSocket::bind(local).map_err(|e| Error::from_io(&e, Phase::Connect))?;
            sock.connect(addr)
                .map_err(|e| Error::from_io(&e, Phase::Connect))?;
            Ok(Transport::Udp {
                sock,
                buf: vec![0; 65536],
            })
        } else {
            let stream = TcpStream::connect_timeout(&addr, opts.timeout)
                .map_err(|e| Error::from_io(&e, Phase::Connect))?;
            let _ = stream.set_nodelay(true);
            let _ = stream.set_write_timeout(Some(opts.timeout));
            Ok(Transport::Tcp {
                stream,
                buf: Vec::with_capacity(1 << 17),
                start: 0,
            })
        }
    }

    fn is_udp(&self) -> bool {
        matches!(self, Transport::Udp { .. })
    }

    fn send(&mut self, p: &Packet, phase: Phase) -> Result<()> {
        let res = match self {
            Transport::Tcp { stream, .. } => stream.write_all(&p.encode_tcp()),
            Transport::Udp { sock, .. } => sock.send(&p.encode()).map(|_| ()),
        };
        res.map_err(|e| Error::from_io(&e, phase))
    }

    /// Next packet, waiting at most until `deadline`.
    fn recv(&mut self, deadline: Instant, phase: Phase) -> Result<Packet> {
        match self {
            Transport::Tcp { stream, buf, start } => loop {
                match parse_tcp_frame(&buf[*start..]) {
                    Ok(Some((p, used))) => {
                        *start += used;
                        if *start == buf.len() {
                            buf.clear();
                            *start = 0;
                        }
                        return Ok(p);
                    }
                    Ok(None) => {}
                    Err(e) => return Err(Error::Protocol(e.to_string())),
                }
                if *start > 0 {
                    buf.drain(..*start);
                    *start = 0;
                }
                let wait = remaining(deadline).ok_or(Error::Timeout(phase))?;
                stream
                    .set_read_timeout(Some(wait))
                    .map_err(|e| Error::from_io(&e, phase))?;
                let old = buf.len();
                buf.resize(old + 65536, 0);
                let n = stream.read(&mut buf[old..]);
                buf.truncate(old + *n.as_ref().unwrap_or(&0));
                match n {
                    Ok(0) => return Err(Error::Closed(phase)),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::from_io(&e, phase)),
                }
            },
            Transport::Udp { sock, buf } => loop {
                let wait = remaining(deadline).ok_or(Error::Timeout(phase))?;
                sock.set_read_timeout(Some(wait))
                    .map_err(|e| Error::from_io(&e, phase))?;
                match sock.recv(buf) {
                    Ok(n) => match Packet::parse(&buf[..n]) {
                        Ok(p) => return Ok(p),
                        Err(e) => log::debug!("ignoring bad UDP datagram: {e}"),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::from_io(&e, phase)),
                }
            },
        }
    }

    fn shutdown(&self) {
        if let Transport::Tcp { stream, .. } = self {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// Removes from `out[start..]` every piece identical to the piece before it
/// (a datagram the network delivered twice) when, and only when, that makes
/// the chunk exactly `len` bytes; otherwise leaves `out` as it was.
fn drop_repeated_pieces(out: &mut Vec<u8>, start: usize, pieces: &[(usize, usize)], len: usize) {
    let mut kept: Vec<u8> = Vec::with_capacity(len);
    let mut previous: Option<&[u8]> = None;
    for &(at, n) in pieces {
        let piece = &out[at..at + n];
        if previous != Some(piece) {
            kept.extend_from_slice(piece);
        }
        previous = Some(piece);
    }
    if kept.len() == len {
        log::debug!(
            "dropped {} duplicated bytes from a UDP chunk",
            out.len() - start - len
        );
        out.truncate(start);
        out.extend_from_slice(&kept);
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
            return Err(Error::Protocol(format!(
                "respuesta de GET_FREE_SIZES de {} bytes (se esperaban 80 o 92)",
                data.len()
            )));
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

/// The attendance log as read from a terminal.
#[derive(Debug, Clone)]
pub struct AttendanceLog {
    /// Record size found on the wire (8, 16, 40, 49 or another size ≥ 32).
    pub record_size: usize,
    /// Records in device order, user ids resolved.
    pub records: Vec<Attendance>,
}

/// An open, authenticated conversation with a terminal. Sends EXIT when dropped.
pub struct Session {
    transport: Transport,
    opts: ConnectOptions,
    session_id: u16,
    reply_id: u16,
    /// Set when the stream can no longer be trusted (timeout or corrupt frame
    /// mid-exchange): nothing more is sent on it.
    broken: bool,
    exited: bool,
}

impl Session {
    /// Connects, and authenticates with the comm key when the terminal asks
    /// (some ask even with no key set; key 0 is sent then).
    pub fn connect(opts: &ConnectOptions) -> Result<Session> {
        let transport = Transport::open(opts)?;
        let mut s = Session {
            transport,
            opts: opts.clone(),
            session_id: 0,
            reply_id: 0,
            broken: false,
            exited: false,
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

    fn next_reply_id(&mut self) -> u16 {
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
    fn exchange(
        &mut self,
        command: u16,
        data: &[u8],
        phase: Phase,
        reply_id: u16,
    ) -> Result<Packet> {
        if self.broken {
            return Err(Error::Closed(phase));
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
    fn attempt_wait(&self) -> Duration {
        if self.transport.is_udp() {
            (self.opts.timeout / UDP_ATTEMPTS).max(Duration::from_millis(200))
        } else {
            self.opts.timeout
        }
    }

    fn wait_reply(&mut self, reply_id: u16, deadline: Instant, phase: Phase) -> Result<Packet> {
        loop {
            let p = self.transport.recv(deadline, phase)?;
            if p.command == cmd::REG_EVENT {
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
        u32_at(&data, 0)
            .map(ZkTime::decode)
            .ok_or_else(|| Error::Protocol(format!("GET_TIME devolvió {} bytes", data.len())))
    }

    /// Sets the terminal's clock.
    pub fn set_time(&mut self, t: ZkTime) -> Result<()> {
        self.command(cmd::SET_TIME, &t.encode().to_le_bytes())
            .map(|_| ())
    }

    /// Buffered bulk read (spec §3.7): PREPARE_BUFFER, then inline data or
    /// sequential READ_BUFFER chunks, then FREE_DATA. Returns the whole dataset
    /// (u32 length + records), checked to have exactly the announced size.
    pub fn read_dataset(&mut self, inner: u16, fct: u32) -> Result<Vec<u8>> {
        let mut req = vec![1u8];
        req.extend_from_slice(&inner.to_le_bytes());
        req.extend_from_slice(&fct.to_le_bytes());
        req.extend_from_slice(&0u32.to_le_bytes());
        let id = self.next_reply_id();
        let reply = self.exchange(cmd::PREPARE_BUFFER, &req, Phase::Reply, id)?;
        let total = match reply.command {
            cmd::DATA => return Ok(reply.data),
            cmd::ACK_OK => u32_at(&reply.data, 1).ok_or_else(|| {
                Error::Protocol(format!(
                    "PREPARE_BUFFER devolvió {} bytes",
                    reply.data.len()
                ))
            })? as usize,
            code => {
                return Err(Error::Device {
                    command: cmd::PREPARE_BUFFER,
                    code,
                })
            }
        };
        if total > MAX_DATASET {
            return Err(Error::Protocol(format!(
                "tamaño anunciado absurdo ({total} bytes)"
            )));
        }
        let chunk = if self.transport.is_udp() {
            UDP_CHUNK
        } else {
            TCP_CHUNK
        };
        let mut out = Vec::with_capacity(total);
        let mut offset = 0;
        while offset < total {
            let len = chunk.min(total - offset);
            self.read_chunk(offset, len, &mut out)?;
            offset += len;
        }
        if let Err(e) = self.command(cmd::FREE_DATA, &[]) {
            log::debug!("FREE_DATA failed: {e}");
            if self.broken {
                return Err(e);
            }
        }
        Ok(out)
    }

    /// Buffered read of a table the counters say holds `count` entries. The
    /// table is read even at 0 (the counter may be stale), but some firmware
    /// refuses, or never answers, a buffered read of an empty table: with a
    /// count of 0 that means "no data" (`None`), not a failure.
    fn read_table(&mut self, inner: u16, fct: u32, count: u32) -> Result<Option<Vec<u8>>> {
        match self.read_dataset(inner, fct) {
            Ok(data) => Ok(Some(data)),
            Err(e @ (Error::Device { .. } | Error::Timeout(_))) if count == 0 => {
                log::info!("empty table ({} {fct}) not read: {e}", cmd::name(inner));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads `len` bytes at `offset` of the prepared buffer into `out`. Over
    /// UDP a failed exchange is retried for the bytes still missing (so lost
    /// datagrams cost a partial re-read) with smaller requests after garbled
    /// ones; only attempts that bring nothing new at the smallest size count
    /// against the retry limit.
    fn read_chunk(&mut self, offset: usize, len: usize, out: &mut Vec<u8>) -> Result<()> {
        let udp = self.transport.is_udp();
        let start = out.len();
        let mut fruitless = 0;
        // A garbled UDP exchange is retried with smaller requests (fewer
        // datagrams, fewer chances to lose one), down to one datagram's worth.
        let mut request = len;
        loop {
            let done = out.len() - start;
            if done == len {
                return Ok(());
            }
            let want = request.min(len - done);
            let before = out.len();
            let id = self.next_reply_id();
            match self.transfer_chunk(offset + done, want, id, out) {
                Ok(()) => fruitless = 0,
                Err(e) if udp && matches!(e, Error::Timeout(_) | Error::Protocol(_)) => {
                    log::debug!(
                        "UDP chunk {}+{want} failed after {} new bytes: {e}",
                        offset + done,
                        out.len() - before
                    );
                    if out.len() > before {
                        fruitless = 0;
                    } else if matches!(e, Error::Protocol(_)) && request > UDP_DATAGRAM {
                        request = (request / 2).max(UDP_DATAGRAM);
                    } else {
                        fruitless += 1;
                        if fruitless >= UDP_ATTEMPTS {
                            return Err(e);
                        }
                    }
                }
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
    }

    /// One READ_BUFFER exchange: PREPARE_DATA, DATA frames, closing ACK_OK
    /// (or one plain DATA reply). On failure `out` keeps only bytes known to
    /// be a correct prefix of the requested range.
    fn transfer_chunk(
        &mut self,
        offset: usize,
        len: usize,
        id: u16,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let start = out.len();
        let mut req = (offset as u32).to_le_bytes().to_vec();
        req.extend_from_slice(&(len as u32).to_le_bytes());
        let p = Packet::new(cmd::READ_BUFFER, self.session_id, id, req);
        self.transport.send(&p, Phase::Reply)?;
        let wait = self.attempt_wait();
        let first = self.wait_reply(id, Instant::now() + wait, Phase::Reply)?;
        match first.command {
            cmd::DATA => {
                if first.data.len() != len {
                    return Err(Error::Protocol(format!(
                        "bloque de {} bytes, se pidieron {len}",
                        first.data.len()
                    )));
                }
                out.extend_from_slice(&first.data);
                return Ok(());
            }
            cmd::PREPARE_DATA => {}
            code => {
                return Err(Error::Device {
                    command: cmd::READ_BUFFER,
                    code,
                })
            }
        }
        let announced = u32_at(&first.data, 0).unwrap_or(len as u32) as usize;
        if announced != len {
            return Err(Error::Protocol(format!(
                "PREPARE_DATA anuncia {announced} bytes, se pidieron {len}"
            )));
        }
        // Frames may carry their index in the session field (0, 1, 2, …): then
        // duplicates are dropped, a gap ends the attempt, and what arrived
        // before the gap is kept. Without indexes only a complete chunk counts
        // (after dropping datagrams that repeat the one before, if that is
        // exactly what makes the length right).
        let mut indexed: Option<bool> = None;
        let mut next_index: u16 = 0;
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        let result = loop {
            let p = match self.wait_reply(id, Instant::now() + wait, Phase::Data) {
                Ok(p) => p,
                Err(e) => break Err(e),
            };
            match p.command {
                cmd::DATA => {
                    if *indexed.get_or_insert(p.session == 0) {
                        if p.session < next_index {
                            log::debug!("dropping duplicate DATA frame {}", p.session);
                            continue;
                        }
                        if p.session > next_index {
                            break Err(Error::Protocol(format!(
                                "falta el paquete de datos {next_index} (llegó el {})",
                                p.session
                            )));
                        }
                        next_index = next_index.wrapping_add(1);
                    }
                    let limit = if indexed == Some(true) { len } else { 2 * len };
                    if out.len() - start + p.data.len() > limit {
                        out.truncate(start);
                        break Err(Error::Protocol(format!(
                            "el bloque supera los {len} bytes pedidos"
                        )));
                    }
                    pieces.push((out.len(), p.data.len()));
                    out.extend_from_slice(&p.data);
                }
                cmd::ACK_OK => {
                    if indexed == Some(false) && out.len() - start > len {
                        drop_repeated_pieces(out, start, &pieces, len);
                    }
                    let got = out.len() - start;
                    if got != len {
                        break Err(Error::Protocol(format!(
                            "bloque incompleto: {got} de {len} bytes"
                        )));
                    }
                    break Ok(());
                }
                cmd::PREPARE_DATA => continue,
                code => {
                    break Err(Error::Device {
                        command: cmd::READ_BUFFER,
                        code,
                    })
                }
            }
        };
        if result.is_err() && indexed != Some(true) {
            out.truncate(start);
        }
        result
    }

    /// Reads and parses users (28- or 72-byte records). `count_hint` is the
    /// user count from GET_FREE_SIZES.
    pub fn read_users(&mut self, count_hint: u32) -> Result<(Vec<User>, usize)> {
        let Some(data) = self.read_table(cmd::USERTEMP_RRQ, 5, count_hint)? else {
            return Ok((Vec::new(), 0));
        };
        let (body, mismatch) = records::dataset_body(&data).map_err(Error::Protocol)?;
        if let Some(announced) = mismatch {
            log::warn!(
                "user dataset announces {announced} bytes but carries {}",
                body.len()
            );
        }
        let size = records::infer_user_size(body, count_hint).map_err(Error::Protocol)?;
        Ok((records::parse_users(body, size), size))
    }

    /// Reads all users, with the record size the terminal uses (28 or 72).
    pub fn users(&mut self) -> Result<(Vec<User>, usize)> {
        let sizes = self.sizes()?;
        self.read_users(sizes.users)
    }

    /// Writes (creates or replaces, by uid) a user in the given layout, then
    /// asks the terminal to apply it.
    pub fn write_user(&mut self, user: &User, size: usize) -> Result<()> {
        self.command(cmd::USER_WRQ, &records::encode_user(user, size))?;
        self.command(cmd::REFRESH_DATA, &[]).map(|_| ())
    }

    /// Deletes the user in slot `uid` (and its templates).
    pub fn delete_user(&mut self, uid: u16) -> Result<()> {
        self.command(cmd::DELETE_USER, &uid.to_le_bytes())?;
        self.command(cmd::REFRESH_DATA, &[]).map(|_| ())
    }

    /// Reads every fingerprint template entry.
    pub fn templates(&mut self) -> Result<Vec<Template>> {
        let sizes = self.sizes()?;
        let Some(data) = self.read_table(cmd::DB_RRQ, 2, sizes.fingers)? else {
            return Ok(Vec::new());
        };
        let (body, _) = records::dataset_body(&data).map_err(Error::Protocol)?;
        records::parse_templates(body).map_err(Error::Protocol)
    }

    /// Puts the terminal in enrolment mode for `user_id`'s finger (0–9): the
    /// person then presents the finger three times on the terminal.
    pub fn start_enroll(&mut self, user_id: &str, finger: u8) -> Result<()> {
        let _ = self.command(cmd::CANCEL_CAPTURE, &[]);
        let payload = if self.transport.is_udp() {
            let mut p = user_id.parse::<u32>().unwrap_or(0).to_le_bytes().to_vec();
            p.push(finger);
            p
        } else {
            let mut p = vec![0u8; 24];
            let id = user_id.as_bytes();
            p[..id.len().min(24)].copy_from_slice(&id[..id.len().min(24)]);
            p.extend_from_slice(&[finger, 1]);
            p
        };
        self.command(cmd::START_ENROLL, &payload).map(|_| ())
    }

    /// Reads the whole attendance log (run it while disabled). Users are only
    /// read when the record format carries uids instead of user ids (8 bytes).
    pub fn read_attendance(&mut self) -> Result<AttendanceLog> {
        let sizes = self.sizes()?;
        let Some(data) = self.read_table(cmd::ATTLOG_RRQ, 0, sizes.records)? else {
            return Ok(AttendanceLog {
                record_size: 40,
                records: Vec::new(),
            });
        };
        let (body, mismatch) = records::dataset_body(&data).map_err(Error::Protocol)?;
        if let Some(announced) = mismatch {
            log::warn!(
                "attendance dataset announces {announced} bytes but carries {}",
                body.len()
            );
        }
        let size = records::infer_attendance_size(body, sizes.records).map_err(Error::Protocol)?;
        if body.len() % size != 0 {
            log::warn!(
                "attendance dataset has {} trailing bytes",
                body.len() % size
            );
        }
        if sizes.records as usize != body.len() / size {
            log::info!(
                "terminal reported {} records, dataset holds {}",
                sizes.records,
                body.len() / size
            );
        }
        let mut recs = records::parse_attendance(body, size);
        drop(data);
        if size == 8 {
            let (users, _) = self.read_users(sizes.users)?;
            records::resolve_user_ids(&mut recs, &users);
        }
        for r in recs.iter().filter(|r| !r.time.is_valid()) {
            log::warn!(
                "record of user {} has an impossible date {}",
                r.user_id,
                r.time
            );
        }
        Ok(AttendanceLog {
            record_size: size,
            records: recs,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_datagrams_are_dropped_only_when_that_fixes_the_length() {
        let pieces_of = |parts: &[&[u8]]| {
            let mut out = vec![9u8];
            let mut pieces = Vec::new();
            for p in parts {
                pieces.push((out.len(), p.len()));
                out.extend_from_slice(p);
            }
            (out, pieces)
        };
        let (mut out, pieces) = pieces_of(&[b"ab", b"cd", b"cd", b"ef"]);
        drop_repeated_pieces(&mut out, 1, &pieces, 6);
        assert_eq!(out, b"\x09abcdef");
        // Legitimately repeated content is kept when the length says so.
        let (mut out, pieces) = pieces_of(&[b"ab", b"ab", b"cd"]);
        drop_repeated_pieces(&mut out, 1, &pieces, 6);
        assert_eq!(out, b"\x09ababcd");
    }
}
