//! What went wrong with the database, in plain Spanish words for `/health`
//! and the log (the log line adds the driver's own English detail).

use postgres::error::SqlState;

use super::schema::{self, SchemaError};
use super::target::Target;

/// The message for people about `err` while talking to `target`.
pub fn describe(err: &postgres::Error, target: &Target) -> String {
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD {
            format!(
                "PostgreSQL rechazó la contraseña del usuario '{}'",
                target.user()
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            format!("la base de datos '{}' no existe", target.dbname())
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            format!(
                "PostgreSQL no permite la conexión (pg_hba.conf): {}",
                db.message()
            )
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            format!(
                "el usuario '{}' no tiene permiso: {}",
                target.user(),
                db.message()
            )
        } else if *code == SqlState::QUERY_CANCELED {
            "PostgreSQL tardó más de 2 minutos en guardar un lote; se reintentará".to_string()
        } else if *code == SqlState::LOCK_NOT_AVAILABLE {
            format!(
                "una tabla de zkserver está bloqueada por otra sesión de PostgreSQL: {}",
                db.message()
            )
        } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_COLUMN {
            format!(
                "las tablas de zkserver fueron modificadas: {}",
                db.message()
            )
        } else if code.code().starts_with("57") || code.code().starts_with("08") {
            format!("PostgreSQL no está disponible: {}", db.message())
        } else {
            format!("error de PostgreSQL ({}): {}", code.code(), db.message())
        };
    }
    let detail = chain(err);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("server does not support tls") {
        "conexión TLS rechazada: el servidor PostgreSQL no acepta TLS y el sslmode de la URL lo exige".to_string()
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        format!("conexión TLS rechazada: {}", tls_words(&lower))
    } else if lower.contains("connection refused") {
        format!(
            "no se pudo conectar a PostgreSQL en {}: conexión rechazada",
            host(target)
        )
    } else if lower.contains("timed out") || lower.contains("timeout") {
        format!(
            "no se pudo conectar a PostgreSQL en {}: tiempo de espera agotado",
            host(target)
        )
    } else if err.is_closed() || lower.contains("connection reset") || lower.contains("closed") {
        format!("se perdió la conexión con PostgreSQL en {}", host(target))
    } else if lower.contains("failed to lookup") || lower.contains("name or service not known") {
        format!("no se encontró el servidor {}", host(target))
    } else {
        format!("no se pudo usar PostgreSQL en {}: {detail}", host(target))
    }
}

/// The message for people about a schema problem.
pub fn describe_schema(err: &SchemaError, target: &Target) -> String {
    match err {
        SchemaError::Db(e) => describe(e, target),
        SchemaError::Newer { found } => format!(
            "la base de datos tiene el esquema versión {found}, más nuevo que el de este zkserver (versión {}); actualice zkserver",
            schema::latest()
        ),
        SchemaError::NoVersion => {
            "la tabla zk_schema_version está vacía: no se sabe la versión del esquema".into()
        }
        SchemaError::Altered { table, problem } => {
            format!("la tabla {table} fue modificada: {problem}")
        }
    }
}

/// The driver's whole error chain, for the log.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// A TLS failure in words.
fn tls_words(lower: &str) -> String {
    if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "el certificado del servidor no está firmado por la CA indicada (sslrootcert)".into()
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "el certificado del servidor no corresponde al nombre del servidor".into()
    } else if lower.contains("expired") {
        "el certificado del servidor está vencido".into()
    } else {
        "no se pudo establecer TLS con el servidor".into()
    }
}

/// `host:port` of the target.
fn host(target: &Target) -> String {
    target
        .label
        .split_once('@')
        .map_or(target.label.as_str(), |(_, h)| h)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The detail of `err` for the admin's log: the server's message and code,
/// or the driver's whole error chain.
pub fn chain_of(err: &postgres::Error) -> String {
    let mut text = chain(err);
    if let Some(db) = err.as_db_error() {
        text = format!("{} ({}): {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
    }
    text
}
