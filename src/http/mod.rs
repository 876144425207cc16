//! The JSON HTTP API (see the README and api.md): routing, panic safety and
//! request logging. Handlers live in the submodules.

mod attendance;
mod info;
pub mod messages;
pub mod query;
pub mod response;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rouille::{Request, Response};
use serde_json::{json, Value};

use crate::ops::OpError;
use crate::registry::{Device, Registry};

/// Shared state of the HTTP server.
pub struct App {
    /// The configured terminals.
    pub registry: Arc<Registry>,
    /// When the server started (for `/health`).
    pub started: Instant,
    /// How long a request waits for a busy device before answering 503.
    pub lock_timeout: Duration,
}

impl App {
    /// A server state over `registry` with default settings.
    pub fn new(registry: Arc<Registry>) -> App {
        App {
            registry,
            started: Instant::now(),
            lock_timeout: Duration::from_secs(30),
        }
    }
}

/// Per-request context passed to handlers.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub req: &'a Request,
    /// Pretty-print JSON (default; `?pretty=0` turns it off).
    pub pretty: bool,
}

impl Ctx<'_> {
    /// A JSON error response.
    pub fn error(&self, status: u16, message: &str) -> Response {
        response::error(status, message, Vec::new(), self.pretty)
    }

    /// A JSON response.
    pub fn json(&self, status: u16, value: &Value) -> Response {
        response::json(status, value, self.pretty)
    }

    /// The registered device `id`, or the 404 response listing the ids.
    pub fn device(&self, id: &str) -> Result<Arc<Device>, Response> {
        self.app.registry.get(id).ok_or_else(|| {
            response::error(
                404,
                &messages::device_not_found(id),
                vec![("disponibles", json!(self.app.registry.ids()))],
                self.pretty,
            )
        })
    }

    /// The response for a failed device operation: 503 when busy, else 500.
    pub fn device_failure(&self, device: &Device, err: &OpError) -> Response {
        let message = messages::device_error(device, err);
        match err {
            OpError::Busy => self
                .error(503, &message)
                .with_additional_header("Retry-After", "5"),
            OpError::Zk(_) => self.error(500, &message),
        }
    }
}

/// Handles one request: routes it, turns a panic into a JSON 500, logs it.
pub fn handle(app: &App, req: &Request) -> Response {
    let started = Instant::now();
    let pretty = !matches!(
        req.get_param("pretty").as_deref(),
        Some("0" | "false" | "no")
    );
    let ctx = Ctx { app, req, pretty };
    let resp = match catch_unwind(AssertUnwindSafe(|| route(&ctx))) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error!(
                "handler panic on {} {}: {what}",
                req.method(),
                req.raw_url()
            );
            ctx.error(500, messages::INTERNAL_ERROR)
        }
    };
    log::info!(
        "{} {} {} -> {} in {:?}",
        req.remote_addr(),
        req.method(),
        req.raw_url(),
        resp.status_code,
        started.elapsed()
    );
    resp
}

fn route(ctx: &Ctx) -> Response {
    let path = ctx.req.url();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = ctx.req.method();
    let get = method == "GET" || method == "HEAD";
    match segments.as_slice() {
        [] if get => info::root(ctx),
        ["health"] if get => info::health(ctx),
        ["devices"] if get => info::list_devices(ctx),
        ["devices", id, "attendance"] if get => attendance::device_attendance(ctx, id),
        ["attendance", "all"] if get => attendance::all_attendance(ctx),
        [] | ["health"] | ["devices"] | ["devices", _, "attendance"] | ["attendance", "all"] => {
            ctx.error(405, messages::METHOD_NOT_ALLOWED)
        }
        _ => ctx.error(404, &messages::route_not_found(method, &path)),
    }
}
