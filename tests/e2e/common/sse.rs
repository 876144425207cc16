//! A Server-Sent Events client for tests, over a raw socket: reads the
//! chunked stream as it arrives and splits it into events. (Also used by
//! `examples/live_bench.rs`.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

/// One event of a stream.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// `event:` (empty for comments).
    pub kind: String,
    /// `id:`.
    pub id: String,
    /// `data:` as JSON.
    pub data: Value,
}

/// An open stream.
pub struct SseClient {
    stream: TcpStream,
    /// Decoded body bytes not yet split into events.
    body: Vec<u8>,
    /// Raw bytes not yet de-chunked.
    raw: Vec<u8>,
    /// The response head.
    pub head: String,
}

impl SseClient {
    /// Opens `path` on `base` (`http://host:port`), with `Last-Event-ID`.
    pub fn connect(base: &str, path: &str, last_event_id: Option<&str>) -> SseClient {
        let addr = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        let extra = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}\r\n"
        )
        .unwrap();
        let mut client = SseClient {
            stream,
            body: Vec::new(),
            raw: Vec::new(),
            head: String::new(),
        };
        let until = Instant::now() + Duration::from_secs(30);
        while !client.raw.windows(4).any(|w| w == b"\r\n\r\n") && Instant::now() < until {
            client.fill(Duration::from_millis(200));
        }
        let end = client
            .raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response head")
            + 4;
        client.head = String::from_utf8_lossy(&client.raw[..end]).into_owned();
        client.raw.drain(..end);
        client
    }

    fn fill(&mut self, wait: Duration) {
        let _ = self.stream.set_read_timeout(Some(wait));
        let mut buf = [0u8; 16384];
        if let Ok(n) = self.stream.read(&mut buf) {
            self.raw.extend_from_slice(&buf[..n]);
        }
    }

    /// Moves complete chunks from `raw` to `body`.
    fn dechunk(&mut self) {
        loop {
            let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).to_string();
            let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
                return;
            };
            if self.raw.len() < line_end + 2 + size + 2 {
                return;
            }
            let start = line_end + 2;
            self.body.extend_from_slice(&self.raw[start..start + size]);
            self.raw.drain(..start + size + 2);
        }
    }

    /// The next event that is not a comment, waiting at most `wait`.
    pub fn next(&mut self, wait: Duration) -> Option<Event> {
        let until = Instant::now() + wait;
        loop {
            self.dechunk();
            while let Some(end) = self.body.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8_lossy(&self.body[..end]).to_string();
                self.body.drain(..end + 2);
                let mut event = Event::default();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event.kind = v.to_string();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data = serde_json::from_str(v).unwrap_or(Value::Null);
                    }
                }
                if !event.kind.is_empty() {
                    return Some(event);
                }
            }
            let left = until.checked_duration_since(Instant::now())?;
            self.fill(left.min(Duration::from_millis(100)));
        }
    }

    /// The next `n` punch events (skipping status events), in order.
    pub fn punches(&mut self, n: usize, wait: Duration) -> Vec<Event> {
        let until = Instant::now() + wait;
        let mut out = Vec::new();
        while out.len() < n {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            match self.next(left) {
                Some(e) if e.kind == "punch" => out.push(e),
                Some(_) => {}
                None => break,
            }
        }
        out
    }

    /// Waits for a status event saying `state`.
    pub fn status(&mut self, state: &str, wait: Duration) -> Option<Event> {
        let until = Instant::now() + wait;
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            match self.next(left) {
                Some(e) if e.kind == "status" && e.data["state"] == state => return Some(e),
                Some(_) => {}
                None => return None,
            }
        }
    }

    /// The next `n` punch events and whether a status event saying `state`
    /// came too (before, between or after them), waiting at most `wait`
    /// for both.
    pub fn punches_and_status(
        &mut self,
        n: usize,
        state: &str,
        wait: Duration,
    ) -> (Vec<Event>, bool) {
        let until = Instant::now() + wait;
        let (mut punches, mut seen) = (Vec::new(), false);
        while punches.len() < n || !seen {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            match self.next(left) {
                Some(e) if e.kind == "punch" => punches.push(e),
                Some(e) if e.kind == "status" && e.data["state"] == state => seen = true,
                Some(_) => {}
                None => break,
            }
        }
        (punches, seen)
    }
}
