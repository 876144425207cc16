//! The ZK binary protocol: framing, codecs, record layouts and a blocking client.

pub mod client;
pub mod codec;
pub mod error;
pub mod records;
pub mod wire;

pub use client::{AttendanceLog, ConnectOptions, Disabled, Session, Sizes};
pub use codec::ZkTime;
pub use error::{Error, Phase, Result};
pub use records::{Attendance, User};
