//! Typed readers for the fields of a JSON object (a request body, an entry
//! of the devices file), with Spanish errors that name the bad field.

use serde_json::{Map, Value};

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
    pub fn text(&self, name: &str, numbers_ok: bool) -> Result<Option<String>, String> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) if numbers_ok => Ok(Some(n.to_string())),
            Some(_) => Err(format!("Campo '{name}' inválido: debe ser un texto.")),
        }
    }

    /// An integer field within `min..=max` (a numeric string is accepted too).
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, String> {
        let bad =
            || format!("Campo '{name}' inválido: debe ser un número entero entre {min} y {max}.");
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
    pub fn number(&self, name: &str, min: f64, max: f64) -> Result<Option<f64>, String> {
        let bad = || format!("Campo '{name}' inválido: debe ser un número entre {min} y {max}.");
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
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, String> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("Campo '{name}' inválido: debe ser true o false.")),
        }
    }
}
