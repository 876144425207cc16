//! `POST /people/import` for a push terminal (API Part 7): marks it
//! imported and queues the commands that make it upload its users and
//! templates; answers 202 (they join the staff list as they arrive).

use serde_json::{json, Value};

use super::{body, commands, Answer, Ctx};
use crate::messages::people_push as msg;
use crate::push::people::{self, PushProfile};
use crate::time::{now, WallTime};

/// `POST /people/import {"device_id"}`: a push terminal's import.
pub fn import(ctx: &Ctx) -> Answer {
    let body = body::json_object(ctx, true)?;
    let Some(id) = body.get("device_id").and_then(Value::as_str) else {
        return Err(ctx.error(400, msg::IMPORT_DEVICE_REQUIRED));
    };
    let device = ctx.device(id)?;
    let Some(journal) = commands::push_queue(ctx, &device)? else {
        return Err(ctx.error(501, &msg::import_pull_unavailable(&device.id)));
    };
    let contact = ctx.app.push.as_ref().and_then(|r| r.contact_of(&device));
    let profile = PushProfile::of(contact.as_ref());
    let queued = people::import(journal, &device, &profile, WallTime::new(now()))
        .map_err(|e| commands::journal_failure(ctx, &device, &e))?;
    Ok(ctx.json(
        202,
        &json!({"success": true, "message": msg::import_queued(&device.id, queued),
            "data": {"device_id": device.id, "commands": queued}}),
    ))
}
