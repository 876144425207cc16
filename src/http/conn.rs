//! One client connection, served in its own thread: read a request head
//! within size and time limits, read the bounded body (or, for push
//! terminals' `/iclock` requests, hand it to the handler to read as it
//! goes: see `body_reader`), call the handler,
//! write the response (Content-Length when the size is known, chunked and
//! flushed piece by piece otherwise), and repeat while the connection is
//! kept alive. Anything refused gets a JSON error and the connection closes.
//!
//! Deadlines: a request (head and body together) must arrive within
//! `request_timeout` of its first byte, and a response must be sent within
//! `write_timeout` plus its size at `min_send_rate` — whatever the client's
//! pace, a connection cannot hold its thread longer. A client that takes no
//! byte for `write_timeout` is dropped at once, with what its answer held
//! (a reader that stops reading cannot pin megabytes for minutes). Event
//! streams are open-ended by design and only bound each write. Responses
//! are written through one 64 KiB buffer per connection; listings are
//! produced as they are sent.
//!
//! A connection holds one file descriptor: the idle list that lets a
//! shutdown close waiting connections shares the socket, it does not
//! duplicate it.
// Untrusted bytes never pass through a truncating `as`: conversions are checked.
#![deny(clippy::cast_possible_truncation)]

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::body::MAX_BODY;
use super::body_reader::{BodyEnd, BodyLimits, BodyReader, BodyState};
use super::head::{self, Head, Refusal};
use super::proxy;
use super::request::Request;
use super::response::{Body, LiveBody, Poll, Response};
use super::slots::{Budgets, Class, Slots};
use crate::ipnet::IpNet;
use crate::messages;
use crate::push::receiver::MAX_PUSH_BODY as PUSH_MAX_BODY;

/// Limits enforced on every client connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once, shared out between push terminals, the
    /// API and event streams (see [`Budgets::of`]); when all are taken the
    /// oldest connection doing nothing is closed, or else the new one is
    /// answered 503.
    pub max_connections: usize,
    /// Reverse proxies whose `X-Real-IP` / `X-Forwarded-For` name the client
    /// (per-client stream caps), and whose idle connections are not capped
    /// per address.
    pub trusted_proxies: Vec<IpNet>,
    /// Event streams one client may hold open (`--max-streams-per-client`).
    pub streams_per_client: usize,
    /// Largest request head (request line and headers).
    pub max_head: usize,
    /// Time allowed to send a whole request head once it has started.
    pub head_timeout: Duration,
    /// Time allowed for a whole request, head and body, from its first byte.
    pub request_timeout: Duration,
    /// Time a connection may stay idle waiting for a request.
    pub idle_timeout: Duration,
    /// Time allowed between two pieces of a request body.
    pub body_timeout: Duration,
    /// The most one write may block: a client that takes nothing for this
    /// long is dropped. Also what a response may take beyond what its size
    /// allows at `min_send_rate`.
    pub write_timeout: Duration,
    /// Slowest pace, in bytes per second, a response is sent at before the
    /// connection is dropped.
    pub min_send_rate: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            trusted_proxies: proxy::default_trusted(),
            streams_per_client: 8,
            max_head: 16 * 1024,
            head_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(30),
            min_send_rate: 32 * 1024,
        }
    }
}

/// The request handler a server runs.
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// State shared by the accept loop and the connection threads.
pub struct Connections {
    /// The limits in force.
    pub limits: Limits,
    /// Set when shutting down: connections finish the request they are
    /// serving and take no further ones.
    draining: AtomicBool,
    /// Who holds the connection slots.
    slots: Slots,
    /// The next connection's id (both listeners share the numbering).
    next_id: AtomicU64,
    /// Connections waiting for their next request, closed when draining
    /// (the same sockets the connections own, not duplicates).
    idle: Mutex<HashMap<u64, Arc<TcpStream>>>,
}

impl Connections {
    /// No connections yet.
    pub fn new(limits: Limits) -> Connections {
        let slots = Slots::new(
            Budgets::of(limits.max_connections, limits.streams_per_client),
            limits.trusted_proxies.clone(),
        );
        Connections {
            limits,
            draining: AtomicBool::new(false),
            slots,
            next_id: AtomicU64::new(1),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// Client connections open right now.
    pub fn active(&self) -> usize {
        self.slots.len()
    }

    /// How the connections are shared out.
    pub fn budgets(&self) -> Budgets {
        self.slots.budgets()
    }

    /// Gives a new connection a slot and its id (closing the oldest idle
    /// connection if all are taken); `None` when every slot is doing work.
    pub fn admit(&self, socket: &Arc<TcpStream>) -> Option<u64> {
        let peer = socket
            .peer_addr()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.slots.admit(id, peer, socket.clone()).then_some(id)
    }

    /// Frees the slot of connection `id` (admitted by `admit`).
    pub fn release(&self, id: u64) {
        self.slots.release(id);
    }

    /// Whether the server is shutting down.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Lets every connection finish the request it is serving, then close;
    /// connections waiting for a next request are closed now.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        for stream in self.idle.lock().values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }
}

/// A complete JSON error response that closes the connection (without
/// its body when answering a `HEAD` request).
pub fn error_response(status: u16, message: &str) -> Vec<u8> {
    refusal_response(status, message, false)
}

/// [`error_response`], with the body left out when `head_only`.
pub fn refusal_response(status: u16, message: &str, head_only: bool) -> Vec<u8> {
    let body = format!(
        "{{\n  \"success\": false,\n  \"error\": {}\n}}\n",
        serde_json::Value::from(message)
    );
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    if !head_only {
        out.push_str(&body);
    }
    out.into_bytes()
}

/// The reason phrase of a status code.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Refusal for a request not received in time.
const TOO_SLOW: Refusal = Refusal(408, messages::HTTP_TOO_SLOW);

/// Why the request loop ended.
enum End {
    /// Answer with this refusal (without a body to a `HEAD`), then close.
    Refuse(Refusal, bool),
    /// Just close (client went away, stayed idle, or asked to).
    Close,
}

/// Serves `client` (admitted as connection `id`) until it closes, stays
/// idle, or the server drains.
pub fn serve(client: &Arc<TcpStream>, handler: &Handler, conns: &Connections, id: u64) {
    let limits = &conns.limits;
    let peer = client
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let _ = client.set_nodelay(true);
    // Bounds the small writes outside a response (`100 Continue`).
    let _ = client.set_write_timeout(Some(limits.write_timeout));
    let mut pending: Vec<u8> = Vec::new();
    let end = loop {
        let (head, deadline) = match read_head(client, &mut pending, conns, id) {
            Ok(h) => h,
            Err(end) => break end,
        };
        let head_only = head.method == "HEAD";
        let class = Class::of(&head.method, &head.target);
        let for_client =
            proxy::forwarded_client(peer.ip(), |n| head.header(n), &limits.trusted_proxies);
        match take_slot(conns, id, class, for_client) {
            Ok(()) => {}
            Err(Some(refusal)) => break End::Refuse(refusal, head_only),
            Err(None) => break End::Close,
        }
        let keep_alive = head.keep_alive();
        let http10 = head.http10;
        let (request, streamed) =
            match read_request(client, &mut pending, head, peer, limits, deadline) {
                Ok(read) => read,
                Err(end) => break end,
            };
        let response = handler(&request);
        drop(request);
        // A body the handler left on the connection ends it after the
        // answer; one that failed is answered as if read in full.
        let body_end = streamed.map_or(BodyEnd::Complete, |state| state.end());
        match body_end {
            BodyEnd::Failed(kind) if is_wait_kind(kind) => break End::Refuse(TOO_SLOW, head_only),
            BodyEnd::Failed(_) => break End::Close,
            BodyEnd::Complete | BodyEnd::Unread => {}
        }
        let unread = body_end == BodyEnd::Unread;
        let keep = keep_alive && !conns.draining() && !unread;
        let framing = Framing {
            head_only,
            http10,
            keep_alive: keep,
        };
        let written = write_response(client, response, framing, limits);
        // What the handler's commits changed wakes its waiters now that
        // the answer is out (see `signal::hold_wakes`).
        crate::signal::wake_held();
        match written {
            Ok(true) if !conns.draining() => conns.slots.finish(id),
            Ok(_) if unread => {
                // Closing with unread data would reset the connection and
                // could lose the answer on its way.
                linger(client);
                break End::Close;
            }
            _ => break End::Close,
        }
    };
    crate::signal::wake_held();
    if let End::Refuse(Refusal(status, message), head_only) = end {
        log::warn!("{peer}: refused request ({status}: {message})");
        let _ = client.set_write_timeout(Some(Duration::from_secs(5)));
        if (&**client)
            .write_all(&refusal_response(status, message, head_only))
            .is_ok()
        {
            linger(client);
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Reads the request `head` begins: its whole body, or for a streamed
/// body a reader the handler pulls it through (and the state that tells
/// how that ended); `100 Continue` first when the client waits for it.
fn read_request(
    client: &Arc<TcpStream>,
    pending: &mut Vec<u8>,
    head: Head,
    peer: SocketAddr,
    limits: &Limits,
    deadline: Instant,
) -> Result<(Request, Option<Arc<BodyState>>), End> {
    let head_only = head.method == "HEAD";
    let waits_for_continue = head.expects_continue()
        && usize::try_from(head.body_len).map_or(true, |len| pending.len() < len);
    if streams_body(&head.target) {
        let reader = body_reader(client, pending, &head, limits, deadline);
        let state = reader.state();
        let len = head.body_len;
        let request = Request::new(peer, &head.method, &head.target, head.headers, Vec::new());
        return Ok((request.with_stream(reader, len), Some(state)));
    }
    if waits_for_continue
        && (&**client)
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .is_err()
    {
        return Err(End::Close);
    }
    let body = match read_body(client, pending, head.body_len, limits, deadline) {
        Ok(b) => b,
        Err(e) if is_wait(&e) => return Err(End::Refuse(TOO_SLOW, head_only)),
        Err(_) => return Err(End::Close),
    };
    let request = Request::new(peer, &head.method, &head.target, head.headers, body);
    Ok((request, None))
}

/// How long a stream waits for a stream slot before it is refused: a
/// client reconnecting may find its old stream not yet noticed as closed.
const STREAM_SLOT_WAIT: Duration = Duration::from_secs(1);

/// Moves connection `id` to `class` (see [`Slots::begin`]); a stream waits
/// up to [`STREAM_SLOT_WAIT`] for room.
fn take_slot(
    conns: &Connections,
    id: u64,
    class: Class,
    client: std::net::IpAddr,
) -> Result<(), Option<Refusal>> {
    let wait = if class == Class::Stream {
        STREAM_SLOT_WAIT
    } else {
        Duration::ZERO
    };
    let deadline = Instant::now() + wait;
    loop {
        match conns.slots.begin(id, class, client) {
            Err(Some(_)) if Instant::now() < deadline && !conns.draining() => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Discards what the client is still sending for a moment (at most
/// [`LINGER`] and 1 MiB), so closing does not reset the connection before
/// it has read the answer.
fn linger(client: &TcpStream) {
    let _ = client.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0usize;
    let mut reader = client;
    while drained < (1 << 20) {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        let _ = client.set_read_timeout(Some(left.min(Duration::from_millis(500))));
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Longest time a refused connection is drained before it closes.
const LINGER: Duration = Duration::from_secs(2);

/// Reads one request head from `client` (bytes already read are in
/// `pending`); returns it with the deadline of the whole request.
fn read_head(
    client: &Arc<TcpStream>,
    pending: &mut Vec<u8>,
    conns: &Connections,
    id: u64,
) -> Result<(Head, Instant), End> {
    let limits = &conns.limits;
    let mut started = !pending.iter().all(u8::is_ascii_whitespace);
    let mut request_deadline = Instant::now() + limits.request_timeout;
    let mut deadline = Instant::now()
        + if started {
            limits.head_timeout.min(limits.request_timeout)
        } else {
            limits.idle_timeout
        };
    let mut buf = [0u8; 8192];
    loop {
        let refuse = |r: Refusal| End::Refuse(r, head::is_head_request(pending));
        // Any length parses; the limit depends on the route.
        match head::parse(pending, limits.max_head, u64::MAX) {
            Ok(Some((head, len))) => {
                let (limit, refusal) = body_limit(&head.target);
                if head.body_len > limit as u64 {
                    return Err(refuse(refusal));
                }
                pending.drain(..len);
                return Ok((head, request_deadline));
            }
            Ok(None) => {}
            Err(r) => return Err(refuse(r)),
        }
        let wait = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero());
        let Some(wait) = wait else {
            return Err(if started {
                refuse(TOO_SLOW)
            } else {
                End::Close
            });
        };
        let _ = client.set_read_timeout(Some(wait));
        // Between requests the connection is idle: when shutting down it is
        // closed instead of waiting (registered first, so `drain` cannot miss it).
        if !started {
            conns.idle.lock().insert(id, client.clone());
            if conns.draining() {
                conns.idle.lock().remove(&id);
                return Err(End::Close);
            }
        }
        let read = (&**client).read(&mut buf);
        if !started {
            conns.idle.lock().remove(&id);
        }
        match read {
            Ok(0) => {
                return Err(if started {
                    refuse(Refusal(400, messages::HTTP_INCOMPLETE))
                } else {
                    End::Close
                })
            }
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                if !started && !pending.iter().all(u8::is_ascii_whitespace) {
                    started = true;
                    let now = Instant::now();
                    request_deadline = now + limits.request_timeout;
                    deadline = now + limits.head_timeout.min(limits.request_timeout);
                }
            }
            Err(e) if is_wait(&e) => {}
            Err(_) => return Err(End::Close),
        }
    }
}

/// Largest body for a request to `target` (normalized by the head parser,
/// as routing sees it) and the refusal beyond it: push terminals' uploads
/// (`/iclock/…`) and a staff list restore (`/people/import`) may carry
/// 16 MiB, everything else [`MAX_BODY`].
fn body_limit(target: &str) -> (usize, Refusal) {
    if target.starts_with("/iclock/") {
        (PUSH_MAX_BODY, head::PUSH_BODY_TOO_LARGE)
    } else if super::people::is_import(target) {
        (super::people::MAX_IMPORT_BODY, head::IMPORT_BODY_TOO_LARGE)
    } else {
        (MAX_BODY, head::BODY_TOO_LARGE)
    }
}

fn is_wait(e: &io::Error) -> bool {
    is_wait_kind(e.kind())
}

fn is_wait_kind(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Whether a request to `target` (normalized) has its body read by the
/// handler as it goes: push terminals' requests, whose caller is checked
/// before the body is read and whose uploads are stored as they arrive.
fn streams_body(target: &str) -> bool {
    target.starts_with("/iclock/")
}

/// The body of `head` as a reader for the handler: what already arrived
/// (in `pending`) first, then the connection, within the request's
/// `deadline` and the body's limits.
fn body_reader(
    client: &Arc<TcpStream>,
    pending: &mut Vec<u8>,
    head: &Head,
    limits: &Limits,
    deadline: Instant,
) -> BodyReader {
    let take = usize::try_from(head.body_len)
        .unwrap_or(usize::MAX)
        .min(pending.len());
    let prefix: Vec<u8> = pending.drain(..take).collect();
    let continue_due = head.expects_continue();
    let limits = BodyLimits {
        piece_timeout: limits.body_timeout,
        allowance: deadline.saturating_duration_since(Instant::now()),
    };
    BodyReader::new(client.clone(), prefix, head.body_len, limits, continue_due)
}

/// Most of a request body reserved before its bytes arrive; beyond it the
/// buffer grows with the data received.
const INITIAL_BODY_RESERVE: usize = 64 * 1024;

/// Reads exactly `len` body bytes (some may already be in `pending`), each
/// piece within `body_timeout` and all of them before `deadline`.
fn read_body(
    client: &TcpStream,
    pending: &mut Vec<u8>,
    len: u64,
    limits: &Limits,
    deadline: Instant,
) -> io::Result<Vec<u8>> {
    // The route's body limit (a usize) bounds `len`; a length that does not
    // fit memory is refused, never truncated.
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let take = len.min(pending.len());
    let mut body: Vec<u8> = pending.drain(..take).collect();
    // Memory follows the data, not the declaration: a client that declares
    // 16 MiB and sends 10 bytes holds 64 KiB (on a 32-bit board, hundreds
    // of such clients would otherwise exhaust the address space).
    body.reserve((len - take).min(INITIAL_BODY_RESERVE));
    let mut buf = [0u8; 16 * 1024];
    let mut reader = client;
    while body.len() < len {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(io::ErrorKind::TimedOut)?;
        client.set_read_timeout(Some(left.min(limits.body_timeout)))?;
        let want = (len - body.len()).min(buf.len());
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        body.extend_from_slice(&buf[..n]);
    }
    Ok(body)
}

/// Headers the connection writes itself; a handler's copies are dropped.
fn is_framing_header(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// How a response is framed for the request it answers.
#[derive(Debug, Clone, Copy)]
struct Framing {
    /// Answering `HEAD`: headers only.
    head_only: bool,
    /// The client speaks HTTP/1.0 (no chunked encoding).
    http10: bool,
    /// The connection may serve another request afterwards.
    keep_alive: bool,
}

/// The `Connection` header and blank line ending a response head: HTTP/1.1
/// keeps alive by default, HTTP/1.0 only when told.
fn end_of_head(keep: bool, http10: bool) -> &'static str {
    match (keep, http10) {
        (true, false) => "\r\n",
        (true, true) => "Connection: keep-alive\r\n\r\n",
        (false, _) => "Connection: close\r\n\r\n",
    }
}

/// Writes to the client within a time that grows with what is sent: the
/// time spent blocked in writes may reach `write_timeout` plus the bytes
/// sent at `min_send_rate` (time spent producing the body does not count),
/// and no single write may block longer than `write_timeout` (a client
/// that takes nothing for that long is gone). With no rate (event streams)
/// only each write is bounded.
struct Deadline<'a> {
    client: &'a TcpStream,
    base: Duration,
    /// Bytes per second; 0 for no overall deadline.
    rate: u64,
    written: u64,
    blocked: Duration,
}

impl<'a> Deadline<'a> {
    fn new(client: &'a TcpStream, limits: &Limits) -> Deadline<'a> {
        Deadline {
            client,
            base: limits.write_timeout,
            rate: limits.min_send_rate,
            written: 0,
            blocked: Duration::ZERO,
        }
    }

    /// Only each write is bounded (an open-ended stream).
    fn per_write(client: &'a TcpStream, limits: &Limits) -> Deadline<'a> {
        Deadline {
            rate: 0,
            ..Deadline::new(client, limits)
        }
    }

    /// Time a write of `more` bytes may still block: what is left of the
    /// response's allowance, and never more than `base` at once.
    fn left(&self, more: usize) -> Option<Duration> {
        if self.rate == 0 {
            return Some(self.base);
        }
        let bytes = self.written.saturating_add(more as u64);
        let allowance = self.base + Duration::from_secs_f64(bytes as f64 / self.rate as f64);
        let left = allowance
            .checked_sub(self.blocked)
            .filter(|d| !d.is_zero())?;
        Some(left.min(self.base))
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(left) = self.left(buf.len()) else {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "response deadline passed",
            ));
        };
        self.client.set_write_timeout(Some(left))?;
        let started = Instant::now();
        let mut out = self.client;
        let written = out.write(buf);
        self.blocked += started.elapsed();
        let n = written?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `response`; returns whether the connection may serve another
/// request. A streamed body goes chunked to HTTP/1.1 clients (each piece
/// flushed as soon as it is produced) and until close to HTTP/1.0 ones.
fn write_response(
    client: &TcpStream,
    response: Response,
    framing: Framing,
    limits: &Limits,
) -> io::Result<bool> {
    let Framing {
        head_only,
        http10,
        keep_alive,
    } = framing;
    let status = response.status_code;
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in response
        .headers
        .iter()
        .filter(|(n, _)| !is_framing_header(n))
    {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let keep = match response.body {
        Body::Bytes(bytes) => {
            head.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
            head.push_str(end_of_head(keep_alive, http10));
            let mut out = BufWriter::with_capacity(64 * 1024, Deadline::new(client, limits));
            out.write_all(head.as_bytes())?;
            if !head_only {
                out.write_all(&bytes)?;
            }
            out.flush()?;
            keep_alive
        }
        Body::Stream(mut reader) => {
            let chunked = !http10;
            let keep = keep_alive && chunked;
            if chunked {
                head.push_str("Transfer-Encoding: chunked\r\n");
            }
            head.push_str(end_of_head(keep, http10));
            let mut out = BufWriter::with_capacity(64 * 1024, Deadline::new(client, limits));
            out.write_all(head.as_bytes())?;
            out.flush()?;
            if !head_only {
                stream_body(&mut out, &mut *reader, chunked)?;
            }
            keep
        }
        Body::Live(mut live) => {
            let chunked = !http10;
            if chunked {
                head.push_str("Transfer-Encoding: chunked\r\n");
            }
            head.push_str("Connection: close\r\n\r\n");
            let mut out = BufWriter::with_capacity(64 * 1024, Deadline::per_write(client, limits));
            out.write_all(head.as_bytes())?;
            out.flush()?;
            if !head_only {
                live_body(&mut out, client, &mut *live, chunked)?;
            }
            false
        }
    };
    Ok(keep)
}

/// Sends a live body until it ends or the client goes away.
fn live_body(
    out: &mut impl Write,
    client: &TcpStream,
    body: &mut dyn LiveBody,
    chunked: bool,
) -> io::Result<()> {
    loop {
        match body.poll(Duration::from_millis(250)) {
            Poll::Data(bytes) => {
                write_piece(out, &bytes, chunked)?;
                out.flush()?;
            }
            Poll::Idle => {
                if client_gone(client) {
                    return Err(io::ErrorKind::ConnectionAborted.into());
                }
            }
            Poll::End => break,
        }
    }
    if chunked {
        out.write_all(b"0\r\n\r\n")?;
    }
    out.flush()
}

/// Whether the client closed its side (a stream has nothing to read from
/// it, so end of input means it left).
fn client_gone(client: &TcpStream) -> bool {
    if client.set_nonblocking(true).is_err() {
        return true;
    }
    let gone = match client.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    let _ = client.set_nonblocking(false);
    gone
}

/// Writes one piece of a body, as a chunk when `chunked`.
fn write_piece(out: &mut impl Write, bytes: &[u8], chunked: bool) -> io::Result<()> {
    if chunked {
        write!(out, "{:x}\r\n", bytes.len())?;
        out.write_all(bytes)?;
        out.write_all(b"\r\n")
    } else {
        out.write_all(bytes)
    }
}

/// Copies `reader` to `out`, flushing after every piece it produces.
fn stream_body(out: &mut impl Write, reader: &mut dyn Read, chunked: bool) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // A half-sent body cannot become an error response: the
                // client sees the connection close without the last chunk.
                log::error!("response body failed mid-stream: {e}");
                return Err(e);
            }
        };
        write_piece(out, &buf[..n], chunked)?;
        out.flush()?;
    }
    if chunked {
        out.write_all(b"0\r\n\r\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that yields the given pieces, one per `read`.
    struct Pieces(Vec<&'static [u8]>);

    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let p = self.0.remove(0);
            out[..p.len()].copy_from_slice(p);
            Ok(p.len())
        }
    }

    /// Counts flushes, to prove each piece is flushed as it is produced.
    #[derive(Default)]
    struct Sink {
        bytes: Vec<u8>,
        flushes: usize,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.bytes.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushes += 1;
            Ok(())
        }
    }

    #[test]
    fn streams_chunks_flushing_each_piece() {
        let mut sink = Sink::default();
        let mut reader = Pieces(vec![b"event: a\n\n", b"0123456789abcdef0"]);
        stream_body(&mut sink, &mut reader, true).unwrap();
        assert_eq!(
            String::from_utf8(sink.bytes).unwrap(),
            "a\r\nevent: a\n\n\r\n11\r\n0123456789abcdef0\r\n0\r\n\r\n"
        );
        assert!(sink.flushes >= 3, "flushed after each piece");
        let mut sink = Sink::default();
        stream_body(&mut sink, &mut Pieces(vec![b"raw"]), false).unwrap();
        assert_eq!(sink.bytes, b"raw");
    }

    #[test]
    fn no_write_blocks_longer_than_the_write_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let limits = Limits {
            write_timeout: Duration::from_secs(2),
            min_send_rate: 1000,
            ..Limits::default()
        };
        let mut deadline = Deadline::new(&client, &limits);
        // 10 MB at 1 kB/s would allow hours; one write still waits 2 s at most.
        deadline.written = 10_000_000;
        assert_eq!(deadline.left(1), Some(Duration::from_secs(2)));
        deadline.blocked = Duration::from_secs(10_001);
        assert_eq!(deadline.left(1), Some(Duration::from_millis(1001)));
        deadline.blocked = Duration::from_secs(10_003);
        assert_eq!(deadline.left(1), None, "the allowance is spent");
        assert_eq!(
            Deadline::per_write(&client, &limits).left(1 << 20),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn error_responses_are_json() {
        let text = String::from_utf8(error_response(414, "Larga.")).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "Larga.");
    }
}
