//! The ZK binary protocol: framing, codecs, record layouts, transports and
//! a blocking client.
//!
//! `wire` frames packets, `codec` decodes values, `records` knows the record
//! layouts, `transport` moves packets over TCP or UDP, `session` holds one
//! conversation, `chunk` assembles one READ_BUFFER answer, `buffered` reads
//! whole datasets and `tables` turns them into users and punches;
//! `templates` reads, writes and deletes fingerprint templates; `faces`
//! reads and deletes NIR face templates; `tail` reads only what follows
//! a position in the attendance log; `events` parses realtime events.
// Device bytes never pass through a truncating `as`: conversions are checked.
#![deny(clippy::cast_possible_truncation)]

mod buffered;
pub mod chunk;
pub mod codec;
pub mod error;
pub mod events;
pub mod faces;
pub mod records;
mod session;
mod tables;
pub mod tail;
pub mod templates;
pub mod transport;
pub mod wire;

pub use buffered::{TCP_CHUNK, UDP_CHUNK};
pub use codec::ZkTime;
pub use error::{Error, Phase, ProtocolError, Result, TemplateError};
pub use records::{AttFormat, Attendance, User, UserFormat};
pub use session::{ConnectOptions, Disabled, Session, Sizes, DEFAULT_OPERATION_LIMIT};
pub use tables::AttendanceLog;
pub use tail::{LogPosition, TailMethod, TailRead};
pub use templates::TemplateCapacity;
