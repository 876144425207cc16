//! The office panel (`GET /panel`): one HTML page, its stylesheet and its
//! script, embedded in the binary, served with a Content-Security-Policy
//! that allows only this server. They hold no data, so they need no key.

use super::response::{Body, Response};
use super::{Answer, Ctx};

const INDEX: &str = include_str!("panel/index.html");
const CSS: &str = include_str!("panel/app.css");
const JS: &str = include_str!("panel/app.js");
const ICON: &str = include_str!("panel/icon.svg");

/// Only this origin: scripts, styles, fetches and event streams.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(content_type: &str, text: &str) -> Answer {
    Ok(
        Response::new(200, content_type, Body::Bytes(text.as_bytes().to_vec()))
            .with_header("Content-Security-Policy", CSP)
            .with_header("X-Content-Type-Options", "nosniff")
            .with_header("Referrer-Policy", "no-referrer")
            .with_header("Cache-Control", "no-cache"),
    )
}

/// `GET /panel`.
pub fn page(_ctx: &Ctx) -> Answer {
    asset("text/html; charset=utf-8", INDEX)
}

/// `GET /panel/app.css`.
pub fn stylesheet(_ctx: &Ctx) -> Answer {
    asset("text/css; charset=utf-8", CSS)
}

/// `GET /panel/app.js`.
pub fn script(_ctx: &Ctx) -> Answer {
    asset("text/javascript; charset=utf-8", JS)
}

/// `GET /panel/icon.svg` (and `/favicon.ico`, which browsers ask for).
pub fn icon(_ctx: &Ctx) -> Answer {
    asset("image/svg+xml", ICON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_is_small_and_self_contained() {
        let total = INDEX.len() + CSS.len() + JS.len() + ICON.len();
        assert!(total < 100 * 1024, "{total} bytes");
        for text in [INDEX, CSS, JS] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "nothing from other hosts"
            );
        }
        assert!(
            !JS.contains("innerHTML") && !JS.contains("insertAdjacentHTML"),
            "text, never HTML"
        );
        assert!(
            !INDEX.contains("<script>") && !INDEX.contains("style="),
            "no inline code for the CSP"
        );
    }
}
