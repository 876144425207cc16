//! Server status and the device list: no terminal I/O.

use serde_json::{json, Map, Value};

use super::response::{Body, Response};
use super::{Answer, Ctx};

/// `GET /`: the original server's status document.
pub fn root(ctx: &Ctx) -> Answer {
    let devices = ctx.app.registry.all();
    let mut map = Map::new();
    for d in &devices {
        map.insert(
            d.id.clone(),
            json!({"ip": d.config.ip, "name": d.config.name}),
        );
    }
    Ok(ctx.json(
        200,
        &json!({
            "status": "online",
            "timestamp": chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            "total_dispositivos": devices.len(),
            "dispositivos": Value::Object(map),
        }),
    ))
}

/// `GET /health`: liveness for nginx/systemd checks.
pub fn health(ctx: &Ctx) -> Answer {
    Ok(ctx.json(
        200,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": ctx.app.started.elapsed().as_secs(),
        }),
    ))
}

/// `GET /devices`: the registry, without comm keys.
pub fn list_devices(ctx: &Ctx) -> Answer {
    let data: Vec<Value> = ctx
        .app
        .registry
        .all()
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "name": d.config.name,
                "ip": d.config.ip,
                "port": d.config.port,
                "created_at": d.config.created_at,
            })
        })
        .collect();
    Ok(ctx.json(
        200,
        &json!({"success": true, "total": data.len(), "data": data}),
    ))
}

/// `GET /metrics`: Prometheus text format.
pub fn metrics(ctx: &Ctx) -> Answer {
    let text = crate::metrics::global().render(ctx.app.started.elapsed());
    Ok(Response::new(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        Body::Bytes(text.into_bytes()),
    ))
}
