//! What the PostgreSQL delivery says to people: a URL that cannot be used,
//! a failed step (`/health`: the database's and the driver's errors in
//! plain words), a refused site rename. The English detail for the log
//! is [`crate::postgres::errors`]'s.

use postgres::error::SqlState;

use crate::postgres::errors;
use crate::postgres::schema::SchemaError;
#[cfg(feature = "tls")]
use crate::postgres::tls::TlsError;
use crate::postgres::Target;
use crate::postgres::{Failure, RenameRefused, TargetError};

/// A PostgreSQL URL that cannot be used, and how to write it.
pub fn target_error(e: &TargetError) -> String {
    match e {
        TargetError::Scheme => "la URL de PostgreSQL debe empezar con postgresql:// (por ejemplo postgresql://usuario@servidor:5432/base)".into(),
        TargetError::TwoAts => {
            "la URL de PostgreSQL tiene más de una @: escriba una @ de la contraseña como %40".into()
        }
        TargetError::SslMode(mode) => format!(
            "sslmode inválido en la URL de PostgreSQL: '{mode}' (use disable, prefer, require, verify-ca o verify-full)"
        ),
        TargetError::Driver(detail) => format!("URL de PostgreSQL inválida: {detail}"),
        TargetError::NoHost => "la URL de PostgreSQL no tiene servidor (host)".into(),
        TargetError::NoUser => "la URL de PostgreSQL no tiene usuario".into(),
        TargetError::NoTls => {
            "este binario no incluye TLS: use sslmode=disable en la URL de PostgreSQL".into()
        }
    }
}

/// Why delivery to PostgreSQL failed this time (it retries), for `/health`.
pub fn failure(f: &Failure) -> String {
    match f {
        Failure::Database { error, target } => describe(error, target),
        Failure::Schema { error, target } => describe_schema(error, target),
        #[cfg(feature = "tls")]
        Failure::Tls(e) => tls_error(e),
        #[cfg(not(feature = "tls"))]
        Failure::NoTls => "este binario no incluye TLS: use sslmode=disable".into(),
        Failure::AttemptEnded => {
            "el intento de conexión con PostgreSQL terminó sin respuesta".into()
        }
        Failure::NoAnswer { label, .. } => {
            format!("no se pudo conectar a PostgreSQL en {label}: el servidor no responde")
        }
        Failure::Thread(_) => {
            "no se pudo iniciar la conexión con PostgreSQL (el detalle está en el registro)".into()
        }
        Failure::Journal { reading: true, .. } => {
            "no se pudo leer el diario de marcaciones (el detalle está en el registro)".into()
        }
        Failure::Journal { reading: false, .. } => {
            "no se pudo leer o escribir el diario de marcaciones (el detalle está en el registro)"
                .into()
        }
    }
}

/// A TLS connector that could not be made (mostly a CA file).
#[cfg(feature = "tls")]
pub fn tls_error(e: &TlsError) -> String {
    match e {
        TlsError::Setup(detail) => format!("TLS: {detail}"),
        TlsError::CaFile { path, detail } => format!(
            "no se pudo leer el certificado de CA {} (sslrootcert): {}",
            path.display(),
            if detail.is_empty() {
                "no contiene certificados PEM"
            } else {
                detail
            }
        ),
    }
}

/// Why `--rename-site-from` was refused (delivery stays stopped).
pub fn rename_refused(r: &RenameRefused) -> String {
    match r {
        RenameRefused::NameTaken { from, to } => format!(
            "no se puede renombrar el sitio '{from}' a '{to}': la base de datos ya tiene filas del sitio '{to}' de otro zkserver; elija otro nombre con --site"
        ),
        RenameRefused::OldNameInUse { from, to } => format!(
            "no se puede renombrar el sitio '{from}' a '{to}': otro zkserver (otro diario) entrega ahora como '{from}' en esta base de datos"
        ),
    }
}

/// The message for people about `err` while talking to `target`: Spanish
/// words only (the server's own English message goes to the log, see
/// [`errors::chain_of`]).
pub fn describe(err: &postgres::Error, target: &Target) -> String {
    if let Some(db) = err.as_db_error() {
        return describe_db(db, target);
    }
    let detail = errors::chain(err);
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
            crate::postgres::schema::latest()
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
            crate::postgres::schema::latest(),
            target.user()
        ),
        SchemaError::NoRights { table, privilege } => format!(
            "el usuario '{user}' no tiene permiso {privilege} sobre la tabla {table}: un administrador debe ejecutar «GRANT SELECT, INSERT, UPDATE ON zk_punches, zk_devices, zk_sites, zk_schema_version TO {user}»",
            user = target.user()
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::Target;

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

    #[test]
    fn each_bad_url_names_what_to_fix() {
        let said = |url: &str| target_error(&Target::parse(url).expect_err("refused"));
        assert!(
            said("mysql://h/db").starts_with("la URL de PostgreSQL debe empezar con postgresql://")
        );
        assert!(said("postgresql://a:b@c@h/db").contains("escriba una @ de la contraseña como %40"));
        assert_eq!(
            said("postgresql://zk@h/db?sslmode=never"),
            "sslmode inválido en la URL de PostgreSQL: 'never' (use disable, prefer, require, verify-ca o verify-full)"
        );
        assert_eq!(
            said("postgresql://h/db"),
            "la URL de PostgreSQL no tiene usuario"
        );
        assert!(said("postgresql://zk@h:99999/db").starts_with("URL de PostgreSQL inválida: "));
    }

    #[test]
    fn a_refused_rename_names_both_sites() {
        let taken = RenameRefused::NameTaken {
            from: "Sur".into(),
            to: "Norte".into(),
        };
        assert_eq!(
            rename_refused(&taken),
            "no se puede renombrar el sitio 'Sur' a 'Norte': la base de datos ya tiene filas del sitio 'Norte' de otro zkserver; elija otro nombre con --site"
        );
        let in_use = RenameRefused::OldNameInUse {
            from: "Sur".into(),
            to: "Norte".into(),
        };
        assert!(rename_refused(&in_use)
            .contains("otro zkserver (otro diario) entrega ahora como 'Sur'"));
    }

    #[test]
    fn failures_are_spanish_for_people_and_english_for_the_log() {
        let no_answer = Failure::NoAnswer {
            label: "zk@db:5432/asistencia".into(),
            waited: std::time::Duration::from_secs(15),
        };
        assert_eq!(
            failure(&no_answer),
            "no se pudo conectar a PostgreSQL en zk@db:5432/asistencia: el servidor no responde"
        );
        assert_eq!(
            no_answer.detail(),
            "no answer within 15s after the TCP connect"
        );
        let ended = Failure::AttemptEnded;
        assert_eq!(
            failure(&ended),
            "el intento de conexión con PostgreSQL terminó sin respuesta"
        );
        assert_eq!(ended.detail(), "connection thread ended");
        let thread = Failure::Thread(std::io::Error::other("no threads left"));
        assert!(failure(&thread).contains("el detalle está en el registro"));
        assert_eq!(thread.detail(), "no threads left");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_ca_file_without_certificates_says_so() {
        let e = TlsError::CaFile {
            path: "/etc/ca.pem".into(),
            detail: String::new(),
        };
        assert_eq!(
            tls_error(&e),
            "no se pudo leer el certificado de CA /etc/ca.pem (sslrootcert): no contiene certificados PEM"
        );
    }
}
