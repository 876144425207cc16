//! What a push terminal's answer to a template command means, in Spanish
//! (the templates protocol notes, §3.5.8).

use crate::push::commands::{TemplateReturnCode, TemplateTable};

/// What return `code` of a template command on `table` means.
pub fn template_return_code(table: TemplateTable, code: i64) -> String {
    use TemplateReturnCode as T;
    let text = match T::from_code(table, code) {
        T::Ok => "Completado.",
        T::ParameterError => {
            "Parámetros inválidos (en terminales antiguos, también: el usuario no existe en el terminal)."
        }
        T::FaceUnknownUser | T::NoSuchUser => {
            "El usuario no existe en el terminal: envíe primero el usuario y luego sus plantillas."
        }
        T::FaceSetIncomplete => {
            "El rostro quedó incompleto: el terminal necesita las 15 plantillas del usuario seguidas."
        }
        T::FaceIndexOutOfRange => "Número de plantilla de rostro fuera de rango (0 a 14).",
        T::FaceCapacity => "El terminal no tiene espacio para más rostros.",
        T::SizeMismatch => "El tamaño declarado no coincide con la plantilla enviada.",
        T::BadTemplateFormat => {
            "Formato de plantilla inválido: la plantilla es demasiado corta o demasiado larga."
        }
        T::BadTemplate => "El terminal rechazó la plantilla por inválida.",
        T::FaceSizeMissing => "Falta el tamaño de la plantilla de rostro.",
        T::VersionMismatch => {
            "La versión del algoritmo de la plantilla no es la del terminal: solo se pueden copiar plantillas entre terminales con la misma versión."
        }
        T::General(_) => return super::return_code(code),
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_code_has_its_own_meaning() {
        use TemplateTable::{BioData, Face, Finger};
        assert_eq!(template_return_code(Finger, 0), "Completado.");
        assert_eq!(
            template_return_code(Finger, -9),
            "El tamaño declarado no coincide con la plantilla enviada."
        );
        assert!(template_return_code(BioData, -30).contains("versión del algoritmo"));
        assert!(template_return_code(Face, -3).contains("15 plantillas"));
        assert!(template_return_code(Face, -2).contains("no existe"));
        // Codes with a general meaning read as every other command's.
        assert_eq!(
            template_return_code(Finger, -3),
            super::super::return_code(-3)
        );
        assert_eq!(
            template_return_code(Finger, -1002),
            "No soportado por el terminal."
        );
        assert_eq!(
            template_return_code(Finger, -2),
            "El terminal respondió con el código de error -2."
        );
        let codes = [0, -1, -2, -3, -4, -8, -9, -10, -11, -12, -21, -30];
        let face: std::collections::HashSet<String> = codes
            .iter()
            .map(|c| template_return_code(Face, *c))
            .collect();
        assert_eq!(
            face.len(),
            codes.len() - 1,
            "-2 and -10 both mean an unknown user"
        );
    }
}
