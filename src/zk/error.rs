//! The one error type of the ZK client. Internal and typed; the HTTP layer
//! turns it into a Spanish message naming the device.

use std::fmt;
use std::io;

/// Which part of a conversation was waiting when a timeout or close happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening the connection / CONNECT handshake.
    Connect,
    /// Waiting for the reply to a command.
    Reply,
    /// Waiting for the next packet of a data transfer.
    Data,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Reply => "reply",
            Phase::Data => "data",
        })
    }
}

/// Everything that can go wrong talking to a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Nothing arrived in time.
    Timeout(Phase),
    /// The terminal's port refused the connection.
    Refused,
    /// The address could not be reached or resolved.
    Unreachable(String),
    /// The terminal rejected the comm key.
    Unauthorized,
    /// The terminal answered `code` to `command`.
    Device { command: u16, code: u16 },
    /// The terminal sent bytes that make no sense.
    Protocol(String),
    /// The terminal closed the connection.
    Closed(Phase),
    /// Any other socket error.
    Io(String),
}

/// Result alias of the ZK client.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Maps a socket error seen during `phase`.
    pub fn from_io(e: &io::Error, phase: Phase) -> Error {
        use io::ErrorKind::*;
        match e.kind() {
            WouldBlock | TimedOut => Error::Timeout(phase),
            ConnectionRefused => Error::Refused,
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                Error::Closed(phase)
            }
            NetworkUnreachable | HostUnreachable | AddrNotAvailable => {
                Error::Unreachable(e.to_string())
            }
            _ => Error::Io(e.to_string()),
        }
    }

    /// A short machine-friendly kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Timeout(_) => "timeout",
            Error::Refused => "refused",
            Error::Unreachable(_) => "unreachable",
            Error::Unauthorized => "unauthorized",
            Error::Device { .. } => "device_error",
            Error::Protocol(_) => "protocol",
            Error::Closed(_) => "closed",
            Error::Io(_) => "io",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::wire::cmd::name;
        match self {
            Error::Timeout(p) => write!(f, "timeout in {p} phase"),
            Error::Refused => write!(f, "connection refused"),
            Error::Unreachable(e) => write!(f, "unreachable: {e}"),
            Error::Unauthorized => write!(f, "comm key rejected (ACK_UNAUTH)"),
            Error::Device { command, code } => write!(
                f,
                "device answered {code} ({}) to command {command} ({})",
                name(*code),
                name(*command)
            ),
            Error::Protocol(d) => write!(f, "protocol error: {d}"),
            Error::Closed(p) => write!(f, "connection closed by the device in {p} phase"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for Error {}
