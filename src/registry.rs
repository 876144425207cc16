//! The device registry: devices loaded from the devices file (the original
//! server's format), each with its own lock so that one terminal holds one
//! conversation at a time while different terminals run in parallel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};

use crate::zk::ConnectOptions;

/// Default ZK port.
pub const DEFAULT_PORT: u16 = 4370;
/// Default per-phase timeout, seconds.
pub const DEFAULT_TIMEOUT: f64 = 5.0;

/// One configured terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub ip: String,
    pub port: u16,
    pub password: u32,
    /// Seconds.
    pub timeout: f64,
    pub name: String,
    pub force_udp: bool,
    /// Text encoding of names on the terminal (`utf-8`, `latin1`, `cp1252`).
    pub encoding: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// Every field of the file entry, unknown ones included, kept for rewriting.
    pub raw: Map<String, Value>,
}

impl DeviceConfig {
    /// Reads an entry of the devices file; the error names the field.
    pub fn from_json(id: &str, value: &Value) -> Result<DeviceConfig, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("el dispositivo '{id}' no es un objeto JSON"))?;
        let ip = match obj.get("ip") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                return Err(format!(
                    "el dispositivo '{id}' no tiene un campo 'ip' válido"
                ))
            }
        };
        let port = match obj.get("port") {
            None | Some(Value::Null) => DEFAULT_PORT,
            Some(v) => int_field(v)
                .filter(|p| (1..=65535).contains(p))
                .ok_or_else(|| format!("el dispositivo '{id}' tiene un 'port' inválido: {v}"))?
                as u16,
        };
        let password = match obj.get("password") {
            None | Some(Value::Null) => 0,
            Some(v) => int_field(v)
                .filter(|p| (0..=i64::from(u32::MAX)).contains(p))
                .ok_or_else(|| format!("el dispositivo '{id}' tiene un 'password' inválido"))?
                as u32,
        };
        let timeout = match obj.get("timeout") {
            None | Some(Value::Null) => DEFAULT_TIMEOUT,
            Some(v) => v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|t| *t > 0.0 && *t <= 300.0)
                .ok_or_else(|| format!("el dispositivo '{id}' tiene un 'timeout' inválido: {v}"))?,
        };
        let name = match obj.get("name") {
            Some(Value::String(s)) => s.clone(),
            _ => id.to_string(),
        };
        let force_udp = match obj.get("force_udp") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(format!(
                    "el dispositivo '{id}' tiene un 'force_udp' inválido: {v}"
                ))
            }
        };
        let encoding = match obj.get("encoding") {
            None | Some(Value::Null) => "utf-8".to_string(),
            Some(Value::String(s)) if crate::text::Encoding::parse(s).is_some() => s.clone(),
            Some(v) => {
                return Err(format!(
                    "el dispositivo '{id}' tiene un 'encoding' no soportado: {v}"
                ))
            }
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(DeviceConfig {
            ip,
            port,
            password,
            timeout,
            name,
            force_udp,
            encoding,
            created_at: text("created_at"),
            updated_at: text("updated_at"),
            raw: obj.clone(),
        })
    }

    /// The entry as written to the devices file: every field it was read
    /// with (unknown ones included, in their order), known ones normalised.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut obj = self.raw.clone();
        let timeout = if self.timeout.fract() == 0.0 {
            Value::from(self.timeout as u64)
        } else {
            Value::from(self.timeout)
        };
        let optional = |present: bool, v: Value| present.then_some(v);
        let fields = [
            ("name", Some(Value::from(self.name.clone()))),
            ("ip", Some(Value::from(self.ip.clone()))),
            ("port", Some(Value::from(self.port))),
            ("password", Some(Value::from(self.password))),
            ("timeout", Some(timeout)),
            (
                "force_udp",
                optional(
                    self.force_udp || obj.contains_key("force_udp"),
                    Value::from(self.force_udp),
                ),
            ),
            (
                "encoding",
                optional(
                    self.encoding != "utf-8" || obj.contains_key("encoding"),
                    Value::from(self.encoding.clone()),
                ),
            ),
            ("created_at", self.created_at.clone().map(Value::from)),
            ("updated_at", self.updated_at.clone().map(Value::from)),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                obj.insert(key.into(), v);
            }
        }
        obj
    }

    /// How the ZK client reaches this terminal.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            host: self.ip.clone(),
            port: self.port,
            password: self.password,
            timeout: Duration::from_secs_f64(self.timeout),
            udp: self.force_udp,
        }
    }

    /// `ip:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// An integer given as a JSON number or a numeric string.
fn int_field(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A registered terminal and the lock that serialises conversations with it.
#[derive(Debug)]
pub struct Device {
    pub id: String,
    pub config: DeviceConfig,
    /// Held for the whole conversation with the terminal. Shared by every
    /// version of the device's configuration, so an update never lets two
    /// conversations reach one terminal.
    pub lock: Arc<Mutex<()>>,
    /// Coordinates concurrent attendance downloads (shared like `lock`).
    pub downloads: Arc<crate::downloads::Downloads>,
}

#[derive(Debug, Default, Clone)]
struct Devices {
    order: Vec<String>,
    map: HashMap<String, Arc<Device>>,
}

/// What stays the same for a terminal id across configuration changes.
type PerTerminal = (Arc<Mutex<()>>, Arc<crate::downloads::Downloads>);

/// Why a registry change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The id is taken.
    Exists(String),
    /// No device has this id.
    NotFound(String),
    /// The requested change is invalid (the message names the field).
    Invalid(String),
    /// The devices file could not be written (nothing changed).
    Io(String),
}

/// All configured terminals, in file order.
#[derive(Debug)]
pub struct Registry {
    path: Option<PathBuf>,
    devices: RwLock<Devices>,
    /// Serialises writers: read, modify, persist and swap happen under it.
    writer: Mutex<()>,
    /// One conversation lock and download coordinator per id ever seen.
    locks: Mutex<HashMap<String, PerTerminal>>,
}

impl Registry {
    /// Loads the devices file; a missing file is an empty registry.
    pub fn load(path: &Path) -> Result<Registry, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::from("{}"),
            Err(e) => return Err(format!("no se pudo leer {}: {e}", path.display())),
        };
        let entries = parse_devices(&text).map_err(|e| format!("{}: {e}", path.display()))?;
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
            locks: Mutex::new(HashMap::new()),
        };
        let mut devices = Devices::default();
        for (id, config) in entries {
            devices.order.push(id.clone());
            devices.map.insert(id.clone(), reg.make_device(id, config));
        }
        *reg.devices.write() = devices;
        reg
    }

    fn make_device(&self, id: String, config: DeviceConfig) -> Arc<Device> {
        let (lock, downloads) = self.locks.lock().entry(id.clone()).or_default().clone();
        Arc::new(Device {
            id,
            config,
            lock,
            downloads,
        })
    }

    /// Adds a device; refused if the id exists. Persists before it is visible.
    pub fn insert(&self, id: &str, config: DeviceConfig) -> Result<Arc<Device>, WriteError> {
        self.change(|devices| {
            if devices.map.contains_key(id) {
                return Err(WriteError::Exists(id.to_string()));
            }
            let device = self.make_device(id.to_string(), config);
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
        edit: impl FnOnce(&DeviceConfig) -> Result<DeviceConfig, String>,
    ) -> Result<Arc<Device>, WriteError> {
        self.change(|devices| {
            let current = devices
                .map
                .get(id)
                .ok_or_else(|| WriteError::NotFound(id.to_string()))?;
            let config = edit(&current.config).map_err(WriteError::Invalid)?;
            let device = self.make_device(id.to_string(), config);
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
        if let Some(path) = &self.path {
            let text = to_file_text(&next);
            crate::atomic_file::write(path, text.as_bytes(), 0o600).map_err(|e| {
                log::error!("could not write {}: {e}", path.display());
                WriteError::Io(format!("{}: {e}", path.display()))
            })?;
        }
        *self.devices.write() = next;
        Ok(out)
    }

    /// The file this registry persists to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
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
}

/// The devices file text: a pretty JSON object in registry order.
fn to_file_text(devices: &Devices) -> String {
    let mut obj = Map::new();
    for id in &devices.order {
        if let Some(d) = devices.map.get(id) {
            obj.insert(id.clone(), Value::Object(d.config.to_json()));
        }
    }
    let mut text =
        serde_json::to_string_pretty(&Value::Object(obj)).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// Parses the devices file text into entries in file order.
pub fn parse_devices(text: &str) -> Result<Vec<(String, DeviceConfig)>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("JSON inválido: {e}"))?;
    let obj = value
        .as_object()
        .ok_or("se esperaba un objeto JSON con los dispositivos por id")?;
    obj.iter()
        .map(|(id, v)| Ok((id.clone(), DeviceConfig::from_json(id, v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_original_format_keeping_order_and_unknown_fields() {
        let text = r#"{
          "zeta": {"ip": "192.168.1.205", "port": 4370, "password": 0, "timeout": 5,
                   "name": "Entrada Principal", "created_at": "2026-03-01 08:00:00", "color": "red"},
          "alpha": {"ip": "10.0.0.2", "password": "123", "force_udp": true, "encoding": "latin1"}
        }"#;
        let entries = parse_devices(text).unwrap();
        assert_eq!(entries[0].0, "zeta");
        assert_eq!(entries[0].1.raw["color"], "red");
        assert_eq!(entries[1].1.port, 4370);
        assert_eq!(entries[1].1.password, 123);
        assert_eq!(entries[1].1.name, "alpha");
        assert!(entries[1].1.force_udp);
        let reg = Registry::in_memory(entries);
        assert_eq!(reg.ids(), vec!["zeta", "alpha"]);
    }

    #[test]
    fn bad_entries_name_the_problem() {
        for (text, needle) in [
            (r#"{"a": {"port": 1}}"#, "'ip'"),
            (r#"{"a": {"ip": "x", "port": 70000}}"#, "'port'"),
            (r#"{"a": {"ip": "x", "timeout": -1}}"#, "'timeout'"),
            (r#"{"a": {"ip": "x", "encoding": "klingon"}}"#, "'encoding'"),
            (r#"[1]"#, "objeto"),
            (r#"{"a": "#, "JSON"),
        ] {
            let err = parse_devices(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

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
        let old_lock = reg.get("a").unwrap().lock.clone();
        reg.update("a", |c| {
            Ok(DeviceConfig {
                port: 4371,
                ..c.clone()
            })
        })
        .unwrap();
        assert!(
            Arc::ptr_eq(&old_lock, &reg.get("a").unwrap().lock),
            "lock survives updates"
        );
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

    #[test]
    fn missing_file_is_empty() {
        let reg = Registry::load(Path::new("/nonexistent/zkserver/devices.json")).unwrap();
        assert!(reg.all().is_empty());
    }
}
