//! Forwarding a push terminal's `/iclock` requests to another server (a
//! terminal has one push slot: with forwarding it can feed zkserver and,
//! say, the vendor's BioTime at once). The receiver journals what was
//! uploaded first, then relays the request and hands the upstream's answer
//! back to the terminal; an upstream that does not answer becomes a non-OK
//! answer, so the terminal keeps its data and sends it again later.

use std::io::Read;
use std::time::Duration;

/// Largest upstream answer relayed (a poll answer holds commands; 1 MiB is
/// far beyond any real one).
const MAX_ANSWER: u64 = 1024 * 1024;

/// How long the upstream may take to answer one request.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// The upstream's answer, to be given to the terminal as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`, if the upstream sent one.
    pub content_type: Option<String>,
    /// The upstream's `Date` (terminals set their clocks from it).
    pub date: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request could not be relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    /// The upstream URL and the request path do not make a URL.
    BadUrl(String),
    /// Nothing usable came back: refused, unreachable, timed out, or an
    /// answer larger than [`MAX_ANSWER`] (the detail says which).
    Unanswered(String),
}

impl std::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardError::BadUrl(url) => write!(f, "cannot build an upstream URL from {url}"),
            ForwardError::Unanswered(why) => write!(f, "upstream did not answer: {why}"),
        }
    }
}

impl std::error::Error for ForwardError {}

/// One request as the terminal sent it.
#[derive(Debug, Clone, Copy)]
pub struct Relay<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The raw path and query, e.g. `/iclock/cdata?SN=CKJ1&table=ATTLOG`.
    pub target: &'a str,
    /// The request body (empty for a GET).
    pub body: &'a [u8],
    /// The terminal's `User-Agent`, passed on (servers look at it).
    pub user_agent: Option<&'a str>,
    /// The terminal's `Content-Type`, passed on.
    pub content_type: Option<&'a str>,
    /// `X-Forwarded-For` for the upstream: the chain a proxy in front of
    /// zkserver sent, with the address zkserver got the request from.
    pub forwarded_for: Option<&'a str>,
    /// `X-Real-IP` for the upstream: the terminal's address.
    pub real_ip: Option<&'a str>,
}

/// Relays requests to upstream servers over one HTTP agent.
pub struct Forwarder {
    agent: ureq::Agent,
}

impl Default for Forwarder {
    fn default() -> Self {
        Forwarder::new(UPSTREAM_TIMEOUT)
    }
}

impl Forwarder {
    /// A forwarder whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Forwarder {
        Forwarder {
            agent: ureq::AgentBuilder::new()
                .timeout(timeout)
                .redirects(0)
                .build(),
        }
    }

    /// Sends `request` to `upstream` (a base URL such as
    /// `http://biotime:8081`, possibly with a path prefix) and returns its
    /// answer, whatever its status.
    pub fn relay(&self, upstream: &str, request: &Relay) -> Result<Relayed, ForwardError> {
        let url = upstream_url(upstream, request.target)?;
        let mut call = self.agent.request(request.method, &url);
        if let Some(ua) = request.user_agent {
            call = call.set("User-Agent", ua);
        }
        if let Some(ct) = request.content_type {
            call = call.set("Content-Type", ct);
        }
        // The upstream sees the terminal, not zkserver, as the client.
        if let Some(chain) = request.forwarded_for {
            call = call.set("X-Forwarded-For", chain);
        }
        if let Some(ip) = request.real_ip {
            call = call.set("X-Real-IP", ip);
        }
        let sent = if request.method.eq_ignore_ascii_case("GET") {
            call.call()
        } else {
            call.send_bytes(request.body)
        };
        let response = match sent {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(ForwardError::Unanswered(e.to_string())),
        };
        let status = response.status();
        let content_type = response.header("Content-Type").map(str::to_string);
        let date = response.header("Date").map(str::to_string);
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_ANSWER + 1)
            .read_to_end(&mut body)
            .map_err(|e| ForwardError::Unanswered(format!("reading the answer: {e}")))?;
        if body.len() as u64 > MAX_ANSWER {
            return Err(ForwardError::Unanswered(format!(
                "answer larger than {MAX_ANSWER} bytes"
            )));
        }
        Ok(Relayed {
            status,
            content_type,
            date,
            body,
        })
    }
}

/// `upstream` (scheme, host, optional path prefix) joined with the
/// terminal's `target` (which starts with `/iclock/`).
pub fn upstream_url(upstream: &str, target: &str) -> Result<String, ForwardError> {
    let base = url::Url::parse(upstream).map_err(|_| ForwardError::BadUrl(upstream.into()))?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        return Err(ForwardError::BadUrl(upstream.into()));
    }
    let prefix = base.path().trim_end_matches('/');
    let target = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    };
    let origin = base.origin().ascii_serialization();
    Ok(format!("{origin}{prefix}{target}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A one-request upstream: answers `answer` and returns what it got.
    fn upstream(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then the body its Content-Length announces.
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .or_else(|| {
                            text.lines()
                                .find_map(|l| l.strip_prefix("Content-Length: "))
                        })
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            s.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (base, handle)
    }

    #[test]
    fn urls_keep_the_upstream_prefix_and_the_terminal_query() {
        assert_eq!(
            upstream_url("http://biotime:8081", "/iclock/cdata?SN=A&table=ATTLOG").unwrap(),
            "http://biotime:8081/iclock/cdata?SN=A&table=ATTLOG"
        );
        assert_eq!(
            upstream_url("http://10.0.0.9/adms/", "/iclock/getrequest?SN=A").unwrap(),
            "http://10.0.0.9/adms/iclock/getrequest?SN=A"
        );
        for bad in ["", "biotime:8081", "ftp://x/", "http://"] {
            assert!(upstream_url(bad, "/iclock/ping").is_err(), "{bad}");
        }
    }

    #[test]
    fn an_upload_is_relayed_and_the_answer_comes_back_as_it_is() {
        let (base, got) = upstream(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\nContent-Length: 4\r\nConnection: close\r\n\r\nOK:2",
        );
        let body = b"1\t2026-12-01 08:00:00\t0\t1\n2\t2026-12-01 08:01:00\t0\t1\n";
        let answer = Forwarder::default()
            .relay(
                &base,
                &Relay {
                    method: "POST",
                    target: "/iclock/cdata?SN=CKJ1&table=ATTLOG&Stamp=9",
                    body,
                    user_agent: Some("iClock Proline"),
                    content_type: Some("text/plain"),
                    forwarded_for: Some("10.1.2.3, 127.0.0.1"),
                    real_ip: Some("10.1.2.3"),
                },
            )
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, b"OK:2");
        assert_eq!(
            answer.date.as_deref(),
            Some("Tue, 01 Dec 2026 12:00:00 GMT")
        );
        let request = got.join().unwrap();
        assert!(
            request.starts_with("POST /iclock/cdata?SN=CKJ1&table=ATTLOG&Stamp=9 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("iClock Proline"), "{request}");
        let lower = request.to_ascii_lowercase();
        assert!(
            lower.contains("\r\nx-forwarded-for: 10.1.2.3, 127.0.0.1\r\n"),
            "{request}"
        );
        assert!(lower.contains("\r\nx-real-ip: 10.1.2.3\r\n"), "{request}");
        assert!(
            request.ends_with(std::str::from_utf8(body).unwrap()),
            "{request}"
        );
    }

    #[test]
    fn an_error_status_is_relayed_not_swallowed() {
        let (base, got) = upstream(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nERROR",
        );
        let answer = Forwarder::default()
            .relay(
                &base,
                &Relay {
                    method: "GET",
                    target: "/iclock/getrequest?SN=CKJ1",
                    body: b"",
                    user_agent: None,
                    content_type: None,
                    forwarded_for: None,
                    real_ip: None,
                },
            )
            .unwrap();
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (503, &b"ERROR"[..])
        );
        assert!(got
            .join()
            .unwrap()
            .starts_with("GET /iclock/getrequest?SN=CKJ1 "));
    }

    #[test]
    fn an_upstream_that_is_down_is_an_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = Forwarder::new(Duration::from_secs(5))
            .relay(
                &format!("http://127.0.0.1:{port}"),
                &Relay {
                    method: "GET",
                    target: "/iclock/ping?SN=CKJ1",
                    body: b"",
                    user_agent: None,
                    content_type: None,
                    forwarded_for: None,
                    real_ip: None,
                },
            )
            .unwrap_err();
        assert!(matches!(err, ForwardError::Unanswered(_)), "{err:?}");
    }
}
