//! Reading JSON request bodies: bounded size, clear Spanish errors naming the
//! problem, and typed field readers that name the bad field.

use std::io::Read;

use rouille::Response;
use serde_json::{Map, Value};

use super::Ctx;

/// Largest accepted request body.
pub const MAX_BODY: usize = 64 * 1024;

/// Message for a missing body.
pub const BODY_REQUIRED: &str = "Body JSON requerido.";

fn too_large(ctx: &Ctx) -> Response {
    ctx.error(413, "Body demasiado grande: el máximo es 64 KiB.")
}

/// Reads the body as a JSON object. With `required` false an empty body is
/// an empty object.
pub fn json_object(ctx: &Ctx, required: bool) -> Result<Map<String, Value>, Response> {
    let declared = ctx
        .req
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large(ctx));
    }
    let mut bytes = Vec::new();
    if let Some(body) = ctx.req.data() {
        if body
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut bytes)
            .is_err()
        {
            return Err(ctx.error(400, "No se pudo leer el body de la petición."));
        }
    }
    if bytes.len() > MAX_BODY {
        return Err(too_large(ctx));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(ctx.error(400, BODY_REQUIRED))
        } else {
            Ok(Map::new())
        };
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ctx.error(400, "El body debe ser un objeto JSON.")),
        Err(e) => Err(ctx.error(
            400,
            &format!(
                "Body JSON inválido (línea {}, columna {}).",
                e.line(),
                e.column()
            ),
        )),
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
