//! Trusted reverse proxies (`--trusted-proxy`): which peers may speak for
//! a client (nginx in front of zkserver), and the client address a request
//! stands for.

use std::net::IpAddr;

use super::Request;

/// An address or network (`10.0.0.0/8`, `::1`) whose connections are a
/// trusted proxy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    /// Parses `192.0.2.7`, `10.0.0.0/8`, `::1` or `fd00::/8`.
    pub fn parse(text: &str) -> Result<ProxyNet, String> {
        ProxyNet::parse_network(text)
            .ok_or_else(|| crate::messages::cli::not_a_proxy_network(text.trim()))
    }

    /// Parses an address or network (`203.0.113.7`, `10.2.0.0/16`, `::1`);
    /// `None` when it is neither. Also used for push terminals' `allow_from`.
    pub fn parse_network(text: &str) -> Option<ProxyNet> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(ProxyNet { addr, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether `a` and `b` (numbers of `bits` bits) share their first `prefix` bits.
fn same_prefix(a: u128, b: u128, bits: u8, prefix: u8) -> bool {
    let ignored = u32::from(bits.saturating_sub(prefix));
    a.checked_shr(ignored).unwrap_or(0) == b.checked_shr(ignored).unwrap_or(0)
}

/// The proxies trusted when none is configured: this machine (`127.0.0.1`, `::1`).
pub fn default_trusted() -> Vec<ProxyNet> {
    vec![
        ProxyNet {
            addr: IpAddr::from([127, 0, 0, 1]),
            prefix: 32,
        },
        ProxyNet {
            addr: IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            prefix: 128,
        },
    ]
}

/// Whether `ip` is one of the `trusted` proxies.
pub fn is_trusted(trusted: &[ProxyNet], ip: IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// The client a request stands for: through a trusted proxy, the address
/// the proxy names (`X-Real-IP`, else the last `X-Forwarded-For` entry,
/// the one the proxy itself added); otherwise the peer.
pub fn client_ip(req: &Request, trusted: &[ProxyNet]) -> IpAddr {
    forwarded_client(req.remote_addr().ip(), |name| req.header(name), trusted)
}

/// [`client_ip`] for a connection from `peer` whose request has `header`s.
pub fn forwarded_client<'a>(
    peer: IpAddr,
    header: impl Fn(&str) -> Option<&'a str>,
    trusted: &[ProxyNet],
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
    fn networks_contain_their_addresses() {
        let lan = ProxyNet::parse("10.1.0.0/16").unwrap();
        assert!(lan.contains(ip("10.1.200.3")));
        assert!(!lan.contains(ip("10.2.0.1")));
        assert!(lan.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let one = ProxyNet::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        assert!(ProxyNet::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("8.8.8.8")));
        assert!(ProxyNet::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!ProxyNet::parse("::1").unwrap().contains(ip("127.0.0.1")));
        for bad in [
            "",
            "nginx",
            "10.0.0.0/33",
            "::1/129",
            "10.0.0.0/-1",
            "1.2.3",
        ] {
            assert!(ProxyNet::parse(bad).is_err(), "{bad}");
        }
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
