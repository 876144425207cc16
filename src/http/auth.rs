//! Write protection: an API key for POST/PUT/DELETE (and optionally reads),
//! compared in constant time and never logged.

use super::{Ctx, Response};

/// Who may do what.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// The API key, when one is configured.
    pub api_key: Option<String>,
    /// Accept writes without a key when none is configured.
    pub allow_open_writes: bool,
    /// Require the key for reads too (except `/health`).
    pub protect_reads: bool,
}

/// Message for a refused key.
pub const UNAUTHORIZED: &str = "No autorizado.";
/// Message for writes with no key configured.
pub const WRITES_DISABLED: &str = "Escrituras deshabilitadas: configure una clave API con --api-key-file o la variable API_KEY (y envíela en 'Authorization: Bearer <clave>' o 'X-API-Key'), o inicie el servidor con --allow-open-writes.";

/// Equality that takes the same time wherever the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The key the client presented, from `Authorization: Bearer` or `X-API-Key`.
fn presented_key(ctx: &Ctx) -> Option<String> {
    if let Some(v) = ctx.req.header("Authorization") {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim().to_string());
        }
    }
    ctx.req.header("X-API-Key").map(|v| v.trim().to_string())
}

/// Checks a request for a route that `writes` (or reads) data.
pub fn check(ctx: &Ctx, writes: bool) -> Result<(), Response> {
    let sec = &ctx.app.security;
    if !writes && !sec.protect_reads {
        return Ok(());
    }
    match &sec.api_key {
        Some(key) => match presented_key(ctx) {
            Some(k) if constant_time_eq(k.as_bytes(), key.as_bytes()) => Ok(()),
            _ => {
                log::warn!(
                    "{} {} {}: refused (missing or wrong API key)",
                    ctx.req.remote_addr(),
                    ctx.req.method(),
                    ctx.req.path()
                );
                Err(ctx
                    .error(401, UNAUTHORIZED)
                    .with_header("WWW-Authenticate", "Bearer"))
            }
        },
        None if writes && !sec.allow_open_writes => Err(ctx.error(403, WRITES_DISABLED)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_keys() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
