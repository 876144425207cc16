//! Spanish messages for users, built from typed errors. The log keeps the
//! technical detail; these say what happened and to which device.

use crate::ops::{OpError, Rejection};
use crate::registry::Device;
use crate::zk::{wire::cmd, Error, Phase, ProtocolError};

/// The message for a failed device operation.
pub fn device_error(device: &Device, err: &OpError) -> String {
    let id = &device.id;
    let addr = device.config.address();
    match err {
        OpError::Busy => format!(
            "Dispositivo '{id}' ocupado: otra operación está en curso con el terminal. Intente de nuevo en unos segundos."
        ),
        OpError::Rejected(r) => r.message().to_string(),
        OpError::Panicked => INTERNAL_ERROR.to_string(),
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
            Error::Protocol(detail) => format!(
                "Respuesta inválida del dispositivo '{id}': {}.",
                protocol_detail(detail)
            ),
            Error::OperationLimit => format!(
                "El dispositivo '{id}' ({addr}) responde demasiado lento: la operación superó su tiempo máximo."
            ),
            Error::Closed(_) => format!("El dispositivo '{id}' ({addr}) cerró la conexión inesperadamente."),
            Error::Io(detail) => format!("Error de comunicación con '{id}' ({addr}): {detail}."),
        },
    }
}

/// What was wrong with a terminal's bytes, in Spanish.
fn protocol_detail(e: &ProtocolError) -> String {
    match e {
        ProtocolError::Wire(_) => "trama de red inválida".into(),
        ProtocolError::ShortReply { command, len } => format!(
            "respuesta de {} demasiado corta ({len} bytes)",
            cmd::name(*command)
        ),
        ProtocolError::DatasetHeader { len } => {
            format!("conjunto de datos de {len} bytes sin cabecera")
        }
        ProtocolError::AbsurdSize { bytes } => format!("tamaño anunciado absurdo ({bytes} bytes)"),
        ProtocolError::ChunkLength { got, wanted } => {
            format!("bloque de {got} bytes, se pidieron {wanted}")
        }
        ProtocolError::AnnouncedLength { announced, wanted } => {
            format!("se anuncian {announced} bytes, se pidieron {wanted}")
        }
        ProtocolError::ChunkOverflow { wanted } => {
            format!("el bloque supera los {wanted} bytes pedidos")
        }
        ProtocolError::ChunkIncomplete { got, wanted } => {
            format!("bloque incompleto: {got} de {wanted} bytes")
        }
        ProtocolError::MissingFrame { expected, .. } => {
            format!("falta el paquete de datos {expected}")
        }
        ProtocolError::AttendanceSize { bytes, count } => format!(
            "no se pudo deducir el tamaño de registro ({bytes} bytes, {count} registros informados)"
        ),
        ProtocolError::UserSize { bytes, count } => format!(
            "no se pudo deducir el tamaño de registro de usuario ({bytes} bytes, {count} usuarios)"
        ),
        ProtocolError::TemplateEntry { size } => {
            format!("entrada de plantilla de tamaño inválido ({size} bytes)")
        }
    }
}

/// The HTTP status of a rejection kind.
pub fn rejection_status(r: &Rejection) -> u16 {
    match r {
        Rejection::NotFound(_) => 404,
        Rejection::Conflict(_) => 409,
        Rejection::Invalid(_) => 400,
    }
}

/// Longest piece of client input echoed in a message, in characters.
const ECHO_LIMIT: usize = 80;

/// `text` cut to [`ECHO_LIMIT`] characters (with `…` when cut), so an
/// error never echoes a huge input back.
pub fn echo(text: &str) -> String {
    let mut chars = text.chars();
    let shown: String = chars.by_ref().take(ECHO_LIMIT).collect();
    if chars.next().is_some() {
        format!("{shown}…")
    } else {
        shown
    }
}

/// 400 for a cursor that cannot be used.
pub fn bad_cursor(err: crate::cursor::CursorError) -> String {
    use crate::cursor::CursorError;
    let why = match err {
        CursorError::Malformed => "no es un cursor de zkserver",
        CursorError::OtherDevice => "es de otro dispositivo",
        CursorError::WrongKind => {
            "no es de este tipo (un dispositivo usa el cursor de su propio listado; /attendance/all y /events, el suyo)"
        }
    };
    format!("Cursor inválido: {why}.")
}

/// 409 when records were stored after the clearing cursor.
pub fn newer_records(n: usize) -> String {
    if n == 1 {
        "Hay 1 marcación nueva desde el cursor; descárguela antes de borrar.".into()
    } else {
        format!("Hay {n} marcaciones nuevas desde el cursor; descárguelas antes de borrar.")
    }
}

/// 409 when the log does not continue the clearing cursor.
pub const CURSOR_MISMATCH: &str =
    "El registro del terminal no corresponde al cursor (fue borrado o reemplazado); descárguelo de nuevo antes de borrar.";

/// 409 when the webhook has not delivered everything up to the cursor.
pub fn webhook_behind(id: &str, behind: u32) -> String {
    format!(
        "El webhook de '{id}' aún no entregó {behind} marcación(es) hasta el cursor; espere a que las entregue antes de borrar."
    )
}

/// 404 for an unknown device id.
pub fn device_not_found(id: &str) -> String {
    format!("Dispositivo '{}' no encontrado.", echo(id))
}

/// 404 for an unknown route.
pub fn route_not_found(method: &str, path: &str) -> String {
    format!("Ruta no encontrada: {} {}.", echo(method), echo(path))
}

/// 405.
pub const METHOD_NOT_ALLOWED: &str = "Método no permitido.";
/// 500 after a handler panic.
pub const INTERNAL_ERROR: &str = "Error interno del servidor.";

/// 503 when the process has no file descriptor left for a connection.
pub const OUT_OF_DESCRIPTORS: &str =
    "Servidor ocupado: sin descriptores de archivo libres; intente de nuevo en unos segundos.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_input_is_cut() {
        assert_eq!(device_not_found("x"), "Dispositivo 'x' no encontrado.");
        let long = device_not_found(&"a".repeat(16_000));
        assert!(long.len() < 120, "{long}");
        assert!(long.contains("a…'"));
    }
}
