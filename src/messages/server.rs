//! What the HTTP server says when it cannot listen.

use crate::server::BindError;

/// An address that could not be listened on, and why.
pub fn bind_error(e: &BindError) -> String {
    format!(
        "no se pudo escuchar en {}: {}",
        e.addr,
        crate::registry::io_error_es(&e.error)
    )
}
