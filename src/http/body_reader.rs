//! Request bodies read while the handler consumes them (push terminals'
//! `/iclock` requests): the handler decides who is calling before it reads
//! a byte of the body, and an upload is stored as it arrives instead of
//! being held whole. `100 Continue` is sent only when the handler starts
//! reading, so a refused client that waits for it never sends its body.
//!
//! The limits are those of a body read in full: each piece within
//! `body_timeout`, all of it within what is left of `request_timeout` —
//! counting only the time spent waiting for the client, not the time the
//! handler spends storing what it read. The connection learns from
//! [`BodyState`] whether the body was read to its end (else it closes
//! after the answer) or failed (then it answers 408 or just closes).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How a streamed body ended, as the connection sees it after the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Read to its last byte.
    Complete,
    /// Not (wholly) read: the connection cannot take another request.
    Unread,
    /// Reading failed (timed out, or the client went away).
    Failed(io::ErrorKind),
}

/// What the connection and the reader share.
#[derive(Debug)]
pub struct BodyState {
    progress: Mutex<(u64, Option<io::ErrorKind>)>,
}

impl BodyState {
    /// How the body ended (or stands).
    pub fn end(&self) -> BodyEnd {
        match *self.progress.lock() {
            (_, Some(kind)) => BodyEnd::Failed(kind),
            (0, None) => BodyEnd::Complete,
            _ => BodyEnd::Unread,
        }
    }
}

/// Timing limits of a streamed body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Longest wait for one piece.
    pub piece_timeout: Duration,
    /// Time the client may still spend sending (what is left of the
    /// request's deadline).
    pub allowance: Duration,
}

/// Reads a request body of a declared length from the connection.
pub struct BodyReader {
    client: Arc<TcpStream>,
    /// Body bytes that arrived with the head.
    prefix: Vec<u8>,
    at: usize,
    /// Bytes still to come from the socket.
    on_socket: u64,
    limits: BodyLimits,
    continue_due: bool,
    state: Arc<BodyState>,
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader")
            .field("left", &self.left())
            .finish_non_exhaustive()
    }
}

impl BodyReader {
    /// A body of `len` bytes whose first ones (`prefix`, at most `len`)
    /// came with the head; `continue_due` when the client waits for
    /// `100 Continue` before sending the rest.
    pub fn new(
        client: Arc<TcpStream>,
        prefix: Vec<u8>,
        len: u64,
        limits: BodyLimits,
        continue_due: bool,
    ) -> BodyReader {
        let on_socket = len.saturating_sub(prefix.len() as u64);
        BodyReader {
            client,
            prefix,
            at: 0,
            on_socket,
            limits,
            continue_due: continue_due && on_socket > 0,
            state: Arc::new(BodyState {
                progress: Mutex::new((len, None)),
            }),
        }
    }

    /// The state the connection checks after the handler.
    pub fn state(&self) -> Arc<BodyState> {
        self.state.clone()
    }

    /// Body bytes not read yet.
    fn left(&self) -> u64 {
        (self.prefix.len() - self.at) as u64 + self.on_socket
    }

    /// Reads from the socket within the limits (sending `100 Continue`
    /// first if the client waits for it).
    fn read_socket(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.continue_due {
            self.continue_due = false;
            (&*self.client).write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let want = usize::try_from(self.on_socket)
            .unwrap_or(usize::MAX)
            .min(out.len());
        loop {
            let wait = self.limits.allowance.min(self.limits.piece_timeout);
            if wait.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.client.set_read_timeout(Some(wait))?;
            let started = Instant::now();
            let read = (&*self.client).read(&mut out[..want]);
            self.limits.allowance = self.limits.allowance.saturating_sub(started.elapsed());
            match read {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.on_socket -= n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.state.progress.lock().1 {
            return Err(kind.into());
        }
        if out.is_empty() || self.left() == 0 {
            return Ok(0);
        }
        let n = if self.at < self.prefix.len() {
            let n = (self.prefix.len() - self.at).min(out.len());
            out[..n].copy_from_slice(&self.prefix[self.at..self.at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            n
        } else {
            match self.read_socket(out) {
                Ok(n) => n,
                Err(e) => {
                    // A timeout's kind may be WouldBlock (Unix) or TimedOut.
                    let kind = match e.kind() {
                        io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut,
                        k => k,
                    };
                    self.state.progress.lock().1 = Some(kind);
                    return Err(e);
                }
            }
        };
        self.state.progress.lock().0 = self.left();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected pair: (client side, server side).
    fn pair() -> (TcpStream, Arc<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, Arc::new(server))
    }

    fn limits(secs: u64) -> BodyLimits {
        BodyLimits {
            piece_timeout: Duration::from_secs(secs),
            allowance: Duration::from_secs(secs),
        }
    }

    #[test]
    fn reads_the_prefix_then_the_socket_up_to_the_declared_length() {
        let (mut client, server) = pair();
        client.write_all(b"lo world, and the next request").unwrap();
        let mut reader = BodyReader::new(server, b"hel".to_vec(), 11, limits(5), false);
        let state = reader.state();
        assert_eq!(state.end(), BodyEnd::Unread);
        let mut body = Vec::new();
        reader.read_to_end(&mut body).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(state.end(), BodyEnd::Complete);
    }

    #[test]
    fn continue_is_sent_only_when_the_body_is_read() {
        let (mut client, server) = pair();
        let mut reader = BodyReader::new(server, Vec::new(), 2, limits(5), true);
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(client.read(&mut buf).is_err(), "nothing before reading");
        let t = std::thread::spawn(move || {
            let mut body = Vec::new();
            reader.read_to_end(&mut body).map(|_| body)
        });
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = client.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
        client.write_all(b"ok").unwrap();
        assert_eq!(t.join().unwrap().unwrap(), b"ok");
    }

    #[test]
    fn a_silent_client_fails_the_body_as_timed_out() {
        let (mut client, server) = pair();
        client.write_all(b"ab").unwrap();
        let tight = BodyLimits {
            piece_timeout: Duration::from_millis(100),
            allowance: Duration::from_secs(5),
        };
        let mut reader = BodyReader::new(server, Vec::new(), 10, tight, false);
        let state = reader.state();
        let mut body = Vec::new();
        assert!(reader.read_to_end(&mut body).is_err());
        assert_eq!(body, b"ab");
        assert_eq!(state.end(), BodyEnd::Failed(io::ErrorKind::TimedOut));
        drop(client);
        let (client, server) = pair();
        let mut reader = BodyReader::new(server, Vec::new(), 10, limits(5), false);
        drop(client);
        assert!(reader.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(
            reader.state().end(),
            BodyEnd::Failed(io::ErrorKind::UnexpectedEof)
        );
    }

    #[test]
    fn time_spent_by_the_handler_does_not_count_against_the_client() {
        let (mut client, server) = pair();
        let short = BodyLimits {
            piece_timeout: Duration::from_secs(5),
            allowance: Duration::from_millis(300),
        };
        let mut reader = BodyReader::new(server, Vec::new(), 4, short, false);
        client.write_all(b"ab").unwrap();
        let mut buf = [0u8; 2];
        reader.read_exact(&mut buf).unwrap();
        // The handler works longer than the whole allowance…
        std::thread::sleep(Duration::from_millis(400));
        client.write_all(b"cd").unwrap();
        // …and the client, which sent at once, is still within it.
        reader.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"cd");
        assert_eq!(reader.state().end(), BodyEnd::Complete);
    }
}
