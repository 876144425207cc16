//! The devices file's format: its text into entries, and entries into
//! its text. Refuses what serde_json alone would accept silently.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::device::DeviceConfig;
use super::error::DevicesFileError;
use super::id::check_file_id;
use super::json_syntax::{self, JsonSyntax};
use super::strict_json;
use super::Devices;

/// The devices file text: a pretty JSON object in registry order.
pub(super) fn to_file_text(devices: &Devices) -> String {
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
pub fn parse_devices(text: &str) -> Result<Vec<(String, DeviceConfig)>, DevicesFileError> {
    let top = strict_json::parse(text).map_err(|e| match e {
        strict_json::Error::Json(e) => json_error(text, &e),
        strict_json::Error::Duplicate { device: None, key } => DevicesFileError::DuplicateId(key),
        strict_json::Error::Duplicate {
            device: Some(device),
            key,
        } => DevicesFileError::DuplicateField { device, key },
    })?;
    let strict_json::Top::Object(entries) = top else {
        return Err(DevicesFileError::NotAnObject(strict_json::kind(&top)));
    };
    let devices = entries
        .into_iter()
        .map(|(id, v)| {
            check_file_id(&id)?;
            let config = DeviceConfig::from_json(&id, &v)?;
            Ok((id, config))
        })
        .collect::<Result<Vec<_>, DevicesFileError>>()?;
    check_unique_serials(&devices)?;
    Ok(devices)
}

/// serde_json's error as a value: where it says (line, column), and what
/// is there as the scanner finds it in `text` (serde_json's English
/// sentence is for nobody). The end of the text needs no scanning.
fn json_error(text: &str, e: &serde_json::Error) -> DevicesFileError {
    let syntax = match e.classify() {
        serde_json::error::Category::Eof => Some(JsonSyntax::UnexpectedEnd),
        _ => json_syntax::diagnose(text),
    };
    DevicesFileError::Json {
        line: e.line(),
        column: e.column(),
        syntax,
    }
}

/// Refuses a file where two push devices claim one serial number.
fn check_unique_serials(devices: &[(String, DeviceConfig)]) -> Result<(), DevicesFileError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (id, config) in devices.iter().filter(|(_, c)| c.is_push()) {
        let Some(sn) = config.sn.as_deref() else {
            continue;
        };
        if let Some(first) = seen.insert(sn, id) {
            return Err(DevicesFileError::SerialTwice {
                sn: sn.to_string(),
                first: first.to_string(),
                second: id.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use proptest::prelude::*;

    /// What is wrong in a devices file is a value (the catalogue writes
    /// it in Spanish), never a sentence read back from serde_json.
    #[test]
    fn a_bad_file_is_a_typed_error() {
        use crate::registry::{JsonKind, SettingError};
        use DevicesFileError as E;
        let json = |line, column, syntax| E::Json {
            line,
            column,
            syntax: Some(syntax),
        };
        let entry = |error| E::Entry {
            id: "a".into(),
            error,
        };
        for (text, want) in [
            (
                r#"{"a": {"ip": "x"} "b": 1}"#,
                json(1, 19, JsonSyntax::ExpectedCommaOrBrace),
            ),
            ("{\n  \"a\": }", json(2, 8, JsonSyntax::ExpectedValue)),
            (r#"{"a": {"#, json(1, 7, JsonSyntax::UnexpectedEnd)),
            (r#"{"a": {}, "a": {}}"#, E::DuplicateId("a".into())),
            ("[]", E::NotAnObject(JsonKind::Array)),
            (r#"{"a": 5}"#, E::EntryNotObject("a".into())),
            (
                r#"{"A": {"ip": "10.0.0.1"}}"#,
                E::IdNotNormal {
                    id: "A".into(),
                    normal: "a".into(),
                },
            ),
            (r#"{"ñ": {"ip": "10.0.0.1"}}"#, E::IdInvalid("ñ".into())),
            (r#"{"a": {"port": 1}}"#, entry(SettingError::MissingIp)),
            (
                r#"{"a": {"ip": "x", "mode": "pul"}}"#,
                entry(SettingError::Mode("pul".into())),
            ),
            (
                r#"{"b": {"mode": "push", "sn": "S"}, "c": {"mode": "push", "sn": "S"}}"#,
                E::SerialTwice {
                    sn: "S".into(),
                    first: "b".into(),
                    second: "c".into(),
                },
            ),
        ] {
            assert_eq!(parse_devices(text).unwrap_err(), want, "{text}");
        }
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
            let err = parse_devices(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn an_id_twice_is_refused_not_silently_dropped() {
        let text = r#"{"principal": {"ip": "10.0.0.1"}, "bodega": {"ip": "10.0.0.2"},
                       "principal": {"ip": "10.0.0.3"}}"#;
        let err = parse_devices(text).unwrap_err().to_string();
        assert!(err.contains("'principal' aparece más de una vez"), "{err}");
        assert!(err.contains("renombre o borre"), "{err}");
        let text = r#"{"a": {"ip": "10.0.0.1", "port": 1, "ip": "10.0.0.2"}}"#;
        let err = parse_devices(text).unwrap_err().to_string();
        assert!(
            err.contains("dispositivo 'a'") && err.contains("'ip'"),
            "{err}"
        );
        let text = r#"{"a": {"ip": "10.0.0.1", "extra": {"k": 1, "k": 2}}}"#;
        let err = parse_devices(text).unwrap_err().to_string();
        assert!(
            err.contains("dispositivo 'a'") && err.contains("'k'"),
            "{err}"
        );
    }

    #[test]
    fn ids_must_be_in_normal_form() {
        let err = parse_devices(r#"{"Entrada Principal": {"ip": "10.0.0.1"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'Entrada Principal'") && err.contains("'entrada_principal'"),
            "{err}"
        );
        let err = parse_devices(r#"{"ñandú": {"ip": "10.0.0.1"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'ñandú' no es válido"), "{err}");
        let err = parse_devices(r#"{"": {"ip": "10.0.0.1"}}"#)
            .unwrap_err()
            .to_string();
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
            let err = parse_devices(text).unwrap_err().to_string();
            assert!(
                err.contains("se esperaba un objeto JSON con un dispositivo por id"),
                "{err}"
            );
            assert!(err.ends_with(&format!("contiene {what}.")), "{err}");
        }
        let err = parse_devices(r#"{"devices": [{"ip": "10.0.0.1"}]}"#)
            .unwrap_err()
            .to_string();
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
            let err = parse_devices(text).unwrap_err().to_string();
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
}
