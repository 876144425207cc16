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
    /// Held for the whole conversation with the terminal.
    pub lock: Mutex<()>,
}

#[derive(Debug, Default)]
struct Devices {
    order: Vec<String>,
    map: HashMap<String, Arc<Device>>,
}

/// All configured terminals, in file order.
#[derive(Debug)]
pub struct Registry {
    path: Option<PathBuf>,
    devices: RwLock<Devices>,
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
        let reg = Registry::in_memory(entries);
        Ok(Registry {
            path: Some(path.to_path_buf()),
            ..reg
        })
    }

    /// A registry that lives only in memory (used by `--demo` and tests).
    pub fn in_memory(entries: Vec<(String, DeviceConfig)>) -> Registry {
        let mut devices = Devices::default();
        for (id, config) in entries {
            devices.order.push(id.clone());
            let lock = Mutex::new(());
            devices
                .map
                .insert(id.clone(), Arc::new(Device { id, config, lock }));
        }
        Registry {
            path: None,
            devices: RwLock::new(devices),
        }
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
    fn missing_file_is_empty() {
        let reg = Registry::load(Path::new("/nonexistent/zkserver/devices.json")).unwrap();
        assert!(reg.all().is_empty());
    }
}
