//! Parsing HTTP/1 request heads from untrusted bytes: where a head ends,
//! whether bytes can start a request at all, and the checked request line
//! and headers. Pure functions; the connection enforces sizes and times.
// Untrusted bytes never pass through a truncating `as`: conversions are checked.
#![deny(clippy::cast_possible_truncation)]

use crate::messages;

/// Longest request line accepted (longer → 414).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Most header lines accepted (more → 431).
pub const MAX_HEADERS: usize = 100;

/// Why a request head was refused: answer with this status and message,
/// then close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub u16, pub &'static str);

/// Refusal for bytes that are not an HTTP/1 request.
pub const BAD_REQUEST: Refusal = Refusal(400, messages::HTTP_BAD_REQUEST);
/// Refusal for a request line over [`MAX_REQUEST_LINE`].
pub const URI_TOO_LONG: Refusal = Refusal(414, messages::HTTP_URI_TOO_LONG);
/// Refusal for a head over the size limit.
pub const HEAD_TOO_LARGE: Refusal = Refusal(431, messages::HTTP_HEAD_TOO_LARGE);
/// Refusal for a body over the size limit.
pub const BODY_TOO_LARGE: Refusal = Refusal(413, messages::HTTP_BODY_TOO_LARGE);

/// Refusal for a push terminal's upload over 16 MiB (`/iclock/…`).
pub const PUSH_BODY_TOO_LARGE: Refusal = Refusal(413, messages::HTTP_PUSH_BODY_TOO_LARGE);

/// Refusal for a staff list restore over 16 MiB (`/people/import`).
pub const IMPORT_BODY_TOO_LARGE: Refusal = Refusal(413, messages::people::IMPORT_TOO_LARGE);

/// A checked request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request method, a token (`GET`).
    pub method: String,
    /// Request target as sent (`/devices?pretty=0`).
    pub target: String,
    /// True for HTTP/1.0.
    pub http10: bool,
    /// Header lines in order, values trimmed.
    pub headers: Vec<(String, String)>,
    /// Declared body length (0 without `Content-Length`).
    pub body_len: u64,
}

impl Head {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client asks to keep the connection open afterwards.
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("Connection").unwrap_or("").to_ascii_lowercase();
        let has = |word: &str| connection.split(',').any(|t| t.trim() == word);
        if self.http10 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }

    /// Whether the client waits for `100 Continue` before sending its body.
    pub fn expects_continue(&self) -> bool {
        !self.http10
            && self
                .header("Expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// Checks the bytes of a head still being received against the limits:
/// `Err` as soon as they cannot become an acceptable head.
pub fn check_partial(bytes: &[u8], max_head: usize) -> Result<(), Refusal> {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    let line_len = bytes[start..]
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len() - start);
    if line_len > MAX_REQUEST_LINE {
        return Err(URI_TOO_LONG);
    }
    if !plausible_start(bytes) {
        return Err(BAD_REQUEST);
    }
    if bytes.len() > max_head {
        return Err(HEAD_TOO_LARGE);
    }
    Ok(())
}

/// False as soon as the bytes received cannot start an HTTP/1 request
/// (garbage, TLS, binary), so they are refused without waiting for more.
pub fn plausible_start(bytes: &[u8]) -> bool {
    let bytes = match bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')) {
        Some(i) => &bytes[i..],
        None => return true,
    };
    let method_end = bytes.iter().position(|b| *b == b' ').unwrap_or(bytes.len());
    let method_ok = method_end <= 32 && bytes[..method_end].iter().all(|b| is_tchar(*b));
    let line_ok = match bytes.iter().position(|b| *b == b'\n') {
        Some(end) => {
            let line = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
            line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0")
        }
        None => true,
    };
    method_ok && line_ok
}

/// Whether the bytes of a head (complete or not) are a `HEAD` request, so
/// even a refusal is sent without a body.
pub fn is_head_request(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"HEAD ")
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Refusal for a missing or repeated `Host` header (RFC 9112 §3.2).
pub const BAD_HOST: Refusal = Refusal(400, messages::HTTP_BAD_HOST);

/// Tries to parse a head from the start of `bytes` (httparse does the
/// parsing, per RFC 9112: CRLF or bare LF line ends, so `\n\r\n` ends a
/// head as it does for nginx). `Ok(None)`: not complete yet (and within the
/// limits); `Ok(Some((head, len)))`: a checked head of `len` bytes.
pub fn parse(
    bytes: &[u8],
    max_head: usize,
    max_body: u64,
) -> Result<Option<(Head, usize)>, Refusal> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => {
            check_partial(&bytes[..len], max_head)?;
            check_request(&req, max_body).map(|head| Some((head, len)))
        }
        Ok(httparse::Status::Partial) => check_partial(bytes, max_head).map(|()| None),
        Err(httparse::Error::TooManyHeaders) => {
            check_partial(bytes, max_head)?;
            Err(Refusal(431, messages::HTTP_TOO_MANY_HEADERS))
        }
        Err(_) => {
            check_partial(bytes, max_head)?;
            Err(BAD_REQUEST)
        }
    }
}

/// Parses and validates a complete head (tests and callers that hold one).
pub fn parse_head(head: &[u8], max_body: u64) -> Result<Head, Refusal> {
    match parse(head, usize::MAX, max_body)? {
        Some((head, _)) => Ok(head),
        None => Err(BAD_REQUEST),
    }
}

/// Checks what httparse read: target form, headers, framing.
fn check_request(req: &httparse::Request, max_body: u64) -> Result<Head, Refusal> {
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(BAD_REQUEST);
    };
    if target.len() > MAX_REQUEST_LINE {
        return Err(URI_TOO_LONG);
    }
    let http10 = version == 0;
    let mut headers = Vec::with_capacity(req.headers.len());
    let mut body_len: Option<u64> = None;
    let mut hosts = 0;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| BAD_REQUEST)?
            .trim();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal(411, messages::HTTP_NO_CHUNKED));
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = content_length(value)?;
            if body_len.is_some_and(|m| m != n) {
                return Err(BAD_REQUEST);
            }
            body_len = Some(n);
        }
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        }
        headers.push((h.name.to_string(), value.to_string()));
    }
    if hosts > 1 || (!http10 && hosts == 0) {
        return Err(BAD_HOST);
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > max_body {
        return Err(BODY_TOO_LARGE);
    }
    Ok(Head {
        method: method.to_string(),
        target: normalize_target(&origin_form(target)?),
        http10,
        headers,
        body_len,
    })
}

/// A `Content-Length` value: digits only (no sign, no spaces, no list).
/// A number too large for any body is too large, not malformed.
fn content_length(value: &str) -> Result<u64, Refusal> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD_REQUEST);
    }
    value.parse().map_err(|_| BODY_TOO_LARGE)
}

/// The origin form (`/path?query`) of a request target: as sent, or taken
/// from an absolute-form target (`http://host/path?query`, RFC 9112 §3.2.2);
/// `*` stays `*` (nothing routes to it).
fn origin_form(target: &str) -> Result<String, Refusal> {
    if target.starts_with('/') || target == "*" {
        return Ok(target.to_string());
    }
    let scheme = target
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(BAD_REQUEST);
    }
    let url = url::Url::parse(target).map_err(|_| BAD_REQUEST)?;
    if url.host().is_none() {
        return Err(BAD_REQUEST);
    }
    Ok(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    })
}

/// The one form of a request target that both the route and its limits
/// are decided on: runs of `/` in the path collapsed to one, and
/// percent-encoded unreserved characters (`%69` for `i`) decoded, so
/// `//iclock/cdata` and `/%69clock/cdata` are `/iclock/cdata` everywhere.
/// Reserved escapes (`%2F`) stay encoded; the query is left as sent.
pub fn normalize_target(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut out = String::with_capacity(target.len());
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if out.ends_with('/') => i += 1,
            b'%' => {
                if let Some(c) = decoded_unreserved(&bytes[i..]) {
                    out.push(c);
                    i += 3;
                } else {
                    out.push('%');
                    i += 1;
                }
            }
            _ => {
                // Copy the whole character (paths may hold raw UTF-8).
                let ch = path
                    .get(i..)
                    .and_then(|p| p.chars().next())
                    .unwrap_or('\u{fffd}');
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The unreserved character (RFC 3986 §2.3) an escape at the start of
/// `bytes` encodes, if it is one.
fn decoded_unreserved(bytes: &[u8]) -> Option<char> {
    let hex = std::str::from_utf8(bytes.get(1..3)?).ok()?;
    let byte = u8::from_str_radix(hex, 16).ok()?;
    (byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)).then_some(char::from(byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Head, Refusal> {
        parse_head(text.as_bytes(), 64 * 1024)
    }

    #[test]
    fn accepts_heads() {
        let h = parse("GET /devices?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(
            (h.method.as_str(), h.target.as_str()),
            ("GET", "/devices?a=1")
        );
        assert_eq!(h.header("host"), Some("x"));
        assert!(!h.keep_alive() && !h.http10);
        let h = parse("\r\nPOST /devices HTTP/1.0\nContent-Length: 12\n\n").unwrap();
        assert_eq!(h.body_len, 12);
        assert!(h.http10 && !h.keep_alive() && !h.expects_continue());
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n").unwrap();
        assert!(h.keep_alive() && h.expects_continue());
        let h =
            parse("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.unwrap().body_len, 3, "equal duplicates agree");
    }

    #[test]
    fn absolute_form_targets_route_on_their_path() {
        let h = parse("GET http://zk.lan:5000/devices/a%2Fb?x=1 HTTP/1.1\r\nHost: zk.lan\r\n\r\n")
            .unwrap();
        assert_eq!(h.target, "/devices/a%2Fb?x=1");
        let h = parse("GET HTTPS://zk.lan HTTP/1.1\r\nHost: zk.lan\r\n\r\n").unwrap();
        assert_eq!(h.target, "/");
        for bad in ["ftp://zk.lan/x", "zk.lan:80", "http:/x", "devices"] {
            let head = format!("GET {bad} HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(parse(&head), Err(BAD_REQUEST), "{bad}");
        }
    }

    #[test]
    fn targets_are_normalized_once() {
        for (sent, seen) in [
            ("//iclock/cdata?SN=A//B", "/iclock/cdata?SN=A//B"),
            ("/%69clock/cdata", "/iclock/cdata"),
            ("/%49CLOCK///%63data", "/ICLOCK/cdata"),
            ("/devices/a%2Fb/%7E%2e", "/devices/a%2Fb/~."),
            ("/x%zz/%4", "/x%zz/%4"),
            ("/caf\u{e9}//%C3%B1", "/caf\u{e9}/%C3%B1"),
            ("*", "*"),
        ] {
            assert_eq!(normalize_target(sent), seen, "{sent}");
        }
        let h = parse("POST //%69clock/cdata?SN=1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(h.target, "/iclock/cdata?SN=1");
    }

    #[test]
    fn host_is_required_once_in_http11() {
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n"), Err(BAD_HOST));
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            Err(BAD_HOST)
        );
        assert_eq!(
            parse("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
            Err(BAD_HOST)
        );
        assert!(parse("GET / HTTP/1.0\r\n\r\n").is_ok(), "optional in 1.0");
    }

    #[test]
    fn refuses_what_is_not_safe_to_take() {
        for huge in [
            "99999999999",
            "18446744073709551616",
            "123456789012345678901234567890",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: {huge}\r\n\r\n");
            assert_eq!(parse(&head), Err(BODY_TOO_LARGE), "{huge}");
        }
        for bad in [
            "\x16\x03\x01\x02\x00\x01\r\n\r\n",
            "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Err(BAD_REQUEST), "{bad:?}");
        }
        assert!(matches!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Refusal(411, _))
        ));
        let many: String = (0..101).map(|i| format!("H{i}: v\r\n")).collect();
        assert!(matches!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Err(Refusal(431, _))
        ));
    }

    #[test]
    fn partial_heads_are_held_to_the_limits() {
        assert_eq!(check_partial(b"GET /devices HTTP/1.1\r\nHo", 16384), Ok(()));
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(17_000));
        assert_eq!(
            check_partial(long_line.as_bytes(), 16384),
            Err(URI_TOO_LONG)
        );
        assert_eq!(
            check_partial(&long_line.as_bytes()[..9000], 16384),
            Err(URI_TOO_LONG),
            "refused before the line is complete"
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "v".repeat(20_000));
        assert_eq!(check_partial(big.as_bytes(), 16384), Err(HEAD_TOO_LARGE));
        assert_eq!(check_partial(b"\x16\x03\x01\x00", 16384), Err(BAD_REQUEST));
        assert_eq!(
            super::parse(b"GET / HTTP/1.1\r\nHost: x\r\n", 16384, 0),
            Ok(None)
        );
        assert_eq!(super::parse(b"\x16\x03\x01", 16384, 0), Err(BAD_REQUEST));
    }

    #[test]
    fn spots_garbage_early() {
        assert!(plausible_start(b""));
        assert!(plausible_start(b"\r\nGE"));
        assert!(plausible_start(b"GET /devices HTTP/1.1\r\nHost"));
        assert!(!plausible_start(b"\x16\x03\x01\x00"));
        assert!(!plausible_start(b"GET / SPDY/3\r\n"));
        assert!(!plausible_start(&[b'A'; 40]));
        assert!(is_head_request(b"\r\nHEAD / HTTP/1.1"));
        assert!(!is_head_request(b"GET / HTTP/1.1"));
    }

    #[test]
    fn finds_the_end_of_heads() {
        let end = |b: &[u8]| super::parse(b, 16384, 0).unwrap().map(|(_, n)| n);
        assert_eq!(end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"), Some(27));
        assert_eq!(end(b"GET / HTTP/1.0\n\nrest"), Some(16));
        assert_eq!(
            end(b"GET / HTTP/1.1\nHost: x\n\r\nrest"),
            Some(25),
            "LF CRLF ends it, as for nginx"
        );
        assert_eq!(end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    /// Bytes that could be a head: a request line and headers from small
    /// alphabets, with mixed line ends.
    fn heady() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let line = prop_oneof![
            Just(b"GET / HTTP/1.1".to_vec()),
            Just(b"HEAD http://h/x HTTP/1.0".to_vec()),
            Just(b"Host: h".to_vec()),
            Just(b"Content-Length: 3".to_vec()),
            Just(b"Transfer-Encoding: chunked".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..20),
        ];
        let end = prop_oneof![
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec())
        ];
        proptest::collection::vec((line, end), 0..8)
            .prop_map(|v| v.into_iter().flat_map(|(l, e)| [l, e]).flatten().collect())
    }

    proptest::proptest! {
        /// No byte string makes the parser panic, and a parsed head's length
        /// is within the input.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..300)) {
            if let Ok(Some((_, n))) = super::parse(&bytes, 16384, 65536) {
                proptest::prop_assert!(n <= bytes.len());
            }
            let _ = is_head_request(&bytes);
        }

        #[test]
        fn never_panics_on_near_heads(bytes in heady()) {
            if let Ok(Some((head, n))) = super::parse(&bytes, 16384, 65536) {
                proptest::prop_assert!(n <= bytes.len());
                proptest::prop_assert!(head.target.starts_with('/') || head.target == "*");
            }
        }

        /// A head written from parts parses back to those parts, whatever
        /// follows it.
        #[test]
        fn heads_round_trip(
            method in "[A-Z]{1,8}",
            path in "(/[a-zA-Z0-9%._~-]{0,10}){1,4}(\\?[a-z0-9=&%+]{0,20})?",
            names in proptest::collection::vec("X-[A-Za-z0-9-]{1,10}", 0..5),
            value in "[ -~]{0,30}",
            len in 0u64..70_000,
            lf in proptest::bool::ANY,
            rest in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..20),
        ) {
            let eol = if lf { "\n" } else { "\r\n" };
            let mut text = format!("{method} {path} HTTP/1.1{eol}Host: h{eol}Content-Length: {len}{eol}");
            for n in &names {
                text.push_str(&format!("{n}: {value}{eol}"));
            }
            text.push_str(eol);
            let mut bytes = text.clone().into_bytes();
            bytes.extend_from_slice(&rest);
            match super::parse(&bytes, 16384, 65536) {
                Ok(Some((head, n))) => {
                    proptest::prop_assert!(len <= 65536);
                    proptest::prop_assert_eq!(n, text.len());
                    proptest::prop_assert_eq!(&head.method, &method);
                    proptest::prop_assert_eq!(&head.target, &normalize_target(&path));
                    proptest::prop_assert_eq!(head.body_len, len);
                    proptest::prop_assert_eq!(head.headers.len(), names.len() + 2);
                    for (n, (k, v)) in names.iter().zip(&head.headers[2..]) {
                        proptest::prop_assert_eq!(n, k);
                        proptest::prop_assert_eq!(v.as_str(), value.trim());
                    }
                }
                other => proptest::prop_assert!(len > 65536 && other == Err(BODY_TOO_LARGE), "{:?}", other),
            }
        }
    }
}
