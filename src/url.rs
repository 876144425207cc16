//! Webhook URLs: what the registry and `--webhook` accept.

/// Whether this build can deliver to `https://` URLs.
pub const TLS: bool = cfg!(feature = "tls");

/// Checks a webhook URL: `http://` or `https://` (when built with TLS),
/// a host, no spaces or control characters. The error is for people.
pub fn validate_webhook_url(url: &str) -> Result<(), String> {
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if let Some(r) = url.strip_prefix("https://") {
        if !TLS {
            return Err(
                "Campo 'webhook' inválido: este binario no incluye TLS; use una URL http:// (por ejemplo, un proxy local)."
                    .into(),
            );
        }
        r
    } else {
        return Err("Campo 'webhook' inválido: use una URL http:// o https://.".into());
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_ok = !host.is_empty() && !host.starts_with(':') && !host.contains('@');
    let chars_ok = url.len() <= 2000 && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if host_ok && chars_ok {
        Ok(())
    } else {
        Err("Campo 'webhook' inválido: la URL no tiene un host válido.".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in ["http://10.0.0.5:8080/hook", "http://nomina.lan/api?x=1"] {
            assert!(validate_webhook_url(ok).is_ok(), "{ok}");
        }
        assert_eq!(validate_webhook_url("https://example.com/h").is_ok(), TLS);
        for bad in [
            "ftp://x",
            "http://",
            "http:///path",
            "http://a b",
            "nomina.lan",
            "http://u@h/",
        ] {
            assert!(
                validate_webhook_url(bad).unwrap_err().contains("'webhook'"),
                "{bad}"
            );
        }
    }
}
