//! `GET /people/sync` (each terminal's sync state with the staff list)
//! and `POST /people/sync` (`{"device_id"?, "dry_run"?}`: sync now, or
//! answer the plan read fresh from the terminals without changing
//! anything). Pull terminals are synced here; a push terminal shows what
//! it was last given (its commands follow its polls).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{body, Answer, Ctx, Response};
use crate::fields::Fields;
use crate::messages;
use crate::people::engine::PeopleSync;
use crate::people::sync::{report_of, Depth, TerminalReport};
use crate::registry::Device;

/// The sync engine (503 when the server runs without a journal).
fn engine<'a>(ctx: &Ctx<'a>) -> Result<&'a Arc<PeopleSync>, Response> {
    ctx.app
        .people
        .as_ref()
        .ok_or_else(|| ctx.error(503, &messages::people_sync::journal_needed()))
}

/// A journal failure: the detail to the log, a sentence to the client.
fn journal_failure(ctx: &Ctx, e: &crate::journal::JournalError) -> Response {
    log::error!("people sync: journal failed: {e}");
    ctx.error(500, &messages::people_sync::journal_failed())
}

fn answer(ctx: &Ctx, reports: &[TerminalReport]) -> Response {
    let data: Vec<Value> = reports.iter().map(TerminalReport::to_json).collect();
    ctx.json(
        200,
        &json!({"success": true, "total": data.len(), "data": data}),
    )
}

/// `GET /people/sync`.
pub fn states(ctx: &Ctx) -> Answer {
    let engine = engine(ctx)?;
    let reports = engine.reports().map_err(|e| journal_failure(ctx, &e))?;
    Ok(answer(ctx, &reports))
}

/// `POST /people/sync`.
pub fn run(ctx: &Ctx) -> Answer {
    let engine = engine(ctx)?;
    let body = body::json_object(ctx, false)?;
    let f = Fields(&body);
    let device_id = f
        .text("device_id", true)
        .map_err(|e| ctx.error(400, &e.to_string()))?;
    let dry_run = f
        .boolean("dry_run")
        .map_err(|e| ctx.error(400, &e.to_string()))?
        .unwrap_or(false);
    let devices: Vec<Arc<Device>> = match device_id {
        Some(id) => vec![ctx.device(&id)?],
        None => ctx.app.registry.all(),
    };
    let (push, pull): (Vec<_>, Vec<_>) = devices.into_iter().partition(|d| d.config.is_push());
    let mut reports = Vec::new();
    for (device, result) in engine.sync_all(&pull, Depth::Full, dry_run) {
        match result {
            Ok(r) => reports.push(r),
            Err(e) => {
                log::error!("people sync: device {}: journal failed: {e}", device.id);
                return Err(ctx.error(500, &messages::people_sync::journal_failed()));
            }
        }
    }
    for device in &push {
        let r = report_of(engine.journal(), device).map_err(|e| journal_failure(ctx, &e))?;
        reports.push(r);
    }
    Ok(answer(ctx, &reports))
}
