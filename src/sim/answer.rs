//! How the simulated terminal answers a template or face command (shared
//! by `templates` and `faces`).

/// How the terminal answers a template command.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// ACK_OK with this data.
    Ok(Vec<u8>),
    /// ACK_ERROR with this firmware code in the session field.
    Error(u16),
    /// A payload sent as large data (PREPARE_DATA, DATA frames, ACK_OK), or
    /// inline in an ACK_OK in v9 mode.
    Large(Vec<u8>),
}
