//! `/iclock/*`: the push terminals' endpoints, thin wrappers around
//! `push::Receiver`. Every answer is `text/plain` with a `Content-Length`
//! (the connection writes it) and a correct `Date` — terminals set their
//! clock from it. These routes never need the API key.
//!
//! A body is read only once its caller is accepted (a refused serial gets
//! its 403 without the body being read), and an upload is stored as it
//! arrives. Bodies over [`LARGE_BODY`] are read [`LARGE_AT_ONCE`] at a time;
//! one that finds no room within [`LARGE_WAIT`] is answered 503 (the
//! terminal sends it again after `ErrorDelay`). Forwarded terminals'
//! bodies are read whole, since the upstream gets them after the journal.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::response::{Body, Response};
use super::{Answer, Ctx};
use crate::push::forward::Relay;
use crate::push::receiver::{Exchange, Identified, Receiver, Reply, ERROR_DELAY};

/// Content type of every push answer.
const TEXT: &str = "text/plain";

/// `GET /iclock/cdata`: the handshake.
pub fn cdata_get(ctx: &Ctx) -> Answer {
    serve(ctx, Receiver::ping, Receiver::handshake)
}

/// `POST /iclock/cdata`: an upload.
pub fn cdata_post(ctx: &Ctx) -> Answer {
    serve_body(ctx, Forwarded::StoreThenRelay, Receiver::upload)
}

/// `GET /iclock/getrequest`: a command poll.
pub fn getrequest(ctx: &Ctx) -> Answer {
    serve(ctx, Receiver::observe_poll, Receiver::poll)
}

/// `POST /iclock/devicecmd`: command results (a few lines; read whole).
pub fn devicecmd(ctx: &Ctx) -> Answer {
    serve_body(
        ctx,
        Forwarded::Relay(Receiver::observe_results),
        |receiver, who, body| match read_whole(body, ctx.req.body_len()) {
            Ok(bytes) => receiver.results(who, &bytes),
            Err(e) => body_failed(who, &e),
        },
    )
}

/// `GET /iclock/ping`: a terminal busy uploading says it is alive.
pub fn ping(ctx: &Ctx) -> Answer {
    serve(ctx, Receiver::ping, Receiver::ping)
}

/// An `/iclock` path zkserver does not serve: relayed as it is for a
/// forwarded terminal (its upstream may speak more of the protocol), else
/// 404 in plain text (the terminal cannot read the API's JSON), logged for
/// the admin.
pub fn unknown_path(ctx: &Ctx) -> Response {
    let query = query_pairs(ctx.req.raw_url());
    if let Some(upstream) = forward_target(ctx, &query) {
        let len = ctx.req.body_len();
        let Some(_room) = LargeBodies::global().room_for(len, LARGE_WAIT) else {
            return busy();
        };
        return match read_whole(&mut ctx.req.take_body(), len) {
            Ok(bytes) => relay(ctx, &upstream, &bytes),
            Err(e) => {
                log::warn!("push: body of {} not received: {e}", ctx.req.path());
                text(400, "ERROR: request body incomplete")
            }
        };
    }
    log::warn!(
        "push: {} {} from {} is not a request zkserver serves, answered 404",
        ctx.req.method(),
        crate::text::cut(ctx.req.raw_path(), 80),
        client_ip(ctx)
    );
    text(404, "ERROR: unknown request")
}

/// What a receiver notes of a forwarded terminal's request without a body
/// (the contact, and what it tells of itself: firmware, counts).
type Observe = fn(&Receiver, &Exchange<'_>) -> Reply;

/// What a receiver notes of a forwarded terminal's request with a body.
type ObserveBody = fn(&Receiver, &Identified, &[u8]) -> Reply;

/// What an endpoint does for a terminal whose exchanges are forwarded.
#[derive(Clone, Copy)]
enum Forwarded {
    /// Only the upstream answers (options, `Date`, commands and results
    /// are the upstream's business); zkserver notes the contact and what
    /// the terminal tells of itself with this.
    Relay(ObserveBody),
    /// zkserver journals the upload first, then relays it; the terminal
    /// gets the upstream's answer only after both.
    StoreThenRelay,
}

/// Like [`serve`] for a request with a body: the caller is identified
/// first (a refused one is answered without reading the body), a large
/// body waits for room, then `f` reads the body — as it arrives, or from
/// a copy read whole when the exchange is forwarded.
fn serve_body(
    ctx: &Ctx,
    forwarded: Forwarded,
    f: impl FnOnce(&Receiver, &Identified, &mut dyn BufRead) -> Reply,
) -> Answer {
    let Some(receiver) = ctx.app.push.as_deref() else {
        return Ok(text(503, "ERROR: push terminals are not enabled"));
    };
    let query = query_pairs(ctx.req.raw_url());
    let ex = exchange(ctx, &query);
    let who = match receiver.identify_request(&ex) {
        Ok(who) => who,
        Err(refused) => return Ok(text(refused.status, &refused.body)),
    };
    let len = ctx.req.body_len();
    let Some(_room) = LargeBodies::global().room_for(len, LARGE_WAIT) else {
        log::warn!(
            "push {}: body of {len} bytes refused for now: {LARGE_AT_ONCE} large bodies are being read",
            who.serial()
        );
        return Ok(busy());
    };
    let mut body = ctx.req.take_body();
    let Some(upstream) = forward_target(ctx, &query) else {
        let mut reader = BufReader::with_capacity(READ_BUFFER, body);
        // The answer goes out before the commit's waiters run (the
        // connection wakes them once it is written).
        crate::signal::hold_wakes();
        let reply = f(receiver, &who, &mut reader);
        return Ok(text_bytes(reply.status, reply.bytes()));
    };
    let bytes = match read_whole(&mut body, len) {
        Ok(bytes) => bytes,
        Err(e) => {
            let reply = body_failed(&who, &e);
            return Ok(text(reply.status, &reply.body));
        }
    };
    // Journal (or just note what it tells) first: a failure here is the
    // terminal's cue to send it again, and the upstream never sees it.
    let local = match forwarded {
        Forwarded::StoreThenRelay => f(receiver, &who, &mut &bytes[..]),
        Forwarded::Relay(observe) => observe(receiver, &who, &bytes),
    };
    if local.status != 200 {
        return Ok(text(local.status, &local.body));
    }
    Ok(relay(ctx, &upstream, &bytes))
}

/// The answer to a large body that found no turn: the terminal sends it
/// again after its `ErrorDelay`.
fn busy() -> Response {
    text(503, "ERROR: server busy, retry later")
        .with_header("Retry-After", &ERROR_DELAY.to_string())
}

/// Buffer between the connection and a body's parser.
const READ_BUFFER: usize = 64 * 1024;

/// Bodies larger than this are read a few at a time.
pub const LARGE_BODY: u64 = 1024 * 1024;
/// Large bodies read at once.
pub const LARGE_AT_ONCE: usize = 4;
/// How long a large body waits for its turn before it is answered 503.
pub const LARGE_WAIT: Duration = Duration::from_secs(5);

/// Turns for reading large bodies (a counting semaphore).
pub struct LargeBodies {
    reading: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

/// A turn to read a large body, given back when dropped.
pub struct Turn<'a>(Option<&'a LargeBodies>);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some(bodies) = self.0 {
            *bodies.reading.lock() -= 1;
            bodies.freed.notify_one();
        }
    }
}

impl LargeBodies {
    /// At most `max` large bodies read at once.
    pub const fn new(max: usize) -> LargeBodies {
        LargeBodies {
            reading: Mutex::new(0),
            freed: Condvar::new(),
            max,
        }
    }

    /// The turns shared by every push request.
    pub fn global() -> &'static LargeBodies {
        static BODIES: LargeBodies = LargeBodies::new(LARGE_AT_ONCE);
        &BODIES
    }

    /// Room to read a body of `len` bytes: at once for a small one; for a
    /// large one a turn, waiting at most `wait` (`None`: no turn came).
    pub fn room_for(&self, len: u64, wait: Duration) -> Option<Turn<'_>> {
        if len <= LARGE_BODY {
            return Some(Turn(None));
        }
        let deadline = std::time::Instant::now() + wait;
        let mut reading = self.reading.lock();
        while *reading >= self.max {
            if self.freed.wait_until(&mut reading, deadline).timed_out() && *reading >= self.max {
                return None;
            }
        }
        *reading += 1;
        Some(Turn(Some(self)))
    }
}

/// Reads a whole body of (declared) `len` bytes.
fn read_whole(body: &mut dyn Read, len: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(len.min(LARGE_BODY)).unwrap_or(0));
    body.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The answer when a body could not be read (the connection answers the
/// client itself: too slow, or gone).
fn body_failed(who: &Identified, e: &std::io::Error) -> Reply {
    log::warn!("push {}: body not received: {e}", who.serial());
    Reply {
        status: 400,
        body: "ERROR: request body incomplete".to_string(),
        encoding: crate::text::Encoding::Utf8,
    }
}

/// The exchange of a request (its body, if any, is read separately).
fn exchange<'a>(ctx: &Ctx, query: &'a [(String, String)]) -> Exchange<'a> {
    Exchange {
        query,
        ip: client_ip(ctx),
        user_agent: ctx.req.header("User-Agent").unwrap_or_default().to_string(),
        body: &[],
    }
}

/// Builds the exchange of a request without a body, runs `f` on the
/// receiver (or, for a forwarded terminal, `observe` and relays the
/// request), answers as text.
fn serve(ctx: &Ctx, observe: Observe, f: impl FnOnce(&Receiver, &Exchange<'_>) -> Reply) -> Answer {
    let Some(receiver) = ctx.app.push.as_deref() else {
        return Ok(text(503, "ERROR: push terminals are not enabled"));
    };
    let query = query_pairs(ctx.req.raw_url());
    let ex = exchange(ctx, &query);
    if let Some(upstream) = forward_target(ctx, &query) {
        // Just note the contact (and what it tells): only the upstream answers.
        let local = observe(receiver, &ex);
        if local.status != 200 {
            return Ok(text(local.status, &local.body));
        }
        return Ok(relay(ctx, &upstream, &[]));
    }
    let reply = f(receiver, &ex);
    Ok(text_bytes(reply.status, reply.bytes()))
}

/// The upstream of the registered push device whose serial the request
/// carries, when its exchanges are forwarded.
fn forward_target(ctx: &Ctx, query: &[(String, String)]) -> Option<String> {
    let sn = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("SN"))
        .map(|(_, v)| v.as_str())?;
    let device = ctx.app.registry.by_serial(sn)?;
    crate::push::commands::forward_target(&device.config, ctx.app.push_forward.as_deref())
        .map(str::to_string)
}

/// Sends the request on to `upstream` and answers with what it said; an
/// upstream that does not answer is a 502, so the terminal keeps its data
/// and tries again (what it uploaded meanwhile is already journaled once).
fn relay(ctx: &Ctx, upstream: &str, body: &[u8]) -> Response {
    let real_ip = client_ip(ctx);
    let forwarded_for = forwarded_chain(ctx);
    let request = Relay {
        method: ctx.req.method(),
        target: ctx.req.raw_url(),
        body,
        user_agent: ctx.req.header("User-Agent"),
        content_type: ctx.req.header("Content-Type"),
        forwarded_for: Some(&forwarded_for),
        real_ip: Some(&real_ip),
    };
    match ctx.app.forwarder.relay(upstream, &request) {
        Ok(answer) => {
            let date = answer.date.unwrap_or_else(|| http_date(chrono::Utc::now()));
            let content_type = answer.content_type.unwrap_or_else(|| TEXT.to_string());
            Response::new(answer.status, &content_type, Body::Bytes(answer.body))
                .with_header("Date", &date)
        }
        Err(e) => {
            log::warn!(
                "push: relaying {} to {upstream} failed: {e}",
                ctx.req.path()
            );
            text(502, "ERROR: upstream server unavailable, retry later")
        }
    }
}

/// The decoded query pairs of `target` (form decoding: `+` is a space).
fn query_pairs(target: &str) -> Vec<(String, String)> {
    let Some((_, query)) = target.split_once('?') else {
        return Vec::new();
    };
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .take(64)
        .collect()
}

/// Who sent the request: the peer, or the client a trusted proxy
/// (`--trusted-proxy`) names; a header from anyone else is ignored.
fn client_ip(ctx: &Ctx) -> String {
    super::proxy::client_ip(ctx.req, &ctx.app.security.trusted_proxies).to_string()
}

/// `X-Forwarded-For` as the upstream should get it: the chain a proxy in
/// front sent (nginx: the terminal), then the address zkserver got the
/// request from; with no proxy, just the terminal's address.
fn forwarded_chain(ctx: &Ctx) -> String {
    let peer = ctx.req.remote_addr().ip().to_string();
    match ctx
        .req
        .header("X-Forwarded-For")
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(chain) => {
            // Only what a header may carry, and not much of it.
            let chain: String = chain
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .take(200)
                .collect();
            format!("{chain}, {peer}")
        }
        None => peer,
    }
}

/// A plain-text answer with the `Date` header.
pub fn text(status: u16, body: &str) -> Response {
    text_bytes(status, body.as_bytes().to_vec())
}

/// [`text`] for a body already encoded for the terminal.
fn text_bytes(status: u16, body: Vec<u8>) -> Response {
    Response::new(status, TEXT, Body::Bytes(body))
        .with_header("Date", &http_date(chrono::Utc::now()))
}

/// An HTTP date (RFC 9110 IMF-fixdate): `Tue, 01 Dec 2026 22:31:35 GMT`.
pub fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_are_imf_fixdate() {
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 3, 5, 7, 8, 9)
            .single()
            .expect("valid");
        assert_eq!(http_date(t), "Thu, 05 Mar 2026 07:08:09 GMT");
    }

    #[test]
    fn large_bodies_take_turns() {
        let bodies = LargeBodies::new(1);
        let large = LARGE_BODY + 1;
        let first = bodies.room_for(large, Duration::ZERO).expect("a turn");
        assert!(
            bodies.room_for(LARGE_BODY, Duration::ZERO).is_some(),
            "small"
        );
        assert!(bodies.room_for(large, Duration::from_millis(20)).is_none());
        std::thread::scope(|s| {
            let waiter = s.spawn(|| bodies.room_for(large, Duration::from_secs(30)).is_some());
            drop(first);
            assert!(waiter.join().unwrap(), "the freed turn goes to the waiter");
        });
        assert!(bodies.room_for(large, Duration::ZERO).is_some());
    }

    #[test]
    fn query_pairs_are_decoded_in_order() {
        assert_eq!(
            query_pairs("/iclock/cdata?SN=AB1&table=ATTLOG&Stamp=9%3A9"),
            vec![
                ("SN".to_string(), "AB1".to_string()),
                ("table".to_string(), "ATTLOG".to_string()),
                ("Stamp".to_string(), "9:9".to_string())
            ]
        );
        assert!(query_pairs("/iclock/cdata").is_empty());
    }
}
