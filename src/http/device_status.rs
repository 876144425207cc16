//! `GET /devices/{id}/status`: a light look at a terminal for dashboards —
//! connect, counters and clock, never disabling it. A terminal busy with
//! another operation is not waited for: the last result is answered (marked
//! `"cached": true`) when there is one. A push terminal's status comes
//! from its last contact and the journal (no terminal I/O).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::{Answer, Ctx};
use crate::messages;
use crate::ops::{OpError, ZkTime};
use crate::registry::Device;

/// How long a status waits for a busy terminal.
const BUSY_WAIT: Duration = Duration::from_millis(1500);

/// The last status of each terminal (for busy terminals).
#[derive(Default)]
pub struct StatusCache {
    last: Mutex<HashMap<String, (Instant, Value)>>,
}

/// `GET /devices/{id}/status`.
pub fn status(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    if device.config.is_push() {
        return push_status(ctx, &device);
    }
    let result = ctx.app.terminals.glance(&device, BUSY_WAIT);
    let server = crate::time::now();
    let cache = &ctx.app.status_cache;
    let mut data = json!({"id": device.id, "name": device.config.name, "ip": device.config.ip});
    match result {
        Ok((sizes, time)) => {
            let offset = offset_seconds(&time, &server);
            data["online"] = json!(true);
            data["records"] = json!(sizes.records);
            data["records_capacity"] = json!(sizes.records_cap);
            data["users"] = json!(sizes.users);
            data["users_capacity"] = json!(sizes.users_cap);
            data["device_time"] = json!(time.to_string());
            data["clock_offset_s"] = json!(offset);
        }
        Err(OpError::Busy) => {
            if let Some((at, mut cached)) = cache.last.lock().get(id).cloned() {
                cached["cached"] = json!(true);
                cached["age_s"] = json!(at.elapsed().as_secs());
                add_database(ctx, id, &mut cached);
                return Ok(ctx.json(200, &json!({"success": true, "data": cached})));
            }
            data["online"] = json!(true);
            data["busy"] = json!(true);
            data["error"] = json!(messages::device_error(&device, &OpError::Busy));
        }
        Err(e) => {
            data["online"] = json!(false);
            data["error"] = json!(messages::device_error(&device, &e));
        }
    }
    data["server_time"] = json!(crate::time::format(&server));
    data["timezone"] = json!(timezone_of(&device.config));
    data["last_punch"] = ctx
        .app
        .live
        .device(id)
        .feed
        .last()
        .map_or(Value::Null, |a| {
            let names = crate::services::people::names_for_punches(ctx.app.journal.as_deref());
            crate::punch::Punch::of(&a, &device.id, &device.config.name)
                .named(names.as_ref())
                .to_value()
        });
    data["cached"] = json!(false);
    if data.get("busy").is_none() {
        cache
            .last
            .lock()
            .insert(id.to_string(), (Instant::now(), data.clone()));
    }
    add_database(ctx, id, &mut data);
    Ok(ctx.json(200, &json!({"success": true, "data": data})))
}

/// `GET /devices/{id}/status` of a push device: from its last contact.
fn push_status(ctx: &Ctx, device: &Device) -> Answer {
    let mut data = super::push::contact_json(ctx, device);
    data["server_time"] = json!(crate::time::now_text());
    data["timezone"] = json!(timezone_of(&device.config));
    data["last_punch"] = Value::Null;
    if let Some(journal) = &ctx.app.journal {
        if let Ok(n) = journal.count_punches(&device.id) {
            data["journal_punches"] = json!(n);
        }
        data["last_punch"] = last_punch(journal, device);
    }
    data["cached"] = json!(false);
    add_database(ctx, &device.id, &mut data);
    Ok(ctx.json(200, &json!({"success": true, "data": data})))
}

/// The newest punch (by its time) of `device` in the journal, as in
/// attendance data; `null` when it has none.
fn last_punch(journal: &crate::journal::Journal, device: &Device) -> Value {
    let newest = crate::journal::PunchFilter {
        limit: Some(1),
        ..Default::default()
    };
    match journal.query_punches(&device.id, &newest) {
        Ok(page) => page.punches.first().map_or(Value::Null, |p| {
            let record = crate::punch::attendance_of(p);
            let names = crate::services::people::names_for_punches(Some(journal));
            crate::punch::Punch::of(&record, &device.id, &device.config.name)
                .named(names.as_ref())
                .to_value()
        }),
        Err(e) => {
            log::warn!("device {}: could not read its last punch: {e}", device.id);
            Value::Null
        }
    }
}

/// Adds where PostgreSQL delivery stands for terminal `id` (with
/// `--postgres`); the connection (role, host, port, database) only for a
/// request that presents the API key.
pub fn add_database(ctx: &Ctx, id: &str, data: &mut Value) {
    if let Some(status) = ctx
        .app
        .database_status_of(id, super::auth::presents_key(ctx))
    {
        data["postgres"] = status;
    }
}

/// The UTC offset of a terminal's wall clock (`-04:00`): its `timezone`,
/// else the server's (a pull terminal keeps the server's time). Clients
/// order punches of terminals in different zones by the instant with it.
pub fn timezone_of(config: &crate::registry::DeviceConfig) -> String {
    let minutes = config
        .timezone
        .as_deref()
        .and_then(crate::registry::parse_utc_offset)
        .unwrap_or_else(crate::time::server_offset_minutes);
    crate::time::offset_text(minutes)
}

/// The terminal clock minus the server's, in seconds (an impossible
/// terminal date gives 0).
fn offset_seconds(device: &ZkTime, server: &chrono::NaiveDateTime) -> i64 {
    device.to_naive().map_or(0, |d| (d - *server).num_seconds())
}
