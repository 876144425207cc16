//! Parsing HTTP/1 request heads from untrusted bytes: where a head ends,
//! whether bytes can start a request at all, and the checked request line
//! and headers. Pure functions; the connection enforces sizes and times.

/// Longest request line accepted (longer → 414).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Most header lines accepted (more → 431).
pub const MAX_HEADERS: usize = 100;

/// Why a request head was refused: answer with this status and message,
/// then close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub u16, pub &'static str);

/// Refusal for bytes that are not an HTTP/1 request.
pub const BAD_REQUEST: Refusal = Refusal(400, "Petición HTTP inválida.");
/// Refusal for a request line over [`MAX_REQUEST_LINE`].
pub const URI_TOO_LONG: Refusal = Refusal(414, "La URL de la petición es demasiado larga.");
/// Refusal for a head over the size limit.
pub const HEAD_TOO_LARGE: Refusal = Refusal(431, "Cabeceras de la petición demasiado grandes.");
/// Refusal for a body over the size limit.
pub const BODY_TOO_LARGE: Refusal = Refusal(413, "Body demasiado grande: el máximo es 64 KiB.");

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

/// Index just past the blank line ending the head, if present.
pub fn head_end(bytes: &[u8]) -> Option<usize> {
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

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Parses and validates a complete head (the bytes up to [`head_end`]).
pub fn parse_head(head: &[u8], max_body: u64) -> Result<Head, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| BAD_REQUEST)?;
    // Tolerate blank lines before the request line (RFC 9112 §2.2).
    let text = text.trim_start_matches(['\r', '\n']);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or(BAD_REQUEST)?;
    if request_line.len() > MAX_REQUEST_LINE {
        return Err(URI_TOO_LONG);
    }
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts.as_slice() else {
        return Err(BAD_REQUEST);
    };
    if !is_token(method) || target.is_empty() || !matches!(*version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(BAD_REQUEST);
    }
    if target.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(BAD_REQUEST);
    }
    let mut headers = Vec::new();
    let mut body_len: Option<u64> = None;
    for line in lines.filter(|l| !l.is_empty()) {
        if headers.len() >= MAX_HEADERS {
            return Err(Refusal(431, "Demasiadas cabeceras en la petición."));
        }
        let (name, value) = line.split_once(':').ok_or(BAD_REQUEST)?;
        if !is_token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(BAD_REQUEST);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal(
                411,
                "Se requiere Content-Length: no se aceptan cuerpos con Transfer-Encoding.",
            ));
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().map_err(|_| BAD_REQUEST)?;
            if body_len.is_some_and(|m| m != n) {
                return Err(BAD_REQUEST);
            }
            body_len = Some(n);
        }
        headers.push((name.to_string(), value.to_string()));
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > max_body {
        return Err(BODY_TOO_LARGE);
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        http10: *version == "HTTP/1.0",
        headers,
        body_len,
    })
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
        let h = parse("POST / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").unwrap();
        assert!(h.keep_alive() && h.expects_continue());
    }

    #[test]
    fn refuses_what_is_not_safe_to_take() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
            Err(BODY_TOO_LARGE)
        );
        for bad in [
            "\x16\x03\x01\x02\x00\x01\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Err(BAD_REQUEST), "{bad:?}");
        }
        assert!(matches!(
            parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
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
