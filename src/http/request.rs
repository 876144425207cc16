//! One parsed HTTP request as handlers see it: method, target, headers and a
//! body, either already read in full (bounded by the connection's limits)
//! or, for push terminals, read by the handler as it needs it.

use std::io::Read;
use std::net::SocketAddr;

use parking_lot::Mutex;

use super::body_reader::BodyReader;

/// An HTTP request.
#[derive(Debug)]
pub struct Request {
    method: String,
    target: String,
    /// Length of the path part of `target` (before any `?`).
    path_len: usize,
    /// The path's segments, split on `/` first and then percent-decoded
    /// (so `%2F` stays inside its segment); empty segments dropped.
    segments: Vec<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// A body still on the connection (see [`Request::take_body`]).
    stream: Mutex<Option<BodyReader>>,
    /// The declared length of a body still on the connection.
    stream_len: u64,
    peer: SocketAddr,
}

impl Request {
    /// A request from `peer`; `target` is the origin-form request target
    /// (`/a?b=c`) as sent.
    pub fn new(
        peer: SocketAddr,
        method: &str,
        target: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Request {
        let path_len = target.find('?').unwrap_or(target.len());
        Request {
            method: method.to_string(),
            target: target.to_string(),
            path_len,
            segments: split_path(&target[..path_len]),
            headers,
            body,
            stream: Mutex::new(None),
            stream_len: 0,
            peer,
        }
    }

    /// The request with its body (of `len` bytes) left on the connection,
    /// to be read through [`Request::take_body`].
    pub fn with_stream(mut self, reader: BodyReader, len: u64) -> Request {
        self.stream = Mutex::new(Some(reader));
        self.stream_len = len;
        self
    }

    /// The body's length (declared, when it is still on the connection).
    pub fn body_len(&self) -> u64 {
        if self.stream_len > 0 {
            self.stream_len
        } else {
            self.body.len() as u64
        }
    }

    /// The body as a reader: the bytes still on the connection (the first
    /// call only; later calls read nothing), else the body read in full.
    pub fn take_body(&self) -> Box<dyn Read + Send + '_> {
        match self.stream.lock().take() {
            Some(reader) => Box::new(reader),
            None if self.stream_len > 0 => Box::new(std::io::empty()),
            None => Box::new(&self.body[..]),
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

    /// The target as the access log shows it: the values of query
    /// parameters that carry secrets (a push terminal's `pushcommkey`, a
    /// key someone put in a URL) replaced by `***`.
    pub fn loggable_url(&self) -> String {
        let Some((path, query)) = self.target.split_once('?') else {
            return self.target.clone();
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_param(name) => format!("{name}=***"),
                _ => pair.to_string(),
            })
            .collect();
        format!("{path}?{}", pairs.join("&"))
    }

    /// The path as sent (still percent-encoded), without the query.
    pub fn raw_path(&self) -> &str {
        &self.target[..self.path_len]
    }

    /// The path's segments, each percent-decoded (routing uses these).
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The path decoded for people to read (segments joined by `/`; an
    /// encoded `/` inside a segment is shown decoded, so do not route on it).
    pub fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }

    /// The first value of query parameter `name`, decoded as a form
    /// (`+` is a space; invalid escapes stay as they are). A parameter given
    /// without `=` has the empty value.
    pub fn get_param(&self, name: &str) -> Option<String> {
        let query = self.target.get(self.path_len + 1..)?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body bytes (empty for a body left on the connection).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The client's address (nginx's, behind the proxy).
    pub fn remote_addr(&self) -> SocketAddr {
        self.peer
    }
}

/// Splits a raw path on `/`, then decodes each segment (invalid UTF-8
/// becomes U+FFFD).
fn split_path(raw: &str) -> Vec<String> {
    raw.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// Query parameters whose values never reach a log line.
fn is_secret_param(name: &str) -> bool {
    const SECRET: [&str; 6] = [
        "pushcommkey",
        "key",
        "api_key",
        "apikey",
        "password",
        "token",
    ];
    // `x-api-key`, `X.Api.Key` and `x%2Dapi%2Dkey` are `x_api_key`.
    let name = percent_encoding::percent_decode_str(&name.replace('+', " "))
        .decode_utf8_lossy()
        .to_ascii_lowercase()
        .replace(['-', '.', ' '], "_");
    SECRET
        .iter()
        .any(|s| name == *s || name.ends_with(&format!("_{s}")))
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
        assert_eq!(r.raw_path(), "/devices/a%20b/attendance");
        assert_eq!(r.get_param("from").as_deref(), Some("2026-03-01 08:00:00"));
        assert_eq!(r.get_param("date").as_deref(), Some(""));
        assert_eq!(r.get_param("flag").as_deref(), Some(""));
        assert_eq!(r.get_param("x").as_deref(), Some("a=b"));
        assert_eq!(r.get_param("bad").as_deref(), Some("%zz%4"));
        assert_eq!(r.get_param("missing"), None);
        assert_eq!(r.header("x-api-key"), Some("k"));
        assert_eq!(req("/%ff").path(), "/\u{fffd}");
        assert_eq!(req("/a+b").path(), "/a+b");
        assert_eq!(
            req("/devices/a%2Fb/ping").segments(),
            ["devices", "a/b", "ping"]
        );
        assert_eq!(req("//devices///x/").segments(), ["devices", "x"]);
        assert_eq!(req("/x?").get_param("a"), None);
        assert_eq!(req("/x?a=%C3%B1&a=2").get_param("a").as_deref(), Some("ñ"));
    }

    #[test]
    fn secrets_in_the_query_are_hidden_from_the_log() {
        assert_eq!(
            req("/iclock/cdata?SN=AB1&options=all&pushcommkey=4a9f&language=69").loggable_url(),
            "/iclock/cdata?SN=AB1&options=all&pushcommkey=***&language=69"
        );
        assert_eq!(
            req("/x?API_KEY=s3cret&key=k&Token=t&user_password=p&keys=ok").loggable_url(),
            "/x?API_KEY=***&key=***&Token=***&user_password=***&keys=ok"
        );
        assert_eq!(
            req("/x?x-api-key=s3cret&X-API-KEY=a&x%2Dapi%2Dkey=b&api.key=c&x-ray=ok")
                .loggable_url(),
            "/x?x-api-key=***&X-API-KEY=***&x%2Dapi%2Dkey=***&api.key=***&x-ray=ok"
        );
        assert_eq!(req("/health").loggable_url(), "/health");
        assert_eq!(req("/x?since=abc&").loggable_url(), "/x?since=abc&");
    }

    proptest::proptest! {
        /// Query strings never panic, and form-encoded pairs read back as written.
        #[test]
        fn query_strings_round_trip(
            pairs in proptest::collection::vec(("[a-z]{1,6}", "\\PC{0,12}"), 0..6),
            junk in "\\PC{0,40}",
        ) {
            let _ = req(&format!("/x?{junk}")).get_param("a");
            let _ = req(&format!("/{junk}")).segments();
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                ser.append_pair(k, v);
            }
            let r = req(&format!("/x?{}", ser.finish()));
            for (k, _) in &pairs {
                let first = pairs.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.clone());
                proptest::prop_assert_eq!(r.get_param(k), first);
            }
        }
    }
}
