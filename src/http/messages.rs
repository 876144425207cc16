//! Spanish messages for users, built from typed errors. The log keeps the
//! technical detail; these say what happened and to which device.

use crate::ops::OpError;
use crate::registry::Device;
use crate::zk::{wire::cmd, Error, Phase};

/// The message for a failed device operation.
pub fn device_error(device: &Device, err: &OpError) -> String {
    let id = &device.id;
    let addr = device.config.address();
    match err {
        OpError::Busy => format!(
            "Dispositivo '{id}' ocupado: otra operación está en curso con el terminal. Intente de nuevo en unos segundos."
        ),
        OpError::Rejected(_, msg) => msg.clone(),
        OpError::Zk(e) => match e {
            Error::Timeout(Phase::Connect) => format!(
                "Tiempo de espera agotado al conectar con '{id}' ({addr}): el terminal no responde; compruebe la IP, el puerto y la red."
            ),
            Error::Timeout(_) => format!("Tiempo de espera agotado al comunicarse con '{id}' ({addr})."),
            Error::Refused => format!("No se pudo conectar con '{id}' ({addr}): conexión rechazada."),
            Error::Unreachable(_) => format!("No se pudo conectar con '{id}' ({addr}): dirección inalcanzable."),
            Error::Unauthorized => format!("El dispositivo '{id}' rechazó la clave de comunicación (password)."),
            Error::Device { command, code } => format!(
                "El dispositivo '{id}' ({addr}) respondió con error (código {code}) a la orden {} ({}).",
                command,
                cmd::name(*command)
            ),
            Error::Protocol(detail) => format!("Respuesta inválida del dispositivo '{id}': {detail}."),
            Error::Closed(_) => format!("El dispositivo '{id}' ({addr}) cerró la conexión inesperadamente."),
            Error::Io(detail) => format!("Error de comunicación con '{id}' ({addr}): {detail}."),
        },
    }
}

/// 404 for an unknown device id.
pub fn device_not_found(id: &str) -> String {
    format!("Dispositivo '{id}' no encontrado.")
}

/// 404 for an unknown route.
pub fn route_not_found(method: &str, path: &str) -> String {
    format!("Ruta no encontrada: {method} {path}.")
}

/// 405.
pub const METHOD_NOT_ALLOWED: &str = "Método no permitido.";
/// 500 after a handler panic.
pub const INTERNAL_ERROR: &str = "Error interno del servidor.";
