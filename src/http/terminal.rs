//! Terminal data endpoints: identity and counters, clock, clock sync (a
//! queued `CHECK` on a push terminal), restart (a queued `REBOOT`).

use serde_json::json;

use super::{body, commands};
use super::{Answer, Ctx};
use crate::fields::Fields;
use crate::messages::PushLimit;
use crate::ops::parse_timestamp;

/// `GET /devices/{id}/info` (lock, disable).
pub fn info(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    commands::refuse_push(ctx, &device, PushLimit::Info)?;
    let found = ctx
        .app
        .terminals
        .identity(&device)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    let (sizes, time) = (&found.sizes, &found.time);
    let data = json!({
        "id": device.id,
        "name": device.config.name,
        "ip": device.config.ip,
        "serialnumber": found.serial,
        "device_name": found.name,
        "platform": found.platform,
        "firmware_version": found.firmware,
        "users_count": sizes.users,
        "device_time": time.to_string(),
        "records_count": sizes.records,
        "records_capacity": sizes.records_cap,
        "users_capacity": sizes.users_cap,
        "fingers_count": sizes.fingers,
    });
    Ok(ctx.json(200, &json!({"success": true, "data": data})))
}

/// `GET /devices/{id}/time` (lock).
pub fn time(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    commands::refuse_push(ctx, &device, PushLimit::Time)?;
    let t = ctx
        .app
        .terminals
        .clock(&device)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "device_id": id, "device_time": t.to_string()}),
    ))
}

/// `POST /devices/{id}/sync-time` (lock): the server's local time, or the
/// body's `{"timestamp": "YYYY-MM-DD HH:MM:SS"}`. A push terminal gets a
/// queued `CHECK` (it sets its clock from the server's answer).
pub fn sync_time(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    let queue = commands::push_queue(ctx, &device)?;
    let body = body::json_object(ctx, false)?;
    let wanted = match Fields(&body)
        .text("timestamp", false)
        .map_err(|msg| ctx.error(400, &msg.to_string()))?
    {
        None => None,
        Some(t) => Some(
            parse_timestamp(&t)
                .filter(|t| (2000..=2099).contains(&t.year) && t.is_valid())
                .ok_or_else(|| ctx.error(400, &crate::messages::bad_sync_timestamp(&t)))?,
        ),
    };
    if let Some(journal) = queue {
        if wanted.is_some() {
            commands::refuse_push(ctx, &device, PushLimit::Timestamp)?;
        }
        return commands::enqueue(
            ctx,
            &device,
            journal,
            &crate::push::commands::sync_time_command(),
        );
    }
    let t = ctx
        .app
        .terminals
        .set_clock(&device, wanted)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": crate::messages::time_synced(id), "device_time": t.to_string()}),
    ))
}

/// `POST /devices/{id}/reboot` (lock): CMD_RESTART to a pull terminal,
/// which drops its connections and answers again a few seconds later; a
/// push terminal gets a queued `REBOOT` (202).
pub fn reboot(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    if let Some(journal) = commands::push_queue(ctx, &device)? {
        return commands::enqueue(
            ctx,
            &device,
            journal,
            &crate::push::commands::reboot_command(),
        );
    }
    ctx.app
        .terminals
        .restart(&device)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    log::info!("device {}: restart sent", device.id);
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": crate::messages::rebooting(id)}),
    ))
}
