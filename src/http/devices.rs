//! The device registry endpoints: list, create, read, update, delete, ping.

use rouille::Response;
use serde_json::{json, Map, Value};

use super::body::{self, Fields};
use super::{messages, Ctx};
use crate::ops::{self, OpError};
use crate::registry::{Device, DeviceConfig, WriteError};
use crate::text::Encoding;

/// `id` as the original server normalised it: trimmed, lower-cased, spaces
/// to `_`; then it must match `[a-z0-9_-]{1,64}`.
pub fn normalize_id(raw: &str) -> Result<String, String> {
    let id: String = raw
        .trim()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_");
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(format!(
            "Campo 'id' inválido: '{}'. Use de 1 a 64 caracteres: letras a-z, números, '_' o '-'.",
            raw.trim()
        ))
    }
}

/// An IPv4/IPv6 address or a host name.
fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    // All digits and dots but not a valid IPv4: a typo, not a host name.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return false;
    }
    (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn now() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Applies the editable fields present in `body` to `cfg`.
fn apply_fields(body: &Map<String, Value>, cfg: &mut DeviceConfig) -> Result<(), String> {
    let f = Fields(body);
    if let Some(name) = f.text("name", true)? {
        if name.is_empty() || name.chars().count() > 100 {
            return Err("Campo 'name' inválido: debe tener de 1 a 100 caracteres.".into());
        }
        cfg.name = name;
    }
    if let Some(ip) = f.text("ip", false)? {
        if !valid_host(&ip) {
            return Err(format!(
                "Campo 'ip' inválido: '{ip}' no es una dirección IP ni un nombre de host."
            ));
        }
        cfg.ip = ip;
    }
    if let Some(port) = f.int("port", 1, 65535)? {
        cfg.port = port as u16;
    }
    if let Some(password) = f.int("password", 0, i64::from(u32::MAX))? {
        cfg.password = password as u32;
    }
    if let Some(timeout) = f.number("timeout", 0.1, 300.0)? {
        cfg.timeout = timeout;
    }
    if let Some(udp) = f.boolean("force_udp")? {
        cfg.force_udp = udp;
    }
    if let Some(enc) = f.text("encoding", false)? {
        if Encoding::parse(&enc).is_none() {
            return Err(format!(
                "Campo 'encoding' inválido: '{enc}'. Use utf-8, latin1 o cp1252."
            ));
        }
        cfg.encoding = enc;
    }
    Ok(())
}

/// A device as the API shows it: no comm key, `password_set` instead.
pub fn public_json(device: &Device) -> Value {
    let mut obj = device.config.to_json();
    obj.shift_remove("password");
    obj.insert(
        "password_set".into(),
        Value::Bool(device.config.password != 0),
    );
    obj.insert("id".into(), Value::String(device.id.clone()));
    Value::Object(obj)
}

fn write_failure(ctx: &Ctx, err: WriteError) -> Response {
    match err {
        WriteError::Exists(id) => ctx.error(409, &format!("El id '{id}' ya existe.")),
        WriteError::NotFound(id) => ctx.error(404, &messages::device_not_found(&id)),
        WriteError::Invalid(msg) => ctx.error(400, &msg),
        WriteError::Io(detail) => ctx.error(
            500,
            &format!("No se pudo guardar el archivo de dispositivos: {detail}."),
        ),
    }
}

/// `POST /devices`.
pub fn create(ctx: &Ctx) -> Response {
    let body = match body::json_object(ctx, true) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let f = Fields(&body);
    let missing = ["id", "name", "ip"].iter().any(|k| match f.text(k, true) {
        Ok(Some(v)) => v.is_empty(),
        Ok(None) => true,
        Err(_) => false, // present but of the wrong type: named below
    });
    if missing {
        return ctx.error(400, "id, name e ip son requeridos.");
    }
    let id = match f
        .text("id", true)
        .and_then(|raw| normalize_id(&raw.unwrap_or_default()))
    {
        Ok(id) => id,
        Err(msg) => return ctx.error(400, &msg),
    };
    let mut cfg = DeviceConfig {
        ip: String::new(),
        port: crate::registry::DEFAULT_PORT,
        password: 0,
        timeout: crate::registry::DEFAULT_TIMEOUT,
        name: String::new(),
        force_udp: false,
        encoding: "utf-8".into(),
        created_at: Some(now()),
        updated_at: None,
        raw: Map::new(),
    };
    if let Err(msg) = apply_fields(&body, &mut cfg) {
        return ctx.error(400, &msg);
    }
    match ctx.app.registry.insert(&id, cfg) {
        Ok(device) => {
            log::info!("device '{id}' registered ({})", device.config.address());
            ctx.json(
                200,
                &json!({"success": true, "message": format!("Dispositivo '{id}' registrado."), "data": public_json(&device)}),
            )
        }
        Err(e) => write_failure(ctx, e),
    }
}

/// `GET /devices/{id}`.
pub fn show(ctx: &Ctx, id: &str) -> Response {
    match ctx.device(id) {
        Ok(d) => ctx.json(200, &json!({"success": true, "data": public_json(&d)})),
        Err(r) => r,
    }
}

/// `PUT /devices/{id}`.
pub fn update(ctx: &Ctx, id: &str) -> Response {
    if let Err(r) = ctx.device(id) {
        return r;
    }
    let body = match body::json_object(ctx, true) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let result = ctx.app.registry.update(id, |current| {
        let mut cfg = current.clone();
        apply_fields(&body, &mut cfg)?;
        cfg.updated_at = Some(now());
        Ok(cfg)
    });
    match result {
        Ok(device) => ctx.json(
            200,
            &json!({"success": true, "message": format!("Dispositivo '{id}' actualizado."), "data": public_json(&device)}),
        ),
        Err(e) => write_failure(ctx, e),
    }
}

/// `DELETE /devices/{id}`.
pub fn delete(ctx: &Ctx, id: &str) -> Response {
    match ctx.app.registry.remove(id) {
        Ok(()) => {
            log::info!("device '{id}' deleted");
            ctx.json(
                200,
                &json!({"success": true, "message": format!("Dispositivo '{id}' eliminado.")}),
            )
        }
        Err(WriteError::NotFound(_)) => match ctx.device(id) {
            Err(r) => r,
            Ok(_) => ctx.error(404, &messages::device_not_found(id)),
        },
        Err(e) => write_failure(ctx, e),
    }
}

/// `GET /devices/{id}/ping`: connect and read the clock; no lock, no disable.
pub fn ping(ctx: &Ctx, id: &str) -> Response {
    let device = match ctx.device(id) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match ops::unlocked(&device, |s| s.get_time()) {
        Ok(t) => ctx.json(
            200,
            &json!({"success": true, "message": format!("Conexion exitosa con '{id}'."),
                    "device_time": t.to_string(), "ip": device.config.ip}),
        ),
        Err(e) => {
            log::warn!("ping {id} ({}): {e}", device.config.address());
            let msg = messages::device_error(&device, &OpError::Zk(e));
            super::response::error(503, &msg, vec![("ip", json!(device.config.ip))], ctx.pretty)
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

    #[test]
    fn hosts() {
        for ok in ["192.168.1.205", "::1", "reloj-1.oficina.lan", "localhost"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["999.1.1.1", "1.2.3", "", "a..b", "-x", "with space", "a_b"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
