//! What a bad field of a JSON object (a request body, an entry of the
//! devices file) is told as.

use crate::fields::{FieldError, FieldKind};

/// `Campo 'x' inválido: …`, saying what the field must be.
pub fn field_error(e: &FieldError) -> String {
    let name = &e.field;
    match e.kind {
        FieldKind::Text => format!("Campo '{name}' inválido: debe ser un texto."),
        FieldKind::Integer { min, max } => {
            format!("Campo '{name}' inválido: debe ser un número entero entre {min} y {max}.")
        }
        FieldKind::Number { min, max } => {
            format!("Campo '{name}' inválido: debe ser un número entre {min} y {max}.")
        }
        FieldKind::Boolean => format!("Campo '{name}' inválido: debe ser true o false."),
    }
}

#[cfg(test)]
mod tests {
    use crate::fields::{FieldError, FieldKind, Fields};
    use serde_json::json;

    #[test]
    fn each_bad_field_is_named_with_what_it_must_be() {
        let body = json!({"name": 5, "port": "x", "timeout": true, "collect": "sí", "n": 7});
        let f = Fields(body.as_object().expect("an object"));
        assert_eq!(
            f.text("name", false).unwrap_err().to_string(),
            "Campo 'name' inválido: debe ser un texto."
        );
        assert_eq!(f.text("n", true), Ok(Some("7".into())));
        assert_eq!(
            f.int("port", 1, 65535).unwrap_err().to_string(),
            "Campo 'port' inválido: debe ser un número entero entre 1 y 65535."
        );
        assert_eq!(
            f.number("timeout", 0.5, 60.0).unwrap_err().to_string(),
            "Campo 'timeout' inválido: debe ser un número entre 0.5 y 60."
        );
        assert_eq!(
            f.boolean("collect").unwrap_err().to_string(),
            "Campo 'collect' inválido: debe ser true o false."
        );
        let typed = FieldError::new("port", FieldKind::Integer { min: 1, max: 9 });
        assert_eq!(
            String::from(typed),
            "Campo 'port' inválido: debe ser un número entero entre 1 y 9."
        );
    }
}
