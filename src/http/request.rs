//! One parsed HTTP request as handlers see it: method, target, headers and a
//! body already read in full (bounded by the connection's limits).

use std::net::SocketAddr;

/// An HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    target: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    peer: SocketAddr,
}

impl Request {
    /// A request from `peer`; `target` is the raw request target (`/a?b=c`).
    pub fn new(
        peer: SocketAddr,
        method: &str,
        target: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Request {
        let raw_path = target.split_once('?').map_or(target, |(p, _)| p);
        Request {
            method: method.to_string(),
            target: target.to_string(),
            path: percent_decode(raw_path, false),
            headers,
            body,
            peer,
        }
    }

    /// The method (`GET`, `POST`, …).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent (path and query, still encoded).
    pub fn raw_url(&self) -> &str {
        &self.target
    }

    /// The path, percent-decoded, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The first value of query parameter `name`, decoded (`+` is a space).
    /// A parameter given without `=` has the empty value.
    pub fn get_param(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(k, _)| percent_decode(k, true) == name)
            .map(|(_, v)| percent_decode(v, true))
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The client's address (nginx's, behind the proxy).
    pub fn remote_addr(&self) -> SocketAddr {
        self.peer
    }
}

/// Decodes `%XX` escapes (and `+` as a space in query parts); invalid
/// escapes stay as they are and invalid UTF-8 becomes U+FFFD.
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> Request {
        Request::new(
            "127.0.0.1:1".parse().unwrap(),
            "GET",
            target,
            vec![("X-Api-Key".into(), "k".into())],
            Vec::new(),
        )
    }

    #[test]
    fn decodes_path_and_parameters() {
        let r = req(
            "/devices/a%20b/attendance?from=2026-03-01+08%3A00%3A00&date=&flag&x=a=b&bad=%zz%4",
        );
        assert_eq!(r.path(), "/devices/a b/attendance");
        assert_eq!(r.get_param("from").as_deref(), Some("2026-03-01 08:00:00"));
        assert_eq!(r.get_param("date").as_deref(), Some(""));
        assert_eq!(r.get_param("flag").as_deref(), Some(""));
        assert_eq!(r.get_param("x").as_deref(), Some("a=b"));
        assert_eq!(r.get_param("bad").as_deref(), Some("%zz%4"));
        assert_eq!(r.get_param("missing"), None);
        assert_eq!(r.header("x-api-key"), Some("k"));
        assert_eq!(req("/%ff").path(), "/\u{fffd}");
        assert_eq!(req("/a+b").path(), "/a+b");
    }
}
