//! The device registry endpoints: list, create, read, update, delete, ping.

use serde_json::{json, Value};

use super::body;
use super::{Answer, Ctx, Response};
use crate::fields::Fields;
use crate::messages;
use crate::registry::{Device, DeviceConfig, WriteError};
use crate::services::Touched;

/// `id` as the original server normalised it: trimmed, lower-cased, spaces
/// to `_`; then it must match `[a-z0-9_-]{1,64}` (the rule lives in the
/// registry, which also applies it to the devices file).
pub fn normalize_id(raw: &str) -> Result<String, String> {
    crate::registry::normalize_id(raw).map_err(|e| messages::registry::invalid_id(&e))
}

/// A device as the API shows it: no comm key, `password_set` instead; no
/// push key, `push_key_set` instead; a push terminal's serial only to a
/// request that presented the API key.
pub fn public_json(ctx: &Ctx, device: &Device) -> Value {
    let mut obj = device.config.to_json();
    obj.shift_remove("password");
    obj.insert(
        "password_set".into(),
        Value::Bool(device.config.password != 0),
    );
    if obj.shift_remove("push_key").is_some() {
        obj.insert("push_key_set".into(), Value::Bool(true));
    }
    if !super::auth::presents_key(ctx) {
        obj.shift_remove("sn");
    }
    if !obj.contains_key("area") {
        obj.insert("area".into(), Value::String(device.config.area.clone()));
    }
    obj.insert("id".into(), Value::String(device.id.clone()));
    Value::Object(obj)
}

fn write_failure(ctx: &Ctx, err: WriteError) -> Response {
    match err {
        WriteError::Exists(id) => ctx.error(409, &messages::device_exists(&id)),
        WriteError::NotFound(id) => ctx.error(404, &messages::device_not_found(&id)),
        WriteError::Invalid(e) => ctx.error(400, &messages::registry::setting(&e)),
        WriteError::NotLoadable { path, error } => {
            ctx.error(400, &messages::registry::not_loadable(&path, &error))
        }
        WriteError::Io { path, error } => ctx.error(
            500,
            &messages::devices_file_not_saved(&format!(
                "{}: {}",
                path.display(),
                crate::registry::io_error_es(error.get())
            )),
        ),
        WriteError::SerialTaken { sn, holder } => {
            ctx.error(409, &messages::serial_taken(&sn, &holder))
        }
    }
}

/// `POST /devices`.
pub fn create(ctx: &Ctx) -> Answer {
    let body = body::json_object(ctx, true)?;
    let f = Fields(&body);
    // A push terminal is found by its serial number, not an address.
    let push = matches!(f.text("mode", false), Ok(Some(m)) if m == "push");
    let required: &[&str] = if push {
        &["id", "name", "sn"]
    } else {
        &["id", "name", "ip"]
    };
    let missing = required.iter().any(|k| match f.text(k, true) {
        Ok(Some(v)) => v.is_empty(),
        Ok(None) => true,
        Err(_) => false, // present but of the wrong type: named below
    });
    if missing {
        return Err(ctx.error(
            400,
            if push {
                messages::PUSH_DEVICE_FIELDS_REQUIRED
            } else {
                messages::DEVICE_FIELDS_REQUIRED
            },
        ));
    }
    let raw_id = f
        .text("id", true)
        .map_err(|e| ctx.error(400, &e.to_string()))?;
    let id = normalize_id(&raw_id.unwrap_or_default()).map_err(|msg| ctx.error(400, &msg))?;
    let mut cfg = DeviceConfig::new(&id);
    cfg.created_at = Some(crate::time::now_text());
    cfg.apply_settings(&body)
        .map_err(|e| ctx.error(400, &messages::registry::setting(&e)))?;
    let device = ctx
        .app
        .register_device(&id, cfg)
        .map_err(|e| write_failure(ctx, e))?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": messages::device_registered(&id), "data": public_json(ctx, &device)}),
    ))
}

/// `GET /devices/{id}`.
pub fn show(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "data": public_json(ctx, &device)}),
    ))
}

/// `PUT /devices/{id}`.
pub fn update(ctx: &Ctx, id: &str) -> Answer {
    ctx.device(id)?;
    let body = body::json_object(ctx, true)?;
    let touched = Touched {
        allow_from: body.contains_key("allow_from"),
        sn: body.contains_key("sn"),
    };
    let edit = |current: &DeviceConfig| {
        let mut cfg = current.clone();
        cfg.apply_settings(&body)?;
        cfg.updated_at = Some(crate::time::now_text());
        Ok(cfg)
    };
    let device = ctx
        .app
        .update_device(id, edit, touched)
        .map_err(|e| write_failure(ctx, e))?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": messages::device_updated(id), "data": public_json(ctx, &device)}),
    ))
}

/// `DELETE /devices/{id}`.
pub fn delete(ctx: &Ctx, id: &str) -> Answer {
    match ctx.app.delete_device(id) {
        Err(WriteError::NotFound(_)) => Err(ctx
            .device(id)
            .err()
            .unwrap_or_else(|| ctx.error(404, &messages::device_not_found(id)))),
        Err(e) => Err(write_failure(ctx, e)),
        Ok(()) => Ok(ctx.json(
            200,
            &json!({"success": true, "message": messages::device_deleted(id)}),
        )),
    }
}

/// `GET /devices/{id}/ping`: connect and read the clock; no lock, no disable.
pub fn ping(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    if device.config.is_push() {
        return super::push::ping(ctx, &device);
    }
    let watched = ctx.app.live.device(id).watching();
    let time = ctx.app.terminals.ping(&device, watched);
    match time {
        Ok(t) => Ok(ctx.json(
            200,
            &json!({"success": true, "message": messages::ping_ok(id),
                    "device_time": t.to_string(), "ip": device.config.ip}),
        )),
        Err(e) => {
            log::warn!("ping {id} ({}): {e}", device.config.address());
            let msg = messages::device_error(&device, &e);
            Err(super::response::error(
                503,
                &msg,
                vec![("ip", json!(device.config.ip))],
                ctx.pretty,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalised_then_validated() {
        assert_eq!(
            normalize_id("  Entrada Principal ").unwrap(),
            "entrada_principal"
        );
        assert_eq!(normalize_id("bodega-2").unwrap(), "bodega-2");
        for bad in ["", "   ", "ñandú", "a/b", "x.y", &"a".repeat(65)] {
            assert!(normalize_id(bad).unwrap_err().contains("'id'"), "{bad}");
        }
    }
}
