//! The one parser of device settings, shared by the devices file and the
//! registry API: each refused setting is a [`SettingError`] naming its field.

use serde_json::{Map, Value};

use super::device::{DeviceConfig, DeviceMode, MAX_AREA, MAX_TIMEOUT, MIN_TIMEOUT};
use super::error::SettingError;
use super::offset::parse_utc_offset;
use crate::fields::Fields;
use crate::text::Encoding;

impl DeviceConfig {
    /// Applies the settings present in `fields` (`name`, `ip`, `port`,
    /// `password`, `timeout`, `force_udp`, `encoding`, `webhook`, `mode`,
    /// `sn`, `timezone`, `collect`, `area`, `push_forward`): the one parser of
    /// device settings, shared by the devices file and the registry API.
    /// The error names the bad field.
    pub fn apply_settings(&mut self, fields: &Map<String, Value>) -> Result<(), SettingError> {
        let f = Fields(fields);
        self.apply_push_settings(&f)?;
        if let Some(name) = f.text("name", true)? {
            if name.is_empty() || name.chars().count() > 100 {
                return Err(SettingError::NameLength);
            }
            self.name = name;
        }
        if let Some(ip) = f.text("ip", false)? {
            // A push terminal needs no address: an empty one means none.
            let no_address = ip.is_empty() && self.is_push();
            if !no_address && !valid_host(&ip) {
                return Err(SettingError::Host(ip));
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
                    crate::url::check_http_url(&url).map_err(|error| SettingError::Url {
                        field: "webhook",
                        error,
                    })?;
                    Some(url)
                }
            };
        }
        if let Some(enc) = f.text("encoding", false)? {
            if Encoding::parse(&enc).is_none() {
                return Err(SettingError::Encoding(enc));
            }
            self.encoding = enc;
        }
        Ok(())
    }

    /// `mode`, `sn`, `timezone`, `collect` and `push_forward`.
    fn apply_push_settings(&mut self, f: &Fields) -> Result<(), SettingError> {
        if let Some(mode) = f.text("mode", false)? {
            self.mode = match mode.as_str() {
                "pull" => DeviceMode::Pull,
                "push" => DeviceMode::Push,
                _ => return Err(SettingError::Mode(mode)),
            };
        }
        if let Some(sn) = f.text("sn", true)? {
            if !valid_serial(&sn) {
                return Err(SettingError::Serial(sn));
            }
            self.sn = Some(sn);
        }
        if f.has("timezone") || f.0.get("timezone").is_some_and(Value::is_null) {
            self.timezone = match f.text("timezone", false)? {
                Some(tz) if !tz.is_empty() => {
                    if parse_utc_offset(&tz).is_none() {
                        return Err(SettingError::Timezone(tz));
                    }
                    Some(tz)
                }
                _ => None,
            };
        }
        if let Some(collect) = f.boolean("collect")? {
            self.collect = collect;
        }
        if let Some(area) = f.text("area", true)? {
            self.area = parse_area(&area)?;
        }
        if f.0.contains_key("push_forward") {
            self.push_forward = match f.text("push_forward", false)? {
                Some(url) if !url.is_empty() => {
                    crate::url::check_http_url(&url).map_err(|error| SettingError::Url {
                        field: "push_forward",
                        error,
                    })?;
                    Some(url)
                }
                _ => None,
            };
        }
        self.apply_trust_settings(f)
    }

    /// `allow_from` (addresses or networks; `[]` or null: none) and
    /// `push_key` (`""` or null: none).
    fn apply_trust_settings(&mut self, f: &Fields) -> Result<(), SettingError> {
        if f.0.contains_key("allow_from") {
            self.allow_from = parse_allow_from(f.0.get("allow_from"))?;
        }
        if f.0.contains_key("push_key") {
            self.push_key = match f.text("push_key", true)? {
                Some(key) if !key.is_empty() => {
                    if key.len() > MAX_PUSH_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(SettingError::PushKey);
                    }
                    Some(key)
                }
                _ => None,
            };
        }
        Ok(())
    }
}

/// Longest `push_key`.
pub const MAX_PUSH_KEY: usize = 64;
/// Most `allow_from` entries of one device.
pub const MAX_ALLOW_FROM: usize = 32;

/// The `allow_from` field: a list of addresses or networks (null: none).
fn parse_allow_from(value: Option<&Value>) -> Result<Vec<String>, SettingError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(SettingError::AllowFromShape),
    };
    if items.len() > MAX_ALLOW_FROM {
        return Err(SettingError::AllowFromTooMany);
    }
    items
        .iter()
        .map(|item| {
            let text = item.as_str().ok_or(SettingError::AllowFromShape)?.trim();
            if crate::ipnet::IpNet::parse(text).is_none() {
                return Err(SettingError::AllowFromEntry(text.to_string()));
            }
            Ok(text.to_string())
        })
        .collect()
}

/// An area name: 1–[`MAX_AREA`] characters without controls, not `*`
/// (which, in a person's areas, means every terminal).
fn parse_area(text: &str) -> Result<String, SettingError> {
    let area = text.trim();
    let fits = (1..=MAX_AREA).contains(&area.chars().count());
    if !fits || area == "*" || area.chars().any(char::is_control) {
        return Err(SettingError::Area(text.to_string()));
    }
    Ok(area.to_string())
}

/// A terminal serial number as push firmware sends it (`SN=`): 1–64
/// ASCII letters, digits, `-` or `_`.
pub fn valid_serial(sn: &str) -> bool {
    (1..=64).contains(&sn.len())
        && sn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A refused setting is a value naming what was wrong; the catalogue
    /// writes it in Spanish.
    #[test]
    fn a_refused_setting_is_a_typed_error() {
        for (settings, want) in [
            (json!({"name": ""}), SettingError::NameLength),
            (
                json!({"ip": "999.1.1.1"}),
                SettingError::Host("999.1.1.1".into()),
            ),
            (json!({"encoding": "x"}), SettingError::Encoding("x".into())),
            (json!({"sn": "A B"}), SettingError::Serial("A B".into())),
            (
                json!({"timezone": "UTC"}),
                SettingError::Timezone("UTC".into()),
            ),
            (json!({"push_key": "a b"}), SettingError::PushKey),
            (json!({"allow_from": "x"}), SettingError::AllowFromShape),
            (
                json!({"allow_from": ["x"]}),
                SettingError::AllowFromEntry("x".into()),
            ),
        ] {
            let refused = DeviceConfig::new("a").apply_settings(settings.as_object().unwrap());
            assert_eq!(refused, Err(want), "{settings}");
        }
        let refused =
            DeviceConfig::new("a").apply_settings(json!({"port": 0}).as_object().unwrap());
        assert!(
            matches!(&refused, Err(SettingError::Field(e)) if e.field == "port"),
            "{refused:?}"
        );
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
            let from_file = DeviceConfig::from_json("a", &entry)
                .unwrap_err()
                .to_string();
            let from_api = DeviceConfig::new("a")
                .apply_settings(entry.as_object().unwrap())
                .unwrap_err()
                .to_string();
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
            let err = DeviceConfig::from_json("a", &Value::Object(obj))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("'{field}' inválido")),
                "{value}: {err}"
            );
        }
    }
}
