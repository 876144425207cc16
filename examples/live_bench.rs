//! Benchmark of reading only new punches and of live punches, against the
//! release binary (`target/release/zkserver`, a child process) and a
//! simulated terminal with 100 000 punches, all on 127.0.0.1:
//!
//! - `since` reads with 0 and 10 new punches vs a full read: time and the
//!   attendance bytes moved from the terminal (counted by the simulator);
//! - punch-to-SSE and punch-to-webhook latency (medians);
//! - 200 concurrent SSE clients on one device: one terminal connection,
//!   time for all to get a punch, server RSS.
//!
//! Run by `scripts/bench.sh`; `cargo run --release --example live_bench`.

#[allow(dead_code)]
#[path = "../tests/e2e/common/receiver.rs"]
mod receiver;
#[allow(dead_code)]
#[path = "../tests/e2e/common/sse.rs"]
mod sse;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use zkserver::sim::{SimConfig, Simulator};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn get(url: &str) -> Value {
    let r = minreq::get(url).with_timeout(60).send().expect("request");
    serde_json::from_slice(r.as_bytes()).expect("JSON")
}

/// VmRSS and VmHWM of a process, in MB.
fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let bin = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/zkserver".into());
    let sim = Simulator::start(SimConfig {
        records: 100_000,
        users: 200,
        ..SimConfig::default()
    })
    .expect("simulator");
    let hook = receiver::Receiver::start();
    let (mut child, base, dir) = start_server(&bin, sim.port());
    bench_reads(&sim, &base);
    bench_live(&sim, &base, &hook);
    bench_many_clients(&sim, &base, child.id());
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts the server at `bin` over the terminal on `port`: the child, its
/// base URL and its scratch folder.
fn start_server(bin: &str, port: u16) -> (std::process::Child, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("zkserver-live-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let devices = dir.join("devices.json");
    std::fs::write(
        &devices,
        serde_json::json!({"principal": {"ip": "127.0.0.1", "port": port, "timeout": 10,
                                         "name": "Bench"}})
        .to_string(),
    )
    .unwrap();
    let mut child = Command::new(bin)
        .args([
            "--config",
            devices.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .args([
            "--log-level",
            "error",
            "--max-connections",
            "1024",
            "--allow-open-writes",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("zkserver runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("listening line").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"), dir)
}

/// `since` reads with 0 and 10 new punches against full reads.
fn bench_reads(sim: &Simulator, base: &str) {
    let url = |q: &str| format!("{base}/devices/principal/attendance?pretty=0&{q}");
    let bytes = || sim.stats().attendance_bytes;

    let mut full_t = Vec::new();
    let mut full_b = 0;
    let mut cursor = String::new();
    for _ in 0..5 {
        let (b0, t0) = (bytes(), Instant::now());
        let body = get(&url("limit=1"));
        full_t.push(ms(t0.elapsed()));
        full_b = bytes() - b0;
        cursor = body["cursor"].as_str().unwrap().to_string();
    }
    let mut zero_t = Vec::new();
    let mut zero_b = 0;
    for _ in 0..15 {
        let (b0, t0) = (bytes(), Instant::now());
        let body = get(&url(&format!("since={cursor}")));
        zero_t.push(ms(t0.elapsed()));
        zero_b = bytes() - b0;
        assert_eq!(body["total"], 0);
    }
    let mut ten_t = Vec::new();
    let mut ten_b = 0;
    for _ in 0..7 {
        for _ in 0..10 {
            sim.punch(None);
        }
        let (b0, t0) = (bytes(), Instant::now());
        let body = get(&url(&format!("since={cursor}")));
        ten_t.push(ms(t0.elapsed()));
        ten_b = bytes() - b0;
        assert_eq!(body["total"], 10);
        cursor = body["cursor"].as_str().unwrap().to_string();
    }
    println!("\nreading a 100 000-record log (40-byte records, TCP; medians):");
    println!(
        "  {:<32} {:>8} ms   {:>9} bytes moved",
        "full read (no cursor)",
        format!("{:.1}", median(full_t)),
        full_b
    );
    println!(
        "  {:<32} {:>8} ms   {:>9} bytes moved",
        "since, 0 new punches",
        format!("{:.1}", median(zero_t)),
        zero_b
    );
    println!(
        "  {:<32} {:>8} ms   {:>9} bytes moved",
        "since, 10 new punches",
        format!("{:.1}", median(ten_t)),
        ten_b
    );
}

/// Punch-to-SSE and punch-to-webhook latency.
fn bench_live(sim: &Simulator, base: &str, hook: &receiver::Receiver) {
    // Live latency. The webhook is set only now, so that its watcher's
    // reads did not count in the bytes above.
    let put = minreq::put(format!("{base}/devices/principal"))
        .with_body(serde_json::json!({"webhook": hook.url}).to_string())
        .with_timeout(10)
        .send()
        .expect("set the webhook");
    assert_eq!(put.status_code, 200);
    let mut stream = sse::SseClient::connect(base, "/devices/principal/events", None);
    stream
        .status("online", Duration::from_secs(30))
        .expect("watcher online");
    std::thread::sleep(Duration::from_secs(1));
    let mut to_sse = Vec::new();
    let mut made = Vec::new();
    for i in 0..21 {
        let id = format!("{}", 900_000 + i);
        let t0 = Instant::now();
        sim.punch(Some(&id));
        let got = stream.punches(1, Duration::from_secs(10));
        assert_eq!(got[0].data["user_id"], id.as_str());
        to_sse.push(ms(t0.elapsed()));
        made.push((id, t0));
        std::thread::sleep(Duration::from_millis(50));
    }
    hook.wait_for(Duration::from_secs(30), |posts| {
        posts
            .iter()
            .filter(|p| p.accepted)
            .map(|p| p.body["data"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
            >= 21
    });
    let posts = hook.posts();
    let to_hook: Vec<f64> = made
        .iter()
        .filter_map(|(id, t0)| {
            let post = posts.iter().find(|p| {
                p.accepted
                    && p.body["data"]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|r| r["user_id"] == id.as_str()))
            })?;
            Some(ms(post.at.duration_since(*t0)))
        })
        .collect();
    println!(
        "\nlive punches (median of {} punches, one every ~50 ms):",
        to_sse.len()
    );
    println!(
        "  {:<32} {:>8} ms",
        "punch -> SSE event",
        format!("{:.1}", median(to_sse))
    );
    println!(
        "  {:<32} {:>8} ms   ({} of 21 delivered)",
        "punch -> webhook POST",
        format!("{:.1}", median(to_hook.clone())),
        to_hook.len()
    );
}

/// 200 SSE clients on one device: time for all to get a punch, RSS.
fn bench_many_clients(sim: &Simulator, base: &str, server_pid: u32) {
    let mut clients: Vec<sse::SseClient> = (0..200)
        .map(|_| sse::SseClient::connect(base, "/devices/principal/events", None))
        .collect();
    for c in &mut clients {
        c.status("online", Duration::from_secs(10)).expect("online");
    }
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    sim.punch(Some("777777"));
    let mut got_all = 0;
    for c in &mut clients {
        if c.punches(1, Duration::from_secs(10)).len() == 1 {
            got_all += 1;
        }
    }
    let all = t0.elapsed();
    let open = sim.stats().open;
    let (now, peak) = rss(server_pid);
    println!("\n200 SSE clients on one device:");
    println!(
        "  {:<32} {:>8} ms   ({got_all} of 200)",
        "all got the punch within",
        format!("{:.1}", ms(all))
    );
    println!("  {:<32} {:>8}", "terminal connections open", open);
    println!(
        "  {:<32} {:>8.1} MB   (peak {peak:.1} MB)",
        "server RSS", now
    );
    drop(clients);
}
