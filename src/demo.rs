//! `--demo`: two simulated terminals on loopback and a registry pointing at
//! them, so the API serves real data without hardware or a devices file.

use std::sync::Arc;

use crate::registry::{DeviceConfig, Registry};
use crate::sim::{SimConfig, Simulator};
use crate::zk::{AttFormat, UserFormat};

/// The demo terminals; keep them alive as long as the server runs.
pub struct Demo {
    pub simulators: Vec<Simulator>,
    pub registry: Arc<Registry>,
}

/// Starts `principal` (40-byte records, 3 000 punches) and `bodega` (16-byte
/// records over UDP, 2 400 punches), both logs ending yesterday; from then
/// on `principal` gets a punch every 4 s and `bodega` every 7 s.
pub fn start() -> std::io::Result<Demo> {
    let specs = [
        (
            "principal",
            "Entrada Principal",
            3000,
            AttFormat::Full40,
            UserFormat::Long72,
            25,
            11,
            false,
        ),
        (
            "bodega",
            "Bodega",
            2400,
            AttFormat::Pin16,
            UserFormat::Short28,
            12,
            23,
            true,
        ),
    ];
    let mut simulators = Vec::new();
    let mut entries = Vec::new();
    for (id, name, records, att, user, users, seed, udp) in specs {
        let sim = Simulator::start(SimConfig {
            records,
            users,
            attendance_format: att,
            user_format: user,
            seed,
            // Whole days of punches ending yesterday (none in the future).
            start_date: chrono::Local::now().date_naive()
                - chrono::Duration::days((records / (2 * users)) as i64),
            serial: format!("DEMO{seed:08}"),
            device_name: name.to_string(),
            // A punch every few seconds, so live streams show life.
            punch_every: Some(std::time::Duration::from_secs(if udp { 7 } else { 4 })),
            ..SimConfig::default()
        })?;
        entries.push((
            id.to_string(),
            DeviceConfig {
                ip: "127.0.0.1".into(),
                port: sim.port(),
                force_udp: udp,
                created_at: Some(chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()),
                ..DeviceConfig::new(name)
            },
        ));
        log::info!(
            "demo terminal '{id}' on 127.0.0.1:{} ({records} punches, {}-byte records)",
            sim.port(),
            att.size()
        );
        simulators.push(sim);
    }
    Ok(Demo {
        simulators,
        registry: Arc::new(Registry::in_memory(entries)),
    })
}
