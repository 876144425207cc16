//! The device registry: devices loaded from the devices file (the original
//! server's format), each with its own lock so that one terminal holds one
//! conversation at a time while different terminals run in parallel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};

use crate::fields::Fields;
use crate::text::Encoding;
use crate::zk::ConnectOptions;

/// Default ZK port.
pub const DEFAULT_PORT: u16 = 4370;
/// Default per-phase timeout, seconds.
pub const DEFAULT_TIMEOUT: f64 = 5.0;
/// Shortest per-phase timeout accepted, seconds.
pub const MIN_TIMEOUT: f64 = 0.1;
/// Longest per-phase timeout accepted, seconds.
pub const MAX_TIMEOUT: f64 = 300.0;

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
    /// Where new punches are POSTed (`http://` or `https://`), if anywhere.
    pub webhook: Option<String>,
    /// Every field of the file entry, unknown ones included, kept for rewriting.
    pub raw: Map<String, Value>,
}

impl DeviceConfig {
    /// A configuration with every setting at its default and no address.
    pub fn new(name: &str) -> DeviceConfig {
        DeviceConfig {
            ip: String::new(),
            port: DEFAULT_PORT,
            password: 0,
            timeout: DEFAULT_TIMEOUT,
            name: name.to_string(),
            force_udp: false,
            encoding: "utf-8".into(),
            created_at: None,
            updated_at: None,
            webhook: None,
            raw: Map::new(),
        }
    }

    /// Reads an entry of the devices file; the error names the device and
    /// the field. Accepts exactly what the registry API accepts.
    pub fn from_json(id: &str, value: &Value) -> Result<DeviceConfig, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("el dispositivo '{id}' no es un objeto JSON"))?;
        let mut config = DeviceConfig::new(id);
        let named = |msg: String| format!("dispositivo '{id}': {msg}");
        config.apply_settings(obj).map_err(named)?;
        if config.ip.is_empty() {
            return Err(named("falta el campo 'ip'.".into()));
        }
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        config.created_at = text("created_at");
        config.updated_at = text("updated_at");
        config.raw = obj.clone();
        Ok(config)
    }

    /// Applies the settings present in `fields` (`name`, `ip`, `port`,
    /// `password`, `timeout`, `force_udp`, `encoding`): the one parser of
    /// device settings, shared by the devices file and the registry API.
    /// The error names the bad field.
    pub fn apply_settings(&mut self, fields: &Map<String, Value>) -> Result<(), String> {
        let f = Fields(fields);
        if let Some(name) = f.text("name", true)? {
            if name.is_empty() || name.chars().count() > 100 {
                return Err("Campo 'name' inválido: debe tener de 1 a 100 caracteres.".into());
            }
            self.name = name;
        }
        if let Some(ip) = f.text("ip", false)? {
            if !valid_host(&ip) {
                return Err(format!(
                    "Campo 'ip' inválido: '{ip}' no es una dirección IP ni un nombre de host."
                ));
            }
            self.ip = ip;
        }
        if let Some(port) = f.int("port", 1, 65535)? {
            self.port = port as u16;
        }
        if let Some(password) = f.int("password", 0, i64::from(u32::MAX))? {
            self.password = password as u32;
        }
        if let Some(timeout) = f.number("timeout", MIN_TIMEOUT, MAX_TIMEOUT)? {
            self.timeout = timeout;
        }
        if let Some(udp) = f.boolean("force_udp")? {
            self.force_udp = udp;
        }
        if fields.contains_key("webhook") {
            self.webhook = match f.text("webhook", false)? {
                None => None,
                Some(url) if url.is_empty() => None,
                Some(url) => {
                    crate::url::validate_webhook_url(&url)?;
                    Some(url)
                }
            };
        }
        if let Some(enc) = f.text("encoding", false)? {
            if Encoding::parse(&enc).is_none() {
                return Err(format!(
                    "Campo 'encoding' inválido: '{enc}'. Use utf-8, latin1 o cp1252."
                ));
            }
            self.encoding = enc;
        }
        Ok(())
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
            ("webhook", self.webhook.clone().map(Value::from)),
            ("created_at", self.created_at.clone().map(Value::from)),
            ("updated_at", self.updated_at.clone().map(Value::from)),
        ];
        if self.webhook.is_none() {
            obj.shift_remove("webhook");
        }
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
            operation_limit: crate::zk::DEFAULT_OPERATION_LIMIT,
        }
    }

    /// `ip:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// An IPv4/IPv6 address or a host name.
pub fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    // All digits and dots but not a valid IPv4: a typo, not a host name.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return false;
    }
    (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

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
}

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
        };
        let mut devices = Devices::default();
        for (id, config) in entries {
            devices.order.push(id.clone());
            devices
                .map
                .insert(id.clone(), Arc::new(Device { id, config }));
        }
        *reg.devices.write() = devices;
        reg
    }

    /// Adds a device; refused if the id exists. Persists before it is visible.
    pub fn insert(&self, id: &str, config: DeviceConfig) -> Result<Arc<Device>, WriteError> {
        self.change(|devices| {
            if devices.map.contains_key(id) {
                return Err(WriteError::Exists(id.to_string()));
            }
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
        edit: impl FnOnce(&DeviceConfig) -> Result<DeviceConfig, String>,
    ) -> Result<Arc<Device>, WriteError> {
        self.change(|devices| {
            let current = devices
                .map
                .get(id)
                .ok_or_else(|| WriteError::NotFound(id.to_string()))?;
            let config = edit(&current.config).map_err(WriteError::Invalid)?;
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
            (r#"{"a": {"ip": ""}}"#, "'ip'"),
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

    #[test]
    fn hosts() {
        for ok in ["192.168.1.205", "::1", "reloj-1.oficina.lan", "localhost"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["999.1.1.1", "1.2.3", "", "a..b", "-x", "with space", "a_b"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn the_file_and_the_api_accept_the_same_settings() {
        for (field, value) in [
            ("timeout", serde_json::json!(0.05)),
            ("timeout", serde_json::json!(301)),
            ("ip", serde_json::json!("999.1.1.1")),
            ("port", serde_json::json!(0)),
            ("name", serde_json::json!("")),
            ("force_udp", serde_json::json!("yes")),
        ] {
            let mut entry = serde_json::json!({"ip": "10.0.0.1"});
            entry[field] = value.clone();
            let from_file = DeviceConfig::from_json("a", &entry).unwrap_err();
            let from_api = DeviceConfig::new("a")
                .apply_settings(entry.as_object().unwrap())
                .unwrap_err();
            assert!(
                from_file.ends_with(&from_api),
                "{field}={value}: {from_file} / {from_api}"
            );
            assert!(from_api.contains(&format!("'{field}'")), "{from_api}");
        }
        let ok = serde_json::json!({"ip": "reloj.lan", "timeout": 0.1, "port": "4371"});
        let config = DeviceConfig::from_json("a", &ok).unwrap();
        assert_eq!((config.timeout, config.port), (0.1, 4371));
    }

    #[test]
    fn missing_file_is_empty() {
        let reg = Registry::load(Path::new("/nonexistent/zkserver/devices.json")).unwrap();
        assert!(reg.all().is_empty());
    }
}
