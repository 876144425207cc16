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
    let mut text = crate::metrics::global().render(ctx.app.started.elapsed());
    live_metrics(ctx, &mut text);
    Ok(Response::new(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        Body::Bytes(text.into_bytes()),
    ))
}

/// Watchers and webhooks, per device, in Prometheus text format.
fn live_metrics(ctx: &Ctx, o: &mut String) {
    use std::sync::atomic::Ordering::Relaxed;
    let live = &ctx.app.live;
    let devices: Vec<_> = live
        .ids()
        .into_iter()
        .map(|id| (live.device(&id), id))
        .collect();
    let gauge = "gauge";
    per_device(
        o,
        "zkserver_watcher_running",
        gauge,
        "1 while a watcher follows the terminal.",
        &devices,
        |d| u64::from(d.watching()),
    );
    per_device(
        o,
        "zkserver_watcher_online",
        gauge,
        "1 while the watcher holds a working connection.",
        &devices,
        |d| u64::from(d.feed.status().0.is_some_and(|s| s.online)),
    );
    per_device(
        o,
        "zkserver_watcher_subscribers",
        gauge,
        "Event streams and webhooks following the terminal.",
        &devices,
        |d| d.interest() as u64,
    );
    let counter = "counter";
    per_device(
        o,
        "zkserver_realtime_events_total",
        counter,
        "Realtime events received.",
        &devices,
        |d| d.stats.events.load(Relaxed),
    );
    per_device(
        o,
        "zkserver_reconciliations_total",
        counter,
        "Log reads made without an event (every reconcile interval).",
        &devices,
        |d| d.stats.reconciliations.load(Relaxed),
    );
    per_device(
        o,
        "zkserver_live_punches_total",
        counter,
        "Punches the watcher read.",
        &devices,
        |d| d.stats.punches.load(Relaxed),
    );
    per_device(
        o,
        "zkserver_watcher_failures_total",
        counter,
        "Watcher connections that failed or broke.",
        &devices,
        |d| d.stats.failures.load(Relaxed),
    );
    let delivery = &ctx.app.delivery;
    let hooks: Vec<_> = delivery
        .ids()
        .into_iter()
        .map(|id| (delivery.stats(&id), id))
        .collect();
    per_device(
        o,
        "zkserver_webhook_delivered_total",
        counter,
        "Punches the webhook accepted.",
        &hooks,
        |s| s.delivered.load(Relaxed),
    );
    per_device(
        o,
        "zkserver_webhook_failed_total",
        counter,
        "Webhook attempts that failed.",
        &hooks,
        |s| s.failed.load(Relaxed),
    );
    per_device(
        o,
        "zkserver_webhook_backlog",
        gauge,
        "Punches waiting for the webhook.",
        &hooks,
        |s| s.backlog(),
    );
}

/// One metric family with a sample per device.
fn per_device<T>(
    o: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    items: &[(T, String)],
    value: impl Fn(&T) -> u64,
) {
    use crate::metrics::{esc, family, line};
    let n = family(o, name, kind, help);
    for (item, id) in items {
        line(
            o,
            format_args!("{n}{{device=\"{}\"}} {}", esc(id), value(item)),
        );
    }
}
