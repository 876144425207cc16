//! The JSON HTTP API (see the README): the route table, panic safety and
//! request logging. Handlers live in the submodules; `conn` serves
//! connections and `head` parses what clients send.

mod attendance;
mod attendance_journal;
pub mod auth;
mod body;
pub mod body_reader;
mod browser;
mod commands;
pub mod conn;
mod demo;
mod device_status;
mod devices;
mod events;
pub mod head;
mod iclock;
mod info;
mod listing;

mod panel;
mod people;
mod people_push;
mod people_sync;
pub mod proxy;
mod push;
pub mod query;
mod reports;
mod request;
pub mod response;
pub mod slots;
mod terminal;
mod users;

use crate::messages;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

pub use request::Request;
pub use response::Response;

use crate::ops::OpError;
use crate::registry::Device;
use crate::services::Services;

/// What a handler answers: `Err` carries an error response, so `?` ends a
/// handler early with it.
pub type Answer = Result<Response, Response>;

/// Shared state of the HTTP server: the running services it calls (it
/// derefs to them: `ctx.app.registry`, `ctx.app.register_device(…)`) and
/// what only the API needs.
pub struct App {
    /// The running services (see [`crate::services`]).
    pub services: Arc<Services>,
    /// When the server started (for `/health`).
    pub started: Instant,
    /// API key and what it protects.
    pub security: auth::Security,
    /// The last status of each terminal.
    pub status_cache: device_status::StatusCache,
    /// Relays forwarded push terminals' requests to their upstream.
    pub forwarder: crate::push::forward::Forwarder,
}

impl App {
    /// The API over running `services`, protected as `security` says.
    pub fn new(services: Arc<Services>, security: auth::Security) -> App {
        App {
            services,
            started: Instant::now(),
            security,
            status_cache: device_status::StatusCache::default(),
            forwarder: crate::push::forward::Forwarder::default(),
        }
    }

    /// Stops the services: ends streams, watchers and deliveries (a
    /// graceful stop calls it before waiting for requests in flight).
    pub fn stop(&self) {
        self.services.stop();
    }
}

impl std::ops::Deref for App {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

/// Per-request context passed to handlers.
pub struct Ctx<'a> {
    /// The server state.
    pub app: &'a App,
    /// The request being answered.
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

    /// The response for a failed device operation: 503 when busy, 500 for
    /// a terminal failure, the rejection kind's status otherwise.
    pub fn device_failure(&self, device: &Device, err: &OpError) -> Response {
        let message = messages::device_error(device, err);
        match err {
            OpError::Busy => self.error(503, &message).with_header("Retry-After", "5"),
            OpError::Zk(_) | OpError::Panicked => self.error(500, &message),
            OpError::Rejected(r) => self.error(messages::rejection_status(r), &message),
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
    let mut label = "unmatched";
    let resp = match catch_unwind(AssertUnwindSafe(|| route(&ctx, &mut label))) {
        Ok(Ok(r) | Err(r)) => r,
        Err(panic) => {
            // Never the whole message: it may quote a header (an API key).
            let what = crate::logging::panic_summary(crate::logging::panic_message(&*panic));
            log::error!(
                "handler panic on {} {}: {what}",
                req.method(),
                req.loggable_url()
            );
            ctx.error(500, messages::INTERNAL_ERROR)
        }
    };
    crate::metrics::global().request(label, resp.status_code);
    let mut peer = req.remote_addr().to_string();
    // Behind nginx the peer is the proxy; show who it forwarded for.
    if let Some(forwarded) = req.header("X-Forwarded-For") {
        peer = format!("{} (via {peer})", forwarded.trim());
    }
    // A push terminal's routine exchange (poll, ping, upload; not the rare
    // handshake) is counted in its summary (`push::receiver::summary`); a
    // line of its own only at debug.
    let handshake = req.method() == "GET" && label.starts_with("/iclock/cdata");
    let level = if label.starts_with("/iclock/") && !handshake && resp.status_code == 200 {
        log::Level::Debug
    } else {
        log::Level::Info
    };
    log::log!(
        level,
        "{} {} {} -> {} in {:?}",
        peer,
        req.method(),
        req.loggable_url(),
        resp.status_code,
        started.elapsed()
    );
    resp
}

/// Handles a request on the `--push-port` listener: `/iclock/*` only,
/// everything else 404.
pub fn handle_push_only(app: &App, req: &Request) -> Response {
    if req.segments().first().map(String::as_str) == Some("iclock") {
        return handle(app, req);
    }
    let ctx = Ctx {
        app,
        req,
        pretty: true,
    };
    log::info!(
        "{} {} {} -> 404 (push port serves /iclock only)",
        req.remote_addr(),
        req.method(),
        req.loggable_url()
    );
    ctx.error(
        404,
        &messages::route_not_found(req.method(), req.raw_path()),
    )
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Root,
    Health,
    Metrics,
    ListDevices,
    CreateDevice,
    ShowDevice,
    UpdateDevice,
    DeleteDevice,
    Ping,
    Attendance,
    AllAttendance,
    Info,
    Time,
    SyncTime,
    Reboot,
    ListUsers,
    CreateUser,
    UpdateUser,
    DeleteUser,
    EnrollFinger,
    Fingers,
    ClearAttendance,
    BackfillAttendance,
    DeviceEvents,
    AllEvents,
    Status,
    Panel,
    PanelCss,
    PanelJs,
    PanelIcon,
    DemoPunch,
    Commands,
    Command,
    IclockHandshake,
    IclockUpload,
    IclockPoll,
    IclockResults,
    IclockPing,
    PushPending,
    RemovePending,
    RefreshUsers,
    ListPeople,
    CreatePerson,
    ExportPeople,
    ImportPeople,
    ShowPerson,
    UpdatePerson,
    DeletePerson,
    PersonTemplates,
    PutTemplate,
    DeleteTemplate,
    ReportDay,
    ReportMonth,
    ReportPresence,
    ListSchedules,
    PutSchedule,
    DeleteSchedule,
    PeopleSyncStates,
    PeopleSyncRun,
}

/// The route table: method, path pattern (`{name}` matches one segment),
/// action. 404s, 405s and their `Allow` header all come from it.
const ROUTES: &[(&str, &str, Action)] = &[
    ("GET", "/", Action::Root),
    ("GET", "/health", Action::Health),
    ("GET", "/metrics", Action::Metrics),
    ("GET", "/devices", Action::ListDevices),
    ("POST", "/devices", Action::CreateDevice),
    ("GET", "/devices/{id}", Action::ShowDevice),
    ("PUT", "/devices/{id}", Action::UpdateDevice),
    ("DELETE", "/devices/{id}", Action::DeleteDevice),
    ("GET", "/devices/{id}/ping", Action::Ping),
    ("GET", "/devices/{id}/attendance", Action::Attendance),
    ("GET", "/devices/{id}/info", Action::Info),
    ("GET", "/devices/{id}/time", Action::Time),
    ("POST", "/devices/{id}/sync-time", Action::SyncTime),
    ("POST", "/devices/{id}/reboot", Action::Reboot),
    ("GET", "/devices/{id}/users", Action::ListUsers),
    ("POST", "/devices/{id}/users", Action::CreateUser),
    ("POST", "/devices/{id}/users/refresh", Action::RefreshUsers),
    ("PUT", "/devices/{id}/users/{user_id}", Action::UpdateUser),
    (
        "DELETE",
        "/devices/{id}/users/{user_id}",
        Action::DeleteUser,
    ),
    (
        "POST",
        "/devices/{id}/users/{user_id}/enroll-finger",
        Action::EnrollFinger,
    ),
    (
        "GET",
        "/devices/{id}/users/{user_id}/fingers",
        Action::Fingers,
    ),
    ("GET", "/attendance/all", Action::AllAttendance),
    (
        "POST",
        "/devices/{id}/attendance/clear",
        Action::ClearAttendance,
    ),
    (
        "POST",
        "/devices/{id}/attendance/backfill",
        Action::BackfillAttendance,
    ),
    ("GET", "/devices/{id}/events", Action::DeviceEvents),
    ("GET", "/devices/{id}/status", Action::Status),
    ("GET", "/panel", Action::Panel),
    ("GET", "/panel/app.css", Action::PanelCss),
    ("GET", "/panel/app.js", Action::PanelJs),
    ("GET", "/panel/icon.svg", Action::PanelIcon),
    ("GET", "/favicon.ico", Action::PanelIcon),
    ("GET", "/events", Action::AllEvents),
    ("POST", "/demo/punch", Action::DemoPunch),
    ("GET", "/devices/{id}/commands", Action::Commands),
    ("GET", "/devices/{id}/commands/{n}", Action::Command),
    ("GET", "/iclock/cdata", Action::IclockHandshake),
    ("POST", "/iclock/cdata", Action::IclockUpload),
    ("GET", "/iclock/getrequest", Action::IclockPoll),
    ("POST", "/iclock/devicecmd", Action::IclockResults),
    ("GET", "/iclock/ping", Action::IclockPing),
    // Older firmware names the same exchanges with `.aspx`.
    ("GET", "/iclock/cdata.aspx", Action::IclockHandshake),
    ("POST", "/iclock/cdata.aspx", Action::IclockUpload),
    ("GET", "/iclock/getrequest.aspx", Action::IclockPoll),
    ("POST", "/iclock/devicecmd.aspx", Action::IclockResults),
    ("GET", "/push/pending", Action::PushPending),
    ("DELETE", "/push/pending/{sn}", Action::RemovePending),
    ("GET", "/people/sync", Action::PeopleSyncStates),
    ("POST", "/people/sync", Action::PeopleSyncRun),
    // The staff list (Part 7). Fixed paths before `/people/{user_id}`:
    // the first route that matches wins.
    ("GET", "/people", Action::ListPeople),
    ("POST", "/people", Action::CreatePerson),
    ("GET", "/people/export", Action::ExportPeople),
    ("POST", "/people/import", Action::ImportPeople),
    ("GET", "/people/{user_id}", Action::ShowPerson),
    ("PUT", "/people/{user_id}", Action::UpdatePerson),
    ("DELETE", "/people/{user_id}", Action::DeletePerson),
    (
        "GET",
        "/people/{user_id}/templates",
        Action::PersonTemplates,
    ),
    (
        "PUT",
        "/people/{user_id}/templates/{kind}/{index}",
        Action::PutTemplate,
    ),
    (
        "DELETE",
        "/people/{user_id}/templates/{kind}/{index}",
        Action::DeleteTemplate,
    ),
    ("GET", "/reports/day", Action::ReportDay),
    ("GET", "/reports/month", Action::ReportMonth),
    ("GET", "/reports/presence", Action::ReportPresence),
    ("GET", "/reports/schedule", Action::ListSchedules),
    ("PUT", "/reports/schedule", Action::PutSchedule),
    ("DELETE", "/reports/schedule", Action::DeleteSchedule),
];

/// The parameters of `path` if it matches `pattern`.
fn match_path<'p>(pattern: &str, path: &[&'p str]) -> Option<Vec<&'p str>> {
    let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (want, got) in parts.iter().zip(path) {
        if want.starts_with('{') {
            params.push(*got);
        } else if want != got {
            return None;
        }
    }
    Some(params)
}

/// Routes the request; `label` receives the matched route pattern.
fn route(ctx: &Ctx, label: &mut &'static str) -> Answer {
    // Split on the raw path, then decoded segment by segment: an encoded
    // `/` (`%2F`) stays inside its segment and cannot change the route.
    let segments: Vec<&str> = ctx.req.segments().iter().map(String::as_str).collect();
    let method = match ctx.req.method() {
        "HEAD" => "GET",
        m => m,
    };
    let matching: Vec<(&'static str, &'static str, Action, Vec<&str>)> = ROUTES
        .iter()
        .filter_map(|&(m, pattern, action)| {
            match_path(pattern, &segments).map(|params| (m, pattern, action, params))
        })
        .collect();
    // A terminal reads plain text only: `/iclock` refusals are text too.
    let iclock_path = segments.first() == Some(&"iclock");
    let Some((_, pattern, _, _)) = matching.first() else {
        if iclock_path {
            return Err(iclock::unknown_path(ctx));
        }
        let path = ctx.req.raw_path();
        return Err(ctx.error(404, &messages::route_not_found(ctx.req.method(), path)));
    };
    *label = pattern;
    let Some((_, _, action, params)) = matching.iter().find(|r| r.0 == method) else {
        let mut allowed: Vec<&str> = matching.iter().map(|r| r.0).collect();
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        let refusal = if iclock_path {
            iclock::text(405, "ERROR: method not allowed")
        } else {
            ctx.error(405, messages::METHOD_NOT_ALLOWED)
        };
        return Err(refusal.with_header("Allow", &allowed.join(", ")));
    };
    let writes = method != "GET";
    // Push terminals are no browsers (and name this server as configured
    // on them); health checks show nothing a foreign page could use.
    if !is_iclock(*action) && *action != Action::Health {
        browser::check_host(ctx)?;
        if writes {
            browser::check_origin(ctx)?;
        }
    }
    // Health checks and the panel's files (no data in them) need no key.
    // Push terminals cannot send a key: `/iclock` is always open.
    let open = matches!(
        action,
        Action::Health | Action::Panel | Action::PanelCss | Action::PanelJs | Action::PanelIcon
    ) || is_iclock(*action);
    if !open {
        auth::check(ctx, writes)?;
        if writes {
            browser::check_content_type(ctx)?;
        }
    }
    dispatch(ctx, *action, params)
}

/// Runs the handler of `action` with the path parameters.
fn dispatch(ctx: &Ctx, action: Action, params: &[&str]) -> Answer {
    let id = params.first().copied().unwrap_or_default();
    let user = params.get(1).copied().unwrap_or_default();
    match action {
        Action::Root => info::root(ctx),
        Action::Health => info::health(ctx),
        Action::Metrics => info::metrics(ctx),
        Action::ListDevices => info::list_devices(ctx),
        Action::CreateDevice => devices::create(ctx),
        Action::ShowDevice => devices::show(ctx, id),
        Action::UpdateDevice => devices::update(ctx, id),
        Action::DeleteDevice => devices::delete(ctx, id),
        Action::Ping => devices::ping(ctx, id),
        Action::Attendance => attendance::device_attendance(ctx, id),
        Action::AllAttendance => attendance::all_attendance(ctx),
        Action::Info => terminal::info(ctx, id),
        Action::Time => terminal::time(ctx, id),
        Action::SyncTime => terminal::sync_time(ctx, id),
        Action::Reboot => terminal::reboot(ctx, id),
        Action::ListUsers => users::list(ctx, id),
        Action::CreateUser => users::create(ctx, id),
        Action::UpdateUser => users::update(ctx, id, user),
        Action::DeleteUser => users::delete(ctx, id, user),
        Action::EnrollFinger => users::enroll(ctx, id, user),
        Action::Fingers => users::fingers(ctx, id, user),
        Action::ClearAttendance => attendance::clear(ctx, id),
        Action::BackfillAttendance => attendance_journal::backfill(ctx, id),
        Action::DeviceEvents => events::device_events(ctx, id),
        Action::AllEvents => events::all_events(ctx),
        Action::Status => device_status::status(ctx, id),
        Action::Panel => panel::page(ctx),
        Action::PanelCss => panel::stylesheet(ctx),
        Action::PanelJs => panel::script(ctx),
        Action::PanelIcon => panel::icon(ctx),
        Action::DemoPunch => demo::punch(ctx),
        Action::Commands => commands::list(ctx, id),
        Action::Command => commands::show(ctx, id, user),
        Action::IclockHandshake => iclock::cdata_get(ctx),
        Action::IclockUpload => iclock::cdata_post(ctx),
        Action::IclockPoll => iclock::getrequest(ctx),
        Action::IclockResults => iclock::devicecmd(ctx),
        Action::IclockPing => iclock::ping(ctx),
        Action::PushPending => push::pending(ctx),
        Action::RemovePending => push::remove_pending(ctx, id),
        Action::RefreshUsers => commands::refresh_users(ctx, id),
        Action::PeopleSyncStates => people_sync::states(ctx),
        Action::PeopleSyncRun => people_sync::run(ctx),
        Action::ReportDay => reports::day(ctx),
        Action::ReportMonth => reports::month(ctx),
        Action::ReportPresence => reports::presence(ctx),
        Action::ListSchedules => reports::list_schedules(ctx),
        Action::PutSchedule => reports::put_schedule(ctx),
        Action::DeleteSchedule => reports::delete_schedule(ctx),
        Action::ListPeople
        | Action::CreatePerson
        | Action::ExportPeople
        | Action::ImportPeople
        | Action::ShowPerson
        | Action::UpdatePerson
        | Action::DeletePerson
        | Action::PersonTemplates
        | Action::PutTemplate
        | Action::DeleteTemplate => people_route(ctx, action, params),
    }
}

/// Runs a staff list route (`/people…`; the first parameter is the PIN).
fn people_route(ctx: &Ctx, action: Action, params: &[&str]) -> Answer {
    let user = params.first().copied().unwrap_or_default();
    let kind = params.get(1).copied().unwrap_or_default();
    let index = params.get(2).copied().unwrap_or_default();
    match action {
        Action::ListPeople => people::list(ctx),
        Action::CreatePerson => people::create(ctx),
        Action::ExportPeople => people::export(ctx),
        Action::ImportPeople => people::import(ctx),
        Action::ShowPerson => people::show(ctx, user),
        Action::UpdatePerson => people::update(ctx, user),
        Action::DeletePerson => people::delete(ctx, user),
        Action::PersonTemplates => people::templates(ctx, user),
        Action::PutTemplate => people::put_template(ctx, user, kind, index),
        Action::DeleteTemplate => people::delete_template(ctx, user, kind, index),
        _ => Err(ctx.error(
            404,
            &messages::route_not_found(ctx.req.method(), ctx.req.raw_path()),
        )),
    }
}

/// The push terminals' routes (`/iclock/*`).
fn is_iclock(action: Action) -> bool {
    matches!(
        action,
        Action::IclockHandshake
            | Action::IclockUpload
            | Action::IclockPoll
            | Action::IclockResults
            | Action::IclockPing
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_patterns_match_segments() {
        assert_eq!(match_path("/", &[]), Some(vec![]));
        assert_eq!(
            match_path(
                "/devices/{id}/users/{user_id}",
                &["devices", "a", "users", "7"]
            ),
            Some(vec!["a", "7"])
        );
        assert_eq!(match_path("/devices/{id}", &["devices"]), None);
        assert_eq!(
            match_path("/devices/{id}/ping", &["devices", "a", "pong"]),
            None
        );
    }

    #[test]
    fn every_route_is_reachable_and_unique() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[..i].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} twice"
            );
        }
    }
}
