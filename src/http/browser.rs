//! Protections against web pages on other sites using a browser that can
//! reach zkserver: DNS rebinding (a foreign name resolving to this server,
//! refused by checking `Host`), cross-site writes (a foreign `Origin`
//! refused) and "simple" cross-site requests (a write with a body must say
//! `Content-Type: application/json`, which no form can send). Push
//! terminals' `/iclock` requests are not browser requests and skip these.

use std::net::IpAddr;

use super::{proxy, Ctx, Response};
use crate::messages;

/// Refuses a request whose `Host` names this server by a name it was not
/// given (`--host-name`), unless a trusted proxy forwarded it (the proxy
/// checks the name); IP literals and `localhost` are always accepted.
pub fn check_host(ctx: &Ctx) -> Result<(), Response> {
    let security = &ctx.app.security;
    if proxy::is_trusted(&security.trusted_proxies, ctx.req.remote_addr().ip()) {
        return Ok(());
    }
    let Some(host) = ctx.req.header("Host") else {
        return Ok(()); // HTTP/1.0 without Host: not a browser
    };
    let (name, _) = split_host(host);
    let allowed = name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || security
            .host_names
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&name));
    if allowed {
        return Ok(());
    }
    log::warn!(
        "{} {} {}: refused, Host '{}' is not a name of this server (--host-name)",
        ctx.req.remote_addr(),
        ctx.req.method(),
        ctx.req.raw_path(),
        host.escape_debug()
    );
    Err(ctx.error(403, &messages::host_not_allowed(&name)))
}

/// Refuses a write whose `Origin` is another site's (the office panel,
/// served by zkserver itself, sends its own origin).
pub fn check_origin(ctx: &Ctx) -> Result<(), Response> {
    let Some(origin) = ctx.req.header("Origin") else {
        return Ok(()); // not a browser, or a same-origin GET-like request
    };
    let host = ctx.req.header("Host").unwrap_or("");
    if same_origin(origin, host) {
        return Ok(());
    }
    log::warn!(
        "{} {} {}: refused, cross-site write from Origin '{}'",
        ctx.req.remote_addr(),
        ctx.req.method(),
        ctx.req.raw_path(),
        origin.escape_debug()
    );
    Err(ctx.error(403, messages::FOREIGN_ORIGIN))
}

/// Refuses a write carrying a body that does not say it is JSON.
pub fn check_content_type(ctx: &Ctx) -> Result<(), Response> {
    if ctx.req.body().is_empty() {
        return Ok(());
    }
    let media = ctx
        .req
        .header("Content-Type")
        .and_then(|v| v.split(';').next())
        .map_or("", str::trim);
    if media.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ctx.error(415, messages::JSON_CONTENT_TYPE_REQUIRED))
}

/// `host[:port]` (an IPv6 literal in brackets) split into the lowercase
/// name without brackets and the port, if any.
fn split_host(host: &str) -> (String, Option<u16>) {
    let host = host.trim();
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => (rest, None),
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') => (name, Some(port)),
            _ => (host, None),
        }
    };
    let port = port.and_then(|p| p.parse().ok());
    (name.trim_end_matches('.').to_ascii_lowercase(), port)
}

/// Whether a browser's `Origin` (`scheme://host[:port]`) is the site named
/// by the request's `Host`. A `Host` without a port (nginx's `$host`) is
/// the site on the default port of http or https.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.trim().split_once("://") else {
        return false; // "null" (sandboxed pages, file://) and junk
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return false;
    }
    let (origin_name, origin_port) = split_host(authority);
    let origin_port = origin_port.unwrap_or(default_port);
    let (host_name, host_port) = split_host(host);
    let ports_match = match host_port {
        Some(port) => port == origin_port,
        None => matches!(origin_port, 80 | 443),
    };
    !host_name.is_empty() && origin_name == host_name && ports_match
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_compared_with_the_host() {
        assert!(same_origin("http://192.168.1.10:5000", "192.168.1.10:5000"));
        assert!(same_origin(
            "https://relojes.example.com",
            "relojes.example.com"
        ));
        assert!(same_origin(
            "http://Relojes.Example.com",
            "relojes.example.com:80"
        ));
        assert!(same_origin("http://[::1]:5000", "[::1]:5000"));
        assert!(same_origin("http://localhost", "localhost"));
        assert!(!same_origin("http://evil.example", "192.168.1.10:5000"));
        assert!(!same_origin(
            "http://192.168.1.10:8080",
            "192.168.1.10:5000"
        ));
        assert!(!same_origin("http://192.168.1.10", "192.168.1.10:5000"));
        assert!(!same_origin("null", "192.168.1.10:5000"));
        assert!(!same_origin("file://", "x"));
        assert!(!same_origin(
            "http://a@192.168.1.10:5000",
            "192.168.1.10:5000"
        ));
        assert!(!same_origin("ftp://h", "h"));
        assert!(!same_origin("http://h", ""));
    }

    #[test]
    fn hosts_split_into_name_and_port() {
        assert_eq!(split_host("Zk.LAN:5000"), ("zk.lan".into(), Some(5000)));
        assert_eq!(split_host("[::1]:80"), ("::1".into(), Some(80)));
        assert_eq!(split_host("[::1]"), ("::1".into(), None));
        assert_eq!(split_host("::1"), ("::1".into(), None));
        assert_eq!(split_host("zk.lan."), ("zk.lan".into(), None));
        assert_eq!(split_host("x:notaport"), ("x".into(), None));
    }
}
