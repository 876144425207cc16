//! Server status and the device list: no terminal I/O.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::response::{Body, Response};
use super::{Answer, Ctx};
use crate::live::DeviceLive;
use crate::services::DeliveryStats;

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
            "timestamp": crate::time::now_text(),
            "total_dispositivos": devices.len(),
            "dispositivos": Value::Object(map),
        }),
    ))
}

/// `GET /health`: liveness for nginx/systemd checks.
pub fn health(ctx: &Ctx) -> Answer {
    let mut body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": ctx.app.started.elapsed().as_secs(),
    });
    // With an API key configured, the sentence (it names the role, host
    // and database) is for requests that present it.
    let detailed = ctx.app.security.api_key.is_none() || super::auth::presents_key(ctx);
    if let Some(health) = ctx.app.database_health(detailed) {
        body["postgres"] = json!(health);
    }
    Ok(ctx.json(200, &body))
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
                "area": d.config.area,
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
    super::push::metrics(ctx, &mut text);
    Ok(Response::new(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        Body::Bytes(text.into_bytes()),
    ))
}

/// A metric family with one sample per device, read from `T`.
struct PerDevice<T> {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&T) -> u64,
}

/// What `/metrics` shows of each watched terminal.
const WATCHER_METRICS: &[PerDevice<DeviceLive>] = &[
    PerDevice {
        name: "zkserver_watcher_running",
        kind: "gauge",
        help: "1 while a watcher follows the terminal.",
        value: |d| u64::from(d.watching()),
    },
    PerDevice {
        name: "zkserver_watcher_online",
        kind: "gauge",
        help: "1 while the watcher holds a working connection.",
        value: |d| u64::from(d.feed.status().0.is_some_and(|s| s.online)),
    },
    PerDevice {
        name: "zkserver_watcher_subscribers",
        kind: "gauge",
        help: "Event streams and webhooks following the terminal.",
        value: |d| d.interest() as u64,
    },
    PerDevice {
        name: "zkserver_realtime_events_total",
        kind: "counter",
        help: "Realtime events received.",
        value: |d| d.stats.events.load(Relaxed),
    },
    PerDevice {
        name: "zkserver_reconciliations_total",
        kind: "counter",
        help: "Log reads made without an event (every reconcile interval).",
        value: |d| d.stats.reconciliations.load(Relaxed),
    },
    PerDevice {
        name: "zkserver_live_punches_total",
        kind: "counter",
        help: "Punches the watcher read.",
        value: |d| d.stats.punches.load(Relaxed),
    },
    PerDevice {
        name: "zkserver_watcher_failures_total",
        kind: "counter",
        help: "Watcher connections that failed or broke.",
        value: |d| d.stats.failures.load(Relaxed),
    },
];

/// What `/metrics` shows of each terminal's webhook.
const WEBHOOK_METRICS: &[PerDevice<DeliveryStats>] = &[
    PerDevice {
        name: "zkserver_webhook_delivered_total",
        kind: "counter",
        help: "Punches the webhook accepted.",
        value: |s| s.delivered.load(Relaxed),
    },
    PerDevice {
        name: "zkserver_webhook_failed_total",
        kind: "counter",
        help: "Webhook attempts that failed.",
        value: |s| s.failed.load(Relaxed),
    },
    PerDevice {
        name: "zkserver_webhook_backlog",
        kind: "gauge",
        help: "Punches waiting for the webhook.",
        value: DeliveryStats::backlog,
    },
];

/// Watchers and webhooks, per device, in Prometheus text format.
fn live_metrics(ctx: &Ctx, o: &mut String) {
    let live = &ctx.app.live;
    let watchers: Vec<_> = live
        .ids()
        .into_iter()
        .map(|id| (live.device(&id), id))
        .collect();
    render_table(o, WATCHER_METRICS, &watchers);
    render_table(o, WEBHOOK_METRICS, &ctx.app.webhook_stats());
    ctx.app.database_metrics(o);
}

/// Every family of `table`, each with a sample per `(item, device id)`.
fn render_table<T>(o: &mut String, table: &[PerDevice<T>], items: &[(Arc<T>, String)]) {
    use crate::metrics::{esc, family, line};
    for metric in table {
        let n = family(o, metric.name, metric.kind, metric.help);
        for (item, id) in items {
            line(
                o,
                format_args!("{n}{{device=\"{}\"}} {}", esc(id), (metric.value)(item)),
            );
        }
    }
}
