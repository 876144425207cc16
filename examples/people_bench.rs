//! Benchmark (not a test) of the staff list's pull sync, for
//! docs/performance.md: 3 000 users × 2 fingerprint templates imported from
//! one simulated terminal and written to another, side by side with
//!
//! * the bare protocol transfer of the same bytes (zkserver's ZK client:
//!   read users and templates, one batch write — no journal, no planning),
//! * pyzk (`get_users` + `get_templates`, then pyzk master's
//!   `HR_save_usertemplates`; `scripts/people_bench.py`) when a Python
//!   with pyzk is given,
//!
//! then the same copy to 10 terminals at once and one after another, and a
//! second sync that has nothing to do. Simulators in this process, 127.0.0.1.
//!
//! Usage: `people_bench [users] [python-with-pyzk]`
//! (`cargo run --release --example people_bench -- 3000 .venv/bin/python`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use zkserver::journal::Journal;
use zkserver::ops::{Budget, Terminals};
use zkserver::people::engine::PeopleSync;
use zkserver::people::pull::BATCH_PEOPLE;
use zkserver::people::sync::{sync_pull, Depth};
use zkserver::registry::{Device, DeviceConfig, Registry};
use zkserver::services::people_import::from_device;
use zkserver::signal::Shutdown;
use zkserver::sim::{SimConfig, Simulator};
use zkserver::zk::records::{Template, User};
use zkserver::zk::{ConnectOptions, Session, DEFAULT_OPERATION_LIMIT};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A terminal with `users` people, two templates each.
fn source(users: usize) -> Res<Simulator> {
    let sim = Simulator::start(SimConfig {
        users,
        finger_capacity: 20_000,
        ..SimConfig::default()
    })?;
    sim.with_state(|st| {
        let shapes: Vec<Vec<u8>> = st.templates.iter().map(|t| t.data.clone()).collect();
        let uids: Vec<u16> = st.users.iter().map(|u| u.uid).collect();
        st.templates = uids
            .iter()
            .enumerate()
            .flat_map(|(i, uid)| {
                [1u8, 6].into_iter().enumerate().map({
                    let shapes = &shapes;
                    move |(k, finger)| Template {
                        uid: *uid,
                        finger,
                        valid: 1,
                        data: shapes[(i * 2 + k) % shapes.len()].clone(),
                    }
                })
            })
            .collect();
    });
    Ok(sim)
}

/// The seed of run `run`'s target terminals: the bare transfers and
/// zkserver's copy write to terminals made alike.
fn target_seed(run: usize) -> u64 {
    100 + run as u64
}

/// A terminal holding one user of its own (its layout shows) and room.
fn target(seed: u64) -> Res<Simulator> {
    let sim = Simulator::start(SimConfig {
        seed,
        users: 1,
        finger_capacity: 20_000,
        ..SimConfig::default()
    })?;
    sim.with_state(|st| {
        st.templates.clear();
        if let Some(u) = st.users.first_mut() {
            u.user_id = "99999".into();
        }
    });
    Ok(sim)
}

fn device(id: &str, sim: &Simulator) -> Device {
    let mut config = DeviceConfig::new(id);
    config.ip = "127.0.0.1".into();
    config.port = sim.port();
    config.timeout = 30.0;
    Device {
        id: id.into(),
        config,
    }
}

fn session(sim: &Simulator) -> Res<Session> {
    Ok(Session::connect(&ConnectOptions {
        host: "127.0.0.1".into(),
        port: sim.port(),
        password: 0,
        timeout: Duration::from_secs(60),
        udp: false,
        operation_limit: DEFAULT_OPERATION_LIMIT,
    })?)
}

/// The bare transfer: read users and templates, then write them in
/// batches of `batch` owners (`usize::MAX`: one batch, as pyzk does).
fn bare(from: &Simulator, to: &Simulator, batch: usize) -> Res<(Duration, Duration)> {
    let start = Instant::now();
    let mut s = session(from)?;
    let (users, format, templates) = {
        let mut d = s.disable()?;
        let (users, format) = d.users()?;
        let templates = d.templates()?;
        d.finish()?;
        (users, format, templates)
    };
    s.exit()?;
    let read = start.elapsed();
    let format = format.ok_or("no users")?;
    let mut by_owner: std::collections::BTreeMap<u16, Vec<Template>> = Default::default();
    for t in templates {
        by_owner.entry(t.uid).or_default().push(t);
    }
    let owners: Vec<(User, Vec<Template>)> = users
        .into_iter()
        .filter_map(|u| Some((u.clone(), by_owner.remove(&u.uid)?)))
        .collect();
    let mut t = session(to)?;
    let mut d = t.disable()?;
    for chunk in owners.chunks(batch.max(1)) {
        let users: Vec<User> = chunk.iter().map(|(u, _)| u.clone()).collect();
        let templates: Vec<Template> = chunk.iter().flat_map(|(_, t)| t.clone()).collect();
        d.write_templates(&users, format, &templates)?;
    }
    d.finish()?;
    t.exit()?;
    Ok((read, start.elapsed() - read))
}

/// zkserver's copy: `from_device` into a fresh journal, then a sync to a
/// fresh terminal; the journal, its folder and the target for later steps.
struct Ours {
    import: Duration,
    sync: Duration,
    journal: Arc<Journal>,
    terminals: Arc<Terminals>,
    dir: std::path::PathBuf,
    target: Simulator,
}

fn ours(src: &Simulator, run: usize) -> Res<Ours> {
    let dir = std::env::temp_dir().join(format!(
        "zkserver-people-bench-{}-{run}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let journal = Arc::new(Journal::open(dir.join("journal.db"))?);
    let terminals = Arc::new(Terminals::new(Budget {
        lock_timeout: Duration::from_secs(600),
        operation_limit: Duration::from_secs(600),
    }));
    let target = target(target_seed(run))?;
    let start = Instant::now();
    from_device(&journal, &terminals, &device("source", src)).map_err(|e| format!("{e:?}"))?;
    let import = start.elapsed();
    let start = Instant::now();
    let report = sync_pull(
        &journal,
        &terminals,
        &device("one", &target),
        Depth::Quick,
        false,
    )?;
    let sync = start.elapsed();
    if report.state != "al_dia" {
        return Err(format!("the sync ended {}", report.state).into());
    }
    Ok(Ours {
        import,
        sync,
        journal,
        terminals,
        dir,
        target,
    })
}

/// The median of `runs`.
fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// pyzk's copy of the same terminal (scripts/people_bench.py).
fn pyzk(python: &str, src: &Simulator, ours: Duration, bare_total: Duration) -> Res<()> {
    let to = target(3)?;
    let out = std::process::Command::new(python)
        .arg("scripts/people_bench.py")
        .arg(src.port().to_string())
        .arg(to.port().to_string())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parts: Vec<f64> = text
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    if let [read, write, ..] = parts[..] {
        println!(
            "pyzk:           read {read:.2} s + write {write:.2} s = {:.2} s — {:.2}× the bare transfer; zkserver/pyzk {:.2}",
            read + write,
            (read + write) / secs(bare_total),
            secs(ours) / (read + write)
        );
    } else {
        println!("pyzk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The list to 10 fresh terminals at once.
fn parallel(journal: &Arc<Journal>, terminals: &Arc<Terminals>, one: Duration) -> Res<()> {
    let sims: Vec<Simulator> = (0..10).map(|i| target(10 + i)).collect::<Res<_>>()?;
    let devices: Vec<Arc<Device>> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| Arc::new(device(&format!("p{i}"), s)))
        .collect();
    let shutdown = Shutdown::default();
    let engine = PeopleSync::start(
        journal.clone(),
        terminals.clone(),
        Arc::new(Registry::in_memory(Vec::new())),
        Duration::from_secs(3600),
        shutdown.clone(),
    );
    let start = Instant::now();
    let done = engine.sync_all(&devices, Depth::Quick, false);
    let parallel = start.elapsed();
    let ok = done
        .iter()
        .filter(|(_, r)| r.as_ref().is_ok_and(|r| r.state == "al_dia"))
        .count();
    println!(
        "10 terminals at once: {:.2} s ({ok} al día) — one alone took {:.2} s",
        secs(parallel),
        secs(one)
    );
    shutdown.stop();
    engine.stop();
    Ok(())
}

/// A second sync of the copy's target (nothing to change), quick and full.
fn nothing_to_do(o: &Ours) -> Res<()> {
    let (journal, terminals, one) = (&o.journal, &o.terminals, &o.target);
    let start = Instant::now();
    let list = zkserver::people::sync::load_list(journal)?;
    println!(
        "(the list of {} people loaded in {:.3} s)",
        list.len(),
        secs(start.elapsed())
    );
    let d_one = device("one", one);
    let writes = one.stats().writes;
    let start = Instant::now();
    sync_pull(journal, terminals, &d_one, Depth::Quick, false)?;
    let quick = start.elapsed();
    let start = Instant::now();
    sync_pull(journal, terminals, &d_one, Depth::Full, false)?;
    let full = start.elapsed();
    println!(
        "nothing to do:  quick {:.3} s, full check {:.2} s, writes {}",
        secs(quick),
        secs(full),
        one.stats().writes - writes
    );
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let users: usize = args.get(1).map_or(Ok(3000), |a| a.parse())?;
    // ZKSERVER_BENCH_LOG=1: the sync's phase timings on stderr.
    let _log = std::env::var_os("ZKSERVER_BENCH_LOG")
        .map(|_| zkserver::logging::init(log::LevelFilter::Info));
    let python = args.get(2);
    let src = source(users)?;
    let count = src.with_state(|st| st.templates.len());
    println!("source: {users} users, {count} templates");

    let runs: usize = std::env::var("ZKSERVER_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let (mut one_batch, mut batched, mut imports, mut syncs, mut totals) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    // Interleaved, so that the machine's load falls on all three alike.
    for run in 0..runs {
        let (read, write) = bare(&src, &target(target_seed(run))?, usize::MAX)?;
        one_batch.push(read + write);
        let (read, write) = bare(&src, &target(target_seed(run))?, BATCH_PEOPLE)?;
        batched.push(read + write);
        let o = ours(&src, run)?;
        imports.push(o.import);
        syncs.push(o.sync);
        totals.push(o.import + o.sync);
        if let Some(old) = last.replace(o) {
            let _ = std::fs::remove_dir_all(&old.dir);
        }
    }
    let o = last.ok_or("no run")?;
    let (one_batch, batched) = (median(one_batch), median(batched));
    let ours_total = median(totals);
    let (import, write) = (median(imports), median(syncs));
    println!("medians of {runs} runs:");
    println!(
        "bare transfer, one batch:          {:.2} s",
        secs(one_batch)
    );
    println!(
        "bare transfer, batches of {BATCH_PEOPLE}:   {:.2} s",
        secs(batched)
    );
    println!(
        "zkserver:       import {:.2} s + sync {:.2} s = {:.2} s — {:.2}× the bare transfer in the same batches, {:.2}× the one-batch transfer",
        secs(import),
        secs(write),
        secs(ours_total),
        secs(ours_total) / secs(batched),
        secs(ours_total) / secs(one_batch)
    );
    nothing_to_do(&o)?;
    let (journal, terminals) = (o.journal.clone(), o.terminals.clone());
    let dir = o.dir.clone();
    if let Some(python) = python {
        pyzk(python, &src, ours_total, one_batch)?;
    }
    parallel(&journal, &terminals, write)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
