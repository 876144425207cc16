//! Write protection: an API key for POST/PUT/DELETE (and optionally reads),
//! compared in constant time and never logged.

use super::{Ctx, Response};

/// Who may do what.
#[derive(Debug, Clone)]
pub struct Security {
    /// The API key, when one is configured.
    pub api_key: Option<String>,
    /// Accept writes without a key when none is configured.
    pub allow_open_writes: bool,
    /// Require the key for reads too (except `/health`).
    pub protect_reads: bool,
    /// Reverse proxies (`--trusted-proxy`) whose requests name their client
    /// and whose `Host` is not checked (default: this machine).
    pub trusted_proxies: Vec<crate::ipnet::IpNet>,
    /// Names this server is reached by (`--host-name`), besides IP literals
    /// and `localhost`; any other `Host` is refused (DNS rebinding).
    pub host_names: Vec<String>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            api_key: None,
            allow_open_writes: false,
            protect_reads: false,
            trusted_proxies: super::proxy::default_trusted(),
            host_names: Vec::new(),
        }
    }
}

/// The key the client presented, from `Authorization: Bearer` or `X-API-Key`.
/// Works on bytes: a multi-byte character anywhere is just a wrong key.
fn presented_key(ctx: &Ctx) -> Option<String> {
    if let Some(v) = ctx.req.header("Authorization") {
        if let Some(key) = bearer_token(v) {
            return Some(key.to_string());
        }
    }
    ctx.req.header("X-API-Key").map(|v| v.trim().to_string())
}

/// The token of an `Authorization: Bearer <token>` value (scheme matched
/// case-insensitively), never slicing inside a character.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether the request presents the configured API key (never true when
/// none is configured): what may see connection details and secrets such
/// as a push terminal's serial.
pub fn presents_key(ctx: &Ctx) -> bool {
    match (&ctx.app.security.api_key, presented_key(ctx)) {
        (Some(key), Some(k)) => crate::secret::constant_time_eq(k.as_bytes(), key.as_bytes()),
        _ => false,
    }
}

/// Checks a request for a route that `writes` (or reads) data.
pub fn check(ctx: &Ctx, writes: bool) -> Result<(), Response> {
    let sec = &ctx.app.security;
    if !writes && !sec.protect_reads {
        return Ok(());
    }
    match &sec.api_key {
        Some(key) => match presented_key(ctx) {
            Some(k) if crate::secret::constant_time_eq(k.as_bytes(), key.as_bytes()) => Ok(()),
            _ => {
                log::warn!(
                    "{} {} {}: refused (missing or wrong API key)",
                    ctx.req.remote_addr(),
                    ctx.req.method(),
                    ctx.req.raw_path()
                );
                Err(ctx
                    .error(401, crate::messages::UNAUTHORIZED)
                    .with_header("WWW-Authenticate", "Bearer"))
            }
        },
        None if writes && !sec.allow_open_writes => {
            Err(ctx.error(403, crate::messages::WRITES_DISABLED))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens_never_slice_inside_a_character() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("  bearer   abc  "), Some("abc"));
        assert_eq!(bearer_token("BEARER\tabc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        for odd in [
            "Beareré",
            "Beareré key",
            "Bearé key",
            "ééééééé",
            "é",
            "Bearer\u{fffd}",
        ] {
            let _ = bearer_token(odd);
        }
        assert_eq!(bearer_token("Bearer clé"), Some("clé"));
    }
}
