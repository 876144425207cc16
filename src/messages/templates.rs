//! Spanish for refused fingerprint-template operations.

use crate::zk::TemplateError;

/// What a refused template operation on device `id` means, in Spanish.
pub fn template_refusal(id: &str, e: &TemplateError) -> String {
    match e {
        TemplateError::CapacityFull {
            stored,
            capacity,
            adding,
        } => format!(
            "El dispositivo '{id}' no tiene espacio para más huellas: guarda {stored} de {capacity} y se intentaban añadir {adding}."
        ),
        TemplateError::NotStored { expected, stored } => format!(
            "El dispositivo '{id}' aceptó las huellas pero guardó menos de las esperadas ({stored} de {expected}): probablemente está lleno."
        ),
        TemplateError::NoUser { uid } => format!(
            "El dispositivo '{id}' no tiene el usuario (posición {uid}) dueño de la huella."
        ),
        TemplateError::Finger { finger } => {
            format!("Dedo {finger} no válido: los dedos van del 0 al 9.")
        }
        TemplateError::Length { len } => {
            format!("Huella de tamaño imposible ({len} bytes).")
        }
        TemplateError::Version { terminal, template } => format!(
            "El dispositivo '{id}' usa huellas ZKFinger {terminal} y la huella es ZKFinger {template}: no son compatibles."
        ),
        TemplateError::Pin { len } => {
            format!("user_id de {len} bytes: el terminal admite como máximo 24.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_full_names_the_numbers() {
        let text = template_refusal(
            "principal",
            &TemplateError::CapacityFull {
                stored: 3000,
                capacity: 3000,
                adding: 2,
            },
        );
        assert!(
            text.contains("principal") && text.contains("3000 de 3000"),
            "{text}"
        );
    }
}
