//! `POST /people/import {"device_id"}` (API Part 7): a push terminal is
//! marked imported and asked by commands to upload its users and
//! templates (202: they join the staff list as they arrive); a pull
//! terminal is read at once (`services::people_import`, 200).

use serde_json::{json, Map, Value};

use super::{commands, Answer, Ctx};
use crate::messages::people_push as msg;
use crate::push::people::{self, PushProfile};
use crate::registry::Device;
use crate::services::people_import::{self, ImportError, Imported};
use crate::time::{now, WallTime};

/// `POST /people/import {"device_id"}` (the body already read by the
/// staff list's import route): a push terminal's import by commands, a
/// pull terminal's read at once.
pub fn import(ctx: &Ctx, body: &Map<String, Value>) -> Answer {
    let Some(id) = body.get("device_id").and_then(Value::as_str) else {
        return Err(ctx.error(400, msg::IMPORT_DEVICE_REQUIRED));
    };
    let device = ctx.device(id)?;
    let Some(journal) = commands::push_queue(ctx, &device)? else {
        return import_pull(ctx, &device);
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

/// A pull terminal's import: read now, joined in one transaction.
fn import_pull(ctx: &Ctx, device: &Device) -> Answer {
    let journal = commands::journal_of(ctx, device)?;
    let done =
        people_import::from_device(journal, &ctx.app.terminals, device).map_err(|e| match e {
            ImportError::Terminal(op) => ctx.device_failure(device, &op),
            ImportError::Journal(j) => commands::journal_failure(ctx, device, &j),
        })?;
    let Imported::Pull {
        people,
        templates,
        users_read,
        templates_read,
    } = done
    else {
        return Err(ctx.error(500, &msg::import_pull_unavailable(&device.id)));
    };
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": msg::import_done(&device.id, people, templates),
            "data": {"device_id": device.id, "people": people, "templates": templates,
                "users_read": users_read, "templates_read": templates_read}}),
    ))
}
