//! The one catalogue of Spanish messages for users, built from typed errors. The log keeps the
//! technical detail; these say what happened and to which device.

pub mod cli;
pub mod config;
pub mod fields;
pub mod people;
pub mod people_push;
pub mod people_sync;
pub mod postgres;
pub mod push_templates;
pub mod registry;
pub mod reports;
pub mod server;
#[cfg(windows)]
pub mod service;
pub mod templates;

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
        OpError::Rejected(r) => rejection(r),
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
            Error::Template(refusal) => templates::template_refusal(id, refusal),
            Error::Closed(_) => format!("El dispositivo '{id}' ({addr}) cerró la conexión inesperadamente."),
            // The socket's own words are English: they go to the log only.
            Error::Io(_) => format!("Error de comunicación con '{id}' ({addr}): fallo de red."),
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
        ProtocolError::FaceRecords { bytes } => {
            format!("respuesta de rostros de tamaño inválido ({bytes} bytes)")
        }
        ProtocolError::FaceSize { size } => {
            format!("registro de rostro de tamaño inválido ({size} bytes)")
        }
    }
}

/// The HTTP status of a rejection.
pub fn rejection_status(r: &Rejection) -> u16 {
    match r {
        Rejection::UserNotFound(_) => 404,
        Rejection::UserExists(_) | Rejection::UsersFull | Rejection::PushTerminal(_) => 409,
        Rejection::NumericUserIdsOnly(_)
        | Rejection::NameTooLong { .. }
        | Rejection::PasswordTooLong { .. } => 400,
    }
}

/// The message for a rejection.
pub fn rejection(r: &Rejection) -> String {
    match r {
        Rejection::UserNotFound(user_id) => format!("Usuario '{}' no encontrado.", echo(user_id)),
        Rejection::UserExists(user_id) => format!("user_id '{}' ya existe.", echo(user_id)),
        Rejection::UsersFull => "El terminal no tiene espacio para más usuarios.".into(),
        Rejection::NumericUserIdsOnly(user_id) => format!(
            "Campo 'user_id' inválido: '{}'. Este terminal solo admite user_id numéricos.",
            echo(user_id)
        ),
        Rejection::NameTooLong { max_bytes } => {
            format!("Campo 'name' demasiado largo para este terminal: máximo {max_bytes} bytes.")
        }
        Rejection::PasswordTooLong { max_chars } => format!(
            "Campo 'password' demasiado largo para este terminal: máximo {max_chars} caracteres."
        ),
        Rejection::PushTerminal(id) => push_terminal(id),
    }
}

/// 400 for a user id that is not 1–24 letters or digits.
pub fn bad_user_id(user_id: &str) -> String {
    format!(
        "Campo 'user_id' inválido: '{}'. Use de 1 a 24 letras o números.",
        echo(user_id)
    )
}

/// 400 for a name of the wrong length.
pub const BAD_USER_NAME: &str = "Campo 'name' inválido: debe tener de 1 a 24 caracteres.";
/// 400 for a password that is not up to 8 letters or digits.
pub const BAD_USER_PASSWORD: &str = "Campo 'password' inválido: hasta 8 letras o números.";
/// 400 when creating a user without its id or name.
pub const USER_ID_AND_NAME_REQUIRED: &str = "user_id y name son requeridos.";
/// 400 for a finger index out of range.
pub const BAD_FINGER_INDEX: &str = "finger_index debe ser 0-9.";
/// 200 after creating a user.
pub const USER_CREATED: &str = "Usuario registrado.";
/// 200 after starting an enrolment.
pub const ENROLL_STARTED: &str =
    "Modo enrolamiento activado. El usuario debe poner el dedo 3 veces.";

/// 200 after changing a user.
pub fn user_updated(user_id: &str) -> String {
    format!("Usuario '{}' actualizado.", echo(user_id))
}

/// 200 after deleting a user.
pub fn user_deleted(user_id: &str) -> String {
    format!("Usuario '{}' eliminado.", echo(user_id))
}

// --- push terminals: queued commands -------------------------------------------

/// 202 after queueing a command for a push terminal.
pub fn command_queued(id: &str) -> String {
    format!("Comando encolado para '{id}'.")
}

/// 404 for a command id the device does not have.
pub fn command_not_found(id: &str, n: &str) -> String {
    format!("Comando '{}' no encontrado en '{id}'.", echo(n))
}

/// 409 for the command endpoints of a pull terminal.
pub fn pull_has_no_commands(id: &str) -> String {
    format!(
        "El dispositivo '{id}' es un terminal pull: se le habla directamente y no tiene cola de comandos."
    )
}

/// 200 of `DELETE /push/pending/{sn}`.
pub fn pending_removed(sn: &str, punches: u64, users: u64) -> String {
    format!(
        "Número de serie pendiente '{}' eliminado con {punches} marcación(es) y {users} usuario(s) que esperaban su registro.",
        echo(sn)
    )
}

/// 404 of `DELETE /push/pending/{sn}` for a serial that is not pending.
pub fn pending_not_found(sn: &str) -> String {
    format!(
        "El número de serie '{}' no está pendiente (vea GET /push/pending).",
        echo(sn)
    )
}

/// 409 for the command endpoints of a forwarded push terminal.
pub fn commands_from_upstream(id: &str, upstream: &str) -> String {
    format!("El terminal '{id}' recibe sus comandos de {upstream}.")
}

/// 503 when push terminals are asked for without a journal open.
pub fn journal_off(id: &str) -> String {
    format!("El terminal push '{id}' necesita el diario de marcaciones, y este servidor funciona sin él.")
}

/// 503 when the journal could not be read or written (the log has why).
pub const JOURNAL_FAILED: &str =
    "No se pudo leer o escribir el diario de marcaciones; intente de nuevo (el registro del servidor tiene el detalle).";

/// What a push terminal cannot do from the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushLimit {
    /// Start a fingerprint enrolment.
    Enroll,
    /// List a user's fingers.
    Fingers,
    /// Answer a direct query (`/info`).
    Info,
    /// Read its clock on demand (`/time`).
    Time,
    /// Take an arbitrary clock time (`sync-time` with `timestamp`).
    Timestamp,
}

/// 409 for an operation a push terminal cannot do, with what to do instead.
pub fn push_unsupported(id: &str, limit: PushLimit) -> String {
    let what = match limit {
        PushLimit::Enroll => {
            "no admite iniciar el enrolamiento de huellas desde el servidor; enrole en el propio terminal.".to_string()
        }
        PushLimit::Fingers => "no informa al servidor las huellas de cada usuario.".to_string(),
        PushLimit::Info => format!(
            "no se le puede consultar directamente; vea /devices/{id}/status (datos de su último contacto)."
        ),
        PushLimit::Time => format!(
            "su hora no se puede leer a pedido; POST /devices/{id}/sync-time la iguala a la del servidor."
        ),
        PushLimit::Timestamp => {
            "toma la hora del servidor al sincronizar y no admite 'timestamp'; envíe el body vacío.".to_string()
        }
    };
    format!("El terminal '{id}' es push: {what}")
}

/// 400 for a user field a push command cannot carry.
pub fn bad_command_field(e: &crate::push::protocol::CommandError) -> String {
    use crate::push::protocol::CommandError as E;
    match e {
        E::ControlCharacter(field) => {
            let name = match *field {
                "Name" => "name",
                "Passwd" => "password",
                "Card" => "card",
                _ => "user_id",
            };
            format!("Campo '{name}' inválido: no puede contener tabuladores, saltos de línea ni otros caracteres de control.")
        }
        E::EmptyPin | E::BadId(_) => "Campo 'user_id' inválido: no puede estar vacío.".into(),
        E::BadPin => "Campo 'user_id' inválido: no puede contener espacios ni '='.".into(),
    }
}

/// The message shown with a command's status: why it failed or expired.
pub fn command_outcome(status: crate::journal::CommandStatus, code: Option<i64>) -> Option<String> {
    use crate::journal::CommandStatus as S;
    match status {
        S::Failed => Some(return_code(code.unwrap_or(-1))),
        S::Expired => Some(format!(
            "El terminal no recogió el comando en {} días.",
            crate::push::commands::MAX_AGE_DAYS
        )),
        S::Pending | S::Sent | S::Completed => None,
    }
}

/// What a push terminal's return code means.
pub fn return_code(code: i64) -> String {
    use crate::push::commands::ReturnCode as R;
    match R::from_code(code) {
        R::Ok => "Completado.",
        R::ParameterOrNoData => "Parámetros inválidos o sin datos que coincidan.",
        R::ReadWrite => "Error de lectura o escritura en el terminal.",
        R::NoSuchUser => "El usuario no existe en el terminal.",
        R::CapacityExceeded => "Capacidad del terminal excedida.",
        R::NotSupported => "No soportado por el terminal.",
        R::Timeout => "Tiempo de espera agotado en el terminal.",
        R::Mismatch => "Los datos no coinciden con la configuración del terminal.",
        R::Busy => "El terminal está ocupado.",
        R::TooLong => "Datos demasiado largos para el terminal.",
        R::OutOfMemory => "El terminal se quedó sin memoria.",
        R::Other(n) => return format!("El terminal respondió con el código de error {n}."),
    }
    .to_string()
}

/// Longest piece of client input echoed in a message, in characters.
const ECHO_LIMIT: usize = 80;

/// `text` cut to [`ECHO_LIMIT`] characters (with `…` when cut), so an
/// error never echoes a huge input back.
pub fn echo(text: &str) -> String {
    crate::text::cut(text, ECHO_LIMIT)
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

/// 404 for a `POST /demo/punch` user the demo terminal does not have.
pub fn demo_user_not_found(user_id: &str) -> String {
    format!(
        "Usuario '{}' no encontrado en el terminal de demostración.",
        echo(user_id)
    )
}

/// 200 for `POST /demo/punch`.
pub fn demo_punch_recorded(id: &str) -> String {
    format!("Marcación registrada en el terminal de demostración '{id}'.")
}

/// 405.
pub const METHOD_NOT_ALLOWED: &str = "Método no permitido.";
/// 500 after a handler panic.
pub const INTERNAL_ERROR: &str = "Error interno del servidor.";

/// 409 when registering an id that exists.
pub fn device_exists(id: &str) -> String {
    format!("El id '{}' ya existe.", echo(id))
}

/// 500 when the devices file could not be written (`detail`: what failed).
pub fn devices_file_not_saved(detail: &str) -> String {
    format!("No se pudo guardar el archivo de dispositivos: {detail}.")
}

/// 400 when registering a device without its required fields.
pub const DEVICE_FIELDS_REQUIRED: &str = "id, name e ip son requeridos.";
/// 400 when registering a push device without its required fields.
pub const PUSH_DEVICE_FIELDS_REQUIRED: &str = "id, name y sn son requeridos para un terminal push.";

/// 409 when a push serial number belongs to another device.
pub fn serial_taken(sn: &str, holder: &str) -> String {
    format!(
        "El número de serie '{}' ya está registrado en '{holder}'.",
        echo(sn)
    )
}

/// 200 after registering a device.
pub fn device_registered(id: &str) -> String {
    format!("Dispositivo '{id}' registrado.")
}

/// 200 after changing a device.
pub fn device_updated(id: &str) -> String {
    format!("Dispositivo '{id}' actualizado.")
}

/// 200 after deleting a device.
pub fn device_deleted(id: &str) -> String {
    format!("Dispositivo '{id}' eliminado.")
}

/// 200 for a terminal that answered a ping (the original's spelling).
pub fn ping_ok(id: &str) -> String {
    format!("Conexion exitosa con '{id}'.")
}

/// 200 after setting a terminal's clock.
pub fn time_synced(id: &str) -> String {
    format!("[{id}] Hora sincronizada.")
}

/// 200 of `reboot` on a pull terminal: the restart was sent.
pub fn rebooting(id: &str) -> String {
    format!("[{id}] Reinicio enviado; el terminal vuelve a responder en unos segundos.")
}

/// 400 for a clock time that cannot be set on a terminal.
pub fn bad_sync_timestamp(t: &str) -> String {
    format!(
        "Campo 'timestamp' inválido: '{}'. Use YYYY-MM-DD HH:MM:SS (años 2000 a 2099).",
        echo(t)
    )
}

/// 400 when clearing without a cursor.
pub const CURSOR_REQUIRED: &str = "Cursor requerido.";

/// 200 after a safe clear.
pub fn attendance_cleared(id: &str) -> String {
    format!("[{id}] Registros de asistencia borrados.")
}

/// 503 when the process has no file descriptor left for a connection.
pub const OUT_OF_DESCRIPTORS: &str =
    "Servidor ocupado: sin descriptores de archivo libres; intente de nuevo en unos segundos.";

/// Startup error for a journal that cannot be opened (the log line
/// keeps SQLite's own words).
pub fn journal_not_opened(e: &crate::journal::JournalError) -> String {
    use crate::journal::JournalError as E;
    let keep = "No se modificó; muévalo o indique otro archivo con --journal.";
    match e {
        E::NotADatabase { path, .. } => format!(
            "el archivo del diario {} no es una base de datos SQLite. {keep}",
            path.display()
        ),
        E::Foreign { path, .. } => format!(
            "el archivo del diario {} es una base de datos de otra aplicación. {keep}",
            path.display()
        ),
        E::NewerVersion { path, found, supported } => format!(
            "el diario {} tiene la versión {found} del esquema, más nueva que la {supported} que conoce este zkserver; actualice zkserver. {keep}",
            path.display()
        ),
        E::InvalidTime { path, .. } | E::Sqlite { path, .. } => format!(
            "no se pudo abrir el diario {} (permisos, disco lleno o archivo bloqueado; el registro tiene el detalle).",
            path.display()
        ),
    }
}

/// The start-up error for a journal that could not be locked: another
/// zkserver is using it, or the lock file cannot be written.
pub fn journal_locked(e: &crate::journal::LockError) -> String {
    use crate::journal::LockError as E;
    match e {
        E::Held { journal, lock, pid } => format!(
            "el diario {} está en uso por otro zkserver{} (bloqueo {}); detenga el otro (p. ej. el servicio) o indique otro archivo con --journal.",
            journal.display(),
            pid.map(|p| format!(" (proceso {p})")).unwrap_or_default(),
            lock.display()
        ),
        E::Io { lock, source } => format!(
            "no se pudo bloquear el diario con {}: {}",
            lock.display(),
            crate::registry::io_error_es(source)
        ),
    }
}

/// `/ping` of a push terminal heard from recently.
pub fn push_ping_ok(id: &str) -> String {
    format!("El terminal push '{id}' está en línea (contacto reciente).")
}

/// `/ping` of a push terminal not heard from recently.
pub fn push_offline(id: &str) -> String {
    format!("El terminal push '{id}' no se ha comunicado recientemente con el servidor.")
}

/// 409 for an operation that would connect to a push terminal.
pub fn push_terminal(id: &str) -> String {
    format!(
        "'{id}' es un terminal push: el servidor no se conecta a él; sus datos llegan por /iclock."
    )
}

/// 409 for a pull terminal whose punches are not kept in the journal.
pub fn not_collected(id: &str) -> String {
    format!("El dispositivo '{id}' no guarda sus marcaciones en el diario; active \"collect\".")
}

/// 400 for a `source` parameter that is not `journal` or `terminal`.
pub fn bad_source(value: &str) -> String {
    format!(
        "Parámetro 'source' inválido: '{}'. Use journal o terminal.",
        echo(value)
    )
}

/// When the server runs without a journal.
pub const NO_JOURNAL: &str = "El diario de marcaciones no está activo en este servidor.";

/// 200 of a backfill of a collected terminal.
pub fn backfilled(id: &str, stored: usize) -> String {
    format!("[{id}] {stored} marcación(es) nueva(s) guardada(s) en el diario.")
}

/// 400 for a backfill bound that is missing or not a date.
pub fn bad_backfill_bound(name: &str, value: Option<&str>) -> String {
    match value {
        None => format!("Falta '{name}' (YYYY-MM-DD o YYYY-MM-DD HH:MM:SS)."),
        Some(v) => format!(
            "Parámetro '{name}' inválido: '{}'. Use YYYY-MM-DD o YYYY-MM-DD HH:MM:SS.",
            echo(v)
        ),
    }
}

/// 400 for a backfill whose `from` is after its `to`.
pub const BACKFILL_RANGE: &str = "'from' es posterior a 'to'.";

// --- request bodies and the API key ---

/// 400 for a write without the body it needs.
pub const BODY_REQUIRED: &str = "Body JSON requerido.";

/// 400 for a body that is not JSON, with where the parser stopped.
pub fn bad_json_body(line: usize, column: usize) -> String {
    format!("Body JSON inválido (línea {line}, columna {column}).")
}

/// 401 for a missing or wrong API key.
pub const UNAUTHORIZED: &str = "No autorizado.";
/// 403 for writes when no API key is configured.
pub const WRITES_DISABLED: &str = "Escrituras deshabilitadas: configure una clave API con --api-key-file o la variable API_KEY (y envíela en 'Authorization: Bearer <clave>' o 'X-API-Key'), o inicie el servidor con --allow-open-writes.";
/// 403 for a write from a page on another site (`Origin`).
pub const FOREIGN_ORIGIN: &str = "Escritura rechazada: la petición viene de una página de otro sitio (cabecera Origin). Use el panel de zkserver o la API desde un programa.";
/// 415 for a write whose body is not declared JSON.
pub const JSON_CONTENT_TYPE_REQUIRED: &str = "El cuerpo debe ser JSON y declararse con la cabecera 'Content-Type: application/json' (con curl: -H 'Content-Type: application/json').";

/// 403 for a `Host` that is not a name of this server (DNS rebinding).
pub fn host_not_allowed(name: &str) -> String {
    format!(
        "Nombre de servidor no permitido: '{name}'. Acceda por la dirección IP, por 'localhost' o por un nombre configurado con --host-name (ej. --host-name {name} si es el nombre de este servidor)."
    )
}

// --- the connection layer: refusals of malformed or oversized requests ---

/// 503: every connection kept for push terminals is busy.
pub const HTTP_PUSH_BUSY: &str = "Servidor ocupado: demasiadas peticiones de terminales push en curso. Intente de nuevo en unos segundos.";
/// 503: every connection kept for the API is busy.
pub const HTTP_API_BUSY: &str =
    "Servidor ocupado: demasiadas peticiones en curso. Intente de nuevo en unos segundos.";
/// 503: every connection kept for event streams is taken.
pub const HTTP_STREAMS_FULL: &str =
    "Servidor ocupado: demasiados flujos de eventos abiertos. Intente de nuevo más tarde.";
/// 503: this client has its share of event streams open.
pub const HTTP_STREAMS_PER_CLIENT: &str = "Demasiados flujos de eventos abiertos desde esta dirección: cierre alguno antes de abrir otro.";

/// 400: bytes that are not an HTTP/1 request.
pub const HTTP_BAD_REQUEST: &str = "Petición HTTP inválida.";
/// 414: a request line over the limit.
pub const HTTP_URI_TOO_LONG: &str = "La URL de la petición es demasiado larga.";
/// 431: a request head over the limit.
pub const HTTP_HEAD_TOO_LARGE: &str = "Cabeceras de la petición demasiado grandes.";
/// 413: a body over the API limit.
pub const HTTP_BODY_TOO_LARGE: &str = "Body demasiado grande: el máximo es 64 KiB.";
/// 413: an upload over the `/iclock` limit.
pub const HTTP_PUSH_BODY_TOO_LARGE: &str = "Body demasiado grande: el máximo en /iclock es 16 MiB.";
/// 400: an HTTP/1.1 request without exactly one `Host`.
pub const HTTP_BAD_HOST: &str =
    "Petición HTTP inválida: se requiere exactamente una cabecera Host.";
/// 431: too many header lines.
pub const HTTP_TOO_MANY_HEADERS: &str = "Demasiadas cabeceras en la petición.";
/// 411: a body sent with `Transfer-Encoding`.
pub const HTTP_NO_CHUNKED: &str =
    "Se requiere Content-Length: no se aceptan cuerpos con Transfer-Encoding.";
/// 408: a request not received within its deadline.
pub const HTTP_TOO_SLOW: &str = "Tiempo de espera agotado recibiendo la petición.";
/// 400: a connection closed in the middle of a request.
pub const HTTP_INCOMPLETE: &str = "Petición HTTP incompleta.";
/// 400: a JSON body that is not an object.
pub const BODY_NOT_OBJECT: &str = "El body debe ser un objeto JSON.";

// --- query parameters of the attendance endpoints ---

/// 400 for a `date` whose day does not exist (`2026-02-30`).
pub fn date_does_not_exist(value: &str) -> String {
    format!(
        "Parámetro 'date' inválido: '{}': ese día no existe.",
        echo(value)
    )
}

/// 400 for a `date` that is not `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub fn bad_date(value: &str) -> String {
    format!(
        "Parámetro 'date' inválido: '{}'. Use YYYY, YYYY-MM o YYYY-MM-DD.",
        echo(value)
    )
}

/// 400 for a `from`/`to` that is not a date or date and time.
pub fn bad_bound(name: &str, value: &str) -> String {
    format!(
        "Parámetro '{name}' inválido: '{}'. Use YYYY-MM-DD o YYYY-MM-DD HH:MM:SS.",
        echo(value)
    )
}

/// 400 for a `limit`/`offset` larger than any count.
pub fn count_too_large(name: &str, value: &str, max: usize) -> String {
    format!(
        "Parámetro '{name}' inválido: '{}' es demasiado grande (máximo {max}).",
        echo(value)
    )
}

/// 400 for a `limit`/`offset` that is not a whole number ≥ 0.
pub fn bad_count(name: &str, value: &str) -> String {
    format!(
        "Parámetro '{name}' inválido: '{}'. Use un número entero mayor o igual a 0.",
        echo(value)
    )
}

/// 400 for a `format` other than json or csv.
pub fn bad_format(value: &str) -> String {
    format!(
        "Parámetro 'format' inválido: '{}'. Use json o csv.",
        echo(value)
    )
}

/// 400 for a `from` later than `to`.
pub fn from_after_to(from: &str, to: &str) -> String {
    format!(
        "Parámetro 'from' inválido: '{}' es posterior a 'to' ('{}').",
        echo(from),
        echo(to)
    )
}

/// A clear refused: terminal `id` reports serial `serial`, which the
/// journal has as device `holder`, not read yet.
pub fn clear_serial_held(id: &str, serial: &str, holder: &str) -> String {
    format!(
        "El terminal de '{id}' informa el número de serie {serial}, que el diario tiene como el dispositivo '{holder}' (aún sin leer); no se borró nada. Reintente en unos minutos."
    )
}

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
