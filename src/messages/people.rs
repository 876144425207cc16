//! Spanish for the staff list's API (API Part 7): people, their templates,
//! export and restore. No message ever quotes a keypad password or
//! template bytes.

use super::echo;

/// 404 for a person the list does not hold (or removed everywhere).
pub fn person_not_found(user_id: &str) -> String {
    format!("Persona '{}' no encontrada en el personal.", echo(user_id))
}

/// 409 for `POST /people` with a PIN already in the list.
pub fn person_exists(user_id: &str) -> String {
    format!(
        "La persona '{}' ya existe en el personal; use PUT /people/{} para cambiarla.",
        echo(user_id),
        echo(user_id)
    )
}

/// 201 after adding a person.
pub fn person_created(user_id: &str) -> String {
    format!("Persona '{}' añadida al personal.", echo(user_id))
}

/// 200 after changing a person.
pub fn person_updated(user_id: &str) -> String {
    format!("Persona '{}' actualizada.", echo(user_id))
}

/// 200 after deleting a person (offboarding).
pub fn person_deleted(user_id: &str) -> String {
    format!(
        "Persona '{}' dada de baja: se quitará de todos los terminales.",
        echo(user_id)
    )
}

/// 400 for `POST /people` without a `user_id`.
pub const USER_ID_REQUIRED: &str = "Campo 'user_id' requerido.";

/// 400 for a `user_id` in a `PUT` body that is not the path's.
pub const USER_ID_IN_BODY: &str =
    "Campo 'user_id' inválido: no se puede cambiar el PIN de una persona; dé de baja y cree otra.";

/// 400 for a name too long or with control characters.
pub const BAD_NAME: &str =
    "Campo 'name' inválido: hasta 24 caracteres, sin caracteres de control ni saltos de línea.";

/// 400 for a keypad password with other characters than letters and digits.
pub const BAD_PASSWORD: &str =
    "Campo 'password' inválido: hasta 8 letras o números (sin espacios ni '=').";

/// 400 for a card that is not a number up to 4294967295.
pub const BAD_CARD: &str =
    "Campo 'card' inválido: debe ser un número entero entre 0 y 4294967295, o null.";

/// 400 for a privilege other than 0 or 14.
pub const BAD_PRIVILEGE: &str =
    "Campo 'privilege' inválido: debe ser 0 (usuario) o 14 (administrador).";

/// 400 for areas that are not a list of non-empty texts.
pub const BAD_AREAS: &str = "Campo 'areas' inválido: debe ser una lista de textos no vacíos (hasta 32, de hasta 64 caracteres sin caracteres de control), p. ej. [\"*\"] o [\"oficina\"].";

/// 400 for a field `PUT`/`POST /people` does not know.
pub fn unknown_field(name: &str) -> String {
    format!(
        "Campo '{}' desconocido. Use user_id, name, card, password, privilege o areas.",
        echo(name)
    )
}

/// 400 for a `deleted` parameter that is not true/false.
pub fn bad_deleted(value: &str) -> String {
    format!(
        "Parámetro 'deleted' inválido: '{}'. Use true o false.",
        echo(value)
    )
}

/// 400 for an `area` or `q` parameter that is empty or too long.
pub fn bad_text_param(name: &str) -> String {
    format!("Parámetro '{name}' inválido: debe tener de 1 a 64 caracteres.")
}

/// 400 for a template kind that is neither finger nor face.
pub fn bad_template_kind(kind: &str) -> String {
    format!(
        "Tipo de plantilla '{}' inválido: use finger o face.",
        echo(kind)
    )
}

/// 400 for a template index out of its kind's range.
pub fn bad_template_index(kind: &str, index: &str, max: u8) -> String {
    format!(
        "Índice '{}' inválido para {kind}: debe ser de 0 a {max}.",
        echo(index)
    )
}

/// 400 for a template body without `data`.
pub const TEMPLATE_DATA_REQUIRED: &str = "Campo 'data' requerido: la plantilla en base64.";

/// 400 for `data` that is not base64.
pub const TEMPLATE_NOT_BASE64: &str = "Campo 'data' inválido: no es base64 válido.";

/// 400 for template bytes too short to be a template.
pub fn template_too_small(size: usize, min: usize) -> String {
    format!(
        "Campo 'data' inválido: {size} bytes es demasiado poco para una plantilla (mínimo {min})."
    )
}

/// 413 for template bytes larger than any terminal stores.
pub fn template_too_large(size: usize, max: usize) -> String {
    format!(
        "Campo 'data' demasiado grande: {size} bytes; una plantilla tiene como máximo {max} bytes."
    )
}

/// 400 for a version that is not a small number.
pub const BAD_TEMPLATE_VERSION: &str =
    "Campo 'version' inválido: debe ser el número de versión del algoritmo, p. ej. \"10\".";

/// 400 for a finger template whose version cannot be told from its bytes.
pub const TEMPLATE_VERSION_UNKNOWN: &str = "Campo 'version' requerido: los bytes no muestran si la huella es ZKFinger 9 o 10; indíquelo (\"9\" o \"10\").";

/// 400 for a given version the bytes contradict.
pub fn template_version_mismatch(given: &str, found: u16) -> String {
    format!(
        "Campo 'version' inválido: se indicó '{}' pero los bytes son de una huella ZKFinger {found}.",
        echo(given)
    )
}

/// 400 for a flag other than 0, 1 or 3.
pub const BAD_TEMPLATE_FLAG: &str =
    "Campo 'flag' inválido: debe ser 1 (normal), 3 (coacción) o 0 (no válida).";

/// 200 after storing a template.
pub fn template_stored(user_id: &str, kind: &str, index: u8) -> String {
    format!("Plantilla {kind} {index} de '{}' guardada.", echo(user_id))
}

/// 409 when a newer template is stored for the same slot.
pub fn template_older(user_id: &str, kind: &str, index: u8) -> String {
    format!(
        "La plantilla {kind} {index} de '{}' guardada es más reciente; no se cambió.",
        echo(user_id)
    )
}

/// 404 for a template the list does not hold.
pub fn template_not_found(user_id: &str, kind: &str, index: u8) -> String {
    format!(
        "La persona '{}' no tiene plantilla {kind} {index}.",
        echo(user_id)
    )
}

/// 200 after deleting a template.
pub fn template_deleted(user_id: &str, kind: &str, index: u8) -> String {
    format!(
        "Plantilla {kind} {index} de '{}' borrada: se quitará de todos los terminales.",
        echo(user_id)
    )
}

/// 400 for an import body that is neither an export nor `{"device_id"}`.
pub const IMPORT_BODY: &str = "Cuerpo inválido: envíe {\"device_id\": \"<terminal>\"} para importar de un terminal, o el documento de GET /people/export para restaurar.";

/// 413 for a restore over 16 MiB.
pub const IMPORT_TOO_LARGE: &str = "Body demasiado grande: el máximo en /people/import es 16 MiB.";

/// 400 for an export document with a bad entry (`what` names it).
pub fn bad_export(what: &str) -> String {
    format!("Documento de exportación inválido: {what}.")
}

/// 200 after a restore.
pub fn restored(people: usize, templates: usize) -> String {
    format!("Personal restaurado: {people} persona(s) y {templates} plantilla(s).")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_and_cut_echoes() {
        assert!(BAD_NAME.contains("'name'"));
        assert!(BAD_PASSWORD.contains("'password'"));
        assert!(BAD_AREAS.contains("'areas'"));
        assert!(person_not_found(&"9".repeat(10_000)).len() < 200);
        assert!(template_too_large(9000, 2576).contains("2576"));
    }
}
