//! `/iclock/*`: the push terminals' endpoints, thin wrappers around
//! `push::Receiver`. Every answer is `text/plain` with a `Content-Length`
//! (the connection writes it) and a correct `Date` — terminals set their
//! clock from it. These routes never need the API key.

use super::response::{Body, Response};
use super::{Answer, Ctx};
use crate::push::forward::Relay;
use crate::push::receiver::{Exchange, Receiver, Reply};

/// Content type of every push answer.
const TEXT: &str = "text/plain";

/// `GET /iclock/cdata`: the handshake.
pub fn cdata_get(ctx: &Ctx) -> Answer {
    serve(ctx, Forwarded::Relay(Receiver::ping), Receiver::handshake)
}

/// `POST /iclock/cdata`: an upload.
pub fn cdata_post(ctx: &Ctx) -> Answer {
    serve(ctx, Forwarded::StoreThenRelay, Receiver::upload)
}

/// `GET /iclock/getrequest`: a command poll.
pub fn getrequest(ctx: &Ctx) -> Answer {
    serve(
        ctx,
        Forwarded::Relay(Receiver::observe_poll),
        Receiver::poll,
    )
}

/// `POST /iclock/devicecmd`: command results.
pub fn devicecmd(ctx: &Ctx) -> Answer {
    serve(
        ctx,
        Forwarded::Relay(Receiver::observe_results),
        Receiver::results,
    )
}

/// `GET /iclock/ping`: a terminal busy uploading says it is alive.
pub fn ping(ctx: &Ctx) -> Answer {
    serve(ctx, Forwarded::Relay(Receiver::ping), Receiver::ping)
}

/// An `/iclock` path zkserver does not serve: relayed as it is for a
/// forwarded terminal (its upstream may speak more of the protocol), else
/// 404 in plain text (the terminal cannot read the API's JSON), logged for
/// the admin.
pub fn unknown_path(ctx: &Ctx) -> Response {
    let query = query_pairs(ctx.req.raw_url());
    if let Some(upstream) = forward_target(ctx, &query) {
        return relay(ctx, &upstream);
    }
    log::warn!(
        "push: {} {} from {} is not a request zkserver serves, answered 404",
        ctx.req.method(),
        crate::text::cut(ctx.req.raw_path(), 80),
        client_ip(ctx)
    );
    text(404, "ERROR: unknown request")
}

/// What a receiver does with a request before it is relayed.
type Observe = fn(&Receiver, &Exchange<'_>) -> Reply;

/// What an endpoint does for a terminal whose exchanges are forwarded.
#[derive(Clone, Copy)]
enum Forwarded {
    /// Only the upstream answers (options, `Date`, commands and results
    /// are the upstream's business); zkserver notes the contact and what
    /// the terminal tells of itself (firmware, counts) with this.
    Relay(Observe),
    /// zkserver journals the upload first, then relays it; the terminal
    /// gets the upstream's answer only after both.
    StoreThenRelay,
}

/// Builds the exchange, runs `f` on the receiver (or relays the request
/// for a forwarded terminal), answers as text.
fn serve(
    ctx: &Ctx,
    forwarded: Forwarded,
    f: impl FnOnce(&crate::push::receiver::Receiver, &Exchange<'_>) -> Reply,
) -> Answer {
    let Some(receiver) = ctx.app.push.as_deref() else {
        return Ok(text(503, "ERROR: push terminals are not enabled"));
    };
    let query = query_pairs(ctx.req.raw_url());
    let ex = Exchange {
        query: &query,
        ip: client_ip(ctx),
        user_agent: ctx.req.header("User-Agent").unwrap_or_default().to_string(),
        body: ctx.req.body(),
    };
    if let Some(upstream) = forward_target(ctx, &query) {
        // Journal (or just note the contact) first: a failure here is the
        // terminal's cue to send it again, and the upstream never sees it.
        let local = match forwarded {
            Forwarded::StoreThenRelay => f(receiver, &ex),
            Forwarded::Relay(observe) => observe(receiver, &ex),
        };
        if local.status != 200 {
            return Ok(text(local.status, &local.body));
        }
        return Ok(relay(ctx, &upstream));
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
fn relay(ctx: &Ctx, upstream: &str) -> Response {
    let real_ip = client_ip(ctx);
    let forwarded_for = forwarded_chain(ctx);
    let request = Relay {
        method: ctx.req.method(),
        target: ctx.req.raw_url(),
        body: ctx.req.body(),
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
