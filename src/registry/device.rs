//! A configured terminal's settings: the model, how it is read from an
//! entry of the devices file and written back.

use std::time::Duration;

use serde_json::{Map, Value};

use super::error::{DevicesFileError, SettingError};
use crate::zk::ConnectOptions;

/// Default ZK port.
pub const DEFAULT_PORT: u16 = 4370;
/// Default per-phase timeout, seconds.
pub const DEFAULT_TIMEOUT: f64 = 5.0;
/// Shortest per-phase timeout accepted, seconds.
pub const MIN_TIMEOUT: f64 = 0.1;
/// Longest per-phase timeout accepted, seconds.
pub const MAX_TIMEOUT: f64 = 300.0;
/// The area of a device that names none (API Part 7).
pub const DEFAULT_AREA: &str = "general";
/// Longest area name, in characters.
pub const MAX_AREA: usize = 64;

/// How zkserver and a terminal talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceMode {
    /// zkserver connects to the terminal (ZK binary protocol, port 4370).
    #[default]
    Pull,
    /// The terminal uploads to zkserver over HTTP (`/iclock`, "ADMS").
    Push,
}

impl DeviceMode {
    /// The name in the devices file and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceMode::Pull => "pull",
            DeviceMode::Push => "push",
        }
    }
}

/// One configured terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    /// Pull (we connect) or push (it uploads to us).
    pub mode: DeviceMode,
    /// A push terminal's serial number (how its uploads are recognised).
    pub sn: Option<String>,
    /// A push terminal's UTC offset (`-04:00`); `None`: the server's.
    pub timezone: Option<String>,
    /// A pull terminal whose punches are kept in the journal.
    pub collect: bool,
    /// Where a push terminal's `/iclock` requests are relayed, if anywhere.
    pub push_forward: Option<String>,
    /// Addresses or networks a push terminal's requests may come from
    /// (`203.0.113.7`, `10.2.0.0/16`); empty: pinned to its first address.
    pub allow_from: Vec<String>,
    /// The push comm key set on the terminal (`pushcommkey`); a secret,
    /// never shown by the API nor logged.
    pub push_key: Option<String>,
    pub ip: String,
    pub port: u16,
    pub password: u32,
    /// Seconds.
    pub timeout: f64,
    pub name: String,
    pub force_udp: bool,
    /// Text encoding of names on the terminal (`utf-8`, `latin1`, `cp1252`, `gbk`).
    pub encoding: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// Where new punches are POSTed (`http://` or `https://`), if anywhere.
    pub webhook: Option<String>,
    /// The area whose people the terminal holds (staff list, API Part 7).
    pub area: String,
    /// Every field of the file entry, unknown ones included, kept for rewriting.
    pub raw: Map<String, Value>,
}

impl DeviceConfig {
    /// A configuration with every setting at its default and no address.
    pub fn new(name: &str) -> DeviceConfig {
        DeviceConfig {
            mode: DeviceMode::Pull,
            sn: None,
            timezone: None,
            collect: false,
            push_forward: None,
            allow_from: Vec::new(),
            push_key: None,
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
            area: DEFAULT_AREA.into(),
            raw: Map::new(),
        }
    }

    /// Reads an entry of the devices file; the error names the device and
    /// the field. Accepts exactly what the registry API accepts.
    pub fn from_json(id: &str, value: &Value) -> Result<DeviceConfig, DevicesFileError> {
        let obj = value
            .as_object()
            .ok_or_else(|| DevicesFileError::EntryNotObject(id.to_string()))?;
        let mut config = DeviceConfig::new(id);
        let named = |error: SettingError| DevicesFileError::Entry {
            id: id.to_string(),
            error,
        };
        config.apply_settings(obj).map_err(named)?;
        config.check_complete().map_err(named)?;
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        config.created_at = text("created_at");
        config.updated_at = text("updated_at");
        config.raw = obj.clone();
        Ok(config)
    }

    /// Whether the settings say enough to reach the terminal: an `ip` for
    /// a pull terminal, an `sn` for a push one. The error names the field.
    pub fn check_complete(&self) -> Result<(), SettingError> {
        match self.mode {
            DeviceMode::Pull if self.ip.is_empty() => Err(SettingError::MissingIp),
            DeviceMode::Push if self.sn.is_none() => Err(SettingError::MissingSn),
            _ => Ok(()),
        }
    }

    /// Whether this terminal uploads to us (`/iclock`).
    pub fn is_push(&self) -> bool {
        self.mode == DeviceMode::Push
    }

    /// Whether the entry carries the pull connection fields (`ip`, `port`,
    /// `password`, `timeout`): a pull terminal always, a push terminal only
    /// when it keeps an address (e.g. it was a pull terminal before).
    pub(super) fn has_address(&self) -> bool {
        !self.is_push() || !self.ip.is_empty()
    }

    /// The entry as written to the devices file: every field it was read
    /// with (unknown ones included, in their order), known ones normalised.
    /// A push entry without an address has no `ip`, `port`, `password` or
    /// `timeout`: it stays `mode`, `sn`, `name`, `timezone` and dates.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut obj = self.raw.clone();
        let address = self.has_address();
        let timeout = if self.timeout.fract() == 0.0 {
            Value::from(self.timeout as u64)
        } else {
            Value::from(self.timeout)
        };
        let optional = |present: bool, v: Value| present.then_some(v);
        let fields = [
            ("name", Some(Value::from(self.name.clone()))),
            ("ip", address.then(|| Value::from(self.ip.clone()))),
            ("port", address.then(|| Value::from(self.port))),
            ("password", address.then(|| Value::from(self.password))),
            ("timeout", address.then_some(timeout)),
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
            (
                "mode",
                optional(
                    self.is_push() || obj.contains_key("mode"),
                    Value::from(self.mode.as_str()),
                ),
            ),
            ("sn", self.sn.clone().map(Value::from)),
            ("timezone", self.timezone.clone().map(Value::from)),
            (
                "collect",
                optional(
                    self.collect || obj.contains_key("collect"),
                    Value::from(self.collect),
                ),
            ),
            ("push_forward", self.push_forward.clone().map(Value::from)),
            (
                "allow_from",
                (!self.allow_from.is_empty()).then(|| Value::from(self.allow_from.clone())),
            ),
            ("push_key", self.push_key.clone().map(Value::from)),
            ("created_at", self.created_at.clone().map(Value::from)),
            ("updated_at", self.updated_at.clone().map(Value::from)),
        ];
        for (key, absent) in [
            ("webhook", self.webhook.is_none()),
            ("sn", self.sn.is_none()),
            ("timezone", self.timezone.is_none()),
            ("push_forward", self.push_forward.is_none()),
            ("ip", !address),
            ("port", !address),
            ("password", !address),
            ("timeout", !address),
            ("allow_from", self.allow_from.is_empty()),
            ("push_key", self.push_key.is_none()),
        ] {
            if absent {
                obj.shift_remove(key);
            }
        }
        for (key, value) in fields {
            if let Some(v) = value {
                obj.insert(key.into(), v);
            }
        }
        self.insert_area(&mut obj);
        obj
    }

    /// Writes `area` into `obj` unless it is the default and was not written.
    fn insert_area(&self, obj: &mut Map<String, Value>) {
        if self.area != DEFAULT_AREA || obj.contains_key("area") {
            obj.insert("area".into(), Value::from(self.area.clone()));
        }
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

    /// How the terminal is reached, for logs: `ip:port`, or `push SN …`.
    pub fn describe(&self) -> String {
        match (&self.mode, &self.sn) {
            (DeviceMode::Push, Some(sn)) => format!("push SN {sn}"),
            _ => self.address(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_devices_need_a_serial_not_an_address() {
        let push = serde_json::json!({"mode": "push", "sn": "CKJ1234567", "name": "Recepción",
                                      "timezone": "-04:00", "created_at": "2026-12-01 08:00:00"});
        let cfg = DeviceConfig::from_json("recepcion", &push).unwrap();
        assert!(cfg.is_push());
        assert_eq!(cfg.sn.as_deref(), Some("CKJ1234567"));
        assert_eq!(cfg.describe(), "push SN CKJ1234567");
        let written = cfg.to_json();
        assert_eq!(written["mode"], "push");
        assert_eq!(written["timezone"], "-04:00");
        assert!(!written.contains_key("collect"));
        let no_sn = serde_json::json!({"mode": "push", "name": "x"});
        let err = DeviceConfig::from_json("x", &no_sn)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'sn'"), "{err}");
        for (field, value) in [
            ("mode", "pulll"),
            ("sn", "CK J"),
            ("timezone", "UTC-4"),
            ("timezone", "+15:00"),
        ] {
            let mut obj = push.as_object().unwrap().clone();
            obj.insert(field.into(), value.into());
            let err = DeviceConfig::from_json("x", &Value::Object(obj))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("'{field}'")),
                "{field}={value}: {err}"
            );
        }
        let pull =
            DeviceConfig::from_json("p", &serde_json::json!({"ip": "10.0.0.2", "collect": true}));
        assert!(pull.unwrap().collect);
    }

    #[test]
    fn a_device_is_in_area_general_unless_it_names_one() {
        let plain = DeviceConfig::from_json("p", &serde_json::json!({"ip": "10.0.0.2"})).unwrap();
        assert_eq!(plain.area, DEFAULT_AREA);
        assert!(
            !plain.to_json().contains_key("area"),
            "the default is not written"
        );
        let json = serde_json::json!({"ip": "10.0.0.2", "area": " almacén "});
        let placed = DeviceConfig::from_json("p", &json).unwrap();
        assert_eq!(placed.area, "almacén");
        assert_eq!(placed.to_json()["area"], "almacén");
        for bad in ["", "*", "a\nb"] {
            let json = serde_json::json!({"ip": "10.0.0.2", "area": bad});
            let err = DeviceConfig::from_json("p", &json).unwrap_err().to_string();
            assert!(err.contains("'area'"), "{bad:?}: {err}");
        }
    }
}
