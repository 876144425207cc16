//! The front door: our own listener in front of tiny_http (which has no
//! socket timeouts, no header size limit, and drains an unread body with one
//! allocation of the declared Content-Length). Each client connection gets a
//! thread that reads request heads with size and time limits, refuses what
//! tiny_http cannot take safely with a JSON error, and relays accepted
//! requests to the rouille server on a private loopback port. Responses are
//! pumped back byte for byte, so keep-alive, pipelining, HTTP/1.0 and
//! `Expect: 100-continue` keep working.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Header through which the front tells the server who the client is
/// (any copy sent by the client is removed).
pub const PEER_HEADER: &str = "X-Zk-Peer";

/// Limits enforced on every client connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request head (request line and headers).
    pub max_head: usize,
    /// Largest request body (the API takes at most 64 KiB of JSON).
    pub max_body: u64,
    /// Time allowed to send a whole request head once it has started.
    pub head_timeout: Duration,
    /// Time a connection may stay idle waiting for a request.
    pub idle_timeout: Duration,
    /// Time allowed between two pieces of a request body.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            max_head: 16 * 1024,
            max_body: 64 * 1024,
            head_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(15),
        }
    }
}

/// State shared by the accept loop, the connection threads and `Front`.
struct Shared {
    limits: Limits,
    stop: AtomicBool,
    /// Set when shutting down: connections finish what they were sent and
    /// take no further requests.
    draining: AtomicBool,
    active: AtomicUsize,
    /// Connections waiting for their next request, to be woken when draining.
    idle: Mutex<HashMap<u64, TcpStream>>,
}

/// The running front door.
pub struct Front {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Front {
    /// Serves `listener`, relaying to `backend`.
    pub fn spawn(listener: TcpListener, backend: SocketAddr, limits: Limits) -> io::Result<Front> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            limits,
            stop: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            idle: Mutex::new(HashMap::new()),
        });
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || {
                let mut next_id: u64 = 0;
                for conn in listener.incoming() {
                    if sh.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut client) = conn else { continue };
                    let max = sh.limits.max_connections;
                    if sh.active.fetch_add(1, Ordering::SeqCst) >= max {
                        sh.active.fetch_sub(1, Ordering::SeqCst);
                        log::warn!("refusing a connection: {max} open already");
                        let _ = client.set_write_timeout(Some(Duration::from_secs(2)));
                        let _ = client.write_all(&error_response(
                            503,
                            "Servidor ocupado: demasiadas conexiones abiertas.",
                        ));
                        continue;
                    }
                    next_id += 1;
                    let (id, sh) = (next_id, sh.clone());
                    let spawned = std::thread::Builder::new()
                        .name("http-conn".into())
                        .stack_size(128 * 1024)
                        .spawn(move || {
                            serve_connection(client, backend, &sh, id);
                            sh.active.fetch_sub(1, Ordering::SeqCst);
                        });
                    if spawned.is_err() {
                        log::error!("could not start a connection thread");
                    }
                }
                log::info!("stopped accepting connections");
            })?;
        Ok(Front { addr, shared })
    }

    /// The public address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Client connections open right now.
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Stops accepting new connections (the listener is closed).
    pub fn stop_accepting(&self) {
        if !self.shared.stop.swap(true, Ordering::SeqCst) {
            // Wake the blocking accept so it sees the flag.
            let wake = match self.addr {
                SocketAddr::V4(a) if a.ip().is_unspecified() => {
                    SocketAddr::from(([127, 0, 0, 1], a.port()))
                }
                SocketAddr::V6(a) if a.ip().is_unspecified() => {
                    SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], a.port()))
                }
                other => other,
            };
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        }
    }

    /// Lets every connection finish the requests it already sent, then
    /// close: connections waiting for a next request are closed now.
    pub fn drain(&self) {
        self.shared.draining.store(true, Ordering::SeqCst);
        for stream in self.shared.idle.lock().values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }
}

/// A complete JSON error response that closes the connection.
pub fn error_response(status: u16, message: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let body = format!(
        "{{\n  \"success\": false,\n  \"error\": {}\n}}\n",
        serde_json::Value::from(message)
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Why a request head was refused.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Answer with this status and message, then close.
    Respond(u16, &'static str),
    /// Just close (client went away or stayed idle).
    Close,
}

/// What the front needs from an accepted head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    /// The head with `X-Zk-Peer` replaced, ready to forward.
    bytes: Vec<u8>,
    body_len: u64,
}

fn serve_connection(mut client: TcpStream, backend_addr: SocketAddr, shared: &Shared, id: u64) {
    let limits = &shared.limits;
    let peer = client
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = client.set_nodelay(true);
    let _ = client.set_write_timeout(Some(Duration::from_secs(60)));
    let mut pending: Vec<u8> = Vec::new();
    let mut backend: Option<(TcpStream, std::thread::JoinHandle<()>)> = None;
    let refusal = loop {
        let head = match read_head(&mut client, &mut pending, shared, id, &peer) {
            Ok(h) => h,
            Err(r) => break r,
        };
        if backend.is_none() {
            match connect_backend(backend_addr, &client) {
                Ok(b) => backend = Some(b),
                Err(e) => {
                    log::error!("cannot reach the HTTP backend: {e}");
                    break Refusal::Respond(503, "Servidor no disponible.");
                }
            }
        }
        let Some((to_backend, _)) = backend.as_mut() else {
            break Refusal::Close;
        };
        if to_backend.write_all(&head.bytes).is_err() {
            break Refusal::Close;
        }
        if forward_body(&mut client, to_backend, &mut pending, head.body_len, limits).is_err() {
            break Refusal::Close;
        }
    };
    // Let the server finish what it was sent, then say our own last word.
    if let Some((to_backend, pump)) = backend {
        let _ = to_backend.shutdown(Shutdown::Write);
        let _ = pump.join();
    }
    if let Refusal::Respond(status, message) = refusal {
        log::warn!("{peer}: refused request ({status}: {message})");
        if client.write_all(&error_response(status, message)).is_ok() {
            // Lingering close: discard what the client is still sending for a
            // moment, so closing does not reset the connection before it has
            // read the answer.
            let _ = client.shutdown(Shutdown::Write);
            let _ = client.set_read_timeout(Some(Duration::from_millis(500)));
            let mut sink = [0u8; 16 * 1024];
            let mut drained = 0usize;
            while drained < (1 << 20) {
                match client.read(&mut sink) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Connects to the server and starts pumping its responses to the client.
fn connect_backend(
    addr: SocketAddr,
    client: &TcpStream,
) -> io::Result<(TcpStream, std::thread::JoinHandle<()>)> {
    let stream = picked_up_connection(addr)?;
    let mut from_backend = stream.try_clone()?;
    let mut to_client = client.try_clone()?;
    let pump = std::thread::Builder::new()
        .name("http-pump".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match from_backend.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        quick_ack(&from_backend);
                        if to_client.write_all(&buf[..n]).is_err() {
                            // The client is gone: stop the server's side too.
                            let _ = from_backend.shutdown(Shutdown::Both);
                            break;
                        }
                    }
                }
            }
            let _ = to_client.shutdown(Shutdown::Write);
        })?;
    Ok((stream, pump))
}

/// Asks the kernel to acknowledge received data at once. tiny_http writes
/// chunked bodies as small pieces without TCP_NODELAY; with delayed ACKs on
/// our side, Nagle's algorithm held each piece up to 40 ms (a 1.8 MB response
/// took 55 ms instead of 12). The flag does not stick, so it is set after
/// every read.
#[allow(unsafe_code)]
fn quick_ack(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a socket this stream owns, with a pointer to a
    // live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::debug!("TCP_QUICKACK failed: {}", io::Error::last_os_error());
    }
}

/// Value of `X-Zk-Peer` that marks the front's own probe request.
pub const PROBE: &str = "probe";

/// A backend connection that tiny_http is actually serving. Its thread pool
/// can leave a new connection queued behind long-running ones when several
/// arrive at once (a worker counted as idle has not woken yet), so each new
/// connection is proven with a probe request first, and replaced by a fresh
/// one (which makes the pool start another thread) if nobody answers.
fn picked_up_connection(addr: SocketAddr) -> io::Result<TcpStream> {
    for attempt in 0..6u32 {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        let _ = stream.set_nodelay(true);
        let wait = Duration::from_millis(100 << attempt.min(3));
        if probe(&mut stream, wait)? {
            let _ = stream.set_read_timeout(None);
            return Ok(stream);
        }
        log::debug!("backend connection not served within {wait:?}; opening another");
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "el servidor HTTP interno no responde",
    ))
}

/// Sends the probe and waits for its empty 204 answer.
fn probe(stream: &mut TcpStream, wait: Duration) -> io::Result<bool> {
    stream.write_all(
        format!("GET /health HTTP/1.1\r\nHost: probe\r\n{PEER_HEADER}: {PROBE}\r\n\r\n").as_bytes(),
    )?;
    let deadline = Instant::now() + wait;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while head_end(&answer).is_none() {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Ok(false);
        };
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(answer.starts_with(b"HTTP/1.1 204"))
}

/// Reads one request head from `client` (bytes already read are in `pending`).
fn read_head(
    client: &mut TcpStream,
    pending: &mut Vec<u8>,
    shared: &Shared,
    id: u64,
    peer: &str,
) -> Result<Head, Refusal> {
    let limits = &shared.limits;
    let mut deadline = if pending.is_empty() {
        Instant::now() + limits.idle_timeout
    } else {
        Instant::now() + limits.head_timeout
    };
    let mut started = !pending.is_empty();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = head_end(pending) {
            let head: Vec<u8> = pending.drain(..end).collect();
            return parse_head(&head, peer, limits.max_body);
        }
        if !plausible_start(pending) {
            return Err(Refusal::Respond(400, "Petición HTTP inválida."));
        }
        if pending.len() > limits.max_head {
            return Err(Refusal::Respond(
                431,
                "Cabeceras de la petición demasiado grandes.",
            ));
        }
        let wait = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero());
        let Some(wait) = wait else {
            return Err(if started {
                Refusal::Respond(408, "Tiempo de espera agotado recibiendo la petición.")
            } else {
                Refusal::Close
            });
        };
        let _ = client.set_read_timeout(Some(wait));
        // Between requests the connection is idle: when shutting down it is
        // closed instead of waiting (registered first, so `drain` cannot miss it).
        if !started {
            if let Ok(clone) = client.try_clone() {
                shared.idle.lock().insert(id, clone);
            }
            if shared.draining.load(Ordering::SeqCst) {
                shared.idle.lock().remove(&id);
                return Err(Refusal::Close);
            }
        }
        let read = client.read(&mut buf);
        if !started {
            shared.idle.lock().remove(&id);
        }
        match read {
            Ok(0) => {
                return Err(if pending.iter().all(u8::is_ascii_whitespace) {
                    Refusal::Close
                } else {
                    Refusal::Respond(400, "Petición HTTP incompleta.")
                })
            }
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                if !started && !pending.iter().all(u8::is_ascii_whitespace) {
                    started = true;
                    deadline = Instant::now() + limits.head_timeout;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Err(Refusal::Close),
        }
    }
}

/// False as soon as the bytes received cannot start an HTTP/1 request
/// (garbage, TLS, binary), so they are refused without waiting for more.
fn plausible_start(bytes: &[u8]) -> bool {
    let bytes = match bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')) {
        Some(i) => &bytes[i..],
        None => return true,
    };
    let method_end = bytes.iter().position(|b| *b == b' ').unwrap_or(bytes.len());
    let method_ok = method_end <= 32
        && bytes[..method_end]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b));
    let line_end = bytes.iter().position(|b| *b == b'\n');
    let line_ok = match line_end {
        Some(end) => {
            let line = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
            line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0")
        }
        None => bytes.len() <= 8192,
    };
    method_ok && line_ok
}

/// Index just past the blank line ending the head, if present.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Validates a head and prepares it for forwarding.
fn parse_head(head: &[u8], peer: &str, max_body: u64) -> Result<Head, Refusal> {
    const BAD: Refusal = Refusal::Respond(400, "Petición HTTP inválida.");
    let text = std::str::from_utf8(head).map_err(|_| BAD)?;
    // Tolerate blank lines before the request line (RFC 9112 §2.2).
    let text = text.trim_start_matches(['\r', '\n']);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or(BAD)?;
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts.as_slice() else {
        return Err(BAD);
    };
    if !is_token(method) || target.is_empty() || !matches!(*version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(BAD);
    }
    if target.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(BAD);
    }
    let mut out = format!("{request_line}\r\n");
    let mut body_len: Option<u64> = None;
    let mut count = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        count += 1;
        if count > 100 {
            return Err(Refusal::Respond(
                431,
                "Demasiadas cabeceras en la petición.",
            ));
        }
        let (name, value) = line.split_once(':').ok_or(BAD)?;
        if !is_token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(BAD);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::Respond(
                411,
                "Se requiere Content-Length: no se aceptan cuerpos con Transfer-Encoding.",
            ));
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().map_err(|_| BAD)?;
            if body_len.is_some_and(|m| m != n) {
                return Err(BAD);
            }
            body_len = Some(n);
        }
        if name.eq_ignore_ascii_case(PEER_HEADER) {
            continue;
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > max_body {
        return Err(Refusal::Respond(
            413,
            "Body demasiado grande: el máximo es 64 KiB.",
        ));
    }
    out.push_str(&format!("{PEER_HEADER}: {peer}\r\n\r\n"));
    Ok(Head {
        bytes: out.into_bytes(),
        body_len,
    })
}

/// Copies exactly `len` body bytes from the client to the server.
fn forward_body(
    client: &mut TcpStream,
    backend: &mut TcpStream,
    pending: &mut Vec<u8>,
    len: u64,
    limits: &Limits,
) -> io::Result<()> {
    let mut left = len as usize;
    let take = left.min(pending.len());
    backend.write_all(&pending[..take])?;
    pending.drain(..take);
    left -= take;
    let mut buf = [0u8; 16 * 1024];
    while left > 0 {
        client.set_read_timeout(Some(limits.body_timeout))?;
        let n = client.read(&mut buf[..left.min(16 * 1024)])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        backend.write_all(&buf[..n])?;
        left -= n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Head, Refusal> {
        parse_head(text.as_bytes(), "1.2.3.4:5", 64 * 1024)
    }

    #[test]
    fn accepts_and_rewrites_heads() {
        let h = parse("GET /devices HTTP/1.1\r\nHost: x\r\nX-Zk-Peer: forged\r\n\r\n").unwrap();
        assert_eq!(
            String::from_utf8(h.bytes).unwrap(),
            "GET /devices HTTP/1.1\r\nHost: x\r\nX-Zk-Peer: 1.2.3.4:5\r\n\r\n"
        );
        let h = parse("\r\nPOST /devices HTTP/1.0\nContent-Length: 12\n\n").unwrap();
        assert_eq!(h.body_len, 12);
    }

    #[test]
    fn refuses_what_tiny_http_cannot_take() {
        let too_big = Refusal::Respond(413, "Body demasiado grande: el máximo es 64 KiB.");
        assert_eq!(
            parse("GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
            Err(too_big)
        );
        for bad in [
            "\x16\x03\x01\x02\x00\x01\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad),
                Err(Refusal::Respond(400, "Petición HTTP inválida.")),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Refusal::Respond(411, _))
        ));
        let many: String = (0..101).map(|i| format!("H{i}: v\r\n")).collect();
        assert!(matches!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Err(Refusal::Respond(431, _))
        ));
    }

    #[test]
    fn spots_garbage_early() {
        assert!(plausible_start(b""));
        assert!(plausible_start(b"\r\nGE"));
        assert!(plausible_start(b"GET /devices HTTP/1.1\r\nHost"));
        assert!(!plausible_start(b"\x16\x03\x01\x00"));
        assert!(!plausible_start(b"GET / SPDY/3\r\n"));
        assert!(!plausible_start(&[b'A'; 40]));
    }

    #[test]
    fn finds_the_end_of_heads() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\nrest"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }
}
