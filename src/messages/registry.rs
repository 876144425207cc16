//! The registry's Spanish: refused device settings, the devices file's
//! errors (JSON syntax paraphrased from its kind, never from serde_json's
//! English), and I/O errors.

use std::path::Path;

use crate::registry::{
    DevicesFileError, InvalidId, JsonKind, JsonSyntax, LoadError, SettingError, MAX_ALLOW_FROM,
    MAX_AREA, MAX_PUSH_KEY,
};
use crate::text::cut;

/// A refused device setting; names the field.
pub fn setting(e: &SettingError) -> String {
    match e {
        SettingError::Field(error) => error.to_string(),
        SettingError::Url { field, error } => super::config::bad_url_field(field, *error),
        SettingError::NameLength => {
            "Campo 'name' inválido: debe tener de 1 a 100 caracteres.".into()
        }
        SettingError::Host(ip) => {
            format!("Campo 'ip' inválido: '{ip}' no es una dirección IP ni un nombre de host.")
        }
        SettingError::Encoding(enc) => {
            format!("Campo 'encoding' inválido: '{enc}'. Use utf-8, latin1, cp1252 o gbk.")
        }
        SettingError::Mode(mode) => format!(
            "Campo 'mode' inválido: '{}'. Use pull o push.",
            cut(mode, 80)
        ),
        SettingError::Serial(sn) => format!(
            "Campo 'sn' inválido: '{}'. Use de 1 a 64 letras, números, '-' o '_'.",
            cut(sn, 80)
        ),
        SettingError::Timezone(tz) => format!(
            "Campo 'timezone' inválido: '{}'. Use un desfase UTC como -04:00 o +01:00.",
            cut(tz, 80)
        ),
        SettingError::PushKey => format!(
            "Campo 'push_key' inválido: use de 1 a {MAX_PUSH_KEY} letras, números o signos, sin espacios (la clave de comunicación push configurada en el terminal)."
        ),
        SettingError::AllowFromShape => "Campo 'allow_from' inválido: debe ser una lista de direcciones IP o redes, \
             ej. [\"203.0.113.7\", \"10.2.0.0/16\"]."
            .into(),
        SettingError::AllowFromTooMany => format!(
            "Campo 'allow_from' inválido: como máximo {MAX_ALLOW_FROM} direcciones o redes."
        ),
        SettingError::AllowFromEntry(entry) => format!(
            "Campo 'allow_from' inválido: '{}' no es una dirección IP ni una red (ej. 203.0.113.7, 10.2.0.0/16).",
            cut(entry, 80)
        ),
        SettingError::Area(area) => format!(
            "Campo 'area' inválido: '{}'. Use un nombre de 1 a {MAX_AREA} caracteres (ej. \"almacen\"); '*' no es un área.",
            cut(area, 80)
        ),
        SettingError::MissingIp => "falta el campo 'ip'.".into(),
        SettingError::MissingSn => {
            "falta el campo 'sn' (número de serie del terminal push).".into()
        }
    }
}

/// A device id the API cannot take.
pub fn invalid_id(e: &InvalidId) -> String {
    format!(
        "Campo 'id' inválido: '{}'. Use de 1 a 64 caracteres: letras a-z, números, '_' o '-'.",
        e.0
    )
}

/// What is wrong in the devices file, and what to change.
pub fn devices_file(e: &DevicesFileError) -> String {
    match e {
        DevicesFileError::Json {
            line,
            column,
            syntax,
        } => format!(
            "JSON inválido en la línea {line}, columna {column}: {}.",
            syntax.map_or("error de sintaxis", json_syntax)
        ),
        DevicesFileError::DuplicateId(key) => format!(
            "el id '{key}' aparece más de una vez. Cada terminal necesita su propio id: \
             renombre o borre una de las entradas '{key}'."
        ),
        DevicesFileError::DuplicateField { device, key } => format!(
            "dispositivo '{device}': el campo '{key}' aparece más de una vez. \
             Deje uno solo."
        ),
        DevicesFileError::NotAnObject(kind) => format!(
            "se esperaba un objeto JSON con un dispositivo por id, como \
             {{\"principal\": {{\"ip\": \"192.168.1.205\"}}}}, y el archivo contiene {}.",
            json_kind(*kind)
        ),
        DevicesFileError::Entry { id, error } => format!("dispositivo '{id}': {}", setting(error)),
        DevicesFileError::EntryNotObject(id) => format!(
            "el dispositivo '{id}' no es un objeto JSON: escriba sus datos como \
             {{\"ip\": \"192.168.1.205\", \"port\": 4370}}."
        ),
        DevicesFileError::IdNotNormal { id, normal } => format!(
            "el id '{id}' no está en forma normal: cámbielo por '{normal}' \
             (minúsculas, números, '_' o '-'), que es como lo nombra la API."
        ),
        DevicesFileError::IdInvalid(id) => format!(
            "el id '{id}' no es válido: use de 1 a 64 caracteres: letras a-z (sin tildes), \
             números, '_' o '-'."
        ),
        DevicesFileError::SerialTwice { sn, first, second } => format!(
            "el número de serie '{sn}' está en '{first}' y en '{second}'. Cada terminal \
             push tiene su propio número de serie: corrija o borre una de las entradas."
        ),
    }
}

/// A JSON syntax error's kind, paraphrased.
pub fn json_syntax(syntax: JsonSyntax) -> &'static str {
    match syntax {
        JsonSyntax::UnexpectedEnd => "el texto termina antes de tiempo (falta cerrar algo)",
        JsonSyntax::ExpectedCommaOrBrace => "se esperaba ',' o '}'",
        JsonSyntax::ExpectedCommaOrBracket => "se esperaba ',' o ']'",
        JsonSyntax::ExpectedColon => "se esperaba ':'",
        JsonSyntax::ExpectedValue => "se esperaba un valor",
        JsonSyntax::ExpectedIdent => "se esperaba true, false o null",
        JsonSyntax::KeyMustBeString => "los nombres de campo van entre comillas dobles",
        JsonSyntax::TrailingComma => "sobra una coma antes del cierre",
        JsonSyntax::TrailingCharacters => "hay texto después del final del objeto",
        JsonSyntax::ControlCharacter => {
            "una cadena contiene un carácter de control (p. ej. un salto de línea)"
        }
        JsonSyntax::InvalidEscape => "secuencia de escape no válida en una cadena",
        JsonSyntax::InvalidNumber => "número no válido",
        JsonSyntax::NumberOutOfRange => "número fuera de rango",
        JsonSyntax::InvalidUnicode => "código Unicode no válido en una cadena",
        JsonSyntax::IncompleteHexEscape => "secuencia \\u incompleta",
        JsonSyntax::TooDeep => "demasiados niveles de anidamiento",
    }
}

/// "un array", "un número"…: what a top level that is not an object is.
pub fn json_kind(kind: JsonKind) -> &'static str {
    match kind {
        JsonKind::Object => "un objeto",
        JsonKind::Array => "un array",
        JsonKind::String => "una cadena",
        JsonKind::Number => "un número",
        JsonKind::Bool => "un booleano",
        JsonKind::Null => "null",
    }
}

/// Why the devices file could not be loaded: names the file, and says it
/// was left as it is.
pub fn load(e: &LoadError) -> String {
    match e {
        LoadError::Read { path, error } => format!(
            "no se pudo leer {}: {}",
            path.display(),
            read_error_es(path, error)
        ),
        LoadError::File { path, error } => format!(
            "{}: {} El archivo no se modificó; corríjalo y vuelva a iniciar zkserver.",
            path.display(),
            devices_file(error)
        ),
    }
}

/// A change refused because the file would not load at the next start.
pub fn not_loadable(path: &Path, e: &DevicesFileError) -> String {
    format!(
        "No se guardó el cambio: {} no podría leerse al iniciar zkserver ({})",
        path.display(),
        devices_file(e)
    )
}

/// An I/O error in Spanish (the OS's text is English), for startup errors
/// that must not mix languages; the system's code stays for searching.
pub fn io_error_es(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let what = match e.kind() {
        K::NotFound => "no existe",
        K::PermissionDenied => "permiso denegado",
        K::InvalidData => "el archivo no es texto UTF-8",
        K::IsADirectory => "es una carpeta, no un archivo",
        K::AddrInUse => "la dirección ya está en uso",
        K::AddrNotAvailable => "la dirección no pertenece a esta máquina",
        K::InvalidInput => "dirección no válida",
        _ if e.to_string().starts_with("failed to lookup address") => {
            "no se pudo resolver el nombre de host"
        }
        _ => "error de entrada/salida",
    };
    match e.raw_os_error() {
        Some(code) => format!("{what} (código del sistema {code})"),
        None => what.to_string(),
    }
}

/// [`io_error_es`] for a file that could not be read, naming a folder
/// given for the file as such (Windows answers "access denied" there).
fn read_error_es(path: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied && path.is_dir() {
        let what = io_error_es(&std::io::Error::from(std::io::ErrorKind::IsADirectory));
        match e.raw_os_error() {
            Some(code) => format!("{what} (código del sistema {code})"),
            None => what,
        }
    } else {
        io_error_es(e)
    }
}
