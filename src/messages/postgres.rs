//! What the PostgreSQL delivery says to people: a URL that cannot be used,
//! a failed step (`/health`), a refused site rename. The driver's errors
//! are told by [`crate::postgres::errors`].

use crate::postgres::errors;
#[cfg(feature = "tls")]
use crate::postgres::tls::TlsError;
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
        Failure::Database { error, target } => errors::describe(error, target),
        Failure::Schema { error, target } => errors::describe_schema(error, target),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::Target;

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
