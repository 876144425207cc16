//! Server status and the device list: no terminal I/O.

use rouille::Response;
use serde_json::{json, Map, Value};

use super::Ctx;

/// `GET /`: the original server's status document.
pub fn root(ctx: &Ctx) -> Response {
    let devices = ctx.app.registry.all();
    let mut map = Map::new();
    for d in &devices {
        map.insert(
            d.id.clone(),
            json!({"ip": d.config.ip, "name": d.config.name}),
        );
    }
    ctx.json(
        200,
        &json!({
            "status": "online",
            "timestamp": chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            "total_dispositivos": devices.len(),
            "dispositivos": Value::Object(map),
        }),
    )
}

/// `GET /health`: liveness for nginx/systemd checks.
pub fn health(ctx: &Ctx) -> Response {
    ctx.json(
        200,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": ctx.app.started.elapsed().as_secs(),
        }),
    )
}

/// `GET /devices`: the registry, without comm keys.
pub fn list_devices(ctx: &Ctx) -> Response {
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
    ctx.json(
        200,
        &json!({"success": true, "total": data.len(), "data": data}),
    )
}

/// `GET /metrics`: Prometheus text format.
pub fn metrics(ctx: &Ctx) -> Response {
    let text = crate::metrics::global().render(ctx.app.started.elapsed());
    Response::from_data("text/plain; version=0.0.4; charset=utf-8", text)
}
