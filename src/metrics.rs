//! Process-wide counters for `GET /metrics` (Prometheus text format):
//! requests by route and status, terminal operation latency, terminal errors
//! by kind, records fetched, and device-lock waits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;

/// Upper bounds (seconds) of the operation latency histogram.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    operations: BTreeMap<(String, String), Histogram>,
    errors: BTreeMap<(String, String), u64>,
    records: BTreeMap<String, u64>,
    lock_waits: BTreeMap<String, (u64, f64)>,
    lock_busy: BTreeMap<String, u64>,
}

/// The counters.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

impl Metrics {
    /// Counts an HTTP request by route pattern and status.
    pub fn request(&self, route: &str, status: u16) {
        *self
            .inner
            .lock()
            .requests
            .entry((route.to_string(), status))
            .or_default() += 1;
    }

    /// Records a finished terminal operation (`error`: the error kind, if any).
    pub fn operation(&self, device: &str, operation: &str, took: Duration, error: Option<&str>) {
        let mut m = self.inner.lock();
        let h = m
            .operations
            .entry((device.to_string(), operation.to_string()))
            .or_default();
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
        if let Some(kind) = error {
            *m.errors
                .entry((device.to_string(), kind.to_string()))
                .or_default() += 1;
        }
    }

    /// Adds attendance records downloaded from a terminal.
    pub fn records(&self, device: &str, n: usize) {
        *self
            .inner
            .lock()
            .records
            .entry(device.to_string())
            .or_default() += n as u64;
    }

    /// Records a wait for a device lock; `busy` when it gave up.
    pub fn lock_wait(&self, device: &str, waited: Duration, busy: bool) {
        let mut m = self.inner.lock();
        let w = m.lock_waits.entry(device.to_string()).or_default();
        w.0 += 1;
        w.1 += waited.as_secs_f64();
        if busy {
            *m.lock_busy.entry(device.to_string()).or_default() += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, uptime: Duration) -> String {
        let m = self.inner.lock();
        let mut out = String::with_capacity(4096);
        let o = &mut out;
        let n = family(o, "zkserver_build_info", "gauge", "Version of this server.");
        line(
            o,
            format_args!("{n}{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
        );
        let n = family(
            o,
            "zkserver_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        line(o, format_args!("{n} {}", uptime.as_secs()));
        let n = family(
            o,
            "zkserver_requests_total",
            "counter",
            "HTTP requests by route and status.",
        );
        for ((route, status), v) in &m.requests {
            line(
                o,
                format_args!("{n}{{route=\"{}\",status=\"{status}\"}} {v}", esc(route)),
            );
        }
        m.render_operations(o);
        m.render_per_device(o);
        out
    }
}

impl Inner {
    /// The operation latency histogram and the errors by kind.
    fn render_operations(&self, o: &mut String) {
        let n = family(
            o,
            "zkserver_device_operation_seconds",
            "histogram",
            "Duration of terminal operations (lock held, connect to exit).",
        );
        for ((device, op), h) in &self.operations {
            let labels = format!("device=\"{}\",operation=\"{}\"", esc(device), esc(op));
            for (bound, c) in BUCKETS.iter().zip(h.counts) {
                line(o, format_args!("{n}_bucket{{{labels},le=\"{bound}\"}} {c}"));
            }
            line(
                o,
                format_args!("{n}_bucket{{{labels},le=\"+Inf\"}} {}", h.count),
            );
            line(o, format_args!("{n}_sum{{{labels}}} {:.6}", h.sum));
            line(o, format_args!("{n}_count{{{labels}}} {}", h.count));
        }
        let n = family(
            o,
            "zkserver_device_errors_total",
            "counter",
            "Failed terminal operations by kind.",
        );
        for ((device, kind), v) in &self.errors {
            line(
                o,
                format_args!(
                    "{n}{{device=\"{}\",kind=\"{}\"}} {v}",
                    esc(device),
                    esc(kind)
                ),
            );
        }
    }

    /// Records fetched and lock waits, per device.
    fn render_per_device(&self, o: &mut String) {
        let n = family(
            o,
            "zkserver_records_fetched_total",
            "counter",
            "Attendance records downloaded.",
        );
        for (device, v) in &self.records {
            line(o, format_args!("{n}{{device=\"{}\"}} {v}", esc(device)));
        }
        let n = family(
            o,
            "zkserver_lock_wait_seconds",
            "summary",
            "Time spent waiting for a device lock.",
        );
        for (device, (count, sum)) in &self.lock_waits {
            line(
                o,
                format_args!("{n}_sum{{device=\"{}\"}} {sum:.6}", esc(device)),
            );
            line(
                o,
                format_args!("{n}_count{{device=\"{}\"}} {count}", esc(device)),
            );
        }
        let n = family(
            o,
            "zkserver_lock_busy_total",
            "counter",
            "Requests answered 503 because a device stayed busy.",
        );
        for (device, v) in &self.lock_busy {
            line(o, format_args!("{n}{{device=\"{}\"}} {v}", esc(device)));
        }
    }
}

/// Writes a metric family's HELP and TYPE lines; returns its name.
pub fn family<'a>(out: &mut String, name: &'a str, kind: &str, help: &str) -> &'a str {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name
}

/// Writes one sample line.
pub fn line(out: &mut String, text: std::fmt::Arguments) {
    let _ = out.write_fmt(text);
    out.push('\n');
}

/// Escapes a label value.
pub fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request("/devices/{id}/attendance", 200);
        m.request("/devices/{id}/attendance", 200);
        m.operation(
            "principal",
            "attendance download",
            Duration::from_millis(80),
            None,
        );
        m.operation("bo\"dega", "info", Duration::from_secs(7), Some("timeout"));
        m.records("principal", 3000);
        m.lock_wait("principal", Duration::from_millis(5), true);
        let text = m.render(Duration::from_secs(42));
        for line in [
            "zkserver_uptime_seconds 42",
            "zkserver_requests_total{route=\"/devices/{id}/attendance\",status=\"200\"} 2",
            "zkserver_device_operation_seconds_bucket{device=\"principal\",operation=\"attendance download\",le=\"0.05\"} 0",
            "zkserver_device_operation_seconds_bucket{device=\"principal\",operation=\"attendance download\",le=\"0.1\"} 1",
            "zkserver_device_operation_seconds_count{device=\"bo\\\"dega\",operation=\"info\"} 1",
            "zkserver_device_errors_total{device=\"bo\\\"dega\",kind=\"timeout\"} 1",
            "zkserver_records_fetched_total{device=\"principal\"} 3000",
            "zkserver_lock_busy_total{device=\"principal\"} 1",
            "# TYPE zkserver_device_operation_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }
}
