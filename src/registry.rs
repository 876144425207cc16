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
            raw: Map::new(),
        }
    }

    /// Reads an entry of the devices file; the error names the device and
    /// the field. Accepts exactly what the registry API accepts.
    pub fn from_json(id: &str, value: &Value) -> Result<DeviceConfig, String> {
        let obj = value.as_object().ok_or_else(|| {
            format!(
                "el dispositivo '{id}' no es un objeto JSON: escriba sus datos como \
                 {{\"ip\": \"192.168.1.205\", \"port\": 4370}}."
            )
        })?;
        let mut config = DeviceConfig::new(id);
        let named = |msg: String| format!("dispositivo '{id}': {msg}");
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
    pub fn check_complete(&self) -> Result<(), String> {
        match self.mode {
            DeviceMode::Pull if self.ip.is_empty() => Err("falta el campo 'ip'.".into()),
            DeviceMode::Push if self.sn.is_none() => {
                Err("falta el campo 'sn' (número de serie del terminal push).".into())
            }
            _ => Ok(()),
        }
    }

    /// Whether this terminal uploads to us (`/iclock`).
    pub fn is_push(&self) -> bool {
        self.mode == DeviceMode::Push
    }

    /// Applies the settings present in `fields` (`name`, `ip`, `port`,
    /// `password`, `timeout`, `force_udp`, `encoding`, `webhook`, `mode`,
    /// `sn`, `timezone`, `collect`, `push_forward`): the one parser of
    /// device settings, shared by the devices file and the registry API.
    /// The error names the bad field.
    pub fn apply_settings(&mut self, fields: &Map<String, Value>) -> Result<(), String> {
        let f = Fields(fields);
        self.apply_push_settings(&f)?;
        if let Some(name) = f.text("name", true)? {
            if name.is_empty() || name.chars().count() > 100 {
                return Err("Campo 'name' inválido: debe tener de 1 a 100 caracteres.".into());
            }
            self.name = name;
        }
        if let Some(ip) = f.text("ip", false)? {
            // A push terminal needs no address: an empty one means none.
            let no_address = ip.is_empty() && self.is_push();
            if !no_address && !valid_host(&ip) {
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
                    "Campo 'encoding' inválido: '{enc}'. Use utf-8, latin1, cp1252 o gbk."
                ));
            }
            self.encoding = enc;
        }
        Ok(())
    }

    /// `mode`, `sn`, `timezone`, `collect` and `push_forward`.
    fn apply_push_settings(&mut self, f: &Fields) -> Result<(), String> {
        if let Some(mode) = f.text("mode", false)? {
            self.mode = match mode.as_str() {
                "pull" => DeviceMode::Pull,
                "push" => DeviceMode::Push,
                _ => {
                    return Err(format!(
                        "Campo 'mode' inválido: '{}'. Use pull o push.",
                        crate::text::cut(&mode, 80)
                    ))
                }
            };
        }
        if let Some(sn) = f.text("sn", true)? {
            if !valid_serial(&sn) {
                return Err(format!(
                    "Campo 'sn' inválido: '{}'. Use de 1 a 64 letras, números, '-' o '_'.",
                    crate::text::cut(&sn, 80)
                ));
            }
            self.sn = Some(sn);
        }
        if f.has("timezone") || f.0.get("timezone").is_some_and(Value::is_null) {
            self.timezone = match f.text("timezone", false)? {
                Some(tz) if !tz.is_empty() => {
                    if parse_utc_offset(&tz).is_none() {
                        return Err(format!(
                            "Campo 'timezone' inválido: '{}'. Use un desfase UTC como -04:00 o +01:00.",
                            crate::text::cut(&tz, 80)
                        ));
                    }
                    Some(tz)
                }
                _ => None,
            };
        }
        if let Some(collect) = f.boolean("collect")? {
            self.collect = collect;
        }
        if f.0.contains_key("push_forward") {
            self.push_forward = match f.text("push_forward", false)? {
                Some(url) if !url.is_empty() => {
                    crate::url::validate_forward_url(&url)?;
                    Some(url)
                }
                _ => None,
            };
        }
        self.apply_trust_settings(f)
    }

    /// `allow_from` (addresses or networks; `[]` or null: none) and
    /// `push_key` (`""` or null: none).
    fn apply_trust_settings(&mut self, f: &Fields) -> Result<(), String> {
        if f.0.contains_key("allow_from") {
            self.allow_from = parse_allow_from(f.0.get("allow_from"))?;
        }
        if f.0.contains_key("push_key") {
            self.push_key = match f.text("push_key", true)? {
                Some(key) if !key.is_empty() => {
                    if key.len() > MAX_PUSH_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(format!(
                            "Campo 'push_key' inválido: use de 1 a {MAX_PUSH_KEY} letras, números o signos, sin espacios (la clave de comunicación push configurada en el terminal)."
                        ));
                    }
                    Some(key)
                }
                _ => None,
            };
        }
        Ok(())
    }

    /// Whether the entry carries the pull connection fields (`ip`, `port`,
    /// `password`, `timeout`): a pull terminal always, a push terminal only
    /// when it keeps an address (e.g. it was a pull terminal before).
    fn has_address(&self) -> bool {
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

    /// How the terminal is reached, for logs: `ip:port`, or `push SN …`.
    pub fn describe(&self) -> String {
        match (&self.mode, &self.sn) {
            (DeviceMode::Push, Some(sn)) => format!("push SN {sn}"),
            _ => self.address(),
        }
    }
}

/// Longest `push_key`.
pub const MAX_PUSH_KEY: usize = 64;
/// Most `allow_from` entries of one device.
pub const MAX_ALLOW_FROM: usize = 32;

/// The `allow_from` field: a list of addresses or networks (null: none).
fn parse_allow_from(value: Option<&Value>) -> Result<Vec<String>, String> {
    let bad_shape = || {
        "Campo 'allow_from' inválido: debe ser una lista de direcciones IP o redes, \
         ej. [\"203.0.113.7\", \"10.2.0.0/16\"]."
            .to_string()
    };
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad_shape()),
    };
    if items.len() > MAX_ALLOW_FROM {
        return Err(format!(
            "Campo 'allow_from' inválido: como máximo {MAX_ALLOW_FROM} direcciones o redes."
        ));
    }
    items
        .iter()
        .map(|item| {
            let text = item.as_str().ok_or_else(bad_shape)?.trim();
            if crate::http::proxy::ProxyNet::parse_network(text).is_none() {
                return Err(format!(
                    "Campo 'allow_from' inválido: '{}' no es una dirección IP ni una red (ej. 203.0.113.7, 10.2.0.0/16).",
                    crate::text::cut(text, 80)
                ));
            }
            Ok(text.to_string())
        })
        .collect()
}

/// A terminal serial number as push firmware sends it (`SN=`): 1–64
/// ASCII letters, digits, `-` or `_`.
pub fn valid_serial(sn: &str) -> bool {
    (1..=64).contains(&sn.len())
        && sn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A UTC offset `±HH:MM` (or `±HH`, `±HHMM`) in minutes, within ±14 h.
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.matches(':').count() > 1 {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= 14 * 60).then_some(sign * total)
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
    Io {
        /// The devices file.
        path: PathBuf,
        /// What the system said.
        error: crate::zk::error::IoError,
    },
    /// Another device (`holder`) already has this push serial number.
    SerialTaken {
        /// The serial number.
        sn: String,
        /// The device that has it.
        holder: String,
    },
}

/// `text` without a leading UTF-8 byte order mark (Windows Notepad writes
/// one): JSON and key files saved on Windows are read like any other.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
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
    /// The error is wholly Spanish, like the other startup errors and the
    /// API's messages about the same settings (the parser is shared): the
    /// admin reads it on the terminal or in the journal, so it must not mix
    /// languages — serde's English detail is paraphrased (`json_error_es`).
    pub fn load(path: &Path) -> Result<Registry, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::from("{}"),
            Err(e) => {
                return Err(format!(
                    "no se pudo leer {}: {}",
                    path.display(),
                    read_error_es(path, &e)
                ))
            }
        };
        // Windows Notepad saves UTF-8 with a byte order mark.
        let entries = parse_devices(without_bom(&text)).map_err(|e| {
            format!(
                "{}: {e} El archivo no se modificó; corríjalo y vuelva a iniciar zkserver.",
                path.display()
            )
        })?;
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
        edit: impl FnOnce(&DeviceConfig) -> Result<DeviceConfig, String>,
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
        if let Some(path) = &self.path {
            let text = to_file_text(&next);
            check_loadable(path, &text)?;
            crate::atomic_file::write(path, text.as_bytes(), 0o600).map_err(|e| {
                log::error!("could not write {}: {e}", path.display());
                WriteError::Io {
                    path: path.clone(),
                    error: e.into(),
                }
            })?;
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
        let d = self.devices.read();
        d.map
            .values()
            .find(|dev| dev.config.is_push() && dev.config.sn.as_deref() == Some(sn))
            .cloned()
    }
}

impl Devices {
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

/// When a supervisor walks every device: after a change to the registry,
/// and at least every `every` anyway. Punches wake supervisors often (every
/// journal commit); a walk of hundreds of devices each time is wasted.
#[derive(Debug)]
pub struct WalkSchedule {
    seen: Option<u64>,
    last: std::time::Instant,
    every: Duration,
}

impl WalkSchedule {
    /// A schedule whose first walk is due at once.
    pub fn new(every: Duration) -> WalkSchedule {
        WalkSchedule {
            seen: None,
            last: std::time::Instant::now(),
            every,
        }
    }

    /// Whether a walk is due now (and, if so, counts it as done).
    pub fn due(&mut self, registry: &Registry) -> bool {
        let generation = registry.generation();
        if self.seen == Some(generation) && self.last.elapsed() < self.every {
            return false;
        }
        self.seen = Some(generation);
        self.last = std::time::Instant::now();
        true
    }
}

/// Refuses to write a devices file the next start would refuse (the
/// server must always start on a file it wrote itself): nothing changes.
fn check_loadable(path: &Path, text: &str) -> Result<(), WriteError> {
    parse_devices(text).map(drop).map_err(|e| {
        log::error!(
            "{}: change not saved, the file would not load at the next start: {e}",
            path.display()
        );
        WriteError::Invalid(format!(
            "No se guardó el cambio: {} no podría leerse al iniciar zkserver ({e})",
            path.display()
        ))
    })
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

/// Parses the devices file text into entries in file order. Refuses what
/// serde_json alone would accept silently: an id (or a field) written twice
/// (it keeps the last one), ids the API could never address (not in the
/// normal form of `normalize_id`), and anything but an object of objects.
pub fn parse_devices(text: &str) -> Result<Vec<(String, DeviceConfig)>, String> {
    let top = strict::parse(text).map_err(|e| match e {
        strict::Error::Json(e) => json_error_es(&e),
        strict::Error::Duplicate { device: None, key } => format!(
            "el id '{key}' aparece más de una vez. Cada terminal necesita su propio id: \
             renombre o borre una de las entradas '{key}'."
        ),
        strict::Error::Duplicate {
            device: Some(id),
            key,
        } => format!(
            "dispositivo '{id}': el campo '{key}' aparece más de una vez. \
             Deje uno solo."
        ),
    })?;
    let strict::Top::Object(entries) = top else {
        return Err(format!(
            "se esperaba un objeto JSON con un dispositivo por id, como \
             {{\"principal\": {{\"ip\": \"192.168.1.205\"}}}}, y el archivo contiene {}.",
            strict::describe(&top)
        ));
    };
    let devices = entries
        .into_iter()
        .map(|(id, v)| {
            check_file_id(&id)?;
            let config = DeviceConfig::from_json(&id, &v)?;
            Ok((id, config))
        })
        .collect::<Result<Vec<_>, String>>()?;
    check_unique_serials(&devices)?;
    Ok(devices)
}

/// Refuses a file where two push devices claim one serial number.
fn check_unique_serials(devices: &[(String, DeviceConfig)]) -> Result<(), String> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (id, config) in devices.iter().filter(|(_, c)| c.is_push()) {
        let Some(sn) = config.sn.as_deref() else {
            continue;
        };
        if let Some(first) = seen.insert(sn, id) {
            return Err(format!(
                "el número de serie '{sn}' está en '{first}' y en '{id}'. Cada terminal \
                 push tiene su propio número de serie: corrija o borre una de las entradas."
            ));
        }
    }
    Ok(())
}

/// The rule for device ids, shared by the registry API and the devices
/// file: trimmed, lower-cased, spaces to `_`; then `[a-z0-9_-]{1,64}`.
pub fn normalize_id(raw: &str) -> Result<String, String> {
    let id: String = raw
        .trim()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_");
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(format!(
            "Campo 'id' inválido: '{}'. Use de 1 a 64 caracteres: letras a-z, números, '_' o '-'.",
            raw.trim()
        ))
    }
}

/// An id in the devices file must already be in normal form, the only form
/// the registry API creates: `Entrada Principal` would need escaping in
/// every URL, and `POST /devices` with that name would make a second
/// terminal `entrada_principal` beside it.
fn check_file_id(id: &str) -> Result<(), String> {
    match normalize_id(id) {
        Ok(normal) if normal == id => Ok(()),
        Ok(normal) => Err(format!(
            "el id '{id}' no está en forma normal: cámbielo por '{normal}' \
             (minúsculas, números, '_' o '-'), que es como lo nombra la API."
        )),
        Err(_) => Err(format!(
            "el id '{id}' no es válido: use de 1 a 64 caracteres: letras a-z (sin tildes), \
             números, '_' o '-'."
        )),
    }
}

/// serde_json's error, in Spanish: where (line, column) and what, the
/// common syntax errors paraphrased, anything else as a generic syntax error
/// (its English text is for nobody: the position says where to look).
pub fn json_error_es(e: &serde_json::Error) -> String {
    let english = e.to_string();
    let what = JSON_ERRORS_ES
        .iter()
        .find(|(en, _)| english.starts_with(en))
        .map(|(_, es)| *es);
    let what = match (what, e.classify()) {
        (Some(es), _) => es,
        (None, serde_json::error::Category::Eof) => "el texto termina antes de tiempo",
        (None, _) => "error de sintaxis",
    };
    format!(
        "JSON inválido en la línea {}, columna {}: {what}.",
        e.line(),
        e.column()
    )
}

/// serde_json's messages (their start) and a Spanish paraphrase.
const JSON_ERRORS_ES: &[(&str, &str)] = &[
    (
        "EOF while parsing",
        "el texto termina antes de tiempo (falta cerrar algo)",
    ),
    ("expected `,` or `}`", "se esperaba ',' o '}'"),
    ("expected `,` or `]`", "se esperaba ',' o ']'"),
    ("expected `:`", "se esperaba ':'"),
    ("expected value", "se esperaba un valor"),
    ("expected ident", "se esperaba true, false o null"),
    (
        "key must be a string",
        "los nombres de campo van entre comillas dobles",
    ),
    ("trailing comma", "sobra una coma antes del cierre"),
    (
        "trailing characters",
        "hay texto después del final del objeto",
    ),
    (
        "control character",
        "una cadena contiene un carácter de control (p. ej. un salto de línea)",
    ),
    (
        "invalid escape",
        "secuencia de escape no válida en una cadena",
    ),
    ("invalid number", "número no válido"),
    ("number out of range", "número fuera de rango"),
    (
        "invalid unicode code point",
        "código Unicode no válido en una cadena",
    ),
    (
        "lone leading surrogate",
        "código Unicode no válido en una cadena",
    ),
    ("unexpected end of hex escape", "secuencia \\u incompleta"),
    (
        "recursion limit exceeded",
        "demasiados niveles de anidamiento",
    ),
];

/// An I/O error in Spanish (the OS's text is English), for startup errors
/// that must not mix languages; the system's code stays for searching.
pub fn io_error_es(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let what = match e.kind() {
        K::NotFound => "no existe",
        K::PermissionDenied => "permiso denegado",
        K::InvalidData => "el archivo no es texto UTF-8",
        K::IsADirectory => "es una carpeta, no un archivo",
        K::AddrInUse => "la dirección ya está en uso",
        K::AddrNotAvailable => "la dirección no pertenece a esta máquina",
        K::InvalidInput => "dirección no válida",
        _ if e.to_string().starts_with("failed to lookup address") => {
            "no se pudo resolver el nombre de host"
        }
        _ => "error de entrada/salida",
    };
    match e.raw_os_error() {
        Some(code) => format!("{what} (código del sistema {code})"),
        None => what.to_string(),
    }
}

/// [`io_error_es`] for a file that could not be read, naming a folder
/// given for the file as such (Windows answers "access denied" there).
fn read_error_es(path: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied && path.is_dir() {
        let what = io_error_es(&std::io::Error::from(std::io::ErrorKind::IsADirectory));
        match e.raw_os_error() {
            Some(code) => format!("{what} (código del sistema {code})"),
            None => what,
        }
    } else {
        io_error_es(e)
    }
}

/// A JSON reader that, unlike `serde_json::from_str::<Value>`, notices a
/// key written twice in an object (serde_json keeps the last one silently).
mod strict {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::fmt;

    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;

    /// The document's top level.
    pub enum Top {
        /// An object: its keys and values in order.
        Object(Vec<(String, Value)>),
        /// Anything else.
        Other(Value),
    }

    /// Why the text was refused.
    pub enum Error {
        /// Not JSON.
        Json(serde_json::Error),
        /// `key` twice in the top-level object (`device: None`) or somewhere
        /// inside the entry of `device`.
        Duplicate { device: Option<String>, key: String },
    }

    /// "un array", "un número"…: what a top level that is not an object is.
    pub fn describe(top: &Top) -> &'static str {
        match top {
            Top::Object(_) => "un objeto",
            Top::Other(Value::Array(_)) => "un array",
            Top::Other(Value::String(_)) => "una cadena",
            Top::Other(Value::Number(_)) => "un número",
            Top::Other(Value::Bool(_)) => "un booleano",
            Top::Other(_) => "null",
        }
    }

    /// Reads `text`; the first duplicate key found wins over the rest.
    pub fn parse(text: &str) -> Result<Top, Error> {
        let dup = RefCell::new(None);
        let mut de = serde_json::Deserializer::from_str(text);
        let top = Seed {
            dup: &dup,
            device: None,
            depth: 0,
        }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
        if let Some((device, key)) = dup.into_inner() {
            return Err(Error::Duplicate { device, key });
        }
        match top.map_err(Error::Json)? {
            Built::Top(entries) => Ok(Top::Object(entries)),
            Built::Value(v) => Ok(Top::Other(v)),
        }
    }

    enum Built {
        Top(Vec<(String, Value)>),
        Value(Value),
    }

    impl Built {
        fn value(self) -> Value {
            match self {
                Built::Value(v) => v,
                Built::Top(entries) => Value::Object(entries.into_iter().collect()),
            }
        }
    }

    /// Where a value sits: `depth` 0 is the document, 1 a device entry.
    #[derive(Clone, Copy)]
    struct Seed<'a> {
        dup: &'a RefCell<Option<(Option<String>, String)>>,
        device: Option<&'a str>,
        depth: usize,
    }

    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = Built;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Built, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Built;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Built, E> {
            Ok(Built::Value(Value::Bool(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Built, E> {
            Ok(Built::Value(Value::from(v)))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Built, E> {
            Ok(Built::Value(Value::from(v)))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Built, E> {
            Ok(Built::Value(Value::from(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Built, E> {
            Ok(Built::Value(Value::from(v)))
        }
        fn visit_string<E>(self, v: String) -> Result<Built, E> {
            Ok(Built::Value(Value::String(v)))
        }
        fn visit_unit<E>(self) -> Result<Built, E> {
            Ok(Built::Value(Value::Null))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Built, A::Error> {
            let mut out = Vec::new();
            let inner = Seed {
                depth: self.depth + 1,
                ..self
            };
            while let Some(v) = seq.next_element_seed(inner)? {
                out.push(v.value());
            }
            Ok(Built::Value(Value::Array(out)))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Built, A::Error> {
            let mut entries: Vec<(String, Value)> = Vec::new();
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                let device = if self.depth == 0 {
                    Some(key.as_str())
                } else {
                    self.device
                };
                let value = map.next_value_seed(Seed {
                    dup: self.dup,
                    device,
                    depth: self.depth + 1,
                })?;
                if !seen.insert(key.clone()) {
                    let mut dup = self.dup.borrow_mut();
                    if dup.is_none() {
                        *dup = Some((self.device.map(str::to_string), key.clone()));
                    }
                }
                entries.push((key, value.value()));
            }
            if self.depth == 0 {
                Ok(Built::Top(entries))
            } else {
                Ok(Built::Value(Value::Object(entries.into_iter().collect())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Supervisors walk every device after a change, and otherwise only
    /// every `every`: the punches that wake them do not cause walks.
    #[test]
    fn a_walk_is_due_after_a_change_or_once_the_period_passed() {
        let reg = Registry::in_memory(Vec::new());
        let mut hourly = WalkSchedule::new(Duration::from_secs(3600));
        assert!(hourly.due(&reg), "the first walk is at once");
        assert!(!hourly.due(&reg), "nothing changed");
        let b = DeviceConfig::from_json("b", &serde_json::json!({"ip": "10.0.0.2"})).unwrap();
        reg.insert("b", b).unwrap();
        assert!(hourly.due(&reg), "a device was added");
        assert!(!hourly.due(&reg));
        reg.remove("b").unwrap();
        assert!(hourly.due(&reg), "a device was removed");
        let mut always = WalkSchedule::new(Duration::ZERO);
        assert!(always.due(&reg) && always.due(&reg), "the period passed");
    }

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
    fn an_id_twice_is_refused_not_silently_dropped() {
        let text = r#"{"principal": {"ip": "10.0.0.1"}, "bodega": {"ip": "10.0.0.2"},
                       "principal": {"ip": "10.0.0.3"}}"#;
        let err = parse_devices(text).unwrap_err();
        assert!(err.contains("'principal' aparece más de una vez"), "{err}");
        assert!(err.contains("renombre o borre"), "{err}");
        let text = r#"{"a": {"ip": "10.0.0.1", "port": 1, "ip": "10.0.0.2"}}"#;
        let err = parse_devices(text).unwrap_err();
        assert!(
            err.contains("dispositivo 'a'") && err.contains("'ip'"),
            "{err}"
        );
        let text = r#"{"a": {"ip": "10.0.0.1", "extra": {"k": 1, "k": 2}}}"#;
        let err = parse_devices(text).unwrap_err();
        assert!(
            err.contains("dispositivo 'a'") && err.contains("'k'"),
            "{err}"
        );
    }

    #[test]
    fn ids_must_be_in_normal_form() {
        let err = parse_devices(r#"{"Entrada Principal": {"ip": "10.0.0.1"}}"#).unwrap_err();
        assert!(
            err.contains("'Entrada Principal'") && err.contains("'entrada_principal'"),
            "{err}"
        );
        let err = parse_devices(r#"{"ñandú": {"ip": "10.0.0.1"}}"#).unwrap_err();
        assert!(err.contains("'ñandú' no es válido"), "{err}");
        let err = parse_devices(r#"{"": {"ip": "10.0.0.1"}}"#).unwrap_err();
        assert!(err.contains("no es válido"), "{err}");
        assert!(parse_devices(r#"{"bodega-2_b": {"ip": "10.0.0.1"}}"#).is_ok());
    }

    #[test]
    fn unknown_shapes_say_what_the_file_should_hold() {
        for (text, what) in [
            ("[]", "un array"),
            ("5", "un número"),
            ("null", "null"),
            (r#""x""#, "una cadena"),
        ] {
            let err = parse_devices(text).unwrap_err();
            assert!(
                err.contains("se esperaba un objeto JSON con un dispositivo por id"),
                "{err}"
            );
            assert!(err.ends_with(&format!("contiene {what}.")), "{err}");
        }
        let err = parse_devices(r#"{"devices": [{"ip": "10.0.0.1"}]}"#).unwrap_err();
        assert!(err.contains("'devices' no es un objeto JSON"), "{err}");
    }

    /// Startup errors are read by the admin: Spanish throughout, with
    /// serde_json's English detail paraphrased, never quoted.
    #[test]
    fn json_errors_are_spanish_throughout() {
        for (text, want) in [
            (r#"{"a": {"ip": "x"} "b": 1}"#, "se esperaba ',' o '}'"),
            (r#"{"a" {"#, "se esperaba ':'"),
            (r#"{"a": }"#, "se esperaba un valor"),
            (r#"{"a": {"ip": "x"},}"#, "sobra una coma"),
            (r#"{a: 1}"#, "comillas dobles"),
            (r#"{"a": {"#, "termina antes de tiempo"),
            ("{} x", "después del final"),
            ("", "termina antes de tiempo"),
        ] {
            let err = parse_devices(text).unwrap_err();
            assert!(
                err.starts_with("JSON inválido en la línea 1, columna"),
                "{err}"
            );
            assert!(err.contains(want), "{text}: {err}");
            for english in ["expected", " at line", "EOF", "trailing", "key must"] {
                assert!(!err.contains(english), "{text}: {err}");
            }
        }
    }

    #[test]
    fn load_errors_name_the_file_and_leave_it_alone() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        let text = "{\"x\": {\"ip\": \"10.0.0.1\"},\n \"x\": {\"ip\": \"10.0.0.2\"}}";
        std::fs::write(&path, text).unwrap();
        let err = Registry::load(&path).unwrap_err();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(
            err.contains("'x'") && err.contains("no se modificó"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Windows Notepad saves UTF-8 with a byte order mark: it is read.
    #[test]
    fn a_devices_file_saved_with_a_bom_is_read() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-bom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        let text = "\u{feff}{\"entrada\": {\"ip\": \"10.0.0.1\", \"name\": \"Entrada\"}}\r\n";
        std::fs::write(&path, text).unwrap();
        let reg = Registry::load(&path).unwrap();
        assert_eq!(reg.ids(), vec!["entrada".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn io_errors_are_spanish() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-dir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("devices.json")).unwrap();
        let err = Registry::load(&dir.join("devices.json")).unwrap_err();
        let code = if cfg!(windows) { 5 } else { 21 };
        assert!(
            err.contains(&format!(
                "es una carpeta, no un archivo (código del sistema {code})"
            )),
            "{err}"
        );
        std::fs::write(dir.join("latin1.json"), b"{\"a\xf1\": 1}").unwrap();
        let err = Registry::load(&dir.join("latin1.json")).unwrap_err();
        assert!(err.ends_with("el archivo no es texto UTF-8"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn arb_config() -> impl Strategy<Value = (String, DeviceConfig)> {
        (
            "[a-z0-9_-]{1,64}",
            "[A-Za-zÁÉÍÓÚáéíóúñÑ0-9 .\"\\\\]{1,40}",
            prop::sample::select(vec!["10.0.0.1", "::1", "reloj-1.oficina.lan", "localhost"]),
            1u16..,
            any::<u32>(),
            (1u32..3000).prop_map(|t| f64::from(t) / 10.0),
            any::<bool>(),
            prop::sample::select(vec!["utf-8", "latin1", "cp1252", "gbk"]),
            prop::option::of(prop::sample::select(vec![
                "http://127.0.0.1:9000/hook",
                "https://example.invalid/x?y=1",
            ])),
        )
            .prop_map(|(id, name, ip, port, password, timeout, udp, enc, hook)| {
                let config = DeviceConfig {
                    ip: ip.into(),
                    port,
                    password,
                    timeout,
                    force_udp: udp,
                    encoding: enc.into(),
                    webhook: hook.map(str::to_string),
                    ..DeviceConfig::new(name.trim())
                };
                (id, config)
            })
            .prop_filter("a name is 1 to 100 characters", |(_, c)| !c.name.is_empty())
    }

    /// A push terminal as the API registers it: `mode`, `sn`, maybe a
    /// `timezone`, maybe an `ip` (empty or a former pull terminal's).
    fn arb_push_config() -> impl Strategy<Value = (String, DeviceConfig)> {
        (
            "[a-z0-9_-]{1,64}",
            "[A-Za-z0-9ñ ]{0,20}",
            "[A-Z0-9_-]{1,64}",
            prop::option::of(prop::sample::select(vec!["-04:00", "+05:30", ""])),
            prop::option::of(prop::sample::select(vec!["", "10.0.0.9"])),
            any::<bool>(),
        )
            .prop_map(|(id, name, sn, timezone, ip, collect)| {
                let mut settings =
                    serde_json::json!({"mode": "push", "sn": sn, "collect": collect});
                if let Some(tz) = timezone {
                    settings["timezone"] = tz.into();
                }
                if let Some(ip) = ip {
                    settings["ip"] = ip.into();
                }
                let mut config = DeviceConfig::new(&format!("R{}", name.trim()));
                config.created_at = Some("2026-12-01 08:00:00".into());
                config
                    .apply_settings(settings.as_object().unwrap())
                    .unwrap();
                (id, config)
            })
    }

    proptest! {
        /// The server starts on every file it writes: pull and push
        /// entries mixed, as the API makes them.
        #[test]
        fn files_the_registry_writes_load_again(
            entries in prop::collection::vec(prop_oneof![arb_config(), arb_push_config()], 0..8)
        ) {
            let (mut ids, mut serials) = (std::collections::HashSet::new(), std::collections::HashSet::new());
            let entries: Vec<_> = entries
                .into_iter()
                .filter(|(id, c)| ids.insert(id.clone()) && c.sn.as_ref().is_none_or(|sn| serials.insert(sn.clone())))
                .collect();
            let text = to_file_text(&Registry::in_memory(entries.clone()).devices.read());
            let parsed = parse_devices(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            for ((_, want), (_, got)) in entries.iter().zip(&parsed) {
                prop_assert_eq!(&got.to_json(), &want.to_json());
                prop_assert_eq!((got.mode, &got.sn, &got.timezone), (want.mode, &want.sn, &want.timezone));
                if want.is_push() && want.ip.is_empty() {
                    for field in ["ip", "port", "password", "timeout"] {
                        prop_assert!(!got.to_json().contains_key(field), "{} in {}", field, text);
                    }
                }
            }
        }

        #[test]
        fn the_parser_never_panics(text in ".{0,300}") {
            let _ = parse_devices(&text);
        }

        #[test]
        fn the_parser_never_panics_on_near_json(
            parts in prop::collection::vec(prop::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"a\"", "\"ip\"", "\"10.0.0.1\"", "1",
                "-0.5e9", "null", "true", " ", "\"port\"", "\"\\u00e9\"", "\"Á b\"",
            ]), 0..60)
        ) {
            let _ = parse_devices(&parts.concat());
        }

        #[test]
        fn valid_files_round_trip(entries in prop::collection::vec(arb_config(), 0..6)) {
            let mut seen = std::collections::HashSet::new();
            let entries: Vec<_> =
                entries.into_iter().filter(|(id, _)| seen.insert(id.clone())).collect();
            let text = to_file_text(&Registry::in_memory(entries.clone()).devices.read());
            let parsed = parse_devices(&text).unwrap();
            prop_assert_eq!(parsed.len(), entries.len());
            for ((id, want), (got_id, got)) in entries.iter().zip(&parsed) {
                prop_assert_eq!(id, got_id);
                prop_assert_eq!(&got.to_json(), &want.to_json());
                prop_assert_eq!(
                    (&got.ip, got.port, got.password, got.timeout, got.force_udp),
                    (&want.ip, want.port, want.password, want.timeout, want.force_udp)
                );
                prop_assert_eq!((&got.name, &got.encoding), (&want.name, &want.encoding));
                prop_assert_eq!(&got.webhook, &want.webhook);
            }
            let again = to_file_text(&Registry::in_memory(parsed).devices.read());
            prop_assert_eq!(again, text);
        }
    }

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
        let err = DeviceConfig::from_json("x", &no_sn).unwrap_err();
        assert!(err.contains("'sn'"), "{err}");
        for (field, value) in [
            ("mode", "pulll"),
            ("sn", "CK J"),
            ("timezone", "UTC-4"),
            ("timezone", "+15:00"),
        ] {
            let mut obj = push.as_object().unwrap().clone();
            obj.insert(field.into(), value.into());
            let err = DeviceConfig::from_json("x", &Value::Object(obj)).unwrap_err();
            assert!(
                err.contains(&format!("'{field}'")),
                "{field}={value}: {err}"
            );
        }
        let pull =
            DeviceConfig::from_json("p", &serde_json::json!({"ip": "10.0.0.2", "collect": true}));
        assert!(pull.unwrap().collect);
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
            matches!(&err, WriteError::Invalid(m) if m.contains("'ip'")),
            "{err:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn push_terminals_may_be_bound_to_addresses_and_a_key() {
        let entry = serde_json::json!({"mode": "push", "sn": "SN1", "name": "A",
            "allow_from": ["203.0.113.7", " 10.2.0.0/16 ", "2001:db8::/32"], "push_key": "k-1"});
        let cfg = DeviceConfig::from_json("a", &entry).unwrap();
        assert_eq!(
            cfg.allow_from,
            ["203.0.113.7", "10.2.0.0/16", "2001:db8::/32"]
        );
        assert_eq!(cfg.push_key.as_deref(), Some("k-1"));
        let written = cfg.to_json();
        assert_eq!(
            written["push_key"], "k-1",
            "kept in the file like the password"
        );
        let again = DeviceConfig::from_json("a", &Value::Object(written)).unwrap();
        assert_eq!(
            (&again.allow_from, &again.push_key),
            (&cfg.allow_from, &cfg.push_key)
        );
        let mut cleared = cfg.clone();
        let clear = serde_json::json!({"allow_from": [], "push_key": ""});
        cleared.apply_settings(clear.as_object().unwrap()).unwrap();
        let written = cleared.to_json();
        assert!(!written.contains_key("allow_from") && !written.contains_key("push_key"));
        for (field, value) in [
            ("allow_from", serde_json::json!("10.0.0.1")),
            ("allow_from", serde_json::json!(["10.0.0.0/33"])),
            ("allow_from", serde_json::json!(["reloj.lan"])),
            ("allow_from", serde_json::json!([1])),
            ("allow_from", serde_json::json!(vec!["10.0.0.1"; 33])),
            ("push_key", serde_json::json!("con espacio")),
            ("push_key", serde_json::json!("k".repeat(65))),
            ("push_key", serde_json::json!(["k"])),
        ] {
            let mut obj = entry.as_object().unwrap().clone();
            obj.insert(field.into(), value.clone());
            let err = DeviceConfig::from_json("a", &Value::Object(obj)).unwrap_err();
            assert!(
                err.contains(&format!("'{field}' inválido")),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn utc_offsets() {
        assert_eq!(parse_utc_offset("-04:00"), Some(-240));
        assert_eq!(parse_utc_offset("+0530"), Some(330));
        assert_eq!(parse_utc_offset("+01"), Some(60));
        assert_eq!(parse_utc_offset("+14:00"), Some(840));
        for bad in [
            "", "04:00", "+4", "+04:60", "+14:01", "-04::00", "+ab:cd", "+é",
        ] {
            assert_eq!(parse_utc_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_serial_belongs_to_one_device() {
        let file = r#"{"a": {"mode": "push", "sn": "SN1", "name": "A"},
                        "b": {"mode": "push", "sn": "SN1", "name": "B"}}"#;
        let err = parse_devices(file).unwrap_err();
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

    #[test]
    fn missing_file_is_empty() {
        let reg = Registry::load(Path::new("/nonexistent/zkserver/devices.json")).unwrap();
        assert!(reg.all().is_empty());
    }
}
