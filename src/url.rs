//! HTTP URLs the registry accepts: webhooks (`webhook`, `--webhook`) and
//! push forwarding targets (`push_forward`, `--push-forward`).

/// Whether this build can deliver to `https://` URLs.
pub const TLS: bool = cfg!(feature = "tls");

/// Checks a webhook URL with the `url` crate (WHATWG parsing, as the HTTP
/// client will read it): `http://` or `https://` (when built with TLS), a
/// host, no credentials, no spaces or control characters anywhere in what
/// was written. The error is for people.
pub fn validate_webhook_url(url: &str) -> Result<(), String> {
    validate_http_url("webhook", url)
}

/// Checks a `push_forward` URL by the same rules as a webhook's.
pub fn validate_forward_url(url: &str) -> Result<(), String> {
    validate_http_url("push_forward", url)
}

/// The rules of [`validate_webhook_url`]; errors name `field`.
fn validate_http_url(field: &str, url: &str) -> Result<(), String> {
    let no_host = format!("Campo '{field}' inválido: la URL no tiene un host válido.");
    // The parser would quietly strip or encode these; refuse them instead.
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(no_host);
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http") => {}
        Some("https") if TLS => {}
        Some("https") => {
            return Err(format!(
                "Campo '{field}' inválido: este binario no incluye TLS; use una URL http:// (por ejemplo, un proxy local)."
            ))
        }
        _ => {
            return Err(format!(
                "Campo '{field}' inválido: use una URL http:// o https://."
            ))
        }
    }
    let parsed = url::Url::parse(url).map_err(|_| no_host.clone())?;
    let host_ok = parsed.host_str().is_some_and(|h| !h.is_empty());
    let authority = &url[url.find("://").map_or(0, |i| i + 3)..];
    let written_host = authority.split(['/', '?', '#']).next().unwrap_or("");
    let credentials = !parsed.username().is_empty() || parsed.password().is_some();
    if host_ok && !credentials && !written_host.is_empty() && !written_host.starts_with(':') {
        Ok(())
    } else {
        Err(no_host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in [
            "http://10.0.0.5:8080/hook",
            "http://nomina.lan/api?x=1",
            "HTTP://Nomina.LAN/x",
            "http://[::1]:9000/h",
        ] {
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
            "http://u:p@h/",
            "http://:80/x",
            "http://exa mple.com/",
            "http://a\tb.com/",
            "http://[::1/",
            "http://300.1.1.1/",
            "http://%zz/",
        ] {
            assert!(
                validate_webhook_url(bad).unwrap_err().contains("'webhook'"),
                "{bad}"
            );
        }
    }
}
