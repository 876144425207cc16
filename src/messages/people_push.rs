//! The staff list on push terminals, in Spanish: why a person is in
//! `error` on a terminal, and the answer to an import.

use crate::push::commands::TemplateTable;

/// Why a terminal refused a people command: the device, what the return
/// code means, and the code.
pub fn refused(device: &str, table: Option<TemplateTable>, code: i64) -> String {
    let meaning = match table {
        Some(table) => super::push_templates::template_return_code(table, code),
        None => super::return_code(code),
    };
    format!("El terminal '{device}' rechazó el cambio (código {code}): {meaning}")
}

/// `POST /people/import` for a push terminal: what was asked of it.
pub fn import_queued(device: &str, commands: usize) -> String {
    format!(
        "Se pidió al terminal '{device}' que envíe sus usuarios y plantillas ({commands} comandos); se unirán a la lista de personal en su próxima consulta."
    )
}

/// The `device_id` of `POST /people/import` is missing.
pub const IMPORT_DEVICE_REQUIRED: &str =
    "Indique el terminal a importar en 'device_id', o el contenido de una exportación.";

/// A pull terminal's import answered as a push one's (never expected).
pub fn import_pull_unavailable(device: &str) -> String {
    format!("No se pudo importar el terminal '{device}': respuesta inesperada de la importación.")
}

/// `POST /people/import` for a pull terminal: what joined the list.
pub fn import_done(device: &str, people: usize, templates: usize) -> String {
    format!(
        "Importado el terminal '{device}': {people} personas y {templates} plantillas nuevas o cambiadas en la lista de personal."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capacity_refusal_names_the_device_and_the_code() {
        let text = refused("principal", Some(TemplateTable::Finger), -1001);
        assert!(text.contains("'principal'"), "{text}");
        assert!(text.contains("-1001"), "{text}");
        assert!(text.contains("Capacidad"), "{text}");
        let face = refused("b", Some(TemplateTable::Face), -8);
        assert!(face.contains("rostros"), "{face}");
    }
}
