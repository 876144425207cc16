//! The JSON HTTP API (see the README and api.md): routing, panic safety and
//! request logging. Handlers live in the submodules.

mod attendance;
pub mod auth;
pub mod body;
mod devices;
pub mod front;
mod info;
pub mod messages;
pub mod query;
pub mod response;
mod terminal;
mod users;

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
    /// API key and what it protects.
    pub security: auth::Security,
}

impl App {
    /// A server state over `registry` with default settings.
    pub fn new(registry: Arc<Registry>) -> App {
        App {
            registry,
            started: Instant::now(),
            lock_timeout: Duration::from_secs(30),
            security: auth::Security::default(),
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

    /// Runs `work` on `device` under its lock (see `ops::run`) and answers
    /// `ok(value)`, or the failure's JSON error.
    pub fn operate<T>(
        &self,
        device: &Device,
        mode: crate::ops::Mode,
        what: &str,
        work: impl FnOnce(&mut crate::zk::Session) -> Result<T, OpError>,
        ok: impl FnOnce(T) -> Response,
    ) -> Response {
        match crate::ops::run(device, self.app.lock_timeout, mode, what, work) {
            Ok(value) => ok(value),
            Err(e) => self.device_failure(device, &e),
        }
    }

    /// The response for a failed device operation: 503 when busy, 500 for
    /// a terminal failure, the rejection's own status otherwise.
    pub fn device_failure(&self, device: &Device, err: &OpError) -> Response {
        let message = messages::device_error(device, err);
        match err {
            OpError::Busy => self
                .error(503, &message)
                .with_additional_header("Retry-After", "5"),
            OpError::Zk(_) => self.error(500, &message),
            OpError::Rejected(status, _) => self.error(*status, &message),
        }
    }
}

/// Handles one request: routes it, turns a panic into a JSON 500, logs it.
pub fn handle(app: &App, req: &Request) -> Response {
    if req.header(front::PEER_HEADER) == Some(front::PROBE) {
        return Response::empty_204();
    }
    let started = Instant::now();
    let pretty = !matches!(
        req.get_param("pretty").as_deref(),
        Some("0" | "false" | "no")
    );
    let ctx = Ctx { app, req, pretty };
    let mut label = String::from("unmatched");
    let resp = match catch_unwind(AssertUnwindSafe(|| route(&ctx, &mut label))) {
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
    crate::metrics::global().request(&label, resp.status_code);
    let mut peer = req
        .header(front::PEER_HEADER)
        .map(str::to_string)
        .unwrap_or_else(|| req.remote_addr().to_string());
    // Behind nginx the peer is the proxy; show who it forwarded for.
    if let Some(forwarded) = req.header("X-Forwarded-For") {
        peer = format!("{} (via {peer})", forwarded.trim());
    }
    log::info!(
        "{} {} {} -> {} in {:?}",
        peer,
        req.method(),
        req.raw_url(),
        resp.status_code,
        started.elapsed()
    );
    resp
}

/// A handler bound to its path parameters.
type Handler<'a> = Box<dyn FnOnce() -> Response + 'a>;

/// The route pattern of a path, for metrics: `/devices/{id}/users/{user_id}`.
fn pattern(segments: &[&str]) -> String {
    let mut out = String::new();
    for (i, seg) in segments.iter().enumerate() {
        out.push('/');
        out.push_str(match (segments[0], i) {
            ("devices", 1) => "{id}",
            ("devices", 3) => "{user_id}",
            _ => seg,
        });
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Routes the request; `label` receives the matched route pattern.
fn route(ctx: &Ctx, label: &mut String) -> Response {
    let path = ctx.req.url();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = match ctx.req.method() {
        "HEAD" => "GET",
        m => m,
    };
    let Some(handler) = resolve(ctx, &segments, method) else {
        return ctx.error(404, &messages::route_not_found(ctx.req.method(), &path));
    };
    *label = pattern(&segments);
    let Some(handler) = handler else {
        return ctx.error(405, messages::METHOD_NOT_ALLOWED);
    };
    let open = matches!(segments.as_slice(), ["health"]);
    if !open {
        if let Err(refused) = auth::check(ctx, method != "GET") {
            return refused;
        }
    }
    handler()
}

/// `None`: no such path; `Some(None)`: the path exists but not with this method.
fn resolve<'a>(ctx: &'a Ctx, segments: &'a [&'a str], method: &str) -> Option<Option<Handler<'a>>> {
    let h = |f: Handler<'a>| Some(Some(f));
    let wrong = Some(None);
    match (segments, method) {
        ([], "GET") => h(Box::new(|| info::root(ctx))),
        (["health"], "GET") => h(Box::new(|| info::health(ctx))),
        (["metrics"], "GET") => h(Box::new(|| info::metrics(ctx))),
        (["devices"], "GET") => h(Box::new(|| info::list_devices(ctx))),
        (["devices"], "POST") => h(Box::new(|| devices::create(ctx))),
        (["devices", id], "GET") => h(Box::new(move || devices::show(ctx, id))),
        (["devices", id], "PUT") => h(Box::new(move || devices::update(ctx, id))),
        (["devices", id], "DELETE") => h(Box::new(move || devices::delete(ctx, id))),
        (["devices", id, "ping"], "GET") => h(Box::new(move || devices::ping(ctx, id))),
        (["devices", id, "attendance"], "GET") => {
            h(Box::new(move || attendance::device_attendance(ctx, id)))
        }
        (["devices", id, "info"], "GET") => h(Box::new(move || terminal::info(ctx, id))),
        (["devices", id, "time"], "GET") => h(Box::new(move || terminal::time(ctx, id))),
        (["devices", id, "sync-time"], "POST") => h(Box::new(move || terminal::sync_time(ctx, id))),
        (["devices", id, "users"], "GET") => h(Box::new(move || users::list(ctx, id))),
        (["devices", id, "users"], "POST") => h(Box::new(move || users::create(ctx, id))),
        (["devices", id, "users", user], "PUT") => {
            h(Box::new(move || users::update(ctx, id, user)))
        }
        (["devices", id, "users", user], "DELETE") => {
            h(Box::new(move || users::delete(ctx, id, user)))
        }
        (["devices", id, "users", user, "enroll-finger"], "POST") => {
            h(Box::new(move || users::enroll(ctx, id, user)))
        }
        (["devices", id, "users", user, "fingers"], "GET") => {
            h(Box::new(move || users::fingers(ctx, id, user)))
        }
        (["attendance", "all"], "GET") => h(Box::new(|| attendance::all_attendance(ctx))),
        (
            [] | ["health"] | ["metrics"] | ["devices"] | ["devices", _] | ["attendance", "all"],
            _,
        ) => wrong,
        (["devices", _, "ping" | "attendance" | "info" | "time" | "sync-time" | "users"], _) => {
            wrong
        }
        (
            ["devices", _, "users", _] | ["devices", _, "users", _, "enroll-finger" | "fingers"],
            _,
        ) => wrong,
        _ => None,
    }
}
