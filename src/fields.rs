//! Typed readers for the fields of a JSON object (a request body, an entry
//! of the devices file). A bad field is a [`FieldError`] (its name and
//! what it must be) that [`crate::messages::fields`] says in Spanish; the
//! readers still hand back that sentence, as their callers in `http` and
//! `registry` take it.

use serde_json::{Map, Value};

/// A field of a JSON object that is not what it must be.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field's name.
    pub field: String,
    /// What it must be.
    pub kind: FieldKind,
}

/// What a field must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldKind {
    /// A text.
    Text,
    /// An integer within these bounds.
    Integer {
        /// The least.
        min: i64,
        /// The most.
        max: i64,
    },
    /// A number within these bounds.
    Number {
        /// The least.
        min: f64,
        /// The most.
        max: f64,
    },
    /// `true` or `false`.
    Boolean,
}

impl FieldError {
    /// `field` is not a `kind`.
    pub fn new(field: &str, kind: FieldKind) -> FieldError {
        FieldError {
            field: field.to_string(),
            kind,
        }
    }
}

impl std::fmt::Display for FieldError {
    /// The catalogue's Spanish sentence.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::messages::fields::field_error(self))
    }
}

impl std::error::Error for FieldError {}

/// The Spanish sentence, for callers whose errors are still sentences.
impl From<FieldError> for String {
    fn from(e: FieldError) -> String {
        e.to_string()
    }
}

/// Typed access to the fields of a body; errors name the field.
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    fn present(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// True when the field is present and not null.
    pub fn has(&self, name: &str) -> bool {
        self.present(name).is_some()
    }

    /// A string field (numbers are accepted and turned into text when `numbers_ok`).
    pub fn text(&self, name: &str, numbers_ok: bool) -> Result<Option<String>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) if numbers_ok => Ok(Some(n.to_string())),
            Some(_) => Err(FieldError::new(name, FieldKind::Text)),
        }
    }

    /// An integer field within `min..=max` (a numeric string is accepted too).
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, FieldError> {
        let bad = || FieldError::new(name, FieldKind::Integer { min, max });
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|v| (min..=max).contains(v))
                .map(Some)
                .ok_or_else(bad),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .map(Some)
                .ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }

    /// A number field within `min..=max`.
    pub fn number(&self, name: &str, min: f64, max: f64) -> Result<Option<f64>, FieldError> {
        let bad = || FieldError::new(name, FieldKind::Number { min, max });
        let v = match self.present(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        v.filter(|v| *v >= min && *v <= max)
            .map(Some)
            .ok_or_else(bad)
    }

    /// A boolean field.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(FieldError::new(name, FieldKind::Boolean)),
        }
    }
}

/// Longest user id (PIN): terminals hold 24 characters.
pub const MAX_USER_ID: usize = 24;
/// Longest user name, in characters.
pub const MAX_USER_NAME: usize = 24;
/// Longest keypad password.
pub const MAX_USER_PASSWORD: usize = 8;

/// A character no name may hold: C0/C1 controls, and the line and
/// paragraph separators (U+2028, U+2029) that break lines as well.
pub fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A user id as the users API takes it: 1–24 ASCII letters or digits (no
/// space, `=` or tab could ever reach a command line).
pub fn valid_user_id(id: &str) -> bool {
    (1..=MAX_USER_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A user name as the users API takes it, empty allowed (the API also
/// requires one to create a user): up to 24 characters, no controls.
pub fn valid_user_name(name: &str) -> bool {
    name.chars().count() <= MAX_USER_NAME && !name.chars().any(is_control)
}

/// A keypad password as the users API takes it: up to 8 letters or digits.
pub fn valid_user_password(password: &str) -> bool {
    password.len() <= MAX_USER_PASSWORD && password.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A card number as the users API takes it (empty: none): digits up to
/// 4294967295.
pub fn valid_user_card(card: &str) -> bool {
    card.is_empty()
        || (card.len() <= 10
            && card.bytes().all(|b| b.is_ascii_digit())
            && card.parse::<u64>().is_ok_and(|n| n <= u64::from(u32::MAX)))
}

/// `name` as the users API would take it: controls dropped, cut to 24
/// characters (a copy stored before these rules must not block a change).
pub fn fit_user_name(name: &str) -> String {
    name.chars()
        .filter(|c| !is_control(*c))
        .take(MAX_USER_NAME)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_fields_follow_the_api_rules() {
        assert!(valid_user_id("78") && valid_user_id(&"9".repeat(24)));
        for bad in ["", "78 Pri=14", "7=8", "7\t8", &"9".repeat(25), "ñ"] {
            assert!(!valid_user_id(bad), "{bad:?}");
        }
        assert!(valid_user_name("") && valid_user_name("Ana Pérez"));
        for bad in [
            "a\u{2028}b",
            "a\u{2029}",
            "a\nb",
            "a\u{85}",
            &"x".repeat(25),
        ] {
            assert!(!valid_user_name(bad), "{bad:?}");
        }
        assert!(valid_user_password("") && valid_user_password("abc123"));
        assert!(!valid_user_password("123456789") && !valid_user_password("12 4"));
        assert!(valid_user_card("") && valid_user_card("4294967295"));
        assert!(!valid_user_card("4294967296") && !valid_user_card("12a"));
        assert_eq!(fit_user_name("Jefe\u{2028}Falso"), "JefeFalso");
        assert_eq!(fit_user_name(&"x".repeat(100)).chars().count(), 24);
    }
}
