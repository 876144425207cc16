//! A person's fields as the API takes them (API Part 7), with the users
//! API's limits: name up to 24 characters without controls (U+2028 and
//! U+2029 included), keypad password up to 8 letters or digits (no space
//! or `=` could reach a terminal's command line), card up to 4294967295,
//! privilege 0 or 14, areas a list of non-empty texts. Every refusal is a
//! Spanish sentence naming the field; none quotes a password.

use serde_json::{Map, Value};

use crate::fields::{self, Fields};
use crate::journal::PersonChanges;
use crate::messages::people as msg;

/// Most areas one person may list.
pub const MAX_AREAS: usize = 32;
/// Longest area name, in characters.
pub const MAX_AREA: usize = 64;

/// What the fields are read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `POST /people`: a name is required.
    Create,
    /// `PUT /people/{id}`: only the given fields.
    Update,
    /// An entry of an export: an empty name is allowed, and the export's
    /// own keys (`updated_at`, `deleted_at`) are not refused.
    Restore,
}

/// The keys a body may hold besides the person's fields, per mode.
fn extra_keys(mode: Mode) -> &'static [&'static str] {
    match mode {
        Mode::Create | Mode::Update => &["user_id"],
        Mode::Restore => &["user_id", "updated_at", "deleted_at"],
    }
}

/// The person's fields the body gives (`Err`: the Spanish 400).
pub fn changes(body: &Map<String, Value>, mode: Mode) -> Result<PersonChanges, String> {
    const FIELDS: [&str; 5] = ["name", "card", "password", "privilege", "areas"];
    if let Some(unknown) = body
        .keys()
        .find(|k| !FIELDS.contains(&k.as_str()) && !extra_keys(mode).contains(&k.as_str()))
    {
        return Err(msg::unknown_field(unknown));
    }
    let name = name(body, mode)?;
    if mode == Mode::Create && name.as_deref().is_none_or(str::is_empty) {
        return Err(msg::BAD_NAME.into());
    }
    Ok(PersonChanges {
        name,
        card: card(body)?,
        password: password(body)?,
        privilege: privilege(body)?,
        areas: areas(body)?,
    })
}

/// `name`: 1–24 characters (0 in a restore), no control characters.
fn name(body: &Map<String, Value>, mode: Mode) -> Result<Option<String>, String> {
    let Some(value) = body.get("name") else {
        return Ok(None);
    };
    let Value::String(name) = value else {
        return Err(msg::BAD_NAME.into());
    };
    // Controls are looked for before trimming: U+2028/U+2029 count as
    // white space and would be trimmed away unseen.
    if name.chars().any(fields::is_control) {
        return Err(msg::BAD_NAME.into());
    }
    let name = name.trim();
    let empty_ok = mode == Mode::Restore;
    if !fields::valid_user_name(name) || (name.is_empty() && !empty_ok) {
        return Err(msg::BAD_NAME.into());
    }
    Ok(Some(name.to_string()))
}

/// `card`: a number up to 4294967295 (0 or null: no card).
fn card(body: &Map<String, Value>) -> Result<Option<Option<u64>>, String> {
    match body.get("card") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(_) => {
            let n = Fields(body)
                .int("card", 0, i64::from(u32::MAX))
                .map_err(|_| msg::BAD_CARD.to_string())?
                .and_then(|n| u64::try_from(n).ok());
            Ok(Some(n.filter(|n| *n != 0)))
        }
    }
}

/// `password`: up to 8 letters or digits, taken exactly as sent (no
/// trimming: a space is refused, not dropped); null or "" removes it.
fn password(body: &Map<String, Value>) -> Result<Option<Option<String>>, String> {
    let text = match body.get("password") {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(_) => return Err(msg::BAD_PASSWORD.into()),
    };
    if !fields::valid_user_password(&text) {
        return Err(msg::BAD_PASSWORD.into());
    }
    Ok(Some((!text.is_empty()).then_some(text)))
}

/// `privilege`: 0 (user) or 14 (administrator).
fn privilege(body: &Map<String, Value>) -> Result<Option<u8>, String> {
    match body.get("privilege") {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => Ok(Some(0)),
            Some(14) => Ok(Some(14)),
            _ => Err(msg::BAD_PRIVILEGE.into()),
        },
        Some(_) => Err(msg::BAD_PRIVILEGE.into()),
    }
}

/// `areas`: 1–32 non-empty texts of up to 64 characters, no controls;
/// repeats dropped.
fn areas(body: &Map<String, Value>) -> Result<Option<Vec<String>>, String> {
    let Some(value) = body.get("areas") else {
        return Ok(None);
    };
    let list = value.as_array().ok_or(msg::BAD_AREAS)?;
    if list.is_empty() || list.len() > MAX_AREAS {
        return Err(msg::BAD_AREAS.into());
    }
    let mut areas: Vec<String> = Vec::new();
    for item in list {
        let raw = item.as_str().ok_or(msg::BAD_AREAS)?;
        let area = raw.trim();
        let fits = (1..=MAX_AREA).contains(&area.chars().count());
        if !fits || raw.chars().any(fields::is_control) {
            return Err(msg::BAD_AREAS.into());
        }
        if !areas.iter().any(|a| a == area) {
            areas.push(area.to_string());
        }
    }
    Ok(Some(areas))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: &Value, mode: Mode) -> Result<PersonChanges, String> {
        changes(body.as_object().expect("an object"), mode)
    }

    #[test]
    fn each_bad_field_is_refused_naming_it() {
        for (body, field) in [
            (json!({"name": "a\u{2028}b"}), "'name'"),
            (json!({"name": "x".repeat(25)}), "'name'"),
            (json!({"name": "a\nb"}), "'name'"),
            (json!({"name": "Jefe\u{2029}"}), "'name'"),
            (json!({"name": 5}), "'name'"),
            (json!({"name": "A", "password": "12 4"}), "'password'"),
            (json!({"name": "A", "password": "1=2"}), "'password'"),
            (json!({"name": "A", "password": "123456789"}), "'password'"),
            (json!({"name": "A", "card": 4_294_967_296_u64}), "'card'"),
            (json!({"name": "A", "card": "12a"}), "'card'"),
            (json!({"name": "A", "privilege": 3}), "'privilege'"),
            (json!({"name": "A", "areas": []}), "'areas'"),
            (json!({"name": "A", "areas": [""]}), "'areas'"),
            (json!({"name": "A", "areas": "oficina"}), "'areas'"),
            (json!({"name": "A", "areas": [3]}), "'areas'"),
            (json!({"name": "A", "areas": ["a\u{2029}"]}), "'areas'"),
            (json!({"name": "A", "apodo": "x"}), "'apodo'"),
        ] {
            let err = read(&body, Mode::Create).expect_err(&body.to_string());
            assert!(err.contains(field), "{body}: {err}");
            assert!(!err.contains("12 4") && !err.contains("1=2"), "{err}");
        }
        assert!(
            read(&json!({}), Mode::Create).is_err(),
            "a name is required"
        );
    }

    #[test]
    fn good_fields_are_taken_and_null_removes() {
        let c = read(
            &json!({"name": " Sofía Moreno ", "card": 998_877, "password": "1234",
                   "privilege": 14, "areas": ["oficina", "bodega", "oficina"]}),
            Mode::Create,
        )
        .expect("valid");
        assert_eq!(c.name.as_deref(), Some("Sofía Moreno"));
        assert_eq!(c.card, Some(Some(998_877)));
        assert_eq!(c.password, Some(Some("1234".into())));
        assert_eq!(c.privilege, Some(14));
        assert_eq!(c.areas, Some(vec!["oficina".into(), "bodega".into()]));
        let c = read(&json!({"card": null, "password": ""}), Mode::Update).expect("valid");
        assert_eq!((c.card, c.password, c.name), (Some(None), Some(None), None));
        assert!(read(&json!({"name": "", "updated_at": "x"}), Mode::Restore).is_ok());
    }
}
