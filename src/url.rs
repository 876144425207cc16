//! HTTP URLs the registry accepts: webhooks (`webhook`, `--webhook`) and
//! push forwarding targets (`push_forward`, `--push-forward`).

/// Whether this build can deliver to `https://` URLs.
pub const TLS: bool = cfg!(feature = "tls");

/// Why a URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Neither `http://` nor `https://`.
    NotHttp,
    /// `https://` in a build without TLS.
    NoTls,
    /// No usable host: none, credentials, spaces or control characters,
    /// too long, or not a URL the client would read as written.
    NoHost,
}

/// Checks a webhook or `push_forward` URL with the `url` crate (WHATWG
/// parsing, as the HTTP client will read it): `http://` or `https://` (when
/// built with TLS), a host, no credentials, no spaces or control characters
/// anywhere in what was written.
pub fn check_http_url(url: &str) -> Result<(), UrlError> {
    // The parser would quietly strip or encode these; refuse them instead.
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::NoHost);
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http") => {}
        Some("https") if TLS => {}
        Some("https") => return Err(UrlError::NoTls),
        _ => return Err(UrlError::NotHttp),
    }
    let parsed = url::Url::parse(url).map_err(|_| UrlError::NoHost)?;
    let host_ok = parsed.host_str().is_some_and(|h| !h.is_empty());
    let authority = &url[url.find("://").map_or(0, |i| i + 3)..];
    let written_host = authority.split(['/', '?', '#']).next().unwrap_or("");
    let credentials = !parsed.username().is_empty() || parsed.password().is_some();
    if host_ok && !credentials && !written_host.is_empty() && !written_host.starts_with(':') {
        Ok(())
    } else {
        Err(UrlError::NoHost)
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
            assert!(check_http_url(ok).is_ok(), "{ok}");
        }
        assert_eq!(check_http_url("https://example.com/h").is_ok(), TLS);
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
            let error = check_http_url(bad).expect_err(bad);
            let text = crate::messages::config::bad_url_field("webhook", error);
            assert!(text.contains("'webhook'"), "{bad}");
        }
    }

    #[test]
    fn each_refusal_has_its_kind() {
        assert_eq!(check_http_url("ftp://x"), Err(UrlError::NotHttp));
        assert_eq!(check_http_url("nomina.lan"), Err(UrlError::NotHttp));
        assert_eq!(check_http_url("http://u:p@h/"), Err(UrlError::NoHost));
        assert_eq!(check_http_url("http://a b"), Err(UrlError::NoHost));
        let https = check_http_url("https://example.com/h");
        assert_eq!(https, if TLS { Ok(()) } else { Err(UrlError::NoTls) });
        assert_eq!(check_http_url("http://10.0.0.5:8080/hook"), Ok(()));
    }
}
