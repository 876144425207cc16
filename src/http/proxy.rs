//! Trusted reverse proxies (`--trusted-proxy`): which peers may speak for
//! a client (nginx in front of zkserver), and the client address a request
//! stands for.

use std::net::IpAddr;

use super::Request;
use crate::ipnet::IpNet;

/// The proxies trusted when none is configured: this machine (`127.0.0.1`, `::1`).
pub fn default_trusted() -> Vec<IpNet> {
    vec![
        IpNet::host(IpAddr::from([127, 0, 0, 1])),
        IpNet::host(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
    ]
}

/// Whether `ip` is one of the `trusted` proxies.
pub fn is_trusted(trusted: &[IpNet], ip: IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// The client a request stands for: through a trusted proxy, the address
/// the proxy names (`X-Real-IP`, else the last `X-Forwarded-For` entry,
/// the one the proxy itself added); otherwise the peer.
pub fn client_ip(req: &Request, trusted: &[IpNet]) -> IpAddr {
    forwarded_client(req.remote_addr().ip(), |name| req.header(name), trusted)
}

/// [`client_ip`] for a connection from `peer` whose request has `header`s.
pub fn forwarded_client<'a>(
    peer: IpAddr,
    header: impl Fn(&str) -> Option<&'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    if !is_trusted(trusted, peer) {
        return peer;
    }
    let real_ip = header("X-Real-IP").and_then(|v| v.trim().parse().ok());
    let forwarded = || {
        header("X-Forwarded-For")?
            .rsplit(',')
            .next()?
            .trim()
            .parse()
            .ok()
    };
    real_ip.or_else(forwarded).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_this_machine_is_trusted_by_default() {
        assert!(is_trusted(&default_trusted(), ip("127.0.0.1")));
        assert!(is_trusted(&default_trusted(), ip("::1")));
        assert!(!is_trusted(&default_trusted(), ip("127.0.0.2")));
    }

    #[test]
    fn the_client_is_named_only_by_a_trusted_proxy() {
        let req = |peer: &str, headers: &[(&str, &str)]| {
            let headers = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Request::new(peer.parse().unwrap(), "GET", "/", headers, Vec::new())
        };
        let trusted = default_trusted();
        let forwarded = [("X-Forwarded-For", "6.6.6.6, 203.0.113.9")];
        assert_eq!(
            client_ip(&req("127.0.0.1:9", &forwarded), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(
                &req("127.0.0.1:9", &[("X-Real-IP", "198.51.100.1")]),
                &trusted
            ),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(&req("192.0.2.1:9", &forwarded), &trusted),
            ip("192.0.2.1"),
            "a stranger's header is ignored"
        );
        assert_eq!(
            client_ip(
                &req("127.0.0.1:9", &[("X-Forwarded-For", "junk")]),
                &trusted
            ),
            ip("127.0.0.1")
        );
    }
}
