//! Spanish of the staff list's sync with terminals (`/people/sync`,
//! import from a pull terminal).

/// The most PINs a message names.
const NAMED: usize = 5;

/// People not written to device `id` because its 28-byte user layout
/// holds only numeric PINs.
pub fn numeric_ids_only(id: &str, pins: &[String]) -> String {
    let mut named: Vec<&str> = pins.iter().take(NAMED).map(String::as_str).collect();
    if pins.len() > NAMED {
        named.push("…");
    }
    format!(
        "El dispositivo '{id}' solo admite PIN numéricos: no se escribieron {} persona(s) ({}).",
        pins.len(),
        named.join(", ")
    )
}

/// Sync needs the journal (the staff list lives there).
pub fn journal_needed() -> String {
    "El personal y su sincronización necesitan el diario de marcaciones (--journal).".into()
}

/// A journal failure during a sync (detail in the log).
pub fn journal_failed() -> String {
    "No se pudo leer o guardar el personal en el diario; vea el registro del servidor.".into()
}

/// A push terminal is imported by commands (answered 202 elsewhere).
pub fn push_import_queued(id: &str) -> String {
    format!("Se pidió al terminal push '{id}' que envíe sus usuarios y huellas; llegarán en su próxima conexión.")
}

/// What an import from a pull terminal took into the list.
pub fn imported(id: &str, people: usize, templates: usize) -> String {
    format!("Importados desde '{id}': {people} persona(s) y {templates} plantilla(s).")
}
