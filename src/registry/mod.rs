//! The device registry: devices loaded from the devices file (the original
//! server's format), each with its own lock so that one terminal holds one
//! conversation at a time while different terminals run in parallel.
//!
//! One job per module: `device` the model and its file entry, `settings`
//! the settings parser, `id` device ids, `offset` UTC offsets,
//! `devices_file` the file's format, `strict_json` and `json_syntax` the
//! strict JSON reader and its syntax errors, `store` the file on disk,
//! `schedule` when supervisors walk the devices, `error` the typed errors
//! (their Spanish is in `messages::registry`).

mod device;
mod devices_file;
mod error;
mod id;
mod json_syntax;
mod offset;
mod schedule;
mod settings;
mod store;
mod strict_json;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use crate::messages::registry::io_error_es;
pub use device::{
    DeviceConfig, DeviceMode, DEFAULT_AREA, DEFAULT_PORT, DEFAULT_TIMEOUT, MAX_AREA, MAX_TIMEOUT,
    MIN_TIMEOUT,
};
pub use devices_file::parse_devices;
pub use error::{DevicesFileError, InvalidId, LoadError, SettingError, WriteError};
pub use id::normalize_id;
pub use json_syntax::JsonSyntax;
pub use offset::parse_utc_offset;
pub use schedule::WalkSchedule;
pub use settings::{valid_host, valid_serial, MAX_ALLOW_FROM, MAX_PUSH_KEY};
pub use store::without_bom;
pub use strict_json::JsonKind;

/// A registered terminal: its id and configuration (runtime state such as
/// its lock lives in `ops::Terminals`).
#[derive(Debug)]
pub struct Device {
    /// The id, as in paths.
    pub id: String,
    /// The configuration in force.
    pub config: DeviceConfig,
}

#[derive(Debug, Default, Clone)]
struct Devices {
    order: Vec<String>,
    map: HashMap<String, Arc<Device>>,
    /// Push devices by serial (rebuilt with every published change): a
    /// push request finds its device without walking them all.
    serials: HashMap<String, Arc<Device>>,
}

/// All configured terminals, in file order.
#[derive(Debug)]
pub struct Registry {
    path: Option<PathBuf>,
    devices: RwLock<Devices>,
    /// Serialises writers: read, modify, persist and swap happen under it.
    writer: Mutex<()>,
    /// How many changes were published (see [`Registry::generation`]).
    generation: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// Loads the devices file; a missing file is an empty registry. Never
    /// writes it: a file that cannot be read exactly as written (bad JSON,
    /// an id twice, an id not in normal form, an unknown shape) is an error
    /// naming the file and what to change, and the file is left as it is.
    ///
    /// The error says all that in Spanish through the catalogue
    /// (`messages::registry`), like the other startup errors and the API's
    /// messages about the same settings: the admin reads it on the terminal
    /// or in the journal, so it must not mix languages.
    pub fn load(path: &Path) -> Result<Registry, LoadError> {
        let entries = store::read(path)?;
        crate::atomic_file::remove_stale_temps(path);
        let mut reg = Registry::in_memory(entries);
        reg.path = Some(path.to_path_buf());
        Ok(reg)
    }

    /// A registry that lives only in memory (used by `--demo` and tests).
    pub fn in_memory(entries: Vec<(String, DeviceConfig)>) -> Registry {
        let reg = Registry {
            path: None,
            devices: RwLock::new(Devices::default()),
            writer: Mutex::new(()),
            generation: std::sync::atomic::AtomicU64::new(0),
        };
        let mut devices = Devices::default();
        for (id, config) in entries {
            devices.order.push(id.clone());
            devices
                .map
                .insert(id.clone(), Arc::new(Device { id, config }));
        }
        devices.index_serials();
        *reg.devices.write() = devices;
        reg
    }

    /// Adds a device; refused if the id exists. Persists before it is visible.
    pub fn insert(&self, id: &str, config: DeviceConfig) -> Result<Arc<Device>, WriteError> {
        self.change(|devices| {
            if devices.map.contains_key(id) {
                return Err(WriteError::Exists(id.to_string()));
            }
            devices.check_serial(id, &config)?;
            let device = Arc::new(Device {
                id: id.to_string(),
                config,
            });
            devices.order.push(id.to_string());
            devices.map.insert(id.to_string(), device.clone());
            Ok(device)
        })
    }

    /// Replaces a device's configuration with `edit(current)`; an `Err`
    /// from `edit` leaves everything unchanged.
    pub fn update(
        &self,
        id: &str,
        edit: impl FnOnce(&DeviceConfig) -> Result<DeviceConfig, SettingError>,
    ) -> Result<Arc<Device>, WriteError> {
        self.change(|devices| {
            let current = devices
                .map
                .get(id)
                .ok_or_else(|| WriteError::NotFound(id.to_string()))?;
            let config = edit(&current.config).map_err(WriteError::Invalid)?;
            config.check_complete().map_err(WriteError::Invalid)?;
            devices.check_serial(id, &config)?;
            let device = Arc::new(Device {
                id: id.to_string(),
                config,
            });
            devices.map.insert(id.to_string(), device.clone());
            Ok(device)
        })
    }

    /// Removes a device. Requests already using it finish normally.
    pub fn remove(&self, id: &str) -> Result<(), WriteError> {
        self.change(|devices| {
            devices
                .map
                .remove(id)
                .ok_or_else(|| WriteError::NotFound(id.to_string()))?;
            devices.order.retain(|x| x != id);
            Ok(())
        })
    }

    /// Applies `edit` to a copy, writes the file, then publishes the copy.
    fn change<T>(
        &self,
        edit: impl FnOnce(&mut Devices) -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        let _writer = self.writer.lock();
        let mut next = self.devices.read().clone();
        let out = edit(&mut next)?;
        next.index_serials();
        if let Some(path) = &self.path {
            store::write(path, &next)?;
        }
        *self.devices.write() = next;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(out)
    }

    /// A counter that grows with every published change: what walks every
    /// device (the webhook and collecting supervisors) compares it to skip
    /// a walk when nothing changed, however often punches wake them.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A device by exact id.
    pub fn get(&self, id: &str) -> Option<Arc<Device>> {
        self.devices.read().map.get(id).cloned()
    }

    /// All devices in registry order.
    pub fn all(&self) -> Vec<Arc<Device>> {
        let d = self.devices.read();
        d.order
            .iter()
            .filter_map(|id| d.map.get(id).cloned())
            .collect()
    }

    /// All ids in registry order.
    pub fn ids(&self) -> Vec<String> {
        self.devices.read().order.clone()
    }

    /// The push device registered with serial number `sn`.
    pub fn by_serial(&self, sn: &str) -> Option<Arc<Device>> {
        self.devices.read().serials.get(sn).cloned()
    }
}

impl Devices {
    /// Rebuilds the serial index from the devices (in file order: were a
    /// serial on two push devices, the first one keeps it).
    fn index_serials(&mut self) {
        self.serials.clear();
        for id in &self.order {
            let Some(device) = self.map.get(id) else {
                continue;
            };
            if let Some(sn) = device
                .config
                .sn
                .as_deref()
                .filter(|_| device.config.is_push())
            {
                self.serials
                    .entry(sn.to_string())
                    .or_insert_with(|| device.clone());
            }
        }
    }

    /// Refuses `config` for device `id` if another push device has its serial.
    fn check_serial(&self, id: &str, config: &DeviceConfig) -> Result<(), WriteError> {
        let Some(sn) = config.sn.as_deref().filter(|_| config.is_push()) else {
            return Ok(());
        };
        match self
            .map
            .values()
            .find(|d| d.id != id && d.config.is_push() && d.config.sn.as_deref() == Some(sn))
        {
            Some(holder) => Err(WriteError::SerialTaken {
                sn: sn.to_string(),
                holder: holder.id.clone(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn changes_are_persisted_atomically_and_keep_unknown_fields() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        std::fs::write(
            &path,
            r#"{"a": {"ip": "10.0.0.1", "color": "red", "password": 5}}"#,
        )
        .unwrap();
        let reg = Registry::load(&path).unwrap();
        let b = DeviceConfig::from_json("b", &serde_json::json!({"ip": "10.0.0.2", "name": "B"}))
            .unwrap();
        reg.insert("b", b.clone()).unwrap();
        assert_eq!(
            reg.insert("b", b).unwrap_err(),
            WriteError::Exists("b".into())
        );
        reg.update("a", |c| {
            Ok(DeviceConfig {
                port: 4371,
                ..c.clone()
            })
        })
        .unwrap();
        let reloaded = Registry::load(&path).unwrap();
        assert_eq!(reloaded.ids(), vec!["a", "b"]);
        let a = reloaded.get("a").unwrap();
        assert_eq!((a.config.port, a.config.password), (4371, 5));
        assert_eq!(a.config.raw["color"], "red");
        reg.remove("a").unwrap();
        assert_eq!(reg.remove("a"), Err(WriteError::NotFound("a".into())));
        assert_eq!(Registry::load(&path).unwrap().ids(), vec!["b"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_never_lose_an_update() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-conc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        let reg = Arc::new(Registry::load(&path).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let reg = reg.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let cfg =
                            DeviceConfig::from_json("x", &serde_json::json!({"ip": "127.0.0.1"}))
                                .unwrap();
                        reg.insert(&format!("d{t}_{i}"), cfg).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(Registry::load(&path).unwrap().ids().len(), 80);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Every kind of write (register, change, rename, delete) on a file
    /// with pull and push entries leaves a file the next start loads, and
    /// a file with `"ip": ""` on a push entry (written by 0.x before this
    /// was fixed) loads and is cleaned at the next write.
    #[test]
    fn every_write_leaves_a_file_the_next_start_loads() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-push-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        std::fs::write(
            &path,
            r#"{"principal": {"ip": "10.0.0.1", "name": "Principal"},
                "sucursal": {"mode": "push", "sn": "SUC1", "name": "Sucursal", "ip": "",
                             "port": 4370, "password": 0, "timeout": 5}}"#,
        )
        .unwrap();
        let reg = Registry::load(&path).unwrap();
        let loads = |what: &str| {
            let text = std::fs::read_to_string(&path).unwrap();
            Registry::load(&path).unwrap_or_else(|e| panic!("after {what}: {e}\n{text}"));
            text
        };
        let api = |settings: Value| {
            let mut cfg = DeviceConfig::new("x");
            cfg.apply_settings(settings.as_object().unwrap()).unwrap();
            cfg
        };
        reg.insert(
            "recepcion",
            api(serde_json::json!({"name": "Recepción", "mode": "push", "sn": "REC1", "timezone": "-04:00"})),
        )
        .unwrap();
        let text = loads("registering a push terminal");
        let written: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = written["recepcion"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["name", "mode", "sn", "timezone"], "{text}");
        assert!(written["sucursal"].get("ip").is_none(), "cleaned: {text}");
        reg.insert(
            "bodega",
            api(serde_json::json!({"name": "Bodega", "ip": "10.0.0.2"})),
        )
        .unwrap();
        loads("registering a pull terminal");
        for (id, change) in [
            (
                "recepcion",
                serde_json::json!({"name": "Recepción 2", "timezone": null}),
            ),
            ("sucursal", serde_json::json!({"sn": "SUC2", "ip": ""})),
            ("bodega", serde_json::json!({"port": 4371})),
            ("bodega", serde_json::json!({"mode": "push", "sn": "BOD1"})),
            ("bodega", serde_json::json!({"mode": "pull"})),
        ] {
            reg.update(id, |c| {
                let mut c = c.clone();
                c.apply_settings(change.as_object().unwrap())?;
                Ok(c)
            })
            .unwrap();
            loads(&format!("changing {id} with {change}"));
        }
        reg.remove("principal").unwrap();
        loads("deleting a terminal");
        // An empty address is refused where one is needed.
        let err = reg
            .update("bodega", |c| {
                let mut c = c.clone();
                c.apply_settings(serde_json::json!({"ip": ""}).as_object().unwrap())?;
                Ok(c)
            })
            .unwrap_err();
        assert!(
            matches!(&err, WriteError::Invalid(m) if m.to_string().contains("'ip'")),
            "{err:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_serial_belongs_to_one_device() {
        let file = r#"{"a": {"mode": "push", "sn": "SN1", "name": "A"},
                        "b": {"mode": "push", "sn": "SN1", "name": "B"}}"#;
        let err = parse_devices(file).unwrap_err().to_string();
        assert!(
            err.contains("'SN1'") && err.contains("'a'") && err.contains("'b'"),
            "{err}"
        );
        let reg =
            Registry::in_memory(parse_devices(r#"{"a": {"mode": "push", "sn": "SN1"}}"#).unwrap());
        assert_eq!(reg.by_serial("SN1").map(|d| d.id.clone()), Some("a".into()));
        assert!(reg.by_serial("SN2").is_none());
        let mut other = DeviceConfig::new("B");
        other.mode = DeviceMode::Push;
        other.sn = Some("SN1".into());
        assert_eq!(
            reg.insert("b", other.clone()).unwrap_err(),
            WriteError::SerialTaken {
                sn: "SN1".into(),
                holder: "a".into()
            }
        );
        other.sn = Some("SN2".into());
        reg.insert("b", other).unwrap();
        let taken = reg.update("b", |c| {
            let mut c = c.clone();
            c.sn = Some("SN1".into());
            Ok(c)
        });
        assert!(matches!(taken, Err(WriteError::SerialTaken { .. })));
        // A device keeps its own serial when it is updated.
        assert!(reg.update("a", |c| Ok(c.clone())).is_ok());
    }

    #[test]
    fn the_serial_index_follows_every_change() {
        let file: String = (0..500)
            .map(|i| format!(r#""p{i:03}": {{"mode": "push", "sn": "PB{i:03}"}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let reg = Registry::in_memory(parse_devices(&format!("{{{file}}}")).unwrap());
        for i in [0, 7, 499] {
            let found = reg.by_serial(&format!("PB{i:03}")).map(|d| d.id.clone());
            assert_eq!(found, Some(format!("p{i:03}")));
        }
        let mut config = DeviceConfig::new("N");
        config.mode = DeviceMode::Push;
        config.sn = Some("NEW1".into());
        reg.insert("n", config).unwrap();
        assert_eq!(
            reg.by_serial("NEW1").map(|d| d.id.clone()),
            Some("n".into())
        );
        // A new serial replaces the old one; the device found is the new config.
        reg.update("n", |c| {
            let mut c = c.clone();
            c.sn = Some("NEW2".into());
            Ok(c)
        })
        .unwrap();
        assert!(reg.by_serial("NEW1").is_none());
        let found = reg.by_serial("NEW2").expect("found by its new serial");
        assert_eq!(found.config.sn.as_deref(), Some("NEW2"));
        // A pull device is not found by the serial it keeps.
        reg.update("n", |c| {
            let mut c = c.clone();
            c.mode = DeviceMode::Pull;
            c.ip = "10.0.0.9".into();
            Ok(c)
        })
        .unwrap();
        assert!(reg.by_serial("NEW2").is_none());
        reg.remove("p007").unwrap();
        assert!(reg.by_serial("PB007").is_none());
        assert_eq!(
            reg.by_serial("PB008").map(|d| d.id.clone()),
            Some("p008".into())
        );
    }

    #[test]
    fn a_file_that_cannot_be_written_changes_nothing_and_keeps_the_cause() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let reg = Registry::load(&dir.join("devices.json")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let cfg = DeviceConfig::from_json("x", &serde_json::json!({"ip": "10.0.0.1"})).unwrap();
        match reg.insert("x", cfg) {
            Err(WriteError::Io { path, error }) => {
                assert_eq!(path, dir.join("devices.json"));
                assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
                assert!(io_error_es(error.get()).starts_with("no existe"));
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert!(reg.all().is_empty(), "nothing changed");
    }
}
