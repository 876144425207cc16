//! `--demo`: three simulated terminals (two pull, one push) on loopback and
//! a registry pointing at them, so the API serves real data without
//! hardware or a devices file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::registry::{DeviceConfig, Registry};
use crate::sim::{SimConfig, Simulator};
use crate::zk::records::Attendance;
use crate::zk::{AttFormat, UserFormat};

/// The demo's scratch folder (its journal and the push contacts beside
/// it), named after this process: a folder of that name is left over from
/// a process that had the same id before, so it is emptied at start (an
/// old demo's pinned push terminal would refuse this demo's), and removed
/// when the guard is dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Empties `dir` of whatever an earlier process left there.
    pub fn fresh(dir: &Path) -> std::io::Result<Scratch> {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(Scratch(dir.to_path_buf()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("demo: could not remove {}: {e}", self.0.display());
            }
        }
    }
}

/// The demo terminals; keep them alive as long as the server runs.
pub struct Demo {
    /// The simulated terminals, by device id (`POST /demo/punch` uses them).
    pub terminals: Arc<Terminals>,
    /// A registry pointing at them.
    pub registry: Arc<Registry>,
}

/// The demo's simulated terminals, by device id, in registry order.
#[derive(Default)]
pub struct Terminals(Vec<(String, Simulator)>);

impl std::fmt::Debug for Terminals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(id, _)| id))
            .finish()
    }
}

/// Why a demo punch could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PunchError {
    /// No demo terminal has this id.
    NoDevice(String),
    /// The terminal has no user with this id.
    NoUser(String),
}

impl Terminals {
    /// The demo terminals' ids.
    pub fn ids(&self) -> Vec<String> {
        self.0.iter().map(|(id, _)| id.clone()).collect()
    }

    /// Makes terminal `device_id` (default: the first) record a punch now,
    /// by `user_id` (default: the next enrolled user in turn), as a person at
    /// the terminal would. Returns the terminal's id and the punch.
    pub fn punch(
        &self,
        device_id: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<(String, Attendance), PunchError> {
        let (id, sim) = match device_id {
            None => self.0.first(),
            Some(want) => self.0.iter().find(|(id, _)| id == want),
        }
        .ok_or_else(|| PunchError::NoDevice(device_id.unwrap_or_default().to_string()))?;
        if let Some(user) = user_id {
            if !sim.expected_users().iter().any(|u| u.user_id == user) {
                return Err(PunchError::NoUser(user.to_string()));
            }
        }
        Ok((id.clone(), sim.punch(user_id)))
    }
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
            // The 28-byte layout's 8-byte name field would cut "Carmen
            // Martínez" to "Carmen M": the demo shows whole names.
            UserFormat::Long72,
            12,
            23,
            true,
        ),
    ];
    let mut terminals = Vec::new();
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
                created_at: Some(crate::time::now_text()),
                ..DeviceConfig::new(name)
            },
        ));
        log::info!(
            "demo terminal '{id}' on 127.0.0.1:{} ({records} punches, {}-byte records)",
            sim.port(),
            att.size()
        );
        terminals.push((id.to_string(), sim));
    }
    entries.push((PUSH_ID.to_string(), push_device()));
    Ok(Demo {
        terminals: Arc::new(Terminals(terminals)),
        registry: Arc::new(Registry::in_memory(entries)),
    })
}

/// The demo's push terminal: its id and serial.
pub const PUSH_ID: &str = "recepcion";
/// Serial of the demo's push terminal.
pub const PUSH_SERIAL: &str = "DEMOPUSH0001";

/// The registry entry of the demo's push terminal.
fn push_device() -> DeviceConfig {
    let mut cfg = DeviceConfig::new("Recepción");
    cfg.mode = crate::registry::DeviceMode::Push;
    cfg.sn = Some(PUSH_SERIAL.to_string());
    cfg.created_at = Some(crate::time::now_text());
    cfg
}

/// Starts the demo's push terminal, pushing to the server at `server`
/// (a backlog of a few days, then a punch every few seconds, commands
/// polled every 2 s). Stops when dropped.
pub fn start_push(server: std::net::SocketAddr) -> std::io::Result<crate::sim::push::PushSim> {
    let host = match server.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        ip => ip.to_string(),
    };
    let mut cfg = crate::sim::push::PushSimConfig::new(
        &format!("http://{host}:{}", server.port()),
        PUSH_SERIAL,
    );
    cfg.records = 300;
    cfg.users = 8;
    cfg.start = crate::time::now() - chrono::Duration::minutes(400);
    cfg.punch_every = Some(std::time::Duration::from_secs(5));
    cfg.poll_every = Some(std::time::Duration::from_secs(2));
    cfg.retry_after = Some(std::time::Duration::from_secs(3));
    log::info!(
        "demo push terminal '{PUSH_ID}' (SN {PUSH_SERIAL}) pushes to {host}:{}",
        server.port()
    );
    crate::sim::push::PushSim::start(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One person, one name: user 1005 is "Lucía …" on both terminals, the
    /// whole name (the 28-byte layout cut names to 8 bytes).
    #[test]
    fn a_user_has_one_full_name_on_every_terminal() {
        let demo = start().unwrap();
        let users: Vec<Vec<_>> = demo
            .terminals
            .0
            .iter()
            .map(|(_, sim)| sim.expected_users())
            .collect();
        let mut shared = 0;
        for u in &users[0] {
            if let Some(other) = users[1].iter().find(|o| o.user_id == u.user_id) {
                assert_eq!(u.name, other.name, "user {}", u.user_id);
                shared += 1;
            }
        }
        assert!(shared >= 10, "{shared}");
        let all = users.iter().flatten();
        assert!(all.clone().all(|u| u.name.contains(&b' ')));
        assert!(all.clone().any(|u| u.name.len() > 8));
    }

    #[test]
    fn punches_on_demand() {
        let demo = start().unwrap();
        let before = demo.terminals.0[1].1.expected_attendance().len();
        let (id, punch) = demo.terminals.punch(Some("bodega"), Some("1003")).unwrap();
        assert_eq!((id.as_str(), punch.user_id.as_str()), ("bodega", "1003"));
        assert_eq!(
            demo.terminals.0[1].1.expected_attendance().len(),
            before + 1
        );
        let (id, _) = demo.terminals.punch(None, None).unwrap();
        assert_eq!(id, "principal");
        assert_eq!(
            demo.terminals.punch(Some("x"), None).unwrap_err(),
            PunchError::NoDevice("x".into())
        );
        assert_eq!(
            demo.terminals.punch(None, Some("99999")).unwrap_err(),
            PunchError::NoUser("99999".into())
        );
    }
}

#[cfg(test)]
mod scratch_tests {
    use super::Scratch;

    #[test]
    fn a_left_over_scratch_folder_is_emptied_and_removed_at_the_end() {
        let dir =
            std::env::temp_dir().join(format!("zkserver-scratch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("folder");
        std::fs::write(dir.join("punches.db.contacts.json"), b"{}").expect("old file");
        let scratch = Scratch::fresh(&dir).expect("fresh");
        assert!(!dir.exists(), "the old folder's files are gone");
        std::fs::create_dir_all(&dir).expect("the journal makes it again");
        drop(scratch);
        assert!(!dir.exists(), "removed at the end");
        Scratch::fresh(&dir).expect("a missing folder is fine");
    }
}
