//! What went wrong with the database, in plain Spanish words for `/health`
//! and the log (the log line adds the driver's own English detail).

use postgres::error::SqlState;

use super::schema::{self, SchemaError};
use super::target::Target;

/// The message for people about `err` while talking to `target`: Spanish
/// words only (the server's own English message goes to the log, see
/// [`chain_of`]).
pub fn describe(err: &postgres::Error, target: &Target) -> String {
    if let Some(db) = err.as_db_error() {
        return describe_db(db, target);
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
        format!(
            "no se pudo usar PostgreSQL en {} (el detalle está en el registro de zkserver)",
            host(target)
        )
    }
}

/// An error the server sent, in Spanish.
fn describe_db(db: &postgres::error::DbError, target: &Target) -> String {
    let code = db.code();
    let class = &code.code()[..2.min(code.code().len())];
    if *code == SqlState::INVALID_PASSWORD {
        format!(
            "PostgreSQL rechazó la contraseña del usuario '{}'",
            target.user()
        )
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        format!("la base de datos '{}' no existe", target.dbname())
    } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        format!(
            "PostgreSQL no permite la conexión del usuario '{}' desde este equipo: revise pg_hba.conf en el servidor{}",
            target.user(),
            if db.message().contains("no encryption") {
                " (la conexión era sin TLS)"
            } else {
                ""
            }
        )
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        format!(
            "el usuario '{}' no tiene permiso sobre {}",
            target.user(),
            denied_object(db.message())
        )
    } else if *code == SqlState::QUERY_CANCELED {
        "PostgreSQL tardó más de 2 minutos en guardar un lote; se reintentará".to_string()
    } else if *code == SqlState::LOCK_NOT_AVAILABLE {
        "una tabla de zkserver está bloqueada por otra sesión de PostgreSQL; se reintentará"
            .to_string()
    } else if *code == SqlState::UNDEFINED_TABLE {
        format!(
            "las tablas de zkserver fueron modificadas: falta la tabla {}",
            quoted(db.message()).unwrap_or("de zkserver")
        )
    } else if *code == SqlState::UNDEFINED_COLUMN {
        format!(
            "las tablas de zkserver fueron modificadas: falta la columna {}",
            quoted(db.message()).unwrap_or("de zkserver")
        )
    } else if class == "57" || class == "08" {
        format!(
            "PostgreSQL en {} no está disponible (se está iniciando, deteniendo o reiniciando; código {})",
            host(target),
            code.code()
        )
    } else if class == "23" {
        format!(
            "PostgreSQL rechazó el lote: la restricción '{}' de la tabla {} no lo permite (código {})",
            db.constraint().unwrap_or("?"),
            db.table().unwrap_or("?"),
            code.code()
        )
    } else if class == "53" {
        format!(
            "PostgreSQL en {} no tiene recursos (disco, memoria o conexiones; código {})",
            host(target),
            code.code()
        )
    } else {
        format!(
            "PostgreSQL respondió con el error {} (el detalle está en el registro de zkserver)",
            code.code()
        )
    }
}

/// What a `permission denied for table x` names, in Spanish.
fn denied_object(message: &str) -> String {
    let Some(rest) = message.strip_prefix("permission denied for ") else {
        return "una tabla de zkserver".into();
    };
    let (kind, name) = rest.split_once(' ').unwrap_or((rest, ""));
    let kind = match kind {
        "table" | "relation" => "la tabla",
        "schema" => "el esquema",
        "database" => "la base de datos",
        "sequence" => "la secuencia",
        "function" => "la función",
        _ => return "una tabla de zkserver".into(),
    };
    format!("{kind} {}", name.trim_matches('"'))
}

/// The first `"…"` of a server message.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let len = message[start..].find('"')?;
    Some(&message[start..start + len])
}

/// The message for people about a schema problem.
pub fn describe_schema(err: &SchemaError, target: &Target) -> String {
    let run_schema = format!(
        "un administrador debe ejecutar «zkserver postgres-schema | psql -d {}» (vea «Many sites, one database» en el README)",
        target.dbname()
    );
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
        SchemaError::CannotCreate(_) => format!(
            "la base de datos '{}' no tiene las tablas de zkserver y el usuario '{}' no puede crearlas: {run_schema}",
            target.dbname(),
            target.user()
        ),
        SchemaError::CannotMigrate { found, .. } => format!(
            "las tablas de zkserver tienen el esquema versión {found}, este zkserver necesita la {} y el usuario '{}' no puede actualizarlas: {run_schema}",
            schema::latest(),
            target.user()
        ),
        SchemaError::NoRights { table, privilege } => format!(
            "el usuario '{user}' no tiene permiso {privilege} sobre la tabla {table}: un administrador debe ejecutar «GRANT SELECT, INSERT, UPDATE ON zk_punches, zk_devices, zk_sites, zk_schema_version TO {user}»",
            user = target.user()
        ),
    }
}

/// The detail of a schema problem for the log (the server's English
/// message, when it sent one).
pub fn schema_detail(err: &SchemaError) -> String {
    match err {
        SchemaError::Db(db)
        | SchemaError::CannotCreate(db)
        | SchemaError::CannotMigrate { error: db, .. } => chain_of(db),
        other => format!("{other:?}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_objects_are_named_in_spanish() {
        assert_eq!(
            denied_object("permission denied for table zk_sites"),
            "la tabla zk_sites"
        );
        assert_eq!(
            denied_object("permission denied for schema public"),
            "el esquema public"
        );
        assert_eq!(
            denied_object("permiso denegado a la tabla zk_sites"),
            "una tabla de zkserver"
        );
        assert_eq!(
            quoted("column \"x\" of relation \"zk_punches\" does not exist"),
            Some("x")
        );
        assert_eq!(quoted("no quotes"), None);
    }
}
