//! The one error type of the ZK client. Internal and typed; the HTTP layer
//! turns it into a Spanish message naming the device.

use std::fmt;
use std::io;
use std::sync::Arc;

/// A socket error kept whole (its kind and source) while [`Error`] stays
/// cheap to clone and compare.
#[derive(Debug, Clone)]
pub struct IoError(Arc<io::Error>);

impl IoError {
    /// The socket error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.0.kind()
    }

    /// The error itself.
    pub fn get(&self) -> &io::Error {
        &self.0
    }
}

impl From<io::Error> for IoError {
    fn from(e: io::Error) -> Self {
        IoError(Arc::new(e))
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for IoError {}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

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

/// Bytes from a terminal that make no sense, by what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A TCP frame or UDP datagram that is not a ZK packet.
    Wire(super::wire::WireError),
    /// A reply to `command` with too few data bytes.
    ShortReply { command: u16, len: usize },
    /// A dataset shorter than its 4-byte length header.
    DatasetHeader { len: usize },
    /// PREPARE_BUFFER announced more bytes than any terminal holds.
    AbsurdSize { bytes: usize },
    /// A READ_BUFFER answer of the wrong size.
    ChunkLength { got: usize, wanted: usize },
    /// PREPARE_DATA announced another size than the one asked for.
    AnnouncedLength { announced: usize, wanted: usize },
    /// DATA frames carried more than the chunk asked for.
    ChunkOverflow { wanted: usize },
    /// The chunk ended (ACK_OK) before all its bytes arrived.
    ChunkIncomplete { got: usize, wanted: usize },
    /// A numbered DATA frame is missing.
    MissingFrame { expected: u16, got: u16 },
    /// No known record size fits the attendance dataset.
    AttendanceSize { bytes: usize, count: u32 },
    /// No known record size fits the user dataset.
    UserSize { bytes: usize, count: u32 },
    /// A template entry's size field is impossible or cut short.
    TemplateEntry { size: usize },
    /// A face reply that is not a whole number of 2576-byte records.
    FaceRecords { bytes: usize },
    /// A face record whose size field exceeds its 2560-byte template area.
    FaceSize { size: usize },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::wire::cmd::name;
        match self {
            ProtocolError::Wire(e) => write!(f, "{e}"),
            ProtocolError::ShortReply { command, len } => {
                write!(f, "{} reply of {len} bytes is too short", name(*command))
            }
            ProtocolError::DatasetHeader { len } => {
                write!(f, "dataset of {len} bytes has no length header")
            }
            ProtocolError::AbsurdSize { bytes } => write!(f, "absurd dataset size {bytes}"),
            ProtocolError::ChunkLength { got, wanted } => {
                write!(f, "chunk of {got} bytes, asked for {wanted}")
            }
            ProtocolError::AnnouncedLength { announced, wanted } => {
                write!(
                    f,
                    "PREPARE_DATA announces {announced} bytes, asked for {wanted}"
                )
            }
            ProtocolError::ChunkOverflow { wanted } => {
                write!(f, "DATA frames exceed the {wanted} bytes asked for")
            }
            ProtocolError::ChunkIncomplete { got, wanted } => {
                write!(f, "incomplete chunk: {got} of {wanted} bytes")
            }
            ProtocolError::MissingFrame { expected, got } => {
                write!(f, "DATA frame {expected} missing (got {got})")
            }
            ProtocolError::AttendanceSize { bytes, count } => write!(
                f,
                "no attendance record size fits {bytes} bytes ({count} records reported)"
            ),
            ProtocolError::UserSize { bytes, count } => write!(
                f,
                "no user record size fits {bytes} bytes ({count} users reported)"
            ),
            ProtocolError::TemplateEntry { size } => {
                write!(f, "template entry of impossible size {size}")
            }
            ProtocolError::FaceRecords { bytes } => {
                write!(
                    f,
                    "face reply of {bytes} bytes is not whole 2576-byte records"
                )
            }
            ProtocolError::FaceSize { size } => {
                write!(
                    f,
                    "face record announcing {size} template bytes (at most 2560)"
                )
            }
        }
    }
}

/// What a template operation refused, before or after talking to the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The terminal has no room for `adding` more templates.
    CapacityFull {
        /// Templates stored now.
        stored: u32,
        /// Templates it can hold.
        capacity: u32,
        /// New templates the write would add.
        adding: u32,
    },
    /// The batch was acknowledged but fewer templates were stored (firmware
    /// stops silently at capacity, §2.6.1).
    NotStored {
        /// Templates expected after the write.
        expected: u32,
        /// Templates the terminal counts.
        stored: u32,
    },
    /// The template's owner is not on the terminal (or not in the batch).
    NoUser {
        /// Owner's uid.
        uid: u16,
    },
    /// A finger index above 9.
    Finger {
        /// The index given.
        finger: u8,
    },
    /// Empty template bytes, or more than a length field holds.
    Length {
        /// Bytes given.
        len: usize,
    },
    /// A template of another algorithm version than the terminal's: it
    /// would be refused or never match (§1.4).
    Version {
        /// The terminal's `~ZKFPVersion`.
        terminal: u16,
        /// The version the template's bytes show.
        template: u16,
    },
    /// A PIN longer than the 24 bytes a PIN command carries.
    Pin {
        /// Bytes of the PIN.
        len: usize,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::CapacityFull {
                stored,
                capacity,
                adding,
            } => write!(
                f,
                "template capacity full: {stored} of {capacity} stored, {adding} to add"
            ),
            TemplateError::NotStored { expected, stored } => write!(
                f,
                "terminal stored {stored} templates, {expected} expected after the batch"
            ),
            TemplateError::NoUser { uid } => write!(f, "no user with uid {uid}"),
            TemplateError::Finger { finger } => write!(f, "finger index {finger} above 9"),
            TemplateError::Length { len } => write!(f, "template of impossible length {len}"),
            TemplateError::Version { terminal, template } => write!(
                f,
                "ZKFinger {template} template for a ZKFinger {terminal} terminal"
            ),
            TemplateError::Pin { len } => write!(f, "PIN of {len} bytes (at most 24)"),
        }
    }
}

impl From<TemplateError> for Error {
    fn from(e: TemplateError) -> Self {
        Error::Template(e)
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
    Protocol(ProtocolError),
    /// The terminal closed the connection.
    Closed(Phase),
    /// Any other socket error.
    Io(IoError),
    /// The whole operation took longer than its limit (a terminal that
    /// keeps answering, but too slowly to ever finish).
    OperationLimit,
    /// A template operation refused (capacity, owner, bad template).
    Template(TemplateError),
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

/// Result alias of the ZK client.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Maps a socket error seen during `phase`.
    pub fn from_io(e: io::Error, phase: Phase) -> Error {
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
            _ => Error::Io(e.into()),
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
            Error::OperationLimit => "operation_limit",
            Error::Template(_) => "template",
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
            Error::OperationLimit => write!(f, "operation took longer than its limit"),
            Error::Template(e) => write!(f, "template refused: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(&*e.0),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn socket_errors_keep_their_kind_and_source() {
        let e = Error::from_io(
            io::Error::new(io::ErrorKind::PermissionDenied, "no way"),
            Phase::Reply,
        );
        let Error::Io(inner) = &e else {
            panic!("expected Io, got {e:?}")
        };
        assert_eq!(inner.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("no way")
        );
        assert_eq!(e.clone(), e);
        assert_eq!(
            Error::from_io(io::Error::from(io::ErrorKind::WouldBlock), Phase::Data),
            Error::Timeout(Phase::Data)
        );
    }
}
