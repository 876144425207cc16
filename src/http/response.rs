//! Responses: status, headers and a body that is either bytes (sent with a
//! Content-Length) or a reader streamed as it produces (chunked), plus the
//! JSON document and JSON error builders every handler uses.

use std::io::Read;

use serde_json::{Map, Value};

/// Content type of every JSON answer.
pub const JSON: &str = "application/json; charset=utf-8";

/// A response body.
pub enum Body {
    /// Known bytes, sent with `Content-Length`.
    Bytes(Vec<u8>),
    /// Produced while it is sent; each `read` result is written and flushed
    /// at once (chunked), so streams reach the client as they are produced.
    Stream(Box<dyn Read + Send>),
    /// An open-ended stream (Server-Sent Events): polled for pieces, each
    /// written and flushed at once; between pieces the connection checks
    /// that the client is still there.
    Live(Box<dyn LiveBody>),
}

/// What a live body has to send.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    /// These bytes, now.
    Data(Vec<u8>),
    /// Nothing yet.
    Idle,
    /// The stream is over.
    End,
}

/// An open-ended response body.
pub trait LiveBody: Send {
    /// The next piece, waiting at most `wait` for one.
    fn poll(&mut self, wait: std::time::Duration) -> Poll;
}

/// An HTTP response.
pub struct Response {
    /// Status code.
    pub status_code: u16,
    /// Headers other than the framing ones (`Content-Length`,
    /// `Transfer-Encoding`, `Connection`), which the connection writes.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A response with `content_type` and `body`.
    pub fn new(status: u16, content_type: &str, body: Body) -> Response {
        Response {
            status_code: status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A JSON response.
pub fn json(status: u16, value: &Value, pretty: bool) -> Response {
    let mut body = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    }
    .unwrap_or_else(|_| b"{}".to_vec());
    body.push(b'\n');
    Response::new(status, JSON, Body::Bytes(body))
}

/// `{"success": false, "error": message, ...extra}`.
pub fn error(status: u16, message: &str, extra: Vec<(&str, Value)>, pretty: bool) -> Response {
    let mut obj = Map::new();
    obj.insert("success".into(), Value::Bool(false));
    obj.insert("error".into(), Value::String(message.to_string()));
    for (k, v) in extra {
        obj.insert(k.to_string(), v);
    }
    json(status, &Value::Object(obj), pretty)
}
