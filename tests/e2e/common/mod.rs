//! Shared helpers of the end-to-end tests: simulated terminals and a real
//! server on 127.0.0.1, spoken to over real sockets.
#![allow(dead_code)]

#[cfg(unix)]
pub mod postgres;
pub mod process;
pub mod receiver;
pub mod sse;
pub mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use zkserver::http::auth::Security;
use zkserver::http::App;
use zkserver::journal::Journal;
use zkserver::registry::{DeviceConfig, Registry};
use zkserver::server::Server;
use zkserver::services::Services;
use zkserver::sim::{SimConfig, Simulator};

/// What a test server is started with: the services' settings (reached
/// through `Deref`: `s.budget`, `s.journal`, …) and the API's security.
#[derive(Default)]
pub struct Settings {
    /// The services' settings.
    pub services: zkserver::services::Settings,
    /// API key and what it protects.
    pub security: Security,
}

impl std::ops::Deref for Settings {
    type Target = zkserver::services::Settings;

    fn deref(&self) -> &Self::Target {
        &self.services
    }
}

impl std::ops::DerefMut for Settings {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.services
    }
}

/// A simulated terminal with `records` punches that waits `latency` before
/// every packet (so conversations take measurable time).
pub fn slow_sim(records: usize, latency: Duration) -> SimConfig {
    let faults = zkserver::sim::Faults {
        latency,
        ..Default::default()
    };
    SimConfig {
        records,
        faults,
        ..SimConfig::default()
    }
}

/// How the server is told to reach one simulated terminal.
#[derive(Clone)]
pub struct Link {
    pub udp: bool,
    pub password: u32,
    pub timeout: f64,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            udp: false,
            password: 0,
            timeout: 5.0,
        }
    }
}

/// A running server with its simulated terminals.
pub struct Env {
    pub sims: Vec<Simulator>,
    pub base: String,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A device config pointing at `port` on loopback.
pub fn device_config(name: &str, port: u16, link: &Link) -> DeviceConfig {
    DeviceConfig {
        ip: "127.0.0.1".into(),
        port,
        password: link.password,
        timeout: link.timeout,
        force_udp: link.udp,
        created_at: Some("2026-03-01 08:00:00".into()),
        ..DeviceConfig::new(name)
    }
}

/// Starts one simulator per spec and a server whose registry points at them.
pub fn start(specs: Vec<(&str, &str, SimConfig, Link)>) -> Env {
    start_with(specs, Vec::new(), Duration::from_secs(30))
}

/// Like `start`, plus extra registry entries (e.g. dead addresses) and a lock timeout.
pub fn start_with(
    specs: Vec<(&str, &str, SimConfig, Link)>,
    extra: Vec<(String, DeviceConfig)>,
    lock_timeout: Duration,
) -> Env {
    start_app(specs, extra, |s| s.budget.lock_timeout = lock_timeout)
}

/// Starts simulators and a server whose `Settings` `configure` may adjust
/// (security, limits, webhooks). Writes are open unless `configure` says
/// otherwise.
pub fn start_app(
    specs: Vec<(&str, &str, SimConfig, Link)>,
    extra: Vec<(String, DeviceConfig)>,
    configure: impl FnOnce(&mut Settings),
) -> Env {
    let mut sims = Vec::new();
    let mut entries = Vec::new();
    for (id, name, config, link) in specs {
        let sim = Simulator::start(config).expect("simulator starts");
        entries.push((id.to_string(), device_config(name, sim.port(), &link)));
        sims.push(sim);
    }
    entries.extend(extra);
    serve(sims, Registry::in_memory(entries), configure)
}

/// Serves `registry` (e.g. loaded from a file) next to the given simulators.
pub fn serve(
    sims: Vec<Simulator>,
    registry: Registry,
    configure: impl FnOnce(&mut Settings),
) -> Env {
    let mut settings = Settings::default();
    settings.security.allow_open_writes = true;
    configure(&mut settings);
    let services = Services::start(Arc::new(registry), settings.services);
    let app = App::new(services, settings.security);
    let server = Server::bind("127.0.0.1:0", app).expect("server binds");
    let (addr, stop, handle) = server.spawn();
    Env {
        sims,
        base: format!("http://{addr}"),
        stop,
        handle: Some(handle),
    }
}

/// One default terminal `principal` whose punches go to the webhook `url`.
pub fn with_webhook(url: &str) -> Env {
    let url = url.to_string();
    start_app(
        vec![(
            "principal",
            "Entrada Principal",
            SimConfig::default(),
            Link::default(),
        )],
        Vec::new(),
        |s| s.webhook = Some(url),
    )
}

/// Two terminals: `principal` (40-byte records, TCP) and `bodega` (16-byte
/// records, UDP, simulator seed `seed`).
pub fn two_terminals(seed: u64) -> Env {
    start(vec![
        (
            "principal",
            "Entrada Principal",
            SimConfig::default(),
            Link::default(),
        ),
        (
            "bodega",
            "Bodega",
            SimConfig {
                seed,
                attendance_format: zkserver::zk::AttFormat::Pin16,
                ..SimConfig::default()
            },
            Link {
                udp: true,
                ..Link::default()
            },
        ),
    ])
}

/// One terminal `principal` with the given simulator config and link.
pub fn single(config: SimConfig, link: Link) -> Env {
    start(vec![("principal", "Entrada Principal", config, link)])
}

/// POST/PUT/DELETE with a JSON body (or none: `Value::Null`), owned or
/// borrowed, returning (status, JSON body).
pub fn send(method: &str, url: &str, body: impl std::borrow::Borrow<Value>) -> (i32, Value) {
    let body = body.borrow();
    let text = if body.is_null() {
        None
    } else {
        Some(body.to_string())
    };
    request(method, url, text.as_deref())
}

/// GET returning (status, JSON body).
pub fn get(url: &str) -> (i32, Value) {
    let resp = minreq::get(url)
        .with_timeout(120)
        .send()
        .expect("HTTP request");
    let body: Value = serde_json::from_str(resp.as_str().expect("utf-8 body"))
        .unwrap_or_else(|e| panic!("body of {url} is not JSON ({e}): {:?}", resp.as_str()));
    (resp.status_code, body)
}

/// Any method, with an optional body, returning (status, JSON body).
pub fn request(method: &str, url: &str, body: Option<&str>) -> (i32, Value) {
    let mut req =
        minreq::Request::new(minreq::Method::Custom(method.into()), url).with_timeout(120);
    if let Some(b) = body {
        req = req
            .with_header("Content-Type", "application/json")
            .with_body(b);
    }
    let resp = req.send().expect("HTTP request");
    let body: Value =
        serde_json::from_str(resp.as_str().expect("utf-8 body")).unwrap_or_else(|e| {
            panic!(
                "body of {method} {url} is not JSON ({e}): {:?}",
                resp.as_str()
            )
        });
    (resp.status_code, body)
}

/// What the API must return for a simulator's log: every punch, newest first,
/// equal timestamps in device order.
pub fn expected_rows(sim: &Simulator, id: &str, name: &str) -> Vec<Value> {
    let mut rows: Vec<(u64, Value)> = sim
        .expected_attendance()
        .into_iter()
        .map(|a| {
            (
                a.time.sort_key(),
                json!({
                    "user_id": a.user_id,
                    "timestamp": a.time.to_string(),
                    "status": a.status,
                    "punch": a.punch,
                    "device_id": id,
                    "device_name": name,
                }),
            )
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.into_iter().map(|r| r.1).collect()
}

/// Asserts a successful attendance response equal to the simulator's log.
pub fn assert_complete(env: &Env, sim_index: usize, id: &str, name: &str) {
    let (status, body) = get(&format!("{}/devices/{id}/attendance", env.base));
    assert_eq!(status, 200, "{body}");
    let want = expected_rows(&env.sims[sim_index], id, name);
    let data = body["data"].as_array().expect("data array");
    assert_eq!(body["success"], true);
    assert_eq!(body["total"], want.len(), "total");
    assert_eq!(data.len(), want.len(), "record count");
    if let Some(i) = (0..want.len()).find(|&i| data[i] != want[i]) {
        panic!("record {i} differs: got {} want {}", data[i], want[i]);
    }
    assert!(
        env.sims[sim_index].wait_idle(Duration::from_secs(5)),
        "connection left open"
    );
    assert!(!env.sims[sim_index].is_disabled(), "terminal left disabled");
}

/// Asserts a JSON 500 whose Spanish message contains `needle`, and that the
/// terminal ended enabled.
pub fn assert_fails_enabled(env: &Env, needle: &str) -> Value {
    let (status, body) = get(&format!("{}/devices/principal/attendance", env.base));
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["success"], false);
    let msg = body["error"].as_str().expect("error message");
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
    assert!(msg.contains("principal"), "message names the device: {msg}");
    env.sims[0].wait_idle(Duration::from_secs(10));
    assert!(
        !env.sims[0].is_disabled(),
        "terminal left disabled after: {msg}"
    );
    body
}

/// One terminal with 300 punches behind an in-process server.
pub fn small_env() -> Env {
    single(
        SimConfig {
            records: 300,
            ..SimConfig::default()
        },
        Link::default(),
    )
}

/// Sends raw bytes and reads the answer until the server closes.
pub fn raw_exchange(base: &str, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The first line of a raw response.
pub fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

/// A port free right now on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (30 s at most, checking often) until `ready()` holds; panics
/// naming `what` otherwise. Tests wait on conditions, never on time.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A connection to `addr` from loopback address `from` (127.0.0.x: a
/// client other than 127.0.0.1), reads timing out after 10 s.
pub fn connect_from(from: [u8; 4], addr: &str) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((from, 0)).into())
        .unwrap();
    let target: std::net::SocketAddr = addr.parse().unwrap();
    socket.connect(&target.into()).unwrap();
    let s: std::net::TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends an `/iclock` request with a text body as a terminal does;
/// returns (status, body).
pub fn iclock_text(base: &str, method: &str, target: &str, body: &str) -> (i32, String) {
    let resp = minreq::Request::new(
        minreq::Method::Custom(method.into()),
        format!("{base}{target}"),
    )
    .with_header("User-Agent", "iClock Proxy/1.09")
    .with_body(body)
    .with_timeout(60)
    .send()
    .unwrap();
    (
        resp.status_code,
        resp.as_str().unwrap_or_default().to_string(),
    )
}

/// An in-process server with a journal in `dir` and these push devices.
pub fn push_env(
    dir: &std::path::Path,
    devices: Vec<(&str, DeviceConfig)>,
    configure: impl FnOnce(&mut zkserver::push::receiver::PushSettings),
) -> (Env, Arc<Journal>) {
    let journal = Arc::new(Journal::open(dir.join("punches.db")).expect("journal opens"));
    let entries = devices
        .into_iter()
        .map(|(id, c)| (id.to_string(), c))
        .collect();
    let j = journal.clone();
    let env = serve(vec![], Registry::in_memory(entries), move |s| {
        s.journal = Some(j);
        configure(&mut s.push);
    });
    (env, journal)
}
